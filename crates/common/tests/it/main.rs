//! Integration tests of edgelab-common: real listeners on `127.0.0.1:0`.

mod head_fuzz;
mod serve;
