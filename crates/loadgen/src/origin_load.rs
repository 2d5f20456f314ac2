//! Origin load: what the origin served during a run, read from its admin `/metrics` before
//! and after (and once a second during the run for the chart).
//!
//! Only two sums are needed (`edgelab_origin_requests_total` and
//! `edgelab_origin_response_bytes_total` over all label sets), so this reads the Prometheus
//! text exposition format with a few lines instead of a parser crate: a sample line is
//! `name[{labels}] value [timestamp]`, `#` lines are comments, and label values may contain
//! spaces or braces only inside quotes.

use std::time::Duration;

use http::Uri;

use edgelab_common::names::metric;

use crate::error::LoadgenError;

/// The two origin counters, summed over replicas and labels.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OriginCounters {
    /// Sum of `edgelab_origin_requests_total`.
    pub requests: f64,
    /// Sum of `edgelab_origin_response_bytes_total`.
    pub response_bytes: f64,
}

/// Sums the samples of `name` (exact name, any labels) in Prometheus text `exposition`.
pub fn sum_metric(exposition: &str, name: &str) -> f64 {
    let mut sum = 0.0;
    for line in exposition.lines() {
        let line = line.trim_start();
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let value_part = if let Some(labels) = rest.strip_prefix('{') {
            match closing_brace(labels) {
                Some(end) => &labels[end + 1..],
                None => continue,
            }
        } else if rest.starts_with([' ', '\t']) {
            rest
        } else {
            // A longer name with this prefix (`…_total_created`).
            continue;
        };
        if let Some(value) = value_part
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            && value.is_finite()
        {
            sum += value;
        }
    }
    sum
}

/// Index of the `}` that closes a label set, skipping quoted values (with `\"` escapes).
fn closing_brace(labels: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (index, c) in labels.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(index),
            _ => {}
        }
    }
    None
}

impl OriginCounters {
    /// Reads both counters from one exposition.
    pub fn parse(exposition: &str) -> OriginCounters {
        OriginCounters {
            requests: sum_metric(exposition, metric::ORIGIN_REQUESTS_TOTAL),
            response_bytes: sum_metric(exposition, metric::ORIGIN_RESPONSE_BYTES_TOTAL),
        }
    }

    /// Scrapes every URL and adds the counters up.
    pub async fn scrape(urls: &[Uri], limit: Duration) -> Result<OriginCounters, LoadgenError> {
        let mut total = OriginCounters::default();
        for url in urls {
            let body = crate::fetch::get(url, limit).await.map_err(|message| {
                LoadgenError::OriginMetrics {
                    url: url.to_string(),
                    message,
                }
            })?;
            let counters = OriginCounters::parse(&String::from_utf8_lossy(&body));
            total.requests += counters.requests;
            total.response_bytes += counters.response_bytes;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_label_set_and_skips_lookalikes() {
        let text = r#"# HELP edgelab_origin_requests_total Requests.
# TYPE edgelab_origin_requests_total counter
edgelab_origin_requests_total{origin="o",az="euw2-az1",status_class="2xx"} 120
edgelab_origin_requests_total{origin="o",az="euw2-az2",status_class="5xx"} 3 1700000000000
edgelab_origin_requests_total_created{origin="o"} 1.7e9
edgelab_origin_requests_totalx 99
edgelab_origin_response_bytes_total{origin="we}ird \"q\"",az="a"} 2.5e3
edgelab_origin_response_bytes_total 500
"#;
        let counters = OriginCounters::parse(text);
        assert_eq!(counters.requests, 123.0);
        assert_eq!(counters.response_bytes, 3000.0);
        assert_eq!(sum_metric("", metric::ORIGIN_REQUESTS_TOTAL), 0.0);
        assert_eq!(
            sum_metric(
                "edgelab_origin_requests_total{a=\"1\" 5",
                metric::ORIGIN_REQUESTS_TOTAL
            ),
            0.0
        );
    }
}
