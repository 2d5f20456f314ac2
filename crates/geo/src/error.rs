//! Errors of the geography crate.

/// What can go wrong when naming places or configuring the model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeoError {
    /// No Region, Availability Zone, Local Zone, PoP or city has this name.
    #[error("unknown place `{name}`{}", suggest(.suggestions))]
    UnknownPlace {
        /// The name as given.
        name: String,
        /// Known names close to it (best first, at most 5).
        suggestions: Vec<String>,
    },
    /// A name that is not a path class (`backbone`, `internet`, `last_mile`).
    #[error("unknown path class `{0}` (expected backbone, internet or last_mile)")]
    UnknownPathClass(String),
    /// A latency model parameter is out of range.
    #[error("invalid latency model: {field}: {message}")]
    InvalidModel {
        /// Field path, e.g. `internet.loss`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl GeoError {
    /// A short, stable label for this kind of error (for metrics and logs).
    pub fn kind(&self) -> &'static str {
        match self {
            GeoError::UnknownPlace { .. } => "unknown_place",
            GeoError::UnknownPathClass(_) => "unknown_path_class",
            GeoError::InvalidModel { .. } => "invalid_model",
        }
    }
}

fn suggest(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_place_lists_suggestions() {
        let error = GeoError::UnknownPlace {
            name: "us-east-9".into(),
            suggestions: vec!["us-east-1".into(), "us-east-2".into()],
        };
        assert_eq!(
            error.to_string(),
            "unknown place `us-east-9`; did you mean us-east-1, us-east-2?"
        );
        assert_eq!(error.kind(), "unknown_place");
    }
}
