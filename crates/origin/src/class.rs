//! Path classes of the synthetic catalog, shared by the configuration (settings per class)
//! and the catalog (objects per class) without either depending on the other. Defined in
//! `edgelab_wire::class`, with their default `Cache-Control`, because the offline replay reads
//! them too.

pub use edgelab_wire::class::{Class, FILES_PREFIX};
