//! [`Lane`]: one client place's open-loop handoff between the dispatcher and the place's
//! connections (workers).
//!
//! A worker with nothing to do puts a fresh one-shot slot at the back of the lane's idle list
//! and waits on it; the dispatcher hands each request to the worker at the back (the one that
//! came free last, whose connection is warm), which wakes exactly that worker, once. So a
//! place opens connections as its requests in flight need them, up to its `connections`:
//! handing requests round every connection in turn (as one queue shared by the workers did)
//! opened all of them in the first seconds of a run, thousands of connects at once, and the
//! listeners' accept queues overflowed (SYNs dropped and sent again a second later). Only when every connection of the place is busy does a
//! request go into the lane's backlog, and the next worker to come free takes it from there
//! without waiting: that request waited for a connection, and says so ([`Taken::queued`]).
//!
//! The lane's state sits under one short `std` lock (a push or a pop; nothing is awaited
//! under it), taken by the dispatcher thread and by workers on the runtime. It replaces one
//! queue shared through an async mutex, where every request passed the lock from one waiting
//! worker to the next: each hand-over needed the next worker to be scheduled first, so on a
//! busy runtime requests sat in the queue while connections were idle.
//!
//! The backlog is bounded; when it is full the dispatcher waits for room ([`Lane::offer`]),
//! which does not change any request's intended time, so latency stays honest.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::dispatch::Job;

/// Longest the dispatcher waits for room at once, so a cancelled run is noticed promptly.
const ROOM_NAP: Duration = Duration::from_millis(20);

/// One place's idle workers and the requests waiting for one (see the module docs).
#[derive(Debug)]
pub(crate) struct Lane {
    state: Mutex<State>,
    /// Signalled when a worker takes a request out of a full backlog.
    room: Condvar,
    capacity: usize,
}

#[derive(Debug, Default)]
struct State {
    /// Slots of idle workers, in the order they came free (the last one is used first).
    idle: VecDeque<oneshot::Sender<Job>>,
    /// Requests that found every worker busy, oldest first.
    backlog: VecDeque<Job>,
    /// No more requests will come.
    closed: bool,
}

/// Where [`Lane::offer`] put a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Offered {
    /// Handed to an idle worker.
    Handed,
    /// Every worker was busy: queued in the backlog.
    Queued,
    /// The run stopped (or the lane closed) first; the request was not sent.
    Stopped,
}

/// A request a worker took from its lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Taken {
    /// The request.
    pub(crate) job: Job,
    /// It came from the backlog: when it was released, every connection was busy.
    pub(crate) queued: bool,
}

impl Lane {
    /// An empty lane whose backlog holds at most `capacity` requests (at least 1).
    pub(crate) fn new(capacity: usize) -> Lane {
        Lane {
            state: Mutex::new(State::default()),
            room: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // invariant: nothing under the lock panics (pushes and pops), so it is never poisoned.
        self.state.lock().expect("the lane lock is not poisoned")
    }

    /// Hands `job` to the worker that came free last, or queues it when every worker is busy. With
    /// a full backlog it blocks the calling thread until there is room (or `stop`). Called
    /// by the dispatcher thread, never on the runtime.
    pub(crate) fn offer(&self, job: Job, stop: &CancellationToken) -> Offered {
        let mut job = job;
        let mut state = self.lock();
        loop {
            if state.closed || stop.is_cancelled() {
                return Offered::Stopped;
            }
            while let Some(slot) = state.idle.pop_back() {
                // A worker that stopped waiting (the run is ending) dropped its receiver:
                // the request comes back and goes to the next one.
                match slot.send(job) {
                    Ok(()) => return Offered::Handed,
                    Err(back) => job = back,
                }
            }
            if state.backlog.len() < self.capacity {
                state.backlog.push_back(job);
                return Offered::Queued;
            }
            state = match self.room.wait_timeout(state, ROOM_NAP) {
                Ok((state, _)) => state,
                // invariant: see `lock`.
                Err(_) => unreachable!("the lane lock is not poisoned"),
            };
        }
    }

    /// Ends the lane: idle workers wake with nothing, busy ones drain the backlog and stop.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.idle.clear();
        drop(state);
        self.room.notify_all();
    }

    /// The next request for a worker: the oldest queued one, else the next one released to
    /// this worker once idle. `None` when the lane closed and its backlog is empty.
    pub(crate) async fn take(&self) -> Option<Taken> {
        let slot = {
            let mut state = self.lock();
            if let Some(job) = state.backlog.pop_front() {
                let was_full = state.backlog.len() + 1 >= self.capacity;
                drop(state);
                if was_full {
                    self.room.notify_one();
                }
                return Some(Taken { job, queued: true });
            }
            if state.closed {
                return None;
            }
            let (sender, receiver) = oneshot::channel();
            state.idle.push_back(sender);
            receiver
        };
        // A closed lane drops the idle slots: the receiver then reports an error.
        slot.await.ok().map(|job| Taken { job, queued: false })
    }

    /// Workers waiting for a request now.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.lock().idle.len()
    }

    /// Requests waiting for a worker now.
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.lock().backlog.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::time::Instant;

    use super::*;

    fn job(object: u32) -> Job {
        Job {
            intended: Instant::now(),
            object,
            query: None,
        }
    }

    /// Lets every ready task run until none is (the runtime is paused and single-threaded).
    async fn settle() {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_goes_to_the_worker_that_came_free_last_and_wakes_only_it() {
        let lane = Arc::new(Lane::new(8));
        let stop = CancellationToken::new();
        let mut workers = Vec::new();
        for _ in 0..3 {
            let lane = lane.clone();
            workers.push(tokio::spawn(async move { lane.take().await }));
            settle().await;
        }
        assert_eq!(lane.idle(), 3);
        assert_eq!(lane.offer(job(7), &stop), Offered::Handed);
        settle().await;
        assert!(
            workers[2].is_finished(),
            "the last worker to come free got it"
        );
        assert!(!workers[0].is_finished() && !workers[1].is_finished());
        assert_eq!(lane.idle(), 2);
        let taken = workers.pop().unwrap().await.unwrap().unwrap();
        assert_eq!(taken.job.object, 7);
        assert!(!taken.queued, "an idle worker was there: no wait");
        lane.close();
        for worker in workers {
            assert_eq!(worker.await.unwrap(), None, "closing wakes idle workers");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn with_every_worker_busy_requests_queue_in_order_and_say_they_waited() {
        let lane = Lane::new(8);
        let stop = CancellationToken::new();
        assert_eq!(lane.offer(job(1), &stop), Offered::Queued);
        assert_eq!(lane.offer(job(2), &stop), Offered::Queued);
        assert_eq!(lane.queued(), 2);
        let first = lane.take().await.unwrap();
        assert_eq!((first.job.object, first.queued), (1, true));
        lane.close();
        let second = lane.take().await.unwrap();
        assert_eq!(
            (second.job.object, second.queued),
            (2, true),
            "a closed lane still drains its backlog"
        );
        assert_eq!(lane.take().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_that_stopped_waiting_does_not_lose_the_request() {
        let lane = Arc::new(Lane::new(8));
        let stop = CancellationToken::new();
        let waiting = {
            let lane = lane.clone();
            tokio::spawn(async move { lane.take().await })
        };
        settle().await;
        // The last to come free, so the first to be offered a request: it is gone by then.
        let gone = {
            let lane = lane.clone();
            tokio::spawn(async move { lane.take().await })
        };
        settle().await;
        gone.abort();
        settle().await;
        assert_eq!(lane.offer(job(5), &stop), Offered::Handed);
        let taken = waiting.await.unwrap().unwrap();
        assert_eq!(taken.job.object, 5, "the next idle worker got it");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_backlog_holds_the_dispatcher_until_a_worker_makes_room_or_the_run_stops() {
        let lane = Arc::new(Lane::new(1));
        let stop = CancellationToken::new();
        assert_eq!(lane.offer(job(1), &stop), Offered::Queued);
        let dispatcher = {
            let (lane, stop) = (lane.clone(), stop.clone());
            std::thread::spawn(move || lane.offer(job(2), &stop))
        };
        // The dispatcher thread cannot queue until the backlog has room; this take makes it.
        let first = lane.take().await.unwrap();
        assert_eq!(first.job.object, 1);
        assert_eq!(dispatcher.join().unwrap(), Offered::Queued);
        assert_eq!(lane.take().await.unwrap().job.object, 2);

        assert_eq!(lane.offer(job(3), &stop), Offered::Queued);
        let blocked = {
            let (lane, stop) = (lane.clone(), stop.clone());
            std::thread::spawn(move || lane.offer(job(4), &stop))
        };
        stop.cancel();
        assert_eq!(
            blocked.join().unwrap(),
            Offered::Stopped,
            "a stopped run frees the dispatcher"
        );
    }
}
