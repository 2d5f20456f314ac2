//! A validated cache policy ([`CachePolicyConfig`]): CloudFront's managed presets by name and
//! their TTL overrides, with the selections of query strings, headers and cookies in the key.

use std::time::Duration;

use http::HeaderName;

/// A validated selection of query strings, headers or cookies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Selection {
    /// Nothing.
    #[default]
    None,
    /// Everything the viewer sent.
    All,
    /// Only these names (query strings and cookies case-sensitive, headers lower-cased).
    Only(Vec<String>),
}

impl Selection {
    /// Whether `name` is selected.
    pub fn selects(&self, name: &str) -> bool {
        match self {
            Selection::None => false,
            Selection::All => true,
            Selection::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

/// The preset names [`CachePolicyConfig::preset`] knows, as CloudFront spells them.
pub const PRESETS: [&str; 4] = [
    "rfc9111",
    "CachingOptimized",
    "CachingDisabled",
    "UseOriginCacheControlHeaders",
];

/// A TTL setting that contradicts the others: the field and what is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlProblem {
    /// `min_ttl` or `default_ttl`.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: &'static str,
}

/// A validated cache policy.
#[derive(Debug, Clone, PartialEq)]
pub struct CachePolicyConfig {
    /// Preset name it started from.
    pub name: String,
    /// MinTTL.
    pub min_ttl: Duration,
    /// DefaultTTL.
    pub default_ttl: Duration,
    /// MaxTTL.
    pub max_ttl: Duration,
    /// Pure RFC 9111 mode: no clamps, heuristic freshness, request directives honoured.
    pub rfc: bool,
    /// Query strings in the key.
    pub query_strings: Selection,
    /// Headers in the key (lower case).
    pub headers: Vec<HeaderName>,
    /// Cookies in the key.
    pub cookies: Selection,
    /// Compression on.
    pub compress: bool,
}

impl CachePolicyConfig {
    /// A preset by name (case-insensitive), or `None`.
    pub fn preset(name: &str) -> Option<Self> {
        const YEAR: Duration = Duration::from_secs(31_536_000);
        let base = |name: &str, min: u64, default: u64, max: Duration| CachePolicyConfig {
            name: name.to_string(),
            min_ttl: Duration::from_secs(min),
            default_ttl: Duration::from_secs(default),
            max_ttl: max,
            rfc: false,
            query_strings: Selection::None,
            headers: Vec::new(),
            cookies: Selection::None,
            compress: false,
        };
        match name.to_ascii_lowercase().as_str() {
            "rfc9111" => Some(CachePolicyConfig {
                rfc: true,
                query_strings: Selection::All,
                ..base("rfc9111", 0, 0, Duration::MAX)
            }),
            "cachingoptimized" => Some(CachePolicyConfig {
                compress: true,
                ..base("CachingOptimized", 1, 86_400, YEAR)
            }),
            "cachingdisabled" => Some(base("CachingDisabled", 0, 0, Duration::ZERO)),
            "useorigincachecontrolheaders" => Some(CachePolicyConfig {
                headers: vec![http::header::HOST, http::header::ORIGIN],
                compress: true,
                ..base("UseOriginCacheControlHeaders", 0, 0, YEAR)
            }),
            _ => None,
        }
    }

    /// Whether nothing is ever cached (`CachingDisabled`).
    pub fn disabled(&self) -> bool {
        !self.rfc && self.max_ttl.is_zero()
    }

    /// Overrides the TTLs that are given; setting any of them leaves the `rfc9111` mode (the
    /// clamps apply from then on).
    pub fn set_ttls(
        &mut self,
        min: Option<Duration>,
        default: Option<Duration>,
        max: Option<Duration>,
    ) {
        for (given, field) in [
            (min, &mut self.min_ttl),
            (default, &mut self.default_ttl),
            (max, &mut self.max_ttl),
        ] {
            if let Some(value) = given {
                *field = value;
                self.rfc = false;
            }
        }
    }

    /// What is inconsistent in the TTLs: MinTTL above MaxTTL, DefaultTTL outside them.
    pub fn ttl_problems(&self) -> Vec<TtlProblem> {
        let mut problems = Vec::new();
        if self.min_ttl > self.max_ttl {
            problems.push(TtlProblem {
                field: "min_ttl",
                message: "must not exceed max_ttl",
            });
        }
        if self.default_ttl < self.min_ttl || self.default_ttl > self.max_ttl {
            problems.push(TtlProblem {
                field: "default_ttl",
                message: "must lie between min_ttl and max_ttl",
            });
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_preset_exists_and_a_ttl_leaves_the_rfc_mode() {
        for name in PRESETS {
            assert_eq!(CachePolicyConfig::preset(name).unwrap().name, name);
        }
        let mut rfc = CachePolicyConfig::preset("RFC9111").unwrap();
        assert!(rfc.rfc && rfc.ttl_problems().is_empty());
        rfc.set_ttls(None, None, Some(Duration::from_secs(5)));
        assert!(!rfc.rfc);
        assert_eq!(rfc.max_ttl, Duration::from_secs(5));
        let mut optimized = CachePolicyConfig::preset("CachingOptimized").unwrap();
        optimized.set_ttls(
            Some(Duration::from_secs(10)),
            None,
            Some(Duration::from_secs(5)),
        );
        let fields: Vec<&str> = optimized.ttl_problems().iter().map(|p| p.field).collect();
        assert_eq!(fields, ["min_ttl", "default_ttl"]);
    }
}
