//! Interim responses (the conformance suite's `interim-*`): an origin's 103 and 102 reach
//! the HTTP/1.1 viewer ahead of the final response, through every tier; nothing of them is
//! stored, so a hit has none and the final response keeps none of their fields.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use edgelab_testkit::raw;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::Node;

/// What the interim origin answers every request with: a 103, a 102, then a cacheable 200.
const ANSWER: &[u8] = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\
X-My-Header: test\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\n\
Cache-Control: max-age=100000\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

/// An origin written on the socket (hyper's server cannot send a 1xx): every request on
/// every connection gets [`ANSWER`]. Returns its URL and its request count.
async fn interim_origin() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = head_end(&buffer) {
                        buffer.drain(..end);
                        counted.fetch_add(1, Ordering::SeqCst);
                        if stream.write_all(ANSWER).await.is_err() {
                            return;
                        }
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (url, requests)
}

/// Where the first request head in `buffer` ends (the edge sends no body on a GET).
fn head_end(buffer: &[u8]) -> Option<usize> {
    buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// The raw answer to `GET /page` in `version`, on a connection of its own.
async fn raw_get(node: &Node, version: &str) -> String {
    let request = format!("GET /page {version}\r\nHost: a\r\nConnection: close\r\n\r\n");
    raw(node.handle.traffic_addr(), request.as_bytes()).await
}

/// The final response of a raw answer: from its 2xx status line on.
fn final_response(answer: &str) -> &str {
    &answer[answer.find("HTTP/1.1 200").expect("a final 200")..]
}

#[tokio::test]
async fn interim_responses_reach_the_viewer_and_are_never_cached() {
    let (origin, requests) = interim_origin().await;
    let node = Node::single(&origin, "rfc9111").await;
    let first = raw_get(&node, "HTTP/1.1").await;
    assert!(
        first.starts_with(
            "HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\
             x-my-header: test\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\n"
        ),
        "{first}"
    );
    let response = final_response(&first);
    assert!(response.ends_with("\r\n\r\nhello"), "{first}");
    assert!(
        !response.to_ascii_lowercase().contains("x-my-header"),
        "{first}"
    );
    assert!(!response.to_ascii_lowercase().contains("link:"), "{first}");
    // The final response was stored; its interim responses were not.
    let second = raw_get(&node, "HTTP/1.1").await;
    assert!(second.starts_with("HTTP/1.1 200 OK\r\n"), "{second}");
    assert!(second.contains("Hit from cloudfront"), "{second}");
    assert!(
        !second.to_ascii_lowercase().contains("x-my-header"),
        "{second}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    let relayed = r#"edgelab_edge_interim_responses_total{pop="FRA",result="relayed",tier="edge"}"#;
    assert_eq!(node.metric(relayed).await, 2.0);
}

#[tokio::test]
async fn an_http_1_0_viewer_gets_no_interim_response() {
    let (origin, _) = interim_origin().await;
    let node = Node::single(&origin, "rfc9111").await;
    let answer = raw_get(&node, "HTTP/1.0").await;
    assert!(answer.starts_with("HTTP/1.0 200 OK\r\n"), "{answer}");
    let dropped = r#"edgelab_edge_interim_responses_total{pop="FRA",result="dropped",tier="edge"}"#;
    assert_eq!(node.metric(dropped).await, 2.0);
}

#[tokio::test]
async fn interim_responses_cross_every_tier() {
    let (origin, _) = interim_origin().await;
    let rec = Node::start(&format!(
        "pop = \"FRA\"\ntier = \"rec\"\n[upstream]\nprimary = \"{origin}\"\n\
         [default_behavior]\ncache_policy = {{ preset = \"CachingOptimized\" }}\n"
    ))
    .await;
    let edge = Node::start(&format!(
        "pop = \"MUC\"\n[upstream]\nnext_tier = \"{}\"\nprimary = \"{origin}\"\n\
         [default_behavior]\ncache_policy = {{ preset = \"CachingOptimized\" }}\n",
        rec.url()
    ))
    .await;
    let answer = raw_get(&edge, "HTTP/1.1").await;
    assert!(
        answer.starts_with("HTTP/1.1 103 Early Hints\r\n"),
        "{answer}"
    );
    assert!(answer.contains("\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\n"));
    let relayed = |pop: &str, tier: &str| {
        format!(
            r#"edgelab_edge_interim_responses_total{{pop="{pop}",result="relayed",tier="{tier}"}}"#
        )
    };
    assert_eq!(rec.metric(&relayed("FRA", "rec")).await, 2.0);
    assert_eq!(edge.metric(&relayed("MUC", "edge")).await, 2.0);
}
