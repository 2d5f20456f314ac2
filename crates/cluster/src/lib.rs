//! edgelab-cluster: a whole emulated CDN from one topology file.
//!
//! # Layout
//! - [`topology`]: the topology file (raw → validated) and the node plan: origin replicas in
//!   AZs, the Origin Shield, the RECs the PoPs need, the PoPs, and the modelled hop of every
//!   upstream link.
//! - [`cluster`]: starts the planned nodes (all in this process on loopback, or one node for
//!   a container), wires each cache node's upstream through `edgelab-link`, and fails or
//!   restores nodes at runtime.
//! - [`workers`]: single-thread runtimes the nodes of a loopback cluster can be spread over
//!   (`--workers N`).
//! - [`targets`]: turns client places into load-generator targets for the `direct`, `edge`
//!   and `ga` paths, following routing (the planner in `edgelab_geo::planner`) and node
//!   health.
//! - [`deploy`]: docker compose, Swarm stack and Kubernetes files generated from a topology.
//! - [`live`]: the live page of the control port and its status (health, requests/s and hit
//!   ratio of every node, from the nodes' registries in process).
//! - [`drill`]: the failure drill (primary AZ, then Region down, under load and a probe).
//! - [`tour`]: `edgelab demo --tour`, five chapters (edge caching, Global Accelerator, a
//!   Local Zone, an AZ failure, a Region failure) measured on the lab and the drill.
//! - [`route`]: the inputs of `edgelab topology route` (flags or a topology file).
//! - [`lab`]: a [`Lab`] (topology + workload) started or attached to, then run per mode or
//!   as a comparison: the one orchestration path of `compare`, `demo`, `drill` and
//!   `loadgen --topology`.

pub mod cluster;
pub mod deploy;
pub mod drill;
pub mod lab;
pub mod live;
pub mod route;
pub mod targets;
pub mod topology;
pub mod tour;
pub mod workers;

pub use cluster::{Binding, Cluster, ClusterError, NodeInfo};
pub use edgelab_wire::Layer;
pub use lab::{Lab, LabError, Reach, RunOpts, RunningLab};
pub use topology::{NodePlan, Topology};
pub use workers::NodeRuntimes;
