//! User-space link emulation: real TCP connections that pay a modelled hop's latency.
//!
//! The side that opens a connection wraps it, so neither server needs to know where its peer
//! is (SPEC §2). A wrapped connection
//! - costs one RTT to open, two when the hop is marked TLS ([`LinkConnector`],
//!   [`LinkStream::connect`]), counted from the start of the real connect: the loopback
//!   handshake happens inside the modelled one, and if it takes longer (a dropped SYN is
//!   retried a second later) the excess is recorded as delivery lateness;
//! - delays everything it reads by the hop's RTT, as a delay line: bytes that really arrived
//!   at `t` are handed to the reader at `t + RTT`, in order, so server think-time and
//!   streamed bodies keep their real shape. One RTT sample (base + seeded jitter, + one RTO
//!   on a seeded loss) is drawn per request/response exchange: the first bytes read after a
//!   write start a new exchange;
//! - paces what it reads at the hop's bandwidth, if it has one;
//! - passes writes straight through (the whole round trip is charged on the read side);
//! - can record how late each delivery came against its scheduled time, per path class
//!   ([`DeliveryErrors`]): the emulator's own error, added to every latency measured over it.
//!
//! A [`HopModel::ZERO`] hop takes a fast path: the stream is the plain socket.
//!
//! # Layout
//! - [`stream`]: [`LinkStream`], the delay line over a `TcpStream`.
//! - [`connector`]: [`LinkConnector`], a `tower_service::Service<Uri>` for
//!   `hyper_util::client::legacy::Client`.
//! - [`lateness`]: [`DeliveryErrors`], per-class HDR histograms of delivery lateness.
//! - [`error`]: the [`LinkError`] type.
//!
//! # Example
//! ```no_run
//! use std::time::Duration;
//! use edgelab_link::{HopModel, LinkConnector};
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let hop = HopModel::fixed(Duration::from_millis(80)).with_tls(true);
//! let client: Client<_, http_body_util::Empty<bytes::Bytes>> =
//!     Client::builder(TokioExecutor::new()).build(LinkConnector::new(hop, 42));
//! // Connect (2 RTT with TLS) + the exchange (1 RTT): about 240 ms on loopback.
//! let response = client.get("http://127.0.0.1:8080/".parse()?).await?;
//! # Ok(()) }
//! ```

pub mod connector;
pub mod error;
pub mod lateness;
pub mod stream;

pub use connector::{LinkConnector, LinkIo};
pub use edgelab_geo::{HopModel, PathClass};
pub use error::LinkError;
pub use lateness::{DeliveryErrors, LatenessSeries, LatenessSummary, TimedLateness};
pub use stream::LinkStream;
