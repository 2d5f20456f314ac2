//! End-to-end tests of the `edgelab` binary: each module runs real subcommands.

mod agreement;
mod defaults;
mod deploy;
mod edge;
mod import;
mod live;
mod loadgen;
mod metrics;
mod origin;
mod replay;
mod report;
mod support;
mod topology;
mod up;
