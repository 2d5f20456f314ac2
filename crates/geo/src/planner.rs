//! The one planner: the hop chain a request travels for a client and a CDN layout.
//!
//! Everything that needs a path asks here: the node planner of `edgelab-cluster` (each PoP's
//! upstream chain), the load-generator targets (where a client place sends its requests and
//! over which modelled hop) and `edgelab topology route` (the printed path). So the cache
//! tiers and Global Accelerator are modelled once:
//!
//! - [`CdnLayout::upstream_chain`]: PoP → its nearest REC → the Origin Shield → the origin,
//!   over the backbone (a PoP whose nearest REC is the shield goes to the shield directly).
//! - [`CdnLayout::cdn_path`]: client → nearest healthy PoP (last mile + internet), then the
//!   PoP's upstream chain.
//! - [`ga_path`]: client → anycast entry PoP, then the backbone to the endpoint chosen by
//!   [`ga_route_seeded`] (endpoint groups, traffic dials, weights, failover, fail-open).
//! - [`direct_hop`]: client → origin over last mile + internet.

use std::time::Duration;

use crate::model::{HopModel, LatencyModel, PathClass};
use crate::places::{Coordinates, Pop};
use crate::routing::{EndpointGroup, Failures, GaRoute, ga_route_seeded, nearest_pop, nearest_rec};

/// One stop on a request's path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop<'a> {
    /// The client.
    Client,
    /// An edge location.
    Pop(&'a Pop),
    /// A Regional Edge Cache.
    Rec(&'a Pop),
    /// The Origin Shield (a REC).
    Shield(&'a Pop),
    /// The origin.
    Origin,
    /// A Global Accelerator endpoint: indexes of the group and of the endpoint within it.
    Endpoint {
        /// Index of the group in the groups routed over.
        group: usize,
        /// Index of the endpoint within the group.
        endpoint: usize,
    },
}

/// How a hop is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopClass {
    /// A client's access network plus the public internet.
    Client,
    /// The provider's backbone.
    Backbone,
}

impl HopClass {
    /// The path class whose graph path the hop follows (a client's hop: the internet's).
    pub fn graph_class(self) -> PathClass {
        match self {
            HopClass::Client => PathClass::Internet,
            HopClass::Backbone => PathClass::Backbone,
        }
    }

    /// Label used in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            HopClass::Client => "last_mile+internet",
            HopClass::Backbone => "backbone",
        }
    }
}

/// One hop of a path with its modelled cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hop<'a> {
    /// Where it starts.
    pub from: Stop<'a>,
    /// Where it ends.
    pub to: Stop<'a>,
    /// How it is carried.
    pub class: HopClass,
    /// Its modelled cost.
    pub model: HopModel,
}

/// The hops of `path` composed in series (`None` for an empty path).
pub fn compose(path: &[Hop<'_>]) -> Option<HopModel> {
    let (first, rest) = path.split_first()?;
    Some(
        rest.iter()
            .fold(first.model, |acc, hop| acc.then(&hop.model)),
    )
}

/// Total base RTT of `path`.
pub fn total_rtt(path: &[Hop<'_>]) -> Duration {
    path.iter().map(|hop| hop.model.rtt).sum()
}

/// The cache tiers of a distribution as the planner sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct CdnLayout<'a> {
    /// Edge locations clients may be routed to.
    pub pops: Vec<&'a Pop>,
    /// Regional Edge Caches a PoP may use (its nearest one); empty when PoPs skip the REC
    /// tier.
    pub recs: Vec<&'a Pop>,
    /// The Origin Shield, if one runs.
    pub shield: Option<&'a Pop>,
    /// Where the origin is.
    pub origin: Coordinates,
}

impl<'a> CdnLayout<'a> {
    /// What `pop` does on a miss: its nearest usable REC (unless that is the shield), the
    /// shield, then the origin, every hop over the backbone. RECs that `failures` marks down
    /// are not used.
    pub fn upstream_chain(
        &self,
        pop: &'a Pop,
        failures: &Failures,
        model: &LatencyModel,
    ) -> Vec<Hop<'a>> {
        let recs: Vec<&'a Pop> = self
            .recs
            .iter()
            .copied()
            .filter(|rec| failures.pop_up(rec))
            .collect();
        let mut stops = vec![(Stop::Pop(pop), pop.coordinates)];
        match nearest_rec(pop, &recs, model) {
            Some(rec) if self.shield.is_some_and(|s| s.code == rec.code) => {}
            Some(rec) => stops.push((Stop::Rec(rec), rec.coordinates)),
            None => {}
        }
        if let Some(shield) = self.shield {
            stops.push((Stop::Shield(shield), shield.coordinates));
        }
        stops.push((Stop::Origin, self.origin));
        stops
            .windows(2)
            .map(|pair| Hop {
                from: pair[0].0,
                to: pair[1].0,
                class: HopClass::Backbone,
                model: model.hop(pair[0].1, pair[1].1, PathClass::Backbone),
            })
            .collect()
    }

    /// A cacheable request's path from `client`: to the nearest healthy PoP (latency-based
    /// DNS), then that PoP's [`CdnLayout::upstream_chain`]. `None` when no PoP is healthy.
    pub fn cdn_path(
        &self,
        client: Coordinates,
        failures: &Failures,
        model: &LatencyModel,
    ) -> Option<Vec<Hop<'a>>> {
        let pop = nearest_pop(client, &self.pops, |p| failures.pop_up(p), model)?;
        let mut path = vec![Hop {
            from: Stop::Client,
            to: Stop::Pop(pop),
            class: HopClass::Client,
            model: model.client_hop(client, pop.coordinates),
        }];
        path.extend(self.upstream_chain(pop, failures, model));
        Some(path)
    }
}

/// The path from `client` straight to the origin at `origin` (last mile + internet).
pub fn direct_hop(client: Coordinates, origin: Coordinates, model: &LatencyModel) -> Hop<'static> {
    Hop {
        from: Stop::Client,
        to: Stop::Origin,
        class: HopClass::Client,
        model: model.client_hop(client, origin),
    }
}

/// A Global Accelerator path: the routing decision and its two hops.
#[derive(Debug, Clone, PartialEq)]
pub struct GaPath<'a> {
    /// Entry PoP, chosen group and endpoint, failovers, fail-open.
    pub route: GaRoute<'a>,
    /// Client → entry PoP, entry PoP → endpoint.
    pub hops: Vec<Hop<'a>>,
}

/// Where Global Accelerator takes a connection from `client` ([`ga_route_seeded`] with
/// `seed`), as a path. `None` when no PoP is healthy or no group has a weighted endpoint.
pub fn ga_path<'a>(
    client: Coordinates,
    pops: &[&'a Pop],
    groups: &[EndpointGroup],
    failures: &Failures,
    model: &LatencyModel,
    seed: u64,
) -> Option<GaPath<'a>> {
    let route = ga_route_seeded(client, pops, groups, failures, model, seed)?;
    let endpoint = Stop::Endpoint {
        group: route.group,
        endpoint: route.endpoint,
    };
    let hops = vec![
        Hop {
            from: Stop::Client,
            to: Stop::Pop(route.entry),
            class: HopClass::Client,
            model: route.client_hop,
        },
        Hop {
            from: Stop::Pop(route.entry),
            to: endpoint,
            class: HopClass::Backbone,
            model: route.backbone_hop,
        },
    ];
    Some(GaPath { route, hops })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Topology;
    use crate::routing::{Endpoint, choose_shield};

    fn pop(key: &str) -> &'static Pop {
        Topology::embedded().pop(key).expect("known pop")
    }

    fn at(name: &str) -> Coordinates {
        Topology::embedded().resolve(name).unwrap().coordinates()
    }

    fn layout(shield: bool) -> CdnLayout<'static> {
        let t = Topology::embedded();
        let recs: Vec<&Pop> = t.recs().collect();
        let origin = at("us-east-1");
        CdnLayout {
            pops: vec![pop("LHR"), pop("FRA"), pop("NRT"), pop("IAD")],
            shield: if shield {
                choose_shield(origin, &recs, &LatencyModel::default())
            } else {
                None
            },
            recs,
            origin,
        }
    }

    #[test]
    fn a_london_client_goes_through_its_pop_rec_and_the_shield() {
        let model = LatencyModel::default();
        let path = layout(true)
            .cdn_path(at("London"), &Failures::none(), &model)
            .unwrap();
        let stops: Vec<String> = path
            .iter()
            .map(|h| match h.to {
                Stop::Pop(p) | Stop::Rec(p) | Stop::Shield(p) => p.key(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(stops, ["LHR", "rec:LHR", "rec:IAD", "Origin"]);
        assert_eq!(path[0].class, HopClass::Client);
        assert!(path[1..].iter().all(|h| h.class == HopClass::Backbone));
        assert!(matches!(path[2].to, Stop::Shield(_)));
        // Every hop starts where the previous one ended.
        for pair in path.windows(2) {
            assert_eq!(pair[0].to, pair[1].from);
        }
        let total = compose(&path).unwrap();
        assert_eq!(total.rtt, total_rtt(&path));
    }

    #[test]
    fn a_pop_whose_nearest_rec_is_the_shield_goes_to_the_shield_directly() {
        let model = LatencyModel::default();
        let chain = layout(true).upstream_chain(pop("IAD"), &Failures::none(), &model);
        assert_eq!(chain.len(), 2, "{chain:?}");
        assert!(matches!(chain[0].to, Stop::Shield(s) if s.code == "IAD"));
        assert_eq!(chain[1].to, Stop::Origin);
    }

    #[test]
    fn without_recs_or_shield_a_pop_goes_to_the_origin() {
        let model = LatencyModel::default();
        let mut layout = layout(false);
        layout.recs.clear();
        let chain = layout.upstream_chain(pop("NRT"), &Failures::none(), &model);
        assert_eq!(chain.len(), 1);
        assert!(
            chain[0].model.rtt > Duration::from_millis(100),
            "Tokyo to Virginia"
        );
    }

    #[test]
    fn down_pops_and_recs_are_routed_around() {
        let model = LatencyModel::default();
        let mut failures = Failures::none();
        failures.pops.insert("LHR".into());
        failures.pops.insert("rec:LHR".into());
        let path = layout(false)
            .cdn_path(at("London"), &failures, &model)
            .unwrap();
        assert!(matches!(path[0].to, Stop::Pop(p) if p.code == "FRA"));
        assert!(matches!(path[1].to, Stop::Rec(r) if r.code != "LHR"));
        let mut all_down = Failures::none();
        for code in ["LHR", "FRA", "NRT", "IAD"] {
            all_down.pops.insert(code.into());
        }
        assert!(
            layout(false)
                .cdn_path(at("London"), &all_down, &model)
                .is_none()
        );
    }

    #[test]
    fn ga_path_is_the_ga_route_as_two_hops() {
        let model = LatencyModel::default();
        let region = Topology::embedded().region("eu-central-1").unwrap();
        let groups = vec![EndpointGroup {
            region: region.code.clone(),
            coordinates: region.coordinates,
            traffic_dial: 1.0,
            endpoints: vec![Endpoint {
                id: "a".into(),
                region: region.code.clone(),
                az: None,
                weight: 1,
                healthy: true,
            }],
        }];
        let pops = [pop("FRA"), pop("NRT")];
        let path = ga_path(at("Berlin"), &pops, &groups, &Failures::none(), &model, 1).unwrap();
        assert_eq!(path.route.entry.code, "FRA");
        assert_eq!(path.hops.len(), 2);
        assert_eq!(
            path.hops[1].to,
            Stop::Endpoint {
                group: 0,
                endpoint: 0
            }
        );
        assert_eq!(
            compose(&path.hops).unwrap(),
            path.route.client_hop.then(&path.route.backbone_hop)
        );
        let direct = direct_hop(at("Berlin"), region.coordinates, &model);
        assert_eq!(direct.class, HopClass::Client);
    }
}
