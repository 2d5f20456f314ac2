//! [`NodeRuntimes`]: single-thread tokio runtimes, each on its own thread, that the nodes of a
//! loopback cluster are spread over (`edgelab up --workers N`, `compare --workers N`).
//!
//! In one multi-thread runtime every wake-up of the ~60 nodes of a global topology may hop
//! threads (work stealing, the shared injection queue, unparking an idle worker). Here a node
//! lives on one thread: its listeners are registered with that runtime's reactor, every
//! connection and upstream request it serves runs there, and its delay lines' timers fire
//! there, so a request crosses threads only where it crosses nodes. Node `i` (in start order:
//! origins, shield, RECs, PoPs) goes to runtime `i mod N`.
//!
//! Each thread runs its runtime until the cluster's [`Shutdown`] has been triggered and every
//! task it tracks has ended (the drain), so draining works as in one runtime.

use std::io;

use edgelab_common::shutdown::Shutdown;
use tokio::runtime::Handle;

/// Single-thread runtimes on their own threads (see the module documentation).
#[derive(Debug)]
pub struct NodeRuntimes {
    handles: Vec<Handle>,
}

impl NodeRuntimes {
    /// Starts `count` (at least one) runtimes, each on a thread named `edgelab-node-K`, that
    /// run until `shutdown` has drained.
    pub fn start(count: usize, shutdown: &Shutdown) -> io::Result<NodeRuntimes> {
        let mut handles = Vec::with_capacity(count.max(1));
        for index in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let drained = shutdown.clone();
            std::thread::Builder::new()
                .name(format!("edgelab-node-{index}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        drained.triggered().await;
                        drained.tracker().wait().await;
                    });
                })?;
        }
        Ok(NodeRuntimes { handles })
    }

    /// How many runtimes there are.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Never empty (kept for the `len` convention).
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// The runtime node `index` runs on.
    pub fn for_node(&self, index: usize) -> &Handle {
        &self.handles[index % self.handles.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nodes_go_round_robin_and_the_threads_run_until_the_drain() {
        let shutdown = Shutdown::new();
        let runtimes = NodeRuntimes::start(2, &shutdown).unwrap();
        assert_eq!(runtimes.len(), 2);
        let thread = |index: usize| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            runtimes.for_node(index).spawn(async move {
                let _ = tx.send(std::thread::current().name().map(str::to_string));
            });
            rx
        };
        let names = [
            thread(0).await.unwrap(),
            thread(1).await.unwrap(),
            thread(2).await.unwrap(),
        ];
        assert_eq!(names[0].as_deref(), Some("edgelab-node-0"));
        assert_eq!(names[1].as_deref(), Some("edgelab-node-1"));
        assert_eq!(names[2], names[0], "node 2 shares runtime 0");
        // A tracked task on a node runtime keeps running until the drain ends it.
        let stop = shutdown.clone();
        let entered = runtimes.for_node(1).enter();
        let task = shutdown.spawn(async move { stop.triggered().await });
        drop(entered);
        assert!(!task.is_finished(), "runs until the shutdown");
        assert!(shutdown.drain(std::time::Duration::from_secs(5)).await);
        task.await.expect("the task ended, not cancelled");
    }
}
