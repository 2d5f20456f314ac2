//! The latency model of SPEC §2.
//!
//! A hop between two places has a deterministic base round-trip time
//! `rtt = 2 · d / v · k(class) + c(class)` (`d` great-circle distance, `v` signal speed in
//! fibre, `k` route inflation, `c` fixed per-hop cost), plus seeded jitter, loss that shows up
//! as a retransmission timeout, and an optional bandwidth. Every default and its source is in
//! `docs/latency-model.md`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::{Rng, RngExt};

use crate::backbone::{Backbone, GraphWeights, Hub, Route};
use crate::distance::distance_km;
use crate::error::GeoError;
use crate::places::Coordinates;

/// The kind of network a hop crosses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathClass {
    /// The provider's own network: edge↔REC↔shield↔Region, Region↔Region.
    Backbone,
    /// The public internet between a client and a PoP or origin.
    Internet,
    /// The client's access network (paid on every request, direct or not).
    LastMile,
}

impl PathClass {
    /// Every class, in a stable order.
    pub const ALL: [PathClass; 3] = [
        PathClass::Backbone,
        PathClass::Internet,
        PathClass::LastMile,
    ];

    /// The name used in config files and on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            PathClass::Backbone => "backbone",
            PathClass::Internet => "internet",
            PathClass::LastMile => "last_mile",
        }
    }
}

impl fmt::Display for PathClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PathClass {
    type Err = GeoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "backbone" => Ok(PathClass::Backbone),
            "internet" => Ok(PathClass::Internet),
            "last_mile" | "lastmile" => Ok(PathClass::LastMile),
            _ => Err(GeoError::UnknownPathClass(s.to_string())),
        }
    }
}

/// The parameters of one path class. In a topology file each field may be left out; it then
/// takes the class's default (see `docs/latency-model.md`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClassParams {
    /// Route inflation `k`: how much longer than the great circle the path is (≥ 1).
    pub inflation: f64,
    /// Fixed cost `c` per hop, in milliseconds of round trip (≥ 0).
    pub fixed_ms: f64,
    /// Mean of the seeded jitter added to each exchange, in milliseconds (≥ 0).
    pub jitter_ms: f64,
    /// Probability that an exchange loses a packet and pays one retransmission timeout
    /// (0 ≤ loss < 1).
    pub loss: f64,
    /// Bandwidth in megabits per second; none means unlimited.
    pub bandwidth_mbps: Option<f64>,
    /// Whether new connections over this class pay a TLS 1.3 handshake (one more RTT).
    pub tls: bool,
}

impl ClassParams {
    /// Default backbone parameters.
    pub fn backbone() -> Self {
        ClassParams {
            inflation: 1.366,
            fixed_ms: 0.5,
            jitter_ms: 0.2,
            loss: 0.0,
            bandwidth_mbps: None,
            tls: true,
        }
    }

    /// Default public-internet parameters.
    pub fn internet() -> Self {
        ClassParams {
            inflation: 1.445,
            fixed_ms: 2.453,
            jitter_ms: 1.0,
            loss: 0.0,
            bandwidth_mbps: None,
            tls: true,
        }
    }

    /// Default last-mile (access network) parameters.
    pub fn last_mile() -> Self {
        ClassParams {
            inflation: 1.0,
            fixed_ms: 10.0,
            jitter_ms: 2.0,
            loss: 0.001,
            bandwidth_mbps: Some(100.0),
            tls: false,
        }
    }

    /// The defaults of a class.
    pub fn default_for(class: PathClass) -> Self {
        match class {
            PathClass::Backbone => Self::backbone(),
            PathClass::Internet => Self::internet(),
            PathClass::LastMile => Self::last_mile(),
        }
    }

    fn validate(&self, prefix: &str, errors: &mut Vec<GeoError>) {
        let mut bad = |field: &str, message: &str| {
            errors.push(GeoError::InvalidModel {
                field: format!("{prefix}.{field}"),
                message: message.to_string(),
            })
        };
        if !(self.inflation.is_finite() && self.inflation >= 1.0) {
            bad("inflation", "must be a number ≥ 1");
        }
        if !(self.fixed_ms.is_finite() && self.fixed_ms >= 0.0) {
            bad("fixed_ms", "must be a number ≥ 0");
        }
        if !(self.jitter_ms.is_finite() && self.jitter_ms >= 0.0) {
            bad("jitter_ms", "must be a number ≥ 0");
        }
        if !(self.loss.is_finite() && (0.0..1.0).contains(&self.loss)) {
            bad("loss", "must be a probability in [0, 1)");
        }
        if let Some(mbps) = self.bandwidth_mbps
            && !(mbps.is_finite() && mbps > 0.0)
        {
            bad(
                "bandwidth_mbps",
                "must be a number > 0 (leave it out for unlimited)",
            );
        }
    }
}

/// The latency model: signal speed, minimum RTO and the parameters of each path class.
///
/// Deserializes from a `[link]` table with unknown fields rejected; anything left out takes
/// its default. Call [`LatencyModel::validate`] after loading.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(from = "RawLatencyModel")]
pub struct LatencyModel {
    /// Signal speed in fibre, km per millisecond (light at refractive index ≈ 1.47 → ~204;
    /// SPEC §2 uses 200).
    pub fibre_km_per_ms: f64,
    /// Minimum retransmission timeout in milliseconds (Linux `TCP_RTO_MIN`, 200 ms).
    pub rto_min_ms: f64,
    /// The provider's network.
    pub backbone: ClassParams,
    /// The public internet.
    pub internet: ClassParams,
    /// The client's access network.
    pub last_mile: ClassParams,
    /// How backbone and internet paths use the long-haul graph.
    pub graph: GraphParams,
}

/// The parameters of paths over the long-haul graph ([`crate::backbone`]): the `[link.graph]`
/// table. Defaults are fitted (see `docs/latency-model.md`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GraphParams {
    /// Inflation of submarine legs on the backbone (≥ 1); terrestrial and access legs take
    /// `backbone.inflation`.
    pub submarine_inflation: f64,
    /// Round-trip cost of every hub a path visits, ms (≥ 0): routers, landing stations,
    /// regeneration, and the slack of routes the graph leaves out.
    pub hub_ms: f64,
    /// Round-trip cost paid once by every path through the graph, ms (≥ 0): leaving a
    /// Region's or PoP's own network for the long-haul one, at both ends.
    pub entry_ms: f64,
    /// Places at most this far apart (one metro) connect straight, without the graph
    /// (km, ≥ 0).
    pub direct_km: f64,
    /// The public internet's extra detour (peering, transit hand-offs), ms (≥ 0): it grows
    /// with distance and saturates, `detour_ms · (1 − e^(−d / detour_km))`, so short paths
    /// are inflated more than long ones.
    pub internet_detour_ms: f64,
    /// The distance over which that detour builds up, km (> 0).
    pub internet_detour_km: f64,
}

impl Default for GraphParams {
    fn default() -> Self {
        GraphParams {
            submarine_inflation: 1.241,
            hub_ms: 0.594,
            entry_ms: 4.344,
            direct_km: 100.0,
            internet_detour_ms: 0.0,
            internet_detour_km: 1000.0,
        }
    }
}

impl GraphParams {
    fn validate(&self, errors: &mut Vec<GeoError>) {
        let mut check = |field: &str, ok: bool, message: &str| {
            if !ok {
                errors.push(GeoError::InvalidModel {
                    field: format!("graph.{field}"),
                    message: message.to_string(),
                });
            }
        };
        let at_least = |v: f64, min: f64| v.is_finite() && v >= min;
        check(
            "submarine_inflation",
            at_least(self.submarine_inflation, 1.0),
            "must be a number ≥ 1",
        );
        check("hub_ms", at_least(self.hub_ms, 0.0), "must be a number ≥ 0");
        check(
            "entry_ms",
            at_least(self.entry_ms, 0.0),
            "must be a number ≥ 0",
        );
        check(
            "direct_km",
            at_least(self.direct_km, 0.0),
            "must be a number ≥ 0",
        );
        check(
            "internet_detour_ms",
            at_least(self.internet_detour_ms, 0.0),
            "must be a number ≥ 0",
        );
        check(
            "internet_detour_km",
            self.internet_detour_km.is_finite() && self.internet_detour_km > 0.0,
            "must be a number > 0",
        );
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGraphParams {
    submarine_inflation: Option<f64>,
    hub_ms: Option<f64>,
    entry_ms: Option<f64>,
    direct_km: Option<f64>,
    internet_detour_ms: Option<f64>,
    internet_detour_km: Option<f64>,
}

impl From<RawGraphParams> for GraphParams {
    fn from(raw: RawGraphParams) -> Self {
        let d = GraphParams::default();
        GraphParams {
            submarine_inflation: raw.submarine_inflation.unwrap_or(d.submarine_inflation),
            hub_ms: raw.hub_ms.unwrap_or(d.hub_ms),
            entry_ms: raw.entry_ms.unwrap_or(d.entry_ms),
            direct_km: raw.direct_km.unwrap_or(d.direct_km),
            internet_detour_ms: raw.internet_detour_ms.unwrap_or(d.internet_detour_ms),
            internet_detour_km: raw.internet_detour_km.unwrap_or(d.internet_detour_km),
        }
    }
}

impl Default for LatencyModel {
    fn default() -> Self {
        LatencyModel {
            fibre_km_per_ms: 200.0,
            rto_min_ms: 200.0,
            backbone: ClassParams::backbone(),
            internet: ClassParams::internet(),
            last_mile: ClassParams::last_mile(),
            graph: GraphParams::default(),
        }
    }
}

/// The file form of [`LatencyModel`]: every field optional.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLatencyModel {
    /// See [`LatencyModel::fibre_km_per_ms`].
    fibre_km_per_ms: Option<f64>,
    /// See [`LatencyModel::rto_min_ms`].
    rto_min_ms: Option<f64>,
    backbone: Option<RawClassParams>,
    internet: Option<RawClassParams>,
    last_mile: Option<RawClassParams>,
    graph: Option<RawGraphParams>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClassParams {
    inflation: Option<f64>,
    fixed_ms: Option<f64>,
    jitter_ms: Option<f64>,
    loss: Option<f64>,
    bandwidth_mbps: Option<f64>,
    /// `true` removes the class's default bandwidth limit (TOML has no null).
    unlimited_bandwidth: Option<bool>,
    tls: Option<bool>,
}

impl RawClassParams {
    fn into_params(self, class: PathClass) -> ClassParams {
        let d = ClassParams::default_for(class);
        let bandwidth_mbps = if self.unlimited_bandwidth == Some(true) {
            None
        } else {
            self.bandwidth_mbps.or(d.bandwidth_mbps)
        };
        ClassParams {
            inflation: self.inflation.unwrap_or(d.inflation),
            fixed_ms: self.fixed_ms.unwrap_or(d.fixed_ms),
            jitter_ms: self.jitter_ms.unwrap_or(d.jitter_ms),
            loss: self.loss.unwrap_or(d.loss),
            bandwidth_mbps,
            tls: self.tls.unwrap_or(d.tls),
        }
    }
}

impl From<RawLatencyModel> for LatencyModel {
    fn from(raw: RawLatencyModel) -> Self {
        let d = LatencyModel::default();
        LatencyModel {
            fibre_km_per_ms: raw.fibre_km_per_ms.unwrap_or(d.fibre_km_per_ms),
            rto_min_ms: raw.rto_min_ms.unwrap_or(d.rto_min_ms),
            backbone: raw
                .backbone
                .unwrap_or_default()
                .into_params(PathClass::Backbone),
            internet: raw
                .internet
                .unwrap_or_default()
                .into_params(PathClass::Internet),
            last_mile: raw
                .last_mile
                .unwrap_or_default()
                .into_params(PathClass::LastMile),
            graph: raw.graph.unwrap_or_default().into(),
        }
    }
}

fn ms(value: f64) -> Duration {
    Duration::from_secs_f64(value.max(0.0) / 1000.0)
}

impl LatencyModel {
    /// Every problem with the parameters, each with its field path (empty when valid).
    pub fn validate(&self) -> Vec<GeoError> {
        let mut errors = Vec::new();
        if !(self.fibre_km_per_ms.is_finite() && self.fibre_km_per_ms > 0.0) {
            errors.push(GeoError::InvalidModel {
                field: "fibre_km_per_ms".into(),
                message: "must be a number > 0".into(),
            });
        }
        if !(self.rto_min_ms.is_finite() && self.rto_min_ms >= 0.0) {
            errors.push(GeoError::InvalidModel {
                field: "rto_min_ms".into(),
                message: "must be a number ≥ 0".into(),
            });
        }
        for class in PathClass::ALL {
            self.class(class).validate(class.as_str(), &mut errors);
        }
        self.graph.validate(&mut errors);
        errors
    }

    /// The parameters of a class.
    pub fn class(&self, class: PathClass) -> &ClassParams {
        match class {
            PathClass::Backbone => &self.backbone,
            PathClass::Internet => &self.internet,
            PathClass::LastMile => &self.last_mile,
        }
    }

    /// How a class weighs the long-haul graph (none for the last mile, which has no
    /// distance).
    pub fn graph_weights(&self, class: PathClass) -> Option<GraphWeights> {
        let p = self.class(class);
        let submarine = match class {
            PathClass::Backbone => self.graph.submarine_inflation,
            PathClass::Internet => p.inflation,
            PathClass::LastMile => return None,
        };
        Some(GraphWeights {
            km_per_ms: self.fibre_km_per_ms,
            terrestrial: p.inflation,
            submarine,
            hub_ms: self.graph.hub_ms,
            entry_ms: self.graph.entry_ms,
            direct_km: self.graph.direct_km,
        })
    }

    /// What a class adds to the graph cost of a path between places `km` apart: its fixed
    /// cost, and for the internet the detour that grows with distance.
    fn class_extra_ms(&self, class: PathClass, km: f64) -> f64 {
        let p = self.class(class);
        match class {
            PathClass::Internet => {
                let g = &self.graph;
                p.fixed_ms + g.internet_detour_ms * (1.0 - (-km / g.internet_detour_km).exp())
            }
            PathClass::Backbone | PathClass::LastMile => p.fixed_ms,
        }
    }

    /// The base RTT in milliseconds. Backbone and internet: the cheapest path over the
    /// long-haul graph ([`Backbone`]) plus the class's fixed cost (and, for the internet,
    /// its distance-dependent detour). Last mile: `2 · d / v · k + c`.
    pub fn rtt_ms(&self, a: Coordinates, b: Coordinates, class: PathClass) -> f64 {
        let km = distance_km(a, b);
        match self.graph_weights(class) {
            Some(w) => Backbone::embedded().cost_ms(a, b, &w) + self.class_extra_ms(class, km),
            None => {
                let p = self.class(class);
                2.0 * km / self.fibre_km_per_ms * p.inflation + p.fixed_ms
            }
        }
    }

    /// The base RTTs from one place to many over a class (one graph search for all).
    pub fn rtts_ms(&self, a: Coordinates, to: &[Coordinates], class: PathClass) -> Vec<f64> {
        match self.graph_weights(class) {
            Some(w) => Backbone::embedded()
                .costs_ms(a, to, &w)
                .into_iter()
                .zip(to)
                .map(|(ms, &b)| ms + self.class_extra_ms(class, distance_km(a, b)))
                .collect(),
            None => to.iter().map(|&b| self.rtt_ms(a, b, class)).collect(),
        }
    }

    /// The path a class takes between two places over the long-haul graph, with the
    /// class's extra cost (none for the last mile).
    pub fn route(&self, a: Coordinates, b: Coordinates, class: PathClass) -> Option<ClassRoute> {
        let w = self.graph_weights(class)?;
        Some(ClassRoute {
            route: Backbone::embedded().route(a, b, &w),
            extra_ms: self.class_extra_ms(class, distance_km(a, b)),
        })
    }

    /// The hubs the class's path between two places crosses, in order (none for the last
    /// mile or places that connect straight).
    pub fn via(&self, a: Coordinates, b: Coordinates, class: PathClass) -> Vec<&'static Hub> {
        let Some(route) = self.route(a, b, class) else {
            return Vec::new();
        };
        let graph = Backbone::embedded();
        route
            .route
            .hubs()
            .iter()
            .filter_map(|id| graph.hubs().iter().find(|h| h.id == *id))
            .collect()
    }

    /// The deterministic base RTT between two places over a class (SPEC §2).
    pub fn rtt(&self, a: Coordinates, b: Coordinates, class: PathClass) -> Duration {
        ms(self.rtt_ms(a, b, class))
    }

    /// The full model of one hop between two places over a class.
    pub fn hop(&self, a: Coordinates, b: Coordinates, class: PathClass) -> HopModel {
        let p = self.class(class);
        let rtt_ms = self.rtt_ms(a, b, class);
        HopModel {
            rtt: ms(rtt_ms),
            jitter: ms(p.jitter_ms),
            loss: p.loss,
            // RFC 6298: RTO = SRTT + 4·RTTVAR, bounded below (Linux: 200 ms).
            rto: ms((rtt_ms + 4.0 * p.jitter_ms).max(self.rto_min_ms)),
            bandwidth_bytes_per_sec: p
                .bandwidth_mbps
                .map(|mbps| (mbps * 1_000_000.0 / 8.0).round().max(1.0) as u64),
            tls: p.tls,
        }
    }

    /// The hop of a client at `client` reaching `target` over the internet: its last mile
    /// then the internet path.
    pub fn client_hop(&self, client: Coordinates, target: Coordinates) -> HopModel {
        self.hop(client, client, PathClass::LastMile)
            .then(&self.hop(client, target, PathClass::Internet))
    }
}

/// A class's path over the long-haul graph: the legs, and what the class adds on top.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassRoute {
    /// The path and its graph cost.
    pub route: Route,
    /// The class's fixed cost (plus the internet's detour), ms.
    pub extra_ms: f64,
}

impl ClassRoute {
    /// The base RTT of the path, ms (equal to [`LatencyModel::rtt_ms`]).
    pub fn rtt_ms(&self) -> f64 {
        self.route.ms + self.extra_ms
    }
}

/// The cost model of one hop (or of several composed in series): what a connection over it
/// pays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HopModel {
    /// Base round-trip time (the floor: jitter and loss only add to it).
    pub rtt: Duration,
    /// Mean of the exponential jitter added to each exchange.
    pub jitter: Duration,
    /// Probability that an exchange pays one retransmission timeout.
    pub loss: f64,
    /// The retransmission timeout paid on loss.
    pub rto: Duration,
    /// Pacing of the bytes read, if limited.
    pub bandwidth_bytes_per_sec: Option<u64>,
    /// Whether a new connection pays a TLS 1.3 handshake round trip.
    pub tls: bool,
}

impl Default for HopModel {
    fn default() -> Self {
        HopModel::ZERO
    }
}

/// Jitter samples are capped at this many times the mean so one draw cannot stall a run.
const JITTER_CAP: f64 = 10.0;

impl HopModel {
    /// A hop that costs nothing (loopback as it is).
    pub const ZERO: HopModel = HopModel {
        rtt: Duration::ZERO,
        jitter: Duration::ZERO,
        loss: 0.0,
        rto: Duration::ZERO,
        bandwidth_bytes_per_sec: None,
        tls: false,
    };

    /// A hop with a fixed RTT and nothing else (handy in tests and benchmarks).
    pub fn fixed(rtt: Duration) -> HopModel {
        HopModel {
            rtt,
            ..HopModel::ZERO
        }
    }

    /// Whether this hop adds no delay at all (connections can pass through untouched).
    pub fn is_zero(&self) -> bool {
        self.rtt.is_zero()
            && self.jitter.is_zero()
            && (self.loss <= 0.0 || self.rto.is_zero())
            && self.bandwidth_bytes_per_sec.is_none()
            && !self.tls
    }

    /// Two hops in series: RTTs, jitters and losses add up (loss as independent events),
    /// the larger RTO and the smaller bandwidth hold, TLS if either is TLS.
    pub fn then(&self, other: &HopModel) -> HopModel {
        let bandwidth = match (self.bandwidth_bytes_per_sec, other.bandwidth_bytes_per_sec) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        HopModel {
            rtt: self.rtt + other.rtt,
            jitter: self.jitter + other.jitter,
            loss: self.loss + other.loss - self.loss * other.loss,
            rto: self.rto.max(other.rto),
            bandwidth_bytes_per_sec: bandwidth,
            tls: self.tls || other.tls,
        }
    }

    /// The same hop with TLS switched on or off.
    pub fn with_tls(self, tls: bool) -> HopModel {
        HopModel { tls, ..self }
    }

    /// Samples the cost of one request/response exchange: base RTT, plus exponential jitter
    /// (mean [`HopModel::jitter`], capped at 10× the mean), plus one RTO with probability
    /// [`HopModel::loss`]. Never less than the base RTT.
    pub fn sample_exchange<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let mut total = self.rtt;
        if !self.jitter.is_zero() {
            let u: f64 = rng.random();
            let draw = (-(1.0 - u).ln()).min(JITTER_CAP);
            total += self.jitter.mul_f64(draw);
        }
        if self.loss > 0.0 && rng.random::<f64>() < self.loss {
            total += self.rto;
        }
        total
    }

    /// Samples the cost of opening a connection: one exchange for TCP, one more for TLS.
    pub fn sample_connect<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let mut total = self.sample_exchange(rng);
        if self.tls {
            total += self.sample_exchange(rng);
        }
        total
    }

    /// The base cost of opening a connection (1 RTT, 2 with TLS), without jitter or loss.
    pub fn connect_rtts(&self) -> u32 {
        if self.tls { 2 } else { 1 }
    }

    /// The time `bytes` take at this hop's bandwidth (zero when unlimited).
    pub fn transfer_time(&self, bytes: u64) -> Duration {
        match self.bandwidth_bytes_per_sec {
            Some(rate) if rate > 0 => Duration::from_secs_f64(bytes as f64 / rate as f64),
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    const FRANKFURT: Coordinates = Coordinates::new(50.1155, 8.6842);
    const DUBLIN: Coordinates = Coordinates::new(53.3331, -6.2489);

    #[test]
    fn rtt_follows_the_graph_and_the_formula() {
        let model = LatencyModel::default();
        // Backbone: the graph path plus the class's fixed cost, and the legs add up.
        let route = model.route(FRANKFURT, DUBLIN, PathClass::Backbone).unwrap();
        let got = model.rtt_ms(FRANKFURT, DUBLIN, PathClass::Backbone);
        assert!((got - route.rtt_ms()).abs() < 1e-9);
        assert_eq!(route.extra_ms, model.backbone.fixed_ms);
        let legs: f64 = route.route.legs.iter().map(|l| l.ms).sum();
        assert!((legs - route.route.ms).abs() < 1e-9);
        assert!(got > 2.0 * distance_km(FRANKFURT, DUBLIN) / 200.0);
        // One metro: straight, no graph, just the fixed cost.
        assert_eq!(
            model.rtt(FRANKFURT, FRANKFURT, PathClass::Internet),
            Duration::from_micros(2_453)
        );
        assert_eq!(
            model.rtt_ms(FRANKFURT, FRANKFURT, PathClass::Backbone),
            model.backbone.fixed_ms
        );
        // Last mile: the straight formula.
        let d = distance_km(FRANKFURT, DUBLIN);
        let expected = 2.0 * d / 200.0 * 1.0 + 10.0;
        assert!((model.rtt_ms(FRANKFURT, DUBLIN, PathClass::LastMile) - expected).abs() < 1e-9);
        assert!(
            model
                .route(FRANKFURT, DUBLIN, PathClass::LastMile)
                .is_none()
        );
    }

    #[test]
    fn many_at_once_matches_one_at_a_time() {
        let model = LatencyModel::default();
        let tokyo = Coordinates::new(35.6895, 139.6917);
        for class in PathClass::ALL {
            let many = model.rtts_ms(FRANKFURT, &[DUBLIN, tokyo, FRANKFURT], class);
            let one: Vec<f64> = [DUBLIN, tokyo, FRANKFURT]
                .iter()
                .map(|&b| model.rtt_ms(FRANKFURT, b, class))
                .collect();
            assert_eq!(many, one, "{class}");
        }
    }

    #[test]
    fn internet_detour_grows_with_distance_and_saturates() {
        let mut model = LatencyModel::default();
        model.graph.internet_detour_ms = 20.0;
        model.graph.internet_detour_km = 1000.0;
        let near = model.class_extra_ms(PathClass::Internet, 100.0);
        let far = model.class_extra_ms(PathClass::Internet, 20_000.0);
        assert!(near < far);
        assert!((far - (model.internet.fixed_ms + 20.0)).abs() < 1e-6);
        assert_eq!(
            model.class_extra_ms(PathClass::Internet, 0.0),
            model.internet.fixed_ms
        );
    }

    #[test]
    fn path_class_round_trips_through_its_name() {
        for class in PathClass::ALL {
            assert_eq!(class.as_str().parse::<PathClass>().unwrap(), class);
        }
        assert_eq!(
            "last-mile".parse::<PathClass>().unwrap(),
            PathClass::LastMile
        );
        assert!("satellite".parse::<PathClass>().is_err());
    }

    #[test]
    fn then_composes_in_series() {
        let a = HopModel {
            rtt: Duration::from_millis(10),
            jitter: Duration::from_millis(1),
            loss: 0.1,
            rto: Duration::from_millis(200),
            bandwidth_bytes_per_sec: Some(1000),
            tls: false,
        };
        let b = HopModel {
            rtt: Duration::from_millis(20),
            jitter: Duration::from_millis(2),
            loss: 0.1,
            rto: Duration::from_millis(300),
            bandwidth_bytes_per_sec: None,
            tls: true,
        };
        let c = a.then(&b);
        assert_eq!(c.rtt, Duration::from_millis(30));
        assert_eq!(c.jitter, Duration::from_millis(3));
        assert!((c.loss - 0.19).abs() < 1e-12);
        assert_eq!(c.rto, Duration::from_millis(300));
        assert_eq!(c.bandwidth_bytes_per_sec, Some(1000));
        assert!(c.tls);
        assert_eq!(HopModel::ZERO.then(&a), a);
    }

    #[test]
    fn zero_costs_nothing() {
        let mut rng = SmallRng::seed_from_u64(1);
        assert!(HopModel::ZERO.is_zero());
        assert_eq!(HopModel::ZERO.sample_connect(&mut rng), Duration::ZERO);
        assert_eq!(HopModel::ZERO.transfer_time(1 << 20), Duration::ZERO);
        assert!(!HopModel::fixed(Duration::from_millis(1)).is_zero());
    }

    #[test]
    fn sampling_is_seeded_and_never_below_the_base() {
        let hop = LatencyModel::default().client_hop(FRANKFURT, DUBLIN);
        let draw = |seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            (0..1000)
                .map(|_| hop.sample_exchange(&mut rng))
                .collect::<Vec<_>>()
        };
        let first = draw(7);
        assert_eq!(first, draw(7));
        assert_ne!(first, draw(8));
        assert!(first.iter().all(|d| *d >= hop.rtt));
        // Mean jitter close to the configured mean (3 ms for last mile + internet).
        let mean_extra = first
            .iter()
            .map(|d| (*d - hop.rtt).as_secs_f64())
            .filter(|extra| *extra < 0.1) // leave out the rare RTOs
            .sum::<f64>()
            / 1000.0;
        assert!((0.002..0.004).contains(&mean_extra), "{mean_extra}");
    }

    #[test]
    fn loss_costs_an_rto() {
        let hop = HopModel {
            loss: 0.5,
            rto: Duration::from_millis(200),
            ..HopModel::fixed(Duration::from_millis(10))
        };
        let mut rng = SmallRng::seed_from_u64(3);
        let samples: Vec<_> = (0..1000).map(|_| hop.sample_exchange(&mut rng)).collect();
        let lost = samples
            .iter()
            .filter(|d| **d == Duration::from_millis(210))
            .count();
        assert!((400..600).contains(&lost), "{lost}");
        assert!(
            samples
                .iter()
                .all(|d| *d == Duration::from_millis(10) || *d == Duration::from_millis(210))
        );
    }

    #[test]
    fn client_hop_adds_last_mile_and_rto_has_a_floor() {
        let model = LatencyModel::default();
        let hop = model.client_hop(FRANKFURT, FRANKFURT);
        assert_eq!(hop.rtt, Duration::from_micros(12_453));
        assert_eq!(hop.rto, Duration::from_millis(200));
        assert_eq!(hop.bandwidth_bytes_per_sec, Some(12_500_000));
        assert!(hop.tls);
        assert_eq!(hop.transfer_time(12_500_000), Duration::from_secs(1));
    }

    #[test]
    fn deserializes_partial_tables_and_rejects_unknown_fields() {
        let model: LatencyModel =
            toml_like("rto_min_ms = 250.0\n[internet]\ninflation = 3.0\n").unwrap();
        assert_eq!(model.internet.inflation, 3.0);
        assert_eq!(model.internet.fixed_ms, ClassParams::internet().fixed_ms);
        assert_eq!(model.rto_min_ms, 250.0);
        assert_eq!(model.backbone, ClassParams::backbone());
        assert!(toml_like("[internet]\ninflaton = 3.0\n").is_err());
        assert!(toml_like("speed = 3.0\n").is_err());
        let unlimited: LatencyModel =
            toml_like("[last_mile]\nunlimited_bandwidth = true\n").unwrap();
        assert_eq!(unlimited.last_mile.bandwidth_mbps, None);
    }

    #[test]
    fn validate_reports_every_bad_field() {
        let mut model = LatencyModel::default();
        model.internet.inflation = 0.5;
        model.backbone.loss = 1.5;
        model.last_mile.bandwidth_mbps = Some(0.0);
        let fields: Vec<String> = model
            .validate()
            .into_iter()
            .map(|e| match e {
                GeoError::InvalidModel { field, .. } => field,
                other => other.to_string(),
            })
            .collect();
        assert_eq!(
            fields,
            [
                "backbone.loss",
                "internet.inflation",
                "last_mile.bandwidth_mbps"
            ]
        );
        assert!(LatencyModel::default().validate().is_empty());
    }

    fn toml_like(text: &str) -> Result<LatencyModel, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}
