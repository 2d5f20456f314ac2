//! Tracing: one DEBUG span per request with pop, tier, request id and cache status, and
//! nothing per request above DEBUG.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

use crate::support::{Node, TestOrigin, get};

/// Formatted log lines, kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn each_request_runs_in_a_debug_span_with_pop_tier_request_id_and_cache_status() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    // The test runtime is single-threaded: the node's tasks run on this thread.
    let _default = tracing::subscriber::set_default(subscriber);
    let origin = TestOrigin::start("o").await;
    let edge = Node::single(&origin.url(), "CachingOptimized").await;
    let url = format!("{}/span.txt?cc=max-age%3D60", edge.url());
    let miss = get(&url, &[]).await;
    let hit = get(&url, &[]).await;
    let text = captured.text();
    for (response, status) in [(&miss, "miss"), (&hit, "hit")] {
        let rid = response.h("x-amz-cf-id");
        let line = text
            .lines()
            .find(|l| l.contains(&format!("request_id={rid}")) && l.contains("request served"))
            .unwrap_or_else(|| panic!("no span with request_id={rid} in:\n{text}"));
        assert!(line.contains("DEBUG"), "{line}");
        assert!(line.contains("request{pop=FRA50-P1 tier=edge"), "{line}");
        assert!(line.contains(&format!("cache_status={status}")), "{line}");
    }
    let louder: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("request_id=") && !l.contains("DEBUG") && !l.contains("TRACE"))
        .collect();
    assert!(
        louder.is_empty(),
        "per-request lines above DEBUG: {louder:?}"
    );
}
