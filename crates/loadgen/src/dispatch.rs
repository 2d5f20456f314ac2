//! The open-loop dispatcher: takes every request of the plan's schedule (time, target,
//! object, drawn from the run's seed by [`Plan::requests`]; only its shard's when sharded) and
//! releases it at its intended send time into its target's [`Lane`], which hands it to an
//! idle connection of that place (or queues it when all are busy).
//!
//! It runs on a thread of its own, off the async runtime, because tokio's timer ticks every
//! millisecond and fires on the tick after a deadline: requests released by it leave up to
//! ~1 ms late, in 1 ms batches, and that lateness is part of every latency (p50 ≈ 1.0 ms on
//! loopback where a precise tool measures 0.3 ms). The thread sleeps with the kernel's
//! high-resolution timer instead ([`Pacer`]): `nanosleep` to the intended time, with this
//! thread's timer slack lowered from Linux's default 50 µs to 1 µs, so it wakes within a few
//! microseconds of it. It never spins, so it costs nothing between requests at low rates and
//! leaves the core to the workers at high ones (a yield loop inside the runtime was tried
//! first and starved the workers on one core; see `docs/loadgen.md`).
//!
//! The thread uses the real clock: a run under `tokio::time::pause` would not see its jumps.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::lane::{Lane, Offered};
use crate::plan::Plan;

/// One queued request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Job {
    /// When it is meant to leave.
    pub(crate) intended: Instant,
    /// Index of the object in the plan's workload.
    pub(crate) object: u32,
    /// The query string sent after the object's path (a replayed request's, as logged).
    pub(crate) query: Option<Box<str>>,
}

/// Releases every open-loop request of `plan` at its intended time (from `start`) into its
/// target's lane, on a blocking thread, then closes the lanes; returns how many were
/// scheduled. Stops early when `stop` is cancelled.
pub(crate) async fn dispatch(
    plan: &Plan,
    lanes: Vec<Arc<Lane>>,
    start: Instant,
    stop: &CancellationToken,
) -> u64 {
    let plan = plan.clone();
    let stop = stop.clone();
    let start = start.into_std();
    tokio::task::spawn_blocking(move || {
        let scheduled = release(&plan, &lanes, start, &stop);
        for lane in &lanes {
            lane.close();
        }
        scheduled
    })
    .await
    // invariant: `release` does not panic (sampling and handing over are infallible).
    .expect("the dispatcher thread does not panic")
}

/// The dispatcher loop (blocking): the plan's requests (its shard's, when sharded) at their
/// intended times.
fn release(
    plan: &Plan,
    lanes: &[Arc<Lane>],
    start: std::time::Instant,
    stop: &CancellationToken,
) -> u64 {
    let pacer = Pacer::new();
    let mut scheduled = 0;
    for request in plan.requests() {
        let intended = start + request.offset;
        if !pacer.wait_until(intended, stop) {
            break;
        }
        let job = Job {
            intended: Instant::from_std(intended),
            object: request.object as u32,
            query: request.query,
        };
        if lanes[request.place].offer(job, stop) == Offered::Stopped {
            break;
        }
        scheduled += 1;
    }
    scheduled
}

/// Sleeps a thread until an instant with the kernel's high-resolution timer.
///
/// Lowers the calling thread's timer slack (how much later than asked Linux may wake it, to
/// batch wake-ups; 50 µs by default) to 1 µs while it lives, and restores it on drop.
struct Pacer {
    #[cfg(target_os = "linux")]
    previous_slack: Option<u64>,
}

/// Longest single sleep, so a cancelled run is noticed promptly.
const MAX_NAP: Duration = Duration::from_millis(20);

impl Pacer {
    fn new() -> Pacer {
        #[cfg(target_os = "linux")]
        {
            let previous_slack = rustix::thread::current_timer_slack().ok();
            if rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1_000)).is_err() {
                tracing::debug!("could not lower the dispatcher's timer slack");
            }
            Pacer { previous_slack }
        }
        #[cfg(not(target_os = "linux"))]
        Pacer {}
    }

    /// Sleeps until `deadline`; `false` if `stop` was cancelled first.
    fn wait_until(&self, deadline: std::time::Instant, stop: &CancellationToken) -> bool {
        loop {
            if stop.is_cancelled() {
                return false;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return true;
            }
            std::thread::sleep((deadline - now).min(MAX_NAP));
        }
    }
}

#[cfg(target_os = "linux")]
impl Drop for Pacer {
    fn drop(&mut self) {
        // The thread returns to tokio's blocking pool: give it back its slack.
        if let Some(slack) = self.previous_slack {
            let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(slack));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_never_wakes_early_and_stops_when_cancelled() {
        let pacer = Pacer::new();
        let stop = CancellationToken::new();
        let deadline = std::time::Instant::now() + Duration::from_millis(2);
        assert!(pacer.wait_until(deadline, &stop));
        assert!(std::time::Instant::now() >= deadline);
        stop.cancel();
        let far = std::time::Instant::now() + Duration::from_secs(3600);
        assert!(
            !pacer.wait_until(far, &stop),
            "a cancelled run does not wait"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_pacer_lowers_the_timer_slack_and_restores_it() {
        let before = rustix::thread::current_timer_slack().unwrap();
        {
            let _pacer = Pacer::new();
            assert_eq!(rustix::thread::current_timer_slack().unwrap(), 1_000);
        }
        assert_eq!(rustix::thread::current_timer_slack().unwrap(), before);
    }
}
