//! Access logs as request streams: CloudFront standard logs and Common/Combined Log Format,
//! read one line at a time (memory bounded by a line, not by the log), plain or gzip.
//!
//! Shared by `edgelab replay` (what-if over a log), `edgelab loadgen --replay` (the log's
//! requests sent with their timing) and `edgelab origin --catalog-from-log` (the objects the
//! log needs). A malformed line is counted and kept (the first [`KEPT_MALFORMED`] in full with
//! their numbers) and skipped, unless the reader is strict, when it is an error.
//!
//! # Layout
//! - [`LogFormat`], [`LogRecord`], [`Records`]: the formats, one parsed request, the reader.
//! - `cloudfront`: the W3C format of CloudFront standard logs (`#Version`, `#Fields:`).
//! - `clf`: Common and Combined Log Format (nginx, Apache).
//! - `time`: civil dates to Unix time without a date library.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::str::FromStr;

mod clf;
mod cloudfront;
mod time;

pub use cloudfront::STANDARD_FIELDS;

/// Malformed lines kept in full for the report.
pub const KEPT_MALFORMED: usize = 5;

/// An access log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// CloudFront standard logs: tab-separated W3C extended format with `#Version` and
    /// `#Fields:` headers.
    CloudFront,
    /// Common Log Format, or Combined (with referer and user agent): nginx, Apache.
    Clf,
}

impl LogFormat {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::CloudFront => "cloudfront",
            LogFormat::Clf => "clf",
        }
    }

    /// Guesses from the first line: a `#Version` or `#Fields` header is CloudFront, else CLF.
    pub fn guess(first_line: &str) -> LogFormat {
        if first_line.starts_with("#Version") || first_line.starts_with("#Fields") {
            LogFormat::CloudFront
        } else {
            LogFormat::Clf
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "cloudfront" => Ok(LogFormat::CloudFront),
            "clf" => Ok(LogFormat::Clf),
            _ => Err(format!("unknown log format `{text}` (cloudfront, clf)")),
        }
    }
}

/// One logged request.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// 1-based line number in the log.
    pub line: u64,
    /// When it was logged, milliseconds since the Unix epoch (UTC).
    pub time_ms: i64,
    /// Method (`GET`).
    pub method: String,
    /// Path, as logged (still percent-encoded).
    pub path: String,
    /// Query string without `?`, if any.
    pub query: Option<String>,
    /// Response status.
    pub status: u16,
    /// Bytes sent to the viewer (CloudFront `sc-bytes`, headers included; CLF `%b`, body).
    pub bytes: u64,
    /// Body length (CloudFront `sc-content-len`; CLF: `%b`).
    pub content_length: Option<u64>,
    /// `Content-Type` (CloudFront `sc-content-type`).
    pub content_type: Option<String>,
    /// Edge location (CloudFront `x-edge-location`, `FRA56-P1`).
    pub edge_location: Option<String>,
    /// How the edge served it (CloudFront `x-edge-result-type`: `Hit`, `Miss`, ...).
    pub edge_result: Option<String>,
    /// Client address (CloudFront `c-ip`, CLF `%h`).
    pub client: Option<String>,
    /// `User-Agent`, if logged.
    pub user_agent: Option<String>,
}

impl LogRecord {
    /// The object size the log shows: the body length when logged, else the bytes sent.
    pub fn object_size(&self) -> u64 {
        self.content_length.unwrap_or(self.bytes)
    }

    /// The IATA code of the edge location (`FRA56-P1` → `FRA`), if logged.
    pub fn edge_code(&self) -> Option<&str> {
        let location = self.edge_location.as_deref()?;
        let code = location.get(..3)?;
        code.bytes()
            .all(|b| b.is_ascii_alphabetic())
            .then_some(code)
    }

    /// The request target: path plus `?query`.
    pub fn target(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        }
    }
}

/// `query` as a URI query can hold it (RFC 3986 §3.4): every byte a query may not carry
/// (space, `"`, `#`, `<`, `>`, `[`, `\\`, `]`, `^`, `` ` ``, `{`, `|`, `}`, controls and each
/// byte of a non-ASCII character) percent-encoded, a `%` that does not start an escape written
/// `%25`, and what is already percent-encoded (`%41`) kept as it is; borrowed when nothing
/// needs encoding. Logs do not always encode their queries (CloudFront's `cs-uri-query` is a
/// tab-separated field and may carry a space), and a request built from the raw text would
/// not be a URI.
///
/// Written out rather than taken from `percent-encoding`: its sets encode a byte or keep it
/// whatever follows, and keeping `%41` while encoding a lone `%` needs the next two bytes.
pub fn encode_query(query: &str) -> std::borrow::Cow<'_, str> {
    let bytes = query.as_bytes();
    let escape_at = |i: usize| {
        bytes[i] == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    };
    let kept = |i: usize| {
        let b = bytes[i];
        b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&b) || escape_at(i)
    };
    if (0..bytes.len()).all(kept) {
        return std::borrow::Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len() + 16);
    for (i, &b) in bytes.iter().enumerate() {
        if kept(i) {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A line that could not be read as a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// 1-based line number.
    pub line: u64,
    /// Why.
    pub reason: String,
    /// The line itself (kept for the first [`KEPT_MALFORMED`]).
    pub text: String,
}

/// A log that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Reading (or decompressing) failed.
    #[error("reading the log: {0}")]
    Io(#[from] std::io::Error),
    /// A malformed line in strict mode.
    #[error("line {}: {}: {}", .0.line, .0.reason, .0.text)]
    Malformed(Malformed),
}

impl LogError {
    /// A short label for the kind of error.
    pub fn kind(&self) -> &'static str {
        match self {
            LogError::Io(_) => "io",
            LogError::Malformed(_) => "malformed",
        }
    }
}

/// Opens a log file, gunzipping it when it starts with the gzip magic bytes.
pub fn open(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut file = BufReader::with_capacity(1 << 20, File::open(path)?);
    let gzip = file.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    if gzip {
        let decoder = flate2::bufread::MultiGzDecoder::new(file);
        Ok(Box::new(BufReader::with_capacity(1 << 20, decoder)))
    } else {
        Ok(Box::new(file))
    }
}

/// A streaming reader of log records.
pub struct Records<R> {
    input: R,
    format: Option<LogFormat>,
    strict: bool,
    line: String,
    position: u64,
    fields: cloudfront::Fields,
    /// Malformed lines seen so far.
    pub malformed: u64,
    /// The first [`KEPT_MALFORMED`] of them.
    pub first_malformed: Vec<Malformed>,
}

impl<R: BufRead> Records<R> {
    /// Reads `input` as `format` (`None`: guessed from the first line). Strict: a malformed
    /// line is an error instead of being counted and skipped.
    pub fn new(input: R, format: Option<LogFormat>, strict: bool) -> Self {
        Records {
            input,
            format,
            strict,
            line: String::new(),
            position: 0,
            fields: cloudfront::Fields::standard(),
            malformed: 0,
            first_malformed: Vec::new(),
        }
    }

    /// The format read (known after the first line).
    pub fn format(&self) -> Option<LogFormat> {
        self.format
    }

    /// Lines read so far.
    pub fn lines(&self) -> u64 {
        self.position
    }

    fn parse(&mut self, text: &str) -> Result<Option<LogRecord>, String> {
        let format = *self.format.get_or_insert_with(|| LogFormat::guess(text));
        match format {
            LogFormat::CloudFront => self.fields.parse(text, self.position),
            LogFormat::Clf => clf::parse(text, self.position).map(Some),
        }
    }

    /// Counts a malformed line; `Some` error when strict.
    fn malformed(&mut self, reason: String, text: &str) -> Option<LogError> {
        let malformed = Malformed {
            line: self.position,
            reason,
            text: text.to_string(),
        };
        self.malformed += 1;
        if self.strict {
            return Some(LogError::Malformed(malformed));
        }
        if self.first_malformed.len() < KEPT_MALFORMED {
            self.first_malformed.push(malformed);
        }
        None
    }
}

impl<R: BufRead> Iterator for Records<R> {
    type Item = Result<LogRecord, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.line.clear();
            match self.input.read_line(&mut self.line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(error) => return Some(Err(error.into())),
            }
            self.position += 1;
            let text = std::mem::take(&mut self.line);
            let trimmed = text.trim_end_matches(['\n', '\r']);
            let parsed = if trimmed.trim().is_empty() {
                Ok(None)
            } else {
                self.parse(trimmed)
            };
            let outcome = match parsed {
                Ok(Some(record)) => Some(Ok(record)),
                Ok(None) => None,
                Err(reason) => self.malformed(reason, trimmed).map(Err),
            };
            self.line = text;
            if outcome.is_some() {
                return outcome;
            }
        }
    }
}

/// A summary of the malformed lines for a terminal: the count, then the first few in full.
pub fn malformed_report<R>(records: &Records<R>) -> Option<String> {
    if records.malformed == 0 {
        return None;
    }
    let mut text = format!(
        "{} malformed line(s) skipped (--strict makes them fatal)",
        records.malformed
    );
    for m in &records.first_malformed {
        text.push_str(&format!("\n  line {}: {}: {}", m.line, m.reason, m.text));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_encoded_where_a_uri_cannot_hold_it_and_escapes_are_kept() {
        assert!(matches!(
            encode_query("v=2&lang=en%20GB"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            encode_query("q=a b|c^d&city=Zürich&k=%41&pct=50%&x=%4"),
            "q=a%20b%7Cc%5Ed&city=Z%C3%BCrich&k=%41&pct=50%25&x=%254"
        );
        assert_eq!(
            encode_query("a=\"<>\\`{}[]#\t"),
            "a=%22%3C%3E%5C%60%7B%7D%5B%5D%23%09"
        );
    }

    const CLOUDFRONT: &str = "#Version: 1.0\n\
#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end\n\
2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\tMozilla/5.0%20(Windows%20NT%2010.0)\t-\t-\tHit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\td111111abcdef8.cloudfront.net\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t78\t-\t-\n\
not a log line\n\
2019-12-04\t21:02:32\tFRA56-P1\t1200\t192.0.2.101\tGET\td111111abcdef8.cloudfront.net\t/img/a.jpg\t200\t-\t-\tw=200\t-\tMiss\tid2\td111111abcdef8.cloudfront.net\thttps\t23\t0.020\t-\t-\t-\tMiss\tHTTP/1.1\t-\t-\t1\t0.02\tMiss\timage/jpeg\t1000\t-\t-\n";

    #[test]
    fn cloudfront_lines_map_their_fields_and_malformed_lines_are_counted() {
        let mut records = Records::new(CLOUDFRONT.as_bytes(), None, false);
        let got: Vec<LogRecord> = records.by_ref().map(Result::unwrap).collect();
        assert_eq!(records.format(), Some(LogFormat::CloudFront));
        assert_eq!(got.len(), 2);
        let first = &got[0];
        assert_eq!(first.line, 3);
        assert_eq!(first.time_ms, 1_575_493_351_000, "2019-12-04T21:02:31Z");
        assert_eq!(
            (first.method.as_str(), first.path.as_str()),
            ("GET", "/index.html")
        );
        assert_eq!(first.query, None);
        assert_eq!(
            (first.status, first.bytes, first.object_size()),
            (200, 392, 78)
        );
        assert_eq!(first.edge_result.as_deref(), Some("Hit"));
        assert_eq!(got[1].edge_code(), Some("FRA"));
        assert_eq!(got[1].target(), "/img/a.jpg?w=200");
        assert_eq!(records.malformed, 1);
        assert_eq!(records.first_malformed[0].line, 4);
        assert_eq!(records.first_malformed[0].text, "not a log line");
        let report = malformed_report(&records).unwrap();
        assert!(report.contains("line 4") && report.contains("not a log line"));
    }

    #[test]
    fn strict_mode_stops_at_the_first_malformed_line() {
        let records = Records::new(CLOUDFRONT.as_bytes(), None, true);
        let results: Vec<_> = records.collect();
        assert!(results[0].is_ok());
        match &results[1] {
            Err(LogError::Malformed(m)) => assert_eq!(m.line, 4),
            other => panic!("want a malformed line 4, got {other:?}"),
        }
    }

    #[test]
    fn combined_and_common_log_lines() {
        let text = "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif?x=1 HTTP/1.0\" 200 2326 \"http://www.example.com/start.html\" \"Mozilla/4.08 [en] (Win98; I ;Nav)\"\n\
10.0.0.2 - - [01/Dec/2026:10:00:00 +0000] \"HEAD /static/app.css HTTP/1.1\" 304 -\n\
10.0.0.3 - - [01/Dec/2026:10:00:01 +0000] \"\\x16\\x03\\x01\" 400 0\n";
        let mut records = Records::new(text.as_bytes(), None, false);
        let got: Vec<LogRecord> = records.by_ref().map(Result::unwrap).collect();
        assert_eq!(records.format(), Some(LogFormat::Clf));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].time_ms, 971_211_336_000, "2000-10-10T20:55:36Z");
        assert_eq!(got[0].path, "/apache_pb.gif");
        assert_eq!(got[0].query.as_deref(), Some("x=1"));
        assert_eq!((got[0].status, got[0].bytes), (200, 2326));
        assert_eq!(
            got[0].user_agent.as_deref(),
            Some("Mozilla/4.08 [en] (Win98; I ;Nav)")
        );
        assert_eq!((got[1].method.as_str(), got[1].bytes), ("HEAD", 0));
        assert_eq!(records.malformed, 1, "a TLS handshake on the HTTP port");
    }

    #[test]
    fn gzip_logs_are_read_through() {
        use std::io::Write;
        let path =
            std::env::temp_dir().join(format!("edgelab-accesslog-{}.gz", std::process::id()));
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(CLOUDFRONT.as_bytes()).unwrap();
        std::fs::write(&path, encoder.finish().unwrap()).unwrap();
        let input = open(&path).unwrap();
        let count = Records::new(input, None, false)
            .filter(Result::is_ok)
            .count();
        let _ = std::fs::remove_file(&path);
        assert_eq!(count, 2);
    }

    proptest::proptest! {
        #[test]
        fn readers_never_panic(text in "[ -~\\t\\n]{0,300}") {
            for format in [LogFormat::CloudFront, LogFormat::Clf] {
                for item in Records::new(text.as_bytes(), Some(format), false) {
                    let _ = item;
                }
            }
        }
    }
}
