//! Integration tests of the load generator against real HTTP servers on loopback.

mod browser;
mod cdn;
mod run;
mod schema;
mod shard;
mod support;
