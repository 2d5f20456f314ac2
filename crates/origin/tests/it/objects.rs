//! Object requests: full bodies verified against the catalog, HEAD, conditionals, ranges,
//! echo, errors, HTTP/2.

use std::time::Duration;

use edgelab_wire::range;
use http::{Method, Version};

use crate::support::{TestOrigin, collect, digest, header, raw, request, small_config};

async fn first_of(origin: &TestOrigin, class: &str) -> edgelab_origin::CatalogEntry {
    origin
        .listing()
        .await
        .objects
        .into_iter()
        .find(|entry| entry.class.as_str() == class)
        .unwrap_or_else(|| panic!("no {class} object"))
}

#[tokio::test]
async fn every_object_is_whole_and_matches_its_digest() {
    let origin = TestOrigin::start(small_config()).await;
    let listing = origin.listing().await;
    assert_eq!(listing.seed, 42);
    assert_eq!(listing.objects.len(), 200);
    for entry in &listing.objects {
        let (response, body) = origin.get(&entry.path, &[]).await;
        assert_eq!(response.status(), 200, "{}", entry.path);
        assert_eq!(body.len() as u64, entry.size);
        assert_eq!(digest(&body), entry.digest.to_string());
        assert_eq!(
            header(&response, "x-edgelab-digest"),
            entry.digest.to_string()
        );
        assert_eq!(header(&response, "x-edgelab-class"), entry.class.as_str());
        assert_eq!(header(&response, "content-type"), entry.content_type);
        assert_eq!(header(&response, "content-length"), entry.size.to_string());
        assert_eq!(header(&response, "x-edgelab-origin"), "eu-west-2/euw2-az1");
        assert_eq!(header(&response, "accept-ranges"), "bytes");
        let etag = header(&response, "etag");
        assert_eq!(etag, format!("\"{:016x}\"", entry.digest.value()));
        assert!(httpdate::parse_http_date(header(&response, "last-modified")).is_ok());
    }
}

#[tokio::test]
async fn classes_carry_their_cache_control() {
    let origin = TestOrigin::start(small_config()).await;
    for (class, expected) in [
        ("static", "public, max-age=31536000, immutable"),
        ("img", "public, max-age=14400"),
        ("api", "no-store"),
        ("video", "public, max-age=86400"),
    ] {
        let entry = first_of(&origin, class).await;
        let (response, _) = origin.get(&entry.path, &[]).await;
        assert_eq!(header(&response, "cache-control"), expected, "{class}");
    }
}

#[tokio::test]
async fn h2c_serves_the_same_bytes() {
    let origin = TestOrigin::start(small_config()).await;
    let entry = first_of(&origin, "img").await;
    let (response, body) = collect(
        &origin.h2,
        request(Method::GET, &origin.url(&entry.path), &[], ""),
    )
    .await;
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.status(), 200);
    assert_eq!(digest(&body), entry.digest.to_string());
    let (response, body) = collect(
        &origin.h2,
        request(
            Method::GET,
            &origin.url(&entry.path),
            &[("range", "bytes=10-19")],
            "",
        ),
    )
    .await;
    assert_eq!(response.status(), 206);
    assert_eq!(body.len(), 10);
}

#[tokio::test]
async fn many_concurrent_h2c_streams_get_whole_objects() {
    let origin = TestOrigin::start(small_config()).await;
    let listing = origin.listing().await;
    let fetches = listing.objects.iter().take(40).map(|entry| {
        let client = origin.h2.clone();
        let url = origin.url(&entry.path);
        let expected = entry.digest.to_string();
        tokio::spawn(async move {
            let (response, body) = collect(&client, request(Method::GET, &url, &[], "")).await;
            assert_eq!(response.version(), Version::HTTP_2);
            assert_eq!(digest(&body), expected);
        })
    });
    for fetch in fetches.collect::<Vec<_>>() {
        fetch.await.expect("fetch task");
    }
}

#[tokio::test]
async fn head_has_the_headers_of_get_and_no_body() {
    let origin = TestOrigin::start(small_config()).await;
    let entry = first_of(&origin, "static").await;
    let (get, _) = origin.get(&entry.path, &[]).await;
    let (head, body) = origin
        .send(request(Method::HEAD, &origin.url(&entry.path), &[], ""))
        .await;
    assert_eq!(head.status(), 200);
    assert!(body.is_empty());
    for name in [
        "etag",
        "last-modified",
        "x-edgelab-digest",
        "cache-control",
        "content-length",
    ] {
        assert_eq!(header(&head, name), header(&get, name), "{name}");
    }
}

#[tokio::test]
async fn conditional_requests_get_304() {
    let origin = TestOrigin::start(small_config()).await;
    let entry = first_of(&origin, "static").await;
    let (full, _) = origin.get(&entry.path, &[]).await;
    let etag = header(&full, "etag").to_owned();
    let modified = header(&full, "last-modified").to_owned();
    let weak = format!("W/{etag}");
    let list = format!("\"nope\", {etag}");

    for headers in [
        vec![("if-none-match", etag.as_str())],
        vec![("if-none-match", weak.as_str())],
        vec![("if-none-match", list.as_str())],
        vec![("if-none-match", "*")],
        vec![("if-modified-since", modified.as_str())],
        vec![("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT")],
    ] {
        let (response, body) = origin.get(&entry.path, &headers).await;
        assert_eq!(response.status(), 304, "{headers:?}");
        assert!(body.is_empty());
        assert_eq!(header(&response, "etag"), etag);
        assert_eq!(
            header(&response, "x-edgelab-digest"),
            entry.digest.to_string()
        );
        assert_eq!(
            header(&response, "cache-control"),
            header(&full, "cache-control")
        );
    }
    let (head, _) = origin
        .send(request(
            Method::HEAD,
            &origin.url(&entry.path),
            &[("if-none-match", &etag)],
            "",
        ))
        .await;
    assert_eq!(head.status(), 304);

    for headers in [
        vec![("if-none-match", "\"other\"")],
        vec![("if-modified-since", "Sun, 01 Jan 2023 00:00:00 GMT")],
        vec![("if-modified-since", "not a date")],
        // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
        vec![
            ("if-none-match", "\"other\""),
            ("if-modified-since", modified.as_str()),
        ],
    ] {
        let (response, body) = origin.get(&entry.path, &headers).await;
        assert_eq!(response.status(), 200, "{headers:?}");
        assert_eq!(body.len() as u64, entry.size);
    }
}

#[tokio::test]
async fn single_ranges_get_206_with_the_right_slice() {
    let origin = TestOrigin::start(small_config()).await;
    let entry = first_of(&origin, "video").await;
    let (_, whole) = origin.get(&entry.path, &[]).await;
    let size = entry.size as usize;
    for (range, first, last) in [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, size - 1),
        ("bytes=-500", size - 500, size - 1),
        ("bytes=100-99999999999", 100, size - 1),
    ] {
        let (response, body) = origin.get(&entry.path, &[("range", range)]).await;
        assert_eq!(response.status(), 206, "{range}");
        assert_eq!(
            header(&response, "content-range"),
            format!("bytes {first}-{last}/{size}")
        );
        assert_eq!(body, whole.slice(first..=last), "{range}");
        // The digest stays the digest of the whole representation.
        assert_eq!(
            header(&response, "x-edgelab-digest"),
            entry.digest.to_string()
        );
    }
    // A stale If-Range gets the whole object; a current one gets the range.
    let (full, _) = origin.get(&entry.path, &[]).await;
    let etag = header(&full, "etag").to_owned();
    let (response, body) = origin
        .get(
            &entry.path,
            &[("range", "bytes=0-9"), ("if-range", "\"stale\"")],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(body.len(), size);
    let (response, _) = origin
        .get(&entry.path, &[("range", "bytes=0-9"), ("if-range", &etag)])
        .await;
    assert_eq!(response.status(), 206);
    // A syntactically invalid range is ignored.
    let (response, _) = origin.get(&entry.path, &[("range", "bytes=9-1")]).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn multiple_ranges_get_multipart_byteranges() {
    let origin = TestOrigin::start(small_config()).await;
    let entry = first_of(&origin, "static").await;
    let (_, whole) = origin.get(&entry.path, &[]).await;
    let size = whole.len();
    let (response, body) = origin
        .get(&entry.path, &[("range", "bytes=0-9, 20-29, -5")])
        .await;
    assert_eq!(response.status(), 206);
    let content_type = header(&response, "content-type");
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .expect("multipart content type");
    assert_eq!(header(&response, "content-length"), body.len().to_string());
    let text = String::from_utf8(body.to_vec()).unwrap();
    let parts: Vec<&str> = text.split(&format!("--{boundary}")).collect();
    // preamble, three parts, closing "--\r\n"
    assert_eq!(parts.len(), 5, "{text}");
    assert!(parts[4].starts_with("--"));
    let expected = [(0, 9), (20, 29), (size - 5, size - 1)];
    for (part, (first, last)) in parts[1..4].iter().zip(expected) {
        let (head, data) = part.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Range: bytes {first}-{last}/{size}")));
        assert!(head.contains(&format!("Content-Type: {}", entry.content_type)));
        let data = data.strip_suffix("\r\n").unwrap();
        assert_eq!(data.as_bytes(), &whole[first..=last]);
    }
}

#[tokio::test]
async fn range_dos_overlapping_ranges_get_the_whole_object_once() {
    // 32 × `0-` used to turn a 171-byte request into 32 copies of the object.
    let origin = TestOrigin::start(small_config()).await;
    let entry = first_of(&origin, "video").await;
    let bomb = format!("bytes={}", vec!["0-"; 32].join(","));
    let (response, body) = origin.get(&entry.path, &[("range", &bomb)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body.len() as u64, entry.size);
    assert_eq!(digest(&body), entry.digest.to_string());
    for unacceptable in [
        "bytes=100-200,150-250",
        "bytes=300-400,100-200",
        "bytes=-5,0-9",
    ] {
        let (response, body) = origin.get(&entry.path, &[("range", unacceptable)]).await;
        assert_eq!(response.status(), 200, "{unacceptable}");
        assert_eq!(body.len() as u64, entry.size, "{unacceptable}");
    }
    let many = range::render(&(0..33).map(|i| (i * 100, i * 100)).collect::<Vec<_>>());
    let (response, body) = origin.get(&entry.path, &[("range", &many)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body.len() as u64, entry.size);
}

#[tokio::test]
async fn range_dos_adjacent_ranges_are_coalesced() {
    let origin = TestOrigin::start(small_config()).await;
    let entry = first_of(&origin, "static").await;
    let (_, whole) = origin.get(&entry.path, &[]).await;
    let (response, body) = origin
        .get(&entry.path, &[("range", "bytes=0-9,10-19")])
        .await;
    assert_eq!(response.status(), 206);
    assert_eq!(
        header(&response, "content-range"),
        format!("bytes 0-19/{}", entry.size)
    );
    assert_eq!(body, whole.slice(0..20));
}

#[tokio::test]
async fn if_match_and_if_unmodified_since_get_412() {
    let origin = TestOrigin::start(small_config()).await;
    let entry = first_of(&origin, "static").await;
    let (full, _) = origin.get(&entry.path, &[]).await;
    let etag = header(&full, "etag").to_owned();
    let modified = header(&full, "last-modified").to_owned();
    let (response, body) = origin.get(&entry.path, &[("if-match", &etag)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body.len() as u64, entry.size);
    let (response, _) = origin
        .get(&entry.path, &[("if-unmodified-since", &modified)])
        .await;
    assert_eq!(response.status(), 200);
    for failing in [
        ("if-match", "\"someone-else\""),
        ("if-unmodified-since", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ] {
        let (response, _) = origin.get(&entry.path, &[failing]).await;
        assert_eq!(response.status(), 412, "{failing:?}");
        assert_eq!(header(&response, "etag"), etag);
    }
}

#[tokio::test]
async fn unsatisfiable_ranges_get_416() {
    let origin = TestOrigin::start(small_config()).await;
    let entry = first_of(&origin, "api").await;
    let range = format!("bytes={}-", entry.size);
    let (response, _) = origin.get(&entry.path, &[("range", &range)]).await;
    assert_eq!(response.status(), 416);
    assert_eq!(
        header(&response, "content-range"),
        format!("bytes */{}", entry.size)
    );
    assert_eq!(header(&response, "x-edgelab-origin"), "eu-west-2/euw2-az1");
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let origin = TestOrigin::start(small_config()).await;
    for path in ["/", "/static/", "/static/99999.js", "/static/1.js", "/nope"] {
        let (response, _) = origin.get(path, &[]).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(header(&response, "x-edgelab-origin"), "eu-west-2/euw2-az1");
    }
    let entry = first_of(&origin, "static").await;
    let (response, _) = origin
        .send(request(Method::POST, &origin.url(&entry.path), &[], "x"))
        .await;
    assert_eq!(response.status(), 405);
    assert_eq!(header(&response, "allow"), "GET, HEAD");
}

#[tokio::test]
async fn echo_answers_any_method() {
    let origin = TestOrigin::start(small_config()).await;
    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ] {
        let (response, body) = origin
            .send(request(
                method.clone(),
                &origin.url("/echo/some/where?x=1"),
                &[("x-probe", "yes")],
                "hello",
            ))
            .await;
        assert_eq!(response.status(), 200);
        let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(echo["method"], method.as_str());
        assert_eq!(echo["path"], "/echo/some/where");
        assert_eq!(echo["query"], "x=1");
        assert_eq!(echo["body"], "hello");
        assert_eq!(echo["body_bytes"], 5);
        let headers = echo["headers"].as_array().unwrap();
        assert!(headers.iter().any(|h| h[0] == "x-probe" && h[1] == "yes"));
    }
}

#[tokio::test]
async fn echo_refuses_bodies_over_1_mib() {
    let origin = TestOrigin::start(small_config()).await;
    let big = "x".repeat(edgelab_origin::server::MAX_ECHO_BODY + 1);
    let (response, _) = origin
        .send(request(Method::POST, &origin.url("/echo/"), &[], &big))
        .await;
    assert_eq!(response.status(), 413);
    // `/echoes` is not the echo endpoint.
    assert_eq!(origin.get("/echoes", &[]).await.0.status(), 404);
}

#[tokio::test]
async fn malformed_requests_get_400_and_huge_heads_431() {
    let origin = TestOrigin::start(small_config()).await;
    let addr = origin.handle.traffic_addr();
    let answer = raw(addr, b"GARBAGE\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let big = format!(
        "GET /echo/ HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    let answer = raw(addr, big.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    // The server still answers afterwards.
    let (response, _) = origin.get("/echo/", &[]).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn echo_refuses_a_huge_declared_body_without_100_continue() {
    let origin = TestOrigin::start(small_config()).await;
    let answer = raw(
        origin.handle.traffic_addr(),
        b"POST /echo/ HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
}

#[tokio::test]
async fn echo_answers_a_malformed_chunked_body_with_400() {
    let origin = TestOrigin::start(small_config()).await;
    let answer = raw(
        origin.handle.traffic_addr(),
        b"POST /echo/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

#[tokio::test]
async fn http11_without_a_host_gets_400() {
    let origin = TestOrigin::start(small_config()).await;
    let answer = raw(origin.handle.traffic_addr(), b"GET /echo/ HTTP/1.1\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let answer = raw(
        origin.handle.traffic_addr(),
        b"GET /echo/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

#[tokio::test]
async fn real_files_are_served_under_files() {
    let dir = std::env::temp_dir().join(format!(
        "edgelab-origin-files-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    std::fs::create_dir_all(dir.join("css")).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>hello</h1>").unwrap();
    std::fs::write(dir.join("css/site.css"), "body { color: red }").unwrap();
    let mut config = small_config();
    config.files_dir = Some(dir.clone());
    let origin = TestOrigin::start(config).await;
    let listing = origin.listing().await;
    let files: Vec<_> = listing
        .objects
        .iter()
        .filter(|e| e.class.as_str() == "file")
        .collect();
    assert_eq!(files.len(), 2);
    let css = files
        .iter()
        .find(|e| e.path == "/files/css/site.css")
        .unwrap();
    assert_eq!(css.content_type, "text/css");
    let (response, body) = origin.get("/files/css/site.css", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(&body[..], b"body { color: red }");
    assert_eq!(digest(&body), css.digest.to_string());
    let (response, body) = origin
        .get("/files/index.html", &[("range", "bytes=4-8")])
        .await;
    assert_eq!(response.status(), 206);
    assert_eq!(&body[..], b"hello");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn keep_alive_serves_many_requests_on_one_connection() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let origin = TestOrigin::start(small_config()).await;
    let entry = first_of(&origin, "api").await;
    let stream = tokio::net::TcpStream::connect(origin.handle.traffic_addr())
        .await
        .unwrap();
    let mut stream = BufReader::new(stream);
    for _ in 0..3 {
        let request = format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", entry.path);
        stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            tokio::time::timeout(Duration::from_secs(5), stream.read_line(&mut line))
                .await
                .unwrap()
                .unwrap();
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.unwrap();
        assert_eq!(digest(&body), entry.digest.to_string());
    }
}
