//! Storage: complete objects in a moka cache bounded in bytes (a weigher counts body, headers
//! and key), plus a small index from primary key to the `Vary` header names of the stored
//! variants. Only whole, verified bodies are ever inserted (see `fill`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, StatusCode};
use moka::notification::RemovalCause;
use moka::sync::Cache;

use crate::metrics::{EvictionCause, Metrics};
use crate::policy::Lifetime;

/// A complete stored response.
#[derive(Debug)]
pub struct CachedObject {
    /// Primary key (all variants of one resource share it); also the store key of a resource
    /// that does not vary, so the two share one allocation.
    pub primary: Arc<str>,
    /// Where the request path lies in `primary` (for invalidation patterns).
    pub path_range: (u32, u32),
    /// Status.
    pub status: StatusCode,
    /// Stored response headers (end-to-end only), as one owned block.
    pub headers: StoredHeaders,
    /// The whole body.
    pub body: Bytes,
    /// Age when stored (RFC 9111 §4.2.3: the upstream's `Age` plus time in transit).
    pub initial_age: Duration,
    /// Freshness after clamps, stale windows.
    pub lifetime: Lifetime,
    /// When it was stored.
    pub stored_at: SystemTime,
    /// Layer that answered when this object was fetched (the upstream's hit layer, or none for
    /// the origin).
    pub upstream_hit_layer: Option<edgelab_wire::Tier>,
}

impl CachedObject {
    /// The request path this object answers.
    pub fn path(&self) -> &str {
        let (start, end) = self.path_range;
        self.primary.get(start as usize..end as usize).unwrap_or("")
    }

    /// Where `path` lies in `primary`: right after the host (which never holds a `/`).
    pub fn path_range(primary: &str, path: &str) -> (u32, u32) {
        let start = primary.find('/').unwrap_or(primary.len());
        let end = (start + path.len()).min(primary.len());
        (
            u32::try_from(start).unwrap_or(0),
            u32::try_from(end).unwrap_or(0),
        )
    }

    /// Current age: the age when stored plus the time resident here.
    pub fn age(&self, now: SystemTime) -> Duration {
        self.initial_age + now.duration_since(self.stored_at).unwrap_or_default()
    }

    fn weight(&self, key: &str) -> u32 {
        // Fixed overhead: the struct, Arc, strings' headers and moka's entry (roughly).
        let total =
            self.body.len() + self.headers.len_bytes() + key.len() + self.primary.len() + 384;
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

/// Response headers kept as one `Bytes` block of `name:value\n` lines. A `HeaderMap` costs
/// several hundred bytes per object (buckets, index, one allocation per value); the block is
/// one allocation, and the map rebuilt from it on a hit slices its values out of the block
/// without copying.
#[derive(Debug, Clone, Default)]
pub struct StoredHeaders(Bytes);

impl StoredHeaders {
    /// Packs `map` (names are lower-case; values never hold `\n`, which `HeaderValue`
    /// forbids).
    pub fn from_map(map: &HeaderMap) -> Self {
        let size: usize = map
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 2)
            .sum();
        let mut block = Vec::with_capacity(size);
        for (name, value) in map {
            block.extend_from_slice(name.as_str().as_bytes());
            block.push(b':');
            block.extend_from_slice(value.as_bytes());
            block.push(b'\n');
        }
        Self(Bytes::from(block))
    }

    fn lines(&self) -> impl Iterator<Item = (&[u8], std::ops::Range<usize>)> + '_ {
        let block = &self.0[..];
        let mut offset = 0;
        block.split(|&b| b == b'\n').filter_map(move |line| {
            let start = offset;
            offset += line.len() + 1;
            let colon = line.iter().position(|&b| b == b':')?;
            Some((&line[..colon], start + colon + 1..start + line.len()))
        })
    }

    /// The headers as a map (values share the block).
    pub fn to_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(8);
        for (name, range) in self.lines() {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name),
                http::HeaderValue::from_maybe_shared(self.0.slice(range)),
            ) {
                map.append(name, value);
            }
        }
        map
    }

    /// The first value of `name` (lower-case).
    pub fn get(&self, name: &HeaderName) -> Option<http::HeaderValue> {
        self.lines()
            .find(|(n, _)| *n == name.as_str().as_bytes())
            .and_then(|(_, range)| http::HeaderValue::from_maybe_shared(self.0.slice(range)).ok())
    }

    /// Size of the block in bytes.
    pub fn len_bytes(&self) -> usize {
        self.0.len()
    }
}

/// The object store of one node.
#[derive(Clone)]
pub struct Store {
    objects: Cache<Arc<str>, Arc<CachedObject>>,
    vary: Cache<String, Arc<Vec<HeaderName>>>,
    max_object_bytes: u64,
}

impl Store {
    /// A store of `capacity_bytes`, refusing objects over `max_object_bytes`; evictions are
    /// counted in `metrics`.
    pub fn new(capacity_bytes: u64, max_object_bytes: u64, metrics: Metrics) -> Self {
        let objects = Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|key: &Arc<str>, object: &Arc<CachedObject>| object.weight(key))
            .eviction_listener(move |_key, _value, cause| {
                let cause = match cause {
                    RemovalCause::Size => EvictionCause::Capacity,
                    RemovalCause::Expired => EvictionCause::Expired,
                    RemovalCause::Explicit => EvictionCause::Invalidated,
                    RemovalCause::Replaced => EvictionCause::Replaced,
                };
                metrics.eviction(cause);
            })
            .support_invalidation_closures()
            .build();
        let vary = Cache::builder()
            .max_capacity(1 << 20)
            .support_invalidation_closures()
            .build();
        Self {
            objects,
            vary,
            max_object_bytes,
        }
    }

    /// Largest object stored.
    pub fn max_object_bytes(&self) -> u64 {
        self.max_object_bytes
    }

    /// The `Vary` names recorded for `primary` (empty when it does not vary or is unknown).
    pub fn vary_of(&self, primary: &str) -> Arc<Vec<HeaderName>> {
        self.vary.get(primary).unwrap_or_default()
    }

    /// The object stored under a variant key.
    pub fn get(&self, variant: &str) -> Option<Arc<CachedObject>> {
        self.objects.get(variant)
    }

    /// Stores `object` under `variant`, recording its `vary` names for its primary key.
    /// Objects over the size limit are refused (returns false).
    pub fn insert(&self, variant: String, vary: Vec<HeaderName>, object: CachedObject) -> bool {
        if object.body.len() as u64 > self.max_object_bytes {
            return false;
        }
        self.insert_arc(variant, vary, Arc::new(object))
    }

    /// Stores an already shared object (same rules as [`Store::insert`]).
    pub fn insert_arc(
        &self,
        variant: String,
        vary: Vec<HeaderName>,
        object: Arc<CachedObject>,
    ) -> bool {
        if object.body.len() as u64 > self.max_object_bytes {
            return false;
        }
        // Most resources do not vary: record the names only when there are some (and forget
        // old ones when a resource stops varying), so the common case costs one entry.
        if vary.is_empty() {
            if self.vary.contains_key(&*object.primary) {
                self.vary.invalidate(&*object.primary);
            }
        } else {
            self.vary.insert(object.primary.to_string(), Arc::new(vary));
        }
        let key = if *variant == *object.primary {
            object.primary.clone()
        } else {
            Arc::from(variant)
        };
        self.objects.insert(key, object);
        true
    }

    /// Removes one variant.
    pub fn remove(&self, variant: &str) {
        self.objects.invalidate(variant);
    }

    /// Removes every variant of `primary` (RFC 9111 §4.4 invalidation).
    pub fn remove_primary(&self, primary: &str) {
        let primary = primary.to_string();
        self.vary.invalidate(&primary);
        // Only fails when closures are unsupported, which the builder enables.
        let _ = self
            .objects
            .invalidate_entries_if(move |_, object| *object.primary == *primary);
    }

    /// Removes every object whose path matches one of `patterns` (exact, or ending in `*`).
    pub fn invalidate_paths(&self, patterns: &[String]) {
        let patterns = patterns.to_vec();
        let _ = self.objects.invalidate_entries_if(move |_, object| {
            patterns.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => object.path().starts_with(prefix),
                None => *p == object.path(),
            })
        });
    }

    /// Runs moka's pending housekeeping (evictions, invalidation closures, counts).
    pub fn run_pending_tasks(&self) {
        self.objects.run_pending_tasks();
        self.vary.run_pending_tasks();
    }

    /// Number of stored objects (approximate until housekeeping ran).
    pub fn objects(&self) -> u64 {
        self.objects.entry_count()
    }

    /// Weighted size in bytes.
    pub fn bytes(&self) -> u64 {
        self.objects.weighted_size()
    }

    /// Every stored object answering `path` (any host, key part or variant), for inspection.
    pub fn objects_at(&self, path: &str) -> Vec<(String, Arc<CachedObject>)> {
        self.objects
            .iter()
            .filter(|(_, object)| object.path() == path)
            .map(|(key, object)| (key.to_string(), object))
            .collect()
    }

    /// Every stored variant of `primary`, for cache inspection.
    pub fn variants_of(&self, primary: &str) -> Vec<(String, Arc<CachedObject>)> {
        self.objects
            .iter()
            .filter(|(_, object)| &*object.primary == primary)
            .map(|(key, object)| (key.to_string(), object))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_headers_round_trip_with_repeats_and_colons() {
        let mut map = HeaderMap::new();
        map.append("etag", "\"a:b\"".parse().unwrap());
        map.append("set-cookie", "a=1".parse().unwrap());
        map.append("set-cookie", "b=2".parse().unwrap());
        map.append("x-empty", "".parse().unwrap());
        let stored = StoredHeaders::from_map(&map);
        assert_eq!(stored.to_map(), map);
        assert_eq!(stored.get(&http::header::ETAG).unwrap(), "\"a:b\"");
        assert!(stored.get(&http::header::AGE).is_none());
    }
}
