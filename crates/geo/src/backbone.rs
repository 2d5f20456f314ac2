//! The long-haul graph that backbone and internet paths follow (SPEC §2).
//!
//! Hub cities and the links between them (terrestrial fibre routes and submarine cable
//! systems between landing points) are embedded from `data/hubs.csv` and `data/links.csv`
//! (provenance of every row in `data/SOURCES.md`). A place attaches to its nearest hubs; a
//! path is the cheapest way from one place's hubs to the other's, so Europe ↔ East Asia goes
//! through Suez or across North America instead of along the great circle.
//!
//! The cost of a path is `2 · Σ km_i · k_i / v + hub_ms · hubs`, where each leg's `k` is the
//! inflation of its kind (access and terrestrial legs take the class's `inflation`, submarine
//! legs `submarine_inflation`; the internet class applies its own `inflation` to every leg)
//! and every hub visited costs `hub_ms`. Two places no farther apart than `direct_km` may
//! also connect straight, over one terrestrial leg and no hub.

use std::sync::OnceLock;

use crate::distance::distance_km;
use crate::places::Coordinates;

const HUBS_CSV: &str = include_str!("../data/hubs.csv");
const LINKS_CSV: &str = include_str!("../data/links.csv");

/// How many of its nearest hubs a place may enter the graph at.
const ATTACH_HUBS: usize = 2;

/// A farther hub is an entry only if it is at most this many times as far as the nearest,
/// plus [`ATTACH_SLACK_KM`]: a place between two hubs uses both, a place at a hub uses that
/// one (Tel Aviv does not reach the Red Sea cables over Egypt).
const ATTACH_RATIO: f64 = 2.0;
/// See [`ATTACH_RATIO`].
const ATTACH_SLACK_KM: f64 = 100.0;

/// A city where long-haul links meet (a metro, a cable landing, or both).
#[derive(Debug, Clone, PartialEq)]
pub struct Hub {
    /// Short id, e.g. `FRA`.
    pub id: String,
    /// City name.
    pub city: String,
    /// City-centre coordinates.
    pub coordinates: Coordinates,
}

/// What a leg of a path runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegKind {
    /// From a place to a hub (or straight between two nearby places), over land.
    Access,
    /// A terrestrial long-haul fibre route between hubs.
    Terrestrial,
    /// A submarine cable system between landing points.
    Submarine,
}

impl LegKind {
    /// The name used in the data file and in output.
    pub fn as_str(&self) -> &'static str {
        match self {
            LegKind::Access => "access",
            LegKind::Terrestrial => "terrestrial",
            LegKind::Submarine => "submarine",
        }
    }
}

/// A long-haul link between two hubs.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// Index of one end in [`Backbone::hubs`].
    pub a: usize,
    /// Index of the other end.
    pub b: usize,
    /// Terrestrial or submarine.
    pub kind: LegKind,
    /// Route or cable system name(s), with landing points.
    pub name: String,
    /// Great-circle length between the two hubs.
    pub km: f64,
}

/// The weights a path class puts on the graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GraphWeights {
    /// Signal speed, km per millisecond.
    pub km_per_ms: f64,
    /// Inflation of access and terrestrial legs.
    pub terrestrial: f64,
    /// Inflation of submarine legs.
    pub submarine: f64,
    /// Round-trip cost of each hub a path visits, ms.
    pub hub_ms: f64,
    /// Round-trip cost paid once by a path that goes through the graph (not straight), ms.
    pub entry_ms: f64,
    /// Places at most this far apart may connect straight (no hub).
    pub direct_km: f64,
}

impl GraphWeights {
    fn leg_ms(&self, kind: LegKind, km: f64) -> f64 {
        let k = match kind {
            LegKind::Submarine => self.submarine,
            LegKind::Access | LegKind::Terrestrial => self.terrestrial,
        };
        2.0 * km * k / self.km_per_ms
    }
}

/// One leg of a path: from a place or hub to the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Leg {
    /// Where the leg starts (`place` for the path's first end, else a hub id).
    pub from: String,
    /// Where it ends.
    pub to: String,
    /// What it runs over.
    pub kind: LegKind,
    /// Route or cable name (empty for access legs).
    pub name: String,
    /// Great-circle length of the leg.
    pub km: f64,
    /// Its share of the round trip, ms (inflated distance plus the hub it arrives at).
    pub ms: f64,
}

/// The cheapest path between two places over the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The legs in order (one access leg when the places connect straight).
    pub legs: Vec<Leg>,
    /// Total round-trip cost of the legs and hubs, ms (no per-class fixed cost).
    pub ms: f64,
}

impl Route {
    /// Total great-circle length of the legs, km.
    pub fn km(&self) -> f64 {
        self.legs.iter().map(|l| l.km).sum()
    }

    /// The hub ids the path crosses, in order.
    pub fn hubs(&self) -> Vec<&str> {
        self.legs.iter().skip(1).map(|l| l.from.as_str()).collect()
    }
}

/// The result of a search from one place: per hub, the cheapest cost and the link that
/// reached it (none for an entry hub).
struct Plan {
    cost: Vec<f64>,
    previous: Vec<Option<usize>>,
}

/// The graph of hubs and links.
#[derive(Debug, Clone)]
pub struct Backbone {
    hubs: Vec<Hub>,
    links: Vec<Link>,
    /// For each hub, the indices of the links that touch it.
    adjacent: Vec<Vec<usize>>,
}

#[derive(serde::Deserialize)]
struct HubRow {
    id: String,
    city: String,
    lat: f64,
    lon: f64,
    #[allow(dead_code)] // provenance only
    role: String,
}

#[derive(serde::Deserialize)]
struct LinkRow {
    a: String,
    b: String,
    kind: String,
    name: String,
    #[allow(dead_code)] // provenance only: the key of its entry in SOURCES.md
    source: String,
}

impl Backbone {
    /// The graph embedded from `data/`, parsed on first use.
    pub fn embedded() -> &'static Backbone {
        static BACKBONE: OnceLock<Backbone> = OnceLock::new();
        BACKBONE.get_or_init(|| {
            // The embedded files are checked by this crate's tests; a parse error is a
            // build defect, not a run-time condition.
            Backbone::from_csv(HUBS_CSV, LINKS_CSV).expect("embedded backbone data is valid")
        })
    }

    /// Parses a graph from the two CSV texts; every problem names its file and row.
    pub fn from_csv(hubs: &str, links: &str) -> Result<Backbone, String> {
        let mut parsed = Vec::new();
        for (i, row) in csv::Reader::from_reader(hubs.as_bytes())
            .deserialize::<HubRow>()
            .enumerate()
        {
            let row = row.map_err(|e| format!("hubs.csv row {}: {e}", i + 2))?;
            let coordinates = Coordinates::new(row.lat, row.lon);
            if !coordinates.is_valid() || parsed.iter().any(|h: &Hub| h.id == row.id) {
                return Err(format!("hubs.csv row {}: bad or duplicate hub", i + 2));
            }
            parsed.push(Hub {
                id: row.id,
                city: row.city,
                coordinates,
            });
        }
        let index = |id: &str, row: usize| {
            parsed
                .iter()
                .position(|h| h.id == id)
                .ok_or_else(|| format!("links.csv row {row}: unknown hub `{id}`"))
        };
        let mut edges = Vec::new();
        for (i, row) in csv::Reader::from_reader(links.as_bytes())
            .deserialize::<LinkRow>()
            .enumerate()
        {
            let line = i + 2;
            let row = row.map_err(|e| format!("links.csv row {line}: {e}"))?;
            let (a, b) = (index(&row.a, line)?, index(&row.b, line)?);
            let kind = match row.kind.as_str() {
                "terrestrial" => LegKind::Terrestrial,
                "submarine" => LegKind::Submarine,
                other => return Err(format!("links.csv row {line}: unknown kind `{other}`")),
            };
            let km = distance_km(parsed[a].coordinates, parsed[b].coordinates);
            edges.push(Link {
                a,
                b,
                kind,
                name: row.name,
                km,
            });
        }
        let mut adjacent = vec![Vec::new(); parsed.len()];
        for (i, link) in edges.iter().enumerate() {
            adjacent[link.a].push(i);
            adjacent[link.b].push(i);
        }
        Ok(Backbone {
            hubs: parsed,
            links: edges,
            adjacent,
        })
    }

    /// Every hub.
    pub fn hubs(&self) -> &[Hub] {
        &self.hubs
    }

    /// Every link.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// The hubs a place may enter the graph at, nearest first, with their distance.
    fn attachments(&self, at: Coordinates) -> Vec<(usize, f64)> {
        let mut near: Vec<(usize, f64)> = self
            .hubs
            .iter()
            .enumerate()
            .map(|(i, h)| (i, distance_km(at, h.coordinates)))
            .collect();
        near.sort_by(|x, y| x.1.total_cmp(&y.1).then(x.0.cmp(&y.0)));
        near.truncate(ATTACH_HUBS);
        let nearest = near[0].1;
        near.retain(|(_, km)| *km <= nearest * ATTACH_RATIO + ATTACH_SLACK_KM);
        near
    }

    /// The cost of the cheapest path between two places (same as `route(..).ms`, without
    /// building the legs).
    pub fn cost_ms(&self, a: Coordinates, b: Coordinates, w: &GraphWeights) -> f64 {
        self.finish(&self.search_from(a, w), a, b, w).0
    }

    /// The cheapest path between two places under the given weights.
    pub fn route(&self, a: Coordinates, b: Coordinates, w: &GraphWeights) -> Route {
        let plan = self.search_from(a, w);
        let (ms, exit) = self.finish(&plan, a, b, w);
        let previous = &plan.previous;
        let Some(leave) = exit else {
            let km = distance_km(a, b);
            return Route {
                legs: vec![Leg {
                    from: "place".into(),
                    to: "place".into(),
                    kind: LegKind::Access,
                    name: String::new(),
                    km,
                    ms: w.leg_ms(LegKind::Access, km),
                }],
                ms,
            };
        };
        // Walk back from the exit hub: `previous[h]` is the link that reached `h`.
        let (mut hubs, mut links) = (vec![leave], Vec::new());
        let mut at = leave;
        while let Some(link) = previous[at] {
            let l = &self.links[link];
            at = if l.a == at { l.b } else { l.a };
            links.push(link);
            hubs.push(at);
        }
        hubs.reverse();
        links.reverse();
        let mut legs = Vec::with_capacity(links.len() + 2);
        let first = &self.hubs[hubs[0]];
        let km = distance_km(a, first.coordinates);
        let mut entry = self.leg("place", &first.id, LegKind::Access, "", km, w);
        entry.ms += w.entry_ms;
        legs.push(entry);
        for (i, &link) in links.iter().enumerate() {
            let (from, to, l) = (
                &self.hubs[hubs[i]],
                &self.hubs[hubs[i + 1]],
                &self.links[link],
            );
            legs.push(self.leg(&from.id, &to.id, l.kind, &l.name, l.km, w));
        }
        let last = &self.hubs[leave];
        let km = distance_km(last.coordinates, b);
        let mut exit = self.leg(&last.id, "place", LegKind::Access, "", km, w);
        exit.ms -= w.hub_ms; // the hub was paid when the path arrived at it
        legs.push(exit);
        Route { legs, ms }
    }

    fn leg(
        &self,
        from: &str,
        to: &str,
        kind: LegKind,
        name: &str,
        km: f64,
        w: &GraphWeights,
    ) -> Leg {
        Leg {
            from: from.into(),
            to: to.into(),
            kind,
            name: name.into(),
            km,
            ms: w.leg_ms(kind, km) + w.hub_ms,
        }
    }

    /// Dijkstra from `a`'s attachment hubs: the cost of reaching every hub and the link
    /// that reached it.
    fn search_from(&self, a: Coordinates, w: &GraphWeights) -> Plan {
        let n = self.hubs.len();
        let mut cost = vec![f64::INFINITY; n];
        let mut previous: Vec<Option<usize>> = vec![None; n];
        let mut done = vec![false; n];
        for (hub, km) in self.attachments(a) {
            cost[hub] = cost[hub].min(w.leg_ms(LegKind::Access, km) + w.hub_ms + w.entry_ms);
        }
        // Tens of hubs: a linear scan for the next hub beats a heap.
        while let Some(u) = (0..n)
            .filter(|&i| !done[i] && cost[i].is_finite())
            .min_by(|&x, &y| cost[x].total_cmp(&cost[y]))
        {
            done[u] = true;
            for &link in &self.adjacent[u] {
                let l = &self.links[link];
                let v = if l.a == u { l.b } else { l.a };
                let c = cost[u] + w.leg_ms(l.kind, l.km) + w.hub_ms;
                if c < cost[v] {
                    cost[v] = c;
                    previous[v] = Some(link);
                }
            }
        }
        Plan { cost, previous }
    }

    /// The cheapest way to finish a search at `b`: the cost and the exit hub, or none
    /// when connecting straight is cheaper.
    fn finish(
        &self,
        plan: &Plan,
        a: Coordinates,
        b: Coordinates,
        w: &GraphWeights,
    ) -> (f64, Option<usize>) {
        let direct_km = distance_km(a, b);
        let direct = if direct_km <= w.direct_km {
            w.leg_ms(LegKind::Access, direct_km)
        } else {
            f64::INFINITY
        };
        let best = self
            .attachments(b)
            .into_iter()
            .map(|(hub, km)| (hub, plan.cost[hub] + w.leg_ms(LegKind::Access, km)))
            .min_by(|x, y| x.1.total_cmp(&y.1));
        match best {
            Some((hub, via)) if via < direct => (via, Some(hub)),
            _ => (direct, None),
        }
    }

    /// The costs from one place to many (one search for all of them).
    pub fn costs_ms(&self, a: Coordinates, to: &[Coordinates], w: &GraphWeights) -> Vec<f64> {
        let plan = self.search_from(a, w);
        to.iter().map(|&b| self.finish(&plan, a, b, w).0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights() -> GraphWeights {
        GraphWeights {
            km_per_ms: 200.0,
            terrestrial: 1.0,
            submarine: 1.0,
            hub_ms: 0.0,
            entry_ms: 0.0,
            direct_km: 0.0,
        }
    }

    #[test]
    fn embedded_data_parses_and_every_hub_is_linked() {
        let g = Backbone::embedded();
        assert!(g.hubs().len() >= 40, "{}", g.hubs().len());
        for (i, hub) in g.hubs().iter().enumerate() {
            assert!(!g.adjacent[i].is_empty(), "{} has no link", hub.id);
        }
        // Connected: every hub reachable from the first.
        let from = g.hubs()[0].coordinates;
        for hub in g.hubs() {
            assert!(g.cost_ms(from, hub.coordinates, &weights()).is_finite());
        }
    }

    #[test]
    fn a_path_is_never_shorter_than_the_great_circle() {
        let g = Backbone::embedded();
        let frankfurt = Coordinates::new(50.1155, 8.6842);
        let tokyo = Coordinates::new(35.6895, 139.6917);
        let route = g.route(frankfurt, tokyo, &weights());
        assert!(
            route.km() > distance_km(frankfurt, tokyo) * 1.2,
            "{}",
            route.km()
        );
        assert!((route.ms - 2.0 * route.km() / 200.0).abs() < 1e-6);
        let legs_ms: f64 = route.legs.iter().map(|l| l.ms).sum();
        assert!(
            (legs_ms - route.ms).abs() < 1e-6,
            "{legs_ms} vs {}",
            route.ms
        );
        assert_eq!(route.legs.first().unwrap().from, "place");
        assert_eq!(route.legs.last().unwrap().to, "place");
    }

    #[test]
    fn hub_costs_add_up_per_hub_and_legs_sum_to_the_total() {
        let g = Backbone::embedded();
        let w = GraphWeights {
            hub_ms: 1.0,
            entry_ms: 3.0,
            ..weights()
        };
        let london = Coordinates::new(51.5085, -0.1257);
        let new_york = Coordinates::new(40.7128, -74.006);
        let route = g.route(london, new_york, &w);
        assert_eq!(route.hubs(), ["LON", "NYC"]);
        assert!((route.ms - (2.0 * route.km() / 200.0 + 5.0)).abs() < 1e-6);
        let legs_ms: f64 = route.legs.iter().map(|l| l.ms).sum();
        assert!((legs_ms - route.ms).abs() < 1e-6);
    }

    #[test]
    fn nearby_places_connect_straight() {
        let g = Backbone::embedded();
        let w = GraphWeights {
            direct_km: 500.0,
            hub_ms: 1.0,
            ..weights()
        };
        let a = Coordinates::new(50.0, 8.0);
        let route = g.route(a, a, &w);
        assert_eq!(route.legs.len(), 1);
        assert_eq!(route.ms, 0.0);
    }

    #[test]
    fn bad_data_is_reported_with_its_row() {
        let hubs = "id,city,lat,lon,role\nA,a,0,0,metro\nB,b,0,1,metro\n";
        assert!(Backbone::from_csv(hubs, "a,b,kind,name,source\nA,B,terrestrial,x,y\n").is_ok());
        let err =
            Backbone::from_csv(hubs, "a,b,kind,name,source\nA,C,terrestrial,x,y\n").unwrap_err();
        assert_eq!(err, "links.csv row 2: unknown hub `C`");
        let err = Backbone::from_csv(hubs, "a,b,kind,name,source\nA,B,wireless,x,y\n").unwrap_err();
        assert!(err.contains("unknown kind"), "{err}");
    }
}
