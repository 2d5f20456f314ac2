//! The origin's path classes (`static`, `img`, `api`, `video`, `file`), each with its own
//! `Cache-Control`, and the class an access-log object gets (`origin --catalog-from-log`).
//! Shared by the origin, which serves each class's `Cache-Control`, and the offline replay,
//! which decides freshness from what the origin would send.
//!
//! Logs do not carry `Cache-Control`, so a logged object gets the class its path or logged
//! content type names ([`Class::of_logged`]): `/static/`, `/img/`, `/api/`, `/video/`
//! prefixes first, then `image/*` → img, `video/*` → video, `application/json` → api,
//! anything else static.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Path prefix of real files.
pub const FILES_PREFIX: &str = "/files/";

/// A path class. Each has its own `Cache-Control`, content type and size distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// `/static/`: versioned assets, immutable.
    Static,
    /// `/img/`: images, cached for hours.
    Img,
    /// `/api/`: small dynamic responses, not stored.
    Api,
    /// `/video/`: large objects fetched with ranges.
    Video,
    /// `/files/`: real files from a directory.
    File,
}

impl Class {
    /// The synthetic classes, in catalog order.
    pub const SYNTHETIC: [Class; 4] = [Class::Static, Class::Img, Class::Api, Class::Video];

    /// Name used in JSON, headers and config.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Static => "static",
            Class::Img => "img",
            Class::Api => "api",
            Class::Video => "video",
            Class::File => "file",
        }
    }

    /// The `Cache-Control` the origin sends with the class unless configured otherwise.
    pub fn default_cache_control(self) -> &'static str {
        match self {
            Class::Static => "public, max-age=31536000, immutable",
            Class::Img => "public, max-age=14400",
            Class::Api => "no-store",
            Class::Video | Class::File => "public, max-age=86400",
        }
    }

    /// The class of an object from an access log, by its path, else its logged content type.
    pub fn of_logged(path: &str, content_type: Option<&str>) -> Class {
        if let Some(class) = Class::SYNTHETIC
            .into_iter()
            .find(|c| path.starts_with(c.prefix()))
        {
            return class;
        }
        match content_type.unwrap_or_default() {
            t if t.starts_with("image/") => Class::Img,
            t if t.starts_with("video/") => Class::Video,
            t if t.starts_with("application/json") => Class::Api,
            _ => Class::Static,
        }
    }

    /// Path prefix, with both slashes.
    pub fn prefix(self) -> &'static str {
        match self {
            Class::Static => "/static/",
            Class::Img => "/img/",
            Class::Api => "/api/",
            Class::Video => "/video/",
            Class::File => FILES_PREFIX,
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_object_takes_its_prefix_then_its_content_type() {
        assert_eq!(Class::of_logged("/img/a", Some("text/html")), Class::Img);
        assert_eq!(Class::of_logged("/a.png", Some("image/png")), Class::Img);
        assert_eq!(Class::of_logged("/m.mp4", Some("video/mp4")), Class::Video);
        assert_eq!(
            Class::of_logged("/cart", Some("application/json")),
            Class::Api
        );
        assert_eq!(Class::of_logged("/", None), Class::Static);
        assert_eq!(Class::Api.default_cache_control(), "no-store");
    }
}
