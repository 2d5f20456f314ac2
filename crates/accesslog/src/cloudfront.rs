//! CloudFront standard logs (Amazon CloudFront Developer Guide, "Standard logging (legacy)":
//! log file format): tab-separated fields, `-` for an empty value, the field list given by a
//! `#Fields:` header line (any order, any subset); `#Version` and other `#` lines are
//! headers. Before a `#Fields:` line the standard 33 fields are assumed.

use crate::LogRecord;
use crate::time::{civil_to_unix_ms, parse_hms, parse_ymd};

/// The fields of a standard log file, in the order CloudFront writes them.
pub const STANDARD_FIELDS: [&str; 33] = [
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "cs(Cookie)",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
    "c-port",
    "time-to-first-byte",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
];

/// Where each field the reader uses sits on a line.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    count: usize,
    date: Option<usize>,
    time: Option<usize>,
    edge_location: Option<usize>,
    sc_bytes: Option<usize>,
    client: Option<usize>,
    method: Option<usize>,
    stem: Option<usize>,
    status: Option<usize>,
    user_agent: Option<usize>,
    query: Option<usize>,
    result: Option<usize>,
    content_type: Option<usize>,
    content_len: Option<usize>,
}

impl Fields {
    /// The standard field list.
    pub(crate) fn standard() -> Self {
        Fields::from_names(&STANDARD_FIELDS)
    }

    fn from_names(names: &[&str]) -> Self {
        let at = |name: &str| names.iter().position(|n| *n == name);
        Fields {
            count: names.len(),
            date: at("date"),
            time: at("time"),
            edge_location: at("x-edge-location"),
            sc_bytes: at("sc-bytes"),
            client: at("c-ip"),
            method: at("cs-method"),
            stem: at("cs-uri-stem"),
            status: at("sc-status"),
            user_agent: at("cs(User-Agent)"),
            query: at("cs-uri-query"),
            result: at("x-edge-result-type"),
            content_type: at("sc-content-type"),
            content_len: at("sc-content-len"),
        }
    }

    /// Parses one line: `Ok(None)` for a header line (a `#Fields:` line changes the layout).
    pub(crate) fn parse(&mut self, text: &str, line: u64) -> Result<Option<LogRecord>, String> {
        if let Some(header) = text.strip_prefix('#') {
            if let Some(names) = header.strip_prefix("Fields:") {
                let names: Vec<&str> = names.split_whitespace().collect();
                let fields = Fields::from_names(&names);
                let required = [fields.date, fields.time, fields.stem, fields.status];
                if required.iter().any(Option::is_none) {
                    return Err("#Fields: lacks date, time, cs-uri-stem or sc-status".to_string());
                }
                *self = fields;
            }
            return Ok(None);
        }
        let values: Vec<&str> = text.split('\t').collect();
        if values.len() != self.count {
            return Err(format!(
                "{} tab-separated fields, the header names {}",
                values.len(),
                self.count
            ));
        }
        self.record(&values, line).map(Some)
    }

    fn record(&self, values: &[&str], line: u64) -> Result<LogRecord, String> {
        let get = |at: Option<usize>| at.map(|i| values[i]).filter(|v| *v != "-" && !v.is_empty());
        let text = |at: Option<usize>| get(at).map(str::to_string);
        let number = |at: Option<usize>, name: &str| -> Result<Option<u64>, String> {
            get(at)
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| format!("{name} `{v}` is not a number"))
                })
                .transpose()
        };
        let date = get(self.date).ok_or("no date")?;
        let time = get(self.time).ok_or("no time")?;
        let (y, mo, d) =
            parse_ymd(date).ok_or_else(|| format!("date `{date}` is not YYYY-MM-DD"))?;
        let (h, mi, s) = parse_hms(time).ok_or_else(|| format!("time `{time}` is not HH:MM:SS"))?;
        let path = get(self.stem).ok_or("no cs-uri-stem")?;
        if !path.starts_with('/') {
            return Err(format!("cs-uri-stem `{path}` does not start with /"));
        }
        let status = get(self.status).ok_or("no sc-status")?;
        let status = status
            .parse::<u16>()
            .ok()
            .filter(|s| (100..=599).contains(s) || *s == 0)
            .ok_or_else(|| format!("sc-status `{status}` is not an HTTP status"))?;
        Ok(LogRecord {
            line,
            time_ms: civil_to_unix_ms(y, mo, d, h, mi, s, 0),
            method: text(self.method).unwrap_or_else(|| "GET".to_string()),
            path: path.to_string(),
            query: text(self.query),
            status,
            bytes: number(self.sc_bytes, "sc-bytes")?.unwrap_or(0),
            content_length: number(self.content_len, "sc-content-len")?,
            content_type: text(self.content_type),
            edge_location: text(self.edge_location),
            edge_result: text(self.result),
            client: text(self.client),
            user_agent: text(self.user_agent),
        })
    }
}
