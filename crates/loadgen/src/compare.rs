//! Direct vs edge (and Global Accelerator) on the same workload: per-place percentiles side by
//! side with their ratio, the origin load the edges saved, and who served the edge traffic.
//!
//! Pure: built from finished [`Report`]s, so a comparison can also be made from saved JSON.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::record::Tier;
use crate::report::{Report, TierShare, percent};

/// p50/p90/p99 of one place in one run, milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// 50th percentile.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

/// One place across the runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaceComparison {
    /// Place label.
    pub place: String,
    /// Direct run.
    pub direct: Option<Percentiles>,
    /// Edge run.
    pub edge: Option<Percentiles>,
    /// Global Accelerator run.
    pub ga: Option<Percentiles>,
    /// edge / direct per percentile (below 1: the edge is faster).
    pub edge_ratio: Option<Percentiles>,
    /// ga / direct per percentile.
    pub ga_ratio: Option<Percentiles>,
    /// Hit ratio of this place in the edge run.
    pub edge_hit_ratio: Option<f64>,
}

/// How much origin load the edges saved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OriginComparison {
    /// `metrics` when both runs scraped the origin's `/metrics`, else `responses` (direct:
    /// every response; edge: responses whose tier was the origin) — an estimate.
    pub source: String,
    /// Origin requests in the direct run.
    pub direct_requests: f64,
    /// Origin requests in the edge run.
    pub edge_requests: f64,
    /// 1 − edge / direct.
    pub request_offload: Option<f64>,
    /// Origin response bytes in the direct run.
    pub direct_bytes: f64,
    /// Origin response bytes in the edge run.
    pub edge_bytes: f64,
    /// 1 − edge / direct.
    pub byte_offload: Option<f64>,
}

/// The side-by-side view of two or three runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Per place.
    pub places: Vec<PlaceComparison>,
    /// Origin load.
    pub origin: OriginComparison,
    /// Who served the edge run's responses.
    pub edge_tiers: Vec<TierShare>,
    /// The direct run.
    pub direct: Report,
    /// The edge run.
    pub edge: Report,
    /// The Global Accelerator run.
    pub ga: Option<Report>,
    /// The warm-up run through the edges from cold caches, when the edge run was measured
    /// warm (`edgelab demo`); reported on its own, never mixed into the edge run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold: Option<Report>,
}

/// The share of a place's responses in `report` served at the PoP, at a REC or the shield,
/// and by the origin (through the CDN); `None` without CDN responses.
pub fn served_shares(report: &Report, place: &str) -> [Option<f64>; 3] {
    let mut counts = [0u64; 3];
    for group in report.groups.iter().filter(|g| g.place == place) {
        match group.tier {
            Tier::Edge => counts[0] += group.responses,
            Tier::Rec | Tier::Shield => counts[1] += group.responses,
            Tier::Origin => counts[2] += group.responses,
            Tier::None => {}
        }
    }
    let total: u64 = counts.iter().sum();
    counts.map(|c| (total > 0).then(|| c as f64 / total as f64))
}

/// The PoP that served most of a place's responses in `report` (its IATA code).
pub fn main_pop(report: &Report, place: &str) -> Option<String> {
    let mut pops: Vec<(&str, u64)> = Vec::new();
    for group in report
        .groups
        .iter()
        .filter(|g| g.place == place && g.pop != "-")
    {
        match pops.iter_mut().find(|(p, _)| *p == group.pop) {
            Some(entry) => entry.1 += group.responses,
            None => pops.push((&group.pop, group.responses)),
        }
    }
    let (pop, _) = pops.into_iter().max_by_key(|(_, n)| *n)?;
    Some(
        pop.chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect(),
    )
}

fn tier_shares_line(tiers: &[TierShare]) -> String {
    let share = |wanted: &[Tier]| -> f64 {
        tiers
            .iter()
            .filter(|t| wanted.contains(&t.tier))
            .fold(0.0, |sum, t| sum + t.share)
            * 100.0
    };
    format!(
        "at the PoP {:.1}%, at a REC/shield {:.1}%, by the origin {:.1}%",
        share(&[Tier::Edge]),
        share(&[Tier::Rec, Tier::Shield]),
        share(&[Tier::Origin])
    )
}

fn percentiles(report: &Report, place: &str) -> Option<Percentiles> {
    report
        .places
        .iter()
        .find(|p| p.place == place && p.latency.count > 0)
        .map(|p| Percentiles {
            p50_ms: p.latency.p50_ms,
            p90_ms: p.latency.p90_ms,
            p99_ms: p.latency.p99_ms,
        })
}

fn ratio_of(top: Option<Percentiles>, bottom: Option<Percentiles>) -> Option<Percentiles> {
    let (top, bottom) = (top?, bottom?);
    let r = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let ratio = Percentiles {
        p50_ms: r(top.p50_ms, bottom.p50_ms),
        p90_ms: r(top.p90_ms, bottom.p90_ms),
        p99_ms: r(top.p99_ms, bottom.p99_ms),
    };
    (ratio.p50_ms.is_finite() && ratio.p90_ms.is_finite() && ratio.p99_ms.is_finite())
        .then_some(ratio)
}

fn offload(direct: f64, edge: f64) -> Option<f64> {
    (direct > 0.0).then(|| 1.0 - edge / direct)
}

/// Origin requests and bytes of a run, as the client saw them (fallback without metrics).
fn seen_origin_load(report: &Report) -> (f64, f64) {
    let mut requests = 0.0;
    let mut bytes = 0.0;
    for group in &report.groups {
        if matches!(group.tier, Tier::Origin | Tier::None) {
            requests += group.responses as f64;
            bytes += group.bytes as f64;
        }
    }
    (requests, bytes)
}

impl Comparison {
    /// Compares the runs (places matched by name, in the direct run's order).
    pub fn new(direct: &Report, edge: &Report, ga: Option<&Report>) -> Comparison {
        let mut names: Vec<String> = direct.places.iter().map(|p| p.place.clone()).collect();
        for report in [Some(edge), ga].into_iter().flatten() {
            for place in &report.places {
                if !names.contains(&place.place) {
                    names.push(place.place.clone());
                }
            }
        }
        let places = names
            .into_iter()
            .map(|place| {
                let d = percentiles(direct, &place);
                let e = percentiles(edge, &place);
                let g = ga.and_then(|ga| percentiles(ga, &place));
                PlaceComparison {
                    edge_ratio: ratio_of(e, d),
                    ga_ratio: ratio_of(g, d),
                    edge_hit_ratio: edge
                        .places
                        .iter()
                        .find(|p| p.place == place)
                        .and_then(|p| p.hit_ratio),
                    direct: d,
                    edge: e,
                    ga: g,
                    place,
                }
            })
            .collect();
        let origin = match (&direct.origin, &edge.origin) {
            (Some(d), Some(e)) => OriginComparison {
                source: "metrics".to_string(),
                direct_requests: d.requests,
                edge_requests: e.requests,
                request_offload: offload(d.requests, e.requests),
                direct_bytes: d.response_bytes,
                edge_bytes: e.response_bytes,
                byte_offload: offload(d.response_bytes, e.response_bytes),
            },
            _ => {
                let (dr, db) = seen_origin_load(direct);
                let (er, eb) = seen_origin_load(edge);
                OriginComparison {
                    source: "responses".to_string(),
                    direct_requests: dr,
                    edge_requests: er,
                    request_offload: offload(dr, er),
                    direct_bytes: db,
                    edge_bytes: eb,
                    byte_offload: offload(db, eb),
                }
            }
        };
        Comparison {
            places,
            origin,
            edge_tiers: edge.tiers.clone(),
            direct: direct.clone(),
            edge: edge.clone(),
            ga: ga.cloned(),
            cold: None,
        }
    }

    /// The same comparison, with the cold-cache warm-up run that preceded the edge run.
    pub fn with_cold(mut self, cold: Report) -> Comparison {
        self.cold = Some(cold);
        self
    }

    /// The runs in order: direct, edge, ga, then the cold warm-up.
    pub fn runs(&self) -> Vec<&Report> {
        let mut runs = vec![&self.direct, &self.edge];
        runs.extend(self.ga.as_ref());
        runs.extend(self.cold.as_ref());
        runs
    }

    /// What the comparison shows, in words: the place the edge helped most (its p50 from
    /// its PoP against direct), the origin's offload, and cold against warm when both ran.
    pub fn takeaway(&self) -> String {
        let mut out = String::new();
        let best = self
            .places
            .iter()
            .filter_map(|p| Some((p, p.direct?, p.edge?)))
            .filter(|(_, direct, edge)| edge.p50_ms < direct.p50_ms)
            .max_by(|a, b| (a.1.p50_ms - a.2.p50_ms).total_cmp(&(b.1.p50_ms - b.2.p50_ms)));
        if let Some((place, direct, edge)) = best {
            let pop = main_pop(&self.edge, &place.place)
                .map_or(String::from("its PoP"), |pop| pop.to_string());
            let _ = write!(
                out,
                "{}: {:.0} ms from {pop} instead of {:.0} ms direct (p50)",
                place.place, edge.p50_ms, direct.p50_ms
            );
        } else if !self.places.is_empty() {
            out.push_str("no place was faster through the edges than direct (p50)");
        }
        let o = &self.origin;
        if let (Some(requests), Some(bytes)) = (o.request_offload, o.byte_offload) {
            let _ = write!(
                out,
                "{}the origin served {:.0}% fewer requests and {:.0}% fewer bytes",
                if out.is_empty() { "" } else { "; " },
                requests * 100.0,
                bytes * 100.0
            );
        }
        out.push('.');
        if let Some(cold) = &self.cold {
            let _ = write!(
                out,
                "\nFrom cold caches the edge run was served {}; warm, {}.",
                tier_shares_line(&cold.tiers),
                tier_shares_line(&self.edge_tiers)
            );
        }
        out
    }

    /// The comparison as pretty JSON (the summary plus the full reports).
    pub fn to_json(&self) -> String {
        // invariant: only strings, numbers and finite floats (ratios are checked finite).
        serde_json::to_string_pretty(self).expect("a comparison always serialises")
    }

    /// The side-by-side terminal table.
    pub fn table(&self) -> String {
        let fmt = |p: Option<Percentiles>, digits: usize| {
            p.map_or("-".to_string(), |p| {
                format!(
                    "{:.d$} / {:.d$} / {:.d$}",
                    p.p50_ms,
                    p.p90_ms,
                    p.p99_ms,
                    d = digits
                )
            })
        };
        let with_ga = self.ga.is_some();
        let mut out = String::new();
        let _ = write!(
            out,
            "{:<16} {:>26} {:>26} {:>20}",
            "place", "direct p50/p90/p99 ms", "edge p50/p90/p99 ms", "edge/direct"
        );
        if with_ga {
            let _ = write!(out, " {:>26} {:>20}", "ga p50/p90/p99 ms", "ga/direct");
        }
        let _ = writeln!(out, " {:>7} {:>10} {:>7}", "at PoP", "REC/shield", "origin");
        for place in &self.places {
            let _ = write!(
                out,
                "{:<16} {:>26} {:>26} {:>20}",
                place.place,
                fmt(place.direct, 1),
                fmt(place.edge, 1),
                fmt(place.edge_ratio, 2)
            );
            if with_ga {
                let _ = write!(
                    out,
                    " {:>26} {:>20}",
                    fmt(place.ga, 1),
                    fmt(place.ga_ratio, 2)
                );
            }
            let [pop, rec, origin] = served_shares(&self.edge, &place.place);
            let _ = writeln!(
                out,
                " {:>7} {:>10} {:>7}",
                percent(pop),
                percent(rec),
                percent(origin)
            );
        }
        let o = &self.origin;
        let _ = writeln!(
            out,
            "\norigin requests: direct {:.0}, edge {:.0}, saved {:.0} ({} offload){}",
            o.direct_requests,
            o.edge_requests,
            (o.direct_requests - o.edge_requests).max(0.0),
            percent(o.request_offload),
            if o.source == "metrics" {
                ""
            } else {
                " [estimated from responses]"
            }
        );
        let _ = writeln!(
            out,
            "origin bytes:    direct {}, edge {}, saved {} ({} offload)",
            human_bytes(o.direct_bytes),
            human_bytes(o.edge_bytes),
            human_bytes((o.direct_bytes - o.edge_bytes).max(0.0)),
            percent(o.byte_offload)
        );
        let _ = writeln!(
            out,
            "edge run served: {} (X-Cache hits at any tier {})",
            tier_shares_line(&self.edge_tiers),
            percent(self.edge.totals.hit_ratio)
        );
        if let Some(cold) = &self.cold {
            let _ = writeln!(
                out,
                "{} run (warm-up, cold caches) served: {}",
                cold.label,
                tier_shares_line(&cold.tiers)
            );
        }
        for run in self.runs() {
            let own = run.emulator_error.summary_lines();
            for line in own.lines() {
                let _ = writeln!(out, "{} {line}", run.label);
            }
        }
        for run in self.runs() {
            if let Some(warning) = &run.emulator_error.warning {
                let _ = writeln!(out, "warning ({}): {warning}", run.label);
            }
        }
        out
    }

    /// The largest own-error p99 of the runs, ms (see
    /// [`EmulatorError::worst_p99_ms`](crate::report::EmulatorError::worst_p99_ms)): what
    /// `--max-error` checks.
    pub fn worst_error_p99_ms(&self) -> f64 {
        self.runs()
            .iter()
            .map(|r| r.emulator_error.worst_p99_ms())
            .fold(0.0, f64::max)
    }
}

/// `1.2 MiB`.
pub fn human_bytes(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes.max(0.0);
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{LatencySummary, OriginLoad, PlaceSummary};
    use crate::target::Mode;
    use std::time::Duration;

    fn report(label: &str, p50: f64, origin_requests: f64) -> Report {
        let json = serde_json::json!({
            "version": 1, "label": label, "seed": 1,
            "settings": { "arrival": { "kind": "constant", "rate": 10.0 }, "closed": false, "duration_s": 1.0,
                "requests": null, "connections": 1, "timeout_s": 1.0, "zipf_s": 1.0, "objects": 1 },
            "targets": [], "interrupted": false, "elapsed_s": 1.0,
            "totals": { "scheduled": 0, "completed": 0, "unfinished": 0, "responses": 0, "errors": 0,
                "hits": 0, "misses": 0, "hit_ratio": null, "bytes": 0, "rate_per_s": 0.0 },
            "latency": LatencySummary::default(), "ttfb": LatencySummary::default(),
            "places": [], "tiers": [], "groups": [], "timeline": [],
            "errors": { "total": 0, "by_kind": [], "by_place": [], "examples": [] }, "origin": null
        });
        let mut report: Report = serde_json::from_value(json).unwrap();
        report.places.push(PlaceSummary {
            place: "London".into(),
            mode: Mode::Direct,
            responses: 10,
            errors: 0,
            hits: 0,
            misses: 0,
            hit_ratio: Some(0.9),
            latency: LatencySummary {
                count: 10,
                p50_ms: p50,
                p90_ms: 2.0 * p50,
                p99_ms: 4.0 * p50,
                ..LatencySummary::default()
            },
            ttfb: LatencySummary::default(),
            cdf: Vec::new(),
            connection_waits: 0,
        });
        report.origin = Some(OriginLoad {
            metrics_urls: vec![],
            requests: origin_requests,
            response_bytes: origin_requests * 1000.0,
            timeline: vec![],
        });
        report
    }

    #[test]
    fn the_takeaway_names_the_place_its_pop_and_the_offload() {
        let comparison = crate::html::tests::fixture();
        assert_eq!(
            comparison.takeaway(),
            "Sydney: 11 ms from SYD instead of 347 ms direct (p50); the origin served 70% \
             fewer requests and 70% fewer bytes."
        );
        let mut cold = comparison.edge.clone();
        cold.label = "edge-cold".into();
        cold.tiers = vec![
            TierShare {
                tier: Tier::Edge,
                responses: 48,
                share: 0.48,
            },
            TierShare {
                tier: Tier::Origin,
                responses: 52,
                share: 0.52,
            },
        ];
        let warmed = comparison.clone().with_cold(cold);
        let words = warmed.takeaway();
        assert!(
            words.ends_with(
                "\nFrom cold caches the edge run was served at the PoP 48.0%, at a REC/shield \
             0.0%, by the origin 52.0%; warm, at the PoP 67.9%, at a REC/shield 15.4%, by the \
             origin 16.7%."
            ),
            "{words}"
        );
        assert_eq!(
            warmed.runs().last().map(|r| r.label.as_str()),
            Some("edge-cold")
        );
        let table = warmed.table();
        assert!(table.contains("at PoP REC/shield  origin"), "{table}");
        assert!(
            table.contains("edge-cold run (warm-up, cold caches) served: at the PoP 48.0%"),
            "{table}"
        );
        assert!(table.contains("  68.0%      15.2%   16.8%"), "{table}");
        let slower = Comparison::new(&comparison.edge, &comparison.direct, None);
        assert!(
            slower
                .takeaway()
                .starts_with("no place was faster through the edges than direct (p50)"),
            "{}",
            slower.takeaway()
        );
    }

    #[test]
    fn ratios_and_offload() {
        let direct = report("direct", 40.0, 1000.0);
        let edge = report("edge", 10.0, 150.0);
        let comparison = Comparison::new(&direct, &edge, None);
        let london = &comparison.places[0];
        assert_eq!(london.edge_ratio.unwrap().p50_ms, 0.25);
        assert_eq!(london.edge_ratio.unwrap().p99_ms, 0.25);
        assert_eq!(comparison.origin.source, "metrics");
        assert!((comparison.origin.request_offload.unwrap() - 0.85).abs() < 1e-12);
        assert!((comparison.origin.byte_offload.unwrap() - 0.85).abs() < 1e-12);
        let table = comparison.table();
        assert!(table.contains("40.0 / 80.0 / 160.0"), "{table}");
        assert!(table.contains("0.25 / 0.25 / 0.25"), "{table}");
        assert!(table.contains("85.0% offload"), "{table}");
        // A place missing from one run has no ratio rather than a bogus one.
        let mut other = edge.clone();
        other.places[0].place = "Tokyo".into();
        let comparison = Comparison::new(&direct, &other, None);
        assert_eq!(comparison.places.len(), 2);
        assert!(comparison.places.iter().all(|p| p.edge_ratio.is_none()));
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
    }

    #[test]
    fn emulator_error_is_in_the_table_and_the_html_with_its_warning() {
        let direct = report("direct", 40.0, 1000.0);
        let mut edge = report("edge", 10.0, 150.0);
        let delivery = edgelab_link::DeliveryErrors::new();
        delivery.record(edgelab_link::PathClass::Internet, Duration::from_millis(12));
        edge.emulator_error = crate::report::EmulatorError::new(None, &delivery);
        let comparison = Comparison::new(&direct, &edge, None);
        let table = comparison.table();
        assert!(
            table.contains("direct emulation error p50/p99/max: - (no emulated links)"),
            "{table}"
        );
        assert!(
            table.contains("edge emulation error p50/p99/max: 12.0"),
            "{table}"
        );
        assert!(table.contains("edge send lateness p50/p99: -"), "{table}");
        assert!(
            table.contains("warning (edge): the host was saturated"),
            "{table}"
        );
        assert!((comparison.worst_error_p99_ms() - 12.0).abs() < 0.05);
        let html = crate::html::comparison(&comparison);
        assert!(html.contains("Emulator error"), "the panel is there");
        assert!(
            html.contains("emulation error p99 12.0 ms"),
            "and the warning in words"
        );
    }
}
