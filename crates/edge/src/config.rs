//! Edge node configuration: the raw TOML shape ([`RawEdgeConfig`], `deny_unknown_fields`, one
//! `///` per field: this is the reference) and the validated [`EdgeConfig`] built by
//! `TryFrom`, which reports every problem with its field path.
//!
//! Cache behaviours follow CloudFront: an ordered list of path patterns, first match wins, and a
//! default behaviour used when none matches. Each behaviour names a cache policy (a preset or
//! explicit TTLs and key parts) and an origin request policy (what is forwarded upstream
//! without being part of the key).

use std::time::Duration;

use edgelab_common::config::ConfigErrors;
use edgelab_common::serve::{ListenerLimits, RawListenerLimits};
use http::{HeaderName, Uri};
use serde::Deserialize;

use crate::error_responses::{ErrorResponses, RawCustomErrorResponse};

/// The edge node's defaults, exported so that callers building an edge configuration (the
/// cluster planner) leave a field unset instead of copying its value.
pub mod defaults {
    use std::time::Duration;

    /// Store capacity: 256 MiB.
    pub const CAPACITY_BYTES: u64 = 256 << 20;
    /// Largest stored object: 30 MiB.
    pub const MAX_OBJECT_BYTES: u64 = 30 << 20;
    /// Origin-group connection attempts per origin (CloudFront: 3).
    pub const CONNECTION_ATTEMPTS: u32 = 3;
    /// Time allowed per connection attempt (CloudFront: 10 s).
    pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
    /// Connects in flight to one upstream at a time (`[upstream] max_connecting`).
    pub const MAX_CONNECTING: usize = 16;
    /// Time allowed for the upstream response head (CloudFront: 30 s).
    pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
    /// Primary statuses that make a GET/HEAD fail over to the secondary.
    pub const FAILOVER_STATUS_CODES: [u16; 4] = [500, 502, 503, 504];
    /// Cache policy preset of a behaviour that names none.
    pub const POLICY: &str = "CachingOptimized";
    /// How long a collapsed request waits for the leader's response head.
    pub const COLLAPSE_TIMEOUT: Duration = Duration::from_secs(5);
    /// Largest request body forwarded upstream: 20 MiB.
    pub const MAX_REQUEST_BODY_BYTES: u64 = 20 << 20;
}

/// Which tier a node plays (defined with the rest of the protocol in `edgelab-wire`).
pub use edgelab_wire::Tier;

/// A list selection in a cache key or origin request policy: `"none"`, `"all"` or a list of
/// names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RawSelection {
    /// `"none"` or `"all"`.
    Word(String),
    /// Only these names.
    List(Vec<String>),
}

/// A validated selection of query strings, headers or cookies (`edgelab_policy`).
pub use edgelab_policy::Selection;

/// A validated selection from its raw form; `lower` lower-cases the names (headers).
fn selection_from_raw(
    raw: &RawSelection,
    lower: bool,
    field: &str,
    errors: &mut ConfigErrors,
) -> Selection {
    match raw {
        RawSelection::Word(word) if word == "none" => Selection::None,
        RawSelection::Word(word) if word == "all" => Selection::All,
        RawSelection::Word(word) => {
            errors.push(
                field,
                format!("expected \"none\", \"all\" or a list of names, got {word:?}"),
            );
            Selection::None
        }
        RawSelection::List(names) => Selection::Only(
            names
                .iter()
                .map(|n| {
                    if lower {
                        n.to_ascii_lowercase()
                    } else {
                        n.clone()
                    }
                })
                .collect(),
        ),
    }
}

/// Raw cache policy: a preset, optionally overridden field by field.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCachePolicy {
    /// Preset to start from: `rfc9111`, `CachingOptimized`, `CachingDisabled`,
    /// `UseOriginCacheControlHeaders` (default `CachingOptimized`).
    pub preset: Option<String>,
    /// CloudFront MinTTL: the shortest time an object stays fresh; above 0 it caches even
    /// `no-store`/`no-cache`/`private` responses.
    #[serde(default, with = "humantime_serde")]
    pub min_ttl: Option<Duration>,
    /// CloudFront DefaultTTL: freshness when the origin gives none.
    #[serde(default, with = "humantime_serde")]
    pub default_ttl: Option<Duration>,
    /// CloudFront MaxTTL: the longest time an object stays fresh.
    #[serde(default, with = "humantime_serde")]
    pub max_ttl: Option<Duration>,
    /// Query strings in the key: `"none"`, `"all"` or a list.
    pub query_strings: Option<RawSelection>,
    /// Request headers in the key (a list of names, or `"none"`).
    pub headers: Option<RawSelection>,
    /// Cookies in the key: `"none"`, `"all"` or a list.
    pub cookies: Option<RawSelection>,
    /// Compress (gzip, brotli) and put the normalised `Accept-Encoding` in the key.
    pub compress: Option<bool>,
}

/// Raw origin request policy: forwarded upstream without being in the key. With nothing set,
/// CloudFront's presets forward only the key (its query strings, headers and cookies: none
/// at all under `CachingOptimized` and `CachingDisabled`) and `rfc9111` everything but the
/// URL-override headers (`crate::origin_request`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOriginRequestPolicy {
    /// A managed policy to start from (`AllViewer`, `CORS-S3Origin`, `UserAgentRefererHeaders`,
    /// ...); the fields below override it.
    pub managed: Option<String>,
    /// Query strings forwarded.
    pub query_strings: Option<RawSelection>,
    /// Viewer headers forwarded (hop-by-hop headers never).
    pub headers: Option<RawSelection>,
    /// Cookies forwarded.
    pub cookies: Option<RawSelection>,
}

/// Raw cache behaviour.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBehavior {
    /// CloudFront path pattern (`*` any run of characters, `?` one character); ignored for the
    /// default behaviour.
    pub path_pattern: Option<String>,
    /// The cache policy.
    #[serde(default)]
    pub cache_policy: RawCachePolicy,
    /// The origin request policy.
    #[serde(default)]
    pub origin_request: RawOriginRequestPolicy,
    /// Collapse concurrent misses for one key into one upstream request (default true).
    pub collapse: Option<bool>,
}

/// Raw upstream: the next tier and/or an origin group.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// URL of the next cache tier (REC or shield). Cacheable requests go there; others go to
    /// the origin group directly when one is configured.
    pub next_tier: Option<String>,
    /// Primary origin URL (`http://host:port`).
    pub primary: Option<String>,
    /// Secondary origin URL, used on failover.
    pub secondary: Option<String>,
    /// Primary statuses that make a GET/HEAD fail over to the secondary
    /// (default 500, 502, 503, 504).
    pub failover_status_codes: Option<Vec<u16>>,
    /// Connection attempts per origin (CloudFront: 1 to 3, default 3).
    pub connection_attempts: Option<u32>,
    /// Time allowed per connection attempt (default 10 s).
    #[serde(default, with = "humantime_serde")]
    pub connection_timeout: Option<Duration>,
    /// Most connects the node has in flight to one upstream at a time (default 16); further
    /// requests wait for a connection to come free or for a connect slot, and a connect whose
    /// request was served meanwhile (by a connection that came free) is not made. Bounds the
    /// connections a burst of misses opens: the pool would otherwise start one connect per
    /// waiting request and keep every connection that completes.
    pub max_connecting: Option<usize>,
    /// Time allowed for the upstream response head, and then between two packets of its
    /// body (CloudFront's origin response timeout; default 30 s).
    #[serde(default, with = "humantime_serde")]
    pub response_timeout: Option<Duration>,
    /// Modelled round trip to the upstream (a fixed-RTT hop through `edgelab-link`); unset or
    /// 0 means plain TCP. `edgelab up` sets the full geographic hop model instead.
    #[serde(default, with = "humantime_serde")]
    pub rtt: Option<Duration>,
}

/// The edge node configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEdgeConfig {
    /// Connection cap and timeouts of the node's listeners (`[listener]`, SPEC §4 limits).
    #[serde(default)]
    pub listener: RawListenerLimits,
    /// IATA code of the place (`FRA`), used in `X-Amz-Cf-Pop` and labels (default `LOC`).
    pub pop: Option<String>,
    /// Number after the IATA code in `X-Amz-Cf-Pop` (`FRA56-P1`: 56; default 50).
    pub pop_number: Option<u16>,
    /// Partition in `X-Amz-Cf-Pop` (`FRA56-P1`: 1; default 1).
    pub pop_partition: Option<u16>,
    /// `edge`, `rec` or `shield` (default `edge`).
    pub tier: Option<String>,
    /// Where misses go.
    #[serde(default)]
    pub upstream: RawUpstream,
    /// Ordered cache behaviours (first match wins).
    #[serde(default)]
    pub behaviors: Vec<RawBehavior>,
    /// The behaviour used when no pattern matches.
    #[serde(default)]
    pub default_behavior: RawBehavior,
    /// Store capacity in bytes (default 256 MiB).
    pub capacity_bytes: Option<u64>,
    /// Largest object stored, in bytes (default 30 MiB; larger ones are passed through).
    pub max_object_bytes: Option<u64>,
    /// How long a collapsed request waits for the leader's response head (default 5 s); once
    /// the head is in, the waiter follows the leader's body to its end.
    #[serde(default, with = "humantime_serde")]
    pub collapse_timeout: Option<Duration>,
    /// Delay before an invalidation takes effect on this node (default 0).
    #[serde(default, with = "humantime_serde")]
    pub invalidation_delay: Option<Duration>,
    /// Admin URLs (`http://host:port`) of the other tiers an invalidation is forwarded to.
    #[serde(default)]
    pub invalidation_peers: Vec<String>,
    /// Token required by state-changing admin calls.
    pub admin_token: Option<String>,
    /// Largest request body forwarded upstream, in bytes (default 20 MiB; beyond: 413).
    pub max_request_body_bytes: Option<u64>,
    /// Domain name of the distribution, shared by every node of it: cache keys use it in
    /// place of the viewer's `Host`, so every PoP and tier keys one object alike (CloudFront
    /// keys on the distribution's domain). Default: the request's `Host`.
    pub distribution: Option<String>,
    /// CloudFront DefaultRootObject: a viewer request for `/` is served as `/<this>` (e.g.
    /// `index.html`); other paths are left alone. Default: none.
    pub default_root_object: Option<String>,
    /// CloudFront custom error responses of the distribution (`[[custom_error_responses]]`):
    /// per error status, the error caching minimum TTL and the page served instead
    /// (`crate::error_responses`).
    #[serde(default)]
    pub custom_error_responses: Vec<RawCustomErrorResponse>,
}

/// A validated cache policy: a preset and its overrides (`edgelab_policy`, shared with the
/// offline replay).
pub use edgelab_policy::CachePolicyConfig;

/// A validated origin request policy.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OriginRequestPolicy {
    /// Query strings forwarded.
    pub query_strings: Selection,
    /// Headers forwarded.
    pub headers: Selection,
    /// Cookies forwarded.
    pub cookies: Selection,
    /// Headers never forwarded even when `headers` is `All` (lower case).
    pub withheld: Vec<String>,
}

/// A validated cache behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct Behavior {
    /// Path pattern (`*` for the default behaviour).
    pub path_pattern: String,
    /// Cache policy.
    pub cache_policy: CachePolicyConfig,
    /// Origin request policy.
    pub origin_request: OriginRequestPolicy,
    /// Request collapsing on.
    pub collapse: bool,
}

/// A validated upstream.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Next tier, if any.
    pub next_tier: Option<Uri>,
    /// Primary origin, if any (at least one of `next_tier` and `primary` is set).
    pub primary: Option<Uri>,
    /// Secondary origin.
    pub secondary: Option<Uri>,
    /// Statuses that trigger failover.
    pub failover_status_codes: Vec<u16>,
    /// Connection attempts per origin.
    pub connection_attempts: u32,
    /// Per-attempt connect timeout.
    pub connection_timeout: Duration,
    /// Most connects in flight to one upstream at a time.
    pub max_connecting: usize,
    /// Response timeout: for the head, then between body packets.
    pub response_timeout: Duration,
    /// Latency model of the upstream hop (`None`: plain TCP).
    pub hop: Option<edgelab_geo::HopModel>,
    /// Seed of the hop's jitter and loss.
    pub link_seed: u64,
}

/// The validated edge configuration.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// IATA code.
    pub pop: String,
    /// Number in `X-Amz-Cf-Pop`.
    pub pop_number: u16,
    /// Partition in `X-Amz-Cf-Pop`.
    pub pop_partition: u16,
    /// Tier.
    pub tier: Tier,
    /// Upstream.
    pub upstream: Upstream,
    /// Ordered behaviours, the default last (its pattern is `*`).
    pub behaviors: Vec<Behavior>,
    /// Store capacity in bytes.
    pub capacity_bytes: u64,
    /// Largest stored object.
    pub max_object_bytes: u64,
    /// How long a collapsed request waits for the leader's response head.
    pub collapse_timeout: Duration,
    /// Invalidation propagation delay.
    pub invalidation_delay: Duration,
    /// Peers an invalidation is forwarded to.
    pub invalidation_peers: Vec<Uri>,
    /// Admin token.
    pub admin_token: Option<String>,
    /// Largest forwarded request body.
    pub max_request_body_bytes: u64,
    /// Distribution domain used in cache keys instead of the viewer's `Host`.
    pub distribution: Option<String>,
    /// Object served for a request to `/` (CloudFront DefaultRootObject), without the
    /// leading `/`.
    pub default_root_object: Option<String>,
    /// Error caching and custom error pages.
    pub error_responses: ErrorResponses,
    /// Connection cap and timeouts of the traffic and admin listeners.
    pub listener: ListenerLimits,
}

impl EdgeConfig {
    /// A node in front of one origin URL with `preset` for every path (what `edgelab edge
    /// --upstream URL --policy P` builds before applying other flags).
    pub fn single(upstream: &str, preset: &str) -> Result<Self, ConfigErrors> {
        let raw = RawEdgeConfig {
            upstream: RawUpstream {
                primary: Some(upstream.to_string()),
                ..RawUpstream::default()
            },
            default_behavior: RawBehavior {
                cache_policy: RawCachePolicy {
                    preset: Some(preset.to_string()),
                    ..RawCachePolicy::default()
                },
                ..RawBehavior::default()
            },
            ..RawEdgeConfig::default()
        };
        EdgeConfig::try_from(raw)
    }

    /// The behaviour for `path`: first matching pattern, else the default (last).
    pub fn behavior(&self, path: &str) -> &Behavior {
        self.behaviors
            .iter()
            .find(|b| path_matches(&b.path_pattern, path))
            // Invariant: validation always appends the default behaviour (pattern `*`).
            .unwrap_or_else(|| self.behaviors.last().expect("default behaviour is present"))
    }
}

/// CloudFront path pattern match: `*` matches any run (including `/`), `?` one character;
/// case-sensitive. A pattern without a leading `/` matches as if it had one.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern = pattern.strip_prefix('/').unwrap_or(pattern).as_bytes();
    let path = path.strip_prefix('/').unwrap_or(path).as_bytes();
    // Iterative glob with single backtrack point: linear in practice, no recursion.
    let (mut p, mut s) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while s < path.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == path[s]) {
            p += 1;
            s += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = s;
            p += 1;
        } else if let Some(star_at) = star {
            p = star_at + 1;
            mark += 1;
            s = mark;
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

fn parse_url(text: &str, field: &str, errors: &mut ConfigErrors) -> Option<Uri> {
    match text.parse::<Uri>() {
        Ok(uri) if uri.scheme_str() == Some("http") && uri.authority().is_some() => Some(uri),
        Ok(_) => {
            errors.push(field, format!("{text:?} must be an http://host:port URL"));
            None
        }
        Err(error) => {
            errors.push(field, format!("{text:?} is not a URL: {error}"));
            None
        }
    }
}

fn cache_policy(raw: &RawCachePolicy, field: &str, errors: &mut ConfigErrors) -> CachePolicyConfig {
    let preset_name = raw.preset.as_deref().unwrap_or(defaults::POLICY);
    let mut policy = match CachePolicyConfig::preset(preset_name) {
        Some(policy) => policy,
        None => {
            errors.push(
                format!("{field}.preset"),
                format!(
                    "unknown preset {preset_name:?} (expected rfc9111, CachingOptimized, \
                     CachingDisabled or UseOriginCacheControlHeaders)"
                ),
            );
            CachePolicyConfig::preset(defaults::POLICY).expect("built-in preset exists")
        }
    };
    policy.set_ttls(raw.min_ttl, raw.default_ttl, raw.max_ttl);
    for problem in policy.ttl_problems() {
        errors.push(format!("{field}.{}", problem.field), problem.message);
    }
    if let Some(q) = &raw.query_strings {
        policy.query_strings =
            selection_from_raw(q, false, &format!("{field}.query_strings"), errors);
    }
    if let Some(h) = &raw.headers {
        match selection_from_raw(h, true, &format!("{field}.headers"), errors) {
            Selection::All => errors.push(
                format!("{field}.headers"),
                "\"all\" headers cannot be in a cache key; list them",
            ),
            Selection::None => policy.headers.clear(),
            Selection::Only(names) => {
                policy.headers = names
                    .iter()
                    .filter_map(|name| {
                        errors.check(
                            &format!("{field}.headers"),
                            HeaderName::from_bytes(name.as_bytes())
                                .map_err(|e| format!("{name:?}: {e}")),
                        )
                    })
                    .collect();
            }
        }
    }
    if let Some(c) = &raw.cookies {
        policy.cookies = selection_from_raw(c, false, &format!("{field}.cookies"), errors);
    }
    if let Some(compress) = raw.compress {
        policy.compress = compress;
    }
    policy
}

fn behavior(raw: &RawBehavior, field: &str, default: bool, errors: &mut ConfigErrors) -> Behavior {
    let path_pattern = if default {
        "*".to_string()
    } else {
        match &raw.path_pattern {
            Some(p) if !p.is_empty() => p.clone(),
            _ => {
                errors.push(format!("{field}.path_pattern"), "is required and non-empty");
                String::new()
            }
        }
    };
    let cache_policy = cache_policy(&raw.cache_policy, &format!("{field}.cache_policy"), errors);
    let origin_request = origin_request(&raw.origin_request, cache_policy.rfc, field, errors);
    Behavior {
        path_pattern,
        cache_policy,
        origin_request,
        collapse: raw.collapse.unwrap_or(true),
    }
}

fn origin_request(
    raw: &RawOriginRequestPolicy,
    rfc: bool,
    field: &str,
    errors: &mut ConfigErrors,
) -> OriginRequestPolicy {
    let mut policy = match &raw.managed {
        None => crate::origin_request::default_for(rfc),
        Some(name) => crate::origin_request::managed(name).unwrap_or_else(|| {
            errors.push(
                format!("{field}.origin_request.managed"),
                format!(
                    "unknown managed policy {name:?} (expected one of {})",
                    crate::origin_request::managed_names().join(", ")
                ),
            );
            OriginRequestPolicy::default()
        }),
    };
    let sel = |raw: &RawSelection, name: &str, errors: &mut ConfigErrors| {
        let path = format!("{field}.origin_request.{name}");
        selection_from_raw(raw, name == "headers", &path, errors)
    };
    if let Some(q) = &raw.query_strings {
        policy.query_strings = sel(q, "query_strings", errors);
    }
    if let Some(h) = &raw.headers {
        policy.headers = sel(h, "headers", errors);
        policy.withheld.clear();
    }
    if let Some(c) = &raw.cookies {
        policy.cookies = sel(c, "cookies", errors);
    }
    policy
}

impl TryFrom<RawEdgeConfig> for EdgeConfig {
    type Error = ConfigErrors;

    fn try_from(raw: RawEdgeConfig) -> Result<Self, ConfigErrors> {
        let mut errors = ConfigErrors::new();
        let pop = raw.pop.clone().unwrap_or_else(|| "LOC".to_string());
        if pop.len() != 3 || !pop.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.push(
                "pop",
                format!("{pop:?} must be a three-letter upper-case IATA code"),
            );
        }
        let tier = match raw.tier.as_deref() {
            None => Tier::Edge,
            Some(text) => Tier::parse(text).unwrap_or_else(|| {
                errors.push("tier", format!("{text:?} is not one of edge, rec, shield"));
                Tier::Edge
            }),
        };
        let up = &raw.upstream;
        let next_tier = up
            .next_tier
            .as_deref()
            .and_then(|u| parse_url(u, "upstream.next_tier", &mut errors));
        let primary = up
            .primary
            .as_deref()
            .and_then(|u| parse_url(u, "upstream.primary", &mut errors));
        let secondary = up
            .secondary
            .as_deref()
            .and_then(|u| parse_url(u, "upstream.secondary", &mut errors));
        if up.next_tier.is_none() && up.primary.is_none() {
            errors.push("upstream", "needs next_tier or primary");
        }
        if up.secondary.is_some() && up.primary.is_none() {
            errors.push("upstream.secondary", "needs a primary");
        }
        let failover_status_codes = up
            .failover_status_codes
            .clone()
            .unwrap_or_else(|| defaults::FAILOVER_STATUS_CODES.to_vec());
        for code in &failover_status_codes {
            if !(400..=599).contains(code) {
                errors.push(
                    "upstream.failover_status_codes",
                    format!("{code} is not a 4xx or 5xx status"),
                );
            }
        }
        let connection_attempts = up
            .connection_attempts
            .unwrap_or(defaults::CONNECTION_ATTEMPTS);
        if !(1..=3).contains(&connection_attempts) {
            errors.push("upstream.connection_attempts", "must be 1, 2 or 3");
        }
        let connection_timeout = up
            .connection_timeout
            .unwrap_or(defaults::CONNECTION_TIMEOUT);
        let response_timeout = up.response_timeout.unwrap_or(defaults::RESPONSE_TIMEOUT);
        if connection_timeout.is_zero() {
            errors.push("upstream.connection_timeout", "must be positive");
        }
        let max_connecting = up.max_connecting.unwrap_or(defaults::MAX_CONNECTING);
        if max_connecting == 0 {
            errors.push("upstream.max_connecting", "must be at least 1");
        }
        if response_timeout.is_zero() {
            errors.push("upstream.response_timeout", "must be positive");
        }
        let mut behaviors: Vec<Behavior> = raw
            .behaviors
            .iter()
            .enumerate()
            .map(|(i, b)| behavior(b, &format!("behaviors[{i}]"), false, &mut errors))
            .collect();
        behaviors.push(behavior(
            &raw.default_behavior,
            "default_behavior",
            true,
            &mut errors,
        ));
        let capacity_bytes = raw.capacity_bytes.unwrap_or(defaults::CAPACITY_BYTES);
        let max_object_bytes = raw.max_object_bytes.unwrap_or(defaults::MAX_OBJECT_BYTES);
        if capacity_bytes == 0 {
            errors.push("capacity_bytes", "must be positive");
        }
        if max_object_bytes > u64::from(u32::MAX) {
            errors.push("max_object_bytes", "must be below 4 GiB");
        }
        let invalidation_peers = raw
            .invalidation_peers
            .iter()
            .enumerate()
            .filter_map(|(i, u)| parse_url(u, &format!("invalidation_peers[{i}]"), &mut errors))
            .collect();
        if raw.admin_token.as_deref() == Some("") {
            errors.push("admin_token", "must not be empty when set");
        }
        let default_root_object = raw
            .default_root_object
            .as_deref()
            .map(|root| root.trim_start_matches('/').to_string());
        if let Some(root) = &default_root_object {
            let valid = format!("/{root}")
                .parse::<http::uri::PathAndQuery>()
                .is_ok();
            if root.is_empty() || root.contains(['?', '#']) || !valid {
                errors.push(
                    "default_root_object",
                    format!("{root:?} must be an object name such as index.html"),
                );
            }
        }
        let listener = ListenerLimits::try_from(&raw.listener).unwrap_or_else(|problems| {
            errors.extend_prefixed("listener", problems);
            ListenerLimits::default()
        });
        let error_responses = ErrorResponses::from_raw(
            &raw.custom_error_responses,
            "custom_error_responses",
            &mut errors,
        );
        let config = EdgeConfig {
            pop,
            pop_number: raw.pop_number.unwrap_or(50),
            pop_partition: raw.pop_partition.unwrap_or(1),
            tier,
            upstream: Upstream {
                next_tier,
                primary,
                secondary,
                failover_status_codes,
                connection_attempts,
                connection_timeout,
                max_connecting,
                response_timeout,
                hop: up
                    .rtt
                    .filter(|rtt| !rtt.is_zero())
                    .map(edgelab_geo::HopModel::fixed),
                link_seed: 0,
            },
            behaviors,
            capacity_bytes,
            max_object_bytes,
            collapse_timeout: raw.collapse_timeout.unwrap_or(defaults::COLLAPSE_TIMEOUT),
            invalidation_delay: raw.invalidation_delay.unwrap_or_default(),
            invalidation_peers,
            admin_token: raw.admin_token,
            max_request_body_bytes: raw
                .max_request_body_bytes
                .unwrap_or(defaults::MAX_REQUEST_BODY_BYTES),
            distribution: raw.distribution.map(|d| d.to_ascii_lowercase()),
            default_root_object,
            error_responses,
            listener,
        };
        errors.into_result(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgelab_common::config::parse_toml;

    #[test]
    fn listener_limits_are_read_and_their_errors_carry_the_table_path() {
        let raw: RawEdgeConfig = parse_toml(
            "[upstream]\nprimary = \"http://127.0.0.1:1\"\n[listener]\nmax_connections = 16\nidle_timeout = \"5s\"\n",
            "edge.toml",
        )
        .unwrap();
        let config = EdgeConfig::try_from(raw).unwrap();
        assert_eq!(config.listener.max_connections, 16);
        assert_eq!(config.listener.idle_timeout, Duration::from_secs(5));
        let raw: RawEdgeConfig = parse_toml(
            "[upstream]\nprimary = \"http://127.0.0.1:1\"\n[listener]\nmax_connections = 0\n",
            "edge.toml",
        )
        .unwrap();
        let errors = EdgeConfig::try_from(raw).unwrap_err();
        assert!(
            errors
                .errors()
                .iter()
                .any(|e| e.field == "listener.max_connections"),
            "{errors}"
        );
    }

    #[test]
    fn default_root_object_is_an_object_name() {
        let config = |root: &str| {
            EdgeConfig::try_from(RawEdgeConfig {
                default_root_object: Some(root.to_string()),
                ..raw_with_upstream()
            })
        };
        let ok = config("/index.html").expect("valid");
        assert_eq!(ok.default_root_object.as_deref(), Some("index.html"));
        for bad in ["", "/", "index.html?x=1", "a b"] {
            let error = config(bad).unwrap_err();
            assert_eq!(error.errors()[0].field, "default_root_object", "{bad:?}");
        }
    }

    fn raw_with_upstream() -> RawEdgeConfig {
        RawEdgeConfig {
            upstream: RawUpstream {
                primary: Some("http://127.0.0.1:1".to_string()),
                ..RawUpstream::default()
            },
            ..RawEdgeConfig::default()
        }
    }

    #[test]
    fn path_patterns_follow_cloudfront_globs() {
        assert!(path_matches("*", "/anything/at/all"));
        assert!(path_matches("/img/*", "/img/a/b.png"));
        assert!(path_matches("img/*.png", "/img/a.png"));
        assert!(!path_matches("/img/*.png", "/img/a.jpg"));
        assert!(path_matches("/a?c", "/abc"));
        assert!(!path_matches("/a?c", "/ac"));
        assert!(!path_matches("/api/*", "/API/x"));
    }

    #[test]
    fn every_error_is_reported_with_its_field() {
        let text = r#"
            pop = "frankfurt"
            tier = "middle"
            [upstream]
            primary = "ftp://x"
            connection_attempts = 7
            max_connecting = 0
            [[behaviors]]
            cache_policy = { preset = "Fast", min_ttl = "10s", max_ttl = "1s" }
        "#;
        let raw: RawEdgeConfig = parse_toml(text, "edge.toml").unwrap();
        let errors = EdgeConfig::try_from(raw).unwrap_err().to_string();
        for field in [
            "pop:",
            "tier:",
            "upstream.primary:",
            "upstream.connection_attempts:",
            "upstream.max_connecting:",
            "behaviors[0].path_pattern:",
            "behaviors[0].cache_policy.preset:",
            "behaviors[0].cache_policy.min_ttl:",
        ] {
            assert!(errors.contains(field), "missing {field} in {errors}");
        }
    }

    #[test]
    fn first_matching_behavior_wins_and_default_is_last() {
        let text = r#"
            [upstream]
            primary = "http://127.0.0.1:1"
            [[behaviors]]
            path_pattern = "/api/*"
            cache_policy = { preset = "CachingDisabled" }
            [[behaviors]]
            path_pattern = "/api/v2/*"
            cache_policy = { preset = "rfc9111" }
        "#;
        let raw: RawEdgeConfig = parse_toml(text, "edge.toml").unwrap();
        let config = EdgeConfig::try_from(raw).unwrap();
        assert_eq!(
            config.behavior("/api/v2/x").cache_policy.name,
            "CachingDisabled"
        );
        assert_eq!(
            config.behavior("/img/x").cache_policy.name,
            "CachingOptimized"
        );
        assert_eq!(config.behaviors.len(), 3);
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../../../config/edge.toml");
        let raw: RawEdgeConfig = parse_toml(text, "config/edge.toml").unwrap();
        let config = EdgeConfig::try_from(raw).unwrap();
        assert_eq!(
            config.behavior("/img/a.png").cache_policy.query_strings,
            Selection::Only(vec!["w".into(), "h".into()])
        );
        assert!(config.behavior("/api/x").cache_policy.disabled());
        assert_eq!(
            config.behavior("/api/x").origin_request.query_strings,
            Selection::All
        );
        let errors = &config.error_responses;
        assert_eq!(
            errors.min_ttl(http::StatusCode::NOT_FOUND),
            Some(Duration::from_secs(30))
        );
        assert!(errors.page(http::StatusCode::NOT_FOUND).is_some());
        assert!(errors.page(http::StatusCode::SERVICE_UNAVAILABLE).is_none());
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let text = "[upstream]\nprimary = \"http://a:1\"\nprimry = 1\n";
        assert!(parse_toml::<RawEdgeConfig>(text, "edge.toml").is_err());
    }
}
