//! The protocol edgelab speaks between its tiers and crates, written once: the origin writes
//! it, every cache tier reads and writes it, the load generator reads it.
//!
//! Pure: no I/O, no runtime. Header *names* stay in `edgelab_common::names`; this crate owns
//! the grammar of their values.
//!
//! ## Layout
//! - [`tier`]: [`Tier`] (the cache tier a node plays) and [`Layer`] (the layer of the delivery
//!   path a node is, or a response came from).
//! - [`x_cache`]: CloudFront's `X-Cache` values ([`XCache`]).
//! - [`server_timing`]: CloudFront's `Server-Timing` metrics: a builder and a parser.
//! - [`digest`]: the `x-edgelab-digest` value ([`Digest`], `xxh3=<16 hex>`).
//! - [`catalog`]: the origin's catalog JSON ([`CatalogListing`], [`CatalogEntry`]).
//! - [`class`]: the origin's path classes ([`Class`]), their `Cache-Control`, and the class an
//!   access-log object gets.
//! - [`range`]: RFC 9110 byte ranges, hardened (cap, order, coalescing, size bound), and the
//!   `multipart/byteranges` framing as slices of the stored object.
//! - [`conditional`]: RFC 9110 preconditions and `If-Range`, with weak/strong comparison.

pub mod catalog;
pub mod class;
pub mod conditional;
pub mod digest;
pub mod range;
pub mod server_timing;
pub mod tier;
pub mod x_cache;

pub use catalog::{CatalogEntry, CatalogListing};
pub use class::Class;
pub use digest::Digest;
pub use server_timing::ServerTiming;
pub use tier::{Layer, Tier};
pub use x_cache::XCache;
