//! Trace formats and a streaming reader: one [`Request`] at a time from any `Read`, so a
//! trace of any length replays in memory bounded by the caches it feeds.
//!
//! Requests for zero-byte objects are skipped and counted, as libCacheSim's readers do by
//! default (`ignore_size_zero_req`), so miss counts compare one to one.

use std::io::BufRead;
use std::str::FromStr;

/// One request of a trace: a small `Copy` record. The logged query string, which only a
/// cache key that keeps query strings needs, is not in it: a [`Trace`] gives the query of
/// the request it yielded last ([`Trace::query`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request {
    /// Request time in seconds as the trace gives it (unused by the eviction policies).
    pub time: u64,
    /// Object id (for access logs: of the path, without the query string).
    pub id: u64,
    /// Object size in bytes.
    pub size: u64,
    /// The IATA code of the edge location that served it (`FRA56-P1` → `FRA`), when the
    /// trace logs one (CloudFront logs); `--tiers` assigns requests to PoPs by it.
    pub pop: Option<[u8; 3]>,
    /// For access logs: the class `origin --catalog-from-log` gives the object (by its path,
    /// else its logged content type), whose `Cache-Control` a policy decides on.
    pub class: Option<edgelab_wire::Class>,
}

impl Request {
    /// The id of the object under a cache key that keeps the query parameters `selection`
    /// picks (`edgelab_policy::select_query`, the edge's rule) of `query`, this request's
    /// logged query string without `?`: `id` when it picks none, else the path's id combined
    /// with the parameters kept.
    pub fn key_id(&self, query: Option<&str>, selection: &edgelab_policy::Selection) -> u64 {
        let kept = edgelab_policy::select_query(query, selection);
        if kept.is_empty() {
            self.id
        } else {
            use std::hash::BuildHasher;
            foldhash::fast::FixedState::with_seed(0x0edc_e1ab).hash_one((self.id, kept))
        }
    }
}

/// Requests in trace order, and the query string of each as it is yielded: what a replay
/// under cache policies reads. [`Requests`] reads one from a file; [`Plain`] makes one
/// without query strings of any iterator of requests; [`Queried`] is one in memory with them.
pub trait Trace: Iterator<Item = Result<Request, TraceError>> {
    /// The logged query string (without `?`) of the request [`Iterator::next`] yielded last,
    /// if it had one.
    fn query(&self) -> Option<&str>;
}

impl<T: Trace + ?Sized> Trace for &mut T {
    fn query(&self) -> Option<&str> {
        (**self).query()
    }
}

/// The requests of an iterator as a [`Trace`] without query strings.
#[derive(Debug, Clone)]
pub struct Plain<I>(pub I);

impl<I: Iterator<Item = Result<Request, TraceError>>> Iterator for Plain<I> {
    type Item = Result<Request, TraceError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<I: Iterator<Item = Result<Request, TraceError>>> Trace for Plain<I> {
    fn query(&self) -> Option<&str> {
        None
    }
}

/// A trace in memory whose requests carry query strings (generated traces, tests).
#[derive(Debug, Default)]
pub struct Queried {
    requests: std::vec::IntoIter<(Request, Option<String>)>,
    last: Option<String>,
}

impl FromIterator<(Request, Option<String>)> for Queried {
    fn from_iter<I: IntoIterator<Item = (Request, Option<String>)>>(requests: I) -> Self {
        let requests: Vec<_> = requests.into_iter().collect();
        Queried {
            requests: requests.into_iter(),
            last: None,
        }
    }
}

impl Iterator for Queried {
    type Item = Result<Request, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (request, query) = self.requests.next()?;
        self.last = query;
        Some(Ok(request))
    }
}

impl Trace for Queried {
    fn query(&self) -> Option<&str> {
        self.last.as_deref()
    }
}

/// The formats `edgelab replay` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    /// Text, one request a line: `time,id,size`; an optional header line; ids that are not
    /// numbers are hashed to 64 bits.
    Csv,
    /// libCacheSim's `oracleGeneral` binary: little-endian 24-byte records of
    /// `clock_time: u32, obj_id: u64, obj_size: u32, next_access_vtime: i64`.
    OracleGeneral,
    /// CloudFront standard logs (`edgelab_accesslog`): the object is the path, its size the
    /// logged body length.
    CloudFront,
    /// Common/Combined Log Format (nginx, Apache): the object is the path, its size `%b`.
    Clf,
}

impl TraceFormat {
    /// Every format, for help texts.
    pub const ALL: [TraceFormat; 4] = [
        TraceFormat::Csv,
        TraceFormat::OracleGeneral,
        TraceFormat::CloudFront,
        TraceFormat::Clf,
    ];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceFormat::Csv => "csv",
            TraceFormat::OracleGeneral => "oracle-general",
            TraceFormat::CloudFront => "cloudfront",
            TraceFormat::Clf => "clf",
        }
    }

    /// Guesses the format from a file name and its first line: `*.oracleGeneral*` or `*.bin`
    /// is binary; `*.log*` or `*.gz` is an access log (CloudFront when the first line is a
    /// `#Version`/`#Fields` header, else CLF); anything else CSV.
    pub fn guess(path: &str, first_line: &str) -> TraceFormat {
        if path.contains("oracleGeneral") || path.ends_with(".bin") {
            TraceFormat::OracleGeneral
        } else if path.contains(".log") || path.ends_with(".gz") {
            match edgelab_accesslog::LogFormat::guess(first_line) {
                edgelab_accesslog::LogFormat::CloudFront => TraceFormat::CloudFront,
                edgelab_accesslog::LogFormat::Clf => TraceFormat::Clf,
            }
        } else {
            TraceFormat::Csv
        }
    }

    /// The access log format, for log inputs.
    pub fn log_format(self) -> Option<edgelab_accesslog::LogFormat> {
        match self {
            TraceFormat::CloudFront => Some(edgelab_accesslog::LogFormat::CloudFront),
            TraceFormat::Clf => Some(edgelab_accesslog::LogFormat::Clf),
            TraceFormat::Csv | TraceFormat::OracleGeneral => None,
        }
    }
}

impl FromStr for TraceFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|format| format.as_str() == text)
            .ok_or_else(|| {
                format!("unknown trace format `{text}` (csv, oracle-general, cloudfront, clf)")
            })
    }
}

/// A trace that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// Reading failed.
    #[error("reading the trace: {0}")]
    Io(#[from] std::io::Error),
    /// A CSV line that is not `time,id,size`.
    #[error("line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A binary trace whose length is not a whole number of records.
    #[error("the trace ends inside a record at byte {offset} (records are 24 bytes)")]
    Truncated {
        /// Byte offset of the incomplete record.
        offset: u64,
    },
}

impl TraceError {
    /// A short label for the kind of error.
    pub fn kind(&self) -> &'static str {
        match self {
            TraceError::Io(_) => "io",
            TraceError::Malformed { .. } => "malformed",
            TraceError::Truncated { .. } => "truncated",
        }
    }
}

/// Size of one `oracleGeneral` record.
pub const ORACLE_GENERAL_RECORD: usize = 24;

/// Where requests come from: raw CSV or binary input, or an access log reader.
enum Input<R> {
    Raw(R),
    Log(Box<edgelab_accesslog::Records<R>>),
}

/// A streaming reader of requests.
pub struct Requests<R> {
    input: Input<R>,
    format: TraceFormat,
    /// Lines (CSV) or records (binary) read so far.
    position: u64,
    line: String,
    /// Zero-byte requests skipped so far.
    pub skipped_zero_size: u64,
    /// Logged requests skipped because their method is not cacheable (not GET or HEAD).
    pub skipped_methods: u64,
    /// The input's length in bytes, when known ([`Requests::with_length`]).
    length: Option<u64>,
    /// The query string of the log record yielded last ([`Trace::query`]).
    query: Option<String>,
}

impl<R: BufRead> Requests<R> {
    /// Reads `format` from `input` (wrap files in a `BufReader`; `edgelab_accesslog::open`
    /// gunzips logs). A malformed log line is counted and skipped.
    pub fn new(input: R, format: TraceFormat) -> Self {
        Requests::with_strictness(input, format, false)
    }

    /// As [`Requests::new`]; `strict`: a malformed log line is an error.
    pub fn with_strictness(input: R, format: TraceFormat, strict: bool) -> Self {
        let input = match format.log_format() {
            Some(log) => Input::Log(Box::new(edgelab_accesslog::Records::new(
                input,
                Some(log),
                strict,
            ))),
            None => Input::Raw(input),
        };
        Requests {
            input,
            format,
            position: 0,
            line: String::new(),
            skipped_zero_size: 0,
            skipped_methods: 0,
            length: None,
            query: None,
        }
    }

    /// Tells the reader its input is `bytes` long (a file's length), so that a binary trace
    /// knows how many records it holds at most ([`Iterator::size_hint`]) and the caches can
    /// size their tables once.
    pub fn with_length(mut self, bytes: u64) -> Self {
        self.length = Some(bytes);
        self
    }

    /// For logs: the malformed lines skipped (count and the first few in full), if any.
    pub fn malformed_report(&self) -> Option<String> {
        match &self.input {
            Input::Log(records) => edgelab_accesslog::malformed_report(records),
            Input::Raw(_) => None,
        }
    }

    fn next_log(&mut self) -> Option<Result<Request, TraceError>> {
        let Input::Log(records) = &mut self.input else {
            return None;
        };
        loop {
            let record = match records.next()? {
                Ok(record) => record,
                Err(edgelab_accesslog::LogError::Io(error)) => return Some(Err(error.into())),
                Err(edgelab_accesslog::LogError::Malformed(m)) => {
                    let reason = format!("{}: {}", m.reason, m.text);
                    return Some(Err(TraceError::Malformed {
                        line: m.line,
                        reason,
                    }));
                }
            };
            if record.method != "GET" && record.method != "HEAD" {
                self.skipped_methods += 1;
                continue;
            }
            let request = Request {
                // Logs before 1970 do not exist; times only order requests.
                time: u64::try_from(record.time_ms / 1_000).unwrap_or(0),
                id: hash_id(&record.path),
                size: record.object_size(),
                pop: record.edge_code().map(pop_code),
                class: Some(edgelab_wire::Class::of_logged(
                    &record.path,
                    record.content_type.as_deref(),
                )),
            };
            self.query = record.query;
            return Some(Ok(request));
        }
    }

    fn next_oracle(&mut self) -> Option<Result<Request, TraceError>> {
        let Input::Raw(input) = &mut self.input else {
            return None;
        };
        // Fast path: a whole record in the reader's buffer is decoded where it lies.
        if let Ok(buffered) = input.fill_buf()
            && let Some(record) = buffered.first_chunk::<ORACLE_GENERAL_RECORD>()
        {
            let request = decode_oracle(record);
            input.consume(ORACLE_GENERAL_RECORD);
            self.position += 1;
            return Some(Ok(request));
        }
        // A record split across two fills of the buffer, the end, or an error.
        let mut record = [0u8; ORACLE_GENERAL_RECORD];
        let mut filled = 0;
        while filled < record.len() {
            match input.read(&mut record[filled..]) {
                Ok(0) if filled == 0 => return None,
                Ok(0) => {
                    let offset = self.position * ORACLE_GENERAL_RECORD as u64;
                    return Some(Err(TraceError::Truncated { offset }));
                }
                Ok(n) => filled += n,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Some(Err(error.into())),
            }
        }
        self.position += 1;
        Some(Ok(decode_oracle(&record)))
    }

    fn next_csv(&mut self) -> Option<Result<Request, TraceError>> {
        let Input::Raw(input) = &mut self.input else {
            return None;
        };
        loop {
            self.line.clear();
            match input.read_line(&mut self.line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(error) => return Some(Err(error.into())),
            }
            self.position += 1;
            let text = self.line.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            match parse_csv(text) {
                Ok(request) => return Some(Ok(request)),
                // A header line names the columns; only the first line may be one.
                Err(_) if self.position == 1 && text.starts_with(|c: char| c.is_alphabetic()) => {}
                Err(reason) => {
                    let line = self.position;
                    return Some(Err(TraceError::Malformed { line, reason }));
                }
            }
        }
    }
}

impl<R: BufRead> Iterator for Requests<R> {
    type Item = Result<Request, TraceError>;

    fn size_hint(&self) -> (usize, Option<usize>) {
        let records = match (self.format, self.length) {
            (TraceFormat::OracleGeneral, Some(bytes)) => {
                let read = self.position * ORACLE_GENERAL_RECORD as u64;
                let left = bytes
                    .saturating_sub(read)
                    .div_ceil(ORACLE_GENERAL_RECORD as u64);
                usize::try_from(left).ok()
            }
            _ => None,
        };
        // Zero-byte records are skipped: no lower bound.
        (0, records)
    }

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let next = match self.format {
                TraceFormat::Csv => self.next_csv(),
                TraceFormat::OracleGeneral => self.next_oracle(),
                TraceFormat::CloudFront | TraceFormat::Clf => self.next_log(),
            };
            match next {
                Some(Ok(request)) if request.size == 0 => self.skipped_zero_size += 1,
                other => return other,
            }
        }
    }
}

impl<R: BufRead> Trace for Requests<R> {
    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
}

/// An IATA code as three upper-case bytes (the caller checked it is three ASCII letters).
fn pop_code(code: &str) -> [u8; 3] {
    let mut out = [0u8; 3];
    for (at, byte) in code.bytes().take(3).enumerate() {
        out[at] = byte.to_ascii_uppercase();
    }
    out
}

/// Decodes one little-endian `oracleGeneral` record (`next_access_vtime` is not needed).
#[inline]
pub fn decode_oracle(record: &[u8; ORACLE_GENERAL_RECORD]) -> Request {
    let u32_at = |at: usize| {
        u32::from_le_bytes([record[at], record[at + 1], record[at + 2], record[at + 3]])
    };
    let mut id = [0u8; 8];
    id.copy_from_slice(&record[4..12]);
    Request {
        time: u64::from(u32_at(0)),
        id: u64::from_le_bytes(id),
        size: u64::from(u32_at(12)),
        pop: None,
        class: None,
    }
}

/// Encodes a request as an `oracleGeneral` record (`next_access_vtime` = -1), for
/// generated traces and tests.
pub fn encode_oracle(request: &Request) -> Result<[u8; ORACLE_GENERAL_RECORD], String> {
    let time = u32::try_from(request.time).map_err(|_| "time does not fit u32".to_owned())?;
    let size = u32::try_from(request.size).map_err(|_| "size does not fit u32".to_owned())?;
    let mut record = [0u8; ORACLE_GENERAL_RECORD];
    record[0..4].copy_from_slice(&time.to_le_bytes());
    record[4..12].copy_from_slice(&request.id.to_le_bytes());
    record[12..16].copy_from_slice(&size.to_le_bytes());
    record[16..24].copy_from_slice(&(-1i64).to_le_bytes());
    Ok(record)
}

fn parse_csv(text: &str) -> Result<Request, String> {
    let mut fields = text.split(',').map(str::trim);
    let (Some(time), Some(id), Some(size), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(format!("want `time,id,size`, got `{text}`"));
    };
    let time = time
        .parse::<f64>()
        .map_err(|_| format!("time `{time}` is not a number"))?;
    if !(time.is_finite() && time >= 0.0) {
        return Err(format!("time `{time}` is negative or not finite"));
    }
    let size = size
        .parse::<u64>()
        .map_err(|_| format!("size `{size}` is not a whole number of bytes"))?;
    let id = id.parse::<u64>().unwrap_or_else(|_| hash_id(id));
    // Truncation to whole seconds is the intent: times only order requests.
    Ok(Request {
        time: time as u64,
        id,
        size,
        pop: None,
        class: None,
    })
}

/// A stable 64-bit id for a textual key (the same on every run and machine).
fn hash_id(id: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x0edc_e1ab).hash_one(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8], format: TraceFormat) -> Vec<Result<Request, TraceError>> {
        Requests::new(text, format).collect()
    }

    #[test]
    fn csv_with_header_comments_and_text_ids() {
        let out = read(
            b"time,id,size\n# c\n1,7,100\n\n2.5,/a.jpg,5\n",
            TraceFormat::Csv,
        );
        let out: Vec<Request> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            out[0],
            Request {
                time: 1,
                id: 7,
                size: 100,
                ..Request::default()
            }
        );
        assert_eq!(out[1].time, 2);
        assert_eq!(out[1].id, hash_id("/a.jpg"));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn the_record_stays_small_and_copy() {
        fn copy<T: Copy>() {}
        copy::<Request>();
        assert_eq!(std::mem::size_of::<Request>(), 32);
    }

    #[test]
    fn csv_bad_line_names_its_number() {
        let out = read(b"1,7,100\n2,8\n", TraceFormat::Csv);
        match &out[1] {
            Err(TraceError::Malformed { line: 2, .. }) => {}
            other => panic!("want a malformed line 2, got {other:?}"),
        }
        let out = read(b"1,7,100\nx,8,1\n", TraceFormat::Csv);
        assert!(matches!(out[1], Err(TraceError::Malformed { line: 2, .. })));
    }

    #[test]
    fn oracle_round_trip_and_zero_size_skipped() {
        let requests = [
            Request {
                time: 3,
                id: u64::MAX - 1,
                size: 4096,
                ..Request::default()
            },
            Request {
                time: 4,
                id: 9,
                size: 0,
                ..Request::default()
            },
            Request {
                time: 5,
                id: 9,
                size: 1,
                ..Request::default()
            },
        ];
        let bytes: Vec<u8> = requests
            .iter()
            .flat_map(|r| encode_oracle(r).unwrap())
            .collect();
        let mut reader = Requests::new(&bytes[..], TraceFormat::OracleGeneral);
        let out: Vec<Request> = reader.by_ref().map(Result::unwrap).collect();
        assert_eq!(out, vec![requests[0], requests[2]]);
        assert_eq!(reader.skipped_zero_size, 1);
    }

    #[test]
    fn logs_key_on_the_path_size_on_the_body_and_skip_uncacheable_methods() {
        let log =
            b"10.0.0.1 - - [01/Dec/2026:10:00:00 +0000] \"GET /a.css?v=1 HTTP/1.1\" 200 512\n\
10.0.0.1 - - [01/Dec/2026:10:00:01 +0000] \"POST /api/cart HTTP/1.1\" 201 20\n\
garbage\n\
10.0.0.2 - - [01/Dec/2026:10:00:02 +0000] \"GET /a.css HTTP/1.1\" 304 -\n\
10.0.0.2 - - [01/Dec/2026:10:00:03 +0000] \"HEAD /a.css?v=2 HTTP/1.1\" 200 512\n";
        let mut reader = Requests::new(&log[..], TraceFormat::Clf);
        let mut out = Vec::new();
        while let Some(request) = reader.next() {
            out.push((request.unwrap(), reader.query().map(str::to_owned)));
        }
        assert_eq!(out.len(), 2);
        let [(first, first_query), (second, second_query)] = &out[..] else {
            unreachable!("two requests");
        };
        assert_eq!(first.id, second.id, "the id names the path");
        assert_eq!(first.id, hash_id("/a.css"));
        // The skipped 304 (no query) between them does not change what follows.
        assert_eq!(
            (first_query.as_deref(), second_query.as_deref()),
            (Some("v=1"), Some("v=2"))
        );
        let all = edgelab_policy::Selection::All;
        assert_ne!(
            first.key_id(first_query.as_deref(), &all),
            second.key_id(second_query.as_deref(), &all),
            "v=1 and v=2"
        );
        let none = edgelab_policy::Selection::None;
        assert_eq!(first.key_id(first_query.as_deref(), &none), first.id);
        let out: Vec<Request> = out.into_iter().map(|(request, _)| request).collect();
        assert_eq!((out[0].size, out[0].time), (512, 1_796_119_200));
        assert_eq!(reader.skipped_methods, 1);
        assert_eq!(reader.skipped_zero_size, 1, "the 304");
        let report = reader.malformed_report().expect("one malformed line");
        assert!(
            report.contains("line 3: ") && report.contains("garbage"),
            "{report}"
        );
        let strict: Vec<_> = Requests::with_strictness(&log[..], TraceFormat::Clf, true).collect();
        assert!(matches!(
            strict[1],
            Err(TraceError::Malformed { line: 3, .. })
        ));
        assert_eq!(
            TraceFormat::guess("x.log.gz", "#Version: 1.0"),
            TraceFormat::CloudFront
        );
        assert_eq!(
            TraceFormat::guess("access.log", "1.2.3.4 - -"),
            TraceFormat::Clf
        );
        assert_eq!(TraceFormat::guess("t.csv", "#Version"), TraceFormat::Csv);
    }

    #[test]
    fn oracle_records_split_across_buffer_fills_read_whole() {
        let requests: Vec<Request> = (1..=7)
            .map(|i| Request {
                time: i,
                id: i * 1_000_003,
                size: i * 10,
                ..Request::default()
            })
            .collect();
        let bytes: Vec<u8> = requests
            .iter()
            .flat_map(|r| encode_oracle(r).unwrap())
            .collect();
        // 50 bytes: two records and a third's start per fill.
        let input = std::io::BufReader::with_capacity(50, &bytes[..]);
        let reader = Requests::new(input, TraceFormat::OracleGeneral).with_length(7 * 24);
        assert_eq!(reader.size_hint(), (0, Some(7)));
        let out: Vec<Request> = reader.map(Result::unwrap).collect();
        assert_eq!(out, requests);
        let unknown = Requests::new(&bytes[..], TraceFormat::OracleGeneral);
        assert_eq!(unknown.size_hint(), (0, None));
    }

    #[test]
    fn oracle_truncated_is_an_error() {
        let mut bytes = encode_oracle(&Request {
            time: 1,
            id: 2,
            size: 3,
            ..Request::default()
        })
        .unwrap()
        .to_vec();
        bytes.extend_from_slice(&[1, 2, 3]);
        let out = read(&bytes, TraceFormat::OracleGeneral);
        assert!(matches!(out[1], Err(TraceError::Truncated { offset: 24 })));
    }

    proptest::proptest! {
        #[test]
        fn csv_never_panics(text in "[0-9a-z,.\\-\\n ]{0,200}") {
            for item in Requests::new(text.as_bytes(), TraceFormat::Csv) {
                let _ = item;
            }
        }
    }
}
