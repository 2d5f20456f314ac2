//! Integration tests of the edge node: real origins and edges on 127.0.0.1:0.

mod caching;
mod collapsing;
mod errors;
mod faults;
mod forwarding;
mod interim;
mod lane;
mod representation;
mod smuggling;
mod spans;
mod support;
mod tiers;
