//! `edgelab up` (every node of a topology in this process on loopback, or one node for a
//! container) and `edgelab demo` (the default topology plus a direct-vs-edge comparison).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use edgelab_cluster::{Binding, Cluster, Lab, Reach, Topology};
use edgelab_common::config::ConfigErrors;
use edgelab_common::names::env;
use edgelab_common::shutdown::{self, Shutdown};
use edgelab_loadgen::Overrides;

use crate::args::TopologyFile;
use crate::compare;
use crate::output;

/// Arguments of `edgelab up`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  edgelab up                                   # the built-in default topology
  edgelab up config/global.toml --nodes-json nodes.json
  edgelab up config/default.toml --list        # the planned nodes as JSON, nothing started
  curl -X POST 'http://CONTROL/fail?target=use1-az1'     # fail an origin AZ (or a Region, a PoP)
  edgelab up /etc/edgelab/topology.toml --node pop-fra --listen 0.0.0.0:8080 --admin 0.0.0.0:9090 --peers dns")]
pub struct UpArgs {
    #[command(flatten)]
    pub topology: TopologyFile,
    /// Print the planned nodes as JSON and exit without starting anything.
    #[arg(long)]
    pub list: bool,
    /// Write the running nodes (name, tier, place, traffic and admin URLs) as JSON here.
    #[arg(long, value_name = "PATH")]
    pub nodes_json: Option<PathBuf>,
    /// Address of the control API (`GET /` the live page, `GET /status`, `GET /nodes`,
    /// `POST /fail?target=`, `POST /restore?target=`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub control: SocketAddr,
    /// Token the control API requires for changes.
    #[arg(long, value_name = "TOKEN", env = env::ADMIN_TOKEN, hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Run only this node (containers): see `--list` for the names.
    #[arg(long, value_name = "NAME", requires = "peers")]
    pub node: Option<String>,
    /// Traffic address of the single node (loopback unless asked: containers pass 0.0.0.0).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Admin address of the single node (loopback unless asked).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9090")]
    pub admin: SocketAddr,
    /// How the single node finds its peers: `dns` (`http://<node>:<port>`).
    #[arg(long, value_name = "MODE", requires = "node")]
    pub peers: Option<String>,
    /// Threads the nodes run on, each with its own single-thread runtime and a share of the
    /// nodes (node i on thread i mod N), so a node's connections, timers and upstream links
    /// stay on one thread; 0 (the default) runs every node on the command's multi-thread
    /// runtime. Measured in docs/latency-model.md ("Where the nodes run"). Ignored with
    /// `--node`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=256))]
    pub workers: Option<u16>,
    /// Traffic port of the peers with `--peers dns`.
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    pub peer_port: u16,
    /// Admin port of the peers with `--peers dns`.
    #[arg(long, value_name = "PORT", default_value_t = 9090)]
    pub peer_admin_port: u16,
}

/// Arguments of `edgelab demo`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  edgelab demo                       # about 40 s: direct vs edge, report in ./edgelab-report/
  edgelab demo --duration 30s --ga   # longer runs, plus Global Accelerator
  edgelab demo --tour                # five chapters, about 2 minutes: report in ./edgelab-report/tour.html
  edgelab demo --tour --duration 3s  # a quicker tour (every run and drill phase 3 s)")]
pub struct DemoArgs {
    /// Directory for the report (comparison.json, report.html, one JSON per run).
    #[arg(long, value_name = "DIR", default_value = "edgelab-report")]
    pub out: PathBuf,
    /// How long each run sends requests (default: the topology's, 12 s; with `--tour`, every
    /// run and drill phase of the tour, default 8 s, at least 2 s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Requests per second over all client places (default: the topology's; the built-in
    /// topology's is 300).
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,
    /// Also run through Global Accelerator.
    #[arg(long)]
    pub ga: bool,
    /// Exit with status 3 when, in any run, the p99 of send lateness or of emulation error
    /// exceeds this many milliseconds (the report is still written).
    #[arg(long, value_name = "MS")]
    pub max_error: Option<f64>,
    /// The tour instead: edge caching, Global Accelerator, a Local Zone, an AZ failure and a
    /// Region failure, each measured and summed up in a sentence (report: DIR/tour.html).
    #[arg(long, conflicts_with_all = ["ga", "max_error"])]
    pub tour: bool,
}

/// `--workers` of `up` and `compare`: as given, else [`default_workers`].
pub fn workers(flag: Option<u16>) -> usize {
    flag.map_or_else(default_workers, usize::from)
}

/// The default `--workers`: every node on the command's runtime. On the busy two-core host
/// spreading them over 1 or 2 node threads cost the same CPU time per request within the
/// noise (docs/latency-model.md, "Where the nodes run"), so nothing moved by default.
fn default_workers() -> usize {
    0
}

/// Length of each run of the tour unless `--duration` says otherwise.
const TOUR_RUN: Duration = Duration::from_secs(8);

/// Runs `edgelab up`.
pub async fn run_up(args: UpArgs) -> anyhow::Result<ExitCode> {
    let topology = match args
        .topology
        .path()
        .map_or_else(|| Ok(Topology::default_topology()), Topology::load)
    {
        Ok(topology) => topology,
        Err(errors) => return Ok(output::config_errors(&errors)),
    };
    if args.list {
        output::block(&serde_json::to_string_pretty(&topology.nodes)?);
        return Ok(ExitCode::SUCCESS);
    }
    let binding = match (&args.node, args.peers.as_deref()) {
        (Some(node), Some("dns")) => Binding::Single {
            node: node.clone(),
            listen: args.listen,
            admin: args.admin,
            peer_traffic_port: args.peer_port,
            peer_admin_port: args.peer_admin_port,
            admin_token: args.admin_token.clone().filter(|t| !t.is_empty()),
        },
        (Some(_), _) => {
            return Ok(output::config_errors(&ConfigErrors::one(
                "--peers",
                "the only mode is `dns`",
            )));
        }
        (None, _) => Binding::Loopback,
    };
    let single = matches!(binding, Binding::Single { .. });
    let control = if single {
        None
    } else {
        Some(
            tokio::net::TcpListener::bind(args.control)
                .await
                .map_err(|e| anyhow::anyhow!("cannot bind --control {}: {e}", args.control))?,
        )
    };
    let shutdown = Shutdown::new();
    let stop = shutdown::signal();
    let runtimes = match workers(args.workers) {
        0 => None,
        _ if single => None,
        n => Some(edgelab_cluster::NodeRuntimes::start(n, &shutdown)?),
    };
    let started = Cluster::start_on(topology, binding, shutdown.clone(), runtimes.as_ref());
    let cluster = match started.await {
        Ok(cluster) => Arc::new(cluster),
        Err(edgelab_cluster::ClusterError::Config(errors)) => {
            return Ok(output::config_errors(&errors));
        }
        Err(error @ edgelab_cluster::ClusterError::UnknownNode(_)) => {
            return Ok(output::config_errors(&ConfigErrors::one(
                "--node",
                error.to_string(),
            )));
        }
        Err(error) => return Err(error.into()),
    };
    if single {
        let node = &cluster.nodes()[0];
        output::line(&format!(
            "listening traffic={} admin={}",
            node.traffic.trim_start_matches("http://"),
            node.admin.trim_start_matches("http://")
        ));
    } else {
        output::block(&cluster.table());
    }
    if let Some(listener) = control {
        let addr = cluster.serve_control(listener, args.admin_token.clone())?;
        output::line(&format!(
            "control http://{addr}  (GET /nodes, GET /status, POST /fail?target=X, POST /restore?target=X)"
        ));
        output::line(&format!(
            "live page http://{addr}/  (health, requests/s and hit ratio of every node; fault switches)"
        ));
    }
    if let Some(path) = &args.nodes_json {
        std::fs::write(path, serde_json::to_string_pretty(cluster.nodes())?)
            .map_err(|error| anyhow::anyhow!("writing {}: {error}", path.display()))?;
    }
    output::line("ready; Ctrl-C stops every node");
    stop.await;
    tracing::info!("stopping every node");
    if !shutdown.drain(Duration::from_secs(15)).await {
        output::error("some connections were still open after 15 s; stopped anyway");
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `edgelab demo`.
pub async fn run_demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if args.tour {
        return run_tour(args).await;
    }
    let overrides = Overrides {
        duration: args.duration,
        rate: args.rate,
        ..Overrides::default()
    };
    let lab = match Lab::load(None, None, overrides) {
        Ok(lab) => lab,
        Err(errors) => return Ok(output::config_errors(&errors)),
    };
    let topology = lab.topology();
    let places: Vec<&str> = lab
        .settings()
        .populations
        .iter()
        .map(|p| p.place.as_str())
        .collect();
    output::line(&format!(
        "edgelab demo: origin in {} ({} AZ replicas), Origin Shield, {} RECs, {} PoPs; clients in {}",
        topology.origin_region,
        topology.origins().count(),
        topology
            .nodes
            .iter()
            .filter(|n| n.tier == edgelab_cluster::Layer::Rec)
            .count(),
        topology.pops().count(),
        places.join(", ")
    ));
    let shutdown = Shutdown::new();
    let code = match lab.start(Reach::Loopback, shutdown.clone()).await {
        Ok(mut running) => {
            let phases = compare::Phases {
                ga: args.ga,
                warm: true,
            };
            compare::compare(&mut running, phases, &args.out, args.max_error).await
        }
        Err(error) => Err(error.into()),
    };
    shutdown.drain(Duration::from_secs(5)).await;
    code
}

/// Runs `edgelab demo --tour`: the chapters as they run, each one's sentence, the summary
/// and the report files.
async fn run_tour(args: DemoArgs) -> anyhow::Result<ExitCode> {
    use edgelab_cluster::tour::{self, Evidence, TourOptions};
    use std::io::IsTerminal;
    let opts = TourOptions {
        run: args
            .duration
            .unwrap_or(TOUR_RUN)
            .max(edgelab_cluster::drill::MIN_PHASE),
        rate: args.rate,
        progress: std::io::stderr().is_terminal(),
    };
    output::line(&format!(
        "edgelab demo --tour: five chapters, every run {:?}, all on loopback in this process",
        opts.run
    ));
    let nodes = Shutdown::new();
    let stop = edgelab_common::shutdown::OnSignal::install();
    let result = tour::run(&opts, &nodes, &stop.shutdown(), &|text| output::line(text)).await;
    nodes.drain(Duration::from_secs(5)).await;
    let tour = match result {
        Ok(tour) => tour,
        Err(edgelab_cluster::LabError::Config(errors)) => {
            return Ok(output::config_errors(&errors));
        }
        Err(error) => return Err(error.into()),
    };
    let out = &args.out;
    std::fs::create_dir_all(out).map_err(|error| anyhow::anyhow!("{}: {error}", out.display()))?;
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))
    };
    write("tour.html", tour.html())?;
    write("tour.json", tour.summary_json())?;
    let mut summary = String::from("\nThe tour in short:\n");
    for chapter in &tour.chapters {
        summary.push_str(&format!(
            "({}) {}: {}\n",
            chapter.id, chapter.title, chapter.sentence
        ));
        if let Evidence::Comparison(comparison) = &chapter.evidence {
            write(
                &format!("chapter-{}.json", chapter.id),
                comparison.to_json(),
            )?;
        }
    }
    output::block(&summary);
    output::line(&format!(
        "report: {}  (the tour took {:.0} s)",
        out.join("tour.html").display(),
        tour.elapsed.as_secs_f64()
    ));
    Ok(ExitCode::SUCCESS)
}
