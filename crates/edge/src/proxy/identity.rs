//! Who a node is in its headers: the `X-Amz-Cf-Pop` value, `Via`, the RFC 9211 cache name,
//! and the per-request `X-Amz-Cf-Id` generator.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
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
        // Invariant: base64 is ASCII.
        self.next_id_value().to_str().expect("base64").to_string()
    }

    /// [`Identity::next_id`] as a header value, built in one allocation (this runs on every
    /// request).
    pub fn next_id_value(&self) -> HeaderValue {
        use base64::Engine;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 48];
        for (part, chunk) in bytes.chunks_exact_mut(16).enumerate() {
            let h =
                xxhash_rust::xxh3::xxh3_128_with_seed(&n.to_le_bytes(), self.seed ^ part as u64);
            chunk.copy_from_slice(&h.to_le_bytes());
        }
        // 42 bytes are exactly 56 characters, the first 56 of the 48 bytes' encoding.
        let mut text = [0u8; ID_LEN];
        let written = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(&bytes[..42], &mut text)
            .unwrap_or(0);
        // Invariant: URL-safe base64 is valid header text.
        HeaderValue::from_maybe_shared(Bytes::copy_from_slice(&text[..written]))
            .expect("base64 is header text")
    }
}

/// Characters of a request id.
const ID_LEN: usize = 56;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_56_url_safe_characters_and_unique() {
        let raw: crate::RawEdgeConfig =
            toml::from_str("pop = \"FRA\"\n[upstream]\nprimary = \"http://127.0.0.1:1\"\n")
                .unwrap();
        let identity = Identity::new(&crate::EdgeConfig::try_from(raw).unwrap(), "salt");
        let ids: Vec<String> = (0..100).map(|_| identity.next_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), ID_LEN);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
        // The same derivation as the whole 48 bytes' encoding, cut at 56.
        use base64::Engine;
        let mut bytes = Vec::new();
        for part in 0..3u64 {
            let h =
                xxhash_rust::xxh3::xxh3_128_with_seed(&100u64.to_le_bytes(), identity.seed ^ part);
            bytes.extend_from_slice(&h.to_le_bytes());
        }
        let full = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(identity.next_id(), full[..ID_LEN]);
    }
}
