//! A catalog from an access log (`edgelab origin --catalog-from-log`): every logged path once,
//! at the largest size the log shows for it, so a replay of that log finds each object and
//! can verify its body. Memory is one entry per distinct path.
//!
//! Logs do not carry `Cache-Control`, so each object gets the class its path or logged
//! content type names (`edgelab_wire::class`): `/static/`, `/img/`, `/api/`, `/video/`
//! prefixes first, then `image/*` → img, `video/*` → video, `application/json` → api,
//! anything else static.

use std::collections::BTreeMap;

use edgelab_accesslog::LogRecord;
use http::HeaderValue;

use crate::catalog::Class;
use crate::config::LoggedObject;

/// The class of a logged object (`edgelab_wire::Class::of_logged`, the rule the offline
/// replay uses too).
pub fn class_of(path: &str, content_type: Option<&str>) -> Class {
    Class::of_logged(path, content_type)
}

/// The distinct objects of `records` in path order. Requests with nothing logged as sent
/// (304s, errors without a body) only add the path if another request shows its size.
pub fn objects_from_log(records: impl IntoIterator<Item = LogRecord>) -> Vec<LoggedObject> {
    let mut objects: BTreeMap<String, (u64, Option<String>)> = BTreeMap::new();
    for record in records {
        let size = record.object_size();
        let partial = record.status == 206;
        let entry = objects.entry(record.path).or_insert((0, None));
        if !partial {
            entry.0 = entry.0.max(size);
        }
        if entry.1.is_none() {
            entry.1 = record.content_type;
        }
    }
    objects
        .into_iter()
        .filter(|(_, (size, _))| *size > 0)
        .map(|(path, (size, content_type))| LoggedObject {
            class: class_of(&path, content_type.as_deref()),
            content_type: content_type.and_then(|t| HeaderValue::from_str(&t).ok()),
            path,
            size,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str, status: u16, size: u64, content_type: Option<&str>) -> LogRecord {
        LogRecord {
            line: 1,
            time_ms: 0,
            method: "GET".to_string(),
            path: path.to_string(),
            query: None,
            status,
            bytes: size + 300,
            content_length: Some(size),
            content_type: content_type.map(str::to_string),
            edge_location: None,
            edge_result: None,
            client: None,
            user_agent: None,
        }
    }

    #[test]
    fn each_path_once_at_its_largest_full_size_with_a_class() {
        let objects = objects_from_log([
            record("/img/a.jpg", 200, 1000, Some("image/jpeg")),
            record("/img/a.jpg", 206, 10, Some("image/jpeg")),
            record("/img/a.jpg", 304, 0, None),
            record("/movie.mp4", 200, 5000, Some("video/mp4")),
            record("/cart", 200, 40, Some("application/json")),
            record("/gone", 404, 0, None),
        ]);
        let summary: Vec<(&str, u64, Class)> = objects
            .iter()
            .map(|o| (o.path.as_str(), o.size, o.class))
            .collect();
        assert_eq!(
            summary,
            [
                ("/cart", 40, Class::Api),
                ("/img/a.jpg", 1000, Class::Img),
                ("/movie.mp4", 5000, Class::Video),
            ]
        );
        assert_eq!(class_of("/static/x", Some("image/png")), Class::Static);
        assert_eq!(class_of("/index.html", Some("text/html")), Class::Static);
    }
}
