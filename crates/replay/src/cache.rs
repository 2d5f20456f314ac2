//! Eviction policies behind one [`Cache`] trait.
//!
//! LRU and FIFO follow libCacheSim's `cache_get_base` exactly, so their miss counts compare
//! one to one with it: a hit neither changes the stored size nor counts bytes as missed; a
//! miss for an object larger than the whole cache is not inserted; otherwise the policy
//! evicts from its tail until the object fits and inserts it at the head. No per-object
//! metadata is counted (libCacheSim's `consider_obj_metadata=False`) and nothing expires.
//!
//! `clock-pro` is `quick_cache`'s CLOCK-Pro cache weighted by size, the eviction of the running
//! edge's store (`edgelab_edge::store`); the edge splits its capacity into up to 16 shards of
//! at least its largest object, the replay runs one. `tinylfu` is moka's synchronous cache
//! (TinyLFU admission in front of a segmented LRU, weighted by size), the edge's store before it
//! moved to `quick_cache`; moka applies admission and eviction in batches, so it is run to
//! quiescence after each insert here to make the replay deterministic.
//!
//! The replay's engine (`crate::engine`) holds each cache as a `Lane`: LRU and FIFO as an
//! [`IndexedList`] on dense object numbers (no hashing per cache), the others keyed by id.

use std::str::FromStr;

use foldhash::HashMap;

/// Eviction policy of a simulated cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// Least recently used.
    Lru,
    /// First in, first out (a hit does not reorder).
    Fifo,
    /// moka's TinyLFU-admitted segmented LRU.
    TinyLfu,
    /// quick_cache's CLOCK-Pro, the eviction of the running edge's store.
    ClockPro,
}

impl Eviction {
    /// Every policy, for help texts.
    pub const ALL: [Eviction; 4] = [
        Eviction::Lru,
        Eviction::Fifo,
        Eviction::TinyLfu,
        Eviction::ClockPro,
    ];

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Eviction::Lru => "lru",
            Eviction::Fifo => "fifo",
            Eviction::TinyLfu => "tinylfu",
            Eviction::ClockPro => "clock-pro",
        }
    }

    /// A new empty cache of `capacity` bytes with this policy.
    pub fn build(self, capacity: u64) -> Box<dyn Cache> {
        match self {
            Eviction::Lru => Box::new(ListCache::new(capacity, true)),
            Eviction::Fifo => Box::new(ListCache::new(capacity, false)),
            Eviction::TinyLfu => Box::new(TinyLfu::new(capacity)),
            Eviction::ClockPro => Box::new(ClockPro::new(capacity)),
        }
    }
}

impl FromStr for Eviction {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|eviction| eviction.as_str() == text)
            .ok_or_else(|| format!("unknown eviction `{text}` (lru, fifo, tinylfu, clock-pro)"))
    }
}

/// A simulated cache of whole objects.
pub trait Cache {
    /// Looks `id` up; on a miss, admits it if the policy does. Returns true on a hit.
    fn get(&mut self, id: u64, size: u64) -> bool;
    /// Bytes held now.
    fn occupied(&self) -> u64;
}

/// Marks the end of a list in [`IndexedList`].
const NIL: u32 = u32::MAX;
/// `prev` of an object the cache does not hold.
const ABSENT: u32 = u32::MAX - 1;

/// An object's place in one [`IndexedList`]: its neighbours, or [`ABSENT`].
#[derive(Debug, Clone, Copy)]
struct Link {
    /// Towards the head (more recent); [`ABSENT`] when not held.
    prev: u32,
    /// Towards the tail (evicted first).
    next: u32,
}

impl Link {
    const ABSENT: Link = Link {
        prev: ABSENT,
        next: NIL,
    };
}

/// LRU (`promote` = true) or FIFO over objects named by a dense index (0, 1, 2, … in order
/// of first request): an intrusive doubly linked list in one `Vec` indexed by the object, its
/// stored sizes in another (read only to insert and evict), so a lookup is an array access
/// and no hashing. Memory: 16 bytes per distinct object seen.
#[derive(Debug, Clone)]
pub struct IndexedList {
    capacity: u64,
    occupied: u64,
    held: usize,
    promote: bool,
    links: Vec<Link>,
    sizes: Vec<u64>,
    head: u32,
    tail: u32,
}

impl IndexedList {
    /// An empty cache of `capacity` bytes; `promote` moves a hit to the head (LRU).
    pub fn new(capacity: u64, promote: bool) -> Self {
        IndexedList {
            capacity,
            occupied: 0,
            held: 0,
            promote,
            links: Vec::new(),
            sizes: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }

    /// Makes room for `objects` distinct objects before the list's tables grow.
    pub fn reserve(&mut self, objects: usize) {
        self.links.reserve(objects);
        self.sizes.reserve(objects);
    }

    /// Objects held now.
    pub fn len(&self) -> usize {
        self.held
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// Bytes held now.
    pub fn occupied(&self) -> u64 {
        self.occupied
    }

    /// Looks up the object `object` (its dense index) of `size` bytes; on a miss inserts it
    /// (evicting from the tail until it fits) unless it is larger than the whole cache.
    /// Returns true on a hit; a hit keeps the stored size.
    #[inline(always)]
    pub fn get(&mut self, object: u32, size: u64) -> bool {
        let at = object as usize;
        if at >= self.links.len() {
            self.links.resize(at + 1, Link::ABSENT);
            self.sizes.resize(at + 1, 0);
        }
        if self.links[at].prev != ABSENT {
            if self.promote && self.head != object {
                self.unlink(object);
                self.push_head(object);
            }
            return true;
        }
        if size > self.capacity {
            return false;
        }
        while self.occupied + size > self.capacity {
            self.evict_tail();
        }
        self.sizes[at] = size;
        self.occupied += size;
        self.held += 1;
        self.push_head(object);
        false
    }

    fn unlink(&mut self, at: u32) {
        let Link { prev, next } = self.links[at as usize];
        match prev {
            NIL => self.head = next,
            prev => self.links[prev as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            next => self.links[next as usize].prev = prev,
        }
    }

    fn push_head(&mut self, at: u32) {
        let old = self.head;
        self.links[at as usize] = Link {
            prev: NIL,
            next: old,
        };
        match old {
            NIL => self.tail = at,
            old => self.links[old as usize].prev = at,
        }
        self.head = at;
    }

    fn evict_tail(&mut self) {
        let at = self.tail;
        debug_assert_ne!(at, NIL, "evicting only while something is held");
        self.unlink(at);
        self.links[at as usize] = Link::ABSENT;
        self.occupied -= self.sizes[at as usize];
        self.held -= 1;
    }
}

/// Dense indices for object ids, in order of first request: one hash lookup per request,
/// shared by every cache of a grid.
#[derive(Debug, Default)]
pub struct ObjectIndex {
    ids: HashMap<u64, u32>,
}

impl ObjectIndex {
    /// An index with room for `objects` distinct ids before it grows.
    pub fn with_capacity(objects: usize) -> Self {
        ObjectIndex {
            ids: HashMap::with_capacity_and_hasher(objects, Default::default()),
        }
    }

    /// The dense index of `id`, a new one the first time it is seen.
    #[inline(always)]
    pub fn index(&mut self, id: u64) -> u32 {
        let next = self.ids.len();
        // Over 4 billion distinct objects would not fit this machine's memory anyway.
        *self
            .ids
            .entry(id)
            .or_insert_with(|| u32::try_from(next).expect("fewer than 2^32 distinct objects"))
    }

    /// Distinct ids seen.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no id was seen.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// LRU or FIFO keyed by object id: an [`ObjectIndex`] in front of an [`IndexedList`], for a
/// cache used alone ([`Eviction::build`]).
#[derive(Debug)]
pub struct ListCache {
    index: ObjectIndex,
    list: IndexedList,
}

impl ListCache {
    /// An empty cache of `capacity` bytes; `promote` moves a hit to the head (LRU).
    pub fn new(capacity: u64, promote: bool) -> Self {
        ListCache {
            index: ObjectIndex::default(),
            list: IndexedList::new(capacity, promote),
        }
    }

    /// Objects held now.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl Cache for ListCache {
    fn get(&mut self, id: u64, size: u64) -> bool {
        let object = self.index.index(id);
        self.list.get(object, size)
    }

    fn occupied(&self) -> u64 {
        self.list.occupied()
    }
}

/// One cache of the replay's engine: LRU or FIFO on the engine's dense object numbers, or
/// another policy keyed by the object's id.
pub(crate) enum Lane {
    /// LRU or FIFO on dense object numbers.
    List(IndexedList),
    /// Another policy, keyed by object id.
    Keyed(Box<dyn Cache>),
}

impl Lane {
    /// An empty cache of `capacity` bytes with `eviction`; an LRU or FIFO list has room for
    /// `objects` objects before it grows.
    pub(crate) fn new(eviction: Eviction, capacity: u64, objects: usize) -> Self {
        let list = |promote| {
            let mut list = IndexedList::new(capacity, promote);
            list.reserve(objects);
            Lane::List(list)
        };
        match eviction {
            Eviction::Lru => list(true),
            Eviction::Fifo => list(false),
            Eviction::TinyLfu | Eviction::ClockPro => Lane::Keyed(eviction.build(capacity)),
        }
    }

    /// Looks up the object numbered `object` (id `id`) of `size` bytes, admitting it on a
    /// miss as the policy does; true on a hit.
    #[inline(always)]
    pub(crate) fn get(&mut self, object: u32, id: u64, size: u64) -> bool {
        match self {
            Lane::List(list) => list.get(object, size),
            Lane::Keyed(cache) => cache.get(id, size),
        }
    }
}

/// moka's synchronous cache weighted by object size.
pub struct TinyLfu {
    store: moka::sync::Cache<u64, u32, foldhash::fast::FixedState>,
}

impl TinyLfu {
    /// An empty cache of `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        // A fixed hasher: moka's default is seeded at random, and its frequency sketch (so
        // which objects TinyLFU admits) follows the hashes, so two replays would differ.
        let store = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .weigher(|_id: &u64, size: &u32| *size)
            .build_with_hasher(foldhash::fast::FixedState::with_seed(0x0edc_e1ab));
        TinyLfu { store }
    }
}

impl Cache for TinyLfu {
    fn get(&mut self, id: u64, size: u64) -> bool {
        if self.store.get(&id).is_some() {
            return true;
        }
        // moka weighs with u32; larger objects saturate (they never fit a realistic cache).
        self.store
            .insert(id, u32::try_from(size).unwrap_or(u32::MAX));
        self.store.run_pending_tasks();
        false
    }

    fn occupied(&self) -> u64 {
        self.store.weighted_size()
    }
}

/// Weighs a cached object by its size in bytes.
#[derive(Clone, Copy)]
struct BySize;

impl quick_cache::Weighter<u64, u64> for BySize {
    fn weight(&self, _id: &u64, size: &u64) -> u64 {
        *size
    }
}

/// quick_cache's CLOCK-Pro cache weighted by object size (one shard).
pub struct ClockPro {
    store: quick_cache::unsync::Cache<u64, u64, BySize>,
}

impl ClockPro {
    /// An empty cache of `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        // The item estimate only sizes the initial tables; 4 KiB is a typical web object.
        let estimated = usize::try_from(capacity / 4096)
            .unwrap_or(usize::MAX)
            .max(1);
        ClockPro {
            store: quick_cache::unsync::Cache::with_weighter(estimated, capacity.max(1), BySize),
        }
    }
}

impl Cache for ClockPro {
    fn get(&mut self, id: u64, size: u64) -> bool {
        if self.store.get(&id).is_some() {
            return true;
        }
        // quick_cache refuses an object heavier than the whole cache: a miss, not inserted.
        self.store.insert(id, size);
        false
    }

    fn occupied(&self) -> u64 {
        self.store.weight()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Per request of `trace`, whether one cache of `eviction` and `capacity` missed it.
    pub(crate) fn misses_of(eviction: Eviction, capacity: u64, trace: &[(u64, u64)]) -> Vec<bool> {
        let mut cache = eviction.build(capacity);
        trace
            .iter()
            .map(|&(id, size)| !cache.get(id, size))
            .collect()
    }

    #[test]
    fn lru_promotes_on_hit_fifo_does_not() {
        // capacity 2 objects of 1 byte: a b a c a
        let trace = [(1, 1), (2, 1), (1, 1), (3, 1), (1, 1)];
        assert_eq!(
            misses_of(Eviction::Lru, 2, &trace),
            [true, true, false, true, false]
        );
        assert_eq!(
            misses_of(Eviction::Fifo, 2, &trace),
            [true, true, false, true, true]
        );
    }

    #[test]
    fn object_larger_than_cache_is_a_miss_and_not_inserted() {
        let mut cache = ListCache::new(10, true);
        assert!(!cache.get(1, 4));
        assert!(!cache.get(2, 11));
        assert!(!cache.get(2, 11));
        assert_eq!((cache.len(), cache.occupied()), (1, 4));
        assert!(cache.get(1, 4));
    }

    #[test]
    fn evicts_until_it_fits_and_hit_keeps_stored_size() {
        let mut cache = ListCache::new(10, true);
        for id in 1..=5 {
            cache.get(id, 2);
        }
        assert!(!cache.get(6, 7)); // evicts 1, 2, 3, 4 (8 bytes) to fit 7
        assert_eq!((cache.len(), cache.occupied()), (2, 9));
        assert!(cache.get(6, 1)); // hit with another size: stored size unchanged
        assert_eq!(cache.occupied(), 9);
        assert!(cache.get(5, 2));
    }

    #[test]
    fn tinylfu_holds_within_capacity() {
        let mut cache = TinyLfu::new(1000);
        for round in 0..3 {
            for id in 0..100 {
                cache.get(id % (20 + round * 30), 50);
            }
        }
        assert!(cache.occupied() <= 1000);
        assert!(cache.get(0, 50) || cache.get(0, 50));
    }

    #[test]
    fn clock_pro_keeps_a_reused_object_a_scan_would_evict_and_holds_within_capacity() {
        let mut cache = ClockPro::new(1000);
        // A hot object hit many times, then a scan of cold ones three times the capacity.
        for _ in 0..10 {
            cache.get(0, 100);
        }
        for id in 1..=30 {
            assert!(!cache.get(id, 100), "a cold object is a miss");
            assert!(cache.occupied() <= 1000);
        }
        assert!(
            cache.get(0, 100),
            "CLOCK-Pro keeps the hot object through the scan"
        );
        // LRU of the same size has evicted it.
        let mut lru = ListCache::new(1000, true);
        for _ in 0..10 {
            lru.get(0, 100);
        }
        for id in 1..=30 {
            lru.get(id, 100);
        }
        assert!(!lru.get(0, 100));
        // An object over the whole capacity is a miss and is not stored.
        assert!(!cache.get(99, 1001));
        assert!(!cache.get(99, 1001));
    }

    /// libCacheSim's LRU/FIFO written the slow, obvious way: a list, most recent first.
    fn naive(capacity: u64, promote: bool, trace: &[(u64, u64)]) -> Vec<bool> {
        let mut held: std::collections::VecDeque<(u64, u64)> = Default::default();
        trace
            .iter()
            .map(|&(id, size)| {
                if let Some(at) = held.iter().position(|&(held_id, _)| held_id == id) {
                    if promote {
                        let entry = held.remove(at).expect("found");
                        held.push_front(entry);
                    }
                    return false;
                }
                if size <= capacity {
                    while held.iter().map(|e| e.1).sum::<u64>() + size > capacity {
                        held.pop_back();
                    }
                    held.push_front((id, size));
                }
                true
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn list_cache_is_the_naive_model(
            capacity in 1u64..64,
            trace in proptest::collection::vec((0u64..16, 1u64..32), 0..200),
            promote: bool,
        ) {
            let mut cache = ListCache::new(capacity, promote);
            let got: Vec<bool> = trace.iter().map(|&(id, size)| !cache.get(id, size)).collect();
            proptest::prop_assert_eq!(got, naive(capacity, promote, &trace));
        }

        #[test]
        fn list_cache_never_exceeds_capacity(
            capacity in 1u64..64,
            trace in proptest::collection::vec((0u64..16, 1u64..32), 0..200),
            promote: bool,
        ) {
            let mut cache = ListCache::new(capacity, promote);
            for (id, size) in trace {
                cache.get(id, size);
                proptest::prop_assert!(cache.occupied() <= capacity);
                proptest::prop_assert!(cache.len() <= cache.index.len());
            }
        }
    }
}
