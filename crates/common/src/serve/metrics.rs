//! What a listener counts when one of its bounds bites: open and accepted connections,
//! waits at the connection cap, timeouts by kind, accept errors; and what its lane answered
//! and handed to hyper. Registered in the caller's
//! registry with a `listener` label (`traffic` or `admin`).

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::names::metric;

/// Which bound closed an idle or slow connection (the `kind` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutKind {
    /// A new connection sent no byte within the first-byte timeout.
    FirstByte,
    /// A request head was not complete within the header-read timeout.
    HeaderRead,
    /// A keep-alive connection sat idle (no request in flight, nothing read or written)
    /// longer than the idle timeout.
    Idle,
}

impl TimeoutKind {
    /// Every kind, for pre-registering label values.
    pub const ALL: [TimeoutKind; 3] = [Self::FirstByte, Self::HeaderRead, Self::Idle];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstByte => "first_byte",
            Self::HeaderRead => "header_read",
            Self::Idle => "idle",
        }
    }
}

/// The listener metric families of one registry; [`ListenerFamilies::listener`] gives the
/// handles of one listener. Register once per registry (a node's traffic and admin listeners
/// share the families and differ by the `listener` label).
#[derive(Clone, Debug)]
pub struct ListenerFamilies {
    open: IntGaugeVec,
    accepted: IntCounterVec,
    limit_waits: IntCounterVec,
    accept_errors: IntCounterVec,
    timeouts: IntCounterVec,
    lane_answers: IntCounterVec,
    lane_handovers: IntCounterVec,
    lane_written: IntCounterVec,
}

impl ListenerFamilies {
    /// Registers the listener metric families in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let by_listener =
            |name: &str, help: &str| IntCounterVec::new(Opts::new(name, help), &["listener"]);
        let families = Self {
            open: IntGaugeVec::new(
                Opts::new(
                    metric::LISTENER_CONNECTIONS_OPEN,
                    "Connections open on a listener.",
                ),
                &["listener"],
            )?,
            accepted: by_listener(
                metric::LISTENER_CONNECTIONS_TOTAL,
                "Connections accepted by a listener.",
            )?,
            limit_waits: by_listener(
                metric::LISTENER_CONNECTION_LIMIT_WAITS_TOTAL,
                "Times a listener stopped accepting because it held its maximum of connections.",
            )?,
            accept_errors: by_listener(
                metric::LISTENER_ACCEPT_ERRORS_TOTAL,
                "Failed accepts (e.g. out of file descriptors), each followed by a back-off.",
            )?,
            timeouts: IntCounterVec::new(
                Opts::new(
                    metric::LISTENER_TIMEOUTS_TOTAL,
                    "Connections closed by a listener timeout, by kind.",
                ),
                &["listener", "kind"],
            )?,
            lane_answers: by_listener(
                metric::LISTENER_LANE_ANSWERS_TOTAL,
                "Requests the lane answered without hyper.",
            )?,
            lane_handovers: by_listener(
                metric::LISTENER_LANE_HANDOVERS_TOTAL,
                "Connections the lane handed to hyper for the rest of their life.",
            )?,
            lane_written: by_listener(
                metric::LISTENER_LANE_WRITTEN_TOTAL,
                "Lane answers whose head the handler wrote as HTTP/1.1 text itself.",
            )?,
        };
        registry.register(Box::new(families.open.clone()))?;
        registry.register(Box::new(families.accepted.clone()))?;
        registry.register(Box::new(families.limit_waits.clone()))?;
        registry.register(Box::new(families.accept_errors.clone()))?;
        registry.register(Box::new(families.timeouts.clone()))?;
        registry.register(Box::new(families.lane_answers.clone()))?;
        registry.register(Box::new(families.lane_handovers.clone()))?;
        registry.register(Box::new(families.lane_written.clone()))?;
        Ok(families)
    }

    /// The handles of one listener (`traffic`, `admin`), every label value pre-created so
    /// the series exist at zero before the first event.
    pub fn listener(&self, listener: &str) -> ListenerMetrics {
        ListenerMetrics {
            open: self.open.with_label_values(&[listener]),
            accepted: self.accepted.with_label_values(&[listener]),
            limit_waits: self.limit_waits.with_label_values(&[listener]),
            accept_errors: self.accept_errors.with_label_values(&[listener]),
            timeouts: TimeoutKind::ALL
                .map(|kind| self.timeouts.with_label_values(&[listener, kind.as_str()])),
            lane_answers: self.lane_answers.with_label_values(&[listener]),
            lane_handovers: self.lane_handovers.with_label_values(&[listener]),
            lane_written: self.lane_written.with_label_values(&[listener]),
        }
    }
}

/// Counters of one listener. Cheap to clone (handles into the registry's metrics).
#[derive(Clone, Debug)]
pub struct ListenerMetrics {
    pub(super) open: IntGauge,
    pub(super) accepted: IntCounter,
    pub(super) limit_waits: IntCounter,
    pub(super) accept_errors: IntCounter,
    timeouts: [IntCounter; 3],
    pub(super) lane_answers: IntCounter,
    pub(super) lane_handovers: IntCounter,
    pub(super) lane_written: IntCounter,
}

impl ListenerMetrics {
    /// Handles registered nowhere: for listeners whose owner keeps no registry (tests,
    /// benchmarks). Counting still works; nobody exports it.
    pub fn unregistered() -> Self {
        // Invariant: these names and label sets are valid constants.
        let families = ListenerFamilies::register(&Registry::new())
            .expect("listener metric families register in a fresh registry");
        families.listener("unregistered")
    }

    /// Counts one connection closed by `kind`.
    pub(super) fn timed_out(&self, kind: TimeoutKind) {
        self.timeouts[kind as usize].inc();
    }
}
