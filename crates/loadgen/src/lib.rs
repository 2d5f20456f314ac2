//! edgelab-loadgen: a seeded, open-loop load generator that measures like wrk2 (latency from
//! the *intended* send time) and reports what edges do to latency and origin load.
//!
//! # Layout
//! - [`scenario`]: scenario files (TOML) → validated [`Settings`], CLI overrides.
//! - [`catalog`]: the objects to request (origin catalog discovery or a URL list).
//! - [`workload`]: the pure, seeded sampler (Zipf popularity, class mix, per-place skew).
//! - [`schedule`]: intended send times (constant, Poisson, ramp).
//! - [`shard`]: one of N disjoint slices of a run's schedule ([`Shard`]), for load generators
//!   that scale out; their reports merge back into one ([`merge`]).
//! - [`target`]: resolved targets ([`Target`], [`Mode`]) and the connector they use.
//! - [`plan`]: the validated, seeded workload of a run ([`Plan`]).
//! - [`replay`]: an access log's requests at their logged times ([`replay::ReplayLog`]).
//! - [`mod@run`]: the engine ([`run()`], [`RunOptions`]); `dispatch` paces the open-loop
//!   schedule on the runtime (a timerfd per wait, on Linux), `lane` hands each request to an idle connection of its
//!   place, `client` sends each request and reads its response on the worker's task (a lean
//!   HTTP/1.1 client), `sent` stamps when a request's first byte was written.
//! - [`record`]: per-worker HDR histograms by place × X-Cache × PoP × tier, merged at the end.
//! - [`recorded`]: those histograms and counters carried losslessly in the report.
//! - [`progress`]: live counters, the progress line, the HdrHistogram interval log.
//! - [`origin_load`]: origin requests and bytes from `/metrics`.
//! - [`report`]: the [`Report`] (JSON schema in `loadtest/report.schema.json`) and its summary.
//! - [`map`]: the places of a run and each client's modelled path ([`RunMap`]), for the
//!   report's map (filled in by whoever routed the targets).
//! - [`compare`]: [`Comparison`] of direct, edge and ga runs.
//! - [`merge`]: shards' reports (or comparisons) added up into one.
//! - [`html`]: offline HTML reports with inline SVG charts and a world map.
//!
//! A caller resolves its targets (one URL, or every client place of a topology), builds a
//! [`Plan`] from settings and a catalog, and awaits [`run()`]:
//!
//! ```no_run
//! # async fn example() -> Result<(), edgelab_loadgen::LoadgenError> {
//! use edgelab_loadgen::{Catalog, Mode, Plan, RunOptions, Settings, Target};
//! let base: http::Uri = "http://127.0.0.1:8080".parse().unwrap();
//! let catalog = Catalog::discover(&base, std::time::Duration::from_secs(5)).await?;
//! let targets = vec![Target::local(base, Mode::Direct)];
//! let places: Vec<String> = targets.iter().map(|t| t.place.clone()).collect();
//! let plan = Plan::new(Settings::default(), &catalog, &places)?;
//! let shutdown = edgelab_common::shutdown::Shutdown::new();
//! let report = edgelab_loadgen::run(&plan, &targets, &RunOptions::default(), shutdown).await?;
//! print!("{}", report.summary());
//! # Ok(()) }
//! ```

pub mod catalog;
mod client;
pub mod compare;
mod dispatch;
pub mod error;
mod fetch;
pub mod html;
mod lane;
pub mod map;
pub mod merge;
pub mod origin_load;
pub mod plan;
pub mod progress;
pub mod record;
pub mod recorded;
pub mod replay;
pub mod report;
pub mod run;
pub mod scenario;
pub mod schedule;
mod sent;
pub mod shard;
pub mod target;
pub mod workload;

pub use catalog::Catalog;
pub use compare::Comparison;
pub use error::{LoadgenError, RequestErrorKind};
/// The URI type targets and metrics URLs are given in (re-exported for callers).
pub use http::Uri;
pub use map::RunMap;
pub use plan::Plan;
pub use report::Report;
pub use run::{RunOptions, run};
pub use scenario::{Overrides, Settings};
pub use shard::{Shard, ShardSet};
pub use target::{Hop, Mode, Target};
