//! Request collapsing: one upstream fetch per key. The first miss for a key becomes the
//! leader and holds a [`LeaderGuard`]; later misses wait (with a timeout) until the guard is
//! dropped, then look in the store again. If the leader's response was not stored they go
//! upstream on their own, all at once (no serial queue).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// The in-flight fetches of one node.
#[derive(Clone, Default)]
pub struct Locks {
    inner: Arc<Mutex<HashMap<String, watch::Receiver<()>>>>,
}

/// Held by the request that fetches a key; waiters are released when it is dropped.
pub struct LeaderGuard {
    locks: Locks,
    key: String,
    _sender: watch::Sender<()>,
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        // A poisoned map only means another thread panicked mid-insert; the map is still valid.
        let mut map = self.locks.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&self.key);
    }
}

/// Outcome of [`Locks::acquire`].
pub enum Acquire {
    /// This request fetches.
    Leader(LeaderGuard),
    /// Another request is fetching; wait on this.
    Waiter(watch::Receiver<()>),
}

impl Locks {
    /// Becomes the leader for `key`, or gets a handle to wait on the current leader.
    pub fn acquire(&self, key: &str) -> Acquire {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(receiver) = map.get(key) {
            return Acquire::Waiter(receiver.clone());
        }
        let (sender, receiver) = watch::channel(());
        map.insert(key.to_string(), receiver);
        Acquire::Leader(LeaderGuard {
            locks: self.clone(),
            key: key.to_string(),
            _sender: sender,
        })
    }

    /// Becomes the leader for `key` only if nobody is (for background refreshes).
    pub fn try_lead(&self, key: &str) -> Option<LeaderGuard> {
        match self.acquire(key) {
            Acquire::Leader(guard) => Some(guard),
            Acquire::Waiter(_) => None,
        }
    }
}

/// Waits until the leader is done, at most `timeout`. Returns false on timeout.
pub async fn wait(mut receiver: watch::Receiver<()>, timeout: Duration) -> bool {
    // `changed` fails once the sender (inside the guard) is dropped: that is the release.
    tokio::time::timeout(timeout, async { while receiver.changed().await.is_ok() {} })
        .await
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waiters_are_released_when_the_leader_finishes() {
        let locks = Locks::default();
        let Acquire::Leader(guard) = locks.acquire("k") else {
            panic!("first is leader")
        };
        let Acquire::Waiter(receiver) = locks.acquire("k") else {
            panic!("second waits")
        };
        let waiter = tokio::spawn(wait(receiver, Duration::from_secs(5)));
        drop(guard);
        assert!(waiter.await.unwrap());
        assert!(matches!(locks.acquire("k"), Acquire::Leader(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_times_out() {
        let locks = Locks::default();
        let _guard = locks.try_lead("k").unwrap();
        let Acquire::Waiter(receiver) = locks.acquire("k") else {
            panic!("second waits")
        };
        assert!(!wait(receiver, Duration::from_secs(1)).await);
        assert!(locks.try_lead("k").is_none());
    }
}
