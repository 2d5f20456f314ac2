//! End-to-end runs of `edgelab origin`.
