//! edgelab-link (being built).
