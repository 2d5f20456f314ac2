//! End-to-end runs of `edgelab topology`.
