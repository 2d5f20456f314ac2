//! `edgelab loadgen`: one run against one target, or against a whole topology started in
//! this process (every client place routed to its PoP), with a terminal summary and optional
//! JSON, HTML and HdrHistogram log outputs.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use edgelab_cluster::{Binding, Cluster, Topology};
use edgelab_common::config::ConfigErrors;
use edgelab_common::shutdown::{self, Shutdown};
use edgelab_loadgen::scenario::Settings;
use edgelab_loadgen::{Catalog, Mode, Overrides, Plan, RunOptions, Target, Uri, html};

use crate::output;

/// Exit status of a run stopped with Ctrl-C (128 + SIGINT), after the partial report.
const EXIT_INTERRUPTED: u8 = 130;
/// Time limit for fetching the catalog.
const CATALOG_LIMIT: Duration = Duration::from_secs(10);

/// Arguments of `edgelab loadgen`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  edgelab loadgen --target http://127.0.0.1:8080 --rate 500 --duration 30s
  edgelab loadgen --target http://127.0.0.1:8081 --scenario loadtest/scenarios/zipf-web.toml \\
      --origin-metrics http://127.0.0.1:9090/metrics --json run.json --html run.html
  edgelab loadgen --target http://example.test --urls urls.txt --closed --connections 16
  edgelab loadgen --topology config/default.toml --duration 20s --json edge.json   # every place via its PoP")]
pub struct Args {
    /// Send every request to this node (origin or edge); objects come from its
    /// `/.well-known/edgelab/catalog` unless `--urls` is given.
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// Start this topology in the process and route every client place of the workload (the
    /// topology's `[load]` unless `--scenario`) to its PoP (`--mode edge`, the default here),
    /// to the origin (`direct`) or through Global Accelerator (`ga`).
    #[arg(long, value_name = "FILE")]
    topology: Option<PathBuf>,
    /// Request these paths or URLs (one per line) instead of discovering the catalog.
    #[arg(long, value_name = "FILE")]
    urls: Option<PathBuf>,
    /// Scenario file (TOML, see docs/loadgen.md); flags override it.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Requests per second over all places (constant or Poisson arrivals).
    #[arg(long, value_name = "N")]
    rate: Option<f64>,
    /// How long to send requests, e.g. `30s`, `2m`.
    #[arg(long, value_name = "D", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many requests.
    #[arg(long, value_name = "N")]
    requests: Option<u64>,
    /// Seed of every random choice (printed and written into the report).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Connections per target.
    #[arg(long, value_name = "N")]
    connections: Option<usize>,
    /// Closed loop: each connection sends its next request when the previous one finished.
    #[arg(long)]
    closed: bool,
    /// What the target is, for the report: direct (an origin), edge or ga. Default: direct
    /// with `--target`, edge with `--topology`.
    #[arg(long, value_name = "MODE")]
    mode: Option<String>,
    /// Write the JSON report (schema: loadtest/report.schema.json) here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the HTML report (self-contained, renders offline) here.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Write an HdrHistogram interval log (total latency in µs, one interval a second) here.
    #[arg(long, value_name = "FILE")]
    hdr_log: Option<PathBuf>,
    /// Origin admin `/metrics` URL to read origin requests and bytes from (repeatable).
    #[arg(long, value_name = "URL")]
    origin_metrics: Vec<String>,
}

/// Parses a mode name.
pub fn parse_mode(text: &str) -> Option<Mode> {
    match text {
        "direct" => Some(Mode::Direct),
        "edge" => Some(Mode::Edge),
        "ga" => Some(Mode::Ga),
        _ => None,
    }
}

/// Checks an `http://` URL.
fn parse_http_url(text: &str) -> Result<Uri, String> {
    let uri: Uri = text
        .parse()
        .map_err(|error| format!("`{text}` is not a URL: {error}"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http"), Some(_)) => Ok(uri),
        (Some("https"), _) => Err(format!(
            "`{text}`: https is not supported (edgelab serves plain HTTP)"
        )),
        _ => Err(format!("`{text}` must be an absolute http:// URL")),
    }
}

/// Everything a valid command line resolves to.
struct Resolved {
    settings: Settings,
    target: Source,
    mode: Mode,
    origin_metrics: Vec<Uri>,
}

/// Where the requests go.
enum Source {
    /// One node.
    Url(Uri),
    /// A topology started in this process.
    Topology(Box<Topology>),
}

fn resolve(args: &Args) -> Result<Resolved, ConfigErrors> {
    let mut errors = ConfigErrors::new();
    let target = match (&args.target, &args.topology) {
        (Some(_), Some(_)) => {
            errors.push("--target", "give either --target or --topology, not both");
            None
        }
        (None, Some(path)) => match Topology::load(path) {
            Ok(topology) => Some(Source::Topology(Box::new(topology))),
            Err(problems) => {
                errors.extend_prefixed("", problems);
                None
            }
        },
        (None, None) => {
            errors.push(
                "--target",
                "is required (the URL of an origin or edge node)",
            );
            None
        }
        (Some(url), None) => errors
            .check("--target", parse_http_url(url))
            .map(Source::Url),
    };
    let mode_name = args.mode.as_deref().unwrap_or(if args.topology.is_some() {
        "edge"
    } else {
        "direct"
    });
    let mode = parse_mode(mode_name);
    if mode.is_none() {
        errors.push(
            "--mode",
            format!("unknown mode `{mode_name}` (expected direct, edge or ga)"),
        );
    }
    let mut origin_metrics = Vec::new();
    for url in &args.origin_metrics {
        if let Some(uri) = errors.check("--origin-metrics", parse_http_url(url)) {
            origin_metrics.push(uri);
        }
    }
    if let Some(urls) = &args.urls
        && !urls.is_file()
    {
        errors.push("--urls", format!("{}: no such file", urls.display()));
    }
    for (flag, path) in [
        ("--json", &args.json),
        ("--html", &args.html),
        ("--hdr-log", &args.hdr_log),
    ] {
        if let Some(path) = path {
            check_writable(flag, path, &mut errors);
        }
    }
    let topology = match &target {
        Some(Source::Topology(topology)) => Some(topology.as_ref()),
        _ => None,
    };
    let overrides = Overrides {
        seed: args.seed,
        rate: args.rate,
        duration: args.duration,
        requests: args.requests,
        connections: args.connections,
        closed: args.closed.then_some(true),
    };
    let settings = match (&args.scenario, topology) {
        (Some(path), None) => Settings::load(path, &overrides),
        (None, None) => Settings::resolve(Default::default(), &overrides),
        (scenario, Some(topology)) => scenario
            .as_ref()
            .map_or_else(
                || Ok(topology.load.clone()),
                |path| edgelab_common::config::load_toml(path),
            )
            .and_then(|raw| crate::compare::topology_settings(topology, raw, overrides)),
    };
    let settings = match settings {
        Ok(settings) => Some(settings),
        Err(problems) => {
            errors.extend_prefixed("", problems);
            None
        }
    };
    match (settings, target, mode) {
        (Some(settings), Some(target), Some(mode)) if errors.is_empty() => Ok(Resolved {
            settings,
            target,
            mode,
            origin_metrics,
        }),
        _ => Err(errors),
    }
}

fn check_writable(flag: &str, path: &Path, errors: &mut ConfigErrors) {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent
        && !parent.is_dir()
    {
        errors.push(
            flag,
            format!(
                "{}: directory {} does not exist",
                path.display(),
                parent.display()
            ),
        );
    }
}

/// The targets for one URL: one per scenario population (same URL, no emulated latency until
/// places are resolved through a topology), or a single `local` place.
pub fn url_targets(settings: &Settings, base: &Uri, mode: Mode) -> Vec<Target> {
    if settings.populations.is_empty() {
        return vec![Target::local(base.clone(), mode)];
    }
    settings
        .populations
        .iter()
        .map(|population| Target {
            place: population.place.clone(),
            weight: population.weight,
            ..Target::local(base.clone(), mode)
        })
        .collect()
}

/// Runs `edgelab loadgen`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let resolved = match resolve(&args) {
        Ok(resolved) => resolved,
        Err(errors) => return Ok(output::config_errors(&errors)),
    };
    let cluster_shutdown = Shutdown::new();
    let mut origin_metrics = resolved.origin_metrics;
    let (base, targets) = match resolved.target {
        Source::Url(base) => {
            let targets = url_targets(&resolved.settings, &base, resolved.mode);
            (base, targets)
        }
        Source::Topology(topology) => {
            let cluster =
                Cluster::start(*topology, Binding::Loopback, cluster_shutdown.clone()).await?;
            output::block(&cluster.table());
            origin_metrics.extend(cluster.origin_metrics());
            let targets = match edgelab_cluster::targets::resolve(
                cluster.topology(),
                &resolved.settings.populations,
                resolved.mode,
                &cluster,
            ) {
                Ok(targets) => targets,
                Err(errors) => return Ok(output::config_errors(&errors)),
            };
            let origin = cluster
                .topology()
                .origins()
                .find_map(|o| cluster.node(&o.name))
                .map(|n| n.traffic.clone())
                .ok_or_else(|| anyhow::anyhow!("the topology has no running origin"))?;
            (origin.parse()?, targets)
        }
    };
    let catalog = match &args.urls {
        Some(path) => {
            let text = std::fs::read_to_string(path)?;
            Catalog::from_url_list(&text, &path.display().to_string())
        }
        None => Catalog::discover(&base, CATALOG_LIMIT).await,
    };
    let catalog = match catalog {
        Ok(catalog) => catalog,
        Err(error) => {
            output::error(&error.to_string());
            return Ok(ExitCode::FAILURE);
        }
    };
    let places: Vec<String> = targets.iter().map(|t| t.place.clone()).collect();
    let plan = match Plan::new(resolved.settings, &catalog, &places) {
        Ok(plan) => plan,
        Err(errors) => return Ok(output::config_errors(&errors)),
    };
    let options = RunOptions {
        label: resolved.mode.as_str().to_string(),
        origin_metrics,
        progress: std::io::stderr().is_terminal(),
        hdr_log: args.hdr_log.clone(),
    };
    let shutdown = Shutdown::new();
    let on_signal = shutdown.clone();
    let signal_task = tokio::spawn(async move {
        shutdown::signal().await;
        on_signal.trigger();
    });
    let result = edgelab_loadgen::run(&plan, &targets, &options, shutdown.clone()).await;
    signal_task.abort();
    let report = match result {
        Ok(report) => report,
        Err(edgelab_loadgen::LoadgenError::Config(errors)) => {
            return Ok(output::config_errors(&errors));
        }
        Err(error) => {
            output::error(&error.to_string());
            return Ok(ExitCode::FAILURE);
        }
    };
    shutdown.drain(Duration::from_secs(2)).await;
    cluster_shutdown.drain(Duration::from_secs(5)).await;
    output::block(&report.summary());
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json())
            .map_err(|error| anyhow::anyhow!("writing {}: {error}", path.display()))?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, html::single(&report))
            .map_err(|error| anyhow::anyhow!("writing {}: {error}", path.display()))?;
    }
    Ok(if report.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}
