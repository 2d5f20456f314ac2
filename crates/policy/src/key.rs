//! The cache key: the parts of a request a behaviour's cache policy keys on (host, path,
//! chosen query strings, headers and cookies, the normalised encoding), and the variant key
//! a stored response's `Vary` adds.

use http::{HeaderMap, header};

use crate::preset::{CachePolicyConfig, Selection};

/// The encoding a compressing behaviour asks the upstream for and keys on: `br`, `gzip` or
/// `identity`, from the viewer's `Accept-Encoding` (q=0 excluded).
pub fn normalised_encoding(request: &HeaderMap) -> &'static str {
    let mut gzip = false;
    let mut br = false;
    for value in request.get_all(header::ACCEPT_ENCODING) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            if coding.eq_ignore_ascii_case("br") {
                br = true;
            } else if coding.eq_ignore_ascii_case("gzip") {
                gzip = true;
            }
        }
    }
    if br {
        "br"
    } else if gzip {
        "gzip"
    } else {
        "identity"
    }
}

/// Keeps the query pairs `selection` picks, sorted for a stable key when not `All`.
pub fn select_query(query: Option<&str>, selection: &Selection) -> String {
    let Some(query) = query else {
        return String::new();
    };
    match selection {
        Selection::None => String::new(),
        Selection::All => query.to_string(),
        Selection::Only(_) => {
            let mut pairs: Vec<&str> = query
                .split('&')
                .filter(|pair| {
                    let name = pair.split('=').next().unwrap_or("");
                    selection.selects(name)
                })
                .collect();
            pairs.sort_unstable();
            pairs.join("&")
        }
    }
}

/// Keeps the cookies `selection` picks from the `Cookie` headers, sorted.
pub fn select_cookies(request: &HeaderMap, selection: &Selection) -> String {
    if *selection == Selection::None {
        return String::new();
    }
    let mut cookies: Vec<&str> = request
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| selection.selects(c.split('=').next().unwrap_or("")))
        .collect();
    cookies.sort_unstable();
    cookies.join("; ")
}

/// The primary cache key under `policy`: host, path, chosen query strings, headers and cookies, and the
/// normalised encoding when compression is on. Parts are separated by bytes that cannot occur
/// in a request line.
pub fn cache_key(
    policy: &CachePolicyConfig,
    host: &str,
    path: &str,
    query: Option<&str>,
    request: &HeaderMap,
) -> String {
    // Room for the usual parts (the encoding's among them), so the key is one allocation.
    let mut key = String::with_capacity(host.len() + path.len() + query.map_or(0, str::len) + 32);
    key.extend(host.chars().map(|c| c.to_ascii_lowercase()));
    key.push_str(path);
    let query = select_query(query, &policy.query_strings);
    if !query.is_empty() {
        key.push('?');
        key.push_str(&query);
    }
    for name in &policy.headers {
        if *name == header::HOST {
            continue; // already the first part
        }
        key.push('\n');
        key.push_str(name.as_str());
        key.push(':');
        for value in request.get_all(name) {
            key.push_str(&String::from_utf8_lossy(value.as_bytes()));
            key.push(',');
        }
    }
    let cookies = select_cookies(request, &policy.cookies);
    if !cookies.is_empty() {
        key.push_str("\ncookie:");
        key.push_str(&cookies);
    }
    if policy.compress {
        key.push_str("\nae:");
        key.push_str(normalised_encoding(request));
    }
    key
}

/// The variant key: the primary key plus the request's values of the `Vary` headers of the
/// stored response (RFC 9111 §4.1). Values are whitespace-normalised.
pub fn variant_key(primary: &str, vary: &[http::HeaderName], request: &HeaderMap) -> String {
    let mut key = primary.to_string();
    for name in vary {
        key.push('\u{1}');
        key.push_str(name.as_str());
        key.push('=');
        let values: Vec<String> = request
            .get_all(name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split(',')
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        key.push_str(&values.join(","));
    }
    key
}

/// The header names a response varies on (lower case, `*` excluded: never stored).
pub fn vary_names(response: &HeaderMap) -> Vec<http::HeaderName> {
    let mut names: Vec<http::HeaderName> = response
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty() && n != "*")
        .filter_map(|n| http::HeaderName::from_bytes(n.as_bytes()).ok())
        .collect();
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    names
}
