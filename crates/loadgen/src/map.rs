//! What a report's map shows ([`RunMap`]): the places of a run (clients, PoPs, RECs, the
//! shield, the origin's Availability Zones) with their coordinates, and each client's modelled
//! path through them, hop by hop with its RTT.
//!
//! The load generator does not route; whoever resolved the targets fills this in (the cluster
//! for a topology, `edgelab topology route` for one path). Runs against a bare `--target URL`
//! have no map.

use serde::{Deserialize, Serialize};

use crate::target::Mode;

/// The places of a run and the path each client's requests took.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMap {
    /// Every place, each once.
    pub places: Vec<MapPlace>,
    /// One path per client place and mode.
    pub paths: Vec<MapPath>,
}

/// What a place on the map is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MapPlaceKind {
    /// A client population.
    Client,
    /// An edge location.
    Pop,
    /// A Regional Edge Cache.
    Rec,
    /// The Origin Shield.
    Shield,
    /// An origin replica (an Availability Zone, a Local Zone or a Region).
    Origin,
}

impl MapPlaceKind {
    /// Every kind, in legend order.
    pub const ALL: [MapPlaceKind; 5] = [
        MapPlaceKind::Client,
        MapPlaceKind::Pop,
        MapPlaceKind::Rec,
        MapPlaceKind::Shield,
        MapPlaceKind::Origin,
    ];

    /// The label in JSON and in the drawing's `data-kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            MapPlaceKind::Client => "client",
            MapPlaceKind::Pop => "pop",
            MapPlaceKind::Rec => "rec",
            MapPlaceKind::Shield => "shield",
            MapPlaceKind::Origin => "origin",
        }
    }
}

/// One place on the map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapPlace {
    /// Unique id, what hops name: `client:<place>`, a PoP code (`SYD`), `rec:<CODE>` for a
    /// REC or the shield, an AZ id (`use1-az1`) or place code for an origin replica.
    pub id: String,
    /// What it is.
    pub kind: MapPlaceKind,
    /// What the map writes next to it (`SYD`, `Sydney`, `use1-az1`).
    pub label: String,
    /// Its city.
    pub city: String,
    /// Latitude, degrees north.
    pub lat: f64,
    /// Longitude, degrees east.
    pub lon: f64,
}

/// The modelled path of one client place's requests in one mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapPath {
    /// The client place (as in the report's `places`).
    pub place: String,
    /// How the client reached the content.
    pub mode: Mode,
    /// The hops in order: the first starts at the client, each starts where the previous
    /// ended; through the CDN they end at the origin (the path of a miss).
    pub hops: Vec<MapHop>,
    /// Sum of the hops' RTTs, ms.
    pub rtt_ms: f64,
}

/// One hop of a path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapHop {
    /// Id of the place it starts at.
    pub from: String,
    /// Id of the place it ends at.
    pub to: String,
    /// `last_mile+internet` (a client's hop) or `backbone`.
    pub class: String,
    /// Modelled round-trip time, ms.
    pub rtt_ms: f64,
    /// The hub cities the hop's modelled path crosses, in order (the backbone's or the
    /// internet's path over the long-haul graph; empty when the places connect straight).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<MapWaypoint>,
}

/// A hub a hop's path crosses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapWaypoint {
    /// The hub's city.
    pub city: String,
    /// Latitude, degrees north.
    pub lat: f64,
    /// Longitude, degrees east.
    pub lon: f64,
}

impl MapPath {
    /// A path from its hops; `rtt_ms` is their sum.
    pub fn new(place: &str, mode: Mode, hops: Vec<MapHop>) -> MapPath {
        let rtt_ms = hops.iter().map(|h| h.rtt_ms).sum();
        MapPath {
            place: place.to_string(),
            mode,
            hops,
            rtt_ms,
        }
    }
}

impl RunMap {
    /// The place `id` names.
    pub fn place(&self, id: &str) -> Option<&MapPlace> {
        self.places.iter().find(|p| p.id == id)
    }

    /// Adds `place` unless one with its id is there already.
    pub fn add_place(&mut self, place: MapPlace) {
        if self.place(&place.id).is_none() {
            self.places.push(place);
        }
    }

    /// Every place and path of `maps`, each place once and one path per client place and mode
    /// (the first: a warm-up run routes as the run it warms up), the map of several runs.
    pub fn merged<'a>(maps: impl IntoIterator<Item = &'a RunMap>) -> RunMap {
        let mut merged = RunMap::default();
        for map in maps {
            for place in &map.places {
                merged.add_place(place.clone());
            }
            for path in &map.paths {
                if !merged
                    .paths
                    .iter()
                    .any(|p| p.place == path.place && p.mode == path.mode)
                {
                    merged.paths.push(path.clone());
                }
            }
        }
        merged
    }
}

/// The id of the client place `place`.
pub fn client_id(place: &str) -> String {
    format!("client:{place}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(id: &str, kind: MapPlaceKind) -> MapPlace {
        MapPlace {
            id: id.into(),
            kind,
            label: id.into(),
            city: "c".into(),
            lat: 1.0,
            lon: 2.0,
        }
    }

    #[test]
    fn merged_maps_keep_each_place_once_and_every_path() {
        let hop = |from: &str, to: &str, rtt_ms| MapHop {
            from: from.into(),
            to: to.into(),
            class: "backbone".into(),
            rtt_ms,
            via: Vec::new(),
        };
        let a = RunMap {
            places: vec![
                place("client:Sydney", MapPlaceKind::Client),
                place("SYD", MapPlaceKind::Pop),
            ],
            paths: vec![MapPath::new(
                "Sydney",
                Mode::Edge,
                vec![hop("client:Sydney", "SYD", 11.0), hop("SYD", "x", 2.5)],
            )],
        };
        let b = RunMap {
            places: vec![place("client:Sydney", MapPlaceKind::Client)],
            paths: vec![MapPath::new("Sydney", Mode::Direct, vec![])],
        };
        let merged = RunMap::merged([&a, &b, &a]);
        assert_eq!(merged.places.len(), 2);
        assert_eq!(merged.paths.len(), 2);
        assert_eq!(merged.paths[0].rtt_ms, 13.5);
        assert_eq!(merged.place("SYD").unwrap().kind, MapPlaceKind::Pop);
        assert_eq!(client_id("Sydney"), "client:Sydney");
        assert_eq!(
            serde_json::to_value(MapPlaceKind::Shield).unwrap(),
            "shield"
        );
    }
}
