//! Storage: complete objects in a `quick_cache` cache bounded in bytes (a weigher counts
//! body, headers, key and the entry's fixed cost), plus a small index from primary key to the
//! `Vary` header names of the stored variants. Only whole, verified bodies are ever inserted
//! (see `fill`). What an object costs beyond its body is measured by `loadtest/bench-edge.sh`
//! (`docs/request-lifecycle.md`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use edgelab_common::names::header as names;
use http::{HeaderMap, HeaderName, StatusCode, header};
use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, OptionsBuilder, Weighter};

use crate::metrics::{EvictionCause, Metrics};
use crate::policy::Lifetime;

/// A complete stored response. Its layout is kept small (one is kept per cached object; the
/// `entry_layout_stays_small` test holds it): times and lifetimes are a compact
/// [`Lifespan`], and an object whose header block equals another's shares it
/// ([`Store::share`]).
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
    /// When its age was zero, its freshness lifetime and stale windows (read through
    /// [`CachedObject::age`] and [`CachedObject::lifetime`]).
    pub lifespan: Lifespan,
    /// Layer that answered when this object was fetched (the upstream's hit layer, or none for
    /// the origin).
    pub upstream_hit_layer: Option<edgelab_wire::Tier>,
    /// Whether `headers` is a block other objects share (set by [`Store::share`]; a shared
    /// block is not weighed again per object).
    pub shared_headers: bool,
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
        self.lifespan.age(now)
    }

    /// Freshness lifetime and stale windows, as the policy computed them.
    pub fn lifetime(&self) -> Lifetime {
        self.lifespan.lifetime()
    }

    fn weight(&self, key: &str) -> u32 {
        // The key's bytes are counted once when it is the primary key's allocation.
        let key_bytes = if std::ptr::eq(key, &*self.primary) {
            0
        } else {
            key.len() + ARC_STR_BYTES
        };
        let header_bytes = if self.shared_headers {
            0
        } else {
            self.headers.len_bytes() + BLOCK_BYTES
        };
        let total = self.body.len() + self.primary.len() + key_bytes + header_bytes + ENTRY_BYTES;
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

/// What an entry costs beyond its body, its key's text and its header block, as measured:
/// `PHASES=memory loadtest/bench-edge.sh` gave 347 bytes of RSS per one-byte object at
/// 1,011,660 objects, whose keys are 39 bytes of text and whose header blocks were shared
/// (docs/request-lifecycle.md). It covers the object's allocation, the body's allocation,
/// the key's allocation header and the cache's slot and index, allocator rounding included;
/// the weigher counts it so the store's capacity follows the memory it takes.
pub const ENTRY_BYTES: usize = 308;

/// What a header block costs beyond its bytes: its allocation and share count.
const BLOCK_BYTES: usize = 48;

/// What a key of its own (a variant key) costs beyond its text: its allocation.
const ARC_STR_BYTES: usize = 24;

/// When a stored object's age was zero, how long it is fresh, and its stale windows, in 24
/// bytes (a `SystemTime`, a `Duration` and a [`Lifetime`] take 88). Times are kept to the
/// millisecond (the `Age` a viewer sees is in seconds, and a TTL a config gives in
/// milliseconds stays exact); stale windows come from directives in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifespan {
    /// The store time minus the age it had then, in milliseconds since the Unix epoch.
    born_ms: i64,
    /// The freshness lifetime in milliseconds; the top bit is `must_revalidate`.
    lifetime_ms: u64,
    /// `stale-while-revalidate` in seconds.
    swr_s: u32,
    /// `stale-if-error` in seconds.
    sie_s: u32,
}

/// The bit of `Lifespan::lifetime_ms` that holds `must_revalidate`.
const MUST_REVALIDATE: u64 = 1 << 63;

/// Milliseconds of `d`, saturated below `limit`.
fn millis(d: Duration, limit: u64) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).min(limit)
}

/// Milliseconds from the Unix epoch to `t` (negative before it).
fn epoch_ms(t: SystemTime) -> i64 {
    let limit = i64::MAX as u64;
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => millis(after, limit) as i64,
        Err(before) => -(millis(before.duration(), limit) as i64),
    }
}

impl Lifespan {
    /// An object stored at `stored_at`, `initial_age` old then (RFC 9111 §4.2.3: the
    /// upstream's `Age` plus time in transit), with `lifetime`.
    pub fn new(stored_at: SystemTime, initial_age: Duration, lifetime: &Lifetime) -> Self {
        let seconds = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        let fresh = millis(lifetime.lifetime, MUST_REVALIDATE - 1);
        let flag = if lifetime.must_revalidate {
            MUST_REVALIDATE
        } else {
            0
        };
        Self {
            born_ms: epoch_ms(stored_at)
                .saturating_sub(millis(initial_age, i64::MAX as u64) as i64),
            lifetime_ms: fresh | flag,
            swr_s: seconds(lifetime.swr),
            sie_s: seconds(lifetime.sie),
        }
    }

    /// Age at `now` (zero before it was born: a clock set back).
    pub fn age(&self, now: SystemTime) -> Duration {
        let ms = epoch_ms(now).saturating_sub(self.born_ms);
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }

    /// The lifetime and stale windows it was made with.
    pub fn lifetime(&self) -> Lifetime {
        Lifetime {
            lifetime: Duration::from_millis(self.lifetime_ms & !MUST_REVALIDATE),
            swr: Duration::from_secs(u64::from(self.swr_s)),
            sie: Duration::from_secs(u64::from(self.sie_s)),
            must_revalidate: self.lifetime_ms & MUST_REVALIDATE != 0,
        }
    }
}

/// Response headers kept as one `Bytes` block, in a compact binary form: per field a name
/// (one byte indexing [`KNOWN_NAMES`], or the name itself for the rare other ones) and the
/// value's length and bytes. A `HeaderMap` costs several hundred bytes per object (buckets,
/// index, one allocation per value); the block is one allocation a fraction of that size,
/// and the map a hit sends is built from it without parsing a name: values are slices of
/// the block, names are clones of constants.
#[derive(Debug, Clone, Default)]
pub struct StoredHeaders(Bytes);

/// Header names a stored response carries, in the form a hit clones them: each costs one
/// byte per object. Any other name is stored as text and parsed on each hit.
pub static KNOWN_NAMES: [HeaderName; 47] = [
    header::ACCEPT_RANGES,
    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
    header::ACCESS_CONTROL_ALLOW_HEADERS,
    header::ACCESS_CONTROL_ALLOW_METHODS,
    header::ACCESS_CONTROL_ALLOW_ORIGIN,
    header::ACCESS_CONTROL_EXPOSE_HEADERS,
    header::ACCESS_CONTROL_MAX_AGE,
    header::AGE,
    header::ALT_SVC,
    header::CACHE_CONTROL,
    header::CONTENT_DISPOSITION,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_LENGTH,
    header::CONTENT_LOCATION,
    header::CONTENT_RANGE,
    header::CONTENT_SECURITY_POLICY,
    header::CONTENT_TYPE,
    header::DATE,
    header::ETAG,
    header::EXPIRES,
    header::LAST_MODIFIED,
    header::LINK,
    header::LOCATION,
    header::PRAGMA,
    header::REFERRER_POLICY,
    header::RETRY_AFTER,
    header::SERVER,
    header::SET_COOKIE,
    header::STRICT_TRANSPORT_SECURITY,
    header::VARY,
    header::VIA,
    header::WARNING,
    header::X_CONTENT_TYPE_OPTIONS,
    header::X_FRAME_OPTIONS,
    header::X_XSS_PROTECTION,
    header::CONTENT_SECURITY_POLICY_REPORT_ONLY,
    HeaderName::from_static("timing-allow-origin"),
    header::TRANSFER_ENCODING,
    header::WWW_AUTHENTICATE,
    HeaderName::from_static(names::X_EDGELAB_DIGEST),
    HeaderName::from_static(names::X_EDGELAB_CLASS),
    HeaderName::from_static(names::X_EDGELAB_ORIGIN),
    HeaderName::from_static(names::X_EDGELAB_TIER),
    HeaderName::from_static(names::CACHE_STATUS),
    HeaderName::from_static(names::SERVER_TIMING),
    HeaderName::from_static("cdn-cache-control"),
];

/// The name byte of a field whose name follows as text.
const OTHER_NAME: u8 = u8::MAX;

/// One decoded field: the name (an index into [`KNOWN_NAMES`], or the text of another), and
/// where its value lies in the block.
struct Field<'a> {
    known: Option<&'static HeaderName>,
    text: &'a [u8],
    value: std::ops::Range<usize>,
}

impl Field<'_> {
    fn name(&self) -> Option<HeaderName> {
        match self.known {
            Some(name) => Some(name.clone()),
            None => HeaderName::from_bytes(self.text).ok(),
        }
    }

    fn is(&self, name: &HeaderName) -> bool {
        match self.known {
            Some(known) => known == name,
            None => self.text == name.as_str().as_bytes(),
        }
    }
}

/// Appends `n` as LEB128 (seven bits a byte, low first).
fn put_length(block: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        block.push((n as u8) | 0x80);
        n >>= 7;
    }
    block.push(n as u8);
}

/// Reads a LEB128 length at `*at`, moving past it; `None` when the block ends first.
fn take_length(block: &[u8], at: &mut usize) -> Option<usize> {
    let mut n = 0usize;
    for shift in (0..usize::BITS).step_by(7) {
        let byte = *block.get(*at)?;
        *at += 1;
        n |= usize::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(n);
        }
    }
    None
}

impl StoredHeaders {
    /// Packs `map` (values are `HeaderValue`s, so every byte is already valid header text).
    pub fn from_map(map: &HeaderMap) -> Self {
        let size: usize = map
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        let mut block = Vec::with_capacity(size + 2);
        put_length(&mut block, map.len());
        for (name, value) in map {
            match KNOWN_NAMES.iter().position(|known| known == name) {
                // Invariant: the table has fewer than 255 names.
                Some(index) => block.push(u8::try_from(index).expect("small table")),
                None => {
                    block.push(OTHER_NAME);
                    put_length(&mut block, name.as_str().len());
                    block.extend_from_slice(name.as_str().as_bytes());
                }
            }
            put_length(&mut block, value.len());
            block.extend_from_slice(value.as_bytes());
        }
        // Exactly sized: the stored block wastes nothing.
        block.shrink_to_fit();
        Self(Bytes::from(block))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        take_length(&self.0, &mut 0).unwrap_or(0)
    }

    /// Whether no field is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn fields(&self) -> impl Iterator<Item = Field<'_>> + '_ {
        let block = &self.0[..];
        let mut at = 0;
        let count = take_length(block, &mut at).unwrap_or(0);
        (0..count).map_while(move |_| {
            let tag = *block.get(at)?;
            at += 1;
            let (known, text) = if tag == OTHER_NAME {
                let len = take_length(block, &mut at)?;
                let text = block.get(at..at + len)?;
                at += len;
                (None, text)
            } else {
                (Some(KNOWN_NAMES.get(usize::from(tag))?), &[][..])
            };
            let len = take_length(block, &mut at)?;
            let value = at..at + len;
            at += len;
            (at <= block.len()).then_some(Field { known, text, value })
        })
    }

    /// The headers as a map with room for `extra` more fields without growing (values
    /// share the block).
    pub fn to_map_with_room(&self, extra: usize) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.len() + extra);
        for field in self.fields() {
            let value = http::HeaderValue::from_maybe_shared(self.0.slice(field.value.clone()));
            if let (Some(name), Ok(value)) = (field.name(), value) {
                map.append(name, value);
            }
        }
        map
    }

    /// The headers as a map (values share the block).
    pub fn to_map(&self) -> HeaderMap {
        self.to_map_with_room(0)
    }

    /// The raw bytes of the first value of `name`.
    fn value_bytes(&self, name: &HeaderName) -> Option<&[u8]> {
        self.fields()
            .find(|field| field.is(name))
            .map(|field| &self.0[field.value])
    }

    /// The first value of `name`.
    pub fn get(&self, name: &HeaderName) -> Option<http::HeaderValue> {
        self.fields()
            .find(|field| field.is(name))
            .and_then(|field| http::HeaderValue::from_maybe_shared(self.0.slice(field.value)).ok())
    }

    /// The first value of `name` as text, borrowed from the block (`None` when absent or
    /// not visible ASCII, as [`http::HeaderValue::to_str`]).
    pub fn get_str(&self, name: &HeaderName) -> Option<&str> {
        let bytes = self.value_bytes(name)?;
        let visible = bytes.iter().all(|&b| b == b'\t' || (32..127).contains(&b));
        visible.then(|| std::str::from_utf8(bytes).ok()).flatten()
    }

    /// Size of the block in bytes.
    pub fn len_bytes(&self) -> usize {
        self.0.len()
    }
}

/// The byte weight of a stored object: body, headers, key and the fixed overhead of an
/// entry (the object, the key's allocation, the cache's slot and index).
#[derive(Clone, Copy)]
struct ObjectWeight;

impl Weighter<Arc<str>, Arc<CachedObject>> for ObjectWeight {
    fn weight(&self, key: &Arc<str>, object: &Arc<CachedObject>) -> u64 {
        u64::from(object.weight(key))
    }
}

/// Counts capacity evictions (the cache reports them; removals the store makes itself are
/// counted where it makes them).
#[derive(Clone)]
struct CountEvictions(Metrics);

impl Lifecycle<Arc<str>, Arc<CachedObject>> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, _state: &mut (), _key: Arc<str>, _object: Arc<CachedObject>) {
        self.0.eviction(EvictionCause::Capacity);
    }
}

type Objects = Cache<Arc<str>, Arc<CachedObject>, ObjectWeight, DefaultHashBuilder, CountEvictions>;

/// Most `Vary` lists remembered (one per primary key that varies).
const VARY_ENTRIES: usize = 1 << 20;

/// An object size the store is sized for when guessing how many objects it holds (the
/// guess only sizes the cache's record of recently evicted keys and its shard count).
const TYPICAL_OBJECT_BYTES: u64 = 16 << 10;

/// The object store of one node: a `quick_cache` (CLOCK-Pro eviction, weighted in bytes,
/// sharded for concurrent readers), plus the `Vary` index.
#[derive(Clone)]
pub struct Store {
    objects: Arc<Objects>,
    vary: Arc<Cache<Arc<str>, Arc<Vec<HeaderName>>>>,
    /// Shared by every key that does not vary, so looking one up allocates nothing.
    no_vary: Arc<Vec<HeaderName>>,
    /// Header blocks stored lately, for objects whose headers are the same bytes to share.
    blocks: Arc<RecentBlocks>,
    max_object_bytes: u64,
    metrics: Metrics,
}

/// The header blocks of recently stored objects, one per slot a block's hash picks: an
/// object whose block equals the one in its slot keeps that one instead of its own. Objects
/// filled from one origin in the same second often carry identical headers (the same `Date`,
/// type, length and `Cache-Control`), and the block is most of what such an object costs
/// beyond its body. Bounded: a slot keeps the last block it saw.
struct RecentBlocks {
    slots: Vec<Mutex<Bytes>>,
}

/// Slots of [`RecentBlocks`].
const BLOCK_SLOTS: usize = 256;

/// Largest block [`RecentBlocks`] remembers, so the slots never keep more than 512 KiB of
/// blocks alive after their objects left (an object's usual block is under 200 bytes).
const MAX_SHARED_BLOCK: usize = 2048;

impl RecentBlocks {
    fn new() -> Self {
        Self {
            slots: (0..BLOCK_SLOTS).map(|_| Mutex::default()).collect(),
        }
    }

    /// The block equal to `block` stored lately (and true), or `block` itself, remembered.
    fn share(&self, block: Bytes) -> (Bytes, bool) {
        if block.len() > MAX_SHARED_BLOCK {
            return (block, false);
        }
        let hash = xxhash_rust::xxh3::xxh3_64(&block);
        let slot = &self.slots[(hash % BLOCK_SLOTS as u64) as usize];
        // A poisoned slot only held a block: take it over.
        let mut kept = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !kept.is_empty() && *kept == block {
            return (kept.clone(), true);
        }
        *kept = block.clone();
        (block, false)
    }
}

impl Store {
    /// A store of `capacity_bytes`, refusing objects over `max_object_bytes`; evictions are
    /// counted in `metrics`.
    pub fn new(capacity_bytes: u64, max_object_bytes: u64, metrics: Metrics) -> Self {
        // Each shard holds an equal part of the capacity, and the cache refuses an object
        // larger than a shard: no more shards than the largest object fits.
        let fit = (capacity_bytes / max_object_bytes.max(1)).clamp(1, 16);
        // The cache rounds a shard count up to a power of two: round down here instead.
        let shards = 1u64 << fit.ilog2();
        let estimated = (capacity_bytes / TYPICAL_OBJECT_BYTES).max(1);
        // Invariant: a positive capacity and item estimate always build.
        let options = OptionsBuilder::new()
            .shards(usize::try_from(shards).unwrap_or(1))
            .estimated_items_capacity(usize::try_from(estimated).unwrap_or(usize::MAX))
            .weight_capacity(capacity_bytes.max(1))
            .build()
            .expect("valid cache options");
        let objects = Cache::with_options(
            options,
            ObjectWeight,
            DefaultHashBuilder::default(),
            CountEvictions(metrics.clone()),
        );
        Self {
            objects: Arc::new(objects),
            vary: Arc::new(Cache::new(VARY_ENTRIES)),
            no_vary: Arc::default(),
            blocks: Arc::new(RecentBlocks::new()),
            max_object_bytes,
            metrics,
        }
    }

    /// Largest object stored.
    pub fn max_object_bytes(&self) -> u64 {
        self.max_object_bytes
    }

    /// The `Vary` names recorded for `primary` (empty when it does not vary or is unknown).
    pub fn vary_of(&self, primary: &str) -> Arc<Vec<HeaderName>> {
        self.vary
            .get(primary)
            .unwrap_or_else(|| self.no_vary.clone())
    }

    /// The object stored under a variant key.
    pub fn get(&self, variant: &str) -> Option<Arc<CachedObject>> {
        self.objects.get(variant)
    }

    /// `object`, ready to store: its header block replaced by an equal one stored lately,
    /// when there is one (see `RecentBlocks`).
    pub fn share(&self, mut object: CachedObject) -> Arc<CachedObject> {
        let (block, shared) = self.blocks.share(std::mem::take(&mut object.headers.0));
        object.headers.0 = block;
        object.shared_headers = shared;
        Arc::new(object)
    }

    /// Stores `object` under `variant`, recording its `vary` names for its primary key.
    /// Objects over the size limit are refused (returns false).
    pub fn insert(&self, variant: String, vary: Vec<HeaderName>, object: CachedObject) -> bool {
        if object.body.len() as u64 > self.max_object_bytes {
            return false;
        }
        self.insert_arc(variant, vary, self.share(object))
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
                self.vary.remove(&*object.primary);
            }
        } else {
            self.vary.insert(object.primary.clone(), Arc::new(vary));
        }
        let key = if *variant == *object.primary {
            object.primary.clone()
        } else {
            Arc::from(variant)
        };
        if self.objects.contains_key(&*key) {
            self.metrics.eviction(EvictionCause::Replaced);
        }
        self.objects.insert(key, object);
        true
    }

    /// Removes one variant.
    pub fn remove(&self, variant: &str) {
        if self.objects.remove(variant).is_some() {
            self.metrics.eviction(EvictionCause::Invalidated);
        }
    }

    /// Removes every stored object `doomed` picks, counted as invalidated.
    fn remove_where(&self, doomed: impl Fn(&CachedObject) -> bool) {
        let removed = AtomicU64::new(0);
        self.objects.retain(|_, object| {
            let keep = !doomed(object);
            if !keep {
                removed.fetch_add(1, Ordering::Relaxed);
            }
            keep
        });
        for _ in 0..removed.into_inner() {
            self.metrics.eviction(EvictionCause::Invalidated);
        }
    }

    /// Removes every variant of `primary` (RFC 9111 §4.4 invalidation).
    pub fn remove_primary(&self, primary: &str) {
        self.vary.remove(primary);
        self.remove_where(|object| *object.primary == *primary);
    }

    /// Removes every object whose path matches one of `patterns` (exact, or ending in `*`).
    pub fn invalidate_paths(&self, patterns: &[String]) {
        self.remove_where(|object| {
            patterns.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => object.path().starts_with(prefix),
                None => *p == object.path(),
            })
        });
    }

    /// Number of stored objects.
    pub fn objects(&self) -> u64 {
        self.objects.len() as u64
    }

    /// Weighted size in bytes.
    pub fn bytes(&self) -> u64 {
        self.objects.weight()
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
    use crate::policy::Lifetime;

    #[test]
    fn stored_headers_round_trip_with_repeats_colons_long_values_and_unknown_names() {
        let mut map = HeaderMap::new();
        map.append("etag", "\"a:b\"".parse().unwrap());
        map.append("set-cookie", "a=1".parse().unwrap());
        map.append("set-cookie", "b=2".parse().unwrap());
        map.append("x-empty", "".parse().unwrap());
        map.append("x-long", "v".repeat(70_000).parse().unwrap());
        map.append(
            names::X_EDGELAB_DIGEST,
            "xxh3=0123456789abcdef".parse().unwrap(),
        );
        let stored = StoredHeaders::from_map(&map);
        assert_eq!(stored.to_map(), map);
        assert_eq!(stored.len(), map.len());
        assert_eq!(stored.get(&header::ETAG).unwrap(), "\"a:b\"");
        assert_eq!(stored.get_str(&header::ETAG), Some("\"a:b\""));
        assert_eq!(
            stored.get_str(&HeaderName::from_static("x-empty")),
            Some("")
        );
        assert!(stored.get(&header::AGE).is_none());
        assert!(StoredHeaders::default().to_map().is_empty());
        // Known names cost one byte each: the block is the values plus a few bytes a field.
        let mut small = HeaderMap::new();
        small.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        small.insert(header::CACHE_CONTROL, "max-age=60".parse().unwrap());
        assert_eq!(
            StoredHeaders::from_map(&small).len_bytes(),
            1 + 2 * 2 + 10 + 10
        );
    }

    #[test]
    fn get_str_refuses_what_to_str_refuses() {
        let mut map = HeaderMap::new();
        map.insert(
            header::ETAG,
            http::HeaderValue::from_bytes(b"\"caf\xc3\xa9\"").unwrap(),
        );
        let stored = StoredHeaders::from_map(&map);
        assert!(map.get(header::ETAG).unwrap().to_str().is_err());
        assert_eq!(stored.get_str(&header::ETAG), None);
    }

    fn object(primary: &str, body: usize) -> CachedObject {
        let forever = Duration::from_secs(3600);
        CachedObject {
            primary: Arc::from(primary),
            path_range: CachedObject::path_range(primary, &primary[primary.find('/').unwrap()..]),
            status: StatusCode::OK,
            headers: StoredHeaders::default(),
            body: Bytes::from(vec![b'x'; body]),
            lifespan: Lifespan::new(
                SystemTime::now(),
                Duration::ZERO,
                &Lifetime {
                    lifetime: forever,
                    swr: Duration::ZERO,
                    sie: Duration::ZERO,
                    must_revalidate: false,
                },
            ),
            upstream_hit_layer: None,
            shared_headers: false,
        }
    }

    #[test]
    fn removals_are_counted_by_cause_and_the_capacity_holds() {
        let registry = prometheus::Registry::new();
        let metrics = Metrics::register(&registry, "FRA", "edge").unwrap();
        let store = Store::new(40_000, 5_000, metrics);
        let count = |cause: &str| {
            registry
                .gather()
                .iter()
                .filter(|f| f.name() == edgelab_common::names::metric::EDGE_EVICTIONS_TOTAL)
                .flat_map(|f| f.get_metric().to_vec())
                .find(|m| m.get_label().iter().any(|l| l.value() == cause))
                .map_or(0.0, |m| m.get_counter().get_value())
        };
        for i in 0..20 {
            assert!(store.insert(
                format!("h/{i}"),
                Vec::new(),
                object(&format!("h/{i}"), 4_000)
            ));
        }
        assert!(store.bytes() <= 40_000, "{} bytes stored", store.bytes());
        assert!(count("capacity") > 0.0);
        assert!(!store.insert("h/big".into(), Vec::new(), object("h/big", 5_001)));
        store.insert("h/a".into(), Vec::new(), object("h/a", 10));
        store.insert("h/a".into(), Vec::new(), object("h/a", 10));
        assert_eq!(count("replaced"), 1.0);
        store.remove("h/a");
        store.remove("h/a");
        assert_eq!(count("invalidated"), 1.0);
        store.insert("h/b/1".into(), Vec::new(), object("h/b/1", 10));
        store.insert("h/b/2".into(), Vec::new(), object("h/b/2", 10));
        store.invalidate_paths(&["/b/*".to_string()]);
        assert_eq!(count("invalidated"), 3.0);
        assert!(store.get("h/b/1").is_none() && store.get("h/b/2").is_none());
    }

    #[test]
    fn entry_layout_stays_small() {
        // 120 bytes, with the `Arc`'s counts 136: a 144-byte allocation (it was 208).
        assert!(std::mem::size_of::<CachedObject>() <= 120);
        assert_eq!(std::mem::size_of::<Lifespan>(), 24);
    }

    #[test]
    fn a_lifespan_keeps_the_lifetime_and_ages_from_the_stored_age() {
        let stored_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let lifetime = Lifetime {
            lifetime: Duration::from_millis(1_500),
            swr: Duration::from_secs(30),
            sie: Duration::from_secs(86_400),
            must_revalidate: true,
        };
        let lifespan = Lifespan::new(stored_at, Duration::from_secs(7), &lifetime);
        assert_eq!(lifespan.lifetime(), lifetime);
        let relaxed = Lifetime {
            must_revalidate: false,
            lifetime: Duration::from_secs(31_536_000),
            ..lifetime
        };
        assert_eq!(
            Lifespan::new(stored_at, Duration::ZERO, &relaxed).lifetime(),
            relaxed
        );
        assert_eq!(lifespan.age(stored_at), Duration::from_secs(7));
        assert_eq!(
            lifespan.age(stored_at + Duration::from_millis(2_999)),
            Duration::from_millis(9_999)
        );
        // A clock set back past the object's birth: age zero, never a wrapped value.
        assert_eq!(
            lifespan.age(stored_at - Duration::from_secs(60)),
            Duration::ZERO
        );
        // Before the epoch too (a test clock at the epoch with an upstream `Age`).
        let early = Lifespan::new(SystemTime::UNIX_EPOCH, Duration::from_secs(5), &relaxed);
        assert_eq!(early.age(SystemTime::UNIX_EPOCH), Duration::from_secs(5));
    }

    #[test]
    fn objects_with_the_same_headers_share_one_block_and_weigh_less() {
        let registry = prometheus::Registry::new();
        let store = Store::new(
            1 << 20,
            1 << 16,
            Metrics::register(&registry, "FRA", "edge").unwrap(),
        );
        let with_headers = |primary: &str, etag: &str| {
            let mut map = HeaderMap::new();
            map.insert(header::CACHE_CONTROL, "max-age=60".parse().unwrap());
            map.insert(header::ETAG, etag.parse().unwrap());
            CachedObject {
                headers: StoredHeaders::from_map(&map),
                ..object(primary, 1)
            }
        };
        let a = store.share(with_headers("h/a", "\"1\""));
        let b = store.share(with_headers("h/b", "\"1\""));
        let c = store.share(with_headers("h/c", "\"2\""));
        assert!(!a.shared_headers && b.shared_headers && !c.shared_headers);
        assert_eq!(a.headers.0.as_ptr(), b.headers.0.as_ptr());
        assert_ne!(a.headers.0.as_ptr(), c.headers.0.as_ptr());
        assert_eq!(
            b.headers.to_map(),
            with_headers("h/b", "\"1\"").headers.to_map()
        );
        assert_eq!(
            a.weight(&a.primary),
            b.weight(&b.primary) + a.headers.len_bytes() as u32 + BLOCK_BYTES as u32
        );
        // A large block is its object's own.
        let big = |primary: &str| {
            let mut map = HeaderMap::new();
            map.insert(header::LINK, "x".repeat(MAX_SHARED_BLOCK).parse().unwrap());
            CachedObject {
                headers: StoredHeaders::from_map(&map),
                ..object(primary, 1)
            }
        };
        store.share(big("h/d"));
        assert!(!store.share(big("h/e")).shared_headers);
        // A key of its own (a variant) is weighed; the primary key's allocation is not twice.
        assert!(a.weight("h/a\u{1}accept-encoding=gzip") > a.weight(&a.primary));
    }

    #[test]
    fn vary_names_are_kept_only_for_resources_that_vary() {
        let registry = prometheus::Registry::new();
        let store = Store::new(
            1 << 20,
            1 << 16,
            Metrics::register(&registry, "FRA", "edge").unwrap(),
        );
        let accept = vec![header::ACCEPT_ENCODING];
        store.insert("h/v\u{1}x".into(), accept.clone(), object("h/v", 1));
        assert_eq!(*store.vary_of("h/v"), accept);
        store.insert("h/v".into(), Vec::new(), object("h/v", 1));
        assert!(store.vary_of("h/v").is_empty());
        assert_eq!(store.variants_of("h/v").len(), 2);
        store.remove_primary("h/v");
        assert_eq!(store.objects(), 0);
    }
}
