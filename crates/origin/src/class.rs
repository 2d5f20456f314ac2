//! Path classes of the synthetic catalog, shared by the configuration (settings per class)
//! and the catalog (objects per class) without either depending on the other.

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
