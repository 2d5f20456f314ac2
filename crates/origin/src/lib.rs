//! edgelab-origin (being built).
