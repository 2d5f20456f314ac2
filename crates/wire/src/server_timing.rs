//! W3C `Server-Timing` with CloudFront's metric names ("Server-Timing header" in the
//! CloudFront Developer Guide): a [`ServerTiming`] builder for the tiers and a [`parse`]r for
//! the tier below and the load generator.
//!
//! Grammar: `metric *( ";" param )` separated by commas, `param = name "=" (token |
//! quoted-string)`; the parameters used are `desc` and `dur` (milliseconds).

use std::time::Duration;

use crate::tier::Tier;
use crate::x_cache::XCache;

/// CloudFront's metric names.
pub mod metric {
    /// The layer that made the upstream request (`EDGE`, `REC`, `Origin Shield`).
    pub const UPSTREAM_LAYER: &str = "cdn-upstream-layer";
    /// Upstream DNS time, ms.
    pub const UPSTREAM_DNS: &str = "cdn-upstream-dns";
    /// Upstream connect time, ms (0 on a reused connection).
    pub const UPSTREAM_CONNECT: &str = "cdn-upstream-connect";
    /// Upstream first-byte latency, ms.
    pub const UPSTREAM_FBL: &str = "cdn-upstream-fbl";
    /// Served from cache.
    pub const CACHE_HIT: &str = "cdn-cache-hit";
    /// Revalidated (304 upstream).
    pub const CACHE_REFRESH: &str = "cdn-cache-refresh";
    /// Fetched upstream.
    pub const CACHE_MISS: &str = "cdn-cache-miss";
    /// The PoP id.
    pub const POP: &str = "cdn-pop";
    /// The request id.
    pub const RID: &str = "cdn-rid";
    /// The layer whose cache answered (`EDGE`, `REC`, `Origin Shield`).
    pub const HIT_LAYER: &str = "cdn-hit-layer";
    /// Downstream first-byte latency, ms.
    pub const DOWNSTREAM_FBL: &str = "cdn-downstream-fbl";
}

/// The cache metric that goes with an `X-Cache` value (an error counts as a miss).
pub fn cache_metric(x_cache: XCache) -> &'static str {
    match x_cache {
        XCache::Hit => metric::CACHE_HIT,
        XCache::RefreshHit => metric::CACHE_REFRESH,
        XCache::Miss | XCache::Error => metric::CACHE_MISS,
    }
}

/// Builds one `Server-Timing` value, metric by metric, in one buffer.
#[derive(Debug, Clone, Default)]
pub struct ServerTiming {
    text: String,
}

impl ServerTiming {
    /// An empty value with room for CloudFront's usual dozen metrics.
    pub fn new() -> ServerTiming {
        ServerTiming {
            text: String::with_capacity(256),
        }
    }

    /// An empty value written into `buffer` (cleared first), to reuse its allocation:
    /// [`ServerTiming::finish`] hands it back.
    pub fn in_buffer(mut buffer: String) -> ServerTiming {
        buffer.clear();
        ServerTiming { text: buffer }
    }

    fn separate(&mut self) {
        if !self.text.is_empty() {
            self.text.push(',');
        }
    }

    /// A metric without parameters (`cdn-cache-hit`).
    pub fn flag(&mut self, name: &str) -> &mut Self {
        self.separate();
        self.text.push_str(name);
        self
    }

    /// A metric with a quoted description (`cdn-pop;desc="FRA50-P1"`). Quotes and
    /// backslashes in `desc` are escaped.
    pub fn desc(&mut self, name: &str, desc: &str) -> &mut Self {
        self.separate();
        self.text.push_str(name);
        self.text.push_str(";desc=\"");
        if memchr::memchr2(b'"', b'\\', desc.as_bytes()).is_some() {
            for c in desc.chars() {
                if c == '"' || c == '\\' {
                    self.text.push('\\');
                }
                self.text.push(c);
            }
        } else {
            self.text.push_str(desc);
        }
        self.text.push('"');
        self
    }

    /// A metric with a duration in whole milliseconds (`cdn-upstream-fbl;dur=12`), rounded
    /// half to even.
    pub fn dur(&mut self, name: &str, duration: Duration) -> &mut Self {
        self.separate();
        self.text.push_str(name);
        self.text.push_str(";dur=");
        self.text
            .push_str(itoa::Buffer::new().format(whole_millis(duration)));
        self
    }

    /// A member as written elsewhere (an origin's own metric passed through).
    pub fn member(&mut self, member: &str) -> &mut Self {
        self.separate();
        self.text.push_str(member.trim());
        self
    }

    /// The value built so far.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The finished value.
    pub fn finish(self) -> String {
        self.text
    }
}

/// `duration` in whole milliseconds, half to even (as `{:.0}` formats), without floating
/// point: this runs on every response.
fn whole_millis(duration: Duration) -> u128 {
    let nanos = duration.as_nanos();
    let (millis, rest) = (nanos / 1_000_000, nanos % 1_000_000);
    if rest > 500_000 || (rest == 500_000 && millis % 2 == 1) {
        millis + 1
    } else {
        millis
    }
}

/// One parsed metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric<'a> {
    /// Metric name.
    pub name: &'a str,
    /// `desc`, unquoted (escapes are left as they are).
    pub desc: Option<&'a str>,
    /// `dur` in milliseconds, when it is a number.
    pub dur: Option<f64>,
}

/// Splits `text` at `separator`s outside quoted strings (lazily, without allocating: the
/// load generator reads every response's `Server-Timing` this way).
fn split_outside_quotes(text: &str, separator: u8) -> SplitOutsideQuotes<'_> {
    SplitOutsideQuotes {
        rest: Some(text),
        separator,
    }
}

/// The pieces of [`split_outside_quotes`]: every piece between separators, the last one
/// too (one empty piece for an empty text).
struct SplitOutsideQuotes<'a> {
    /// What is left to split; `None` once the last piece was given.
    rest: Option<&'a str>,
    separator: u8,
}

impl<'a> Iterator for SplitOutsideQuotes<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.rest?;
        let mut quoted = false;
        let mut escaped = false;
        for (i, b) in text.bytes().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                _ if b == self.separator && !quoted => {
                    self.rest = Some(&text[i + 1..]);
                    return Some(&text[..i]);
                }
                _ => {}
            }
        }
        self.rest = None;
        Some(text)
    }
}

/// Parses one `Server-Timing` value into its metrics; empty members are skipped and a
/// malformed parameter is ignored.
pub fn parse(value: &str) -> impl Iterator<Item = Metric<'_>> {
    split_outside_quotes(value, b',').filter_map(|member| {
        let mut parts = split_outside_quotes(member, b';');
        let name = parts.next()?.trim();
        if name.is_empty() {
            return None;
        }
        let mut metric = Metric {
            name,
            desc: None,
            dur: None,
        };
        for parameter in parts {
            let Some((key, raw)) = parameter.split_once('=') else {
                continue;
            };
            let raw = raw.trim();
            let unquoted = raw
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .unwrap_or(raw);
            match key.trim() {
                k if k.eq_ignore_ascii_case("desc") => metric.desc = Some(unquoted),
                k if k.eq_ignore_ascii_case("dur") => metric.dur = unquoted.parse().ok(),
                _ => {}
            }
        }
        Some(metric)
    })
}

/// The `desc` of the first metric called `name` in one value.
pub fn desc_of<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    // As `parse(value).find(|m| m.name == name).and_then(|m| m.desc)`, without reading the
    // parameters (a `dur` to parse) of the metrics before it.
    split_outside_quotes(value, b',')
        .find_map(|member| {
            let mut parts = split_outside_quotes(member, b';');
            let found = parts.next()?.trim();
            if found.is_empty() || found != name {
                return None;
            }
            let mut desc = None;
            for parameter in parts {
                let Some((key, raw)) = parameter.split_once('=') else {
                    continue;
                };
                if key.trim().eq_ignore_ascii_case("desc") {
                    let raw = raw.trim();
                    desc = Some(
                        raw.strip_prefix('"')
                            .and_then(|r| r.strip_suffix('"'))
                            .unwrap_or(raw),
                    );
                }
            }
            Some(desc)
        })
        .flatten()
}

/// The `cdn-hit-layer` description in one value, as written.
pub fn hit_layer_desc(value: &str) -> Option<&str> {
    desc_of(value, metric::HIT_LAYER)
}

/// The tier named by `cdn-hit-layer` in any of `values` (a response may carry several
/// `Server-Timing` fields).
pub fn hit_layer<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Tier> {
    values
        .into_iter()
        .find_map(|value| hit_layer_desc(value).and_then(Tier::from_layer))
}

/// The tier named by `cdn-upstream-layer` in any of `values`: the layer below that made the
/// upstream request.
pub fn upstream_layer<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Tier> {
    values
        .into_iter()
        .find_map(|value| desc_of(value, metric::UPSTREAM_LAYER).and_then(Tier::from_layer))
}

/// The members of `values` that are not CloudFront's own (`cdn-*` names), as written: an
/// origin's metrics, which a miss passes through next to the CDN's.
pub fn foreign_members<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    values
        .into_iter()
        .flat_map(|value| split_outside_quotes(value, b','))
        .map(str::trim)
        .filter(|member| {
            let name = member.split(';').next().unwrap_or("").trim();
            !name.is_empty() && !name.to_ascii_lowercase().starts_with(CDN_PREFIX)
        })
        .collect()
}

/// The prefix of CloudFront's metric names.
pub const CDN_PREFIX: &str = "cdn-";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desc_of_reads_what_parse_reads() {
        let values = [
            "",
            ",",
            "cdn-hit-layer;desc=REC",
            "cdn-upstream-dns;dur=0, cdn-hit-layer;desc=\"Origin Shield\"",
            "cdn-hit-layer, cdn-hit-layer;desc=EDGE",
            "cdn-hit-layer;desc=EDGE;desc=REC",
            "cdn-hit-layer ; DESC = \"a,b;c\" , x;desc=y",
            "a;desc=\"q\\\"uote,d\";dur=1, cdn-hit-layer;desc=REC",
            ";desc=x, cdn-hit-layer;desc",
            "CDN-HIT-LAYER;desc=EDGE",
            "cdn-hit-layer;desc=\"unterminated, cdn-hit-layer;desc=EDGE",
        ];
        for value in values {
            for name in [metric::HIT_LAYER, "a", "x", ""] {
                assert_eq!(
                    desc_of(value, name),
                    parse(value).find(|m| m.name == name).and_then(|m| m.desc),
                    "{value:?} {name:?}"
                );
            }
        }
        assert_eq!(
            split_outside_quotes("a,\"b,c\",", b',').collect::<Vec<_>>(),
            ["a", "\"b,c\"", ""]
        );
        assert_eq!(split_outside_quotes("", b',').collect::<Vec<_>>(), [""]);
    }

    #[test]
    fn durations_are_written_as_display_writes_them() {
        for millis in [0, 7, 10, 999, 1_000, 86_400_000] {
            let mut timing = ServerTiming::new();
            timing.dur("a", Duration::from_millis(millis));
            assert_eq!(timing.as_str(), format!("a;dur={millis}"));
        }
        let far = Duration::from_secs(u64::MAX);
        let mut timing = ServerTiming::new();
        timing.dur("a", far);
        assert_eq!(timing.as_str(), format!("a;dur={}", whole_millis(far)));
    }
    use proptest::prelude::*;

    #[test]
    fn a_cloudfront_value_builds_and_parses_back() {
        let mut timing = ServerTiming::new();
        timing
            .desc(metric::UPSTREAM_LAYER, Tier::Rec.layer())
            .dur(metric::UPSTREAM_FBL, Duration::from_micros(12_400))
            .flag(cache_metric(XCache::Miss))
            .desc(metric::POP, "FRA50-P1")
            .desc(metric::HIT_LAYER, Tier::Shield.layer());
        let value = timing.finish();
        assert_eq!(
            value,
            "cdn-upstream-layer;desc=\"REC\",cdn-upstream-fbl;dur=12,cdn-cache-miss,\
             cdn-pop;desc=\"FRA50-P1\",cdn-hit-layer;desc=\"Origin Shield\""
        );
        let metrics: Vec<Metric> = parse(&value).collect();
        assert_eq!(metrics.len(), 5);
        assert_eq!(metrics[1].dur, Some(12.0));
        assert_eq!(metrics[2].name, "cdn-cache-miss");
        assert_eq!(desc_of(&value, metric::POP), Some("FRA50-P1"));
        assert_eq!(hit_layer([value.as_str()]), Some(Tier::Shield));
    }

    #[test]
    fn hit_layer_is_found_in_any_field_and_in_any_form() {
        assert_eq!(
            hit_layer([
                "cdn-upstream-dns;dur=0",
                "cdn-cache-hit, cdn-hit-layer;desc=REC"
            ]),
            Some(Tier::Rec)
        );
        assert_eq!(
            hit_layer(["cdn-hit-layer ; DESC = \"EDGE\""]),
            Some(Tier::Edge)
        );
        assert_eq!(hit_layer(["cdn-cache-miss"]), None);
        assert_eq!(hit_layer(["cdn-hit-layer;desc=\"Origin\""]), None);
        assert_eq!(desc_of("a;desc=\"x, y\",b", "a"), Some("x, y"));
        assert_eq!(parse(",, ,").count(), 0);
    }

    #[test]
    fn foreign_members_keep_the_origins_metrics_as_written() {
        let values = [
            "db;dur=53, app;desc=\"a, b\";dur=2",
            "cdn-upstream-layer;desc=\"REC\",CDN-pop;desc=\"X\", ,cache;desc=hit",
        ];
        assert_eq!(
            foreign_members(values),
            ["db;dur=53", "app;desc=\"a, b\";dur=2", "cache;desc=hit"]
        );
        assert_eq!(upstream_layer(values), Some(Tier::Rec));
        assert_eq!(upstream_layer(["db;dur=1"]), None);
        let mut timing = ServerTiming::new();
        timing.flag(metric::CACHE_MISS).member(" db;dur=53 ");
        assert_eq!(timing.finish(), "cdn-cache-miss,db;dur=53");
    }

    #[test]
    fn durations_round_to_whole_milliseconds_half_to_even() {
        let ms = |micros| whole_millis(Duration::from_micros(micros));
        assert_eq!(ms(0), 0);
        assert_eq!(ms(499), 0);
        assert_eq!(ms(500), 0);
        assert_eq!(ms(501), 1);
        assert_eq!(ms(1_500), 2);
        assert_eq!(ms(2_500), 2);
        assert_eq!(ms(12_400), 12);
        assert_eq!(ms(12_600), 13);
    }

    proptest! {
        #[test]
        fn durations_render_as_floating_point_rounding_did(nanos in 0u64..10_000_000_000_000) {
            let duration = Duration::from_nanos(nanos);
            let float = format!("{:.0}", duration.as_secs_f64() * 1000.0);
            let exact_tie = nanos % 1_000_000 == 500_000;
            prop_assume!(!exact_tie);
            prop_assert_eq!(whole_millis(duration).to_string(), float);
        }

        #[test]
        fn parsing_never_panics(value in "\\PC{0,60}") {
            for metric in parse(&value) {
                prop_assert!(!metric.name.is_empty());
            }
        }

        #[test]
        fn built_values_parse_back(pop in "[ -~]{0,20}", ms in 0u64..100_000) {
            let mut timing = ServerTiming::new();
            timing.dur(metric::UPSTREAM_FBL, Duration::from_millis(ms)).desc(metric::POP, &pop);
            let value = timing.finish();
            let metrics: Vec<Metric> = parse(&value).collect();
            prop_assert_eq!(metrics.len(), 2);
            prop_assert_eq!(metrics[0].dur, Some(ms as f64));
            let escaped = pop.replace('\\', "\\\\").replace('"', "\\\"");
            prop_assert_eq!(metrics[1].desc, Some(escaped.as_str()));
        }
    }
}
