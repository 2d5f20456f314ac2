//! The configurable bounds of a listener: the `[listener]` table of an edge or origin config
//! (raw, then validated with every problem listed), applied to [`super::ServeOptions`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ConfigErrors;

/// The `[listener]` table: every field optional, defaults from [`ListenerLimits::default`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListenerLimits {
    /// Most connections open at once on each listener (default 4096); beyond it the
    /// listener stops accepting until one closes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Time a new connection may stay silent before its first byte (default 10 s).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_byte_timeout: Option<Duration>,
    /// Time allowed to send a whole request head, from its first byte (default 10 s).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub header_read_timeout: Option<Duration>,
    /// Time a keep-alive connection may sit with no request in flight (default 65 s).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub idle_timeout: Option<Duration>,
    /// Whether HTTP/1.1 requests a node answers at once (fresh hits) are served by the lane
    /// instead of hyper (default true; `docs/request-lifecycle.md`, "The lane"). Off: every
    /// connection is hyper's, for comparing or debugging.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lane: Option<bool>,
}

/// Validated listener bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// See [`RawListenerLimits::max_connections`].
    pub max_connections: usize,
    /// See [`RawListenerLimits::first_byte_timeout`].
    pub first_byte_timeout: Duration,
    /// See [`RawListenerLimits::header_read_timeout`].
    pub header_read_timeout: Duration,
    /// See [`RawListenerLimits::idle_timeout`].
    pub idle_timeout: Duration,
    /// See [`RawListenerLimits::lane`].
    pub lane: bool,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            // A whole CDN runs in one process with ~60 listeners; 4,096 per listener is far
            // above what one emulated node needs and keeps a few full listeners below the
            // usual descriptor limits.
            max_connections: 4_096,
            first_byte_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            // Longer than the idle timeout of edgelab's own client pools (60 s), so the client
            // side closes first and never sends into a connection the server is closing.
            idle_timeout: Duration::from_secs(65),
            lane: true,
        }
    }
}

impl TryFrom<&RawListenerLimits> for ListenerLimits {
    type Error = ConfigErrors;

    /// Validates every field; field paths are relative to the table (prefix them with
    /// `listener`).
    fn try_from(raw: &RawListenerLimits) -> Result<Self, ConfigErrors> {
        let defaults = ListenerLimits::default();
        let mut errors = ConfigErrors::new();
        let max_connections = raw.max_connections.unwrap_or(defaults.max_connections);
        if max_connections == 0 {
            errors.push("max_connections", "must be at least 1");
        }
        let mut timeout = |field: &str, value: Option<Duration>, default: Duration| {
            let value = value.unwrap_or(default);
            if value.is_zero() {
                errors.push(field, "must be positive");
            } else if value > Duration::from_secs(3_600) {
                errors.push(field, "must be at most 1h");
            }
            value
        };
        let limits = ListenerLimits {
            max_connections,
            first_byte_timeout: timeout(
                "first_byte_timeout",
                raw.first_byte_timeout,
                defaults.first_byte_timeout,
            ),
            header_read_timeout: timeout(
                "header_read_timeout",
                raw.header_read_timeout,
                defaults.header_read_timeout,
            ),
            idle_timeout: timeout("idle_timeout", raw.idle_timeout, defaults.idle_timeout),
            lane: raw.lane.unwrap_or(defaults.lane),
        };
        errors.into_result(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_toml;

    #[test]
    fn defaults_fill_an_empty_table() {
        let raw: RawListenerLimits = parse_toml("", "listener").unwrap();
        assert_eq!(
            ListenerLimits::try_from(&raw).unwrap(),
            ListenerLimits::default()
        );
    }

    #[test]
    fn every_bad_field_is_listed() {
        let raw: RawListenerLimits = parse_toml(
            "max_connections = 0\nfirst_byte_timeout = \"0s\"\nidle_timeout = \"2h\"\n",
            "listener",
        )
        .unwrap();
        let errors = ListenerLimits::try_from(&raw).unwrap_err();
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["max_connections", "first_byte_timeout", "idle_timeout"]
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(parse_toml::<RawListenerLimits>("max_conns = 3", "listener").is_err());
    }
}
