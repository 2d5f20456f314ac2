//! End-to-end runs of `edgelab edge`.
