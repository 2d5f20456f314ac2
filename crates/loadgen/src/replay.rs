//! Replaying an access log (`edgelab loadgen --replay LOG`): the log's GET and HEAD requests,
//! each at its logged time from the first one (divided by `--speed`), open loop, from the
//! place its edge location names (`FRA56-P1` → `FRA`) or one `--place`. Lines without an edge
//! location (Common Log Format) come from the log's fallback place ([`ReplayLog::fallback`],
//! a topology's first client population) when it has one.
//!
//! The log is read twice, streaming both times: [`ReplayLog::scan`] finds the first and last
//! time and the edge locations (memory: one entry per location), then [`Plan::requests`]
//! reads it again as the run goes, so memory is bounded by the catalog, not the log.
//!
//! [`Plan::requests`]: crate::Plan::requests

use std::collections::{BTreeSet, HashMap};
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

use edgelab_accesslog::{LogFormat, Records};

use crate::catalog::CatalogObject;
use crate::plan::PlannedRequest;

/// A scanned access log, ready to be replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayLog {
    /// The log file (plain or gzip).
    pub path: PathBuf,
    /// Its format (`None`: guessed from the first line).
    pub format: Option<LogFormat>,
    /// Time compression: 2 sends the log in half its time.
    pub speed: f64,
    /// Send every request from this place instead of its edge location's.
    pub place: Option<String>,
    /// First logged time, Unix ms.
    pub first_ms: i64,
    /// Last logged time, Unix ms.
    pub last_ms: i64,
    /// Lines read.
    pub lines: u64,
    /// GET and HEAD requests (what is sent, when the catalog has their paths).
    pub sendable: u64,
    /// Requests with other methods (not sent).
    pub skipped_methods: u64,
    /// Edge location codes seen, sorted.
    pub edge_codes: Vec<String>,
    /// GET and HEAD requests without an edge location (every line of a CLF log).
    pub unlocated: u64,
    /// The place of requests without an edge location (`None`: the first place).
    pub fallback: Option<String>,
    /// The malformed-line summary, if any.
    pub malformed: Option<String>,
}

fn sendable(method: &str) -> bool {
    method == "GET" || method == "HEAD"
}

impl ReplayLog {
    /// Reads the log once (streaming). `strict`: a malformed line is an error.
    pub fn scan(
        path: PathBuf,
        format: Option<LogFormat>,
        speed: f64,
        place: Option<String>,
        strict: bool,
    ) -> Result<ReplayLog, String> {
        if !(speed.is_finite() && speed > 0.0) {
            return Err(format!("--speed {speed} must be a positive number"));
        }
        let name = path.display().to_string();
        let input =
            edgelab_accesslog::open(&path).map_err(|e| format!("cannot open {name}: {e}"))?;
        let mut records = Records::new(input, format, strict);
        let (mut first_ms, mut last_ms) = (i64::MAX, i64::MIN);
        let (mut sent, mut skipped, mut unlocated) = (0, 0, 0);
        let mut codes = BTreeSet::new();
        for record in records.by_ref() {
            let record = record.map_err(|e| format!("{name}: {e}"))?;
            if !sendable(&record.method) {
                skipped += 1;
                continue;
            }
            sent += 1;
            first_ms = first_ms.min(record.time_ms);
            last_ms = last_ms.max(record.time_ms);
            match record.edge_code() {
                Some(code) => {
                    codes.insert(code.to_ascii_uppercase());
                }
                None => unlocated += 1,
            }
        }
        if sent == 0 {
            return Err(format!("{name}: no GET or HEAD request to replay"));
        }
        Ok(ReplayLog {
            malformed: edgelab_accesslog::malformed_report(&records),
            format: format.or(records.format()),
            path,
            speed,
            place,
            first_ms,
            last_ms,
            lines: records.lines(),
            sendable: sent,
            skipped_methods: skipped,
            edge_codes: codes.into_iter().collect(),
            unlocated,
            fallback: None,
        })
    }

    /// This log with `place` for its requests without an edge location.
    pub fn with_fallback(mut self, place: Option<String>) -> ReplayLog {
        self.fallback = place;
        self
    }

    /// How long the replay takes: the logged span divided by the speed.
    pub fn span(&self) -> Duration {
        let ms = (self.last_ms - self.first_ms).max(0) as f64;
        Duration::from_secs_f64(ms / 1_000.0 / self.speed)
    }

    /// The client places of the replay: `--place`, else the edge locations and, when some
    /// requests have none, the fallback place (else `local` for a log without locations).
    pub fn places(&self) -> Vec<String> {
        if let Some(place) = &self.place {
            return vec![place.clone()];
        }
        let mut places = self.edge_codes.clone();
        if let Some(fallback) = &self.fallback
            && self.unlocated > 0
            && !places.iter().any(|p| p.eq_ignore_ascii_case(fallback))
        {
            places.push(fallback.clone());
        }
        if places.is_empty() {
            places.push("local".to_string());
        }
        places
    }
}

/// A logged query as the request sends it: what a URI cannot hold percent-encoded, what is
/// already encoded kept ([`edgelab_accesslog::encode_query`]).
fn uri_query(query: String) -> Box<str> {
    match edgelab_accesslog::encode_query(&query) {
        std::borrow::Cow::Borrowed(_) => query.into_boxed_str(),
        std::borrow::Cow::Owned(encoded) => encoded.into_boxed_str(),
    }
}

/// The requests of a replay, read from the log as the run goes: each the catalog object of
/// its logged path and query, else of its path with the logged query string sent after it.
pub(crate) struct Cursor {
    log: ReplayLog,
    records: Records<Box<dyn BufRead + Send>>,
    objects: HashMap<String, usize>,
    places: HashMap<String, usize>,
    /// The place index of requests without an edge location.
    unlocated_place: usize,
    next: u64,
    /// Sendable requests whose path the catalog lacks.
    pub(crate) unknown_paths: u64,
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("log", &self.log.path)
            .field("next", &self.next)
            .finish()
    }
}

impl Cursor {
    /// A cursor over `log` for a plan with these `objects` and `places`.
    pub(crate) fn open(
        log: &ReplayLog,
        objects: &[CatalogObject],
        places: &[String],
    ) -> Option<Cursor> {
        // The scan opened it; if it is gone now, the replay sends nothing.
        let input = edgelab_accesslog::open(&log.path).ok()?;
        let unlocated_place = log
            .fallback
            .as_ref()
            .and_then(|fallback| places.iter().position(|p| p.eq_ignore_ascii_case(fallback)))
            .unwrap_or(0);
        Some(Cursor {
            unlocated_place,
            records: Records::new(input, log.format, false),
            objects: objects
                .iter()
                .enumerate()
                .map(|(i, o)| (o.path.clone(), i))
                .rev()
                .collect(),
            places: places
                .iter()
                .enumerate()
                .map(|(i, p)| (p.clone(), i))
                .collect(),
            log: log.clone(),
            next: 0,
            unknown_paths: 0,
        })
    }

    /// The next request to send (index, offset from the first logged time, place, object).
    pub(crate) fn next_request(&mut self) -> Option<PlannedRequest> {
        loop {
            let Ok(mut record) = self.records.next()? else {
                continue;
            };
            if !sendable(&record.method) {
                continue;
            }
            // The catalog object named with the query (it is then in the path sent), else
            // the path's, and the logged query is sent after it.
            let named = record
                .query
                .as_ref()
                .and_then(|_| self.objects.get(&record.target()));
            let (object, query) = match named {
                Some(&object) => (object, None),
                None => match self.objects.get(&record.path) {
                    Some(&object) => (object, record.query.take().map(uri_query)),
                    None => {
                        self.unknown_paths += 1;
                        continue;
                    }
                },
            };
            let place = match (&self.log.place, record.edge_code()) {
                (None, Some(code)) => self.places.get(&code.to_ascii_uppercase()).copied(),
                (None, None) => Some(self.unlocated_place),
                (Some(_), _) => None,
            };
            let ms = (record.time_ms - self.log.first_ms).max(0) as f64;
            let index = self.next;
            self.next += 1;
            return Some(PlannedRequest {
                index,
                offset: Duration::from_secs_f64(ms / 1_000.0 / self.log.speed),
                place: place.unwrap_or(0),
                object,
                query,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catalog objects at `paths`, with no size or digest (the cursor only matches paths).
    fn catalog(paths: &[&str]) -> Vec<CatalogObject> {
        paths
            .iter()
            .map(|p| CatalogObject {
                path: p.to_string(),
                class: "x".into(),
                size: None,
                digest: None,
                content_type: None,
            })
            .collect()
    }

    #[test]
    fn the_shipped_log_scans_and_replays_in_logged_order_at_speed() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../config/examples/cloudfront-access.log");
        let log = ReplayLog::scan(path, None, 10.0, None, false).expect("scans");
        assert_eq!((log.sendable, log.skipped_methods), (37, 3));
        assert!(
            log.malformed
                .as_deref()
                .is_some_and(|m| m.contains("line 21"))
        );
        assert_eq!(log.places(), ["FRA", "IAD", "LHR", "NRT", "SYD"]);
        let objects = catalog(&["/index.html", "/img/hero.jpg"]);
        let mut cursor = Cursor::open(&log, &objects, &log.places()).expect("opens");
        let mut sent = Vec::new();
        while let Some(request) = cursor.next_request() {
            sent.push(request);
        }
        assert!(!sent.is_empty() && cursor.unknown_paths > 0);
        assert!(
            sent.windows(2)
                .all(|w| w[0].offset <= w[1].offset && w[0].index + 1 == w[1].index)
        );
        assert!(sent.last().unwrap().offset <= log.span());
        assert!(
            log.span() < Duration::from_secs(10),
            "about a minute of log at 10x"
        );
    }

    #[test]
    fn a_logged_query_string_goes_after_the_path_unless_the_catalog_names_it() {
        let dir = std::env::temp_dir().join(format!("edgelab-cursor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("queries.log");
        let line = |second: u32, target: &str| {
            format!(
                "10.0.0.1 - - [01/Dec/2026:10:00:{second:02} +0000] \"GET {target} HTTP/1.1\" 200 10\n"
            )
        };
        let log = [
            line(0, "/a.css?v=2&lang=en"),
            line(1, "/b.js?v=1"),
            line(2, "/a.css"),
            line(3, "/b.js?v=2"),
            line(4, "/missing?x=1"),
        ];
        std::fs::write(&path, log.concat()).unwrap();
        let log = ReplayLog::scan(path, None, 1.0, None, false).expect("scans");
        let objects = catalog(&["/a.css", "/b.js?v=1", "/b.js"]);
        let mut cursor = Cursor::open(&log, &objects, &log.places()).expect("opens");
        let sent: Vec<(usize, Option<Box<str>>)> = std::iter::from_fn(|| cursor.next_request())
            .map(|request| (request.object, request.query))
            .collect();
        assert_eq!(
            sent,
            [
                (0, Some("v=2&lang=en".into())),
                (1, None),
                (0, None),
                (2, Some("v=2".into())),
            ]
        );
        assert_eq!(cursor.unknown_paths, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_logged_query_a_uri_cannot_hold_is_sent_percent_encoded() {
        let dir = std::env::temp_dir().join(format!("edgelab-cursor-enc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("queries.log");
        // CloudFront's cs-uri-query is a tab-separated field: a space, `|`, `^` and non-ASCII
        // text fit in it unencoded.
        let log = "#Version: 1.0\n\
#Fields: date time x-edge-location sc-bytes c-ip cs-method cs-uri-stem sc-status cs-uri-query\n\
2026-12-01\t10:00:00\tFRA56-P1\t100\t192.0.2.1\tGET\t/a.css\t200\tq=a b|c^d&city=Zürich&k=%41\n\
2026-12-01\t10:00:01\tFRA56-P1\t100\t192.0.2.1\tGET\t/a.css\t200\tv=2&n=%E2%82%AC\n";
        std::fs::write(&path, log).unwrap();
        let log = ReplayLog::scan(path, None, 1.0, None, true).expect("scans");
        let objects = catalog(&["/a.css"]);
        let mut cursor = Cursor::open(&log, &objects, &log.places()).expect("opens");
        let queries: Vec<Box<str>> = std::iter::from_fn(|| cursor.next_request())
            .filter_map(|request| request.query)
            .collect();
        assert_eq!(
            queries,
            [
                "q=a%20b%7Cc%5Ed&city=Z%C3%BCrich&k=%41".into(),
                "v=2&n=%E2%82%AC".into(),
            ] as [Box<str>; 2]
        );
        for query in &queries {
            let uri: http::Uri = format!("/a.css?{query}").parse().expect("a URI");
            assert_eq!(uri.query(), Some(&**query));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn lines_without_a_location_come_from_the_fallback_place() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../config/examples/nginx-access.log");
        let log = ReplayLog::scan(path, None, 10.0, None, false).expect("scans");
        assert!(log.unlocated > 0 && log.edge_codes.is_empty());
        assert_eq!(log.places(), ["local"], "no fallback: one local place");
        let log = log.with_fallback(Some("Berlin".into()));
        assert_eq!(log.places(), ["Berlin"]);
        let objects = catalog(&["/index.html", "/static/app.js"]);
        let places = ["Tokyo".to_string(), "Berlin".to_string()];
        let mut cursor = Cursor::open(&log, &objects, &places).expect("opens");
        let mut sent = 0;
        while let Some(request) = cursor.next_request() {
            assert_eq!(request.place, 1, "every CLF line from Berlin");
            sent += 1;
        }
        assert!(sent > 0);
    }
}
