//! The `edgelab` command: one binary, thin subcommands over the library crates.
//!
//! # Layout
//! Each subcommand lives in its own module with an `Args` struct (clap) and an async `run`
//! that returns the process exit code. Everything printed for the user goes through
//! [`output`]; logs go to standard error through tracing.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system's allocator: a cache hit allocates a few small, short-lived
/// blocks (header values, the request id, the response head) that its thread-local free lists
/// serve in a fraction of glibc's instructions (docs/request-lifecycle.md, "Instructions per
/// hit"). Built with `no_thp`: it does not advise its heap onto transparent huge pages, where
/// the first touch of each 2 MiB page stalls the faulting thread for the kernel's compaction
/// (17 ms per page measured on a loaded two-core VM, a few hundred of them in a whole-CDN run:
/// docs/latency-model.md, "What each hop costs").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod args;
mod compare;
mod deploy;
mod drill;
mod edge;
mod graph;
mod import;
mod loadgen;
mod log_replay;
mod origin;
mod output;
mod replay;
mod report;
mod topology;
mod up;

/// edgelab: an edge-cache CDN emulator. Run an origin, edge caches and a load generator on
/// loopback with real AWS geography and modelled latency, and measure what the edges do.
#[derive(Debug, Parser)]
#[command(name = "edgelab", version, long_about = None, after_help = "Examples:
  edgelab demo                                   # the whole CDN on loopback + a direct-vs-edge report
  edgelab demo --tour                            # five measured chapters: caching, GA, Local Zone, failures
  edgelab up config/global.toml                  # every node of a topology; Ctrl-C stops it
  edgelab topology route --client Sydney --shield   # the path a request takes, hop by hop
  edgelab origin                                 # an origin on 127.0.0.1:8080 (admin :9080)
  edgelab edge --upstream http://127.0.0.1:8080  # an edge in front of it on 127.0.0.1:8081 (admin :9081)

`edgelab help COMMAND` (or `edgelab COMMAND --help`) prints each command's options, defaults and
examples; docs/ has the reference. `EDGELAB_LOG=info` turns on logs.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an origin server with a synthetic, verifiable catalog.
    Origin(origin::Args),
    /// Run one edge cache node (PoP, Regional Edge Cache or Origin Shield).
    Edge(edge::Args),
    /// Inspect the geography and the latency model.
    #[command(
        subcommand,
        after_help = "Examples:
  edgelab topology list pops
  edgelab topology rtt us-east-1 eu-west-1
  edgelab topology matrix --kind region --format csv
  edgelab topology path eu-central-1 ap-northeast-1
  edgelab topology route --client Sydney --origin eu-west-1 --shield
  edgelab topology validate --measured crates/geo/data/calibration/ibm-cloud-2026-02.csv

`edgelab topology COMMAND --help` prints each command's options and examples."
    )]
    Topology(topology::Command),
    /// Generate load against one node or a whole topology and report latency and hit ratio.
    Loadgen(loadgen::Args),
    /// Run the same workload direct and through the edges; print them side by side.
    Compare(compare::Args),
    /// Run every node of a topology in this process on loopback.
    Up(up::UpArgs),
    /// Run the built-in demo: the default topology and a direct-vs-edge comparison.
    Demo(up::DemoArgs),
    /// Failure drill: fail the origin's primary AZ, then its Region, under load.
    Drill(drill::Args),
    /// Generate docker compose, Docker Swarm or Kubernetes files from a topology.
    Deploy(deploy::Args),
    /// Replay a request trace through simulated caches offline (what-if, no sockets).
    Replay(replay::Args),
    /// Import a CDN configuration (a CloudFront distribution) as a topology file.
    #[command(
        subcommand,
        after_help = "Example:
  edgelab import cloudfront config/examples/cloudfront-distribution.json \\
      --cache-policy config/examples/cloudfront-cache-policy.json \\
      --origin-request-policy config/examples/cloudfront-origin-request-policy.json > topology.toml"
    )]
    Import(import::Command),
    /// Work with saved reports: merge the reports of a sharded run.
    #[command(
        subcommand,
        after_help = "Example:
  edgelab report merge shard-1.json shard-2.json shard-3.json --json run.json --html run.html"
    )]
    Report(report::Command),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { 64 } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    edgelab_common::telemetry::init();
    // Read by every edge node's store, in any command: a bad value stops it before it binds.
    let file_bodies = std::env::var(edgelab_common::names::env::FILE_BODIES).ok();
    if let Err(error) = edgelab_edge::store::file_body_sizes(file_bodies.as_deref()) {
        output::error(&error);
        return ExitCode::from(64);
    }
    // The commands that need no shared runtime: pure computation and file writes, or (edge)
    // a node that builds its own runtimes, thread-per-core.
    let command = match cli.command {
        Command::Topology(command) => return topology::run(command),
        Command::Import(command) => return import::run(command),
        Command::Deploy(args) => return finish(deploy::run(args)),
        Command::Replay(args) => return finish(replay::run(args)),
        Command::Edge(args) => return finish(edge::run(args)),
        Command::Report(command) => return finish(report::run(command)),
        command => command,
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Err(error) = tune_runtime(&mut builder, |name| std::env::var(name).ok()) {
        output::error(&error);
        return ExitCode::from(64);
    }
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(error) => {
            output::error(&format!("cannot start the async runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Origin(args) => origin::run(args).await,
            Command::Loadgen(args) => loadgen::run(args).await,
            Command::Compare(args) => compare::run(args).await,
            Command::Up(args) => up::run_up(args).await,
            Command::Demo(args) => up::run_demo(args).await,
            Command::Drill(args) => drill::run(args).await,
            Command::Topology(_)
            | Command::Edge(_)
            | Command::Deploy(_)
            | Command::Replay(_)
            | Command::Import(_)
            | Command::Report(_) => {
                unreachable!("handled before the runtime starts")
            }
        }
    });
    finish(result)
}

/// Applies the runtime tuning variables (`EDGELAB_RUNTIME_*`, see
/// [`edgelab_common::names::env`]) found by `var` to `builder`; an error names the variable.
fn tune_runtime(
    builder: &mut tokio::runtime::Builder,
    var: impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    use edgelab_common::names::env;
    if let Some(ticks) = tick_count(
        env::RUNTIME_EVENT_INTERVAL,
        var(env::RUNTIME_EVENT_INTERVAL),
    )? {
        builder.event_interval(ticks);
    }
    if let Some(ticks) = tick_count(
        env::RUNTIME_GLOBAL_QUEUE_INTERVAL,
        var(env::RUNTIME_GLOBAL_QUEUE_INTERVAL),
    )? {
        builder.global_queue_interval(ticks);
    }
    Ok(())
}

/// A tuning variable's value: unset, or an integer ≥ 1 (tokio panics on a zero
/// `global_queue_interval`).
fn tick_count(name: &str, value: Option<String>) -> Result<Option<u32>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    match value.trim().parse::<u32>() {
        Ok(ticks) if ticks >= 1 => Ok(Some(ticks)),
        _ => Err(format!(
            "{name}={value:?}: expected an integer of at least 1"
        )),
    }
}

/// The exit code of a command's result; an error is printed first.
fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|error| {
        output::error(&format!("{error:#}"));
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_tuning_takes_positive_tick_counts_and_names_a_bad_variable() {
        assert_eq!(tick_count("V", None), Ok(None));
        assert_eq!(tick_count("V", Some("31".into())), Ok(Some(31)));
        assert_eq!(tick_count("V", Some(" 7 ".into())), Ok(Some(7)));
        for bad in ["0", "-1", "x", "", "4294967296"] {
            let error = tick_count("V", Some(bad.into())).unwrap_err();
            assert!(error.starts_with("V="), "{error}");
        }
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        let set = |name: &str| {
            (name == edgelab_common::names::env::RUNTIME_GLOBAL_QUEUE_INTERVAL)
                .then(|| "0".to_string())
        };
        let error = tune_runtime(&mut builder, set).unwrap_err();
        assert!(
            error.contains("EDGELAB_RUNTIME_GLOBAL_QUEUE_INTERVAL"),
            "{error}"
        );
        let fine = |name: &str| (name.starts_with("EDGELAB_RUNTIME_")).then(|| "13".to_string());
        tune_runtime(&mut builder, fine).unwrap();
        builder
            .enable_all()
            .build()
            .expect("a tuned runtime starts");
    }
}
