//! Charts for edgelab's HTML pages: axes with linear or logarithmic scales, line charts and
//! grouped bar charts as inline SVG, legends as HTML (so long names wrap instead of
//! overlapping), and [`page`], the self-contained document around them (styles inline, no
//! script, no font, no network), so a page renders the same offline, in CI artefacts and in
//! a mail attachment. The load generator's report (`edgelab_loadgen::html`) and the replay's
//! miss-ratio curve (`edgelab_replay::html`) both draw with it.
//!
//! Every drawn series carries its data in attributes (`data-series`, `data-x`, `data-y` on a
//! line, `data-value` on a bar), written with Rust's shortest round-trip float formatting, so
//! a test (or a person with the inspector) can check what is drawn against the report's JSON.

use std::fmt::Write as _;

/// Colours for series told apart by colour alone, in order (Tableau's ten, less grey and olive).
pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// Width of every chart, px.
pub const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 44.0;

/// Escapes text for HTML/SVG.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A whole self-contained page titled `title` (also its heading) around `body`: styles
/// inline, no script, nothing fetched.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
<style>body{{font-family:sans-serif;margin:2em;max-width:980px}}table{{border-collapse:collapse;margin:1em 0}}\
td,th{{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}}th:first-child,td:first-child{{text-align:left}}\
svg{{display:block;max-width:100%;height:auto}}ul.legend{{list-style:none;padding:0;margin:0 0 1.5em;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px}}\
ul.legend svg{{display:inline-block;vertical-align:middle;margin-right:4px}}</style></head><body><h1>{}</h1>\n{}\n</body></html>\n",
        escape(title),
        escape(title),
        body
    )
}

/// A "nice" upper bound for an axis.
pub fn nice_max(value: f64) -> f64 {
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

/// A tick step of 1, 2 or 5 × 10ⁿ giving at most about five steps up to `max`.
pub fn nice_step(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let rough = max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|s| s * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude)
}

/// A tick or tooltip value, with as many digits as its size needs.
pub fn format_value(value: f64) -> String {
    if value >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

/// How values map onto an axis.
#[derive(Clone, Copy, Debug)]
pub enum Scale {
    /// From 0 to `max`, ticked every `step`.
    Linear {
        /// The axis end.
        max: f64,
        /// Distance between ticks.
        step: f64,
    },
    /// Logarithmic from `min` to `max` (powers of ten from [`Scale::log_over`]).
    Log {
        /// The axis start (> 0).
        min: f64,
        /// The axis end.
        max: f64,
    },
}

impl Scale {
    /// A linear axis from 0 to the first tick at or above `max` (ticks 1, 2 or 5 × 10ⁿ apart).
    pub fn linear_to(max: f64) -> Scale {
        let step = nice_step(max);
        Scale::Linear {
            max: ((max / step).ceil() * step).max(step),
            step,
        }
    }

    /// The time axis of a run that lasted `run_s` seconds: from 0 to exactly the run's end
    /// (so the plot does not look longer than the run), ticked at round values inside it
    /// (1, 2 or 5 × 10ⁿ apart; the end itself is not ticked unless it is round). Every chart
    /// drawn against a run's time uses it.
    pub fn run_time(run_s: f64) -> Scale {
        let max = if run_s.is_finite() && run_s > 0.0 {
            run_s
        } else {
            1.0
        };
        Scale::Linear {
            max,
            step: nice_step(max),
        }
    }

    /// A logarithmic axis over whole decades covering `min..=max`.
    pub fn log_over(min: f64, max: f64) -> Scale {
        let min = min.max(0.001);
        let max = max.max(min * 10.0);
        Scale::Log {
            min: 10f64.powf(min.log10().floor()),
            max: 10f64.powf(max.log10().ceil()),
        }
    }

    /// A logarithmic axis from `min` to `max` as they are (`min` > 0), for data whose ends
    /// sit far from a power of ten (1 GiB is 1.07 × 10⁹: a whole-decade axis would end at 10¹⁰).
    pub fn log_between(min: f64, max: f64) -> Scale {
        let min = min.max(f64::MIN_POSITIVE);
        Scale::Log {
            min,
            max: max.max(min * 1.001),
        }
    }

    /// Where `value` falls, 0 (axis start) to 1 (axis end), clamped.
    pub fn fraction(self, value: f64) -> f64 {
        let f = match self {
            Scale::Linear { max, .. } => value / max,
            Scale::Log { min, max } => (value.max(min) / min).log10() / (max / min).log10(),
        };
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// The labelled ticks: every step of a linear axis up to its end; 1, 2, 5 per decade of a log axis
    /// (only the decades when there are more than three).
    pub fn ticks(self) -> Vec<f64> {
        match self {
            Scale::Linear { max, step } => {
                // Ticks at or below the end only (with room for float error in max / step).
                let steps = (max / step + 1e-9).floor() as u32;
                (0..=steps).map(|i| step * f64::from(i)).collect()
            }
            Scale::Log { min, max } => {
                let steps: &[f64] = if (max / min).log10() > 3.0 + 1e-9 {
                    &[1.0]
                } else {
                    &[1.0, 2.0, 5.0]
                };
                // Float floors of exact decades: widen by one decade each side, then keep
                // what falls on the axis.
                let (first, last) = (min.log10().floor() as i32, max.log10().ceil() as i32);
                let mut ticks = Vec::new();
                for d in first - 1..=last + 1 {
                    let base = 10f64.powi(d);
                    ticks.extend(
                        steps
                            .iter()
                            .map(|s| s * base)
                            .filter(|t| *t >= min * (1.0 - 1e-9) && *t <= max * (1.0 + 1e-9)),
                    );
                }
                ticks
            }
        }
    }
}

/// The frame of one chart.
#[derive(Clone, Debug)]
pub struct Axes<'a> {
    /// `data-chart` of the SVG (what a test selects it by).
    pub chart: &'a str,
    /// Title above the plot.
    pub title: &'a str,
    /// Horizontal scale.
    pub x: Scale,
    /// Label of the horizontal axis (with its unit).
    pub x_label: &'a str,
    /// How a horizontal tick's value is written.
    pub x_format: fn(f64) -> String,
    /// Vertical scale.
    pub y: Scale,
    /// Unit after each vertical tick.
    pub y_unit: &'a str,
    /// How a vertical tick's value is written (before its unit).
    pub y_format: fn(f64) -> String,
}

fn plot_w() -> f64 {
    WIDTH - LEFT - RIGHT
}

fn plot_h() -> f64 {
    HEIGHT - TOP - BOTTOM
}

fn px_x(axes: &Axes<'_>, x: f64) -> f64 {
    LEFT + plot_w() * axes.x.fraction(x)
}

fn px_y(axes: &Axes<'_>, y: f64) -> f64 {
    HEIGHT - BOTTOM - plot_h() * axes.y.fraction(y)
}

/// Opens the SVG and draws the title, grid, ticks and axis label.
fn frame(out: &mut String, axes: &Axes<'_>, x_ticks: bool) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" data-chart="{}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11"><text x="{LEFT}" y="18" font-size="13" font-weight="bold">{}</text>"#,
        escape(axes.chart),
        escape(axes.title)
    );
    for value in axes.y.ticks() {
        let y = px_y(axes, value);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text class=\"y-tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}{}</text>",
            WIDTH - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            (axes.y_format)(value),
            escape(axes.y_unit)
        );
    }
    if x_ticks {
        for value in axes.x.ticks() {
            let x = px_x(axes, value);
            let _ = write!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/><text class=\"x-tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                HEIGHT - BOTTOM,
                HEIGHT - BOTTOM + 14.0,
                escape(&(axes.x_format)(value))
            );
        }
    }
    let _ = write!(
        out,
        r#"<text class="x-label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        LEFT + plot_w() / 2.0,
        HEIGHT - 6.0,
        escape(axes.x_label)
    );
}

/// The list of `values` for a data attribute (shortest round-trip form).
fn data_list(values: impl Iterator<Item = f64>) -> String {
    values.map(|v| v.to_string()).collect::<Vec<_>>().join(",")
}

/// One line of a line chart.
#[derive(Clone, Debug)]
pub struct Line {
    /// Its name (legend, `data-series`).
    pub name: String,
    /// Stroke colour.
    pub color: &'static str,
    /// Stroke dash pattern, if any.
    pub dash: Option<&'static str>,
    /// Its points in data units.
    pub points: Vec<(f64, f64)>,
    /// Draw a dot on every point (for few points; a line of one point is only its dot).
    pub markers: bool,
}

/// Lines over the axes; each polyline carries its data as `data-x`/`data-y`.
pub fn line_chart(axes: &Axes<'_>, lines: &[Line]) -> String {
    let mut out = String::new();
    frame(&mut out, axes, true);
    for line in lines.iter().filter(|l| !l.points.is_empty()) {
        let points: Vec<String> = line
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px_x(axes, x), px_y(axes, y)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="series" data-series="{}" data-x="{}" data-y="{}" fill="none" stroke="{}" stroke-width="2"{} points="{}"><title>{}</title></polyline>"#,
            escape(&line.name),
            data_list(line.points.iter().map(|p| p.0)),
            data_list(line.points.iter().map(|p| p.1)),
            line.color,
            line.dash
                .map_or(String::new(), |d| format!(" stroke-dasharray=\"{d}\"")),
            points.join(" "),
            escape(&line.name)
        );
        if line.markers {
            markers(&mut out, axes, line);
        }
    }
    out.push_str("</svg>");
    out.push_str(&legend(
        &lines
            .iter()
            .map(|l| (l.name.as_str(), l.color, l.dash))
            .collect::<Vec<_>>(),
    ));
    out
}

/// A dot per point of `line`, each with its values in `data-x`/`data-y` and a tooltip.
fn markers(out: &mut String, axes: &Axes<'_>, line: &Line) {
    for &(x, y) in &line.points {
        let _ = write!(
            out,
            r#"<circle class="point" data-series="{}" data-x="{x}" data-y="{y}" cx="{:.1}" cy="{:.1}" r="3" fill="{}"><title>{}: {}, {}{}</title></circle>"#,
            escape(&line.name),
            px_x(axes, x),
            px_y(axes, y),
            line.color,
            escape(&line.name),
            escape(&(axes.x_format)(x)),
            (axes.y_format)(y),
            escape(axes.y_unit)
        );
    }
}

/// A legend as an HTML list: a swatch (solid or dashed) and a name per entry.
pub fn legend(entries: &[(&str, &str, Option<&str>)]) -> String {
    let mut out = String::from("<ul class=\"legend\">");
    for (name, color, dash) in entries {
        let _ = write!(
            out,
            "<li><svg width=\"22\" height=\"10\"><line x1=\"0\" y1=\"5\" x2=\"22\" y2=\"5\" stroke=\"{color}\" stroke-width=\"3\"{}/></svg>{}</li>",
            dash.map_or(String::new(), |d| format!(" stroke-dasharray=\"{d}\"")),
            escape(name)
        );
    }
    out.push_str("</ul>");
    out
}

/// One group of a bar chart: a label and, per cluster (e.g. a percentile), one value per
/// series.
#[derive(Clone, Debug)]
pub struct BarGroup {
    /// The group's label under the axis (a place).
    pub label: String,
    /// Clusters in the group: their label (`p50`) and one value per series.
    pub clusters: Vec<(&'static str, Vec<f64>)>,
}

const BAR_W: f64 = 12.0;
const CLUSTER_GAP: f64 = 6.0;
const GROUP_PAD: f64 = 24.0;
/// Width of one character of an 11 px sans-serif label, generously.
const CHAR_W: f64 = 7.0;

/// Grouped vertical bars: a group per place, a cluster per percentile, a bar per series. The
/// chart widens so each group is wider than its label: labels never overlap.
pub fn bar_chart(
    chart: &str,
    title: &str,
    series: &[(&str, &'static str)],
    groups: &[BarGroup],
    unit: &str,
) -> String {
    let clusters = groups.iter().map(|g| g.clusters.len()).max().unwrap_or(0) as f64;
    let cluster_w = BAR_W * series.len().max(1) as f64;
    let widest_label = groups
        .iter()
        .map(|g| g.label.chars().count())
        .max()
        .unwrap_or(0) as f64;
    let group_w = (clusters * cluster_w + (clusters - 1.0).max(0.0) * CLUSTER_GAP + GROUP_PAD)
        .max(widest_label * CHAR_W + GROUP_PAD);
    let width = (LEFT + RIGHT + group_w * groups.len() as f64).max(WIDTH);
    let max = groups
        .iter()
        .flat_map(|g| g.clusters.iter().flat_map(|c| c.1.iter().copied()))
        .fold(0.0, f64::max);
    let axes = Axes {
        chart,
        title,
        x: Scale::linear_to(1.0),
        x_label: "",
        x_format: format_value,
        y: Scale::linear_to(max),
        y_unit: unit,
        y_format: format_value,
    };
    let mut out = String::new();
    frame(&mut out, &axes, false);
    for (g, group) in groups.iter().enumerate() {
        let group_x = LEFT + group_w * g as f64 + GROUP_PAD / 2.0;
        let inner_w = group_w - GROUP_PAD;
        let used = clusters * cluster_w + (clusters - 1.0).max(0.0) * CLUSTER_GAP;
        let start = group_x + (inner_w - used) / 2.0;
        for (c, (cluster, values)) in group.clusters.iter().enumerate() {
            let cluster_x = start + (cluster_w + CLUSTER_GAP) * c as f64;
            bars(
                &mut out,
                &axes,
                (cluster_x, cluster, &group.label),
                series,
                values,
            );
            let _ = write!(
                out,
                r#"<text class="cluster-label" x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{}</text>"#,
                cluster_x + cluster_w / 2.0,
                HEIGHT - BOTTOM + 11.0,
                escape(cluster)
            );
        }
        let _ = write!(
            out,
            r#"<text class="group-label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            group_x + inner_w / 2.0,
            HEIGHT - BOTTOM + 26.0,
            escape(&group.label)
        );
    }
    out.push_str("</svg>");
    let out = out.replacen(
        &format!("viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\""),
        &format!("viewBox=\"0 0 {width} {HEIGHT}\" width=\"{width}\""),
        1,
    );
    let entries: Vec<(&str, &str, Option<&str>)> =
        series.iter().map(|(n, c)| (*n, *c, None)).collect();
    out + &legend(&entries)
}

/// One cluster's bars, each with its value in `data-value` and a tooltip.
fn bars(
    out: &mut String,
    axes: &Axes<'_>,
    (x, cluster, group): (f64, &str, &str),
    series: &[(&str, &'static str)],
    values: &[f64],
) {
    for (s, (name, color)) in series.iter().enumerate() {
        let Some(&value) = values.get(s) else {
            continue;
        };
        let top = px_y(axes, value);
        let _ = write!(
            out,
            r#"<rect class="bar" data-series="{}" data-group="{}" data-cluster="{}" data-value="{value}" x="{:.1}" y="{top:.1}" width="{BAR_W}" height="{:.1}" fill="{color}"><title>{} {} {}: {}{}</title></rect>"#,
            escape(name),
            escape(group),
            escape(cluster),
            x + BAR_W * s as f64,
            HEIGHT - BOTTOM - top,
            escape(group),
            escape(name),
            escape(cluster),
            format_value(value),
            escape(axes.y_unit)
        );
    }
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
    fn linear_ticks_are_round_numbers() {
        let ticks = |max| Scale::linear_to(max).ticks();
        assert_eq!(ticks(4.0), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(ticks(12.0), vec![0.0, 5.0, 10.0, 15.0]);
        assert_eq!(ticks(330.0), vec![0.0, 100.0, 200.0, 300.0, 400.0]);
        assert_eq!(ticks(0.0), vec![0.0, 1.0]);
        assert_eq!(format_value(10.0), "10");
        assert_eq!(format_value(2.5), "2.5");
    }

    #[test]
    fn a_run_time_axis_ends_where_the_run_does() {
        let axis = Scale::run_time(12.4);
        assert!(matches!(axis, Scale::Linear { max, .. } if max == 12.4));
        assert_eq!(axis.ticks(), vec![0.0, 5.0, 10.0]);
        assert_eq!(axis.fraction(12.4), 1.0);
        assert_eq!(axis.fraction(6.2), 0.5);
        assert_eq!(Scale::run_time(4.0).ticks(), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            Scale::run_time(0.0).ticks().last(),
            Some(&1.0),
            "an empty run: 0 to 1 s"
        );
        assert_eq!(Scale::run_time(0.3).ticks().len(), 4, "0, 0.1, 0.2, 0.3");
    }

    #[test]
    fn log_scale_covers_whole_decades() {
        let scale = Scale::log_over(3.2, 410.0);
        assert!(matches!(scale, Scale::Log { min, max } if min == 1.0 && max == 1000.0));
        assert_eq!(scale.fraction(10.0), 1.0 / 3.0);
        assert_eq!(scale.fraction(0.5), 0.0);
        assert_eq!(
            scale.ticks(),
            vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        );
        assert_eq!(Scale::log_over(0.5, 20_000.0).ticks().len(), 7);
        let between = Scale::log_between(13.0e6, 1.35e9);
        assert_eq!(between.ticks(), vec![2e7, 5e7, 1e8, 2e8, 5e8, 1e9]);
        assert_eq!(between.fraction(13.0e6), 0.0);
        assert_eq!(between.fraction(1.35e9), 1.0);
    }

    #[test]
    fn lines_carry_their_data_and_labels_are_escaped() {
        let axes = Axes {
            chart: "c",
            title: "<t>",
            x: Scale::linear_to(3.0),
            x_label: "s",
            x_format: format_value,
            y: Scale::linear_to(300.0),
            y_unit: "",
            y_format: format_value,
        };
        let svg = line_chart(
            &axes,
            &[Line {
                name: "a&b".into(),
                color: "#000",
                dash: None,
                points: vec![(1.0, 280.0), (2.0, 312.5)],
                markers: true,
            }],
        );
        assert!(svg.contains(r#"data-series="a&amp;b" data-x="1,2" data-y="280,312.5""#));
        assert_eq!(svg.matches("<circle class=\"point\"").count(), 2);
        assert!(
            svg.contains(
                r#"<circle class="point" data-series="a&amp;b" data-x="2" data-y="312.5""#
            )
        );
        assert!(svg.contains("&lt;t&gt;") && !svg.contains("<t>"));
    }

    #[test]
    fn bar_groups_are_wider_than_their_labels() {
        let groups: Vec<BarGroup> = (0..12)
            .map(|i| BarGroup {
                label: format!("A long place name {i}"),
                clusters: vec![("p50", vec![1.0, 2.0]), ("p99", vec![3.0, 4.0])],
            })
            .collect();
        let svg = bar_chart("b", "t", &[("x", "#000"), ("y", "#111")], &groups, " ms");
        let width: f64 = svg
            .split("viewBox=\"0 0 ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|w| w.parse().ok())
            .unwrap();
        let label_w = "A long place name 10".len() as f64 * CHAR_W;
        assert!((width - LEFT - RIGHT) / 12.0 > label_w, "{width}");
        assert_eq!(svg.matches("class=\"bar\"").count(), 48);
        assert!(
            svg.contains(r#"data-group="A long place name 3" data-cluster="p99" data-value="4""#)
        );
    }
}
