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

/// Marks the end of the list in [`ListCache`].
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Node {
    id: u64,
    size: u64,
    /// Towards the head (more recent).
    prev: u32,
    /// Towards the tail (evicted first).
    next: u32,
}

/// LRU (`promote` = true) or FIFO: a doubly linked list in a slab, indexed by a hash map.
#[derive(Debug)]
pub struct ListCache {
    capacity: u64,
    occupied: u64,
    promote: bool,
    index: HashMap<u64, u32>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
}

impl ListCache {
    /// An empty cache of `capacity` bytes; `promote` moves a hit to the head (LRU).
    pub fn new(capacity: u64, promote: bool) -> Self {
        ListCache {
            capacity,
            occupied: 0,
            promote,
            index: HashMap::default(),
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }

    /// Objects held now.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn unlink(&mut self, at: u32) {
        let Node { prev, next, .. } = self.nodes[at as usize];
        match prev {
            NIL => self.head = next,
            prev => self.nodes[prev as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            next => self.nodes[next as usize].prev = prev,
        }
    }

    fn push_head(&mut self, at: u32) {
        let old = self.head;
        self.nodes[at as usize].prev = NIL;
        self.nodes[at as usize].next = old;
        match old {
            NIL => self.tail = at,
            old => self.nodes[old as usize].prev = at,
        }
        self.head = at;
    }

    fn evict_tail(&mut self) {
        let at = self.tail;
        debug_assert_ne!(at, NIL, "evicting only while something is held");
        let Node { id, size, .. } = self.nodes[at as usize];
        self.unlink(at);
        self.index.remove(&id);
        self.occupied -= size;
        self.free.push(at);
    }

    fn insert(&mut self, id: u64, size: u64) {
        let node = Node {
            id,
            size,
            prev: NIL,
            next: NIL,
        };
        let at = match self.free.pop() {
            Some(at) => {
                self.nodes[at as usize] = node;
                at
            }
            None => {
                // More than 4 billion objects held at once would not fit this machine anyway.
                let at = u32::try_from(self.nodes.len()).expect("fewer than 2^32 objects held");
                self.nodes.push(node);
                at
            }
        };
        self.push_head(at);
        self.index.insert(id, at);
        self.occupied += size;
    }
}

impl Cache for ListCache {
    fn get(&mut self, id: u64, size: u64) -> bool {
        if let Some(&at) = self.index.get(&id) {
            if self.promote && self.head != at {
                self.unlink(at);
                self.push_head(at);
            }
            return true;
        }
        if size > self.capacity {
            return false;
        }
        while self.occupied + size > self.capacity {
            self.evict_tail();
        }
        self.insert(id, size);
        false
    }

    fn occupied(&self) -> u64 {
        self.occupied
    }
}

/// moka's synchronous cache weighted by object size.
pub struct TinyLfu {
    store: moka::sync::Cache<u64, u32>,
}

impl TinyLfu {
    /// An empty cache of `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        let store = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .weigher(|_id: &u64, size: &u32| *size)
            .build();
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
mod tests {
    use super::*;

    fn misses(eviction: Eviction, capacity: u64, trace: &[(u64, u64)]) -> Vec<bool> {
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
            misses(Eviction::Lru, 2, &trace),
            [true, true, false, true, false]
        );
        assert_eq!(
            misses(Eviction::Fifo, 2, &trace),
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

    proptest::proptest! {
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
                proptest::prop_assert_eq!(cache.len(), cache.index.len());
            }
        }
    }
}
