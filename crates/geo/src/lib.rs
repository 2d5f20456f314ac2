//! AWS geography, the latency model and CDN routing for edgelab.
//!
//! This crate is pure: no tokio, no I/O at run time. The topology data (Regions with their
//! Availability Zone ids, Local Zones, CloudFront edge locations and Regional Edge Caches)
//! and the long-haul graph (hub cities, terrestrial routes and submarine cable systems) are
//! embedded at compile time from `data/` (see `data/SOURCES.md` for where every row comes
//! from) and parsed once on first use.
//!
//! # Layout
//! - [`places`]: typed places ([`Region`], [`AvailabilityZone`], [`LocalZone`], [`Pop`],
//!   [`City`]) and the [`Place`] a name resolves to.
//! - [`topology`]: the [`Topology`] catalogue, lookup by code or city with near-match
//!   suggestions.
//! - [`distance`]: great-circle distance ([`distance_km`]).
//! - [`backbone`]: the long-haul graph ([`Backbone`]) and the cheapest [`Route`] between two
//!   places over it, leg by leg.
//! - [`model`]: the latency model of SPEC §2 ([`LatencyModel`], [`PathClass`]; backbone and
//!   internet RTTs are graph paths, [`GraphParams`]) and the per-hop cost ([`HopModel`]) with
//!   seeded sampling.
//! - [`calibration`]: measured `src,dst,rtt_ms` tables ([`parse_measured`]), the model's
//!   error on them ([`residuals`]) and the refit of a class's parameters ([`fit`]).
//! - [`routing`]: nearest healthy PoP, nearest REC, Origin Shield selection and Global
//!   Accelerator routing, all as pure functions of their inputs.
//! - [`planner`]: the one planner: the hop chain of a request through the cache tiers
//!   ([`CdnLayout`]) or through Global Accelerator ([`ga_path`]), used by the node planner,
//!   the load-generator targets and `edgelab topology route`.
//! - [`map`]: world-map geometry: the embedded land (Natural Earth 1:110m), an
//!   equirectangular [`Projection`] and great-circle paths split at the antimeridian.
//! - [`error`]: the [`GeoError`] type.
//!
//! # Example
//! ```
//! use edgelab_geo::{LatencyModel, PathClass, Topology, nearest_pop};
//!
//! let topology = Topology::embedded();
//! let model = LatencyModel::default();
//! let virginia = topology.resolve("us-east-1")?.coordinates();
//! let ireland = topology.resolve("eu-west-1")?.coordinates();
//! let rtt = model.rtt(virginia, ireland, PathClass::Backbone);
//! assert!(rtt.as_millis() > 60 && rtt.as_millis() < 80);
//!
//! // Paris among three PoPs, with London down, is served from Frankfurt.
//! let paris = topology.resolve("Paris")?.coordinates();
//! let pops: Vec<_> = ["FRA", "LHR", "IAD"].iter().filter_map(|c| topology.pop(c)).collect();
//! let pop = nearest_pop(paris, &pops, |p| p.code != "LHR", &model).unwrap();
//! assert_eq!(pop.code, "FRA");
//! # Ok::<(), edgelab_geo::GeoError>(())
//! ```

pub mod backbone;
pub mod calibration;
pub mod distance;
pub mod error;
pub mod map;
pub mod model;
pub mod places;
pub mod planner;
pub mod routing;
pub mod topology;

pub use backbone::{Backbone, Hub, Leg, LegKind, Link, Route};
pub use calibration::{
    Fit, MeasuredError, Measurement, PairError, Residuals, fit, parse_measured, residuals,
};
pub use distance::{EARTH_RADIUS_KM, distance_km};
pub use error::GeoError;
pub use map::Projection;
pub use model::{ClassParams, ClassRoute, GraphParams, HopModel, LatencyModel, PathClass};
pub use places::{AvailabilityZone, City, Coordinates, LocalZone, Place, Pop, PopKind, Region};
pub use planner::{
    CdnLayout, GaPath, Hop, HopClass, Stop, compose, direct_hop, ga_path, total_rtt,
};
pub use routing::{
    Endpoint, EndpointGroup, Failures, GaRoute, choose_shield, ga_route, ga_route_seeded,
    nearest_pop, nearest_rec,
};
pub use topology::Topology;
