//! The miss-ratio curve as one self-contained HTML page (inline SVG from `edgelab_chart`: no
//! script, no font, nothing fetched): object miss ratio and byte miss ratio against cache
//! capacity, one line per choice, then the numbers as a table.
//!
//! A choice is an eviction policy (and a cache policy with `--policy` or TTLs); with tiers,
//! also a tier (and, when the tiers in front of it were given several sizes, each of those
//! sizes: a tier's misses depend on its own capacity and on the tiers before it, never on
//! the ones behind it). The
//! capacity axis is logarithmic when the capacities span a decade or more. [`curves`] is the
//! data drawn; every line carries its points in `data-x` (bytes) and `data-y` (%).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use edgelab_chart::{self as chart, Axes, Line, Scale, escape};

use crate::sim::Report;
use crate::size::format_size;

/// One point of a curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Capacity of each cache of the choice (of its tier, with tiers), bytes.
    pub capacity_bytes: u64,
    /// Requests that missed / requests that reached the cache.
    pub miss_ratio: f64,
    /// Bytes that missed / bytes requested from the cache.
    pub byte_miss_ratio: f64,
}

/// One line: a choice and its points by increasing capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// The eviction policy.
    pub eviction: &'static str,
    /// The cache policy (preset and TTLs), with one.
    pub policy: Option<String>,
    /// The tier, with tiers.
    pub tier: Option<&'static str>,
    /// The capacities of the tiers in front of this one at these points (`pop=64MiB`).
    pub upstream: Vec<(&'static str, u64)>,
    /// The points, by increasing capacity.
    pub points: Vec<CurvePoint>,
}

impl Curve {
    /// The line's name in the legend: `lru`, `lru CachingOptimized`, `lru rec` or
    /// `lru rec, pop 64MiB`.
    pub fn name(&self, with_upstream: bool) -> String {
        let mut name = self.eviction.to_string();
        if let Some(policy) = &self.policy {
            let _ = write!(name, " {policy}");
        }
        if let Some(tier) = self.tier {
            let _ = write!(name, " {tier}");
        }
        if with_upstream && !self.upstream.is_empty() {
            let sizes: Vec<String> = self
                .upstream
                .iter()
                .map(|(tier, bytes)| format!("{tier} {}", format_size(*bytes)))
                .collect();
            let _ = write!(name, ", {}", sizes.join(" "));
        }
        name
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        // Counts below 2^53 convert exactly.
        part as f64 / whole as f64
    }
}

/// The curves of `report`: one per eviction policy and cache policy (and, with tiers, per
/// tier and sizes of the tiers in front), in the report's order.
pub fn curves(report: &Report) -> Vec<Curve> {
    type Key = (
        &'static str,
        Option<String>,
        Option<&'static str>,
        Vec<(&'static str, u64)>,
    );
    let mut order: Vec<Key> = Vec::new();
    let mut points: BTreeMap<Key, BTreeMap<u64, CurvePoint>> = BTreeMap::new();
    let mut add = |key: Key, point: CurvePoint| {
        if !points.contains_key(&key) {
            order.push(key.clone());
        }
        // Points differing only in the tiers behind this one are the same point.
        points
            .entry(key)
            .or_default()
            .entry(point.capacity_bytes)
            .or_insert(point);
    };
    for o in &report.results {
        let point = CurvePoint {
            capacity_bytes: o.capacity_bytes,
            miss_ratio: ratio(o.misses, o.requests),
            byte_miss_ratio: ratio(o.byte_misses, o.bytes),
        };
        let policy = o.policy.as_ref().map(|p| p.name.clone());
        add((o.eviction, policy, None, Vec::new()), point);
    }
    for p in report.tiers.iter().flat_map(|t| &t.results) {
        for (at, t) in p.tiers.iter().enumerate() {
            let upstream = p.tiers[..at]
                .iter()
                .map(|u| (u.tier.unwrap_or_default(), u.capacity_bytes))
                .collect();
            let point = CurvePoint {
                capacity_bytes: t.capacity_bytes,
                miss_ratio: ratio(t.misses, t.requests),
                byte_miss_ratio: ratio(t.byte_misses, t.bytes),
            };
            let policy = p.policy.as_ref().map(|p| p.name.clone());
            add((p.eviction, policy, t.tier, upstream), point);
        }
    }
    order
        .into_iter()
        .map(|key| {
            let line = points.remove(&key).unwrap_or_default();
            let (eviction, policy, tier, upstream) = key;
            Curve {
                eviction,
                policy,
                tier,
                upstream,
                points: line.into_values().collect(),
            }
        })
        .collect()
}

/// A decimal byte size for a tick of a logarithmic axis (`100 MB`, `1 GB`).
fn decimal_bytes(value: f64) -> String {
    for (scale, unit) in [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")] {
        if value >= scale {
            return format!("{} {unit}", chart::format_value(value / scale));
        }
    }
    format!("{} B", chart::format_value(value))
}

/// A binary byte size for a tick of a linear axis (`256MiB`).
fn binary_bytes(value: f64) -> String {
    // Ticks are whole multiples of a power of two below 2^53: exact.
    format_size(value as u64)
}

/// The capacity axis: logarithmic when the capacities span a decade or more, else linear from 0 with ticks a power of two of bytes apart.
fn capacity_axis(curves: &[Curve]) -> (Scale, fn(f64) -> String, &'static str) {
    let all = || {
        curves
            .iter()
            .flat_map(|c| c.points.iter())
            .map(|p| p.capacity_bytes)
    };
    let (min, max) = (
        all().min().unwrap_or(1).max(1),
        all().max().unwrap_or(1).max(1),
    );
    if max / min >= 10 {
        // A quarter more room each side, so the end dots are not on the frame.
        let scale = Scale::log_between(min as f64 / 1.25, max as f64 * 1.25);
        return (scale, decimal_bytes, "cache capacity, bytes (log scale)");
    }
    let mut step = 1u64;
    while max / step > 6 {
        step *= 2;
    }
    let scale = Scale::Linear {
        max: (max.div_ceil(step) * step) as f64,
        step: step as f64,
    };
    (scale, binary_bytes, "cache capacity, bytes")
}

/// The dash of a tier's lines: PoPs solid, RECs dashed, the shield dotted.
fn tier_dash(tier: Option<&str>) -> Option<&'static str> {
    match tier {
        Some("rec") => Some("7 4"),
        Some("shield") => Some("2 3"),
        _ => None,
    }
}

/// One chart of the page: `bytes` picks the byte miss ratio.
fn curve_chart(curves: &[Curve], bytes: bool) -> String {
    let with_upstream = curves.iter().any(|c| {
        curves.iter().any(|d| {
            (d.eviction, &d.policy, d.tier) == (c.eviction, &c.policy, c.tier)
                && d.upstream != c.upstream
        })
    });
    let value = |p: &CurvePoint| {
        100.0
            * if bytes {
                p.byte_miss_ratio
            } else {
                p.miss_ratio
            }
    };
    let lines: Vec<Line> = curves
        .iter()
        .enumerate()
        .map(|(at, curve)| Line {
            name: curve.name(with_upstream),
            color: chart::PALETTE[at % chart::PALETTE.len()],
            dash: tier_dash(curve.tier),
            points: curve
                .points
                .iter()
                .map(|p| (p.capacity_bytes as f64, value(p)))
                .collect(),
            markers: true,
        })
        .collect();
    let top = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let (x, x_format, x_label) = capacity_axis(curves);
    let (chart_id, title) = if bytes {
        ("byte-miss-ratio", "Byte miss ratio by cache capacity (%)")
    } else {
        ("miss-ratio", "Object miss ratio by cache capacity (%)")
    };
    let axes = Axes {
        chart: chart_id,
        title,
        x,
        x_label,
        x_format,
        y: Scale::linear_to(top.max(1.0)),
        y_unit: "%",
        y_format: chart::format_value,
    };
    chart::line_chart(&axes, &lines)
}

/// The numbers behind the curves.
fn table(curves: &[Curve]) -> String {
    let mut out = String::from(
        "<table class=\"curve\"><tr><th>choice</th><th>capacity</th><th>miss ratio</th>\
<th>byte miss ratio</th></tr>",
    );
    for curve in curves {
        for p in &curve.points {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{:.2}%</td><td>{:.2}%</td></tr>",
                escape(&curve.name(true)),
                format_size(p.capacity_bytes),
                p.miss_ratio * 100.0,
                p.byte_miss_ratio * 100.0
            );
        }
    }
    out.push_str("</table>");
    out
}

/// The page's opening facts: the trace, its counts, the choices and how long it took.
fn facts(report: &Report, trace: &str, elapsed: Duration) -> String {
    let tiers = report.tiers.as_ref().map_or(String::new(), |t| {
        format!(
            "; tiers {}{}",
            t.tiers.join(" → "),
            t.shield
                .as_deref()
                .map(|s| format!(" (shield {s})"))
                .unwrap_or_default()
        )
    });
    format!(
        "<p class=\"facts\">Trace <b>{}</b>: {} requests for {} distinct objects, {} bytes \
requested. Eviction {}{}. All in one pass: {}.</p>",
        escape(trace),
        report.requests,
        report.objects,
        report.bytes,
        escape(&report.eviction),
        escape(&tiers),
        escape(&report.timing(elapsed))
    )
}

/// The page: `trace` names the input, `elapsed` is how long the replay took.
pub fn page(report: &Report, trace: &str, elapsed: Duration) -> String {
    let curves = curves(report);
    let mut body = facts(report, trace, elapsed);
    body.push_str(
        "<p>Each line is one choice; each dot a capacity replayed. Lower is better: a miss is \
a request the next tier (or the origin) serves.</p>",
    );
    body.push_str(&curve_chart(&curves, false));
    body.push_str(&curve_chart(&curves, true));
    body.push_str(&table(&curves));
    let name = std::path::Path::new(trace)
        .file_name()
        .map_or(trace.into(), |n| n.to_string_lossy());
    chart::page(
        &format!("edgelab replay: miss-ratio curve of {name}"),
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Eviction;
    use crate::sim::tests::trace;
    use crate::trace::Request;
    use crate::{Router, TierSet, capacity_grid, simulate_choices, simulate_tiered};

    const ITEMS: [(u64, u64); 8] = [
        (1, 10),
        (2, 10),
        (1, 10),
        (3, 10),
        (1, 10),
        (2, 10),
        (4, 30),
        (1, 10),
    ];

    #[test]
    fn a_curve_per_eviction_with_a_point_per_capacity() {
        let evictions = [Eviction::Lru, Eviction::Fifo, Eviction::ClockPro];
        let capacities = [30, 10, 20, 400];
        let report = simulate_choices(trace(&ITEMS), &evictions, &capacities).unwrap();
        let curves = curves(&report);
        assert_eq!(curves.len(), evictions.len());
        let points: usize = curves.iter().map(|c| c.points.len()).sum();
        assert_eq!(points, capacities.len() * evictions.len());
        for (curve, eviction) in curves.iter().zip(evictions) {
            assert_eq!(curve.eviction, eviction.as_str());
            let drawn: Vec<u64> = curve.points.iter().map(|p| p.capacity_bytes).collect();
            assert_eq!(drawn, [10, 20, 30, 400], "by increasing capacity");
        }
        // LRU at 20 bytes (two objects): 1 2 1h 3 1h 2 4(too large) 1h → 5 misses of 8,
        // 70 of 100 bytes.
        let lru20 = curves[0].points[1];
        assert_eq!(lru20.miss_ratio, 5.0 / 8.0);
        assert_eq!(lru20.byte_miss_ratio, 70.0 / 100.0);
        // At 400 bytes only the first request of each object misses.
        assert_eq!(curves[1].points[3].miss_ratio, 4.0 / 8.0);

        let html = page(&report, "/traces/t.csv", Duration::from_millis(12));
        assert_eq!(html.matches("<polyline class=\"series\"").count(), 2 * 3);
        assert_eq!(html.matches("<circle class=\"point\"").count(), 2 * 12);
        assert!(
            html.contains(r#"data-series="lru" data-x="10,20,30,400" data-y="100,62.5,62.5,50""#)
        );
        assert!(html.contains("8 requests for 4 distinct objects"), "{html}");
        assert!(html.contains("miss-ratio curve of t.csv"));
        assert!(html.contains("(log scale)"), "10 B to 400 B spans a decade");
        assert!(!html.contains("<script"));
    }

    #[test]
    fn each_cache_policy_is_a_curve_of_its_own() {
        let seconds = std::time::Duration::from_secs;
        let policies = crate::PolicyGrid {
            choices: crate::policy_grid(&[], &[], &[seconds(1), seconds(60)], &[]).unwrap(),
            speed: 1.0,
        };
        let timed: Vec<_> = ITEMS
            .iter()
            .enumerate()
            .map(|(at, &(id, size))| {
                Ok(Request {
                    time: 10 * at as u64,
                    id,
                    size,
                    ..Request::default()
                })
            })
            .collect();
        let report = crate::simulate_policies(
            crate::trace::Plain(timed.into_iter()),
            &[Eviction::Lru, Eviction::Fifo],
            &[20, 400],
            &policies,
        )
        .unwrap();
        let curves = curves(&report);
        assert_eq!(curves.len(), 2 * 2, "evictions × policies");
        assert!(curves.iter().all(|c| c.points.len() == 2));
        assert_ne!(curves[0].name(false), curves[1].name(false));
        assert!(
            curves[0].name(false).starts_with("lru CachingOptimized"),
            "{curves:?}"
        );
        // Requests 10 s apart: a DefaultTTL of 1 s expires every copy before its next
        // request; with a minute, only object 1's last request (70 s after it was stored)
        // finds it expired, on top of the 4 first requests.
        assert_eq!(curves[0].points[1].miss_ratio, 1.0);
        assert_eq!(curves[1].points[1].miss_ratio, 5.0 / 8.0);
    }

    #[test]
    fn a_narrow_span_gets_a_linear_axis_in_binary_units() {
        let mib = 1 << 20;
        let report =
            simulate_choices(trace(&ITEMS), &[Eviction::Lru], &[128 * mib, 1024 * mib]).unwrap();
        let html = page(&report, "t", Duration::ZERO);
        assert!(!html.contains("(log scale)"));
        assert!(
            html.contains(">256MiB</text>") && html.contains(">1GiB</text>"),
            "{html}"
        );
    }

    #[test]
    fn tiers_get_a_curve_per_tier_and_size_in_front() {
        let tiers: TierSet = "pop,shield".parse().unwrap();
        let items: Vec<_> = ["pop=10B", "pop=20B", "shield=20B", "shield=40B"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let grid = capacity_grid(tiers, &items).unwrap();
        let origin = edgelab_geo::Topology::embedded()
            .resolve("us-east-1")
            .unwrap()
            .coordinates();
        let report = simulate_tiered(
            trace(&ITEMS),
            &[Eviction::Lru, Eviction::Fifo],
            Router::new(tiers, origin),
            grid,
        )
        .unwrap();
        let curves = curves(&report);
        let names: Vec<String> = curves.iter().map(|c| c.name(true)).collect();
        assert_eq!(
            names,
            [
                "lru pop",
                "lru shield, pop 10B",
                "lru shield, pop 20B",
                "fifo pop",
                "fifo shield, pop 10B",
                "fifo shield, pop 20B"
            ]
        );
        // The PoP's points do not repeat for each shield size.
        assert_eq!(curves[0].points.len(), 2);
        assert_eq!(curves[1].points.len(), 2);
        let html = page(&report, "t", Duration::from_millis(1));
        assert_eq!(html.matches("<polyline class=\"series\"").count(), 2 * 6);
        assert!(
            html.contains("stroke-dasharray=\"2 3\""),
            "the shield dotted"
        );
    }
}
