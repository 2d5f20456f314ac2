//! The origin's catalog document (`GET /.well-known/edgelab/catalog` on the traffic port,
//! `/catalog` on the admin port), written by the origin and read by the load generator:
//!
//! ```json
//! { "seed": 42, "objects": [ { "path": "/static/00017.js", "class": "static", "size": 5120,
//!   "digest": "xxh3=0123456789abcdef", "content_type": "application/javascript" } ] }
//! ```

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// The catalog document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogListing {
    /// Seed the catalog was generated from.
    pub seed: u64,
    /// Every object, in the origin's order (also the popularity rank order).
    pub objects: Vec<CatalogEntry>,
}

/// One object of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// Absolute path on the traffic port, starting with `/`.
    pub path: String,
    /// Path class (`static`, `img`, `api`, `video`, `file`).
    pub class: String,
    /// Body size in bytes.
    pub size: u64,
    /// Digest of the whole body, as in `x-edgelab-digest`.
    pub digest: Digest,
    /// `Content-Type` of the object.
    pub content_type: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_shape_round_trips() {
        let text = r#"{"seed":42,"objects":[{"path":"/static/00017.js","class":"static","size":5120,"digest":"xxh3=0123456789abcdef","content_type":"application/javascript"}]}"#;
        let listing: CatalogListing = serde_json::from_str(text).unwrap();
        assert_eq!(listing.objects[0].digest, Digest(0x0123_4567_89ab_cdef));
        assert_eq!(serde_json::to_string(&listing).unwrap(), text);
    }
}
