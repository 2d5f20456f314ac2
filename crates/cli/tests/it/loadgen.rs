//! End-to-end runs of `edgelab loadgen`.
