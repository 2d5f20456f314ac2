//! Property tests of the geography crate: distances, the latency model and routing.

mod calibration;
mod properties;
