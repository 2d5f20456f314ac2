//! The `edgelab` command.
fn main() {}
