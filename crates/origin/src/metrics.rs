//! The origin's Prometheus metrics (SPEC §7), registered into the registry the caller passes
//! in. Label values are resolved once at start, so a request only bumps atomics.

use edgelab_common::names::metric;
use http::StatusCode;
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// Request duration buckets, in seconds: 0.5 ms (a cached synthetic answer on loopback) to
/// 10 s (a long configured service time or a slow body's head).
const DURATION_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// A fault the origin injected (label `fault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answered 503 because of the outage switch.
    Outage,
    /// Answered with the injected error status.
    Error,
    /// Body cut short by a connection reset.
    Reset,
}

impl FaultKind {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Outage => "outage",
            FaultKind::Error => "error",
            FaultKind::Reset => "reset",
        }
    }
}

/// Registered metrics of one origin replica.
#[derive(Debug, Clone)]
pub struct OriginMetrics {
    by_status_class: [IntCounter; 5],
    /// Body bytes sent.
    pub response_bytes: IntCounter,
    /// Time from request head to response head.
    pub duration: Histogram,
    faults: [IntCounter; 3],
}

impl OriginMetrics {
    /// Registers the origin metrics for `origin`/`region`/`az` into `registry`.
    pub fn register(
        registry: &Registry,
        origin: &str,
        region: &str,
        az: &str,
    ) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new(
                metric::ORIGIN_REQUESTS_TOTAL,
                "Requests answered by the origin replica, by status class.",
            ),
            &["origin", "az", "status_class"],
        )?;
        let bytes = IntCounterVec::new(
            Opts::new(
                metric::ORIGIN_RESPONSE_BYTES_TOTAL,
                "Response body bytes sent by the origin replica.",
            ),
            &["origin", "az"],
        )?;
        let duration = prometheus::HistogramVec::new(
            HistogramOpts::new(
                metric::ORIGIN_REQUEST_DURATION_SECONDS,
                "Time from request head to response head at the origin, in seconds.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["origin"],
        )?;
        let faults = IntCounterVec::new(
            Opts::new(
                metric::ORIGIN_FAULTS_TOTAL,
                "Faults injected by the origin replica, by kind.",
            ),
            &["origin", "az", "fault"],
        )?;
        let info = IntGaugeVec::new(
            Opts::new(
                metric::ORIGIN_INFO,
                "Placement of the origin replica (always 1).",
            ),
            &["origin", "region", "az"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(bytes.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(faults.clone()))?;
        registry.register(Box::new(info.clone()))?;
        info.with_label_values(&[origin, region, az]).set(1);
        let class = |c: &str| requests.with_label_values(&[origin, az, c]);
        let fault = |f: FaultKind| faults.with_label_values(&[origin, az, f.as_str()]);
        Ok(Self {
            by_status_class: [
                class("1xx"),
                class("2xx"),
                class("3xx"),
                class("4xx"),
                class("5xx"),
            ],
            response_bytes: bytes.with_label_values(&[origin, az]),
            duration: duration.with_label_values(&[origin]),
            faults: [
                fault(FaultKind::Outage),
                fault(FaultKind::Error),
                fault(FaultKind::Reset),
            ],
        })
    }

    /// Counts one answered request.
    pub fn request(&self, status: StatusCode) {
        let index = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        self.by_status_class[index].inc();
    }

    /// Counts one injected fault.
    pub fn fault(&self, kind: FaultKind) {
        self.faults[kind as usize].inc();
    }
}
