//! Origin request policies: what of the viewer's request reaches the upstream beyond the
//! cache key (CloudFront's model). A behaviour names a managed policy (`managed = "AllViewer"`)
//! and/or lists query strings, headers and cookies; what it does not select, and the key does
//! not hold, never leaves the edge.

use crate::config::{OriginRequestPolicy, Selection};

/// Managed origin request policies, as the CloudFront Developer Guide lists them ("Use
/// managed origin request policies"): name, headers, cookies, query strings.
const MANAGED: &[(&str, Managed, Managed, Managed)] = &[
    ("AllViewer", Managed::All, Managed::All, Managed::All),
    (
        "AllViewerAndCloudFrontHeaders-2022-06",
        Managed::All,
        Managed::All,
        Managed::All,
    ),
    (
        "AllViewerExceptHostHeader",
        Managed::All,
        Managed::All,
        Managed::All,
    ),
    (
        "CORS-CustomOrigin",
        Managed::Only(&["origin"]),
        Managed::None,
        Managed::None,
    ),
    (
        "CORS-S3Origin",
        Managed::Only(&[
            "origin",
            "access-control-request-headers",
            "access-control-request-method",
        ]),
        Managed::None,
        Managed::None,
    ),
    (
        "Elemental-MediaTailor-PersonalizedManifests",
        Managed::Only(&[
            "origin",
            "access-control-request-headers",
            "access-control-request-method",
            "user-agent",
            "x-forwarded-for",
        ]),
        Managed::None,
        Managed::All,
    ),
    (
        "HostHeaderOnly",
        Managed::Only(&["host"]),
        Managed::None,
        Managed::None,
    ),
    (
        "UserAgentRefererHeaders",
        Managed::Only(&["user-agent", "referer"]),
        Managed::None,
        Managed::None,
    ),
];

#[derive(Clone, Copy)]
enum Managed {
    None,
    All,
    Only(&'static [&'static str]),
}

impl Managed {
    fn selection(self) -> Selection {
        match self {
            Managed::None => Selection::None,
            Managed::All => Selection::All,
            Managed::Only(names) => Selection::Only(names.iter().map(|n| n.to_string()).collect()),
        }
    }
}

/// Viewer headers an origin commonly trusts to rebuild the URL or scheme: forwarded only when
/// a policy or the key selects them, and never under the `rfc9111` preset's default (a cache
/// that forwards them unkeyed is poisoned by an origin that reflects them).
pub const URL_OVERRIDES: &[&str] = &[
    "x-forwarded-host",
    "x-host",
    "x-original-url",
    "x-rewrite-url",
    "x-forwarded-scheme",
    "x-forwarded-proto",
    "x-forwarded-server",
    "x-http-method-override",
];

/// Headers CloudFront forwards whatever the policies say ("HTTP request headers and
/// CloudFront behavior"): the body's framing and type, conditionals, ranges and request
/// cache directives. `Authorization` is forwarded for methods other than GET and HEAD.
pub const ALWAYS: &[&str] = &[
    "content-length",
    "content-type",
    "content-encoding",
    "content-md5",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-unmodified-since",
    "if-range",
    "range",
    "cache-control",
    "pragma",
    "max-forwards",
    "x-forwarded-for",
];

/// Names of the managed policies, for error messages.
pub fn managed_names() -> Vec<&'static str> {
    MANAGED.iter().map(|(name, ..)| *name).collect()
}

/// The managed policy `name` (case-sensitive, as CloudFront spells it), or `None`.
pub fn managed(name: &str) -> Option<OriginRequestPolicy> {
    MANAGED
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(name, headers, cookies, query)| OriginRequestPolicy {
            headers: headers.selection(),
            cookies: cookies.selection(),
            query_strings: query.selection(),
            // The one managed policy that forwards every header but the viewer's Host.
            withheld: if *name == "AllViewerExceptHostHeader" {
                vec!["host".to_string()]
            } else {
                Vec::new()
            },
        })
}

/// The `User-Agent` CloudFront sends to the origin in place of the viewer's when the origin
/// request policy does not forward it ("How CloudFront processes HTTP requests").
pub const CLOUDFRONT_USER_AGENT: &str = "Amazon CloudFront";

/// The policy of a behaviour that names none: under CloudFront's presets nothing beyond the
/// key (no origin request policy attached: "All of the values in the cache policy are
/// automatically included in origin requests", Developer Guide, "Working with policies"; a
/// key without query strings sends none); the `rfc9111` preset, a plain shared cache,
/// forwards everything but the URL-override headers and `Host` (the origin sees its own
/// name).
pub fn default_for(rfc: bool) -> OriginRequestPolicy {
    if rfc {
        OriginRequestPolicy {
            headers: Selection::All,
            cookies: Selection::All,
            query_strings: Selection::All,
            withheld: URL_OVERRIDES
                .iter()
                .chain(&["host"])
                .map(|n| n.to_string())
                .collect(),
        }
    } else {
        OriginRequestPolicy::default()
    }
}

impl OriginRequestPolicy {
    /// Whether the viewer header `name` (lower case) is forwarded by this policy.
    pub fn forwards_header(&self, name: &str, unsafe_method: bool) -> bool {
        if ALWAYS.contains(&name) || (unsafe_method && name == "authorization") {
            return true;
        }
        self.headers.selects(name) && !self.withheld.iter().any(|w| w == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_policies_match_the_guide() {
        let cors = managed("CORS-S3Origin").unwrap();
        assert!(cors.forwards_header("access-control-request-method", false));
        assert!(!cors.forwards_header("cookie", false));
        assert_eq!(cors.cookies, Selection::None);
        let ua = managed("UserAgentRefererHeaders").unwrap();
        assert!(ua.forwards_header("referer", false));
        assert!(!ua.forwards_header("x-forwarded-host", false));
        assert_eq!(managed("AllViewer").unwrap().cookies, Selection::All);
        assert!(managed("AllViewer").unwrap().forwards_header("host", false));
        assert!(
            managed("HostHeaderOnly")
                .unwrap()
                .forwards_header("host", false)
        );
        let except = managed("AllViewerExceptHostHeader").unwrap();
        assert!(!except.forwards_header("host", false));
        assert!(except.forwards_header("user-agent", false));
        assert!(managed("allviewer").is_none());
    }

    #[test]
    fn defaults_forward_only_the_key_or_everything_but_overrides() {
        let cf = default_for(false);
        assert!(!cf.forwards_header("x-forwarded-host", false));
        assert!(!cf.forwards_header("authorization", false));
        assert!(cf.forwards_header("authorization", true));
        assert!(cf.forwards_header("if-none-match", false));
        let rfc = default_for(true);
        assert!(rfc.forwards_header("accept-language", false));
        assert!(!rfc.forwards_header("x-original-url", false));
        assert!(!rfc.forwards_header("host", false));
        assert!(!cf.forwards_header("host", false));
        assert_eq!(cf.query_strings, Selection::None);
        assert_eq!(rfc.query_strings, Selection::All);
    }
}
