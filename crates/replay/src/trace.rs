//! Trace formats and a streaming reader: one [`Request`] at a time from any `Read`, so a
//! trace of any length replays in memory bounded by the caches it feeds.
//!
//! Requests for zero-byte objects are skipped and counted, as libCacheSim's readers do by
//! default (`ignore_size_zero_req`), so miss counts compare one to one.

use std::io::BufRead;
use std::str::FromStr;

/// One request of a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Request time in seconds as the trace gives it (unused by the eviction policies).
    pub time: u64,
    /// Object id.
    pub id: u64,
    /// Object size in bytes.
    pub size: u64,
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
}

impl TraceFormat {
    /// Every format, for help texts.
    pub const ALL: [TraceFormat; 2] = [TraceFormat::Csv, TraceFormat::OracleGeneral];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceFormat::Csv => "csv",
            TraceFormat::OracleGeneral => "oracle-general",
        }
    }

    /// Guesses the format from a file name: `*.oracleGeneral*` or `*.bin` is binary, else CSV.
    pub fn guess(path: &str) -> TraceFormat {
        if path.contains("oracleGeneral") || path.ends_with(".bin") {
            TraceFormat::OracleGeneral
        } else {
            TraceFormat::Csv
        }
    }
}

impl FromStr for TraceFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|format| format.as_str() == text)
            .ok_or_else(|| format!("unknown trace format `{text}` (csv, oracle-general)"))
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

/// A streaming reader of requests.
pub struct Requests<R> {
    input: R,
    format: TraceFormat,
    /// Lines (CSV) or records (binary) read so far.
    position: u64,
    line: String,
    /// Zero-byte requests skipped so far.
    pub skipped_zero_size: u64,
}

impl<R: BufRead> Requests<R> {
    /// Reads `format` from `input` (wrap files in a `BufReader`).
    pub fn new(input: R, format: TraceFormat) -> Self {
        Requests {
            input,
            format,
            position: 0,
            line: String::new(),
            skipped_zero_size: 0,
        }
    }

    fn next_oracle(&mut self) -> Option<Result<Request, TraceError>> {
        let mut record = [0u8; ORACLE_GENERAL_RECORD];
        let mut filled = 0;
        while filled < record.len() {
            match self.input.read(&mut record[filled..]) {
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
        loop {
            self.line.clear();
            match self.input.read_line(&mut self.line) {
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

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let next = match self.format {
                TraceFormat::Csv => self.next_csv(),
                TraceFormat::OracleGeneral => self.next_oracle(),
            };
            match next {
                Some(Ok(request)) if request.size == 0 => self.skipped_zero_size += 1,
                other => return other,
            }
        }
    }
}

/// Decodes one little-endian `oracleGeneral` record (`next_access_vtime` is not needed).
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
                size: 100
            }
        );
        assert_eq!(out[1].time, 2);
        assert_eq!(out[1].id, hash_id("/a.jpg"));
        assert_eq!(out.len(), 2);
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
            },
            Request {
                time: 4,
                id: 9,
                size: 0,
            },
            Request {
                time: 5,
                id: 9,
                size: 1,
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
    fn oracle_truncated_is_an_error() {
        let mut bytes = encode_oracle(&Request {
            time: 1,
            id: 2,
            size: 3,
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
