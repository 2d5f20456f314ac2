//! A [`Lab`]: one topology, one workload, and the orchestration every command that measures
//! shares ("topology → cluster → catalog → targets → plan → run").
//!
//! - [`Lab::load`] reads the topology file (or the built-in default), takes the workload from a
//!   scenario file or the topology's `[load]`, applies the command line ([`Overrides`]; the
//!   seed defaults to the scenario's, then the topology's) and checks every client place
//!   once.
//! - [`Lab::start`] reaches the nodes: starts them in this process ([`Reach::Loopback`]),
//!   attaches to a running `edgelab up` through its control API ([`Reach::Attach`]), or uses
//!   nodes reached by name ([`Reach::Dns`], docker compose).
//! - [`RunningLab::run`] discovers the catalog once, routes every client place for a
//!   [`Mode`], plans the workload and runs it, returning the [`Report`] (with the tier
//!   links' delivery error the nodes measured during the run, when they run here);
//!   [`RunningLab::compare`] runs direct, edge (and ga) into a [`Comparison`].
//!
//! `edgelab compare`, `demo`, `drill` and `loadgen --topology` are argument parsing and
//! printing over this.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use edgelab_common::config::{ConfigErrors, load_toml};
use edgelab_common::shutdown::Shutdown;
use edgelab_loadgen::replay::ReplayLog;
use edgelab_loadgen::scenario::RawScenario;
use edgelab_loadgen::{
    Catalog, Comparison, LoadgenError, Mode, Overrides, Plan, Report, RunOptions, Settings, Target,
    Uri,
};

use crate::cluster::{Binding, Cluster, ClusterError};
use crate::targets::{self, Addresses, Dns};
use crate::topology::{Topology, check_places};
use crate::workers::NodeRuntimes;

/// How long catalog discovery may take.
const CATALOG_LIMIT: Duration = Duration::from_secs(30);
/// How long the control API of a running cluster may take to list its nodes.
const ATTACH_LIMIT: Duration = Duration::from_secs(10);

/// Why a lab could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Bad topology, workload or routing: the user's input (exit 64).
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The nodes could not start.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A running cluster could not be reached.
    #[error("{0}")]
    Attach(String),
    /// The load generator failed (catalog, connections).
    #[error(transparent)]
    Loadgen(LoadgenError),
}

impl From<LoadgenError> for LabError {
    fn from(error: LoadgenError) -> Self {
        match error {
            LoadgenError::Config(errors) => LabError::Config(errors),
            other => LabError::Loadgen(other),
        }
    }
}

impl LabError {
    /// Log label.
    pub fn kind(&self) -> &'static str {
        match self {
            LabError::Config(_) => "config",
            LabError::Cluster(error) => error.kind(),
            LabError::Attach(_) => "attach",
            LabError::Loadgen(_) => "loadgen",
        }
    }
}

/// A validated topology and workload, nothing started yet.
#[derive(Debug, Clone)]
pub struct Lab {
    topology: Topology,
    settings: Settings,
    /// Single-thread runtimes to spread nodes started here over (0: the current runtime).
    workers: usize,
}

/// Where the nodes of a lab are.
#[derive(Debug, Clone)]
pub enum Reach {
    /// Start every node in this process on loopback.
    Loopback,
    /// A running `edgelab up`, through its control URL (`GET /nodes`).
    Attach(String),
    /// Nodes already running, reached by node name (docker compose).
    Dns {
        /// Traffic port of every node.
        traffic_port: u16,
        /// Admin port of every node.
        admin_port: u16,
    },
}

impl Lab {
    /// The topology in `file` (default: the built-in one) with the workload of `scenario`
    /// (default: the topology's `[load]`) and `overrides`; every problem is collected.
    pub fn load(
        file: Option<&Path>,
        scenario: Option<&Path>,
        overrides: Overrides,
    ) -> Result<Lab, ConfigErrors> {
        let topology = match file {
            Some(path) => Topology::load(path),
            None => Ok(Topology::default_topology()),
        };
        match topology {
            Ok(topology) => Lab::new(topology, scenario, overrides),
            Err(mut errors) => {
                // The workload is checked too, so every problem is listed at once.
                let raw = scenario.map_or_else(|| Ok(RawScenario::default()), load_toml);
                if let Err(more) = raw.and_then(|raw| Settings::resolve(raw, &overrides)) {
                    errors.extend_prefixed("", more);
                }
                Err(errors)
            }
        }
    }

    /// [`Lab::load`] for an already validated topology: its validated `[load]` with
    /// `overrides`, or `scenario` (seed: the scenario's, else the topology's).
    pub fn new(
        topology: Topology,
        scenario: Option<&Path>,
        mut overrides: Overrides,
    ) -> Result<Lab, ConfigErrors> {
        let settings = match scenario {
            None => topology.load.clone().with_overrides(&overrides)?,
            Some(path) => {
                let raw = load_toml::<RawScenario>(path)?;
                overrides.seed = overrides.seed.or(raw.seed).or(Some(topology.seed));
                let settings = Settings::resolve(raw, &overrides)?;
                let mut errors = ConfigErrors::new();
                check_places(&settings, &mut errors);
                errors.into_result(settings)?
            }
        };
        if settings.populations.is_empty() {
            return Err(ConfigErrors::one(
                "population",
                "a comparison needs client places ([[load.population]] in the topology or [[population]] in the scenario)",
            ));
        }
        Ok(Lab {
            topology,
            settings,
            workers: 0,
        })
    }

    /// Nodes started here ([`Reach::Loopback`]) run spread over `workers` single-thread
    /// runtimes on their own threads ([`NodeRuntimes`]); 0 (the default) runs them on the
    /// current runtime.
    pub fn with_workers(mut self, workers: usize) -> Lab {
        self.workers = workers;
        self
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The workload.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Reaches the nodes per `reach`; nodes started here are tracked by `shutdown`.
    pub async fn start(self, reach: Reach, shutdown: Shutdown) -> Result<RunningLab, LabError> {
        let (nodes, origin_metrics) = match reach {
            Reach::Loopback => {
                let runtimes = match self.workers {
                    0 => None,
                    n => Some(NodeRuntimes::start(n, &shutdown).map_err(|source| {
                        ClusterError::Bind {
                            what: format!("{n} node runtimes"),
                            source,
                        }
                    })?),
                };
                let topology = self.topology.clone();
                let cluster =
                    Cluster::start_on(topology, Binding::Loopback, shutdown, runtimes.as_ref())
                        .await?;
                let metrics = cluster.origin_metrics();
                (Nodes::Cluster(Arc::new(cluster)), metrics)
            }
            Reach::Attach(control) => {
                let attached = Attached::fetch(&control).await?;
                let metrics = attached.origin_metrics();
                (Nodes::Attached(attached), metrics)
            }
            Reach::Dns {
                traffic_port,
                admin_port,
            } => {
                let metrics = self
                    .topology
                    .origins()
                    .filter_map(|o| {
                        format!("http://{}:{admin_port}/metrics", o.name)
                            .parse()
                            .ok()
                    })
                    .collect();
                (Nodes::Dns(Dns { port: traffic_port }), metrics)
            }
        };
        Ok(RunningLab {
            lab: self,
            nodes,
            origin_metrics,
            catalog: None,
            replay: None,
        })
    }
}

/// The nodes a running lab sends load to.
enum Nodes {
    Cluster(Arc<Cluster>),
    Attached(Attached),
    Dns(Dns),
}

/// The label of the warm-up run through the edges (from cold caches).
pub const WARM_UP_LABEL: &str = "edge-cold";

/// What one run of a lab shows and writes besides the report.
#[derive(Debug, Clone, Default)]
pub struct RunOpts {
    /// Label in reports (default: the mode).
    pub label: Option<String>,
    /// A live progress line on standard error.
    pub progress: bool,
    /// Write an HdrHistogram interval log here.
    pub hdr_log: Option<PathBuf>,
    /// More origin `/metrics` URLs to read besides the lab's own.
    pub origin_metrics: Vec<Uri>,
    /// Another seed than the workload's (a warm-up draws other requests from the same
    /// popularity).
    pub seed: Option<u64>,
}

/// A lab whose nodes are reachable.
pub struct RunningLab {
    lab: Lab,
    nodes: Nodes,
    origin_metrics: Vec<Uri>,
    catalog: Option<Catalog>,
    replay: Option<ReplayLog>,
}

impl RunningLab {
    /// The lab.
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// The in-process cluster, when the lab started one.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        match &self.nodes {
            Nodes::Cluster(cluster) => Some(cluster),
            _ => None,
        }
    }

    /// Where the nodes listen and which are up.
    pub fn addresses(&self) -> &dyn Addresses {
        match &self.nodes {
            Nodes::Cluster(cluster) => cluster.as_ref(),
            Nodes::Attached(attached) => attached,
            Nodes::Dns(dns) => dns,
        }
    }

    /// The workload of the next runs, to change between runs (another mix, another
    /// duration); client places are checked again when the next run routes them.
    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.lab.settings
    }

    /// The origins' `/metrics` URLs.
    pub fn origin_metrics(&self) -> &[Uri] {
        &self.origin_metrics
    }

    /// Uses `catalog` instead of discovering the origin's.
    pub fn set_catalog(&mut self, catalog: Catalog) {
        self.catalog = Some(catalog);
    }

    /// Every following run sends the requests of `log` ([`Plan::replaying`]) instead of
    /// drawing them; the workload's client places should be the log's
    /// ([`ReplayLog::places`]).
    pub fn set_replay(&mut self, log: ReplayLog) {
        self.replay = Some(log);
    }

    /// The log the runs replay, if any ([`RunningLab::set_replay`]).
    pub fn replay(&self) -> Option<&ReplayLog> {
        self.replay.as_ref()
    }

    /// The catalog: discovered from the first reachable origin on first use.
    pub async fn catalog(&mut self) -> Result<&Catalog, LabError> {
        if self.catalog.is_none() {
            let origin = self
                .lab
                .topology
                .origins()
                .find_map(|o| self.addresses().traffic_url(&o.name))
                .ok_or_else(|| LabError::Attach("no origin node is reachable".into()))?;
            let base: Uri = origin
                .parse()
                .map_err(|e| LabError::Attach(format!("origin URL {origin}: {e}")))?;
            self.catalog = Some(Catalog::discover(&base, CATALOG_LIMIT).await?);
        }
        // Invariant: set just above when it was missing.
        Ok(self.catalog.as_ref().expect("the catalog is set"))
    }

    /// Every client place routed for `mode`, following node health now.
    pub fn targets(&self, mode: Mode) -> Result<Vec<Target>, ConfigErrors> {
        targets::resolve(
            &self.lab.topology,
            &self.lab.settings.populations,
            mode,
            self.addresses(),
        )
    }

    /// Routes, plans and runs the workload in `mode` until it ends or `stop` triggers.
    pub async fn run(
        &mut self,
        mode: Mode,
        opts: RunOpts,
        stop: Shutdown,
    ) -> Result<Report, LabError> {
        let (targets, map) = targets::plan(
            &self.lab.topology,
            &self.lab.settings.populations,
            mode,
            self.addresses(),
        )?;
        let places: Vec<String> = targets.iter().map(|t| t.place.clone()).collect();
        let mut settings = self.lab.settings.clone();
        if let Some(seed) = opts.seed {
            settings.seed = seed;
        }
        let plan = Plan::new(settings, self.catalog().await?, &places)?;
        let plan = match &self.replay {
            Some(log) => plan.replaying(log.clone()),
            None => plan,
        };
        let mut origin_metrics = self.origin_metrics.clone();
        origin_metrics.extend(opts.origin_metrics);
        let options = RunOptions {
            label: opts.label.unwrap_or_else(|| mode.as_str().to_string()),
            origin_metrics,
            progress: opts.progress,
            hdr_log: opts.hdr_log,
            tier_links: self.cluster().map(|c| c.tier_links()).unwrap_or_default(),
        };
        let tiers_before = self.cluster().map(|c| c.tier_link_lateness());
        let mut report = edgelab_loadgen::run(&plan, &targets, &options, stop).await?;
        report.map = Some(map);
        if let (Some(cluster), Some(before)) = (self.cluster(), tiers_before) {
            let mut during = cluster.tier_link_lateness();
            // invariant: counts only grow, so the later reading holds the earlier one.
            during
                .subtract(&before)
                .expect("a later reading holds the earlier one");
            report.set_tier_links(&during);
        }
        Ok(report)
    }

    /// Direct, then edge (then ga when `ga`), as one comparison; `before` is called with each
    /// phase before it runs (to announce it). With `warm`, a warm-up through the edges (the
    /// same popularity, another seed: [`WARM_UP_LABEL`]) runs before the edge run, which then
    /// measures warm caches; the warm-up is reported on its own ([`Comparison::cold`]).
    /// `None` when `stop` triggered before both direct and edge finished.
    pub async fn compare(
        &mut self,
        ga: bool,
        warm: bool,
        progress: bool,
        stop: Shutdown,
        before: impl Fn(Mode, &RunOpts),
    ) -> Result<Option<Comparison>, LabError> {
        let opts = |label: Option<&str>, seed: Option<u64>| RunOpts {
            progress,
            label: label.map(str::to_string),
            seed,
            ..RunOpts::default()
        };
        let warm_up = opts(
            Some(WARM_UP_LABEL),
            Some(self.lab.settings.seed.wrapping_add(1)),
        );
        let mut phases = vec![(Mode::Direct, opts(None, None))];
        if warm {
            phases.push((Mode::Edge, warm_up));
        }
        phases.push((Mode::Edge, opts(None, None)));
        if ga {
            phases.push((Mode::Ga, opts(None, None)));
        }
        self.catalog().await?;
        let mut reports: Vec<Report> = Vec::new();
        for (mode, opts) in phases {
            if stop.is_triggered() {
                break;
            }
            before(mode, &opts);
            reports.push(self.run(mode, opts, stop.clone()).await?);
        }
        let cold = reports
            .iter()
            .position(|r| r.label == WARM_UP_LABEL)
            .map(|at| reports.remove(at));
        let mut reports = reports.into_iter();
        let (Some(direct), Some(edge)) = (reports.next(), reports.next()) else {
            return Ok(None);
        };
        let ga = reports.next();
        let comparison = Comparison::new(&direct, &edge, ga.as_ref());
        Ok(Some(match cold {
            Some(cold) => comparison.with_cold(cold),
            None => comparison,
        }))
    }
}

/// Writes comparison.json, report.html and one JSON per run into `out`.
pub fn write_reports(out: &Path, comparison: &Comparison) -> std::io::Result<()> {
    let context = |path: &Path| {
        let shown = path.display().to_string();
        move |error: std::io::Error| std::io::Error::new(error.kind(), format!("{shown}: {error}"))
    };
    std::fs::create_dir_all(out).map_err(context(out))?;
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(context(&path))
    };
    write("comparison.json", comparison.to_json())?;
    write("report.html", edgelab_loadgen::html::comparison(comparison))?;
    for report in comparison.runs() {
        write(&format!("{}.json", report.label), report.to_json())?;
    }
    Ok(())
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

impl Attached {
    /// `GET <control>/nodes`.
    async fn fetch(control: &str) -> Result<Attached, LabError> {
        use http_body_util::BodyExt;
        let problem = |e: &dyn std::fmt::Display| LabError::Attach(format!("{control}: {e}"));
        let url: Uri = format!("{}/nodes", control.trim_end_matches('/'))
            .parse()
            .map_err(|e| problem(&e))?;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<bytes::Bytes>>();
        let response = tokio::time::timeout(ATTACH_LIMIT, client.get(url))
            .await
            .map_err(|e| problem(&e))?
            .map_err(|e| problem(&e))?;
        if !response.status().is_success() {
            return Err(problem(&response.status()));
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| problem(&e))?
            .to_bytes();
        let nodes = serde_json::from_slice(&body).map_err(|e| problem(&e))?;
        Ok(Attached(nodes))
    }

    fn origin_metrics(&self) -> Vec<Uri> {
        self.0
            .iter()
            .filter(|n| n.tier == "origin")
            .filter_map(|n| format!("{}/metrics", n.admin).parse().ok())
            .collect()
    }
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
