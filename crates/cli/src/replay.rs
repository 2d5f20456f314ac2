//! `edgelab replay TRACE`: offline what-if over a request trace, no sockets (the simulation
//! is `edgelab_replay`). Bad input (unreadable or malformed trace, bad sizes) exits 64.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use edgelab_common::config::EXIT_CONFIG;
use edgelab_replay::trace::{Requests, Trace, TraceError};
use edgelab_replay::{
    CapacityItem, Eviction, PolicyGrid, Report, Router, TierSet, TraceFormat, capacity_grid,
    parse_query_strings, policy_grid, simulate_policies, simulate_tiered_policies,
};

use crate::output;

/// Arguments of `edgelab replay`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  edgelab replay crates/replay/tests/data/cloudPhysicsIO.oracleGeneral.bin --capacity 128MiB,256MiB,1GiB   # the shipped libCacheSim trace
  edgelab replay crates/replay/tests/data/cloudPhysicsIO.oracleGeneral.bin --eviction lru,fifo,clock-pro \\
      --capacity 16MiB,64MiB,256MiB,1GiB --html curve.html
  edgelab replay requests.csv --format csv --eviction fifo --capacity 64MiB --json -   # your time,id,size lines
  edgelab replay E2QWRUHEXAMPLE.2026-12-01-10.a1b2c3d4.gz --capacity 256MiB,1GiB       # a CloudFront standard log
  edgelab replay config/examples/nginx-access.log --format clf                        # Common/Combined Log Format
  edgelab replay config/examples/cloudfront-access.log --tiers pop,rec,shield --capacity pop=64KiB,pop=1MiB,rec=1MiB,shield=10MiB
  edgelab replay config/examples/cloudfront-access.log --policy CachingOptimized,UseOriginCacheControlHeaders --capacity 1MiB
  edgelab replay config/examples/cloudfront-access.log --max-ttl 1m,1h,1d --default-ttl 1m --min-ttl 0s --capacity 1MiB
  edgelab replay config/examples/cloudfront-access.log --policy CachingOptimized --speed 10   # as loadgen --replay --speed 10 plays it
  edgelab replay config/examples/cloudfront-access.log --policy CachingOptimized,rfc9111 --query-strings v --capacity 1MiB   # ?v=1, ?v=2: two objects")]
pub struct Args {
    /// The trace to replay.
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,
    /// Trace format (default: oracle-general for `*.bin`/`*oracleGeneral*`; for `*.log*` and
    /// `*.gz` cloudfront when the first line is a `#Version`/`#Fields` header, else clf; else
    /// csv). Logs may be gzip-compressed.
    #[arg(long, value_parser = clap::builder::ValueParser::new(str::parse::<TraceFormat>))]
    pub format: Option<TraceFormat>,
    /// Eviction policy: lru, fifo, tinylfu (moka) or clock-pro (quick_cache, as the running
    /// edge's store); several, comma-separated, are replayed side by side in the same pass.
    #[arg(long, value_name = "POLICY", default_value = "lru", value_delimiter = ',', value_parser = clap::builder::ValueParser::new(str::parse::<Eviction>))]
    pub eviction: Vec<Eviction>,
    /// Cache capacities to replay, comma-separated (e.g. 64MiB,256MiB,1GiB). With --tiers,
    /// each names its tier, `TIER=SIZE` (the size of each cache of that tier); a tier named
    /// more than once makes a grid: every combination is replayed
    /// (pop=64MiB,pop=256MiB,rec=1GiB,shield=4GiB is two points). Default without --tiers:
    /// 64MiB,256MiB,1GiB; with --tiers every tier needs one.
    #[arg(long, value_name = "SIZE", value_delimiter = ',', value_parser = clap::builder::ValueParser::new(str::parse::<CapacityItem>))]
    pub capacity: Vec<CapacityItem>,
    /// Simulate CloudFront's tiers: `pop`, `pop,rec`, `pop,shield` or `pop,rec,shield`.
    /// Requests go to the PoP of their log line's edge location (one PoP when the trace has
    /// none), a PoP's misses to its nearest REC, the RECs' to the shield.
    #[arg(long, value_parser = clap::builder::ValueParser::new(str::parse::<TierSet>))]
    pub tiers: Option<TierSet>,
    /// With a shield tier: the origin's Region (the shield is the REC nearest it).
    #[arg(long, value_name = "CODE", default_value = "us-east-1")]
    pub origin_region: String,
    /// Write the report as JSON to FILE (`-` for standard output instead of the table).
    #[arg(long, value_name = "FILE")]
    pub json: Option<String>,
    /// Write the miss-ratio curve (object and byte miss ratio by capacity, a line per
    /// eviction policy, per tier with --tiers) as a self-contained HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// A malformed access log line is fatal (exit 64) instead of counted and skipped.
    #[arg(long)]
    pub strict: bool,
    /// Cache policies to replay, comma-separated, by the names the edge's `--policy` takes:
    /// CachingOptimized, CachingDisabled, UseOriginCacheControlHeaders, rfc9111. Each is a
    /// point of the grid; objects then expire by the trace's times. Without --policy and the
    /// TTL flags nothing expires and every object is stored (as libCacheSim replays).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub policy: Vec<String>,
    /// MinTTL values overriding the policies' (durations: 0s, 10s, 1h), comma-separated;
    /// each is a point of the grid. Without --policy, CachingOptimized's are overridden.
    #[arg(long, value_name = "DURATION", value_delimiter = ',', value_parser = humantime::parse_duration)]
    pub min_ttl: Vec<std::time::Duration>,
    /// DefaultTTL values (freshness when the origin states none), as --min-ttl.
    #[arg(long, value_name = "DURATION", value_delimiter = ',', value_parser = humantime::parse_duration)]
    pub default_ttl: Vec<std::time::Duration>,
    /// MaxTTL values, as --min-ttl.
    #[arg(long, value_name = "DURATION", value_delimiter = ',', value_parser = humantime::parse_duration)]
    pub max_ttl: Vec<std::time::Duration>,
    /// The query strings in every policy's cache key, as `cache_policy.query_strings` in an
    /// edge config: `all`, `none`, or the names kept (`v,lang`). Requests of a log that differ
    /// in them are different objects. Without it each preset keys on its own (rfc9111: all;
    /// the others: none). Without --policy, CachingOptimized's key is changed.
    #[arg(long, value_name = "all|none|NAMES", value_parser = clap::builder::ValueParser::new(parse_query_strings))]
    pub query_strings: Option<edgelab_replay::Selection>,
    /// Divide the trace's times by this before comparing them with TTLs, as `loadgen
    /// --replay --speed` sends a log (1: as logged).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub speed: f64,
}

/// The first line of a (possibly gzipped) log, for guessing its format.
fn first_line(input: &mut dyn BufRead) -> std::io::Result<String> {
    let head = input.fill_buf()?;
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    Ok(String::from_utf8_lossy(line).into_owned())
}

/// An opened trace: a log (gzip aware, through `edgelab_accesslog::open`) or a plain
/// buffered CSV or binary file, with its format.
enum Opened {
    Log(Box<dyn BufRead + Send>, TraceFormat),
    /// With the file's length, so the reader knows how many records a binary trace holds.
    Raw(BufReader<File>, TraceFormat, u64),
}

fn open_trace(args: &Args) -> std::io::Result<Opened> {
    let name = args.trace.to_string_lossy();
    let log_named = TraceFormat::guess(&name, "#Fields").log_format().is_some();
    let log = args.format.map_or(log_named, |f| f.log_format().is_some());
    if log {
        let mut input = edgelab_accesslog::open(&args.trace)?;
        let format = match args.format {
            Some(format) => format,
            None => TraceFormat::guess(&name, &first_line(&mut input)?),
        };
        return Ok(Opened::Log(input, format));
    }
    let file = File::open(&args.trace)?;
    let length = file.metadata()?.len();
    let file = BufReader::with_capacity(1 << 20, file);
    let format = args.format.unwrap_or_else(|| TraceFormat::guess(&name, ""));
    Ok(Opened::Raw(file, format, length))
}

/// Runs `edgelab replay`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bad_input = |message: String| {
        output::error(&message);
        Ok(ExitCode::from(EXIT_CONFIG as u8))
    };
    match open_trace(&args) {
        Ok(Opened::Log(input, format)) => {
            finish(Requests::with_strictness(input, format, args.strict), &args)
        }
        Ok(Opened::Raw(file, format, length)) => {
            finish(Requests::new(file, format).with_length(length), &args)
        }
        Err(error) => bad_input(format!("cannot open {}: {error}", args.trace.display())),
    }
}

/// What to simulate, checked before the trace is read.
enum Plan {
    OneTier(Vec<u64>, PolicyGrid),
    Tiered(
        Box<Router>,
        Vec<edgelab_replay::tiers::TierCapacities>,
        PolicyGrid,
    ),
}

/// The default one-tier grid.
const DEFAULT_CAPACITIES: [u64; 3] = [64 << 20, 256 << 20, 1 << 30];

fn policies(args: &Args) -> Result<PolicyGrid, String> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        return Err(format!("--speed {} must be a positive number", args.speed));
    }
    let mut choices = policy_grid(
        &args.policy,
        &args.min_ttl,
        &args.default_ttl,
        &args.max_ttl,
    )?;
    if let Some(selection) = &args.query_strings {
        if choices.is_empty() {
            choices = policy_grid(&["CachingOptimized".to_owned()], &[], &[], &[])?;
        }
        choices = choices
            .into_iter()
            .map(|choice| choice.keyed_on(selection.clone()))
            .collect();
    }
    Ok(PolicyGrid {
        choices,
        speed: args.speed,
    })
}

fn plan(args: &Args) -> Result<Plan, String> {
    let policies = policies(args)?;
    let Some(tiers) = args.tiers else {
        if let Some(item) = args.capacity.iter().find(|c| c.tier.is_some()) {
            let tier = item.tier.map(|t| t.as_str()).unwrap_or_default();
            return Err(format!("--capacity {tier}=… needs --tiers"));
        }
        let capacities: Vec<u64> = args.capacity.iter().map(|c| c.bytes).collect();
        let capacities = if capacities.is_empty() {
            DEFAULT_CAPACITIES.to_vec()
        } else {
            capacities
        };
        return Ok(Plan::OneTier(capacities, policies));
    };
    let grid = capacity_grid(tiers, &args.capacity)?;
    let origin = edgelab_geo::Topology::embedded()
        .resolve(&args.origin_region)
        .map_err(|error| format!("--origin-region: {error}"))?
        .coordinates();
    let router = Box::new(Router::new(tiers, origin));
    Ok(Plan::Tiered(router, grid, policies))
}

fn run_plan(
    plan: Plan,
    requests: impl Trace,
    evictions: &[Eviction],
) -> Result<Report, TraceError> {
    match plan {
        Plan::OneTier(capacities, policies) => {
            simulate_policies(requests, evictions, &capacities, &policies)
        }
        Plan::Tiered(router, grid, policies) => {
            simulate_tiered_policies(requests, evictions, *router, grid, &policies)
        }
    }
}

/// Simulates over `requests`, reports what was skipped, prints the report.
fn finish<R: BufRead>(mut requests: Requests<R>, args: &Args) -> anyhow::Result<ExitCode> {
    let plan = match plan(args) {
        Ok(plan) => plan,
        Err(error) => {
            output::error(&error);
            return Ok(ExitCode::from(EXIT_CONFIG as u8));
        }
    };
    let started = std::time::Instant::now();
    let replayed = run_plan(plan, requests.by_ref(), &args.eviction);
    let elapsed = started.elapsed();
    let report = match replayed {
        Ok(report) => report,
        Err(error) => {
            output::error(&format!("{}: {error}", args.trace.display()));
            return Ok(ExitCode::from(EXIT_CONFIG as u8));
        }
    };
    if let Some(malformed) = requests.malformed_report() {
        output::error(&format!("{}: {malformed}", args.trace.display()));
    }
    if requests.skipped_methods > 0 {
        output::error(&format!(
            "{}: {} request(s) with methods other than GET and HEAD skipped (never cached)",
            args.trace.display(),
            requests.skipped_methods
        ));
    }
    if let Some(path) = &args.html {
        let page = edgelab_replay::html::page(&report, &args.trace.to_string_lossy(), elapsed);
        std::fs::write(path, page)?;
    }
    let table = format!("{}{}\n", report.table(), report.timing(elapsed));
    match args.json.as_deref() {
        Some("-") => output::block(&report.to_json()),
        Some(path) => {
            std::fs::write(path, report.to_json())?;
            output::block(&table);
        }
        None => output::block(&table),
    }
    Ok(ExitCode::SUCCESS)
}
