//! `edgelab compare`: the same seeded workload direct to the origin, then through the edges
//! (and through Global Accelerator with `--ga`), printed side by side and written as JSON and
//! HTML.
//!
//! By default the topology runs in this process on loopback for the comparison. With
//! `--attach URL` it uses a running `edgelab up` (its control API lists the nodes), and with
//! `--peers dns` it uses nodes reachable by name (docker compose).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use edgelab_cluster::{Lab, LabError, Reach, RunOpts, RunningLab};
use edgelab_common::config::ConfigErrors;
use edgelab_common::names::env;
use edgelab_common::shutdown::Shutdown;
use edgelab_loadgen::replay::ReplayLog;
use edgelab_loadgen::{Mode, Overrides, Settings, Shard};

use crate::log_replay::{self, ReplayArgs};
use crate::output;

/// Arguments of `edgelab compare`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  edgelab compare                                  # built-in default topology, its workload
  edgelab compare --topology config/global.toml --duration 20s --ga
  edgelab compare --topology config/global.toml --rate 5000 --warm   # the edge run on warm caches
  edgelab compare --topology config/minimal.toml --scenario loadtest/scenarios/zipf-web.toml
  edgelab compare --attach http://127.0.0.1:7070   # against a running `edgelab up` (the control URL it printed)
  edgelab compare --topology /etc/edgelab/topology.toml --peers dns   # inside docker compose
  edgelab compare --peers dns --topology /etc/edgelab/t.toml --shard 1/3 --out /report   # 1 of 3 load generators
  edgelab compare --topology config/minimal.toml --replay config/examples/cloudfront-access.log --speed 20   # a log, direct vs edge")]
pub struct Args {
    /// Topology file (default: the built-in default topology, config/default.toml).
    #[arg(long, value_name = "FILE")]
    pub topology: Option<PathBuf>,
    /// Scenario file replacing the topology's `[load]` table.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// How long each run sends requests, e.g. `20s`, `2m` (default: the scenario's, else
    /// the topology's `[load]`, else 10 s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Requests per second over all client places (default: the scenario's, else the
    /// topology's `[load]`, else 100).
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,
    /// Stop each run after this many requests (default: no limit, the duration ends it).
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,
    /// Seed of the workload (default: the scenario's, else the topology's).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Also run through Global Accelerator (entry PoP, then backbone to the origin).
    #[arg(long)]
    pub ga: bool,
    /// First a warm-up run through the edges from cold caches (the same load, another seed of
    /// the workload), reported apart as `edge-cold` (`edge-cold.json`, its own lines in the
    /// table); the edge run then measures warm caches, as `edgelab demo` does. Without it the
    /// edge run starts from empty caches and its figures include the fill.
    #[arg(long)]
    pub warm: bool,
    /// Directory for comparison.json, report.html and each run's JSON.
    #[arg(long, value_name = "DIR", default_value = "edgelab-report")]
    pub out: PathBuf,
    /// Use a running `edgelab up` through its control URL instead of starting the topology.
    #[arg(long, value_name = "URL", conflicts_with = "peers")]
    pub attach: Option<String>,
    /// `dns`: use nodes already running, reached by node name (docker compose).
    #[arg(long, value_name = "MODE")]
    pub peers: Option<String>,
    /// Traffic port of the nodes with `--peers dns`.
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    pub peer_port: u16,
    /// Admin port of the nodes with `--peers dns`.
    #[arg(long, value_name = "PORT", default_value_t = 9090)]
    pub peer_admin_port: u16,
    /// Exit with status 3 when, in any run, the p99 of send lateness or of emulation error
    /// exceeds this many milliseconds (the reports are still written).
    #[arg(long, value_name = "MS")]
    pub max_error: Option<f64>,
    /// Run only shard I of N of the seeded workload in every phase (1-based: 1/3, 2/3, 3/3;
    /// a 0-based index K is written K+1/N). The reports go to `OUT/shard-I-of-N/`; merge the
    /// shards' comparison.json files with `edgelab report merge`.
    #[arg(long, value_name = "I/N", env = env::SHARD, value_parser = crate::loadgen::shard_parser())]
    pub shard: Option<Shard>,
    /// Threads the nodes started here run on, each with its own single-thread runtime and a
    /// share of the nodes; 0 (the default) runs them on the command's runtime with the load
    /// generator (see `edgelab up --help`). Ignored with `--attach` and `--peers`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=256))]
    pub workers: Option<u16>,
    /// `--replay LOG [--speed X] [--place P] [--strict]`: every phase sends the log's
    /// requests (direct: each place to the origin; edge: to its PoP).
    #[command(flatten)]
    pub replay: ReplayArgs,
}

impl Args {
    fn overrides(&self) -> Overrides {
        Overrides {
            seed: self.seed,
            rate: self.rate,
            duration: self.duration,
            requests: self.requests,
            shard: self.shard,
            ..Overrides::default()
        }
    }

    /// Where the reports go: `--out`, or `--out/shard-I-of-N` for a shard, so shards can
    /// write into one shared directory.
    fn out_dir(&self) -> PathBuf {
        match self.shard {
            Some(shard) if !shard.is_whole() => self
                .out
                .join(format!("shard-{}-of-{}", shard.index, shard.count)),
            _ => self.out.clone(),
        }
    }

    fn reach(&self) -> Result<Reach, ConfigErrors> {
        match (&self.attach, self.peers.as_deref()) {
            (Some(control), _) => Ok(Reach::Attach(control.clone())),
            (None, Some("dns")) => Ok(Reach::Dns {
                traffic_port: self.peer_port,
                admin_port: self.peer_admin_port,
            }),
            (None, Some(_)) => Err(ConfigErrors::one("--peers", "the only mode is `dns`")),
            (None, None) => Ok(Reach::Loopback),
        }
    }
}

/// The lab (with the log it replays) and how to reach it, or every problem.
fn load(args: &Args) -> Result<(Lab, Option<ReplayLog>, Reach), ConfigErrors> {
    let reach = args.reach()?;
    if args.replay.replay.is_none() {
        let lab = Lab::load(
            args.topology.as_deref(),
            args.scenario.as_deref(),
            args.overrides(),
        )?;
        return Ok((lab, None, reach));
    }
    if !matches!(reach, Reach::Loopback) {
        return Err(ConfigErrors::one("--replay", log_replay::ELSEWHERE));
    }
    let (lab, log) = log_replay::replay_lab(
        &args.replay,
        args.topology.as_deref(),
        args.scenario.as_deref(),
        args.overrides(),
    )?;
    Ok((lab, Some(log), reach))
}

/// Runs `edgelab compare`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (lab, log, reach) = match load(&args) {
        Ok(loaded) => loaded,
        Err(errors) => return Ok(output::config_errors(&errors)),
    };
    let lab = lab.with_workers(crate::up::workers(args.workers));
    let shutdown = Shutdown::new();
    let code = match lab.start(reach, shutdown.clone()).await {
        Ok(mut running) => {
            if let Some(log) = log {
                log_replay::attach(&mut running, log);
            }
            let phases = Phases {
                ga: args.ga,
                warm: args.warm,
            };
            compare(&mut running, phases, &args.out_dir(), args.max_error).await
        }
        Err(error) => Err(error.into()),
    };
    shutdown.drain(Duration::from_secs(5)).await;
    code
}

/// Which runs a comparison makes besides direct and edge.
#[derive(Clone, Copy, Debug)]
pub struct Phases {
    /// A Global Accelerator run.
    pub ga: bool,
    /// A warm-up through the edges first, so the edge run measures warm caches.
    pub warm: bool,
}

/// Runs direct, edge (and ga) on a running lab, prints the table and writes the report
/// files into `out` (shared with `edgelab demo`); exit status 3 when a run's own error p99
/// exceeds `max_error` ms.
pub async fn compare(
    running: &mut RunningLab,
    phases: Phases,
    out: &Path,
    max_error: Option<f64>,
) -> anyhow::Result<ExitCode> {
    if let Some(cluster) = running.cluster() {
        output::block(&cluster.table());
    }
    let stop = edgelab_common::shutdown::OnSignal::install();
    let settings = running.lab().settings().clone();
    let replaying = running.replay().map(log_replay::describe);
    let announce = |mode: Mode, opts: &RunOpts| {
        let label = opts.label.as_deref().unwrap_or(mode.as_str());
        output::line(&match &replaying {
            Some(replaying) => format!("{label}: {replaying} …"),
            None => announcement(label, &settings),
        });
    };
    let progress = std::io::stderr().is_terminal();
    let comparison = match running
        .compare(phases.ga, phases.warm, progress, stop.shutdown(), announce)
        .await
    {
        Ok(Some(comparison)) => comparison,
        Ok(None) => anyhow::bail!("interrupted before both runs finished"),
        Err(LabError::Config(errors)) => return Ok(output::config_errors(&errors)),
        Err(error) => return Err(error.into()),
    };
    output::block(&comparison.table());
    edgelab_cluster::lab::write_reports(out, &comparison)?;
    output::line(&format!("report: {}", out.join("report.html").display()));
    if phases.warm {
        output::block(&format!("\nIn short: {}", comparison.takeaway()));
    }
    let interrupted = comparison.runs().iter().any(|r| r.interrupted);
    if interrupted {
        return Ok(ExitCode::from(130));
    }
    let worst = comparison.worst_error_p99_ms();
    Ok(output::max_error(max_error, worst).unwrap_or(ExitCode::SUCCESS))
}

/// `edge: 100 requests/s for 12s from 4 places …`.
fn announcement(label: &str, settings: &Settings) -> String {
    let load = if settings.closed {
        format!("closed loop, {} clients per place", settings.connections)
    } else {
        format!("{} requests/s", settings.arrival.peak_rate())
    };
    format!(
        "{}: {load} for {:?} from {} places …",
        if label == edgelab_cluster::lab::WARM_UP_LABEL {
            "edge-cold (warm-up through the edges, reported apart)"
        } else {
            label
        },
        settings.duration,
        settings.populations.len()
    )
}
