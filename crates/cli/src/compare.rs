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

use edgelab_cluster::targets::{self, Addresses, Dns};
use edgelab_cluster::{Binding, Cluster, NodeInfo, Topology};
use edgelab_common::config::ConfigErrors;
use edgelab_common::shutdown::{self, Shutdown};
use edgelab_loadgen::scenario::RawScenario;
use edgelab_loadgen::{Catalog, Comparison, Mode, Overrides, Plan, Report, RunOptions, Settings};

use crate::output;

/// How long catalog discovery may take.
const CATALOG_LIMIT: Duration = Duration::from_secs(30);

/// Arguments of `edgelab compare`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  edgelab compare                                  # built-in default topology, its workload
  edgelab compare --topology config/global.toml --duration 20s --ga
  edgelab compare --topology config/minimal.toml --scenario loadtest/scenarios/zipf-web.toml
  edgelab compare --attach http://127.0.0.1:7070   # against a running `edgelab up`
  edgelab compare --topology /etc/edgelab/topology.toml --peers dns   # inside docker compose")]
pub struct Args {
    /// Topology file (default: the built-in default topology, config/default.toml).
    #[arg(long, value_name = "FILE")]
    pub topology: Option<PathBuf>,
    /// Scenario file replacing the topology's `[load]` table.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// How long each run sends requests, e.g. `20s`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Requests per second over all client places.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Stop each run after this many requests.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Seed of the workload (default: the scenario's, else the topology's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also run through Global Accelerator (entry PoP, then backbone to the origin).
    #[arg(long)]
    pub ga: bool,
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
    #[arg(long, default_value_t = 8080)]
    pub peer_port: u16,
    /// Admin port of the nodes with `--peers dns`.
    #[arg(long, default_value_t = 9090)]
    pub peer_admin_port: u16,
}

/// What a comparison runs, shared with `edgelab demo`.
pub struct Job {
    /// The topology.
    pub topology: Topology,
    /// The workload.
    pub settings: Settings,
    /// Include a Global Accelerator run.
    pub ga: bool,
    /// Report directory.
    pub out: PathBuf,
}

/// The topology in `file`, or the built-in default one.
pub fn load_topology(file: Option<&PathBuf>) -> Result<Topology, ConfigErrors> {
    match file {
        Some(path) => Topology::load(path),
        None => Ok(Topology::default_topology()),
    }
}

/// The workload of a run on `topology`: `raw` (the topology's `[load]` or a scenario) with
/// `overrides`; the seed defaults to the scenario's, then the topology's, and every client
/// place must be a real place.
pub fn topology_settings(
    topology: &Topology,
    raw: RawScenario,
    mut overrides: Overrides,
) -> Result<Settings, ConfigErrors> {
    overrides.seed = overrides.seed.or(raw.seed).or(Some(topology.seed));
    let settings = Settings::resolve(raw, &overrides)?;
    check_places(&settings)?;
    Ok(settings)
}

/// Loads the topology and workload of `args`, collecting every problem.
fn job(args: &Args) -> Result<Job, ConfigErrors> {
    let topology = load_topology(args.topology.as_ref())?;
    let raw = match &args.scenario {
        Some(path) => edgelab_common::config::load_toml::<RawScenario>(path)?,
        None => topology.load.clone(),
    };
    let overrides = Overrides {
        seed: args.seed,
        rate: args.rate,
        duration: args.duration,
        requests: args.requests,
        ..Overrides::default()
    };
    let settings = topology_settings(&topology, raw, overrides)?;
    if args.peers.as_deref().is_some_and(|p| p != "dns") {
        return Err(ConfigErrors::one("--peers", "the only mode is `dns`"));
    }
    Ok(Job {
        topology,
        settings,
        ga: args.ga,
        out: args.out.clone(),
    })
}

/// Every client place must be a real place: the comparison routes it.
pub fn check_places(settings: &Settings) -> Result<(), ConfigErrors> {
    let mut errors = ConfigErrors::new();
    if settings.populations.is_empty() {
        errors.push(
            "population",
            "a comparison needs client places ([[load.population]] in the topology or [[population]] in the scenario)",
        );
    }
    for (i, population) in settings.populations.iter().enumerate() {
        if let Err(error) = edgelab_geo::Topology::embedded().resolve(&population.place) {
            errors.push(format!("population[{i}].place"), error.to_string());
        }
    }
    errors.into_result(())
}

/// Nodes listed by a running cluster's control API.
struct Attached(Vec<AttachedNode>);

#[derive(serde::Deserialize)]
struct AttachedNode {
    name: String,
    traffic: String,
    admin: String,
    tier: String,
    up: bool,
}

impl Addresses for Attached {
    fn traffic_url(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.traffic.clone())
    }

    fn is_up(&self, name: &str) -> bool {
        self.0.iter().any(|n| n.name == name && n.up)
    }
}

/// Runs `edgelab compare`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let job = match job(&args) {
        Ok(job) => job,
        Err(errors) => return Ok(output::config_errors(&errors)),
    };
    if let Some(control) = &args.attach {
        let url: edgelab_loadgen::Uri =
            format!("{}/nodes", control.trim_end_matches('/')).parse()?;
        let body = fetch(&url).await?;
        let nodes: Vec<AttachedNode> = serde_json::from_slice(&body)?;
        let origin_metrics = nodes
            .iter()
            .filter(|n| n.tier == "origin")
            .filter_map(|n| format!("{}/metrics", n.admin).parse().ok())
            .collect();
        let attached = Attached(nodes);
        return compare(&job, &attached, origin_metrics).await;
    }
    if args.peers.is_some() {
        let dns = Dns {
            port: args.peer_port,
        };
        let origin_metrics = job
            .topology
            .origins()
            .filter_map(|o| {
                format!("http://{}:{}/metrics", o.name, args.peer_admin_port)
                    .parse()
                    .ok()
            })
            .collect();
        return compare(&job, &dns, origin_metrics).await;
    }
    let shutdown = Shutdown::new();
    let cluster = Cluster::start(job.topology.clone(), Binding::Loopback, shutdown.clone()).await?;
    output::block(&cluster.table());
    let origin_metrics = cluster.origin_metrics();
    let code = compare(&job, &cluster, origin_metrics).await;
    shutdown.drain(Duration::from_secs(5)).await;
    code
}

async fn fetch(url: &edgelab_loadgen::Uri) -> anyhow::Result<bytes::Bytes> {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let response = tokio::time::timeout(Duration::from_secs(10), client.get(url.clone())).await??;
    anyhow::ensure!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    Ok(response.into_body().collect().await?.to_bytes())
}

/// Runs direct, edge (and ga) on `nodes`, prints the table and writes the report files.
pub async fn compare(
    job: &Job,
    nodes: &dyn Addresses,
    origin_metrics: Vec<edgelab_loadgen::Uri>,
) -> anyhow::Result<ExitCode> {
    let comparison = match run_modes(job, nodes, origin_metrics).await? {
        Ok(comparison) => comparison,
        Err(code) => return Ok(code),
    };
    output::block(&comparison.table());
    write_reports(&job.out, &comparison)?;
    output::line(&format!(
        "report: {}",
        job.out.join("report.html").display()
    ));
    let interrupted = comparison.runs().iter().any(|r| r.interrupted);
    Ok(if interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// The runs of a comparison; `Err(code)` when the user's input was wrong.
pub async fn run_modes(
    job: &Job,
    nodes: &dyn Addresses,
    origin_metrics: Vec<edgelab_loadgen::Uri>,
) -> anyhow::Result<Result<Comparison, ExitCode>> {
    let origin = job
        .topology
        .origins()
        .find_map(|o| nodes.traffic_url(&o.name))
        .ok_or_else(|| anyhow::anyhow!("no origin node is reachable"))?;
    let catalog = Catalog::discover(&origin.parse()?, CATALOG_LIMIT).await?;
    let shutdown = Shutdown::new();
    let on_signal = shutdown.clone();
    let stop = shutdown::signal();
    let signal_task = tokio::spawn(async move {
        stop.await;
        on_signal.trigger();
    });
    let mut modes = vec![Mode::Direct, Mode::Edge];
    if job.ga {
        modes.push(Mode::Ga);
    }
    let mut reports: Vec<Report> = Vec::new();
    for mode in modes {
        if shutdown.is_triggered() {
            break;
        }
        let targets = match targets::resolve(&job.topology, &job.settings.populations, mode, nodes)
        {
            Ok(targets) => targets,
            Err(errors) => return Ok(Err(output::config_errors(&errors))),
        };
        let places: Vec<String> = targets.iter().map(|t| t.place.clone()).collect();
        let plan = match Plan::new(job.settings.clone(), &catalog, &places) {
            Ok(plan) => plan,
            Err(errors) => return Ok(Err(output::config_errors(&errors))),
        };
        let load = if plan.settings.closed {
            format!(
                "closed loop, {} clients per place",
                plan.settings.connections
            )
        } else {
            format!("{} requests/s", plan.settings.arrival.peak_rate())
        };
        output::line(&format!(
            "{mode}: {load} for {:?} from {} places …",
            plan.settings.duration,
            places.len()
        ));
        let options = RunOptions {
            label: mode.as_str().to_string(),
            origin_metrics: origin_metrics.clone(),
            progress: std::io::stderr().is_terminal(),
            hdr_log: None,
        };
        let report = edgelab_loadgen::run(&plan, &targets, &options, shutdown.clone()).await?;
        reports.push(report);
    }
    signal_task.abort();
    let mut reports = reports.into_iter();
    let (Some(direct), Some(edge)) = (reports.next(), reports.next()) else {
        anyhow::bail!("interrupted before both runs finished");
    };
    let ga = reports.next();
    Ok(Ok(Comparison::new(&direct, &edge, ga.as_ref())))
}

/// Writes comparison.json, report.html and one JSON per run into `out`.
pub fn write_reports(out: &Path, comparison: &Comparison) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)
        .map_err(|error| anyhow::anyhow!("creating {}: {error}", out.display()))?;
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text)
            .map_err(|error| anyhow::anyhow!("writing {}: {error}", path.display()))
    };
    write("comparison.json", comparison.to_json())?;
    write("report.html", edgelab_loadgen::html::comparison(comparison))?;
    for report in comparison.runs() {
        write(&format!("{}.json", report.label), report.to_json())?;
    }
    Ok(())
}

/// The node list as JSON (`--nodes-json`, `GET /nodes`).
pub fn nodes_json(nodes: &[NodeInfo]) -> String {
    serde_json::to_string_pretty(nodes).unwrap_or_else(|_| "[]".to_string())
}
