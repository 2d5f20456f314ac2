//! The reference replay the engine is checked against (tests only): the obvious way, one
//! grid point at a time, each cache keyed by object id through its own hash table
//! ([`Eviction::build`]), each fill time in a hash map, the tiers asked one after another.

use std::time::Duration;

use edgelab_policy::Freshness;
use foldhash::HashMap;
use http::HeaderMap;

use crate::cache::{Cache, Eviction};
use crate::policy::{Admission, Lookup, PolicyChoice, class_index, scaled_ms};
use crate::trace::Request;

/// A cache under a policy: the eviction policy's cache plus, per stored object, when it was
/// filled (or last revalidated) and its class.
struct PolicyCache {
    cache: Box<dyn Cache>,
    filled: HashMap<u64, (u64, usize)>,
}

impl PolicyCache {
    fn new(eviction: Eviction, capacity: u64) -> Self {
        PolicyCache {
            cache: eviction.build(capacity),
            filled: HashMap::default(),
        }
    }

    fn serve(&mut self, choice: Option<&PolicyChoice>, id: u64, r: &Request, now: u64) -> Lookup {
        let Some(choice) = choice else {
            return if self.cache.get(id, r.size) {
                Lookup::Hit
            } else {
                Lookup::Miss
            };
        };
        let class = class_index(r.class);
        if choice.admission_at(class) == Admission::Pass {
            return Lookup::Miss;
        }
        if !self.cache.get(id, r.size) {
            self.filled.insert(id, (now, class));
            return Lookup::Miss;
        }
        let Some(&(filled, stored)) = self.filled.get(&id) else {
            return Lookup::Hit;
        };
        let Admission::Store(lifetime) = choice.admission_at(stored) else {
            return Lookup::Hit;
        };
        let age = Duration::from_millis(now.saturating_sub(filled));
        let headers = HeaderMap::new();
        match edgelab_policy::freshness(&lifetime, age, &headers, choice.config.rfc) {
            Freshness::Fresh => Lookup::Hit,
            _ => {
                self.filled.insert(id, (now, class));
                Lookup::Refresh
            }
        }
    }
}

/// What a tier (or the origin) saw: requests, misses, refreshes, byte misses.
pub(crate) type Seen = [u64; 4];

fn add(seen: &mut Seen, size: u64, lookup: Lookup) {
    seen[0] += 1;
    match lookup {
        Lookup::Hit => {}
        Lookup::Refresh => {
            seen[1] += 1;
            seen[2] += 1;
        }
        Lookup::Miss => {
            seen[1] += 1;
            seen[3] += size;
        }
    }
}

/// One grid point of the reference: eviction, policy, capacity per tier (0: no such tier;
/// the shield's 0 means no shield).
pub(crate) struct Point<'p> {
    pub(crate) eviction: Eviction,
    pub(crate) policy: Option<&'p PolicyChoice>,
    pub(crate) capacities: [u64; 3],
}

/// Replays `trace` (requests with their query strings) at `point`: each request to the PoP
/// and REC `route` names, then the shield; per tier and at the origin what was seen.
pub(crate) fn replay(
    trace: &[(Request, Option<String>)],
    point: &Point<'_>,
    speed: f64,
    route: &mut dyn FnMut(&Request) -> (usize, Option<usize>),
) -> [Seen; 4] {
    let cache = |capacity| PolicyCache::new(point.eviction, capacity);
    let mut pops: HashMap<usize, PolicyCache> = HashMap::default();
    let mut recs: HashMap<usize, PolicyCache> = HashMap::default();
    let mut shield = (point.capacities[2] > 0).then(|| cache(point.capacities[2]));
    let mut seen = [[0; 4]; 4];
    for (request, query) in trace {
        let id = match point.policy {
            Some(policy) => request.key_id(query.as_deref(), &policy.config.query_strings),
            None => request.id,
        };
        let now = scaled_ms(request.time, speed);
        let (pop, rec) = route(request);
        let pop = pops
            .entry(pop)
            .or_insert_with(|| cache(point.capacities[0]));
        let mut last = pop.serve(point.policy, id, request, now);
        add(&mut seen[0], request.size, last);
        if let (false, Some(rec)) = (last == Lookup::Hit, rec) {
            let rec = recs
                .entry(rec)
                .or_insert_with(|| cache(point.capacities[1]));
            last = rec.serve(point.policy, id, request, now);
            add(&mut seen[1], request.size, last);
        }
        if let (false, Some(shield)) = (last == Lookup::Hit, shield.as_mut()) {
            last = shield.serve(point.policy, id, request, now);
            add(&mut seen[2], request.size, last);
        }
        add(&mut seen[3], request.size, last);
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyGrid;
    use crate::sim::Outcome;
    use crate::tiers::{Router, TierSet, capacity_grid};
    use edgelab_policy::{CachePolicyConfig, Selection};
    use edgelab_wire::Class;

    /// A generated trace: popularity skewed over 400 objects, sizes that sometimes differ
    /// from the stored one, times 0 to 3 s apart, six PoPs (one not an edge location), every
    /// class and three query strings.
    fn generated(requests: usize) -> Vec<(Request, Option<String>)> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        let pops = [*b"FRA", *b"MUC", *b"SYD", *b"NRT", *b"IAD", *b"ZZZ"];
        let classes = [Class::Static, Class::Img, Class::Api, Class::Video];
        let queries = [None, Some("v=1"), Some("x=3&v=2")];
        let mut time = 1_700_000_000;
        (0..requests)
            .map(|_| {
                time += next(4);
                let spread = next(400) + 1;
                let id = next(spread);
                let size = 100 + (id * 37) % 900 + if next(10) == 0 { next(500) } else { 0 };
                let request = Request {
                    time,
                    id,
                    size,
                    pop: Some(pops[next(6) as usize]),
                    class: (id % 5 < 4).then(|| classes[(id % 4) as usize]),
                };
                (request, queries[next(3) as usize].map(str::to_owned))
            })
            .collect()
    }

    /// The policies checked: three presets (rfc9111 keys on every query string) and a
    /// custom one with short TTLs keying on `v` alone.
    fn policies() -> PolicyGrid {
        let mut custom = CachePolicyConfig::preset("CachingOptimized").expect("a preset");
        let s = Duration::from_secs;
        custom.set_ttls(Some(s(0)), Some(s(5)), Some(s(5)));
        custom.query_strings = Selection::Only(vec!["v".into()]);
        let presets = [
            "CachingOptimized",
            "UseOriginCacheControlHeaders",
            "rfc9111",
        ];
        let mut choices: Vec<PolicyChoice> = presets
            .iter()
            .map(|p| PolicyChoice::new(CachePolicyConfig::preset(p).expect("a preset")))
            .collect();
        choices.push(PolicyChoice::new(custom));
        PolicyGrid {
            choices,
            speed: 2.0,
        }
    }

    fn seen(outcome: &Outcome) -> Seen {
        [
            outcome.requests,
            outcome.misses,
            outcome.refreshes.unwrap_or(0),
            outcome.byte_misses,
        ]
    }

    #[test]
    fn the_engine_agrees_with_the_reference_through_tiers_under_every_policy() {
        let trace = generated(6_000);
        let tiers: TierSet = "pop,rec,shield".parse().unwrap();
        let origin = edgelab_geo::Topology::embedded()
            .resolve("us-east-1")
            .unwrap();
        let items = ["pop=3000", "pop=30000", "rec=60000", "shield=150000"];
        let grid = capacity_grid(tiers, &items.map(|c| c.parse().unwrap())).unwrap();
        for policies in [PolicyGrid::none(), policies()] {
            let router = Router::new(tiers, origin.coordinates());
            let report = crate::simulate_tiered_policies(
                trace.iter().cloned().collect::<crate::trace::Queried>(),
                &Eviction::ALL,
                router,
                grid.clone(),
                &policies,
            )
            .unwrap();
            let results = report.tiers.expect("tiered").results;
            let mut want = Vec::new();
            let mut router = Router::new(tiers, origin.coordinates());
            let mut route = |r: &Request| router.route(r.pop);
            for eviction in Eviction::ALL {
                for policy in policies.points() {
                    for capacities in &grid {
                        let capacities = capacities.per_tier();
                        let point = Point {
                            eviction,
                            policy,
                            capacities,
                        };
                        want.push(replay(&trace, &point, policies.speed, &mut route));
                    }
                }
            }
            assert_eq!(results.len(), want.len());
            for (got, want) in results.iter().zip(&want) {
                let tiers: Vec<Seen> = got.tiers.iter().map(seen).collect();
                assert_eq!(tiers, want[..3], "{} {:?}", got.eviction, got.policy);
                let origin = (got.origin_requests, got.origin_bytes);
                assert_eq!(origin, (want[3][1], want[3][3]));
            }
        }
    }

    #[test]
    fn the_engine_agrees_with_the_reference_in_one_tier_under_every_policy() {
        let trace = generated(6_000);
        let capacities = [2_000, 20_000, 200_000];
        for policies in [PolicyGrid::none(), policies()] {
            let report = crate::simulate_policies(
                trace.iter().cloned().collect::<crate::trace::Queried>(),
                &Eviction::ALL,
                &capacities,
                &policies,
            )
            .unwrap();
            let mut want = Vec::new();
            for eviction in Eviction::ALL {
                for policy in policies.points() {
                    for capacity in capacities {
                        let point = Point {
                            eviction,
                            policy,
                            capacities: [capacity, 0, 0],
                        };
                        want.push(replay(&trace, &point, policies.speed, &mut |_| (0, None))[0]);
                    }
                }
            }
            let got: Vec<Seen> = report.results.iter().map(seen).collect();
            assert_eq!(got, want);
        }
        // The trace exercises what is compared: revalidations under the short TTLs.
        let report = crate::simulate_policies(
            trace.iter().cloned().collect::<crate::trace::Queried>(),
            &[Eviction::Lru],
            &[1 << 30],
            &policies(),
        )
        .unwrap();
        assert!(
            report.results[3].refreshes > Some(1_000),
            "{:?}",
            report.results[3]
        );
    }
}
