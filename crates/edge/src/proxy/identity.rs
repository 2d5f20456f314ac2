//! Who a node is in its headers: the `X-Amz-Cf-Pop` value, `Via`, the RFC 9211 cache name,
//! and the per-request `X-Amz-Cf-Id` generator.

use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderValue;

use crate::config::EdgeConfig;

/// Per-node identity used in headers.
pub struct Identity {
    /// `X-Amz-Cf-Pop` value, `<IATA><n>-P<m>`.
    pub pop_id: String,
    /// `Via` value.
    pub via: HeaderValue,
    /// RFC 9211 cache name.
    pub cache_name: String,
    /// `X-Amz-Cf-Pop` as a header value.
    pub(super) pop_value: HeaderValue,
    seed: u64,
    counter: AtomicU64,
}

impl Identity {
    /// The identity of a node with `config`, distinguished by `salt` (e.g. its address).
    pub fn new(config: &EdgeConfig, salt: &str) -> Self {
        let pop_id = format!(
            "{}{}-P{}",
            config.pop, config.pop_number, config.pop_partition
        );
        let seed_text = format!("{pop_id}/{}/{salt}", config.tier.as_str());
        let seed = xxhash_rust::xxh3::xxh3_64(seed_text.as_bytes());
        let host = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(seed_text.as_bytes()));
        // Invariant: hex digits and ASCII punctuation only.
        let via = HeaderValue::from_str(&format!("1.1 {host}.cloudfront.net (CloudFront)"))
            .expect("Via is ASCII");
        let cache_name = format!("edgelab-{pop_id}-{}", config.tier.as_str());
        // Validated configs hold an upper-case IATA code; a hand-built one that is not header
        // text falls back to a placeholder rather than failing.
        let pop_value =
            HeaderValue::from_str(&pop_id).unwrap_or(HeaderValue::from_static("LOC50-P1"));
        Self {
            pop_value,
            pop_id,
            via,
            cache_name,
            seed,
            counter: AtomicU64::new(0),
        }
    }

    /// A fresh request id: 56 URL-safe base64 characters, unique per node and request.
    pub fn next_id(&self) -> String {
        use base64::Engine;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut bytes = Vec::with_capacity(48);
        for part in 0..3u64 {
            let h = xxhash_rust::xxh3::xxh3_128_with_seed(&n.to_le_bytes(), self.seed ^ part);
            bytes.extend_from_slice(&h.to_le_bytes());
        }
        let mut id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        id.truncate(56);
        id
    }
}
