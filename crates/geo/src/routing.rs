//! Routing as pure functions: which PoP a client uses, which REC an edge uses, which REC is
//! the Origin Shield, and where Global Accelerator sends a connection.
//!
//! Every function works on an arbitrary subset of candidates (a topology may configure only a
//! handful of PoPs) and breaks ties by the PoP key, so the same inputs give the same answer.

use std::collections::BTreeSet;

use rand::{Rng, RngExt};

use crate::model::{HopModel, LatencyModel, PathClass};
use crate::places::{Coordinates, Pop};

fn lowest<'a>(
    candidates: impl Iterator<Item = &'a Pop>,
    cost: impl Fn(&Pop) -> f64,
) -> Option<&'a Pop> {
    candidates
        .map(|p| (cost(p), p))
        .min_by(|(ca, a), (cb, b)| ca.total_cmp(cb).then_with(|| a.key().cmp(&b.key())))
        .map(|(_, p)| p)
}

/// The healthy PoP with the lowest modelled client RTT (latency-based DNS, as CloudFront
/// does). `None` when no candidate is healthy.
pub fn nearest_pop<'a>(
    client: Coordinates,
    candidates: &[&'a Pop],
    healthy: impl Fn(&Pop) -> bool,
    model: &LatencyModel,
) -> Option<&'a Pop> {
    lowest(candidates.iter().copied().filter(|p| healthy(p)), |p| {
        model.rtt_ms(client, p.coordinates, PathClass::Internet)
    })
}

/// The REC an edge uses: the candidate with the lowest backbone RTT from the edge.
pub fn nearest_rec<'a>(pop: &Pop, recs: &[&'a Pop], model: &LatencyModel) -> Option<&'a Pop> {
    lowest(recs.iter().copied(), |r| {
        model.rtt_ms(pop.coordinates, r.coordinates, PathClass::Backbone)
    })
}

/// The Origin Shield for an origin: the REC with the lowest backbone RTT to the origin's
/// place (CloudFront advises the shield in or nearest the origin's Region).
pub fn choose_shield<'a>(
    origin: Coordinates,
    recs: &[&'a Pop],
    model: &LatencyModel,
) -> Option<&'a Pop> {
    lowest(recs.iter().copied(), |r| {
        model.rtt_ms(origin, r.coordinates, PathClass::Backbone)
    })
}

/// Places that are down: whole Regions, single Availability Zones, single PoPs (by key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failures {
    /// Region codes that are down.
    pub regions: BTreeSet<String>,
    /// AZ ids that are down.
    pub azs: BTreeSet<String>,
    /// PoP keys (`FRA`, `rec:FRA`) that are down.
    pub pops: BTreeSet<String>,
}

impl Failures {
    /// No failures.
    pub fn none() -> Self {
        Failures::default()
    }

    /// Whether a PoP is up.
    pub fn pop_up(&self, pop: &Pop) -> bool {
        !self.pops.contains(&pop.key())
    }

    /// Whether an endpoint is up: its own health, its Region's and its AZ's.
    pub fn endpoint_up(&self, endpoint: &Endpoint) -> bool {
        endpoint.healthy
            && !self.regions.contains(&endpoint.region)
            && endpoint.az.as_ref().is_none_or(|az| !self.azs.contains(az))
    }
}

/// One Global Accelerator endpoint (e.g. a load balancer or instance in an AZ).
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Name, for reports.
    pub id: String,
    /// The Region it runs in.
    pub region: String,
    /// The AZ it runs in, if known.
    pub az: Option<String>,
    /// Relative weight within its group (0 takes no traffic unless failing open).
    pub weight: u32,
    /// Its own health-check result.
    pub healthy: bool,
}

/// A Global Accelerator endpoint group: the endpoints of one Region.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointGroup {
    /// Region code.
    pub region: String,
    /// Where the Region is.
    pub coordinates: Coordinates,
    /// Share of the traffic routed to this group that it keeps, 0.0–1.0 (AWS: 0–100 %);
    /// the rest goes on to the next nearest group.
    pub traffic_dial: f64,
    /// The endpoints.
    pub endpoints: Vec<Endpoint>,
}

/// Where Global Accelerator sends one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct GaRoute<'a> {
    /// The anycast entry PoP (nearest healthy to the client).
    pub entry: &'a Pop,
    /// Index of the chosen group in the input.
    pub group: usize,
    /// Index of the chosen endpoint within the group.
    pub endpoint: usize,
    /// Groups skipped because they had no healthy endpoint (at most 3 are tried past the
    /// nearest).
    pub failovers: usize,
    /// True when no group within reach was healthy and traffic was sent regardless of
    /// health (GA fails open).
    pub failed_open: bool,
    /// Client → entry PoP (last mile + internet).
    pub client_hop: HopModel,
    /// Entry PoP → endpoint Region over the backbone.
    pub backbone_hop: HopModel,
}

/// How many next-nearest groups a group with no healthy endpoint fails over to.
pub const GA_MAX_FAILOVER_GROUPS: usize = 3;

fn pick_weighted<R: Rng + ?Sized>(
    endpoints: &[Endpoint],
    usable: impl Fn(&Endpoint) -> bool,
    rng: &mut R,
) -> Option<usize> {
    let total: u64 = endpoints
        .iter()
        .filter(|e| usable(e))
        .map(|e| u64::from(e.weight))
        .sum();
    if total == 0 {
        return None;
    }
    let mut ticket = rng.random_range(0..total);
    for (i, e) in endpoints.iter().enumerate() {
        if !usable(e) {
            continue;
        }
        let w = u64::from(e.weight);
        if ticket < w {
            return Some(i);
        }
        ticket -= w;
    }
    None
}

/// Routes one connection through Global Accelerator.
///
/// 1. The client enters at its nearest healthy PoP (internet RTT).
/// 2. Groups are ordered by backbone RTT from the entry PoP.
/// 3. Walking that order, a group with a healthy, weighted endpoint keeps the connection with
///    probability equal to its traffic dial, else the connection spills to the next group.
///    A group with no healthy endpoint is skipped as a failover; after
///    [`GA_MAX_FAILOVER_GROUPS`] failovers the next unhealthy group ends the walk.
/// 4. If every dial spilled, the nearest healthy group within reach takes it.
/// 5. If no group within reach has a healthy endpoint, GA fails open: the nearest group with
///    any weighted endpoint takes it, health ignored.
///
/// The endpoint within a group is drawn by weight among the usable endpoints. `None` only
/// when there is no healthy entry PoP or no group has a weighted endpoint.
pub fn ga_route<'a, R: Rng + ?Sized>(
    client: Coordinates,
    pops: &[&'a Pop],
    groups: &[EndpointGroup],
    failures: &Failures,
    model: &LatencyModel,
    rng: &mut R,
) -> Option<GaRoute<'a>> {
    let entry = nearest_pop(client, pops, |p| failures.pop_up(p), model)?;
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = model.rtt_ms(
            entry.coordinates,
            groups[a].coordinates,
            PathClass::Backbone,
        );
        let rb = model.rtt_ms(
            entry.coordinates,
            groups[b].coordinates,
            PathClass::Backbone,
        );
        ra.total_cmp(&rb)
            .then_with(|| groups[a].region.cmp(&groups[b].region))
    });
    let reach = &order[..order.len().min(1 + GA_MAX_FAILOVER_GROUPS)];
    let healthy = |g: &EndpointGroup| {
        g.endpoints
            .iter()
            .any(|e| e.weight > 0 && failures.endpoint_up(e))
    };
    let build = |group: usize, endpoint: usize, failovers: usize, failed_open: bool| GaRoute {
        entry,
        group,
        endpoint,
        failovers,
        failed_open,
        client_hop: model.client_hop(client, entry.coordinates),
        backbone_hop: model.hop(
            entry.coordinates,
            groups[group].coordinates,
            PathClass::Backbone,
        ),
    };

    // Traffic dials: each group in distance order may keep its share; a group with no
    // healthy endpoint is a failover, and past the failover limit the walk stops.
    let mut failovers = 0;
    for &g in &order {
        let group = &groups[g];
        if !healthy(group) {
            failovers += 1;
            if failovers > GA_MAX_FAILOVER_GROUPS {
                break;
            }
            continue;
        }
        let dial = group.traffic_dial.clamp(0.0, 1.0);
        if dial > 0.0 && (dial >= 1.0 || rng.random::<f64>() < dial) {
            let endpoint = pick_weighted(&group.endpoints, |e| failures.endpoint_up(e), rng)?;
            return Some(build(g, endpoint, failovers, false));
        }
    }
    // Every dial spilled: the nearest healthy group within reach takes it.
    if let Some((rank, &g)) = reach
        .iter()
        .enumerate()
        .find(|(_, g)| healthy(&groups[**g]))
    {
        let endpoint = pick_weighted(&groups[g].endpoints, |e| failures.endpoint_up(e), rng)?;
        return Some(build(g, endpoint, rank, false));
    }
    // Fail open: health ignored.
    let g = *order
        .iter()
        .find(|g| groups[**g].endpoints.iter().any(|e| e.weight > 0))?;
    let endpoint = pick_weighted(&groups[g].endpoints, |_| true, rng)?;
    Some(build(g, endpoint, reach.len().saturating_sub(1), true))
}

/// [`ga_route`] with its draws taken from a generator seeded with `seed` (for callers that
/// route one connection, such as the command line).
pub fn ga_route_seeded<'a>(
    client: Coordinates,
    pops: &[&'a Pop],
    groups: &[EndpointGroup],
    failures: &Failures,
    model: &LatencyModel,
    seed: u64,
) -> Option<GaRoute<'a>> {
    let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(seed);
    ga_route(client, pops, groups, failures, model, &mut rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Topology;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn pops(keys: &[&str]) -> Vec<&'static Pop> {
        keys.iter()
            .map(|k| Topology::embedded().pop(k).expect("known pop"))
            .collect()
    }

    fn city(name: &str) -> Coordinates {
        Topology::embedded().resolve(name).unwrap().coordinates()
    }

    /// The Global Accelerator route from `place` under the default model.
    fn ga_from(
        place: &str,
        candidates: &[&'static Pop],
        groups: &[EndpointGroup],
        failures: &Failures,
        rng: &mut SmallRng,
    ) -> GaRoute<'static> {
        let model = LatencyModel::default();
        ga_route(city(place), candidates, groups, failures, &model, rng).expect("a route")
    }

    fn group(region: &str, dial: f64, endpoints: &[(&str, u32, bool)]) -> EndpointGroup {
        let r = Topology::embedded().region(region).unwrap();
        EndpointGroup {
            region: region.into(),
            coordinates: r.coordinates,
            traffic_dial: dial,
            endpoints: endpoints
                .iter()
                .enumerate()
                .map(|(i, (id, weight, healthy))| Endpoint {
                    id: id.to_string(),
                    region: region.into(),
                    az: r.az_ids.get(i % r.az_ids.len().max(1)).cloned(),
                    weight: *weight,
                    healthy: *healthy,
                })
                .collect(),
        }
    }

    #[test]
    fn client_goes_to_the_nearest_healthy_pop() {
        let model = LatencyModel::default();
        let candidates = pops(&["FRA", "LHR", "NRT", "IAD", "SYD", "GRU"]);
        let paris = city("Paris");
        let chosen = nearest_pop(paris, &candidates, |_| true, &model).unwrap();
        assert_eq!(chosen.code, "LHR");
        let chosen = nearest_pop(paris, &candidates, |p| p.code != "LHR", &model).unwrap();
        assert_eq!(chosen.code, "FRA");
        assert!(nearest_pop(paris, &candidates, |_| false, &model).is_none());
        assert!(nearest_pop(paris, &[], |_| true, &model).is_none());
    }

    #[test]
    fn edge_uses_its_nearest_rec_and_shield_is_nearest_the_origin() {
        let model = LatencyModel::default();
        let t = Topology::embedded();
        let recs: Vec<&Pop> = t.recs().collect();
        let cdg = t.pop("CDG").unwrap();
        assert_eq!(nearest_rec(cdg, &recs, &model).unwrap().key(), "rec:LHR");
        let mel = t.pop("MEL").unwrap();
        assert_eq!(nearest_rec(mel, &recs, &model).unwrap().key(), "rec:SYD");
        let origin = t.region("eu-central-1").unwrap().coordinates;
        assert_eq!(
            choose_shield(origin, &recs, &model).unwrap().key(),
            "rec:FRA"
        );
        let origin = t.region("us-west-2").unwrap().coordinates;
        assert_eq!(
            choose_shield(origin, &recs, &model).unwrap().key(),
            "rec:HIO"
        );
    }

    #[test]
    fn ga_enters_nearest_and_picks_the_nearest_group() {
        let candidates = pops(&["FRA", "IAD", "NRT"]);
        let groups = vec![
            group("us-east-1", 1.0, &[("a", 1, true)]),
            group("eu-central-1", 1.0, &[("b", 1, true)]),
            group("ap-northeast-1", 1.0, &[("c", 1, true)]),
        ];
        let mut rng = SmallRng::seed_from_u64(1);
        let route = ga_from("Berlin", &candidates, &groups, &Failures::none(), &mut rng);
        assert_eq!(route.entry.code, "FRA");
        assert_eq!(groups[route.group].region, "eu-central-1");
        assert!(!route.failed_open);
        assert_eq!(route.failovers, 0);
        assert!(route.backbone_hop.rtt < std::time::Duration::from_millis(5));
    }

    #[test]
    fn ga_fails_over_on_region_failure_then_fails_open() {
        let candidates = pops(&["FRA"]);
        let groups = vec![
            group("eu-central-1", 1.0, &[("a", 1, true)]),
            group("eu-west-1", 1.0, &[("b", 1, true)]),
        ];
        let mut rng = SmallRng::seed_from_u64(1);
        let mut failures = Failures::none();
        failures.regions.insert("eu-central-1".into());
        let route = ga_from("Frankfurt", &candidates, &groups, &failures, &mut rng);
        assert_eq!(groups[route.group].region, "eu-west-1");
        assert_eq!(route.failovers, 1);
        failures.regions.insert("eu-west-1".into());
        let route = ga_from("Frankfurt", &candidates, &groups, &failures, &mut rng);
        assert!(route.failed_open);
        assert_eq!(groups[route.group].region, "eu-central-1");
    }

    #[test]
    fn ga_failover_reaches_at_most_three_groups_past_the_nearest() {
        let candidates = pops(&["FRA"]);
        let groups = vec![
            group("eu-central-1", 1.0, &[("a", 1, false)]),
            group("eu-central-2", 1.0, &[("b", 1, false)]),
            group("eu-west-3", 1.0, &[("c", 1, false)]),
            group("eu-west-2", 1.0, &[("d", 1, false)]),
            group("ap-southeast-2", 1.0, &[("far", 1, true)]),
        ];
        let mut rng = SmallRng::seed_from_u64(1);
        let route = ga_from(
            "Frankfurt",
            &candidates,
            &groups,
            &Failures::none(),
            &mut rng,
        );
        // The fifth group is healthy but beyond three failovers: GA fails open at the nearest.
        assert!(route.failed_open);
        assert_eq!(groups[route.group].region, "eu-central-1");
        let mut groups = groups;
        groups[3].endpoints[0].healthy = true;
        let route = ga_from(
            "Frankfurt",
            &candidates,
            &groups,
            &Failures::none(),
            &mut rng,
        );
        assert!(!route.failed_open);
        assert_eq!(route.failovers, 3);
    }

    #[test]
    fn ga_az_failure_moves_traffic_to_the_other_endpoints() {
        let candidates = pops(&["FRA"]);
        let groups = vec![group(
            "eu-central-1",
            1.0,
            &[("a", 1, true), ("b", 1, true)],
        )];
        let mut failures = Failures::none();
        failures
            .azs
            .insert(groups[0].endpoints[0].az.clone().unwrap());
        let mut rng = SmallRng::seed_from_u64(9);
        for _ in 0..50 {
            let route = ga_from("Berlin", &candidates, &groups, &failures, &mut rng);
            assert_eq!(route.endpoint, 1);
        }
    }

    #[test]
    fn ga_dial_and_weights_split_traffic() {
        let candidates = pops(&["FRA"]);
        let groups = vec![
            group("eu-central-1", 0.25, &[("a", 3, true), ("b", 1, true)]),
            group("eu-west-1", 1.0, &[("c", 1, true)]),
        ];
        let mut rng = SmallRng::seed_from_u64(42);
        let mut counts = [0usize; 3];
        for _ in 0..4000 {
            let r = ga_from(
                "Frankfurt",
                &candidates,
                &groups,
                &Failures::none(),
                &mut rng,
            );
            counts[if r.group == 0 { r.endpoint } else { 2 }] += 1;
        }
        // 25 % stays in Frankfurt (split 3:1), 75 % spills to Ireland.
        assert!((650..850).contains(&counts[0]), "{counts:?}");
        assert!((170..330).contains(&counts[1]), "{counts:?}");
        assert!((2850..3150).contains(&counts[2]), "{counts:?}");
    }
}
