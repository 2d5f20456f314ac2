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
            inflation: 1.3,
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
            inflation: 2.1,
            fixed_ms: 1.0,
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
}

impl Default for LatencyModel {
    fn default() -> Self {
        LatencyModel {
            fibre_km_per_ms: 200.0,
            rto_min_ms: 200.0,
            backbone: ClassParams::backbone(),
            internet: ClassParams::internet(),
            last_mile: ClassParams::last_mile(),
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

    /// The base RTT in milliseconds: `2 · d / v · k + c`.
    pub fn rtt_ms(&self, a: Coordinates, b: Coordinates, class: PathClass) -> f64 {
        let p = self.class(class);
        2.0 * distance_km(a, b) / self.fibre_km_per_ms * p.inflation + p.fixed_ms
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
    fn rtt_follows_the_formula() {
        let model = LatencyModel::default();
        let d = distance_km(FRANKFURT, DUBLIN);
        let expected = 2.0 * d / 200.0 * 1.3 + 0.5;
        let got = model.rtt_ms(FRANKFURT, DUBLIN, PathClass::Backbone);
        assert!((got - expected).abs() < 1e-9);
        assert_eq!(
            model.rtt(FRANKFURT, FRANKFURT, PathClass::Internet),
            Duration::from_millis(1)
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
        assert_eq!(hop.rtt, Duration::from_millis(11));
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
