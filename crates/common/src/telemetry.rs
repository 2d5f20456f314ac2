//! Tracing initialisation: structured logs on standard error, filtered by `EDGELAB_LOG`,
//! quiet (`warn`) by default.
//!
//! `EDGELAB_LOG` is a comma-separated list of `LEVEL` or `TARGET=LEVEL` directives, the
//! `RUST_LOG` form without span or field filters (`info`, `edgelab_edge=debug`,
//! `warn,edgelab_edge=debug`); a target matches every module path it prefixes. Parsed by
//! `tracing_subscriber::filter::Targets`, which needs no regular-expression engine in the
//! binary. A value that does not parse is ignored in favour of the default.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::names::env;

/// Installs the global tracing subscriber once; later calls do nothing.
pub fn init() {
    let filter = filter(std::env::var(env::LOG).ok().as_deref());
    let _ = tracing_subscriber::registry()
        .with(fmt::layer().with_writer(std::io::stderr).with_target(false))
        .with(filter)
        .try_init();
}

/// The filter for an `EDGELAB_LOG` value: its directives, or `warn` for everything when it is
/// unset, empty or does not parse.
fn filter(directives: Option<&str>) -> Targets {
    let default = Targets::new().with_default(LevelFilter::WARN);
    let Some(directives) = directives else {
        return default;
    };
    // Empty directives are skipped, as `RUST_LOG` readers do (`info,` is `info`).
    let directives: Vec<&str> = directives.split(',').filter(|d| !d.is_empty()).collect();
    if directives.is_empty() {
        return default;
    }
    directives.join(",").parse().unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::filter;

    #[test]
    fn unset_empty_or_unparsable_is_warn_for_every_target() {
        for value in [
            None,
            Some(""),
            Some(","),
            Some("edgelab_edge=loud"),
            Some("a=b=c"),
        ] {
            let f = filter(value);
            assert!(
                f.would_enable("edgelab_edge::proxy", &Level::WARN),
                "{value:?}"
            );
            assert!(f.would_enable("hyper", &Level::WARN), "{value:?}");
            assert!(
                !f.would_enable("edgelab_edge::proxy", &Level::INFO),
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_bare_level_applies_to_every_target() {
        let f = filter(Some("info"));
        assert!(f.would_enable("edgelab_cluster", &Level::INFO));
        assert!(f.would_enable("h2::codec", &Level::INFO));
        assert!(!f.would_enable("edgelab_cluster", &Level::DEBUG));
    }

    #[test]
    fn a_target_directive_covers_its_modules_and_only_them() {
        let f = filter(Some("edgelab_edge=debug"));
        assert!(f.would_enable("edgelab_edge", &Level::DEBUG));
        assert!(f.would_enable("edgelab_edge::proxy::respond", &Level::DEBUG));
        assert!(!f.would_enable("edgelab_edge", &Level::TRACE));
        assert!(!f.would_enable("edgelab_origin", &Level::ERROR));
    }

    #[test]
    fn levels_and_targets_combine_and_trailing_commas_are_ignored() {
        let f = filter(Some("warn,edgelab_edge=debug,edgelab_link=off,"));
        assert!(f.would_enable("edgelab_edge::proxy", &Level::DEBUG));
        assert!(f.would_enable("edgelab_origin", &Level::WARN));
        assert!(!f.would_enable("edgelab_origin", &Level::INFO));
        assert!(!f.would_enable("edgelab_link", &Level::ERROR));
    }
}
