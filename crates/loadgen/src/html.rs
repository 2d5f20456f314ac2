//! Self-contained HTML reports with inline SVG charts: no script, no font, no network, so a
//! report renders the same offline, in CI artefacts and in a mail attachment.

use std::fmt::Write as _;

use crate::compare::Comparison;
use crate::report::{Report, percent};

const COLORS: [&str; 3] = ["#d9534f", "#2a7ab0", "#3c9d5d"];
const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 60.0;
const BOTTOM: f64 = 40.0;
const TOP: f64 = 30.0;
const RIGHT: f64 = 20.0;

/// One named series of a chart.
struct Series<'a> {
    name: &'a str,
    color: &'a str,
    points: Vec<(f64, f64)>,
}

/// Escapes text for HTML/SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" upper bound for an axis.
fn nice_max(value: f64) -> f64 {
    if !(value.is_finite() && value > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if value <= step * magnitude {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn axes(out: &mut String, title: &str, y_max: f64, y_unit: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        out,
        r#"<text x="{LEFT}" y="18" font-size="13" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let plot_h = HEIGHT - TOP - BOTTOM;
    for i in 0..=4 {
        let value = y_max * i as f64 / 4.0;
        let y = HEIGHT - BOTTOM - plot_h * i as f64 / 4.0;
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}{}</text>",
            WIDTH - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            format_value(value),
            escape(y_unit)
        );
    }
}

fn format_value(value: f64) -> String {
    if value >= 100.0 || value == 0.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

fn legend(out: &mut String, names: &[(&str, &str)]) {
    let mut x = WIDTH - RIGHT - 110.0 * names.len() as f64;
    for (name, color) in names {
        let _ = write!(
            out,
            r#"<rect x="{x:.1}" y="8" width="10" height="10" fill="{color}"/><text x="{:.1}" y="17">{}</text>"#,
            x + 14.0,
            escape(name)
        );
        x += 110.0;
    }
}

/// Grouped vertical bars: one group per category, one bar per series.
fn bar_chart(
    title: &str,
    categories: &[String],
    series: &[(&str, &str, Vec<f64>)],
    unit: &str,
) -> String {
    let mut out = String::new();
    let max = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .fold(0.0, f64::max);
    let y_max = nice_max(max);
    axes(&mut out, title, y_max, unit);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let group_w = plot_w / categories.len().max(1) as f64;
    let bar_w = (group_w * 0.8 / series.len().max(1) as f64).max(1.0);
    for (c, category) in categories.iter().enumerate() {
        let group_x = LEFT + group_w * c as f64 + group_w * 0.1;
        for (s, (name, color, values)) in series.iter().enumerate() {
            let value = values.get(c).copied().unwrap_or(0.0);
            let h = plot_h * value / y_max;
            let _ = write!(
                out,
                r#"<rect x="{:.1}" y="{:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{color}"><title>{} {}: {}{}</title></rect>"#,
                group_x + bar_w * s as f64,
                HEIGHT - BOTTOM - h,
                escape(name),
                escape(category),
                format_value(value),
                escape(unit)
            );
        }
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            group_x + group_w * 0.4,
            HEIGHT - BOTTOM + 14.0,
            escape(category)
        );
    }
    let names: Vec<(&str, &str)> = series.iter().map(|s| (s.0, s.1)).collect();
    legend(&mut out, &names);
    out.push_str("</svg>");
    out
}

/// Lines over seconds.
fn line_chart(title: &str, series: &[Series<'_>], y_fixed_max: Option<f64>, unit: &str) -> String {
    let mut out = String::new();
    let x_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let y_max = y_fixed_max.unwrap_or_else(|| {
        nice_max(
            series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .fold(0.0, f64::max),
        )
    });
    axes(&mut out, title, y_max, unit);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{} s</text><text x="{LEFT}" y="{:.1}">0 s</text>"#,
        WIDTH - RIGHT,
        HEIGHT - BOTTOM + 14.0,
        format_value(x_max),
        HEIGHT - BOTTOM + 14.0
    );
    for line in series {
        if line.points.is_empty() {
            continue;
        }
        let points: Vec<String> = line
            .points
            .iter()
            .map(|(x, y)| {
                format!(
                    "{:.1},{:.1}",
                    LEFT + plot_w * x / x_max,
                    HEIGHT - BOTTOM - plot_h * (y / y_max).clamp(0.0, 1.0)
                )
            })
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            line.color,
            points.join(" ")
        );
    }
    let names: Vec<(&str, &str)> = series.iter().map(|s| (s.name, s.color)).collect();
    legend(&mut out, &names);
    out.push_str("</svg>");
    out
}

fn hit_ratio_points(report: &Report) -> Vec<(f64, f64)> {
    report
        .timeline
        .iter()
        .filter_map(|p| p.hit_ratio.map(|r| (p.second as f64 + 0.5, r * 100.0)))
        .collect()
}

/// Origin requests per second: from the scraped origin timeline when there is one, else the
/// responses the origin tier served as seen by the client.
fn origin_rate_points(report: &Report) -> Vec<(f64, f64)> {
    match &report.origin {
        Some(origin) if !origin.timeline.is_empty() => {
            let mut last = (0u64, 0.0);
            origin
                .timeline
                .iter()
                .map(|point| {
                    let seconds = (point.second.saturating_sub(last.0)).max(1) as f64;
                    let rate = (point.requests - last.1).max(0.0) / seconds;
                    last = (point.second, point.requests);
                    (point.second as f64, rate)
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
<style>body{{font-family:sans-serif;margin:2em;max-width:860px}}table{{border-collapse:collapse}}\
td,th{{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}}th:first-child,td:first-child{{text-align:left}}\
svg{{display:block;margin:1em 0}}</style></head><body><h1>{}</h1>\n{}\n</body></html>\n",
        escape(title),
        escape(title),
        body
    )
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
<th>link deliveries</th></tr>",
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
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&report.label),
            stats(&own.send_lateness),
            stats(&own.emulation),
            own.emulation.count
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
    }
    out
}

/// The HTML report of one run.
pub fn single(report: &Report) -> String {
    let mut body = report_facts(report);
    body.push_str("<table><tr><th>place</th><th>responses</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>hit</th></tr>");
    for place in &report.places {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td></tr>",
            escape(&place.place),
            place.responses,
            place.latency.p50_ms,
            place.latency.p90_ms,
            place.latency.p99_ms,
            percent(place.hit_ratio)
        );
    }
    body.push_str("</table>");
    body.push_str(&emulator_panel(&[report]));
    let categories: Vec<String> = report.places.iter().map(|p| p.place.clone()).collect();
    let pick = |f: fn(&crate::report::LatencySummary) -> f64| {
        report
            .places
            .iter()
            .map(|p| f(&p.latency))
            .collect::<Vec<_>>()
    };
    body.push_str(&bar_chart(
        "Latency percentiles per place (ms, from intended send)",
        &categories,
        &[
            ("p50", COLORS[1], pick(|l| l.p50_ms)),
            ("p90", COLORS[2], pick(|l| l.p90_ms)),
            ("p99", COLORS[0], pick(|l| l.p99_ms)),
        ],
        " ms",
    ));
    body.push_str(&line_chart(
        "Hit ratio over time (%)",
        &[Series {
            name: &report.label,
            color: COLORS[1],
            points: hit_ratio_points(report),
        }],
        Some(100.0),
        "%",
    ));
    let origin = origin_rate_points(report);
    if !origin.is_empty() {
        body.push_str(&line_chart(
            "Origin requests per second",
            &[Series {
                name: &report.label,
                color: COLORS[1],
                points: origin,
            }],
            None,
            "",
        ));
    }
    page(&format!("edgelab loadgen: {}", report.label), &body)
}

/// The HTML report of a direct-vs-edge comparison.
pub fn comparison(comparison: &Comparison) -> String {
    let runs = comparison.runs();
    let mut body = String::new();
    for report in &runs {
        body.push_str(&report_facts(report));
    }
    let _ = write!(body, "<pre>{}</pre>", escape(&comparison.table()));
    body.push_str(&emulator_panel(&runs));
    let mut categories = Vec::new();
    for place in &comparison.places {
        for q in ["p50", "p90", "p99"] {
            categories.push(format!("{} {q}", place.place));
        }
    }
    let series: Vec<(&str, &str, Vec<f64>)> = runs
        .iter()
        .enumerate()
        .map(|(i, report)| {
            let values = comparison
                .places
                .iter()
                .flat_map(|place| {
                    report
                        .places
                        .iter()
                        .find(|p| p.place == place.place)
                        .map_or([0.0; 3], |p| {
                            [p.latency.p50_ms, p.latency.p90_ms, p.latency.p99_ms]
                        })
                })
                .collect();
            (report.label.as_str(), COLORS[i % COLORS.len()], values)
        })
        .collect();
    body.push_str(&bar_chart(
        "Latency per place (ms, from intended send)",
        &categories,
        &series,
        " ms",
    ));
    let hit_series: Vec<Series<'_>> = runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.totals.hit_ratio.is_some())
        .map(|(i, r)| Series {
            name: &r.label,
            color: COLORS[i % COLORS.len()],
            points: hit_ratio_points(r),
        })
        .collect();
    body.push_str(&line_chart(
        "Hit ratio over time (%)",
        &hit_series,
        Some(100.0),
        "%",
    ));
    let origin_series: Vec<Series<'_>> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| Series {
            name: &r.label,
            color: COLORS[i % COLORS.len()],
            points: origin_rate_points(r),
        })
        .collect();
    if origin_series.iter().any(|s| !s.points.is_empty()) {
        body.push_str(&line_chart(
            "Origin requests per second",
            &origin_series,
            None,
            "",
        ));
    } else {
        body.push_str(
            "<p>Origin load over time: no origin <code>/metrics</code> URLs were given.</p>",
        );
    }
    page("edgelab compare: direct vs edge", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_max_rounds_up() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.3), 10.0);
        assert_eq!(nice_max(180.0), 200.0);
        assert_eq!(nice_max(0.021), 0.025);
    }

    #[test]
    fn charts_escape_labels_and_stay_inline() {
        let svg = bar_chart(
            "t",
            &["<a&b>".to_string()],
            &[("x", "#000", vec![3.0])],
            " ms",
        );
        assert!(svg.contains("&lt;a&amp;b&gt;"));
        assert!(!svg.contains("<a&b>"));
        assert!(!svg.contains("http://") || svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    }
}
