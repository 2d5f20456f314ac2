//! The content digest of a synthetic origin object, sent as `x-edgelab-digest` and listed in
//! the catalog: `xxh3=<16 lower-case hex digits>`, XXH3-64 of the whole representation (not
//! of a range). The origin writes it, the load generator and tests check bodies against it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Algorithm prefix of the text form.
const PREFIX: &str = "xxh3=";

/// An XXH3-64 content digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub u64);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(xxhash_rust::xxh3::xxh3_64(bytes))
    }

    /// The 64-bit value.
    pub fn value(self) -> u64 {
        self.0
    }

    /// Parses `xxh3=<16 hex digits>` (surrounding white space allowed).
    pub fn parse(text: &str) -> Option<Digest> {
        let hex = text.trim().strip_prefix(PREFIX)?;
        if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(hex, 16).ok().map(Digest)
    }

    /// The strong entity tag the origin derives from it: the 16 hex digits, quoted.
    pub fn etag(self) -> String {
        format!("\"{:016x}\"", self.0)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{:016x}", self.0)
    }
}

/// Text that is not `xxh3=<16 hex digits>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadDigest(pub String);

impl fmt::Display for BadDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "digest {:?} is not `xxh3=<16 hex digits>`", self.0)
    }
}

impl std::error::Error for BadDigest {}

impl FromStr for Digest {
    type Err = BadDigest;

    fn from_str(text: &str) -> Result<Digest, BadDigest> {
        Digest::parse(text).ok_or_else(|| BadDigest(text.to_string()))
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_form() {
        let digest = Digest(0x0123_4567_89ab_cdef);
        assert_eq!(digest.to_string(), "xxh3=0123456789abcdef");
        assert_eq!(digest.etag(), "\"0123456789abcdef\"");
        assert_eq!(Digest::parse(" xxh3=0123456789ABCDEF "), Some(digest));
        assert_eq!(Digest::parse("xxh3=123"), None);
        assert_eq!(Digest::parse("xxh3=+123456789abcdef"), None);
        assert_eq!(Digest::parse("md5=0123456789abcdef"), None);
        assert_eq!(Digest::of(b"").0, xxhash_rust::xxh3::xxh3_64(b""));
        let error = serde_json::from_str::<Digest>("\"md5=00\"").unwrap_err();
        assert!(error.to_string().contains("md5=00"), "{error}");
    }

    proptest! {
        #[test]
        fn every_value_round_trips(value: u64) {
            let digest = Digest(value);
            prop_assert_eq!(Digest::parse(&digest.to_string()), Some(digest));
            let json = serde_json::to_string(&digest).unwrap();
            prop_assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), digest);
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,30}") {
            if let Some(digest) = Digest::parse(&text) {
                prop_assert_eq!(digest.to_string(), text.trim().to_ascii_lowercase());
            }
        }
    }
}
