//! One shutdown story: a [`CancellationToken`] every task watches and a [`TaskTracker`] that
//! knows every spawned task, so a server can stop taking work, drain, and be awaited.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Shared by a server and everything it spawns.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    /// A fresh, untriggered shutdown.
    pub fn new() -> Self {
        Self::default()
    }

    /// A child: triggered with its parent, or on its own (to stop one node of many).
    pub fn child(&self) -> Self {
        Self {
            token: self.token.child_token(),
            tracker: TaskTracker::new(),
        }
    }

    /// The token tasks watch.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The tracker every task is spawned on.
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Spawns `future` on the tracker.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(future)
    }

    /// Asks everything to stop.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether stop was asked.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once stop was asked.
    pub async fn triggered(&self) {
        self.token.cancelled().await
    }

    /// Triggers, closes the tracker and waits for every tracked task, at most `deadline`.
    /// Returns whether all tasks finished in time.
    pub async fn drain(&self, deadline: Duration) -> bool {
        self.trigger();
        self.tracker.close();
        tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_ok()
    }
}

/// A [`Shutdown`] that SIGINT or SIGTERM triggers while this guard lives (a run that stops
/// on Ctrl-C and then reports); the watching task is aborted when the guard drops. Must be
/// created inside a tokio runtime.
pub struct OnSignal {
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<()>,
}

impl OnSignal {
    /// Installs the handlers and starts watching.
    pub fn install() -> OnSignal {
        let shutdown = Shutdown::new();
        let on_signal = shutdown.clone();
        let stop = signal();
        let task = tokio::spawn(async move {
            stop.await;
            on_signal.trigger();
        });
        OnSignal { shutdown, task }
    }

    /// The shutdown a signal triggers.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }
}

impl Drop for OnSignal {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
///
/// The handlers are installed when this function is *called*, not when the future is first
/// polled, so a signal that arrives right after a server prints its `listening` line is not
/// lost (call it before printing). Must be called inside a tokio runtime.
pub fn signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt()).ok();
        let terminate = signal(SignalKind::terminate()).ok();
        async move {
            let wait = |stream: Option<tokio::signal::unix::Signal>| async move {
                match stream {
                    Some(mut stream) => {
                        stream.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {}
                () = wait(terminate) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_tasks_that_watch_the_token() {
        let shutdown = Shutdown::new();
        let watcher = shutdown.clone();
        shutdown.spawn(async move {
            watcher.triggered().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        });
        assert!(shutdown.drain(Duration::from_secs(1)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn drain_reports_a_task_past_the_deadline() {
        let shutdown = Shutdown::new();
        shutdown.spawn(tokio::time::sleep(Duration::from_secs(60)));
        assert!(!shutdown.drain(Duration::from_secs(1)).await);
    }

    #[tokio::test]
    async fn child_is_cancelled_with_parent_but_not_the_reverse() {
        let parent = Shutdown::new();
        let child = parent.child();
        child.trigger();
        assert!(!parent.is_triggered());
        let second = parent.child();
        parent.trigger();
        assert!(second.is_triggered());
    }
}
