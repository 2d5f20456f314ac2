//! `edgelab report merge FILES… [--json FILE] [--html FILE]`: the reports of the shards of one
//! run (`loadgen --shard I/N --json`, or `compare --shard I/N`'s comparison.json) merged into
//! the report of the whole run by adding their histograms and counters
//! (`edgelab_loadgen::merge`). Unreadable files, reports of different runs and shards given
//! twice or missing exit 64 with the file and the problem.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use edgelab_common::config::EXIT_CONFIG;
use edgelab_loadgen::merge::{MergeError, MergeOptions, merge, merge_comparisons};
use edgelab_loadgen::{Comparison, Report, html};

use crate::output;

/// `edgelab report …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Merge the JSON reports of the shards of one run (`loadgen --shard`, `compare --shard`)
    /// by adding their histograms and counters; every summary is derived again.
    #[command(after_help = "Examples:
  edgelab report merge shard-1.json shard-2.json shard-3.json --json run.json --html run.html
  edgelab report merge report/shard-*/comparison.json --json comparison.json --html report.html
  edgelab report merge a.json c.json --partial --json partial.json   # shard 2 of 3 was lost")]
    Merge(MergeArgs),
}

/// Arguments of `edgelab report merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shards' reports: `loadgen --json` files, or `compare` comparison.json files (one
    /// kind at a time). A directory stands for the comparison.json of each of its
    /// `shard-I-of-N` subdirectories (what `compare --shard I/N --out DIR` writes).
    #[arg(value_name = "FILES", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Write the merged report (JSON, the same format as its inputs) here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the merged report as HTML (self-contained, renders offline) here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Merge even when some shards are missing (the result says which shards it covers).
    #[arg(long)]
    pub partial: bool,
}

/// One input file, parsed.
enum Input {
    Report(Box<Report>),
    Comparison(Box<Comparison>),
}

/// Runs `edgelab report`.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Merge(args) => run_merge(&args),
    }
}

fn bad_input(message: &str) -> ExitCode {
    output::error(message);
    ExitCode::from(EXIT_CONFIG as u8)
}

fn read(path: &Path) -> Result<Input, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{shown}: not JSON: {e}"))?;
    let is_comparison = value.get("direct").is_some() && value.get("edge").is_some();
    let problem = |e: serde_json::Error| format!("{shown}: not an edgelab report: {e}");
    Ok(if is_comparison {
        Input::Comparison(Box::new(serde_json::from_value(value).map_err(problem)?))
    } else {
        Input::Report(Box::new(serde_json::from_value(value).map_err(problem)?))
    })
}

/// `files` with every directory replaced by its `shard-*/comparison.json` files, in order.
fn expand(files: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut expanded = Vec::new();
    for path in files {
        if !path.is_dir() {
            expanded.push(path.clone());
            continue;
        }
        let entries = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut shards: Vec<(u32, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let (index, _) = name.strip_prefix("shard-")?.split_once("-of-")?;
                let file = entry.path().join("comparison.json");
                Some((index.parse().ok()?, file)).filter(|(_, f)| f.is_file())
            })
            .collect();
        if shards.is_empty() {
            return Err(format!(
                "{}: no shard-I-of-N/comparison.json in this directory",
                path.display()
            ));
        }
        shards.sort();
        expanded.extend(shards.into_iter().map(|(_, file)| file));
    }
    Ok(expanded)
}

fn run_merge(args: &MergeArgs) -> anyhow::Result<ExitCode> {
    let files = match expand(&args.files) {
        Ok(files) => files,
        Err(message) => return Ok(bad_input(&message)),
    };
    let mut reports = Vec::new();
    let mut comparisons = Vec::new();
    for path in &files {
        match read(path) {
            Ok(Input::Report(report)) => reports.push(*report),
            Ok(Input::Comparison(comparison)) => comparisons.push(*comparison),
            Err(message) => return Ok(bad_input(&message)),
        }
    }
    if !reports.is_empty() && !comparisons.is_empty() {
        return Ok(bad_input(
            "give either run reports (loadgen --json) or comparisons (comparison.json), not both",
        ));
    }
    let options = MergeOptions {
        partial: args.partial,
    };
    let explain = |error: MergeError| match error.input {
        Some(input) => format!("{}: {}", files[input].display(), error.problem),
        None => error.problem,
    };
    let (json, page, text) = if comparisons.is_empty() {
        match merge(&reports, options) {
            Ok(report) => (report.to_json(), html::single(&report), report.summary()),
            Err(error) => return Ok(bad_input(&explain(error))),
        }
    } else {
        match merge_comparisons(&comparisons, options) {
            Ok(merged) => (
                merged.to_json(),
                html::comparison(&merged),
                format!(
                    "merged shards {} of the seeded schedule\n{}",
                    merged.direct.shards,
                    merged.table()
                ),
            ),
            Err(error) => return Ok(bad_input(&explain(error))),
        }
    };
    output::block(&text);
    if let Some(path) = &args.json {
        std::fs::write(path, json)
            .map_err(|error| anyhow::anyhow!("writing {}: {error}", path.display()))?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, page)
            .map_err(|error| anyhow::anyhow!("writing {}: {error}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
