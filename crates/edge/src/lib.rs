//! edgelab-edge (being built).
