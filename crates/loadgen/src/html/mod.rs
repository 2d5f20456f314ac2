//! Self-contained HTML reports with inline SVG charts: no script, no font, no network, so a
//! report renders the same offline, in CI artefacts and in a mail attachment.
//!
//! Layout: [`svg`] (the workspace's chart crate, `edgelab_chart`) draws axes, lines, grouped
//! bars, legends and the page around them; [`map`] draws the world map of
//! where the requests went; this module picks what to draw from a [`Report`] or
//! [`Comparison`]: the per-place table, the map with a table of each client's modelled path,
//! the latency CDF and percentiles, the share of responses each tier served over time, the
//! origin's load per second and the emulator's own error. Every series carries its numbers in `data-*` attributes (see
//! [`svg`]), which the browser test in `.ci/e2e/report-browser.sh` checks.

pub mod map;
pub use edgelab_chart as svg;

use std::fmt::Write as _;

use crate::compare::{Comparison, human_bytes};
use crate::map::RunMap;
use crate::record::Tier;
use crate::report::{Report, percent};
use svg::{Axes, BarGroup, Line, Scale, escape};

/// A colour per run, in run order (direct, edge, ga).
const RUN_COLORS: [&str; 3] = ["#d9534f", "#2a7ab0", "#3c9d5d"];
/// A colour per place in the CDF chart.
const PLACE_COLORS: [&str; 8] = svg::PALETTE;
/// The dash of each run's lines in the CDF chart (direct dashed, edge solid, ga dotted).
const RUN_DASHES: [Option<&str>; 3] = [Some("7 4"), None, Some("2 3")];

fn run_color(index: usize) -> &'static str {
    RUN_COLORS[index % RUN_COLORS.len()]
}

/// What a tier is called in the report, and its colour.
fn tier_name(tier: Tier) -> (&'static str, &'static str) {
    match tier {
        Tier::Edge => ("served at the PoP", "#2a7ab0"),
        Tier::Rec => ("served at a REC", "#8e44ad"),
        Tier::Shield => ("served at the shield", "#e67e22"),
        Tier::Origin => ("served by the origin", "#d9534f"),
        Tier::None => ("direct (no CDN)", "#7f7f7f"),
    }
}

fn report_facts(report: &Report) -> String {
    format!(
        "<p>{}: seed {}, {:.1} s, {} requests ({:.0}/s), {} errors, hit ratio {}{}</p>",
        escape(&report.label),
        report.seed,
        report.elapsed_s,
        report.totals.completed,
        report.totals.rate_per_s,
        report.totals.errors,
        percent(report.totals.hit_ratio),
        if report.interrupted {
            ", interrupted (partial)"
        } else {
            ""
        }
    )
}

/// The emulator's own error per run: send lateness and link delivery error, with the
/// saturation warning in words when there is one.
fn emulator_panel(runs: &[&Report]) -> String {
    let mut out = String::from(
        "<h2>Emulator error (included in every latency above)</h2><table><tr><th>run</th>\
<th>send lateness p50 / p99 / max ms</th><th>emulation error p50 / p99 / max ms</th>\
<th>link deliveries</th><th>tier links error p50 / p99 / max ms</th></tr>",
    );
    let stats = |s: &crate::report::LatenessStats| {
        if s.count == 0 {
            "-".to_string()
        } else {
            format!("{:.3} / {:.3} / {:.3}", s.p50_ms, s.p99_ms, s.max_ms)
        }
    };
    for report in runs {
        let own = &report.emulator_error;
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&report.label),
            stats(&own.send_lateness),
            stats(&own.emulation),
            own.emulation.count,
            stats(&own.tier_links)
        );
    }
    out.push_str("</table>");
    for report in runs {
        if let Some(warning) = &report.emulator_error.warning {
            let _ = write!(
                out,
                "<p style=\"border-left:4px solid #c0392b;padding-left:8px\"><b>{}: {}</b></p>",
                escape(&report.label),
                escape(warning)
            );
        }
        if let Some(part) = &report.emulator_error.late_in_part {
            let _ = write!(
                out,
                "<p style=\"border-left:4px solid #e67e22;padding-left:8px\"><b>{}: {}</b></p>",
                escape(&report.label),
                escape(part)
            );
        }
    }
    for report in runs {
        out.push_str(&error_chart(report));
    }
    out
}

/// One run's emulator error over time: the p99 of each interval for the client links, the
/// tier links and send lateness (intervals without values left out), on a log scale, with
/// the bound the report warns above as a dashed line. Empty without a series.
fn error_chart(report: &Report) -> String {
    let own = &report.emulator_error;
    if own.series.is_empty() {
        return String::new();
    }
    type Pick = fn(&crate::report::ErrorPoint) -> &crate::report::PointStats;
    let parts: [(&str, &'static str, Pick); 3] = [
        ("client links p99", "#2a7ab0", |p| &p.client_links),
        ("tier links p99", "#8e44ad", |p| &p.tier_links),
        ("send lateness p99", "#e67e22", |p| &p.send_lateness),
    ];
    let mut lines: Vec<Line> = parts
        .iter()
        .map(|(name, color, pick)| Line {
            name: name.to_string(),
            color,
            dash: None,
            points: own
                .series
                .iter()
                .filter(|p| pick(p).count > 0)
                .map(|p| (p.start_s + p.interval_s / 2.0, pick(p).p99_ms.max(0.001)))
                .collect(),
            markers: own.series.len() <= 60,
        })
        .filter(|line| !line.points.is_empty())
        .collect();
    let run_s = own
        .series
        .iter()
        .map(|p| p.start_s + p.interval_s)
        .fold(report.elapsed_s, f64::max);
    lines.push(Line {
        name: format!("bound {} ms", own.warn_above_ms),
        color: "#c0392b",
        dash: Some("7 4"),
        points: vec![(0.0, own.warn_above_ms), (run_s, own.warn_above_ms)],
        markers: false,
    });
    let values = || lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
    let min = values().fold(f64::INFINITY, f64::min);
    let max = values().fold(0.0, f64::max);
    let chart = format!("emulator-error-{}", report.label);
    let title = format!(
        "{}: emulator error p99 per {} s (log scale)",
        report.label,
        own.series.first().map_or(1.0, |p| p.interval_s.max(1.0))
    );
    let axes = Axes {
        chart: &chart,
        title: &title,
        x: Scale::run_time(run_s),
        x_label: "seconds since the start (each point: the middle of its interval)",
        x_format: svg::format_value,
        y: Scale::log_over(min, max),
        y_unit: " ms",
        y_format: svg::format_value,
    };
    svg::line_chart(&axes, &lines)
}

fn triple(report: &Report, place: &str) -> String {
    report
        .places
        .iter()
        .find(|p| p.place == place)
        .map_or("-".to_string(), |p| {
            format!(
                "{:.1} / {:.1} / {:.1}",
                p.latency.p50_ms, p.latency.p90_ms, p.latency.p99_ms
            )
        })
}

/// The per-place table: p50/p90/p99 per run, the edge/direct ratio and where the edge run's
/// responses were served.
fn places_table(runs: &[&Report], places: &[String], cdn: Option<&Report>) -> String {
    let mut out = String::from("<table class=\"places\"><tr><th>place</th>");
    for run in runs {
        let _ = write!(out, "<th>{} p50 / p90 / p99 ms</th>", escape(&run.label));
    }
    if runs.len() > 1 {
        let _ = write!(
            out,
            "<th>{} / {} p50</th>",
            escape(&runs[1].label),
            escape(&runs[0].label)
        );
    }
    if cdn.is_some() {
        out.push_str("<th>served at the PoP</th><th>at a REC / shield</th><th>by the origin</th>");
    }
    out.push_str("</tr>");
    let p50 = |r: &Report, place: &str| {
        r.places
            .iter()
            .find(|p| p.place == place)
            .map(|p| p.latency.p50_ms)
    };
    for place in places {
        let _ = write!(out, "<tr><td>{}</td>", escape(place));
        for run in runs {
            let _ = write!(out, "<td>{}</td>", triple(run, place));
        }
        if let [direct, edge, ..] = runs {
            let ratio = p50(edge, place)
                .zip(p50(direct, place))
                .filter(|(_, d)| *d > 0.0)
                .map_or("-".to_string(), |(e, d)| format!("{:.2}", e / d));
            let _ = write!(out, "<td>{ratio}</td>");
        }
        if let Some(cdn) = cdn {
            for share in crate::compare::served_shares(cdn, place) {
                let _ = write!(out, "<td>{}</td>", percent(share));
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

fn origin_table(comparison: &Comparison) -> String {
    let o = &comparison.origin;
    format!(
        "<table class=\"origin\"><tr><th>origin load{}</th><th>direct</th><th>edge</th><th>saved</th></tr>\
<tr><td>requests</td><td>{:.0}</td><td>{:.0}</td><td>{}</td></tr>\
<tr><td>bytes</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        if o.source == "metrics" {
            ""
        } else {
            " (estimated from responses)"
        },
        o.direct_requests,
        o.edge_requests,
        percent(o.request_offload),
        human_bytes(o.direct_bytes),
        human_bytes(o.edge_bytes),
        percent(o.byte_offload)
    )
}

/// The latency CDF of every place in every run (log time axis): a colour per place, a dash
/// per run.
fn cdf_chart(runs: &[&Report], places: &[String]) -> String {
    let mut lines = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        for (p, place) in places.iter().enumerate() {
            let Some(summary) = run.places.iter().find(|s| &s.place == place) else {
                continue;
            };
            lines.push(Line {
                name: format!("{place} {}", run.label),
                color: PLACE_COLORS[p % PLACE_COLORS.len()],
                dash: RUN_DASHES[r % RUN_DASHES.len()],
                points: summary.cdf.iter().map(|c| (c.ms, c.fraction)).collect(),
                markers: false,
            });
        }
    }
    if lines.iter().all(|l| l.points.is_empty()) {
        return String::new();
    }
    let all = || lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let min = all().fold(f64::INFINITY, f64::min);
    let max = all().fold(0.0, f64::max);
    let axes = Axes {
        chart: "cdf",
        title: "Latency distribution per place (CDF; from intended send)",
        x: Scale::log_over(min, max),
        x_label: "latency, ms (log scale)",
        x_format: svg::format_value,
        y: Scale::linear_to(1.0),
        y_unit: "",
        y_format: svg::format_value,
    };
    svg::line_chart(&axes, &lines)
}

/// p50/p90/p99 per place, a bar per run.
fn percentile_chart(runs: &[&Report], places: &[String]) -> String {
    let groups: Vec<BarGroup> = places
        .iter()
        .map(|place| {
            let pick = |f: fn(&crate::report::LatencySummary) -> f64| {
                runs.iter()
                    .map(|r| {
                        r.places
                            .iter()
                            .find(|p| &p.place == place)
                            .map_or(0.0, |p| f(&p.latency))
                    })
                    .collect()
            };
            BarGroup {
                label: place.clone(),
                clusters: vec![
                    ("p50", pick(|l| l.p50_ms)),
                    ("p90", pick(|l| l.p90_ms)),
                    ("p99", pick(|l| l.p99_ms)),
                ],
            }
        })
        .collect();
    let series: Vec<(&str, &'static str)> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.label.as_str(), run_color(i)))
        .collect();
    svg::bar_chart(
        "percentiles",
        "Latency percentiles per place (ms, from intended send)",
        &series,
        &groups,
        " ms",
    )
}

/// The seconds of `run`'s timeline the tier chart draws: the whole ones. A last interval
/// shorter than a second holds only the last responses to arrive (the slowest), so its
/// shares swing; it is left out (and the caption says so) unless nothing else is left.
fn whole_seconds(run: &Report) -> (Vec<&crate::report::TimelinePoint>, Option<f64>) {
    let (whole, partial): (Vec<_>, Vec<_>) = run
        .timeline
        .iter()
        .filter(|p| p.responses > 0)
        .partition(|p| p.interval_s >= 1.0 && (p.second + 1) as f64 <= run.elapsed_s + 1e-6);
    match partial.last() {
        Some(last) if !whole.is_empty() => {
            let left_out = (run.elapsed_s - last.second as f64).clamp(0.0, 1.0);
            (whole, Some(left_out))
        }
        _ => (whole.into_iter().chain(partial).collect(), None),
    }
}

/// The share of responses each tier served, per second of `run` (%), each point drawn at
/// the end of its second, over the run's time axis.
fn tier_chart(run: &Report) -> String {
    let (seconds, left_out) = whole_seconds(run);
    let mut lines = Vec::new();
    for tier in [Tier::Edge, Tier::Rec, Tier::Shield, Tier::Origin] {
        let points: Vec<(f64, f64)> = seconds
            .iter()
            .map(|p| {
                let served = p
                    .served
                    .iter()
                    .find(|t| t.tier == tier)
                    .map_or(0, |t| t.responses);
                let end = p.second as f64 + p.interval_s;
                (end, served as f64 * 100.0 / p.responses as f64)
            })
            .collect();
        if points.iter().any(|p| p.1 > 0.0) {
            let (name, color) = tier_name(tier);
            lines.push(Line {
                name: name.to_string(),
                color,
                dash: None,
                points,
                markers: false,
            });
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    let chart = format!("tiers-{}", run.label);
    let title = format!(
        "Where the {} run's responses were served, per second (%)",
        run.label
    );
    let axes = Axes {
        chart: &chart,
        title: &title,
        x: Scale::run_time(run.elapsed_s),
        x_label: "seconds since the start (each point: the second ending there)",
        x_format: svg::format_value,
        y: Scale::linear_to(100.0),
        y_unit: "%",
        y_format: svg::format_value,
    };
    let mut out = svg::line_chart(&axes, &lines);
    if let Some(left_out) = left_out {
        let _ = write!(
            out,
            "<p class=\"caption\">The run's last {left_out:.1} s, shorter than a second, is \
left out: it holds only the last responses to arrive, the slowest, and its shares would swing.</p>"
        );
    }
    out
}

/// Origin requests or bytes per second of each run, the timeline's values as they are (each
/// a count since the scrape a second before, drawn at its scrape; the run's last part, after
/// the last scrape, is not in it), over the longest run's time axis.
fn origin_chart(runs: &[&Report], bytes: bool) -> String {
    let lines: Vec<Line> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, run)| {
            let origin = run.origin.as_ref().filter(|o| !o.timeline.is_empty())?;
            Some(Line {
                name: run.label.clone(),
                color: run_color(i),
                dash: None,
                points: origin
                    .timeline
                    .iter()
                    .map(|p| {
                        let value = if bytes { p.response_bytes } else { p.requests };
                        (p.second as f64, value)
                    })
                    .collect(),
                markers: false,
            })
        })
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let all = || lines.iter().flat_map(|l| l.points.iter());
    let run_s = runs.iter().map(|r| r.elapsed_s).fold(0.0, f64::max);
    let x_max = all().map(|p| p.0).fold(run_s, f64::max);
    let y_max = all().map(|p| p.1).fold(0.0, f64::max);
    let (chart, title) = if bytes {
        ("origin-bytes", "Origin response bytes per second")
    } else {
        ("origin-requests", "Origin requests per second")
    };
    let axes = Axes {
        chart,
        title,
        x: Scale::run_time(x_max),
        x_label: "seconds since the start (each point: the second ending there)",
        x_format: svg::format_value,
        y: Scale::linear_to(y_max),
        y_unit: if bytes { "/s" } else { "" },
        y_format: if bytes {
            human_bytes
        } else {
            svg::format_value
        },
    };
    svg::line_chart(&axes, &lines)
}

/// The map of where the runs' requests went and, under it, each client's modelled path with
/// its RTTs (empty when no run has a map).
fn map_section(runs: &[&Report]) -> String {
    let maps: Vec<&RunMap> = runs.iter().filter_map(|r| r.map.as_ref()).collect();
    if maps.is_empty() {
        return String::new();
    }
    let merged = RunMap::merged(maps);
    let mut out = String::from(
        "<h2>Where the requests went</h2><p>Each client's modelled path, drawn through the hubs \
of the long-haul graph it crosses: straight to the origin (direct), through its PoP, REC and \
the shield to the origin (edge: the path of a miss; a hit ends at the PoP), or into Global \
Accelerator at its PoP (ga). Numbers are modelled round-trip times; hover a path for every hop.</p>",
    );
    out.push_str(&map::svg(
        &merged,
        "Clients, PoPs, RECs, the shield and the origin, with each client's modelled path",
    ));
    out.push_str(
        "<table class=\"paths\"><tr><th>client</th><th>run</th><th style=\"text-align:left\">modelled path (RTT of each hop, ms)</th>\
<th>to the first stop ms</th><th>to the origin ms</th></tr>",
    );
    for path in &merged.paths {
        // Clients by name, the CDN's places by id (a PoP `IAD` and its REC `rec:IAD` apart).
        let name = |id: &str| match merged.place(id) {
            Some(p) if p.kind == crate::map::MapPlaceKind::Client => p.label.clone(),
            _ => id.to_string(),
        };
        let stops: Vec<String> = path
            .hops
            .first()
            .map(|h| name(&h.from))
            .into_iter()
            .chain(
                path.hops
                    .iter()
                    .map(|h| format!("{} ({:.1})", name(&h.to), h.rtt_ms)),
            )
            .collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            escape(&path.place),
            path.mode.as_str(),
            escape(&stops.join(" → ")),
            path.hops.first().map_or(0.0, |h| h.rtt_ms),
            path.rtt_ms
        );
    }
    out.push_str("</table>");
    out
}

/// The charts shared by both pages.
fn charts(runs: &[&Report], places: &[String]) -> String {
    let mut out = String::from("<h2>Latency</h2>");
    out.push_str(&cdf_chart(runs, places));
    out.push_str(&percentile_chart(runs, places));
    let tiers: String = runs.iter().map(|r| tier_chart(r)).collect();
    if !tiers.is_empty() {
        out.push_str("<h2>Cache tiers</h2>");
        out.push_str(&tiers);
    }
    out.push_str("<h2>Origin load</h2>");
    let requests = origin_chart(runs, false);
    if requests.is_empty() {
        out.push_str(
            "<p>Origin load over time: no origin <code>/metrics</code> URLs were given.</p>",
        );
    } else {
        out.push_str(&requests);
        out.push_str(&origin_chart(runs, true));
    }
    out
}

/// The HTML report of one run.
pub fn single(report: &Report) -> String {
    let runs = [report];
    let places: Vec<String> = report.places.iter().map(|p| p.place.clone()).collect();
    let cdn = report.totals.hit_ratio.is_some().then_some(report);
    let mut body = report_facts(report);
    body.push_str(&places_table(&runs, &places, cdn));
    body.push_str(&map_section(&runs));
    body.push_str(&charts(&runs, &places));
    body.push_str(&emulator_panel(&runs));
    svg::page(&format!("edgelab loadgen: {}", report.label), &body)
}

/// The HTML report of a direct-vs-edge comparison.
pub fn comparison(comparison: &Comparison) -> String {
    svg::page(
        "edgelab compare: direct vs edge",
        &comparison_section(comparison),
    )
}

/// A whole self-contained page (styles inline) titled `title` around `body`, for reports
/// made of several sections (the tour of `edgelab demo --tour`).
pub fn document(title: &str, body: &str) -> String {
    svg::page(title, body)
}

/// The body of [`comparison`]'s page: each run's facts, the takeaway, the tables, the charts
/// and the emulator panel, to place as one section of a larger page.
pub fn comparison_section(comparison: &Comparison) -> String {
    let runs = comparison.runs();
    let places: Vec<String> = comparison.places.iter().map(|p| p.place.clone()).collect();
    let mut body = String::new();
    for report in &runs {
        body.push_str(&report_facts(report));
    }
    let _ = write!(
        body,
        "<p class=\"takeaway\"><b>{}</b></p>",
        escape(&comparison.takeaway()).replace('\n', "<br>")
    );
    body.push_str(&places_table(&runs, &places, Some(&comparison.edge)));
    body.push_str(&origin_table(comparison));
    body.push_str(&map_section(&runs));
    body.push_str(&charts(&runs, &places));
    body.push_str(&emulator_panel(&runs));
    body
}

#[cfg(test)]
pub(crate) mod tests;
