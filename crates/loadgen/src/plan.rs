//! [`Plan`]: the validated, seeded workload of a run, for a fixed list of client places.
//!
//! Its own module so that the engine ([`crate::run()`]) and the report ([`crate::report`]) both
//! depend on it without depending on each other.

use edgelab_common::config::ConfigErrors;

use crate::catalog::Catalog;
use crate::scenario::Settings;
use crate::workload::Workload;

/// A validated, seeded workload for a fixed list of client places.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The scenario with the command line applied.
    pub settings: Settings,
    /// The request sampler.
    pub workload: Workload,
    /// The client places, in the order targets must be given to [`crate::run()`].
    pub places: Vec<String>,
}

impl Plan {
    /// Builds the plan for `places` (each target's place, in order).
    pub fn new(
        settings: Settings,
        catalog: &Catalog,
        places: &[String],
    ) -> Result<Plan, ConfigErrors> {
        let workload = Workload::new(&settings, catalog, places)?;
        Ok(Plan {
            settings,
            workload,
            places: places.to_vec(),
        })
    }
}
