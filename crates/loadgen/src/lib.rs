//! edgelab-loadgen (being built).
