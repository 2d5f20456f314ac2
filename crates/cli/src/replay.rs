//! `edgelab replay TRACE`: offline what-if over a request trace, no sockets (the simulation
//! is `edgelab_replay`). Bad input (unreadable or malformed trace, bad sizes) exits 64.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use edgelab_common::config::EXIT_CONFIG;
use edgelab_replay::size::parse_size;
use edgelab_replay::trace::Requests;
use edgelab_replay::{Eviction, TraceFormat, simulate};

use crate::output;

/// Arguments of `edgelab replay`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  edgelab replay trace.oracleGeneral.bin --capacity 128MiB,256MiB,1GiB
  edgelab replay requests.csv --format csv --eviction fifo --capacity 64MiB --json -")]
pub struct Args {
    /// The trace to replay.
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,
    /// Trace format (default: oracle-general for `*.bin`/`*oracleGeneral*`, else csv).
    #[arg(long, value_parser = clap::builder::ValueParser::new(str::parse::<TraceFormat>))]
    pub format: Option<TraceFormat>,
    /// Eviction policy: lru, fifo or tinylfu (moka, as the running edge).
    #[arg(long, default_value = "lru", value_parser = clap::builder::ValueParser::new(str::parse::<Eviction>))]
    pub eviction: Eviction,
    /// Cache capacities to replay, comma-separated (e.g. 64MiB,256MiB,1GiB).
    #[arg(long, value_delimiter = ',', default_value = "64MiB,256MiB,1GiB", value_parser = clap::builder::ValueParser::new(parse_size))]
    pub capacity: Vec<u64>,
    /// Write the report as JSON to FILE (`-` for standard output instead of the table).
    #[arg(long, value_name = "FILE")]
    pub json: Option<String>,
}

/// Runs `edgelab replay`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bad_input = |message: String| {
        output::error(&message);
        Ok(ExitCode::from(EXIT_CONFIG as u8))
    };
    let file = match File::open(&args.trace) {
        Ok(file) => file,
        Err(error) => return bad_input(format!("cannot open {}: {error}", args.trace.display())),
    };
    let format = args
        .format
        .unwrap_or_else(|| TraceFormat::guess(&args.trace.to_string_lossy()));
    let requests = Requests::new(BufReader::with_capacity(1 << 20, file), format);
    let report = match simulate(requests, args.eviction, &args.capacity) {
        Ok(report) => report,
        Err(error) => return bad_input(format!("{}: {error}", args.trace.display())),
    };
    match args.json.as_deref() {
        Some("-") => output::block(&report.to_json()),
        Some(path) => {
            std::fs::write(path, report.to_json())?;
            output::block(&report.table());
        }
        None => output::block(&report.table()),
    }
    Ok(ExitCode::SUCCESS)
}
