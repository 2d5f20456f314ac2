//! The objects a workload draws from: the origin's catalog (discovered at
//! `<target>/.well-known/edgelab/catalog`, JSON shape in `docs/architecture.md`) or a plain
//! list of URLs for any other site.
//!
//! The JSON shape is `edgelab_wire::catalog`, the one the origin writes.

use std::time::Duration;

use edgelab_common::names::path;
use edgelab_wire::{CatalogEntry, CatalogListing, Digest};
use http::Uri;

use crate::error::LoadgenError;

/// The path class of objects listed without one (`--urls FILE`).
pub const OTHER_CLASS: &str = "other";

/// A list of objects to request.
#[derive(Clone, Debug, PartialEq)]
pub struct Catalog {
    /// The seed the origin generated its catalog from (absent for a URL list).
    pub seed: Option<u64>,
    /// The objects, in the origin's order (which is also the popularity rank order).
    pub objects: Vec<CatalogObject>,
}

/// One object of the catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogObject {
    /// Path (and query) of the object, starting with `/`.
    pub path: String,
    /// Path class (`static`, `img`, `api`, `video`, …).
    pub class: String,
    /// Size of the whole representation in bytes, when known.
    pub size: Option<u64>,
    /// Digest of the whole representation, when known.
    pub digest: Option<Digest>,
    /// Media type, when known.
    pub content_type: Option<String>,
}

impl From<CatalogEntry> for CatalogObject {
    fn from(entry: CatalogEntry) -> CatalogObject {
        CatalogObject {
            path: entry.path,
            class: entry.class,
            size: Some(entry.size),
            digest: Some(entry.digest),
            content_type: Some(entry.content_type),
        }
    }
}

fn other_class() -> String {
    OTHER_CLASS.to_string()
}

impl Catalog {
    /// Parses the origin's catalog JSON.
    pub fn from_json(text: &[u8], source_name: &str) -> Result<Catalog, LoadgenError> {
        let listing: CatalogListing =
            serde_json::from_slice(text).map_err(|error| LoadgenError::Catalog {
                source_name: source_name.to_string(),
                message: format!("not a catalog: {error}"),
            })?;
        Catalog {
            seed: Some(listing.seed),
            objects: listing
                .objects
                .into_iter()
                .map(CatalogObject::from)
                .collect(),
        }
        .checked(source_name)
    }

    /// Parses a URL list: one path (`/a/b`) or absolute URL per line (only its path and query
    /// are used); blank lines and lines starting with `#` are skipped. Objects get the class
    /// [`OTHER_CLASS`] and no digest, so their bodies are not verified.
    pub fn from_url_list(text: &str, source_name: &str) -> Result<Catalog, LoadgenError> {
        let mut objects = Vec::new();
        let mut problems = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let path = if line.starts_with('/') {
                Some(line.to_string())
            } else {
                line.parse::<Uri>()
                    .ok()
                    .filter(|uri| uri.scheme().is_some())
                    .map(|uri| {
                        uri.path_and_query()
                            .map_or("/".to_string(), |pq| pq.as_str().to_string())
                    })
            };
            match path {
                Some(path) => objects.push(CatalogObject {
                    path,
                    class: other_class(),
                    size: None,
                    digest: None,
                    content_type: None,
                }),
                None => problems.push(format!("line {}: not a path or URL: {line}", number + 1)),
            }
        }
        if !problems.is_empty() {
            return Err(LoadgenError::Catalog {
                source_name: source_name.to_string(),
                message: problems.join("; "),
            });
        }
        Catalog {
            seed: None,
            objects,
        }
        .checked(source_name)
    }

    /// Fetches the catalog from `<base>/.well-known/edgelab/catalog`.
    pub async fn discover(base: &Uri, limit: Duration) -> Result<Catalog, LoadgenError> {
        let uri =
            join(base, path::WELL_KNOWN_CATALOG).map_err(|message| LoadgenError::Catalog {
                source_name: base.to_string(),
                message,
            })?;
        let source_name = uri.to_string();
        let body = crate::fetch::get(&uri, limit).await.map_err(|message| {
            LoadgenError::Catalog {
                source_name: source_name.clone(),
                message: format!(
                    "{message} (is the target an edgelab origin or edge? use --urls FILE otherwise)"
                ),
            }
        })?;
        Catalog::from_json(&body, &source_name)
    }

    /// The distinct classes, in first-seen order.
    pub fn classes(&self) -> Vec<String> {
        let mut classes: Vec<String> = Vec::new();
        for object in &self.objects {
            if !classes.contains(&object.class) {
                classes.push(object.class.clone());
            }
        }
        classes
    }

    fn checked(self, source_name: &str) -> Result<Catalog, LoadgenError> {
        let fail = |message: String| LoadgenError::Catalog {
            source_name: source_name.to_string(),
            message,
        };
        if self.objects.is_empty() {
            return Err(fail("the catalog lists no objects".to_string()));
        }
        for object in &self.objects {
            if !object.path.starts_with('/') || object.path.parse::<Uri>().is_err() {
                return Err(fail(format!(
                    "object path {:?} is not a valid path",
                    object.path
                )));
            }
        }
        Ok(self)
    }
}

/// `base` with its path replaced by `path` (which starts with `/`).
pub(crate) fn join(base: &Uri, path: &str) -> Result<Uri, String> {
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base
        .authority()
        .ok_or_else(|| format!("{base} has no host"))?;
    let prefix = base.path().trim_end_matches('/');
    format!("{scheme}://{authority}{prefix}{path}")
        .parse()
        .map_err(|error| format!("{base} + {path}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_catalog_json_parses() {
        let text = br#"{ "seed": 42, "objects": [ { "path": "/static/00017.js", "class": "static", "size": 5120,
  "digest": "xxh3=0123456789abcdef", "content_type": "application/javascript" } ] }"#;
        let catalog = Catalog::from_json(text, "test").unwrap();
        assert_eq!(catalog.seed, Some(42));
        assert_eq!(catalog.objects[0].size, Some(5120));
        assert_eq!(
            catalog.objects[0].digest,
            Some(Digest(0x0123_4567_89ab_cdef))
        );
    }

    #[test]
    fn bad_digest_and_empty_catalog_are_rejected() {
        let text = br#"{ "objects": [ { "path": "/a", "digest": "md5=00" } ] }"#;
        assert!(
            Catalog::from_json(text, "t")
                .unwrap_err()
                .to_string()
                .contains("md5=00")
        );
        assert!(Catalog::from_json(br#"{ "objects": [] }"#, "t").is_err());
    }

    #[test]
    fn url_list_takes_paths_and_reports_bad_lines() {
        let list = "# comment\n/a\n\nhttp://example.com/b?x=1\n";
        let catalog = Catalog::from_url_list(list, "urls.txt").unwrap();
        let paths: Vec<_> = catalog.objects.iter().map(|o| o.path.as_str()).collect();
        assert_eq!(paths, ["/a", "/b?x=1"]);
        assert_eq!(catalog.objects[0].class, OTHER_CLASS);
        let error = Catalog::from_url_list("/ok\nnot a url\n", "urls.txt").unwrap_err();
        assert!(error.to_string().contains("line 2"), "{error}");
    }

    #[test]
    fn join_keeps_a_base_path_prefix() {
        let base: Uri = "http://127.0.0.1:8080/prefix/".parse().unwrap();
        assert_eq!(
            join(&base, "/a.js").unwrap().to_string(),
            "http://127.0.0.1:8080/prefix/a.js"
        );
    }
}
