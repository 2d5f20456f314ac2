//! `--replay LOG` of `edgelab loadgen` and `edgelab compare`: an access log's GET and HEAD
//! requests sent at their logged times, each from the client place its edge location names.
//!
//! Against one `--target` the places only label the report. Through a topology started in
//! this process ([`replay_lab`]), the topology's origins serve the log's objects (as `edgelab
//! origin --catalog-from-log` does) and every place is routed like a client population of a
//! `--topology` run: to the PoP its latency-based DNS picks (`--mode edge`), to the origin
//! (`direct`) or through Global Accelerator (`ga`). Lines without an edge location (Common
//! Log Format) come from `--place`, else the topology's first client population.

use std::path::{Path, PathBuf};

use edgelab_cluster::topology::Topology;
use edgelab_cluster::{Lab, RunningLab};
use edgelab_common::config::ConfigErrors;
use edgelab_loadgen::Overrides;
use edgelab_loadgen::replay::ReplayLog;
use edgelab_loadgen::scenario::{Population, Settings};

use crate::output;

/// The replay flags shared by `loadgen` and `compare`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Send the GET and HEAD requests of an access log (CloudFront or CLF, plain or gzip) at
    /// their logged times, open loop, each from its edge location's place. With --target,
    /// serve the log's objects with `edgelab origin --catalog-from-log LOG`; with
    /// --topology, the topology's origins serve them and each place goes to its PoP.
    #[arg(long, value_name = "LOG")]
    pub replay: Option<PathBuf>,
    /// With --replay: time compression (2 sends the log in half its logged time).
    #[arg(long, value_name = "X", default_value_t = 1.0, requires = "replay")]
    pub speed: f64,
    /// With --replay: send every request from this place instead of its edge location's
    /// (lines without one, as in CLF logs, come from the topology's first population).
    #[arg(long, value_name = "PLACE", requires = "replay")]
    pub place: Option<String>,
    /// With --replay: a malformed log line is fatal (exit 64).
    #[arg(long, requires = "replay")]
    pub strict: bool,
}

impl ReplayArgs {
    /// The scanned log (`None` without `--replay`), its malformed lines and unsent methods
    /// reported on standard error; `fallback` is the place of lines without an edge location.
    pub fn scan(&self, fallback: Option<String>) -> Result<Option<ReplayLog>, String> {
        let Some(path) = &self.replay else {
            return Ok(None);
        };
        let log = ReplayLog::scan(
            path.clone(),
            None,
            self.speed,
            self.place.clone(),
            self.strict,
        )?
        .with_fallback(fallback);
        if let Some(malformed) = &log.malformed {
            output::error(&format!("{}: {malformed}", path.display()));
        }
        if log.skipped_methods > 0 {
            output::error(&format!(
                "{}: {} request(s) with methods other than GET and HEAD not sent",
                path.display(),
                log.skipped_methods
            ));
        }
        Ok(Some(log))
    }
}

/// The workload of a replay of `log`: its places (weight 1 each: the log decides who sends
/// what), a duration covering its span, no request bound, every catalog object eligible.
pub fn apply(log: &ReplayLog, settings: &mut Settings) {
    settings.populations = log
        .places()
        .into_iter()
        .map(|place| Population {
            place,
            weight: 1.0,
            skew: 0.0,
        })
        .collect();
    settings.duration = log.span() + settings.timeout;
    settings.requests = None;
    settings.mix.clear();
    settings.objects = None;
}

/// The topology in `file` (default: the built-in one) with its origins serving the objects of
/// `args.replay` (no synthetic ones), its workload from `scenario` or its `[load]` with
/// `overrides`, and the scanned log, whose every client place resolves.
pub fn replay_lab(
    args: &ReplayArgs,
    file: Option<&Path>,
    scenario: Option<&Path>,
    overrides: Overrides,
) -> Result<(Lab, ReplayLog), ConfigErrors> {
    let Some(log_path) = args.replay.as_deref() else {
        return Err(ConfigErrors::one("--replay", "is required here"));
    };
    let mut topology = match file {
        Some(file) => Topology::load(file)?,
        None => Topology::default_topology(),
    };
    // The malformed lines are reported once, by the scan below.
    (topology.origin.logged, _) = crate::origin::logged_objects(log_path, args.strict)
        .map_err(|message| ConfigErrors::one("--replay", message))?;
    topology.origin.objects = 0;
    let lab = Lab::new(topology, scenario, overrides)?;
    let fallback = lab.settings().populations.first().map(|p| p.place.clone());
    let log = args
        .scan(fallback)
        .map_err(|message| ConfigErrors::one("--replay", message))?
        .ok_or_else(|| ConfigErrors::one("--replay", "is required here"))?;
    check_places(&log, args)?;
    Ok((lab, log))
}

/// Every client place of `log` is a place the geography knows (an unknown edge location is
/// named with the way around it).
fn check_places(log: &ReplayLog, args: &ReplayArgs) -> Result<(), ConfigErrors> {
    let geo = edgelab_geo::Topology::embedded();
    let mut errors = ConfigErrors::new();
    for place in log.places() {
        if let Err(error) = geo.resolve(&place) {
            let (field, hint) = if args.place.is_some() {
                ("--place", "")
            } else {
                (
                    "--replay",
                    " (an edge location the geography lacks: send its requests from a known place with --place P)",
                )
            };
            errors.push(field, format!("{error}{hint}"));
        }
    }
    errors.into_result(())
}

/// Makes every following run of `running` replay `log` from its places.
pub fn attach(running: &mut RunningLab, log: ReplayLog) {
    apply(&log, running.settings_mut());
    running.set_replay(log);
}

/// `replaying LOG: 37 requests at 20x over 2.1s from 5 places`.
pub fn describe(log: &ReplayLog) -> String {
    format!(
        "replaying {}: {} requests at {}x over {:.1?} from {} places",
        log.path.display(),
        log.sendable,
        log.speed,
        log.span(),
        log.places().len()
    )
}

/// Why `--replay` cannot go with nodes this process does not start.
pub const ELSEWHERE: &str = "replays through a topology started in this process, not with \
     --peers dns or --attach: nodes running elsewhere do not serve the log's objects (run \
     `edgelab origin --catalog-from-log LOG` there and replay against its edge with \
     `edgelab loadgen --target URL --replay LOG`)";

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../config")
            .join(name)
    }

    fn args(log: &str, place: Option<&str>) -> ReplayArgs {
        ReplayArgs {
            replay: Some(shipped(log)),
            speed: 10.0,
            place: place.map(str::to_string),
            strict: false,
        }
    }

    #[test]
    fn a_topology_replay_serves_the_logs_objects_from_the_logs_places() {
        let args = args("examples/cloudfront-access.log", None);
        let (lab, log) = replay_lab(
            &args,
            Some(&shipped("minimal.toml")),
            None,
            Overrides::default(),
        )
        .expect("the shipped log replays through the minimal topology");
        assert_eq!(log.places(), ["FRA", "IAD", "LHR", "NRT", "SYD"]);
        let origin = &lab.topology().origin;
        assert_eq!(origin.objects, 0, "no synthetic objects");
        assert!(
            origin.logged.iter().any(|o| o.path == "/img/hero.jpg"),
            "{:?}",
            origin.logged
        );
    }

    #[test]
    fn clf_lines_come_from_the_first_population_unless_a_place_is_given() {
        let (_, log) = replay_lab(
            &args("examples/nginx-access.log", None),
            Some(&shipped("minimal.toml")),
            None,
            Overrides::default(),
        )
        .expect("replays");
        assert_eq!(log.places(), ["Berlin"], "minimal.toml's first population");
        let (_, log) = replay_lab(
            &args("examples/nginx-access.log", Some("Tokyo")),
            Some(&shipped("minimal.toml")),
            None,
            Overrides::default(),
        )
        .expect("replays");
        assert_eq!(log.places(), ["Tokyo"]);
    }

    #[test]
    fn an_unknown_place_is_a_config_error_naming_the_flag() {
        let errors = replay_lab(
            &args("examples/nginx-access.log", Some("Atlantis")),
            Some(&shipped("minimal.toml")),
            None,
            Overrides::default(),
        )
        .expect_err("Atlantis is no place");
        let text = errors.to_string();
        assert!(
            text.contains("--place") && text.contains("Atlantis"),
            "{text}"
        );
    }
}
