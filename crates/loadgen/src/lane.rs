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
//! under it), taken by the dispatcher and by the workers, all tasks on the runtime. It replaces one
//! queue shared through an async mutex, where every request passed the lock from one waiting
//! worker to the next: each hand-over needed the next worker to be scheduled first, so on a
//! busy runtime requests sat in the queue while connections were idle.
//!
//! The backlog is bounded; when it is full the dispatcher waits for room ([`Lane::offer`],
//! [`Lane::room`]), which does not change any request's intended time, so latency stays
//! honest.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::{Notify, oneshot};

use crate::dispatch::Job;

/// One place's idle workers and the requests waiting for one (see the module docs).
#[derive(Debug)]
pub(crate) struct Lane {
    state: Mutex<State>,
    /// Notified when a worker takes a request out of a full backlog.
    room: Notify,
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
    /// The lane was closed: the request was not sent.
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
            room: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // invariant: nothing under the lock panics (pushes and pops), so it is never poisoned.
        self.state.lock().expect("the lane lock is not poisoned")
    }

    /// Hands `job` to the worker that came free last, or queues it when every worker is
    /// busy; gives it back (`Err`) when the backlog is full: the caller waits for
    /// [`Lane::room`] and offers it again. Never waits.
    pub(crate) fn offer(&self, job: Job) -> Result<Offered, Job> {
        let mut job = job;
        let mut state = self.lock();
        if state.closed {
            return Ok(Offered::Stopped);
        }
        while let Some(slot) = state.idle.pop_back() {
            // A worker that stopped waiting (the run is ending) dropped its receiver: the
            // request comes back and goes to the next one.
            match slot.send(job) {
                Ok(()) => return Ok(Offered::Handed),
                Err(back) => job = back,
            }
        }
        if state.backlog.len() < self.capacity {
            state.backlog.push_back(job);
            return Ok(Offered::Queued);
        }
        Err(job)
    }

    /// Returns once a worker took a request out of a full backlog since the last return (at
    /// once if one did since): the dispatcher's wait after [`Lane::offer`] gave a request back.
    pub(crate) async fn room(&self) {
        self.room.notified().await;
    }

    /// Ends the lane: idle workers wake with nothing, busy ones drain the backlog and stop.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.idle.clear();
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
        let mut workers = Vec::new();
        for _ in 0..3 {
            let lane = lane.clone();
            workers.push(tokio::spawn(async move { lane.take().await }));
            settle().await;
        }
        assert_eq!(lane.idle(), 3);
        assert_eq!(lane.offer(job(7)), Ok(Offered::Handed));
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
        assert_eq!(lane.offer(job(1)), Ok(Offered::Queued));
        assert_eq!(lane.offer(job(2)), Ok(Offered::Queued));
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
        assert_eq!(lane.offer(job(5)), Ok(Offered::Handed));
        let taken = waiting.await.unwrap().unwrap();
        assert_eq!(taken.job.object, 5, "the next idle worker got it");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_backlog_gives_the_request_back_until_a_worker_makes_room() {
        let lane = Arc::new(Lane::new(1));
        assert_eq!(lane.offer(job(1)), Ok(Offered::Queued));
        let back = lane.offer(job(2)).expect_err("the backlog is full");
        assert_eq!(back.object, 2, "the same request comes back");
        let dispatcher = {
            let lane = lane.clone();
            tokio::spawn(async move {
                lane.room().await;
                lane.offer(back)
            })
        };
        settle().await;
        assert!(
            !dispatcher.is_finished(),
            "no room yet: the dispatcher waits"
        );
        let first = lane.take().await.unwrap();
        assert_eq!(first.job.object, 1);
        assert_eq!(dispatcher.await.unwrap(), Ok(Offered::Queued));
        assert_eq!(lane.take().await.unwrap().job.object, 2);
        lane.close();
        assert_eq!(
            lane.offer(job(3)),
            Ok(Offered::Stopped),
            "a closed lane takes nothing"
        );
    }
}
