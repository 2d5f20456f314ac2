//! The one replay loop. Each request of the trace is read once, named by a dense object
//! number per cache key rule (one hash lookup, shared by every point of the grid), routed to
//! its PoP and REC (with `--tiers`), and served at every point: an eviction policy, a cache
//! policy and a capacity per tier. Each cache is a [`Lane`] indexed by those numbers (an LRU
//! or FIFO cache is an array access, no hashing) and, under a cache policy, a table of fill
//! times beside it, indexed alike.
//!
//! Without tiers every point has one cache, numbered like the key rule's objects. With tiers
//! a PoP (and a REC) numbers the objects it is asked for on its own, once for every point, so
//! a cache's tables grow with the objects its PoP sees, not with the whole trace's. The
//! shield sees every object and uses the key rule's numbers.

use std::time::Duration;

use edgelab_policy::{Freshness, Selection};
use http::HeaderMap;

use crate::cache::{Eviction, Lane, ObjectIndex};
use crate::policy::{Admission, Lookup, PolicyChoice, class_index, scaled_ms};
use crate::tiers::{Router, Tier};
use crate::trace::{Request, Trace, TraceError};

/// Requests, misses and refreshes of one cache (or tier) over a replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) requests: u64,
    /// Requests it sent upstream (refreshes included).
    pub(crate) misses: u64,
    /// Of those, revalidations of an expired copy.
    pub(crate) refreshes: u64,
    pub(crate) bytes: u64,
    /// Bytes of the full misses (a refresh carries no body).
    pub(crate) byte_misses: u64,
}

impl Counts {
    #[inline]
    pub(crate) fn add(&mut self, size: u64, lookup: Lookup) {
        self.requests += 1;
        self.bytes += size;
        self.add_upstream(size, lookup);
    }

    /// Counts what `lookup` sent upstream, not the request itself (a cache that sees every
    /// request gets those counts at the end).
    #[inline(always)]
    fn add_upstream(&mut self, size: u64, lookup: Lookup) {
        match lookup {
            Lookup::Hit => {}
            Lookup::Refresh => {
                self.misses += 1;
                self.refreshes += 1;
            }
            Lookup::Miss => {
                self.misses += 1;
                self.byte_misses += size;
            }
        }
    }
}

/// One point of the grid as given: its eviction, cache policy and capacity per tier.
#[derive(Clone, Copy)]
pub(crate) struct PointSpec<'p> {
    pub(crate) eviction: Eviction,
    pub(crate) policy: Option<&'p PolicyChoice>,
    /// Bytes per cache of each tier, indexed by [`Tier`] (unused tiers: 0).
    pub(crate) capacities: [u64; 3],
}

/// What one point did over the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PointCounts {
    /// Per tier, indexed by [`Tier`]: what reached it and what it missed.
    pub(crate) tiers: [Counts; 3],
    /// Per tier: the caches that served requests.
    pub(crate) caches: [usize; 3],
    /// What reached the origin: misses (revalidations included) and bytes fetched.
    pub(crate) origin: Counts,
}

/// The outcome of the loop.
pub(crate) struct Run {
    pub(crate) requests: u64,
    pub(crate) bytes: u64,
    /// Distinct objects by path (the key without query strings).
    pub(crate) objects: u64,
    /// One per point, in the order given.
    pub(crate) points: Vec<PointCounts>,
}

/// A stored object's fill time (ms, scaled) and class index, packed: `ms << 3 | class`.
const UNFILLED: u64 = u64::MAX;

/// A cache and, under a cache policy, each object's fill time and class by its number.
struct Slot {
    lane: Lane,
    fills: Vec<u64>,
}

/// A request as one cache sees it: its number there, its id, size and class.
#[derive(Clone, Copy)]
struct Ask {
    object: u32,
    id: u64,
    size: u64,
    class: usize,
    now: u64,
}

impl Slot {
    fn new(eviction: Eviction, capacity: u64, objects: usize) -> Self {
        Slot {
            lane: Lane::new(eviction, capacity, objects),
            fills: Vec::new(),
        }
    }

    fn fill(&mut self, object: u32, now: u64, class: usize) {
        let at = object as usize;
        if at >= self.fills.len() {
            self.fills.resize(at + 1, UNFILLED);
        }
        // Times in ms stay below 2^61; the class index is below 8.
        self.fills[at] = now << 3 | class as u64;
    }

    /// Serves `ask` under `policy` (none: nothing expires, everything is stored). A class the
    /// policy does not store passes by without touching the cache; an expired copy is
    /// revalidated (a refresh) and fresh again from `now`.
    #[inline(always)]
    fn serve(&mut self, policy: Option<&PolicyChoice>, ask: Ask, headers: &HeaderMap) -> Lookup {
        let Some(policy) = policy else {
            return match self.lane.get(ask.object, ask.id, ask.size) {
                true => Lookup::Hit,
                false => Lookup::Miss,
            };
        };
        if policy.admission_at(ask.class) == Admission::Pass {
            return Lookup::Miss;
        }
        if !self.lane.get(ask.object, ask.id, ask.size) {
            self.fill(ask.object, ask.now, ask.class);
            return Lookup::Miss;
        }
        let packed = self
            .fills
            .get(ask.object as usize)
            .copied()
            .unwrap_or(UNFILLED);
        if packed == UNFILLED {
            return Lookup::Hit;
        }
        let (filled, stored_class) = (packed >> 3, (packed & 7) as usize);
        let Admission::Store(lifetime) = policy.admission_at(stored_class) else {
            return Lookup::Hit;
        };
        let age = Duration::from_millis(ask.now.saturating_sub(filled));
        match edgelab_policy::freshness(&lifetime, age, headers, policy.config.rfc) {
            Freshness::Fresh => Lookup::Hit,
            Freshness::StaleWhileRevalidate | Freshness::Stale { .. } => {
                self.fill(ask.object, ask.now, ask.class);
                Lookup::Refresh
            }
        }
    }
}

/// Where one request goes under one key rule: its id and numbers at each tier.
#[derive(Clone, Copy, Default)]
struct Route {
    id: u64,
    /// The key rule's number (the shield's, and the one cache's without tiers).
    object: u32,
    pop: usize,
    /// Its number at its PoP.
    at_pop: u32,
    /// Its REC and its number there.
    rec: Option<(usize, u32)>,
}

/// A rule naming objects: the query parameters a cache key keeps, and the numbers it gives.
struct KeyRule {
    selection: Selection,
    objects: ObjectIndex,
    /// Per PoP, then per REC (with tiers): the numbers of the objects asked there.
    pops: Vec<ObjectIndex>,
    recs: Vec<ObjectIndex>,
}

impl KeyRule {
    fn new(selection: Selection, objects: usize) -> Self {
        KeyRule {
            selection,
            objects: ObjectIndex::with_capacity(objects),
            pops: Vec::new(),
            recs: Vec::new(),
        }
    }

    /// Names `request`, whose query string is `query` (routed to `pop` and `rec` with tiers).
    #[inline(always)]
    fn route(
        &mut self,
        request: &Request,
        query: Option<&str>,
        tiers: Option<(usize, Option<usize>)>,
    ) -> Route {
        let id = match self.selection {
            Selection::None => request.id,
            _ => request.key_id(query, &self.selection),
        };
        let object = self.objects.index(id);
        let Some((pop, rec)) = tiers else {
            return Route {
                id,
                object,
                at_pop: object,
                ..Route::default()
            };
        };
        let local = |tables: &mut Vec<ObjectIndex>, at: usize| {
            if tables.len() <= at {
                tables.resize_with(at + 1, ObjectIndex::default);
            }
            tables[at].index(id)
        };
        Route {
            id,
            object,
            pop,
            at_pop: local(&mut self.pops, pop),
            rec: rec.map(|rec| (rec, local(&mut self.recs, rec))),
        }
    }
}

/// The one cache of a point without tiers, kept apart from the point so that the caches of
/// a one-tier grid lie side by side: what each request touches is the cache and its counts.
struct Lone<'p> {
    slot: Slot,
    policy: Option<&'p PolicyChoice>,
    rule: usize,
    /// What it sent upstream (its requests and bytes are every request's).
    upstream: Counts,
}

impl Lone<'_> {
    /// Serves the object numbered `object` (id `id`) without a cache policy.
    #[inline(always)]
    fn serve_plain(&mut self, object: u32, id: u64, size: u64) {
        if !self.slot.lane.get(object, id, size) {
            self.upstream.misses += 1;
            self.upstream.byte_misses += size;
        }
    }

    #[inline(always)]
    fn serve(&mut self, route: &Route, size: u64, class: usize, now: u64, h: &HeaderMap) {
        let ask = Ask {
            object: route.object,
            id: route.id,
            size,
            class,
            now,
        };
        let last = self.slot.serve(self.policy, ask, h);
        self.upstream.add_upstream(size, last);
    }

    /// The counts of a point whose one cache this is, over `requests` of `bytes`.
    fn finish(self, requests: u64, bytes: u64) -> PointCounts {
        let counts = Counts {
            requests,
            bytes,
            ..self.upstream
        };
        PointCounts {
            tiers: [counts, Counts::default(), Counts::default()],
            caches: [1, 0, 0],
            origin: counts,
        }
    }
}

/// The caches of one point: one per PoP (one in all without tiers), per REC, the shield.
struct Point<'p> {
    spec: PointSpec<'p>,
    /// Index of its key rule.
    rule: usize,
    pops: Vec<Slot>,
    recs: Vec<Slot>,
    shield: Option<Slot>,
    counts: PointCounts,
}

impl<'p> Point<'p> {
    fn new(spec: PointSpec<'p>, rule: usize, shield: bool) -> Self {
        let capacity = |tier: Tier| spec.capacities[tier as usize];
        Point {
            shield: shield.then(|| Slot::new(spec.eviction, capacity(Tier::Shield), 0)),
            pops: Vec::new(),
            recs: Vec::new(),
            rule,
            spec,
            counts: PointCounts {
                tiers: [Counts::default(); 3],
                caches: [0; 3],
                origin: Counts::default(),
            },
        }
    }

    fn slot(slots: &mut Vec<Slot>, at: usize, eviction: Eviction, capacity: u64) -> &mut Slot {
        if slots.len() <= at {
            slots.resize_with(at + 1, || Slot::new(eviction, capacity, 0));
        }
        &mut slots[at]
    }

    /// Serves one request through the tiers; what the origin saw of it is counted.
    #[inline]
    fn serve(&mut self, route: &Route, size: u64, class: usize, now: u64, headers: &HeaderMap) {
        let (eviction, policy) = (self.spec.eviction, self.spec.policy);
        let capacity = self.spec.capacities;
        let mut ask = Ask {
            object: route.at_pop,
            id: route.id,
            size,
            class,
            now,
        };
        let pop = Self::slot(&mut self.pops, route.pop, eviction, capacity[0]);
        let mut last = pop.serve(policy, ask, headers);
        self.counts.tiers[0].add(size, last);
        if last != Lookup::Hit
            && let Some((rec, at_rec)) = route.rec
        {
            ask.object = at_rec;
            let rec = Self::slot(&mut self.recs, rec, eviction, capacity[1]);
            last = rec.serve(policy, ask, headers);
            self.counts.tiers[1].add(size, last);
        }
        if last != Lookup::Hit
            && let Some(shield) = &mut self.shield
        {
            ask.object = route.object;
            last = shield.serve(policy, ask, headers);
            self.counts.tiers[2].add(size, last);
        }
        self.counts.origin.add(size, last);
    }

    fn finish(mut self) -> PointCounts {
        let served = |slots: &[Slot], counts: &Counts| match counts.requests {
            0 => 0,
            _ => slots.len(),
        };
        self.counts.caches = [
            served(&self.pops, &self.counts.tiers[0]),
            served(&self.recs, &self.counts.tiers[1]),
            usize::from(self.shield.is_some()),
        ];
        self.counts
    }
}

/// libCacheSim's model: no tiers, no policy, the path names the object. A request is one
/// lookup of its number in `objects` and one list access per cache of `lones`. Returns the
/// requests and bytes replayed.
fn plain<T: Trace>(
    requests: T,
    objects: &mut ObjectIndex,
    lones: &mut [Lone<'_>],
) -> Result<(u64, u64), TraceError> {
    let (mut total, mut bytes) = (0u64, 0u64);
    for request in requests {
        let request = request?;
        total += 1;
        bytes += request.size;
        let object = objects.index(request.id);
        for lone in lones.iter_mut() {
            lone.serve_plain(object, request.id, request.size);
        }
    }
    Ok((total, bytes))
}

/// Replays `requests` through every point of `specs`: one cache per point without `router`,
/// else the tiers `router` routes through. Cache policies expire objects on the trace's time
/// divided by `speed`.
pub(crate) fn run<T: Trace>(
    mut requests: T,
    specs: &[PointSpec<'_>],
    mut router: Option<&mut Router>,
    speed: f64,
) -> Result<Run, TraceError> {
    // Without tiers, room up front for as many objects as half the requests the reader can
    // still yield (a binary trace knows its length), at most 2^18 (4 MiB a cache); the tables
    // grow past that. With tiers each PoP's tables grow with what it sees.
    let (least, most) = requests.size_hint();
    let expected = (most.unwrap_or(least) / 2).min(1 << 18);
    let shield = router.as_ref().is_some_and(|r| r.tiers().shield);
    let mut rules = vec![KeyRule::new(Selection::None, expected)];
    let mut points: Vec<Point<'_>> = specs
        .iter()
        .map(|&spec| {
            let selection = spec
                .policy
                .map_or(Selection::None, |p| p.config.query_strings.clone());
            let rule = match rules.iter().position(|r| r.selection == selection) {
                Some(at) => at,
                None => {
                    rules.push(KeyRule::new(selection, expected));
                    rules.len() - 1
                }
            };
            Point::new(spec, rule, shield)
        })
        .collect();
    // Without tiers each point is its one cache, with room for the expected objects.
    let mut lones: Vec<Lone<'_>> = match router {
        Some(_) => Vec::new(),
        None => points
            .iter()
            .map(|point| Lone {
                slot: Slot::new(point.spec.eviction, point.spec.capacities[0], expected),
                policy: point.spec.policy,
                rule: point.rule,
                upstream: Counts::default(),
            })
            .collect(),
    };
    let timed = specs.iter().any(|spec| spec.policy.is_some());
    let (mut total, mut bytes) = (0u64, 0u64);
    if router.is_none() && !timed {
        let objects = &mut rules[0].objects;
        let (total, bytes) = plain(requests, objects, &mut lones)?;
        return Ok(Run {
            requests: total,
            bytes,
            objects: objects.len() as u64,
            points: lones.into_iter().map(|l| l.finish(total, bytes)).collect(),
        });
    }
    let headers = HeaderMap::new();
    let mut routes = vec![Route::default(); rules.len()];
    while let Some(request) = requests.next() {
        let request = request?;
        total += 1;
        bytes += request.size;
        let tiers = router.as_deref_mut().map(|r| r.route(request.pop));
        // Every rule is some point's, but the first (the path), which counts the objects.
        if let [only] = rules.as_mut_slice() {
            routes[0] = only.route(&request, None, tiers);
        } else {
            let query = requests.query();
            for (rule, route) in rules.iter_mut().zip(&mut routes) {
                *route = rule.route(&request, query, tiers);
            }
        }
        // Time and class only matter to a cache policy.
        let (now, class) = match timed {
            true => (scaled_ms(request.time, speed), class_index(request.class)),
            false => (0, 0),
        };
        if let (None, [route]) = (tiers, routes.as_slice()) {
            for lone in &mut lones {
                lone.serve(route, request.size, class, now, &headers);
            }
        } else if tiers.is_none() {
            for lone in &mut lones {
                lone.serve(&routes[lone.rule], request.size, class, now, &headers);
            }
        } else {
            for point in &mut points {
                point.serve(&routes[point.rule], request.size, class, now, &headers);
            }
        }
    }
    let points: Vec<PointCounts> = if router.is_none() {
        let lones = lones.into_iter();
        lones.map(|lone| lone.finish(total, bytes)).collect()
    } else {
        points.into_iter().map(Point::finish).collect()
    };
    Ok(Run {
        requests: total,
        bytes,
        objects: rules[0].objects.len() as u64,
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::choice;
    use edgelab_wire::Class;

    #[test]
    fn an_expired_object_is_refreshed_and_fresh_again_after() {
        let short = choice("CachingOptimized", [Some(0), Some(2), Some(2)]);
        let none = HeaderMap::new();
        let ask = |class: Option<Class>, now| Ask {
            object: 0,
            id: 1,
            size: 10,
            class: class_index(class),
            now,
        };
        let mut slot = Slot::new(Eviction::Lru, 100, 0);
        let mut at = |ms| slot.serve(Some(&short), ask(Some(Class::Img), ms), &none);
        assert_eq!(
            [at(0), at(1_999), at(2_000), at(3_000), at(4_500)],
            [
                Lookup::Miss,
                Lookup::Hit,
                Lookup::Refresh,
                Lookup::Hit,
                Lookup::Refresh
            ]
        );
        let api = |now| ask(Some(Class::Api), now);
        let mut other = Slot::new(Eviction::Lru, 100, 0);
        assert_eq!(other.serve(Some(&short), api(0), &none), Lookup::Miss);
        assert_eq!(other.serve(Some(&short), api(1), &none), Lookup::Miss);
        assert_eq!(other.serve(None, api(1), &none), Lookup::Miss);
        assert_eq!(other.serve(None, api(1_000_000), &none), Lookup::Hit);
        assert_eq!(scaled_ms(10, 4.0), 2_500);
    }
}
