//! Who a node is in its headers: the `X-Amz-Cf-Pop` value, `Via`, the RFC 9211 cache name,
//! and the per-request `X-Amz-Cf-Id` generator.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use edgelab_common::names::header as names;
use edgelab_wire::server_timing::metric;
use edgelab_wire::{ServerTiming, XCache};
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
    /// The `Server-Timing` member `cdn-pop;desc="<pop_id>"`, written (and escaped) once.
    pub(super) pop_timing: String,
    /// The `Server-Timing` member `cdn-hit-layer;desc="<this tier's layer>"`, written once.
    pub(super) hit_layer_timing: String,
    /// Whether the node's own values (cache name, `Server-Timing` members) are valid header
    /// text, so a hit's head may be written without checking them (`proxy::lines`); a map
    /// checks each value and leaves out one that is not.
    pub(super) lines_ok: bool,
    /// A fresh hit's node fields up to its request id, as lines: `x-cache`, `via`,
    /// `x-amz-cf-pop`, then `x-amz-cf-id: ` (the id follows); the second without `via`, for
    /// an object whose stored `Via` took the node's (`proxy::lines`).
    pub(super) hit_lines: [Box<[u8]>; 2],
    /// What follows a fresh hit's request id: its line's end, `x-edgelab-tier`, then
    /// `cache-status: <cache name>; ` (the parameters follow).
    pub(super) hit_lines_after_id: Box<[u8]>,
    /// The first [`ID_PREFIX`] characters of every request id of this node: its seed,
    /// encoded once.
    id_prefix: [u8; ID_PREFIX],
    /// Mixes a thread's tag and count into an id's tail.
    seed: u64,
}

/// Threads that made a request id so far (each takes the next tag).
static THREADS: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// This thread's tag, unique in the process.
    static THREAD_TAG: u32 = THREADS.fetch_add(1, Ordering::Relaxed);
    /// Request ids this thread made (any node's).
    static THREAD_IDS: Cell<u64> = const { Cell::new(0) };
}

/// An odd constant (2^64 / φ): multiplying by it is a bijection of `u64`, so distinct counts
/// stay distinct while the tail of consecutive ids looks unrelated.
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

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
        let id_prefix = id_prefix(seed);
        // Invariant: hex digits and ASCII punctuation only.
        let via = HeaderValue::from_str(&format!("1.1 {host}.cloudfront.net (CloudFront)"))
            .expect("Via is ASCII");
        let cache_name = format!("edgelab-{pop_id}-{}", config.tier.as_str());
        // Validated configs hold an upper-case IATA code; a hand-built one that is not header
        // text falls back to a placeholder rather than failing.
        let pop_value =
            HeaderValue::from_str(&pop_id).unwrap_or(HeaderValue::from_static("LOC50-P1"));
        let member = |name: &str, desc: &str| {
            let mut timing = ServerTiming::new();
            timing.desc(name, desc);
            timing.finish()
        };
        let pop_timing = member(metric::POP, &pop_id);
        let hit_layer_timing = member(metric::HIT_LAYER, config.tier.layer());
        let lines_ok = [&cache_name, &pop_timing, &hit_layer_timing]
            .iter()
            .all(|text| HeaderValue::from_str(text).is_ok());
        let line = |text: &mut String, name: &str, value: &str| {
            text.push_str(name);
            text.push_str(": ");
            text.push_str(value);
            text.push_str("\r\n");
        };
        let hit_lines = [true, false].map(|with_via| {
            let mut text = String::new();
            line(&mut text, names::X_CACHE, XCache::Hit.as_str());
            if with_via {
                // Invariant: made from a `&str` above.
                line(&mut text, "via", via.to_str().expect("Via is text"));
            }
            line(
                &mut text,
                names::X_AMZ_CF_POP,
                pop_value.to_str().unwrap_or_default(),
            );
            text.push_str(names::X_AMZ_CF_ID);
            text.push_str(": ");
            text.into_bytes().into_boxed_slice()
        });
        let mut after_id = String::from("\r\n");
        line(&mut after_id, names::X_EDGELAB_TIER, config.tier.layer());
        after_id.push_str(names::CACHE_STATUS);
        after_id.push_str(": ");
        after_id.push_str(&cache_name);
        after_id.push_str("; ");
        Self {
            hit_lines,
            hit_lines_after_id: after_id.into_bytes().into_boxed_slice(),
            lines_ok,
            pop_value,
            pop_timing,
            hit_layer_timing,
            pop_id,
            via,
            cache_name,
            id_prefix,
            seed,
        }
    }

    /// A fresh request id: 56 URL-safe base64 characters (CloudFront's form), unique per
    /// node and request.
    pub fn next_id(&self) -> String {
        // Invariant: base64 is ASCII.
        self.next_id_value().to_str().expect("base64").to_string()
    }

    /// [`Identity::next_id`] as a header value, built in one allocation (this runs on every
    /// request): the node's prefix, then 16 characters of this thread's tag and count, each
    /// mixed with the seed by a bijection, so no two of a node's ids are equal whichever
    /// threads made them.
    pub fn next_id_value(&self) -> HeaderValue {
        use base64::Engine;
        let n = THREAD_IDS.with(|made| made.replace(made.get() + 1));
        let tag = THREAD_TAG.with(|tag| *tag) ^ (self.seed >> 32) as u32;
        let mut tail = [0u8; 12];
        tail[..4].copy_from_slice(&tag.to_le_bytes());
        tail[4..].copy_from_slice(&(n ^ self.seed).wrapping_mul(MIX).to_le_bytes());
        let mut text = [0u8; ID_LEN];
        text[..ID_PREFIX].copy_from_slice(&self.id_prefix);
        // 12 bytes are exactly 16 characters.
        let written = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(tail, &mut text[ID_PREFIX..])
            .unwrap_or(0);
        // Invariant: URL-safe base64 is valid header text.
        HeaderValue::from_maybe_shared(Bytes::copy_from_slice(&text[..ID_PREFIX + written]))
            .expect("base64 is header text")
    }
}

/// Characters of a request id.
const ID_LEN: usize = 56;

/// Characters of a request id that are the node's own (30 bytes of its seed).
const ID_PREFIX: usize = 40;

/// A node's id prefix: 30 bytes derived from `seed`, in URL-safe base64.
fn id_prefix(seed: u64) -> [u8; ID_PREFIX] {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    for (part, chunk) in bytes.chunks_exact_mut(16).enumerate() {
        let h = xxhash_rust::xxh3::xxh3_128_with_seed(&seed.to_le_bytes(), part as u64);
        chunk.copy_from_slice(&h.to_le_bytes());
    }
    let mut text = [0u8; ID_PREFIX];
    // 30 bytes are exactly 40 characters; invariant: the buffer fits them.
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode_slice(&bytes[..30], &mut text)
        .expect("40 characters");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_other() -> crate::RawEdgeConfig {
        toml::from_str("pop = \"NRT\"\n[upstream]\nprimary = \"http://127.0.0.1:1\"\n").unwrap()
    }

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
        // Every id starts with the node's prefix; another node's differs.
        assert!(
            ids.iter()
                .all(|id| id.as_bytes()[..ID_PREFIX] == identity.id_prefix)
        );
        let other = Identity::new(&crate::EdgeConfig::try_from(raw_other()).unwrap(), "salt");
        assert_ne!(other.id_prefix, identity.id_prefix);
        // Ids made on other threads are unique too.
        let identity = std::sync::Arc::new(identity);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let identity = identity.clone();
                std::thread::spawn(move || (0..100).map(|_| identity.next_id()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<String> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .chain(ids)
            .collect();
        let made = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), made);
    }
}
