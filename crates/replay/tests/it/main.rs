//! Integration tests of `edgelab-replay` over the shipped reference trace.

mod libcachesim;
