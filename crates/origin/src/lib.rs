//! edgelab-origin: the origin server. It serves a synthetic catalog that is deterministic from
//! a seed and whose bodies a client can verify (`x-edgelab-digest`), over HTTP/1.1 and h2c,
//! with conditional requests, ranges, an echo endpoint and runtime-switchable faults.
//!
//! # Layout
//! - [`config`]: [`OriginConfig`] (the TOML file, documented field by field) →
//!   [`OriginSettings`], every problem reported with its path.
//! - [`class`]: the path classes ([`Class`]), shared by config and catalog.
//! - [`catalog`]: the seeded byte pool, the objects as windows over it, the catalog JSON.
//! - [`logged`]: a catalog of the objects an access log names (`--catalog-from-log`).
//! - [`body`]: the streamed object body: zero-copy frames, pacing, injected resets.
//! - [`metrics`]: the origin's Prometheus metrics (SPEC §7).
//! - [`server`]: [`start`], the traffic handler, the admin routes, [`OriginHandle`].
//!
//! Range and conditional-request semantics (RFC 9110 §13, §14) come from
//! `edgelab_wire::{range, conditional}`, the same code every cache tier answers with.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use edgelab_common::shutdown::Shutdown;
//! let traffic = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let shutdown = Shutdown::new();
//! let origin = edgelab_origin::start(
//!     edgelab_origin::OriginConfig::default(),
//!     traffic,
//!     admin,
//!     prometheus::Registry::new(),
//!     shutdown.clone(),
//! )?;
//! println!("objects at http://{}/static/00000.js", origin.traffic_addr());
//! origin.set_outage(true); // this replica's AZ fails
//! origin.stop(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```

pub mod body;
pub mod catalog;
pub mod class;
pub mod config;
pub mod logged;
pub mod metrics;
pub mod server;

pub use catalog::{Catalog, Class};
pub use config::{Faults, FaultsConfig, OriginConfig, OriginSettings};
pub use edgelab_wire::{CatalogEntry, CatalogListing};
pub use server::{OriginError, OriginHandle, start, start_with_catalog};
