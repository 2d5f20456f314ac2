//! `edgelab loadgen`: one run against one target, or against a whole topology started in
//! this process (every client place routed to its PoP), with a terminal summary and optional
//! JSON, HTML and HdrHistogram log outputs.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use edgelab_cluster::{Lab, LabError, Reach, RunOpts};
use edgelab_common::config::ConfigErrors;
use edgelab_common::names::env;
use edgelab_common::shutdown::Shutdown;
use edgelab_loadgen::record::Tier;
use edgelab_loadgen::replay::ReplayLog;
use edgelab_loadgen::scenario::Settings;
use edgelab_loadgen::{
    Catalog, LoadgenError, Mode, Overrides, Plan, Report, RunOptions, Shard, Target, Uri, html,
};

use crate::log_replay::{self, ReplayArgs};
use crate::output;

/// Exit status of a run stopped with Ctrl-C (128 + SIGINT), after the partial report.
const EXIT_INTERRUPTED: u8 = 130;
/// Time limit for fetching the catalog.
const CATALOG_LIMIT: Duration = Duration::from_secs(10);

/// Arguments of `edgelab loadgen`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  edgelab loadgen --target http://127.0.0.1:8080 --rate 500 --duration 30s   # an origin on its default address
  edgelab loadgen --target http://127.0.0.1:8081 --mode edge --scenario loadtest/scenarios/zipf-web.toml \\
      --origin-metrics http://127.0.0.1:9080/metrics --json run.json --html run.html
  edgelab loadgen --target http://example.test --urls urls.txt --closed --connections 16
  edgelab loadgen --topology config/default.toml --duration 20s --json edge.json   # every place via its PoP
  edgelab loadgen --target http://pop:8080 --rate 3000 --shard 2/3 --json shard-2.json   # one of 3 machines
  edgelab loadgen --topology /etc/edgelab/default.toml --peers dns --json /report/edge.json   # inside compose or Swarm
  edgelab loadgen --target http://127.0.0.1:8081 --mode edge --replay config/examples/cloudfront-access.log --speed 20   # a log, against one edge
  edgelab loadgen --topology config/minimal.toml --replay config/examples/cloudfront-access.log \\
      --speed 20 --json replay.json   # each logged request from its edge location's place, to its PoP")]
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
    /// With `--topology`: `dns` sends the load to the topology's nodes already running,
    /// reached by node name (docker compose, Swarm, Kubernetes), instead of starting them in
    /// this process.
    #[arg(long, value_name = "MODE", requires = "topology")]
    peers: Option<String>,
    /// Traffic port of the nodes with `--peers dns`.
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    peer_port: u16,
    /// Admin port of the nodes with `--peers dns` (origins' `/metrics`).
    #[arg(long, value_name = "PORT", default_value_t = 9090)]
    peer_admin_port: u16,
    /// Request these paths or URLs (one per line) instead of discovering the catalog.
    #[arg(long, value_name = "FILE")]
    urls: Option<PathBuf>,
    /// Scenario file (TOML, see docs/loadgen.md); flags override it.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Requests per second over all places (constant or Poisson arrivals). Default: the
    /// workload's (`--scenario`, else a topology's `[load]`), else 100.
    #[arg(long, value_name = "N")]
    rate: Option<f64>,
    /// How long to send requests, e.g. `30s`, `2m`. Default: the workload's (`--scenario`,
    /// else a topology's `[load]`), else 10 s.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many requests.
    #[arg(long, value_name = "N")]
    requests: Option<u64>,
    /// Seed of every random choice (printed and written into the report). Default: the
    /// workload's, else 1.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Connections per target. Default: the workload's, else 8.
    #[arg(long, value_name = "N")]
    connections: Option<usize>,
    /// With --target: every connection pays this fixed modelled round trip through
    /// `edgelab-link` (connect and each exchange, e.g. `20ms`), so the report measures the
    /// client links' own error; without it the target is plain loopback TCP.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, conflicts_with = "topology")]
    rtt: Option<Duration>,
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
    /// Exit with status 3 when the p99 of send lateness or of emulation error exceeds this
    /// many milliseconds (the report is still printed and written).
    #[arg(long, value_name = "MS")]
    max_error: Option<f64>,
    /// Send only shard I of N of the seeded schedule (open loop): 1-based (1/3, 2/3, 3/3); a
    /// 0-based index K is written K+1/N. The N shards together send exactly the requests of
    /// one unsharded run; merge their JSON reports with `edgelab report merge`.
    #[arg(long, value_name = "I/N", env = env::SHARD, value_parser = shard_parser())]
    shard: Option<Shard>,
    /// `--replay LOG [--speed X] [--place P] [--strict]`.
    #[command(flatten)]
    replay: ReplayArgs,
}

/// The value parser of `--shard` (shared with `edgelab compare`).
pub fn shard_parser() -> clap::builder::ValueParser {
    clap::builder::ValueParser::new(str::parse::<Shard>)
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

/// A note for a `--target` run that the report calls `direct` only because `--mode` was not
/// given, although its answers carried `X-Cache`: the target is a cache node.
fn mode_note(args: &Args, report: &Report) -> Option<String> {
    let defaulted = args.mode.is_none() && args.target.is_some();
    let through_a_cdn = report
        .tiers
        .iter()
        .any(|share| share.tier != Tier::None && share.responses > 0);
    (defaulted && through_a_cdn).then(|| {
        "note: the target answered with X-Cache, so it is a cache node; the report calls the \
         run `direct` (the default with --target): pass --mode edge to label it an edge run"
            .to_string()
    })
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
    source: Source,
    mode: Mode,
    origin_metrics: Vec<Uri>,
}

/// Where the requests go.
enum Source {
    /// One node, with the workload.
    Url(Uri, Box<Settings>),
    /// A topology (started in this process, or reached by name), with its workload and the
    /// log it replays.
    Lab(Box<Lab>, Reach, Option<Box<ReplayLog>>),
}

fn resolve(args: &Args) -> Result<Resolved, ConfigErrors> {
    let mut errors = ConfigErrors::new();
    let overrides = Overrides {
        seed: args.seed,
        rate: args.rate,
        duration: args.duration,
        requests: args.requests,
        connections: args.connections,
        closed: args.closed.then_some(true),
        shard: args.shard,
    };
    let scenario = args.scenario.as_deref();
    let source = match (&args.target, &args.topology) {
        (Some(_), Some(_)) => {
            errors.push("--target", "give either --target or --topology, not both");
            None
        }
        (None, Some(_)) if args.replay.replay.is_some() && args.peers.is_some() => {
            errors.push("--replay", log_replay::ELSEWHERE);
            None
        }
        (None, Some(path)) if args.replay.replay.is_some() => errors
            .absorb(log_replay::replay_lab(
                &args.replay,
                Some(path),
                scenario,
                overrides,
            ))
            .map(|(lab, log)| Source::Lab(Box::new(lab), Reach::Loopback, Some(Box::new(log)))),
        (None, Some(path)) => {
            let reach = errors.check("--peers", reach(args));
            errors
                .absorb(Lab::load(Some(path), scenario, overrides))
                .zip(reach)
                .map(|(lab, reach)| Source::Lab(Box::new(lab), reach, None))
        }
        (None, None) => {
            errors.push(
                "--target",
                "is required (the URL of an origin or edge node)",
            );
            None
        }
        (Some(url), None) => {
            let base = errors.check("--target", parse_http_url(url));
            let settings = errors.absorb(match scenario {
                Some(path) => Settings::load(path, &overrides),
                None => Settings::resolve(Default::default(), &overrides),
            });
            base.zip(settings)
                .map(|(base, settings)| Source::Url(base, Box::new(settings)))
        }
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
    match (source, mode) {
        (Some(source), Some(mode)) if errors.is_empty() => Ok(Resolved {
            source,
            mode,
            origin_metrics,
        }),
        _ => Err(errors),
    }
}

/// How a `--topology` run reaches the nodes.
fn reach(args: &Args) -> Result<Reach, String> {
    match args.peers.as_deref() {
        None => Ok(Reach::Loopback),
        Some("dns") => Ok(Reach::Dns {
            traffic_port: args.peer_port,
            admin_port: args.peer_admin_port,
        }),
        Some(other) => Err(format!("unknown mode `{other}` (the only one is `dns`)")),
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

/// `--urls` as a catalog, if given.
fn url_list(args: &Args) -> anyhow::Result<Option<Result<Catalog, LoadgenError>>> {
    let Some(path) = &args.urls else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)?;
    Ok(Some(Catalog::from_url_list(
        &text,
        &path.display().to_string(),
    )))
}

/// One run against one URL.
async fn run_url(
    args: &Args,
    base: Uri,
    mut settings: Settings,
    mode: Mode,
    options: RunOptions,
    stop: Shutdown,
) -> anyhow::Result<Result<Report, LoadgenError>> {
    let replay = match args.replay.scan(None) {
        Ok(replay) => replay,
        Err(message) => {
            return Ok(Err(LoadgenError::Config(ConfigErrors::one(
                "--replay", message,
            ))));
        }
    };
    if let Some(log) = &replay {
        log_replay::apply(log, &mut settings);
    }
    let mut targets = url_targets(&settings, &base, mode);
    if let Some(rtt) = args.rtt.filter(|rtt| !rtt.is_zero()) {
        for target in &mut targets {
            target.hop = edgelab_geo::HopModel::fixed(rtt);
        }
    }
    let catalog = match url_list(args)? {
        Some(catalog) => catalog,
        None => Catalog::discover(&base, CATALOG_LIMIT).await,
    };
    let catalog = match catalog {
        Ok(catalog) => catalog,
        Err(error) => return Ok(Err(error)),
    };
    let places: Vec<String> = targets.iter().map(|t| t.place.clone()).collect();
    let plan = match Plan::new(settings, &catalog, &places) {
        Ok(plan) => plan,
        Err(errors) => return Ok(Err(LoadgenError::Config(errors))),
    };
    let plan = match replay {
        Some(log) => plan.replaying(log),
        None => plan,
    };
    Ok(edgelab_loadgen::run(&plan, &targets, &options, stop).await)
}

/// One run over a topology started in this process or reached per `reach` (replaying `log`
/// when given).
async fn run_lab(
    args: &Args,
    (lab, reach, log): (Lab, Reach, Option<ReplayLog>),
    mode: Mode,
    options: RunOptions,
    stop: Shutdown,
    nodes: Shutdown,
) -> anyhow::Result<Result<Report, LoadgenError>> {
    let mut running = lab.start(reach, nodes).await?;
    if let Some(cluster) = running.cluster() {
        output::block(&cluster.table());
    }
    if let Some(log) = log {
        log_replay::attach(&mut running, log);
    }
    match url_list(args)? {
        Some(Ok(catalog)) => running.set_catalog(catalog),
        Some(Err(error)) => return Ok(Err(error)),
        None => {}
    }
    let opts = RunOpts {
        label: None,
        progress: options.progress,
        hdr_log: options.hdr_log,
        origin_metrics: options.origin_metrics,
        seed: None,
    };
    match running.run(mode, opts, stop).await {
        Ok(report) => Ok(Ok(report)),
        Err(LabError::Config(errors)) => Ok(Err(LoadgenError::Config(errors))),
        Err(LabError::Loadgen(error)) => Ok(Err(error)),
        Err(error) => Err(error.into()),
    }
}

/// Runs `edgelab loadgen`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let resolved = match resolve(&args) {
        Ok(resolved) => resolved,
        Err(errors) => return Ok(output::config_errors(&errors)),
    };
    let options = RunOptions {
        label: resolved.mode.as_str().to_string(),
        origin_metrics: resolved.origin_metrics,
        progress: std::io::stderr().is_terminal(),
        hdr_log: args.hdr_log.clone(),
        ..RunOptions::default()
    };
    let nodes = Shutdown::new();
    let stop = edgelab_common::shutdown::OnSignal::install();
    let result = match resolved.source {
        Source::Url(base, settings) => {
            run_url(
                &args,
                base,
                *settings,
                resolved.mode,
                options,
                stop.shutdown(),
            )
            .await?
        }
        Source::Lab(lab, reach, log) => {
            run_lab(
                &args,
                (*lab, reach, log.map(|log| *log)),
                resolved.mode,
                options,
                stop.shutdown(),
                nodes.clone(),
            )
            .await?
        }
    };
    drop(stop);
    let report = match result {
        Ok(report) => report,
        Err(LoadgenError::Config(errors)) => return Ok(output::config_errors(&errors)),
        Err(error) => {
            output::error(&error.to_string());
            return Ok(ExitCode::FAILURE);
        }
    };
    nodes.drain(Duration::from_secs(5)).await;
    output::block(&report.summary());
    if let Some(note) = mode_note(&args, &report) {
        output::error(&note);
    }
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json())
            .map_err(|error| anyhow::anyhow!("writing {}: {error}", path.display()))?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, html::single(&report))
            .map_err(|error| anyhow::anyhow!("writing {}: {error}", path.display()))?;
    }
    if report.interrupted {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    let worst = report.emulator_error.worst_p99_ms();
    Ok(output::max_error(args.max_error, worst).unwrap_or(ExitCode::SUCCESS))
}
