//! Arguments several subcommands share.

use std::path::{Path, PathBuf};

/// The topology a subcommand runs: `FILE` as its positional argument, or `--topology FILE` as
/// `compare` and `loadgen` take it; the built-in default topology without either.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TopologyFile {
    /// Topology file (default: the built-in default topology, config/default.toml).
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// The topology file, given as a flag (as `compare` and `loadgen` take it).
    #[arg(long = "topology", value_name = "FILE", conflicts_with = "file")]
    flag: Option<PathBuf>,
}

impl TopologyFile {
    /// The file given, either way; `None` for the built-in default topology.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_deref().or(self.flag.as_deref())
    }
}
