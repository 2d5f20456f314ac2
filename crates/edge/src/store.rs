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
    /// Primary key (all variants of one resource share it).
    pub primary: String,
    /// Request path, for invalidation patterns.
    pub path: String,
    /// Status.
    pub status: StatusCode,
    /// Stored response headers (end-to-end only).
    pub headers: HeaderMap,
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
    pub upstream_hit_layer: Option<String>,
}

impl CachedObject {
    /// Current age: the age when stored plus the time resident here.
    pub fn age(&self, now: SystemTime) -> Duration {
        self.initial_age + now.duration_since(self.stored_at).unwrap_or_default()
    }

    fn weight(&self, key: &str) -> u32 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 32)
            .sum();
        // Fixed overhead: the struct, Arc, policy maps and moka's entry (measured roughly).
        let total = self.body.len() + headers * 2 + key.len() + self.primary.len() + 512;
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

/// The object store of one node.
#[derive(Clone)]
pub struct Store {
    objects: Cache<String, Arc<CachedObject>>,
    vary: Cache<String, Arc<Vec<HeaderName>>>,
    max_object_bytes: u64,
}

impl Store {
    /// A store of `capacity_bytes`, refusing objects over `max_object_bytes`; evictions are
    /// counted in `metrics`.
    pub fn new(capacity_bytes: u64, max_object_bytes: u64, metrics: Metrics) -> Self {
        let objects = Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|key: &String, object: &Arc<CachedObject>| object.weight(key))
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
            if self.vary.contains_key(&object.primary) {
                self.vary.invalidate(&object.primary);
            }
        } else {
            self.vary.insert(object.primary.clone(), Arc::new(vary));
        }
        self.objects.insert(variant, object);
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
            .invalidate_entries_if(move |_, object| object.primary == primary);
    }

    /// Removes every object whose path matches one of `patterns` (exact, or ending in `*`).
    pub fn invalidate_paths(&self, patterns: &[String]) {
        let patterns = patterns.to_vec();
        let _ = self.objects.invalidate_entries_if(move |_, object| {
            patterns.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => object.path.starts_with(prefix),
                None => *p == object.path,
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

    /// Every stored variant of `primary`, for cache inspection.
    pub fn variants_of(&self, primary: &str) -> Vec<(String, Arc<CachedObject>)> {
        self.objects
            .iter()
            .filter(|(_, object)| object.primary == primary)
            .map(|(key, object)| ((*key).clone(), object))
            .collect()
    }
}
