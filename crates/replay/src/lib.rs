//! Offline what-if for edge caches: replay a request trace through simulated caches, one
//! per capacity on a grid, and report object and byte hit ratios. Pure: no sockets, no
//! runtime, no clock (expiry runs on the trace's own times); the trace is streamed, so memory is bounded by the number of distinct
//! objects a cache holds, not by the trace length.
//!
//! # Layout
//! - [`trace`]: trace formats (CSV `time,id,size`, libCacheSim's `oracleGeneral` binary,
//!   CloudFront and CLF access logs through `edgelab_accesslog`) and
//!   a streaming reader.
//! - [`cache`]: the eviction policies (`lru`, `fifo`, `tinylfu`, `clock-pro`) behind one [`cache::Cache`]
//!   trait, with libCacheSim's conventions for LRU and FIFO, and the lists the one loop
//!   (`engine`) keeps LRU and FIFO caches in, on dense object numbers.
//! - [`policy`]: the running edge's cache policies (`edgelab_policy`) over the trace's time:
//!   what each class of object the origin serves is stored for, expiry and revalidation.
//! - `engine`: the one replay loop: each request read once, named by a dense object number
//!   per cache key rule, routed to its PoP and REC, and served at every point of the grid
//!   (eviction, cache policy, capacity per tier); LRU/FIFO lists and expiry tables indexed by
//!   those numbers.
//! - [`sim`]: the replays callers ask for (one tier or tiers, with or without cache
//!   policies), all through the engine, and the report (JSON and terminal table).
//! - [`tiers`]: CloudFront's tiers (PoPs → RECs → Origin Shield) over a trace, PoPs from
//!   the log's edge locations, RECs from the planner of `edgelab_geo`, a capacity grid per
//!   tier.
//! - [`html`]: the miss-ratio curve as a self-contained HTML page (charts from
//!   `edgelab_chart`).
//! - [`size`]: byte sizes as users write them (`128MiB`, `1GiB`).

pub mod cache;
mod engine;
pub mod html;
pub mod policy;
#[cfg(test)]
mod reference;
pub mod sim;
pub mod size;
pub mod tiers;
pub mod trace;

pub use cache::Eviction;
/// The query strings (or headers, cookies) a cache key keeps, as `edgelab_policy` selects them.
pub use edgelab_policy::Selection;
pub use policy::{PolicyChoice, PolicyGrid, parse_query_strings, policy_grid};
pub use sim::{
    Outcome, Report, simulate, simulate_choices, simulate_policies, simulate_tiered,
    simulate_tiered_policies,
};
pub use tiers::{CapacityItem, Router, Tier, TierSet, capacity_grid};
pub use trace::{Plain, Queried, Request, Trace, TraceError, TraceFormat};
