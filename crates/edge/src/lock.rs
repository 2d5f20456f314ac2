//! Request collapsing: one upstream fetch per key, shared while it is in flight. The first
//! miss for a key becomes the leader and holds a [`LeaderGuard`]; its fill publishes the
//! response head and then the body, chunk by chunk, into the key's [`Flight`]. Later misses
//! join the flight: they wait (at most the collapse timeout) for the head only, then replay
//! the chunks already received and follow the rest live, so a slow body is fetched once
//! and every viewer finishes when the leader does. Chunks are `Bytes` shared by all readers,
//! never copied per waiter.
//!
//! A leader whose response is not to be shared (not storable) releases the flight: its
//! waiters go upstream on their own, all at once (no serial queue). A fill that fails after
//! the head ends every reader's body with an error, so nobody sees a complete-looking short
//! body.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use edgelab_common::body::{Body, BoxError};
use http::HeaderName;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use tokio::sync::watch;

use crate::store::CachedObject;
use crate::upstream::UpstreamBody;

/// The in-flight fetches of one node.
#[derive(Clone, Default)]
pub struct Locks {
    inner: Arc<Mutex<HashMap<String, Flight>>>,
}

/// One fetch in flight: the leader's fill writes it, the leader's viewer and every waiter
/// read it.
#[derive(Clone)]
pub struct Flight(Arc<watch::Sender<FlightState>>);

/// What a flight has received so far.
#[derive(Default)]
pub struct FlightState {
    /// The response head, once the leader has one it shares.
    head: Option<Arc<SharedHead>>,
    /// The leader's answer is not shared (not storable, or no answer at all).
    released: bool,
    /// Body chunks in order (cleared once a complete body is stored as the same bytes).
    chunks: Vec<Bytes>,
    /// How the body ended, once it did.
    end: Option<BodyEnd>,
}

/// The head of a response being filled, as waiters need it.
pub struct SharedHead {
    /// The object being stored, with its headers and lifetime but an empty body.
    pub object: CachedObject,
    /// The variant key the fill stores under.
    pub variant: String,
    /// The names the response varies on.
    pub vary: Vec<HeaderName>,
    /// The streamed bytes are a whole representation a waiter may be given as they arrive:
    /// the length is known and the stored body is not going to be re-encoded.
    pub streamable: bool,
}

/// How a flight's body ended.
#[derive(Clone)]
pub enum BodyEnd {
    /// Whole and stored; `same_bytes` when the stored body is exactly the streamed bytes.
    Complete {
        /// The stored object.
        object: Arc<CachedObject>,
        /// The stored body is the stream (not re-encoded).
        same_bytes: bool,
    },
    /// Cut short upstream (or the fill stopped): every reader's body fails.
    Failed(Arc<str>),
    /// Longer than the largest stored object: nothing is stored, waiters go on their own,
    /// and only the leader's viewer gets the rest, straight from the upstream.
    Overflow,
}

/// Held by the request that fetches a key (and then by its fill); releases the key when
/// dropped.
pub struct LeaderGuard {
    locks: Option<Locks>,
    key: String,
    flight: Flight,
    /// The rest of an overflowing body, for the leader's viewer only.
    handoff: Arc<Mutex<Option<UpstreamBody>>>,
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        // A guard dropped before its flight ended leaves nobody waiting forever: no head
        // means released, a head without an end means the fill stopped.
        self.flight.0.send_if_modified(|state| {
            if state.head.is_none() && !state.released {
                state.released = true;
                true
            } else if state.head.is_some() && state.end.is_none() {
                state.end = Some(BodyEnd::Failed(Arc::from("the fill stopped")));
                true
            } else {
                false
            }
        });
        if let Some(locks) = &self.locks {
            // A poisoned map only means another thread panicked mid-insert; it is valid.
            let mut map = locks.inner.lock().unwrap_or_else(|p| p.into_inner());
            if map
                .get(&self.key)
                .is_some_and(|f| Arc::ptr_eq(&f.0, &self.flight.0))
            {
                map.remove(&self.key);
            }
        }
    }
}

/// The leader's viewer's hold on its flight: it alone may take over an overflowing body.
pub struct LeaderReader {
    receiver: watch::Receiver<FlightState>,
    handoff: Arc<Mutex<Option<UpstreamBody>>>,
}

impl From<LeaderReader> for watch::Receiver<FlightState> {
    fn from(reader: LeaderReader) -> Self {
        reader.receiver
    }
}

/// Outcome of [`Locks::acquire`].
pub enum Acquire {
    /// This request fetches.
    Leader(LeaderGuard),
    /// Another request is fetching; [`join`] it.
    Waiter(watch::Receiver<FlightState>),
}

impl Locks {
    /// Becomes the leader for `key`, or gets a handle on the current leader's flight.
    pub fn acquire(&self, key: &str) -> Acquire {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(flight) = map.get(key) {
            return Acquire::Waiter(flight.0.subscribe());
        }
        let guard = LeaderGuard::new(Some(self.clone()), key);
        map.insert(key.to_string(), guard.flight.clone());
        Acquire::Leader(guard)
    }

    /// Becomes the leader for `key` only if nobody is (for background refreshes).
    pub fn try_lead(&self, key: &str) -> Option<LeaderGuard> {
        match self.acquire(key) {
            Acquire::Leader(guard) => Some(guard),
            Acquire::Waiter(_) => None,
        }
    }
}

impl LeaderGuard {
    fn new(locks: Option<Locks>, key: &str) -> Self {
        let (sender, _) = watch::channel(FlightState::default());
        LeaderGuard {
            locks,
            key: key.to_string(),
            flight: Flight(Arc::new(sender)),
            handoff: Arc::default(),
        }
    }

    /// A flight nobody else can join (a fill with collapsing off).
    pub fn detached() -> Self {
        Self::new(None, "")
    }

    /// Shares `head`; returns the leader's reader of the flight.
    pub fn publish(&self, head: SharedHead) -> LeaderReader {
        let receiver = self.flight.0.subscribe();
        self.flight
            .0
            .send_modify(|state| state.head = Some(Arc::new(head)));
        LeaderReader {
            receiver,
            handoff: self.handoff.clone(),
        }
    }

    /// Appends a body chunk.
    pub fn push(&self, chunk: Bytes) {
        self.flight.0.send_modify(|state| state.chunks.push(chunk));
    }

    /// The chunks received so far (shared, not copied).
    pub fn chunks(&self) -> Vec<Bytes> {
        self.flight.0.borrow().chunks.clone()
    }

    /// Ends the body; an overflow hands the rest of `upstream` to the leader's viewer.
    pub fn end(&self, end: BodyEnd, upstream: Option<UpstreamBody>) {
        if let Some(upstream) = upstream {
            *self.handoff.lock().unwrap_or_else(|p| p.into_inner()) = Some(upstream);
        }
        self.flight.0.send_modify(|state| {
            if let BodyEnd::Complete {
                same_bytes: true, ..
            } = end
            {
                // Readers go on from the stored body at their byte offset.
                state.chunks = Vec::new();
            }
            state.end = Some(end);
        });
    }

    /// Resolves once no viewer reads the flight any more (nobody left to fill it for).
    pub async fn abandoned(&self) {
        self.flight.0.closed().await;
    }
}

/// Waits for the leader's head, at most `timeout`. `None` when the leader released its
/// waiters, the wait timed out, or the fill already failed: the waiter goes on its own.
pub async fn join(
    mut receiver: watch::Receiver<FlightState>,
    timeout: Duration,
) -> Option<(Arc<SharedHead>, watch::Receiver<FlightState>)> {
    let ready = |s: &FlightState| s.head.is_some() || s.released;
    let head = tokio::time::timeout(timeout, receiver.wait_for(ready))
        .await
        .ok()?
        .ok()?
        .head
        .clone()?;
    let usable = !matches!(
        receiver.borrow().end,
        Some(BodyEnd::Failed(_) | BodyEnd::Overflow)
    );
    usable.then_some((head, receiver))
}

/// Waits for the end of the flight's body.
pub async fn completed(receiver: impl Into<watch::Receiver<FlightState>>) -> BodyEnd {
    let mut receiver = receiver.into();
    match receiver.wait_for(|s| s.end.is_some()).await {
        Ok(state) => state.end.clone().unwrap_or(BodyEnd::Overflow),
        Err(_) => BodyEnd::Failed(Arc::from("the fill stopped")),
    }
}

/// The leader's viewer's body: the flight from its start, then the rest of an overflowing
/// upstream body after the part the flight kept.
pub fn leader_body(reader: LeaderReader) -> Body {
    read_body(reader.receiver, Some(reader.handoff))
}

/// The body of a flight from its first byte: the chunks already there, then the rest as it
/// arrives. A failed fill ends it with an error (hyper then aborts the response).
pub fn follow(receiver: watch::Receiver<FlightState>) -> Body {
    read_body(receiver, None)
}

fn read_body(
    receiver: watch::Receiver<FlightState>,
    handoff: Option<Arc<Mutex<Option<UpstreamBody>>>>,
) -> Body {
    let reader = Reader {
        receiver,
        index: 0,
        offset: 0,
        handoff,
        upstream: None,
        done: false,
    };
    let frames = futures_util::stream::unfold(reader, |mut reader| async move {
        let next = reader.next().await?;
        Some((next.map(Frame::data), reader))
    });
    StreamBody::new(frames).boxed()
}

/// One viewer's position in a flight.
struct Reader {
    receiver: watch::Receiver<FlightState>,
    /// Next chunk to send.
    index: usize,
    /// Bytes sent.
    offset: usize,
    /// Only the leader's viewer can take over an overflowing upstream body.
    handoff: Option<Arc<Mutex<Option<UpstreamBody>>>>,
    upstream: Option<UpstreamBody>,
    done: bool,
}

/// What a reader does next.
enum Step {
    Data(Bytes),
    Wait,
    End,
    Fail(Arc<str>),
    Overflow,
}

impl Reader {
    async fn next(&mut self) -> Option<Result<Bytes, BoxError>> {
        if self.done {
            return None;
        }
        let next = self.step().await;
        self.done = !matches!(next, Some(Ok(_)));
        next
    }

    async fn step(&mut self) -> Option<Result<Bytes, BoxError>> {
        loop {
            if let Some(upstream) = &mut self.upstream {
                return match upstream.frame().await? {
                    Ok(frame) => match frame.into_data() {
                        Ok(data) => Some(Ok(data)),
                        Err(_) => continue, // trailers are not passed on
                    },
                    Err(error) => Some(Err(Box::new(error))),
                };
            }
            let step = self.look();
            match step {
                Step::Data(data) => {
                    self.offset += data.len();
                    return Some(Ok(data));
                }
                Step::End => return None,
                Step::Fail(why) => return Some(Err(why.to_string().into())),
                Step::Overflow => {
                    let taken = self
                        .handoff
                        .take()
                        .and_then(|slot| slot.lock().unwrap_or_else(|p| p.into_inner()).take());
                    match taken {
                        Some(upstream) => self.upstream = Some(upstream),
                        None => return Some(Err("response too large to share".into())),
                    }
                }
                Step::Wait => {
                    if self.receiver.changed().await.is_err() && matches!(self.look(), Step::Wait) {
                        return Some(Err("the fill stopped".into()));
                    }
                }
            }
        }
    }

    /// The next step from the flight's current state.
    fn look(&mut self) -> Step {
        let state = self.receiver.borrow_and_update();
        if let Some(chunk) = state.chunks.get(self.index) {
            self.index += 1;
            return Step::Data(chunk.clone());
        }
        match &state.end {
            None => Step::Wait,
            Some(BodyEnd::Complete {
                object,
                same_bytes: true,
            }) if self.offset < object.body.len() => {
                self.index = usize::MAX;
                match object.body.slice(self.offset..object.body.len()) {
                    Ok(rest) => Step::Data(rest),
                    Err(error) => Step::Fail(Arc::from(format!("stored body unreadable: {error}"))),
                }
            }
            Some(BodyEnd::Complete { .. }) => Step::End,
            Some(BodyEnd::Failed(why)) => Step::Fail(why.clone()),
            Some(BodyEnd::Overflow) => Step::Overflow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waiters_are_released_when_the_leader_finishes_without_sharing() {
        let locks = Locks::default();
        let Acquire::Leader(guard) = locks.acquire("k") else {
            panic!("first is leader")
        };
        let Acquire::Waiter(receiver) = locks.acquire("k") else {
            panic!("second waits")
        };
        let waiter = tokio::spawn(join(receiver, Duration::from_secs(5)));
        drop(guard);
        assert!(waiter.await.unwrap().is_none());
        assert!(matches!(locks.acquire("k"), Acquire::Leader(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_for_the_head_times_out() {
        let locks = Locks::default();
        let _guard = locks.try_lead("k").unwrap();
        let Acquire::Waiter(receiver) = locks.acquire("k") else {
            panic!("second waits")
        };
        assert!(join(receiver, Duration::from_secs(1)).await.is_none());
        assert!(locks.try_lead("k").is_none());
    }

    fn object(body: &'static [u8]) -> CachedObject {
        CachedObject {
            primary: Arc::from("h/k"),
            path_len: 2,
            status: http::StatusCode::OK,
            headers: crate::store::StoredHeaders::default(),
            body: Bytes::from_static(body).into(),
            lifespan: crate::store::Lifespan::new(
                std::time::SystemTime::UNIX_EPOCH,
                Duration::ZERO,
                &crate::policy::Lifetime {
                    lifetime: Duration::from_secs(60),
                    swr: Duration::ZERO,
                    sie: Duration::ZERO,
                    must_revalidate: false,
                },
            ),
            upstream_hit_layer: None,
            shared_headers: crate::store::SharedHeaders::Neither,
        }
    }

    fn head() -> SharedHead {
        SharedHead {
            object: object(b""),
            variant: "h/k".to_string(),
            vary: Vec::new(),
            streamable: true,
        }
    }

    async fn next(body: &mut Body) -> Option<Result<Bytes, String>> {
        let frame = body.frame().await?;
        Some(
            frame
                .map(|f| f.into_data().unwrap())
                .map_err(|e| e.to_string()),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn an_early_and_a_late_waiter_follow_the_same_body_without_a_timeout_on_it() {
        let locks = Locks::default();
        let Acquire::Leader(guard) = locks.acquire("k") else {
            panic!("first is leader")
        };
        let Acquire::Waiter(early) = locks.acquire("k") else {
            panic!("second waits")
        };
        let early = tokio::spawn(join(early, Duration::from_secs(1)));
        tokio::task::yield_now().await;
        let mut leader = leader_body(guard.publish(head()));
        let (_, early) = early.await.unwrap().expect("the head came in time");
        let mut early = follow(early);
        guard.push(Bytes::from_static(b"ab"));
        assert_eq!(next(&mut leader).await.unwrap().unwrap(), "ab");
        assert_eq!(next(&mut early).await.unwrap().unwrap(), "ab");
        // Long after the collapse timeout, a late waiter joins and replays from the start.
        tokio::time::advance(Duration::from_secs(30)).await;
        let Acquire::Waiter(late) = locks.acquire("k") else {
            panic!("the fill is still in flight")
        };
        let (_, late) = join(late, Duration::from_secs(1)).await.unwrap();
        let mut late = follow(late);
        assert_eq!(next(&mut late).await.unwrap().unwrap(), "ab");
        guard.push(Bytes::from_static(b"cd"));
        let whole = Arc::new(object(b"abcd"));
        guard.end(
            BodyEnd::Complete {
                object: whole,
                same_bytes: true,
            },
            None,
        );
        drop(guard);
        for body in [&mut leader, &mut early, &mut late] {
            // The kept chunks were dropped; the rest comes from the stored body.
            assert_eq!(next(body).await.unwrap().unwrap(), "cd");
            assert!(next(body).await.is_none());
        }
        assert!(matches!(locks.acquire("k"), Acquire::Leader(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_fill_that_fails_or_stops_after_the_head_fails_every_reader() {
        let locks = Locks::default();
        let guard = locks.try_lead("k").unwrap();
        let mut leader = leader_body(guard.publish(head()));
        let Acquire::Waiter(waiter) = locks.acquire("k") else {
            panic!("second waits")
        };
        let mut waiter = follow(join(waiter, Duration::from_secs(1)).await.unwrap().1);
        guard.push(Bytes::from_static(b"half"));
        guard.end(BodyEnd::Failed(Arc::from("reset")), None);
        for body in [&mut leader, &mut waiter] {
            assert_eq!(next(body).await.unwrap().unwrap(), "half");
            assert_eq!(next(body).await.unwrap().unwrap_err(), "reset");
            assert!(next(body).await.is_none());
        }
        // A waiter arriving after the failure is not given the failed body: it goes alone.
        let Acquire::Waiter(after) = locks.acquire("k") else {
            panic!("still the same flight")
        };
        assert!(join(after, Duration::from_secs(1)).await.is_none());
        drop(guard);

        // A guard dropped mid-body (nobody reads it any more) fails what is still read.
        let guard = locks.try_lead("k").unwrap();
        let mut leader = leader_body(guard.publish(head()));
        guard.push(Bytes::from_static(b"x"));
        drop(guard);
        assert_eq!(next(&mut leader).await.unwrap().unwrap(), "x");
        assert!(next(&mut leader).await.unwrap().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn an_overflowing_body_is_not_shared_with_waiters() {
        let locks = Locks::default();
        let guard = locks.try_lead("k").unwrap();
        let reader = guard.publish(head());
        let Acquire::Waiter(waiter) = locks.acquire("k") else {
            panic!("second waits")
        };
        let (_, waiter) = join(waiter, Duration::from_secs(1)).await.unwrap();
        let mut streamed = follow(waiter.clone());
        guard.push(Bytes::from_static(b"big"));
        guard.end(BodyEnd::Overflow, None);
        assert!(matches!(completed(waiter).await, BodyEnd::Overflow));
        assert_eq!(next(&mut streamed).await.unwrap().unwrap(), "big");
        assert!(next(&mut streamed).await.unwrap().is_err());
        // Without an upstream to take over, the leader's body fails too.
        let mut leader = leader_body(reader);
        assert_eq!(next(&mut leader).await.unwrap().unwrap(), "big");
        assert!(next(&mut leader).await.unwrap().is_err());
    }
}
