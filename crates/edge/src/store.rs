//! Storage: complete objects in a `quick_cache` cache bounded in bytes (a weigher counts
//! body, headers, key and the entry's fixed cost), plus a small index from primary key to the
//! `Vary` header names of the stored variants. Only whole, verified bodies are ever inserted
//! (see `fill`). What an object costs beyond its body is measured by `loadtest/bench-edge.sh`
//! (`docs/request-lifecycle.md`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::{HeaderName, StatusCode};
use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, OptionsBuilder, Weighter};

use crate::metrics::{EvictionCause, Metrics};
use crate::policy::Lifetime;

mod body;
mod headers;

pub use body::{FILE_BODY_MAX, FILE_BODY_MIN, FileBodies, ObjectBody, file_body_sizes};
use edgelab_common::arena::BodyArena;
use headers::{Block, Common};
pub use headers::{CommonLines, KNOWN_NAMES, OwnField, StoredHeaders};

/// A complete stored response. Its layout is kept small (one is kept per cached object; the
/// `entry_layout_stays_small` test holds it): times and lifetimes are a compact
/// [`Lifespan`], and the parts of its headers equal to another object's are shared
/// ([`Store::share`]).
#[derive(Debug)]
pub struct CachedObject {
    /// Primary key (all variants of one resource share it); also the store key of a resource
    /// that does not vary, so the two share one allocation.
    pub primary: Arc<str>,
    /// The request path's length; it starts in `primary` right after the host (for
    /// invalidation patterns).
    pub path_len: u32,
    /// Status.
    pub status: StatusCode,
    /// Stored response headers (end-to-end only): the object's own block and a shared part.
    pub headers: StoredHeaders,
    /// The whole body.
    pub body: ObjectBody,
    /// When its age was zero, its freshness lifetime and stale windows (read through
    /// [`CachedObject::age`] and [`CachedObject::lifetime`]).
    pub lifespan: Lifespan,
    /// Layer that answered when this object was fetched (the upstream's hit layer, or none for
    /// the origin).
    pub upstream_hit_layer: Option<edgelab_wire::Tier>,
    /// Which parts of `headers` other objects share (set by [`Store::share`]; a shared part
    /// is not weighed again per object).
    pub shared_headers: SharedHeaders,
}

/// Which parts of an object's [`StoredHeaders`] are shared with other objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SharedHeaders {
    /// Both are the object's own (as made, before [`Store::share`]).
    #[default]
    Neither,
    /// The object's own block equals another object's and is shared.
    Own,
    /// The common part is shared.
    Common,
    /// Both are shared.
    Both,
}

impl SharedHeaders {
    fn of(own: bool, common: bool) -> Self {
        match (own, common) {
            (false, false) => SharedHeaders::Neither,
            (true, false) => SharedHeaders::Own,
            (false, true) => SharedHeaders::Common,
            (true, true) => SharedHeaders::Both,
        }
    }

    /// Whether the object's own block is shared.
    pub fn own(self) -> bool {
        matches!(self, SharedHeaders::Own | SharedHeaders::Both)
    }

    /// Whether the common part is shared.
    pub fn common(self) -> bool {
        matches!(self, SharedHeaders::Common | SharedHeaders::Both)
    }
}

impl CachedObject {
    /// The request path this object answers.
    pub fn path(&self) -> &str {
        let start = path_start(&self.primary);
        let end = start.saturating_add(self.path_len as usize);
        self.primary.get(start..end).unwrap_or("")
    }

    /// The length of `path` as it lies in `primary` (right after the host), for
    /// [`CachedObject::path_len`].
    pub fn path_len(primary: &str, path: &str) -> u32 {
        let start = path_start(primary);
        let end = (start + path.len()).min(primary.len());
        u32::try_from(end - start).unwrap_or(0)
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
        let shared = self.shared_headers;
        let own_bytes = if shared.own() {
            0
        } else {
            self.headers.own().cost()
        };
        let common_bytes = if shared.common() {
            0
        } else {
            self.headers.common().block().cost() + COMMON_BYTES
        };
        let header_bytes = own_bytes + common_bytes;
        let total =
            self.body.footprint() + self.primary.len() + key_bytes + header_bytes + ENTRY_BYTES;
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

/// The arena of a store of `capacity_bytes`: twice the capacity, sparse (it takes memory only
/// where bodies are), so bodies evicted while a response still sends them and the gaps
/// between extents leave room for new ones; it takes the sizes `EDGELAB_FILE_BODIES` gives
/// ([`file_body_sizes`]). `None` when it is turned off (`EDGELAB_FILE_BODIES=0`) or cannot be
/// made (the bodies are then kept on the heap).
fn file_bodies(capacity_bytes: u64) -> Option<FileBodies> {
    let value = std::env::var(edgelab_common::names::env::FILE_BODIES).ok();
    let sizes = match file_body_sizes(value.as_deref()) {
        Ok(sizes) => sizes?,
        // The commands check the variable before they start (exit 64); a store made
        // elsewhere keeps the default.
        Err(error) => {
            tracing::warn!(%error, "the body arena keeps its default sizes");
            FILE_BODY_MIN..=FILE_BODY_MAX
        }
    };
    match BodyArena::new("edgelab-bodies", capacity_bytes.saturating_mul(2)) {
        Ok(arena) => Some(FileBodies::new(arena, sizes)),
        Err(error) => {
            tracing::warn!(%error, "no body arena: stored bodies stay on the heap");
            None
        }
    }
}

/// Where the path starts in a primary key: after the host, which never holds a `/`.
fn path_start(primary: &str) -> usize {
    primary.find('/').unwrap_or(primary.len())
}

/// What an entry costs beyond its body, its key's text and its header block, as measured:
/// `PHASES=memory loadtest/bench-edge.sh` gave 347 bytes of RSS per one-byte object at
/// 1,011,660 objects, whose keys are 39 bytes of text and whose header blocks were shared
/// (docs/request-lifecycle.md). It covers the object's allocation, the body's allocation,
/// the key's allocation header and the cache's slot and index, allocator rounding included;
/// the weigher counts it so the store's capacity follows the memory it takes.
pub const ENTRY_BYTES: usize = 308;

/// What a common part of headers costs beyond its block: its allocation and share count
/// (its ready map, made only once it is shared, and its lines, made at its first hit or
/// when shared, are not counted per object).
const COMMON_BYTES: usize = 80;

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
    /// Header parts stored lately, for objects whose fields are the same bytes to share.
    recent: Arc<RecentHeaders>,
    max_object_bytes: u64,
    /// Where bodies of the sizes it takes are kept ([`FILE_BODY_MIN`] to [`FILE_BODY_MAX`]
    /// by default; none when the arena could not be made, or `EDGELAB_FILE_BODIES=0`).
    file_bodies: Option<FileBodies>,
    metrics: Metrics,
}

/// Header blocks (or common parts) of recently stored objects, one per slot a block's hash
/// picks: an object whose block equals the one in its slot keeps that one instead of its
/// own. Objects from one origin mostly carry the same other fields (type, `Cache-Control`,
/// `Server`), and those filled in the same second often the same own ones too (`Date`, a
/// length); the blocks are most of what a small object costs beyond its body. Bounded: a
/// slot keeps the last block it saw.
struct Recent<T> {
    slots: Vec<Mutex<Option<T>>>,
}

/// The two parts of headers stored lately.
struct RecentHeaders {
    /// Own blocks, for objects whose own fields are the same bytes.
    own: Recent<Block>,
    /// Common parts, for objects whose other fields are the same.
    common: Recent<Arc<Common>>,
}

/// Slots of a [`Recent`].
const BLOCK_SLOTS: usize = 256;

/// Largest block a [`Recent`] remembers, so the slots never keep more than 512 KiB of blocks
/// alive after their objects left (an object's usual block is under 200 bytes), plus, for
/// common parts, their ready maps (about 100 bytes a field and 4 a slot of their index).
const MAX_SHARED_BLOCK: usize = 2048;

/// What a [`Recent`] compares.
trait Shareable: Clone {
    fn block(&self) -> &Block;
}

impl Shareable for Block {
    fn block(&self) -> &Block {
        self
    }
}

impl Shareable for Arc<Common> {
    fn block(&self) -> &Block {
        Common::block(self)
    }
}

impl<T: Shareable> Recent<T> {
    fn new() -> Self {
        Self {
            slots: (0..BLOCK_SLOTS).map(|_| Mutex::default()).collect(),
        }
    }

    /// The item whose block equals `item`'s stored lately (and true), or `item` itself,
    /// remembered.
    fn share(&self, item: T) -> (T, bool) {
        let bytes = item.block().as_bytes();
        if bytes.len() > MAX_SHARED_BLOCK {
            return (item, false);
        }
        let hash = xxhash_rust::xxh3::xxh3_64(bytes);
        let slot = &self.slots[(hash % BLOCK_SLOTS as u64) as usize];
        // A poisoned slot only held a block: take it over.
        let mut kept = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(kept) = &*kept
            && kept.block() == item.block()
        {
            return (kept.clone(), true);
        }
        *kept = Some(item.clone());
        (item, false)
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
            recent: Arc::new(RecentHeaders {
                own: Recent::new(),
                common: Recent::new(),
            }),
            max_object_bytes,
            file_bodies: file_bodies(capacity_bytes),
            metrics,
        }
    }

    /// The arena bodies of the sizes it takes are written into, if any.
    pub fn file_bodies(&self) -> Option<&FileBodies> {
        self.file_bodies.as_ref()
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

    /// `object`, ready to store: each part of its headers replaced by an equal one stored
    /// lately, when there is one (see `Recent`). A common part found shared gets its ready
    /// map, so hits on every object that shares it clone that map.
    pub fn share(&self, mut object: CachedObject) -> Arc<CachedObject> {
        let (own, own_shared) = self.recent.own.share(object.headers.own().clone());
        let (common, common_shared) = self.recent.common.share(object.headers.common().clone());
        if common_shared {
            common.make_ready();
        }
        object.headers = StoredHeaders::with_parts(own, common);
        object.shared_headers = SharedHeaders::of(own_shared, common_shared);
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

    /// Bytes of the body arena held by bodies (part of [`Store::bytes`]); 0 without an arena.
    pub fn arena_bytes(&self) -> u64 {
        self.file_bodies
            .as_ref()
            .map_or(0, |bodies| bodies.arena().used_bytes())
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
    use http::{HeaderMap, header};

    use super::*;
    use crate::policy::Lifetime;

    fn object(primary: &str, body: usize) -> CachedObject {
        let forever = Duration::from_secs(3600);
        CachedObject {
            primary: Arc::from(primary),
            path_len: CachedObject::path_len(primary, &primary[primary.find('/').unwrap()..]),
            status: StatusCode::OK,
            headers: StoredHeaders::default(),
            body: bytes::Bytes::from(vec![b'x'; body]).into(),
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
            shared_headers: SharedHeaders::Neither,
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
        // 120 bytes, with the `Arc`'s counts 136: a 144-byte allocation (it was 208). The
        // headers' two parts take 40 of them.
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
    fn objects_share_the_parts_of_their_headers_that_are_equal_and_weigh_less() {
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
        assert_eq!(a.shared_headers, SharedHeaders::Neither);
        // Nothing shares a's common part yet: it has no ready map.
        assert!(!a.headers.common().is_ready());
        let b = store.share(with_headers("h/b", "\"1\""));
        let c = store.share(with_headers("h/c", "\"2\""));
        assert_eq!(b.shared_headers, SharedHeaders::Both);
        // Another ETag: c's own block is its own, the Cache-Control is shared.
        assert_eq!(c.shared_headers, SharedHeaders::Common);
        let own_ptr = |o: &CachedObject| o.headers.own().as_bytes().as_ptr();
        assert_eq!(own_ptr(&a), own_ptr(&b));
        assert_ne!(own_ptr(&a), own_ptr(&c));
        assert!(Arc::ptr_eq(a.headers.common(), c.headers.common()));
        // Shared, the common part has its ready map, and every sharer's map comes from it.
        assert!(a.headers.common().is_ready());
        for (object, etag) in [(&a, "\"1\""), (&b, "\"1\""), (&c, "\"2\"")] {
            let fresh = with_headers("h/x", etag).headers;
            assert!(!fresh.common().is_ready());
            assert_eq!(object.headers.to_map(), fresh.to_map());
            assert_eq!(object.headers.to_map_with_room(12), fresh.to_map());
        }
        let own_cost = a.headers.own().cost() as u32;
        let common_cost = (a.headers.common().block().cost() + COMMON_BYTES) as u32;
        assert!(own_cost > 0 && common_cost > COMMON_BYTES as u32);
        assert_eq!(
            a.weight(&a.primary),
            b.weight(&b.primary) + own_cost + common_cost
        );
        assert_eq!(c.weight(&c.primary), b.weight(&b.primary) + own_cost);
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
        assert_eq!(store.share(big("h/e")).shared_headers, SharedHeaders::Own);
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
