//! CloudFront's `X-Cache` response header: `Hit from cloudfront`, `RefreshHit from
//! cloudfront`, `Miss from cloudfront`, `Error from cloudfront`. Rendered by every cache tier,
//! read by the tier below (was the upstream tier's answer a hit?) and by the load generator.

use std::fmt;

/// One `X-Cache` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XCache {
    /// Served from a cache.
    Hit,
    /// A stored copy revalidated upstream (304).
    RefreshHit,
    /// Fetched from upstream.
    Miss,
    /// CloudFront answered with an error (its own, or the origin's passed through).
    Error,
}

impl XCache {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            XCache::Hit => "Hit from cloudfront",
            XCache::RefreshHit => "RefreshHit from cloudfront",
            XCache::Miss => "Miss from cloudfront",
            XCache::Error => "Error from cloudfront",
        }
    }

    /// Reads a header value by its first word, in any case (`Hit`, `RefreshHit`, `Miss`,
    /// `Error`); anything else is `None`.
    pub fn parse(value: &str) -> Option<XCache> {
        let first = value.split_whitespace().next()?;
        [XCache::Hit, XCache::RefreshHit, XCache::Miss, XCache::Error]
            .into_iter()
            .find(|x| x.word().eq_ignore_ascii_case(first))
    }

    /// Whether the answer came from a cache (`Hit` or `RefreshHit`).
    pub fn is_hit(self) -> bool {
        matches!(self, XCache::Hit | XCache::RefreshHit)
    }

    fn word(self) -> &'static str {
        match self {
            XCache::Hit => "Hit",
            XCache::RefreshHit => "RefreshHit",
            XCache::Miss => "Miss",
            XCache::Error => "Error",
        }
    }
}

impl fmt::Display for XCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn values_round_trip() {
        for x in [XCache::Hit, XCache::RefreshHit, XCache::Miss, XCache::Error] {
            assert_eq!(XCache::parse(x.as_str()), Some(x));
        }
        assert_eq!(XCache::parse("hit from somewhere"), Some(XCache::Hit));
        assert_eq!(XCache::parse("  REFRESHHIT"), Some(XCache::RefreshHit));
        assert_eq!(XCache::parse("LimitExceeded from cloudfront"), None);
        assert_eq!(XCache::parse(""), None);
        assert!(XCache::RefreshHit.is_hit() && !XCache::Error.is_hit());
    }

    proptest! {
        #[test]
        fn parsing_reads_the_first_word_only(value in "\\PC{0,40}") {
            let parsed = XCache::parse(&value);
            let first = value.split_whitespace().next().unwrap_or("");
            prop_assert_eq!(parsed.map(XCache::word).map(str::to_ascii_lowercase), parsed.map(|_| first.to_ascii_lowercase()));
            if let Some(x) = parsed {
                prop_assert_eq!(XCache::parse(x.as_str()), Some(x));
            }
        }
    }
}
