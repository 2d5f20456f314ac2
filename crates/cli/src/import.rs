//! `edgelab import cloudfront DIST.json`: a CloudFront distribution (the JSON of `aws
//! cloudfront get-distribution-config` or `get-distribution`) → a topology file on standard
//! output (the mapping is `edgelab_import`). What edgelab does not emulate is listed at the
//! top of the file and on standard error. Bad input exits 64.

use std::path::PathBuf;
use std::process::ExitCode;

use edgelab_common::config::EXIT_CONFIG;

use crate::output;

/// `edgelab import`: bring your own CDN configuration.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// A CloudFront distribution → a topology file on standard output.
    #[command(after_help = "Examples:
  aws cloudfront get-distribution-config --id E2QWRUHEXAMPLE > dist.json
  edgelab import cloudfront dist.json > topology.toml
  edgelab import cloudfront dist.json --origin-region eu-west-1 --cache-policy images-policy.json > topology.toml
  aws cloudfront get-origin-request-policy --id ID > images-origin.json   # for each custom origin request policy
  edgelab import cloudfront dist.json --cache-policy images-policy.json --origin-request-policy images-origin.json
  edgelab up topology.toml --list")]
    Cloudfront(CloudfrontArgs),
}

/// Arguments of `edgelab import cloudfront`.
#[derive(Debug, clap::Args)]
pub struct CloudfrontArgs {
    /// The distribution: `get-distribution-config` or `get-distribution` JSON.
    #[arg(value_name = "DIST.json")]
    pub distribution: PathBuf,
    /// Region the origin runs in (default: the Region in its domain name, else its Origin
    /// Shield Region, else us-east-1).
    #[arg(long, value_name = "CODE")]
    pub origin_region: Option<String>,
    /// A custom cache policy (`aws cloudfront get-cache-policy --id ID` JSON); repeatable.
    #[arg(long, value_name = "FILE")]
    pub cache_policy: Vec<PathBuf>,
    /// A custom origin request policy (`aws cloudfront get-origin-request-policy --id ID`
    /// JSON); repeatable.
    #[arg(long, value_name = "FILE")]
    pub origin_request_policy: Vec<PathBuf>,
}

fn read(path: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))
}

/// Runs `edgelab import`.
pub fn run(command: Command) -> ExitCode {
    let Command::Cloudfront(args) = command;
    let bad_input = |message: &str| {
        output::error(message);
        ExitCode::from(EXIT_CONFIG as u8)
    };
    let text = match read(&args.distribution) {
        Ok(text) => text,
        Err(message) => return bad_input(&message),
    };
    let mut options = edgelab_import::Options {
        origin_region: args.origin_region.clone(),
        ..Default::default()
    };
    let files = [
        (&args.cache_policy, &mut options.cache_policies),
        (
            &args.origin_request_policy,
            &mut options.origin_request_policies,
        ),
    ];
    for (paths, texts) in files {
        for path in paths {
            match read(path) {
                Ok(policy) => texts.push((path.display().to_string(), policy)),
                Err(message) => return bad_input(&message),
            }
        }
    }
    let file = args.distribution.display().to_string();
    match edgelab_import::import(&text, &file, &options) {
        Ok(import) => {
            for item in &import.not_emulated {
                output::error(&format!("not emulated: {item}"));
            }
            output::block(&import.topology);
            ExitCode::SUCCESS
        }
        Err(error) => bad_input(&error.to_string()),
    }
}
