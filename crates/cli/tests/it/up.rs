//! End-to-end runs of `edgelab up`.
