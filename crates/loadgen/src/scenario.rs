//! Scenario files (`loadtest/scenarios/*.toml`): raw TOML, then validated [`Settings`] with
//! every problem collected. Precedence is CLI flag ([`Overrides`]) > file > default.
//!
//! The `///` comments on [`RawScenario`] and its parts are the reference for the file format
//! (`docs/loadgen.md` shows them with examples).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use edgelab_common::config::{ConfigErrors, load_toml, parse_toml};

use crate::shard::Shard;

/// Default seed when neither the file nor the command line names one.
pub const DEFAULT_SEED: u64 = 1;
/// Default run length.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Default connections per target.
pub const DEFAULT_CONNECTIONS: usize = 8;
/// Default per-request time limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default arrival rate (requests per second over all targets).
pub const DEFAULT_RATE: f64 = 100.0;
/// Default Zipf exponent (web object popularity is commonly modelled with s ≈ 0.6–1.0;
/// Breslau et al., "Web Caching and Zipf-like Distributions", INFOCOM 1999).
pub const DEFAULT_ZIPF_S: f64 = 1.0;

/// A scenario file as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Seed of every random choice (object, place, Poisson gaps). Same seed, same requests in
    /// the same order. Default 1.
    pub seed: Option<u64>,
    /// How long requests are sent, e.g. `"30s"`, `"2m"`. Default `"10s"`.
    #[serde(default, with = "humantime_serde")]
    pub duration: Option<Duration>,
    /// Stop after this many requests were scheduled (whichever of `duration` and `requests`
    /// comes first). Default: no count limit.
    pub requests: Option<u64>,
    /// Connections per target (open loop: at most this many requests in flight per target;
    /// closed loop: this many clients per target). Default 8.
    pub connections: Option<usize>,
    /// Time limit of one request, from its intended send time to the end of its body.
    /// Default `"10s"`.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Closed loop: each connection sends its next request as soon as the previous one
    /// finished, and latency is measured from the actual send. Default false (open loop).
    pub closed: Option<bool>,
    /// How requests arrive (open loop).
    pub arrival: Option<RawArrival>,
    /// What is requested.
    pub workload: Option<RawWorkload>,
    /// Client populations: the places requests come from, with their shares. Empty: one place,
    /// `local`.
    #[serde(default)]
    pub population: Vec<RawPopulation>,
}

/// `[arrival]`: the open-loop arrival process.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArrival {
    /// `constant` (evenly spaced), `poisson` (exponential gaps) or `ramp` (rate changing
    /// linearly from `from` to `to` over `over`, then holding `to`). Default `constant`.
    pub kind: Option<String>,
    /// Requests per second over all targets (`constant`, `poisson`). Default 100.
    pub rate: Option<f64>,
    /// Starting rate of a `ramp`, requests per second (may be 0).
    pub from: Option<f64>,
    /// Final rate of a `ramp`, requests per second.
    pub to: Option<f64>,
    /// Length of the ramp, e.g. `"20s"`.
    #[serde(default, with = "humantime_serde")]
    pub over: Option<Duration>,
}

/// `[workload]`: the objects and their popularity.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    /// Use only the first N objects of the catalog (per class when `mix` is set). Default: all.
    pub objects: Option<usize>,
    /// Zipf exponent `s` of object popularity (rank order = catalog order). 0 is uniform.
    /// Default 1.0.
    pub zipf_s: Option<f64>,
    /// Request mix by path class, e.g. `{ static = 0.6, img = 0.3, api = 0.1 }` (relative
    /// weights). Empty: one Zipf over the whole catalog.
    #[serde(default)]
    pub mix: std::collections::BTreeMap<String, f64>,
}

/// `[[population]]`: one client place.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPopulation {
    /// The place: a city, Region code or Local Zone code (resolved by the caller's topology).
    pub place: Option<String>,
    /// Relative share of the requests. Default 1.
    pub weight: Option<f64>,
    /// Popularity skew in [0, 1]: the fraction of this place's requests drawn from its own
    /// popularity ranking (a seeded shuffle of the catalog) instead of the global one.
    /// Default 0 (every place likes the same objects).
    pub skew: Option<f64>,
}

/// Command-line values that take precedence over the file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--rate`: sets the rate of a `constant` or `poisson` arrival.
    pub rate: Option<f64>,
    /// `--duration`.
    pub duration: Option<Duration>,
    /// `--requests`.
    pub requests: Option<u64>,
    /// `--connections`.
    pub connections: Option<usize>,
    /// `--closed`.
    pub closed: Option<bool>,
    /// `--shard I/N`: send only this slice of the seeded schedule.
    pub shard: Option<Shard>,
}

/// The open-loop arrival process.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrival {
    /// Evenly spaced requests at `rate` per second.
    Constant {
        /// Requests per second.
        rate: f64,
    },
    /// Exponentially distributed gaps with mean `1 / rate`.
    Poisson {
        /// Requests per second (mean).
        rate: f64,
    },
    /// Rate going linearly from `from` to `to` over `over`, then `to`.
    Ramp {
        /// Starting rate, requests per second.
        from: f64,
        /// Final rate, requests per second.
        to: f64,
        /// Ramp length in seconds.
        over_s: f64,
    },
}

impl Arrival {
    /// The rate reached at the end of the ramp (or the rate).
    pub fn peak_rate(&self) -> f64 {
        match *self {
            Arrival::Constant { rate } | Arrival::Poisson { rate } => rate,
            Arrival::Ramp { from, to, .. } => from.max(to),
        }
    }
}

/// One client place of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Population {
    /// Place label.
    pub place: String,
    /// Relative share (> 0).
    pub weight: f64,
    /// Popularity skew in [0, 1].
    pub skew: f64,
}

/// A validated scenario with the command line applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Seed of every random choice.
    pub seed: u64,
    /// How long requests are sent.
    pub duration: Duration,
    /// Optional request-count bound.
    pub requests: Option<u64>,
    /// Connections per target.
    pub connections: usize,
    /// Per-request time limit.
    pub timeout: Duration,
    /// Closed loop instead of open loop.
    pub closed: bool,
    /// Arrival process (ignored in closed loop).
    pub arrival: Arrival,
    /// Use only the first N objects (per class with a mix).
    pub objects: Option<usize>,
    /// Zipf exponent.
    pub zipf_s: f64,
    /// Request mix by class (empty: whole catalog).
    pub mix: Vec<(String, f64)>,
    /// Client places (empty: one place, `local`).
    pub populations: Vec<Population>,
    /// The slice of the seeded schedule this run sends (command line only; open loop only).
    pub shard: Shard,
}

impl Default for Settings {
    fn default() -> Self {
        Settings::resolve(RawScenario::default(), &Overrides::default())
            .expect("the defaults are valid") // invariant: checked by a unit test
    }
}

impl Settings {
    /// Reads a scenario file and applies `overrides`.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Settings, ConfigErrors> {
        let raw: RawScenario = load_toml(path)?;
        Settings::resolve(raw, overrides)
    }

    /// Parses scenario text (`origin` names it in errors) and applies `overrides`.
    pub fn parse(
        text: &str,
        origin: &str,
        overrides: &Overrides,
    ) -> Result<Settings, ConfigErrors> {
        let raw: RawScenario = parse_toml(text, origin)?;
        Settings::resolve(raw, overrides)
    }

    /// Validates `raw` with `overrides` applied, collecting every problem.
    pub fn resolve(raw: RawScenario, overrides: &Overrides) -> Result<Settings, ConfigErrors> {
        let mut errors = ConfigErrors::new();
        let seed = overrides.seed.or(raw.seed).unwrap_or(DEFAULT_SEED);
        let duration = overrides
            .duration
            .or(raw.duration)
            .unwrap_or(DEFAULT_DURATION);
        check_duration(duration, &mut errors);
        let requests = overrides.requests.or(raw.requests);
        check_requests(requests, &mut errors);
        let connections = overrides
            .connections
            .or(raw.connections)
            .unwrap_or(DEFAULT_CONNECTIONS);
        check_connections(connections, &mut errors);
        let timeout = raw.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout < Duration::from_millis(1) {
            errors.push("timeout", "must be at least 1ms");
        }
        let closed = overrides.closed.or(raw.closed).unwrap_or(false);
        let shard = overrides.shard.unwrap_or_default();
        check_shard(shard, closed, &mut errors);

        let raw_arrival = raw.arrival.unwrap_or_default();
        let arrival = resolve_arrival(raw_arrival, overrides.rate, &mut errors);

        let raw_workload = raw.workload.unwrap_or_default();
        if raw_workload.objects == Some(0) {
            errors.push("workload.objects", "must be at least 1");
        }
        let zipf_s = raw_workload.zipf_s.unwrap_or(DEFAULT_ZIPF_S);
        if !(zipf_s.is_finite() && zipf_s >= 0.0) {
            errors.push("workload.zipf_s", "must be a number ≥ 0");
        }
        let mut mix = Vec::new();
        for (class, weight) in raw_workload.mix {
            if !(weight.is_finite() && weight >= 0.0) {
                errors.push(format!("workload.mix.{class}"), "must be a number ≥ 0");
            } else if weight > 0.0 {
                mix.push((class, weight));
            }
        }

        let mut populations: Vec<Population> = Vec::new();
        for (index, raw) in raw.population.into_iter().enumerate() {
            let field = |name: &str| format!("population[{index}].{name}");
            let place = match raw.place.map(|p| p.trim().to_string()) {
                Some(place) if !place.is_empty() => place,
                _ => {
                    errors.push(field("place"), "is required");
                    continue;
                }
            };
            if populations.iter().any(|p| p.place == place) {
                errors.push(field("place"), format!("`{place}` is listed twice"));
            }
            let weight = raw.weight.unwrap_or(1.0);
            if !(weight.is_finite() && weight > 0.0) {
                errors.push(field("weight"), "must be a number > 0");
            }
            let skew = raw.skew.unwrap_or(0.0);
            if !(0.0..=1.0).contains(&skew) {
                errors.push(field("skew"), "must be between 0 and 1");
            }
            populations.push(Population {
                place,
                weight,
                skew,
            });
        }

        errors.into_result(Settings {
            seed,
            duration,
            requests,
            connections,
            timeout,
            closed,
            arrival,
            objects: raw_workload.objects,
            zipf_s,
            mix,
            populations,
            shard,
        })
    }
}

impl Settings {
    /// These (validated) settings with `overrides` applied, each overridden value checked
    /// as [`Settings::resolve`] checks it: the same result as resolving the file again with
    /// the overrides, for callers that keep only validated settings.
    pub fn with_overrides(mut self, overrides: &Overrides) -> Result<Settings, ConfigErrors> {
        let mut errors = ConfigErrors::new();
        if let Some(seed) = overrides.seed {
            self.seed = seed;
        }
        if let Some(duration) = overrides.duration {
            check_duration(duration, &mut errors);
            self.duration = duration;
        }
        if let Some(requests) = overrides.requests {
            check_requests(Some(requests), &mut errors);
            self.requests = Some(requests);
        }
        if let Some(connections) = overrides.connections {
            check_connections(connections, &mut errors);
            self.connections = connections;
        }
        if let Some(closed) = overrides.closed {
            self.closed = closed;
        }
        if let Some(shard) = overrides.shard {
            self.shard = shard;
        }
        check_shard(self.shard, self.closed, &mut errors);
        if let Some(rate) = overrides.rate {
            match &mut self.arrival {
                Arrival::Constant { rate: r } | Arrival::Poisson { rate: r } => {
                    if !valid_rate(rate) {
                        errors.push("--rate", RATE_RANGE);
                    }
                    *r = rate;
                }
                Arrival::Ramp { .. } => errors.push("--rate", RATE_WITH_RAMP),
            }
        }
        errors.into_result(self)
    }
}

fn check_duration(duration: Duration, errors: &mut ConfigErrors) {
    if duration.is_zero() {
        errors.push("duration", "must be longer than 0");
    }
}

fn check_requests(requests: Option<u64>, errors: &mut ConfigErrors) {
    if requests == Some(0) {
        errors.push("requests", "must be at least 1");
    }
}

fn check_shard(shard: Shard, closed: bool, errors: &mut ConfigErrors) {
    if closed && !shard.is_whole() {
        errors.push(
            "--shard",
            "a closed-loop run has no seeded schedule to split: shard open-loop runs only",
        );
    }
}

fn check_connections(connections: usize, errors: &mut ConfigErrors) {
    if !(1..=10_000).contains(&connections) {
        errors.push("connections", "must be between 1 and 10000");
    }
}

fn valid_rate(value: f64) -> bool {
    value.is_finite() && value > 0.0 && value <= 10_000_000.0
}

const RATE_RANGE: &str = "must be a number > 0 and ≤ 10000000";
const RATE_WITH_RAMP: &str = "cannot be combined with a `ramp` arrival (edit `arrival.to`)";

fn resolve_arrival(raw: RawArrival, rate_flag: Option<f64>, errors: &mut ConfigErrors) -> Arrival {
    let kind = raw.kind.as_deref().unwrap_or("constant");
    match kind {
        "constant" | "poisson" => {
            if raw.from.is_some() || raw.to.is_some() || raw.over.is_some() {
                errors.push(
                    "arrival",
                    format!("`from`, `to` and `over` are for `ramp`, not `{kind}`"),
                );
            }
            let rate = rate_flag.or(raw.rate).unwrap_or(DEFAULT_RATE);
            let field = if rate_flag.is_some() {
                "--rate"
            } else {
                "arrival.rate"
            };
            if !valid_rate(rate) {
                errors.push(field, RATE_RANGE);
            }
            if kind == "constant" {
                Arrival::Constant { rate }
            } else {
                Arrival::Poisson { rate }
            }
        }
        "ramp" => {
            if rate_flag.is_some() {
                errors.push("--rate", RATE_WITH_RAMP);
            }
            if raw.rate.is_some() {
                errors.push("arrival.rate", "a `ramp` uses `from` and `to`, not `rate`");
            }
            let from = raw.from.unwrap_or(0.0);
            if !(from.is_finite() && (0.0..=10_000_000.0).contains(&from)) {
                errors.push("arrival.from", "must be a number ≥ 0 and ≤ 10000000");
            }
            let to = match raw.to {
                Some(to) => to,
                None => {
                    errors.push("arrival.to", "is required for a `ramp`");
                    1.0
                }
            };
            if !valid_rate(to) {
                errors.push("arrival.to", "must be a number > 0 and ≤ 10000000");
            }
            let over = match raw.over {
                Some(over) if !over.is_zero() => over,
                _ => {
                    errors.push("arrival.over", "is required for a `ramp` and must be > 0");
                    Duration::from_secs(1)
                }
            };
            Arrival::Ramp {
                from,
                to,
                over_s: over.as_secs_f64(),
            }
        }
        other => {
            errors.push(
                "arrival.kind",
                format!("unknown arrival `{other}` (expected constant, poisson or ramp)"),
            );
            Arrival::Constant { rate: DEFAULT_RATE }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let settings = Settings::default();
        assert_eq!(settings.seed, DEFAULT_SEED);
        assert_eq!(settings.arrival, Arrival::Constant { rate: DEFAULT_RATE });
        assert!(!settings.closed);
    }

    #[test]
    fn flags_beat_the_file() {
        let text = "seed = 7\nduration = \"3s\"\n[arrival]\nkind = \"poisson\"\nrate = 50\n";
        let overrides = Overrides {
            rate: Some(200.0),
            duration: Some(Duration::from_secs(1)),
            ..Overrides::default()
        };
        let settings = Settings::parse(text, "s.toml", &overrides).unwrap();
        assert_eq!(settings.seed, 7);
        assert_eq!(settings.duration, Duration::from_secs(1));
        assert_eq!(settings.arrival, Arrival::Poisson { rate: 200.0 });
    }

    #[test]
    fn overriding_validated_settings_equals_resolving_with_the_overrides() {
        let files = [
            "seed = 7\nduration = \"3s\"\n[arrival]\nkind = \"poisson\"\nrate = 50\n",
            "[arrival]\nkind = \"ramp\"\nfrom = 1\nto = 9\nover = \"2s\"\n",
            "closed = true\nconnections = 3\n",
        ];
        let overrides = [
            Overrides::default(),
            Overrides {
                seed: Some(9),
                duration: Some(Duration::from_secs(1)),
                requests: Some(10),
                connections: Some(4),
                closed: Some(false),
                rate: None,
                shard: Some(Shard { index: 2, count: 3 }),
            },
            Overrides {
                rate: Some(300.0),
                ..Overrides::default()
            },
            Overrides {
                duration: Some(Duration::ZERO),
                connections: Some(0),
                rate: Some(-1.0),
                ..Overrides::default()
            },
            Overrides {
                closed: Some(true),
                shard: Some(Shard { index: 1, count: 2 }),
                ..Overrides::default()
            },
        ];
        let fields = |result: Result<Settings, ConfigErrors>| {
            result.map_err(|e| {
                e.errors()
                    .iter()
                    .map(|e| e.field.clone())
                    .collect::<Vec<_>>()
            })
        };
        for text in files {
            let base = Settings::parse(text, "s.toml", &Overrides::default()).unwrap();
            for o in &overrides {
                let mut resolved = fields(Settings::parse(text, "s.toml", o));
                let mut applied = fields(base.clone().with_overrides(o));
                if let (Err(a), Err(b)) = (&mut resolved, &mut applied) {
                    a.sort();
                    b.sort();
                }
                assert_eq!(applied, resolved, "{text} with {o:?}");
            }
        }
    }

    #[test]
    fn a_closed_loop_cannot_be_sharded() {
        let overrides = Overrides {
            closed: Some(true),
            shard: Some(Shard { index: 1, count: 2 }),
            ..Overrides::default()
        };
        let errors = Settings::resolve(RawScenario::default(), &overrides).unwrap_err();
        assert_eq!(errors.errors()[0].field, "--shard");
        let open = Overrides {
            shard: Some(Shard { index: 2, count: 2 }),
            ..Overrides::default()
        };
        let settings = Settings::resolve(RawScenario::default(), &open).unwrap();
        assert_eq!(settings.shard, Shard { index: 2, count: 2 });
    }

    #[test]
    fn every_problem_is_listed_with_its_field() {
        let text = r#"
connections = 0
[arrival]
kind = "ramp"
rate = 5
[workload]
zipf_s = -1
mix = { static = -2 }
[[population]]
place = "London"
skew = 3
[[population]]
weight = 1
"#;
        let errors = Settings::parse(text, "s.toml", &Overrides::default()).unwrap_err();
        let fields: Vec<_> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        for expected in [
            "connections",
            "arrival.rate",
            "arrival.to",
            "arrival.over",
            "workload.zipf_s",
            "workload.mix.static",
            "population[0].skew",
            "population[1].place",
        ] {
            assert!(
                fields.contains(&expected),
                "{expected} missing from {fields:?}"
            );
        }
    }

    #[test]
    fn shipped_scenarios_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../loadtest/scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Settings::load(&path, &Overrides::default())
                    .unwrap_or_else(|errors| panic!("{}: {errors}", path.display()));
                seen += 1;
            }
        }
        assert!(seen >= 3, "scenarios found in {}", dir.display());
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let errors = Settings::parse("rat = 5\n", "s.toml", &Overrides::default()).unwrap_err();
        assert!(errors.to_string().contains("rat"), "{errors}");
    }
}
