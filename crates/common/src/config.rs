//! Configuration errors: collected completely, reported with field paths.
//!
//! Every config in edgelab goes raw → validated: serde reads the TOML into `Raw*` structs
//! (`deny_unknown_fields`), then a `TryFrom` walks every field and pushes each problem into
//! [`ConfigErrors`] instead of stopping at the first. A binary prints them all and exits with
//! [`EXIT_CONFIG`] before it binds a port.
//!
//! serde itself stops at the first syntax or unknown-field error; that one error is reported
//! with its line and column, and the semantic checks run once the file parses.

use std::fmt;
use std::path::Path;

/// Exit status for bad usage or bad configuration (`EX_USAGE` from sysexits.h).
pub const EXIT_CONFIG: i32 = 64;

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `origin.service_time.mean`, or `(file)` for the whole file.
    pub field: String,
    /// What is wrong, in a short sentence.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem found in one configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    errors: Vec<FieldError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        writeln!(
            f,
            "invalid configuration ({count} problem{}):",
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.errors {
            writeln!(f, "  - {error}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A single error.
    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.push(field, message);
        errors
    }

    /// Records a problem with `field`.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Records every problem of `other`, with `prefix.` put before its field paths.
    pub fn extend_prefixed(&mut self, prefix: &str, other: ConfigErrors) {
        for error in other.errors {
            let field = if prefix.is_empty() {
                error.field
            } else {
                format!("{prefix}.{}", error.field)
            };
            self.errors.push(FieldError {
                field,
                message: error.message,
            });
        }
    }

    /// Whether no problem was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The recorded problems.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// `Ok(value)` when nothing was recorded, else these errors.
    pub fn into_result<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// `Some(value)`, or `None` after recording every problem of `result`.
    pub fn absorb<T>(&mut self, result: Result<T, ConfigErrors>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(errors) => {
                self.extend_prefixed("", errors);
                None
            }
        }
    }

    /// `Some(value)`, or `None` after adding one error for `field`.
    pub fn check<T, E: fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(field, error.to_string());
                None
            }
        }
    }
}

/// Parses TOML text into `T`; a syntax or shape error becomes one [`FieldError`] naming the
/// key path when serde knows it, with line and column.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    origin: &str,
) -> Result<T, ConfigErrors> {
    toml::from_str(text).map_err(|error| {
        let location = error
            .span()
            .map(|span| {
                let line = text[..span.start].matches('\n').count() + 1;
                let column = span.start - text[..span.start].rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(" (line {line}, column {column})")
            })
            .unwrap_or_default();
        ConfigErrors::one(origin, format!("{}{location}", error.message().trim_end()))
    })
}

/// Reads and parses a TOML file into `T`.
pub fn load_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigErrors> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|error| ConfigErrors::one(&display, format!("cannot read: {error}")))?;
    parse_toml(&text, &display)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        port: u16,
    }

    #[test]
    fn unknown_field_is_reported_with_line_and_column() {
        let text = "name = \"a\"\nport = 1\nprot = 2\n";
        let error = parse_toml::<Sample>(text, "sample.toml").unwrap_err();
        let shown = error.to_string();
        assert!(shown.contains("sample.toml"), "{shown}");
        assert!(shown.contains("prot"), "{shown}");
        assert!(shown.contains("line 3"), "{shown}");
    }

    #[test]
    fn all_pushed_errors_are_listed() {
        let mut errors = ConfigErrors::new();
        errors.push("a.b", "must be positive");
        let mut inner = ConfigErrors::new();
        inner.push("c", "unknown region `eu-west-9`");
        errors.extend_prefixed("origin", inner);
        let shown = errors.to_string();
        assert!(shown.contains("2 problems"));
        assert!(shown.contains("a.b: must be positive"));
        assert!(shown.contains("origin.c: unknown region"));
        assert!(errors.into_result(()).is_err());
    }
}
