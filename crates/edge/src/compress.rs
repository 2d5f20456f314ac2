//! Edge compression (SPEC §4, CloudFront's rules): gzip or brotli for compressible content
//! types of 1,000 to 10,000,000 bytes, when the viewer accepts it and the origin did not
//! already encode the body.

use std::io::Write;

use http::{HeaderMap, header};

/// Smallest body compressed.
pub const MIN_BYTES: usize = 1_000;
/// Largest body compressed.
pub const MAX_BYTES: usize = 10_000_000;

/// Whether a body with these headers and size may be compressed.
pub fn compressible(headers: &HeaderMap, size: usize) -> bool {
    if !(MIN_BYTES..=MAX_BYTES).contains(&size) {
        return false;
    }
    if headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() != b"identity")
    {
        return false;
    }
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime.starts_with("text/")
        || matches!(
            mime.as_str(),
            "application/javascript"
                | "application/x-javascript"
                | "application/json"
                | "application/xml"
                | "application/xhtml+xml"
                | "application/rss+xml"
                | "application/wasm"
                | "image/svg+xml"
                | "font/ttf"
                | "font/otf"
        )
}

/// Compresses `body` with `encoding` (`gzip` or `br`); `None` for other encodings or failure.
pub fn compress(body: &[u8], encoding: &str) -> Option<Vec<u8>> {
    match encoding {
        "gzip" => {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 3),
                flate2::Compression::new(6),
            );
            encoder.write_all(body).ok()?;
            encoder.finish().ok()
        }
        "br" => {
            let mut out = Vec::with_capacity(body.len() / 3);
            {
                let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                writer.write_all(body).ok()?;
            }
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn gzip_round_trips_and_limits_hold() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "text/css".parse().unwrap());
        assert!(!compressible(&headers, 999));
        assert!(compressible(&headers, 1_000));
        let body = vec![b'a'; 5_000];
        let packed = compress(&body, "gzip").unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        let packed = compress(&body, "br").unwrap();
        let mut out = Vec::new();
        brotli::Decompressor::new(&packed[..], 4096)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        headers.insert(header::CONTENT_TYPE, "image/png".parse().unwrap());
        assert!(!compressible(&headers, 5_000));
    }
}
