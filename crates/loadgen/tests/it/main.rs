//! Integration tests of the load generator against real HTTP servers on loopback.

mod run;
mod schema;
mod support;
