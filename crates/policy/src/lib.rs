//! CloudFront's cache policy rules, written once for the running edge (`edgelab-edge`) and the
//! offline replay (`edgelab-replay`), so a replay of a log and a live run of it decide alike.
//! Pure: every function takes `now` and does no I/O; `http` types where the edge has them,
//! and [`storable_response`] as the cheap entry for callers that only know a response's
//! status and headers.
//!
//! # Layout
//! - [`preset`]: [`CachePolicyConfig`] (the managed presets `CachingOptimized`,
//!   `CachingDisabled`, `UseOriginCacheControlHeaders`, `rfc9111`, their TTL overrides and
//!   checks) and [`Selection`].
//! - [`rules`]: storability and the TTL clamps ([`storable`], [`Lifetime`],
//!   [`NoCacheReason`]), the decision headers, freshness of a stored object ([`freshness`]),
//!   stale-if-error.
//! - [`key`]: the cache key and the variant key.

pub mod key;
pub mod preset;
pub mod rules;

pub use key::{
    cache_key, normalised_encoding, select_cookies, select_query, variant_key, vary_names,
};
pub use preset::{CachePolicyConfig, PRESETS, Selection, TtlProblem};
pub use rules::{
    ErrorTtl, Freshness, Lifetime, NoCacheReason, Rules, STALE_IF_ERROR_STATUSES, cdn_field_valid,
    decision_headers, directives, freshness, serves_expired_on_error, serves_stale_on, storable,
    storable_response,
};
