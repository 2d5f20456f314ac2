//! edgelab-geo (being built).
