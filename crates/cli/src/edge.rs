//! `edgelab edge`: one cache node (PoP, REC or Origin Shield) in front of any HTTP origin.
//! Flags override the config file, which overrides the defaults; bad config exits 64 before
//! anything is bound.
//!
//! The node runs thread-per-core, as nginx's workers do: `--threads` threads, each with its
//! own single-thread tokio runtime and its own `SO_REUSEPORT` socket on the traffic address,
//! so a request is accepted, served and answered on one thread with no cross-thread wake-up.
//! The first thread also runs the admin listener and the node's background tasks; the store,
//! metrics and connection cap are shared (they are `Sync`). Tasks a request starts (a fill,
//! a background refresh) run on its thread.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use edgelab_common::config::{ConfigErrors, load_toml};
use edgelab_common::serve::bind_listeners;
use edgelab_common::shutdown::{self, Shutdown};
use edgelab_edge::config::{RawBehavior, RawCachePolicy};
use edgelab_edge::{EdgeConfig, RawEdgeConfig, Traffic};

use crate::output;

/// Default traffic address: next to `edgelab origin`'s 127.0.0.1:8080.
const DEFAULT_LISTEN: &str = "127.0.0.1:8081";
/// Default admin address: next to `edgelab origin`'s 127.0.0.1:9080.
const DEFAULT_ADMIN: &str = "127.0.0.1:9081";

/// Arguments of `edgelab edge`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    edgelab edge --upstream http://127.0.0.1:8080 --pop FRA     # in front of `edgelab origin` run with its defaults\n  \
    edgelab edge --listen 127.0.0.1:8082 --admin 127.0.0.1:9082 --upstream http://127.0.0.1:8080 --policy rfc9111\n  \
    edgelab edge --listen 127.0.0.1:0 --admin 127.0.0.1:0 --upstream http://origin:8080 --tier rec --pop FRA\n  \
    edgelab edge --upstream http://127.0.0.1:8080 --policy CachingOptimized --min-ttl 0s --default-ttl 10s --max-ttl 10s\n  \
    taskset -c 0 edgelab edge --upstream http://127.0.0.1:8080 --pop FRA        # one thread on CPU 0\n  \
    edgelab edge --config config/edge.toml                       # its upstream: the origin on 127.0.0.1:8080")]
pub struct Args {
    /// Traffic address (port 0 picks a free port; the first stdout line names it). The
    /// default is one port above `edgelab origin`'s, so both run side by side on defaults.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: String,
    /// Admin address (/metrics, /healthz, /readyz, /invalidations, /cache).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADMIN)]
    pub admin: String,
    /// Upstream URL: the origin (primary of the origin group). Required unless the config
    /// file sets `[upstream] primary`.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Cache policy preset of the default behaviour: rfc9111, CachingOptimized,
    /// CachingDisabled, UseOriginCacheControlHeaders (default: the config file's, else
    /// CachingOptimized).
    #[arg(long, value_name = "PRESET")]
    pub policy: Option<String>,
    /// MinTTL of the default behaviour's cache policy (a duration: 0s, 10s, 1h), overriding
    /// the preset's (`cache_policy.min_ttl`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub min_ttl: Option<Duration>,
    /// DefaultTTL of the default behaviour's cache policy (freshness when the origin states
    /// none), overriding the preset's.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub default_ttl: Option<Duration>,
    /// MaxTTL of the default behaviour's cache policy, overriding the preset's.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub max_ttl: Option<Duration>,
    /// Tier: edge, rec or shield (default: the config file's, else edge).
    #[arg(long, value_name = "TIER")]
    pub tier: Option<String>,
    /// IATA code of the PoP, e.g. FRA: the `pop` metric label and `X-Amz-Cf-Pop` (default:
    /// the config file's, else LOC).
    #[arg(long, value_name = "CODE")]
    pub pop: Option<String>,
    /// Edge config file (TOML; see config/edge.toml). Flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Threads serving traffic, each with its own runtime and socket on the traffic address
    /// (default: the CPUs this process may run on, as `taskset` or a cgroup limit them).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Serve every request through hyper, without the lane that answers fresh HTTP/1.1 hits
    /// itself (`listener.lane = false`; for comparing the two paths or debugging).
    #[arg(long)]
    pub no_lane: bool,
}

/// The default `--threads`: the CPUs the process may use.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn build_config(args: &Args) -> Result<EdgeConfig, ConfigErrors> {
    let mut raw: RawEdgeConfig = match &args.config {
        Some(path) => load_toml(path)?,
        None => RawEdgeConfig::default(),
    };
    if let Some(upstream) = &args.upstream {
        raw.upstream.primary = Some(upstream.clone());
    }
    if let Some(policy) = &args.policy {
        raw.default_behavior = RawBehavior {
            cache_policy: RawCachePolicy {
                preset: Some(policy.clone()),
                ..RawCachePolicy::default()
            },
            ..raw.default_behavior
        };
    }
    let policy = &mut raw.default_behavior.cache_policy;
    for (flag, field) in [
        (args.min_ttl, &mut policy.min_ttl),
        (args.default_ttl, &mut policy.default_ttl),
        (args.max_ttl, &mut policy.max_ttl),
    ] {
        if flag.is_some() {
            *field = flag;
        }
    }
    if let Some(tier) = &args.tier {
        raw.tier = Some(tier.clone());
    }
    if let Some(pop) = &args.pop {
        raw.pop = Some(pop.clone());
    }
    if args.no_lane {
        raw.listener.lane = Some(false);
    }
    if raw.admin_token.is_none()
        && let Ok(token) = std::env::var(edgelab_common::names::env::ADMIN_TOKEN)
        && !token.is_empty()
    {
        raw.admin_token = Some(token);
    }
    let mut errors = ConfigErrors::new();
    for (field, value) in [("--listen", &args.listen), ("--admin", &args.admin)] {
        if value.parse::<std::net::SocketAddr>().is_err() {
            errors.push(
                field,
                format!("{value:?} is not an address like 127.0.0.1:8080"),
            );
        }
    }
    match EdgeConfig::try_from(raw) {
        Ok(config) => errors.into_result(config),
        Err(more) => {
            errors.extend_prefixed("", more);
            Err(errors)
        }
    }
}

/// Runs `edgelab edge`: validates, binds, then serves on `--threads` threads until SIGINT
/// or SIGTERM.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = match build_config(&args) {
        Ok(config) => config,
        Err(errors) => return Ok(output::config_errors(&errors)),
    };
    let threads = args.threads.map_or_else(default_threads, usize::from);
    // Invariant: build_config checked both addresses.
    let listen: SocketAddr = args.listen.parse()?;
    let mut traffic = bind_listeners(listen, threads)
        .map_err(|e| anyhow::anyhow!("cannot bind --listen {}: {e}", args.listen))?
        .into_iter();
    let runtime = single_thread_runtime()?;
    runtime.block_on(async move {
        // Invariant: bind_listeners returns at least one socket.
        let first = traffic.next().expect("one traffic socket");
        let first = tokio::net::TcpListener::from_std(first)?;
        let admin = tokio::net::TcpListener::bind(&args.admin)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bind --admin {}: {e}", args.admin))?;
        let shutdown = Shutdown::new();
        let registry = prometheus::Registry::new();
        let handle = edgelab_edge::start(config, first, admin, registry, shutdown.clone())?;
        let workers = traffic
            .enumerate()
            .map(|(index, socket)| spawn_worker(index + 1, handle.traffic(), socket))
            .collect::<std::io::Result<Vec<_>>>()?;
        // Handlers installed before the `listening` line, so a script's immediate SIGTERM
        // drains.
        let stop = shutdown::signal();
        output::listening(handle.traffic_addr(), handle.admin_addr());
        stop.await;
        handle.set_healthy(false);
        if !shutdown.drain(Duration::from_secs(15)).await {
            output::error("some connections were still open after 15 s; stopped anyway");
            // The other threads' runtimes end with the process.
            return Ok(ExitCode::SUCCESS);
        }
        for worker in workers {
            if worker.join().is_err() {
                output::error("a traffic thread panicked");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// A runtime on the calling thread only.
fn single_thread_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Thread `index`: its own runtime serving `traffic` on `socket` until the node has drained
/// (every task it tracks, on any thread, has ended), so the connections and fills this
/// runtime drives finish before it stops.
fn spawn_worker(
    index: usize,
    traffic: Traffic,
    socket: std::net::TcpListener,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = single_thread_runtime()?;
    std::thread::Builder::new()
        .name(format!("edge-traffic-{index}"))
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(socket) {
                    Ok(listener) => {
                        traffic.serve(listener);
                    }
                    Err(error) => {
                        tracing::warn!(thread = index, %error, "traffic socket unusable");
                    }
                }
                let shutdown = traffic.shutdown();
                shutdown.triggered().await;
                shutdown.tracker().wait().await;
            });
        })
}
