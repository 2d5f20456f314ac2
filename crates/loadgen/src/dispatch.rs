//! The open-loop dispatcher: takes every request of the plan's schedule (time, target,
//! object, drawn from the run's seed by [`Plan::requests`]; only its shard's when sharded) and
//! releases it at its intended send time into its target's [`Lane`], which hands it to an
//! idle connection of that place (or queues it when all are busy).
//!
//! It is a task on the runtime, next to the workers it hands requests to, and it waits for
//! each intended time on a [`Pacer`]: on Linux a `timerfd` armed to the next intended time
//! and registered with the runtime's reactor. The kernel's high-resolution timer fires at
//! that time (a timerfd has no timer slack), the runtime thread parked in `epoll_wait` wakes
//! on it, releases every request due by then, and the worker each request goes to runs next
//! on that same thread. tokio's own timer is not used for this: it ticks every millisecond
//! and fires on the tick after a deadline, so requests left up to ~1 ms late in 1 ms
//! batches, and that lateness was part of every latency (p50 ≈ 1.0 ms on loopback where a
//! precise tool measures 0.3 ms).
//!
//! Before it, the dispatcher was a thread of its own sleeping with `nanosleep` to each
//! intended time: every request then cost that thread's wake-up, and the hand-over to a worker
//! task woke a runtime thread from another thread (a futex or eventfd write and a context
//! switch), a tenth of a whole-CDN run's CPU time. On the runtime the hand-over is a push onto
//! the waking thread's own queue. The price: when every runtime thread is busy, the timer's
//! wake-up waits for the next time a thread polls the reactor, as every socket's does; the
//! worker's send had to wait for a runtime thread in the old design as well, and send
//! lateness (intended time → first byte written, `run.rs`) measures either way. The figures
//! before and after are in `docs/loadgen.md`. A yield loop inside the runtime was tried
//! first, long ago, and starved the workers on one core; this never spins.
//!
//! The pacer uses the real clock: a run under `tokio::time::pause` would not see its jumps
//! (on other systems than Linux it falls back to tokio's timer, millisecond-grained).

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

/// Requests released one after the other without waiting (all due at once, after a stall)
/// before the dispatcher lets the runtime run other tasks.
const RELEASE_BURST: u32 = 64;

/// Releases every open-loop request of `plan` at its intended time (from `start`) into its
/// target's lane, on a task of the runtime, then closes the lanes; returns how many were
/// scheduled. Stops early when `stop` is cancelled.
pub(crate) async fn dispatch(
    plan: &Plan,
    lanes: Vec<Arc<Lane>>,
    start: Instant,
    stop: &CancellationToken,
) -> u64 {
    let plan = plan.clone();
    let stop = stop.clone();
    // A task of its own, so that it runs on a worker thread of the runtime (where the
    // workers it wakes are queued on that thread) and not on a thread blocked in the caller's
    // `block_on`.
    tokio::spawn(async move {
        let scheduled = release(&plan, &lanes, start, &stop).await;
        for lane in &lanes {
            lane.close();
        }
        scheduled
    })
    .await
    // invariant: `release` does not panic (sampling and handing over are infallible), and
    // the task is not aborted (the run awaits it).
    .expect("the dispatcher task does not panic")
}

/// The dispatcher loop: the plan's requests (its shard's, when sharded) at their intended
/// times.
async fn release(
    plan: &Plan,
    lanes: &[Arc<Lane>],
    start: Instant,
    stop: &CancellationToken,
) -> u64 {
    let mut pacer = Pacer::new();
    let mut scheduled = 0;
    let mut burst = 0;
    for request in plan.requests() {
        let intended = start + request.offset;
        if Instant::now() < intended {
            burst = 0;
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                () = pacer.sleep_until(intended) => {}
            }
        } else if stop.is_cancelled() {
            break;
        } else {
            burst += 1;
            if burst >= RELEASE_BURST {
                burst = 0;
                tokio::task::yield_now().await;
            }
        }
        let lane = &lanes[request.place];
        let mut job = Job {
            intended,
            object: request.object as u32,
            query: request.query,
        };
        loop {
            match lane.offer(job) {
                Ok(Offered::Stopped) => return scheduled,
                Ok(Offered::Handed | Offered::Queued) => break,
                Err(full) => {
                    // Every connection busy and the backlog full: wait for room. Intended
                    // times do not move, so the wait shows in latency.
                    job = full;
                    tokio::select! {
                        biased;
                        _ = stop.cancelled() => return scheduled,
                        () = lane.room() => {}
                    }
                }
            }
        }
        scheduled += 1;
    }
    scheduled
}

/// Waits for an instant with the kernel's high-resolution timer, on the runtime (see the
/// module docs): a `timerfd` registered with the reactor, re-armed for each wait (one
/// `timerfd_settime` per wait, and no read of the expiration count).
#[derive(Debug)]
pub(crate) struct Pacer {
    #[cfg(target_os = "linux")]
    timer: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl Pacer {
    /// A pacer; on Linux with its own timerfd (tokio's timer if none can be made, with a
    /// warning). Must be called inside the runtime.
    pub(crate) fn new() -> Pacer {
        #[cfg(target_os = "linux")]
        {
            use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
            let timer = timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )
            .map_err(std::io::Error::from)
            .and_then(|fd| {
                // tokio deprecates the safe constructors because an arbitrary `T` may let its
                // fd be closed while still registered; an `OwnedFd` owned by the `AsyncFd` is
                // closed only when the `AsyncFd` drops it, after deregistering it.
                #[allow(deprecated)]
                tokio::io::unix::AsyncFd::with_interest(fd, tokio::io::Interest::READABLE)
            });
            match timer {
                Ok(timer) => Pacer { timer: Some(timer) },
                Err(error) => {
                    tracing::warn!(
                        %error,
                        "no timerfd for the dispatcher: requests are released on tokio's \
                         millisecond timer and leave up to a millisecond late"
                    );
                    Pacer { timer: None }
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        Pacer {}
    }

    /// Waits until `deadline` (returns at once if it has passed); never wakes before it.
    pub(crate) async fn sleep_until(&mut self, deadline: Instant) {
        #[cfg(target_os = "linux")]
        if let Some(timer) = &self.timer {
            loop {
                let now = Instant::now();
                if now >= deadline {
                    return;
                }
                if arm(timer.get_ref(), deadline - now).is_err() {
                    break;
                }
                match timer.readable().await {
                    // Clear the readiness without reading the expiration count: the next
                    // `arm` (`timerfd_settime`) resets that count, and the reactor's
                    // registration is edge-triggered, so the timer is reported anew only
                    // when it expires again. A read here was one more system call per wait.
                    // A stale readiness is harmless: the loop re-checks the clock first.
                    Ok(mut ready) => ready.clear_ready(),
                    Err(_) => break,
                }
            }
        }
        // No timerfd, or it failed: tokio's timer (at the next millisecond tick after the
        // deadline).
        tokio::time::sleep_until(deadline).await;
    }
}

/// Arms `timer` to expire once, `after` from now (at least a nanosecond: zero disarms it).
#[cfg(target_os = "linux")]
fn arm(timer: &std::os::fd::OwnedFd, after: Duration) -> rustix::io::Result<()> {
    use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
    let after = after.max(Duration::from_nanos(1));
    let value = Timespec {
        tv_sec: after.as_secs().try_into().unwrap_or(i64::MAX),
        tv_nsec: after.subsec_nanos().into(),
    };
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    timerfd_settime(
        timer,
        TimerfdTimerFlags::empty(),
        &Itimerspec {
            it_interval: zero,
            it_value: value,
        },
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pacer_never_wakes_early() {
        let mut pacer = Pacer::new();
        #[cfg(target_os = "linux")]
        assert!(pacer.timer.is_some(), "the timerfd was made");
        for micros in [1, 150, 2_000, 150, 0] {
            let deadline = Instant::now() + Duration::from_micros(micros);
            pacer.sleep_until(deadline).await;
            assert!(Instant::now() >= deadline, "woke before {micros} µs");
        }
        // A deadline in the past returns at once.
        pacer
            .sleep_until(Instant::now() - Duration::from_millis(5))
            .await;
    }
}
