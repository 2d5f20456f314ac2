//! `edgelab deploy compose|stack|k8s [FILE] [--out DIR]`: writes the deployment files
//! `edgelab_cluster::deploy` generates from a topology, the topology itself under
//! `config/`, and (compose, Swarm) a `.env` of fresh secrets when none exists.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use edgelab_cluster::Topology;
use edgelab_cluster::deploy::{self, DeployOptions, Target};
use edgelab_cluster::topology::DEFAULT_TOPOLOGY;

use crate::args::TopologyFile;
use crate::output;

/// What `edgelab deploy` generates.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    /// docker-compose.yml, Prometheus targets and Grafana files (one machine).
    Compose,
    /// edgelab-stack.yml for `docker stack deploy` (a Swarm).
    Stack,
    /// A kustomize base in k8s/ for `kubectl apply -k k8s/`.
    K8s,
}

/// Arguments of `edgelab deploy`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  edgelab deploy compose config/default.toml --out .   # the shipped docker-compose.yml
  edgelab deploy stack config/global.toml --out lab    # lab/edgelab-stack.yml, lab/config/global.toml
  edgelab deploy k8s --out lab                         # lab/k8s/ (built-in default topology)
  edgelab deploy k8s --loadgen-shards 4 --out lab      # the comparison as an indexed Job of 4 pods")]
pub struct Args {
    /// What to generate.
    #[arg(value_enum)]
    pub kind: Kind,
    #[command(flatten)]
    pub topology: TopologyFile,
    /// Output directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Host address compose publishes ports on (0.0.0.0 exposes the lab to the network).
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub publish: IpAddr,
    /// Swarm: each node runs only on a machine labelled with its place (edgelab.place).
    #[arg(long)]
    pub constrain: bool,
    /// Swarm and Kubernetes: run the comparison as this many load generators, each sending one
    /// shard of the workload (merge their reports with `edgelab report merge`).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub loadgen_shards: u32,
}

/// Runs `edgelab deploy`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (name, text) = match args.topology.path() {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "topology.toml".into());
            (name, text)
        }
        None => ("default.toml".to_string(), DEFAULT_TOPOLOGY.to_string()),
    };
    let topology = match Topology::parse(&text, &name) {
        Ok(topology) => topology,
        Err(errors) => return Ok(output::config_errors(&errors)),
    };
    let mut options = DeployOptions::new(&name, &text);
    options.publish = args.publish;
    options.constrain = args.constrain;
    options.loadgen_shards = args.loadgen_shards;
    let target = match args.kind {
        Kind::Compose => Target::Compose,
        Kind::Stack => Target::Stack,
        Kind::K8s => Target::Kubernetes,
    };
    for file in deploy::generate(&topology, target, &options) {
        write(&args.out.join(&file.path), &file.text)?;
    }
    if !matches!(target, Target::Kubernetes) {
        let config = args.out.join("config").join(&name);
        let same = args.topology.path().is_some_and(|f| same_file(f, &config));
        if !same {
            write(&config, &text)?;
        }
        let env = args.out.join(".env");
        if !env.exists() {
            let mut secret = || format!("{:032x}", rand::random::<u128>());
            write(&env, &deploy::env_file(&mut secret))?;
        }
    }
    output::line(&format!(
        "wrote {} files to {}",
        target_name(target),
        args.out.display()
    ));
    Ok(ExitCode::SUCCESS)
}

fn target_name(target: Target) -> &'static str {
    match target {
        Target::Compose => "compose",
        Target::Stack => "Swarm stack",
        Target::Kubernetes => "Kubernetes",
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}
