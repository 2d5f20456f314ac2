//! The report draws what its JSON says: each chart's series are read back from their
//! `data-*` attributes and compared with the fixture's values.

use super::svg::{BarGroup, bar_chart};
use super::*;

/// Two runs (direct, edge) with known values: origin timelines, CDFs, tiers per second.
pub(crate) fn fixture() -> Comparison {
    let runs: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/data/runs.json")).expect("fixture parses");
    let direct: Report = serde_json::from_value(runs["direct"].clone()).expect("direct");
    let edge: Report = serde_json::from_value(runs["edge"].clone()).expect("edge");
    Comparison::new(&direct, &edge, None)
}

/// The `data-x`/`data-y` lists of the series named `series` in the chart `chart`.
fn series(html: &str, chart: &str, series: &str) -> Option<(Vec<f64>, Vec<f64>)> {
    let start = html.find(&format!("data-chart=\"{chart}\""))?;
    let svg = &html[start..start + html[start..].find("</svg>")?];
    let at = svg.find(&format!("data-series=\"{}\"", escape(series)))?;
    let attr = |name: &str| -> Vec<f64> {
        let from = at + svg[at..].find(&format!("{name}=\"")).expect("attribute") + name.len() + 2;
        let to = from + svg[from..].find('"').expect("closing quote");
        svg[from..to]
            .split(',')
            .map(|v| v.parse().expect("a number"))
            .collect()
    };
    Some((attr("data-x"), attr("data-y")))
}

#[test]
fn origin_load_is_drawn_from_the_timeline_values_as_they_are() {
    let comparison = fixture();
    let html = super::comparison(&comparison);
    for run in comparison.runs() {
        let timeline = &run.origin.as_ref().expect("origin").timeline;
        let (x, y) = series(&html, "origin-requests", &run.label).expect("a requests line");
        assert_eq!(
            x,
            timeline.iter().map(|p| p.second as f64).collect::<Vec<_>>()
        );
        assert_eq!(y, timeline.iter().map(|p| p.requests).collect::<Vec<_>>());
        let (_, bytes) = series(&html, "origin-bytes", &run.label).expect("a bytes line");
        assert_eq!(
            bytes,
            timeline
                .iter()
                .map(|p| p.response_bytes)
                .collect::<Vec<_>>()
        );
    }
    // The direct origin took 280–330 requests every second: nothing near zero is drawn.
    let (_, direct) = series(&html, "origin-requests", "direct").unwrap();
    assert!(direct.iter().all(|&v| v >= 280.0), "{direct:?}");
}

#[test]
fn every_place_has_a_cdf_per_run_ending_at_one() {
    let comparison = fixture();
    let html = super::comparison(&comparison);
    for run in comparison.runs() {
        for place in &run.places {
            let name = format!("{} {}", place.place, run.label);
            let (ms, fraction) = series(&html, "cdf", &name).expect("a CDF line");
            assert_eq!(ms, place.cdf.iter().map(|c| c.ms).collect::<Vec<_>>());
            assert_eq!(fraction.first(), Some(&0.0));
            assert_eq!(fraction.last(), Some(&1.0));
            assert!(ms.windows(2).all(|w| w[0] <= w[1]), "{name}: {ms:?}");
        }
    }
}

#[test]
fn tiers_over_time_are_shares_of_each_seconds_responses() {
    let comparison = fixture();
    let html = super::comparison(&comparison);
    let (seconds, pop) = series(&html, "tiers-edge", "served at the PoP").expect("PoP line");
    // Each second drawn at its end: the fixture's run lasted 4.0 s, every second whole.
    assert_eq!(seconds, vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(pop, vec![40.0, 190.0 / 3.0, 80.0, 265.0 / 3.0]);
    let (_, rec) = series(&html, "tiers-edge", "served at a REC").expect("REC line");
    assert_eq!(rec[0], 40.0 / 3.0);
    assert!(series(&html, "tiers-edge", "served at the shield").is_some());
    assert!(
        !html.contains("data-chart=\"tiers-direct\""),
        "direct has no tiers"
    );
}

/// The labels of the `x` ticks of the chart `chart`.
fn x_ticks(html: &str, chart: &str) -> Vec<String> {
    let start = html
        .find(&format!("data-chart=\"{chart}\""))
        .expect("the chart");
    let svg = &html[start..start + html[start..].find("</svg>").expect("its end")];
    svg.split("<text class=\"x-tick\"")
        .skip(1)
        .map(|t| t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].to_string())
        .collect()
}

/// The fixture's edge run stretched to 12.4 s: its first second repeated, then a last 0.4 s
/// of 120 responses all served by the origin (the slowest arrive last), which drawn as a
/// share would drop the PoP's line to 0.
fn run_of_12_4_s() -> Report {
    let mut run = fixture().edge;
    let whole = run.timeline[0].clone();
    run.timeline = (0..13)
        .map(|second| crate::report::TimelinePoint {
            second,
            ..whole.clone()
        })
        .collect();
    let last = &mut run.timeline[12];
    last.interval_s = 0.4;
    last.responses = 120;
    last.served = vec![crate::report::TierCount {
        tier: Tier::Origin,
        responses: 120,
    }];
    run.elapsed_s = 12.4;
    if let Some(origin) = &mut run.origin {
        let steady = origin.timeline[0].clone();
        origin.timeline = (1..=12)
            .map(|second| crate::report::OriginSecond {
                second,
                ..steady.clone()
            })
            .collect();
    }
    run
}

#[test]
fn time_axes_end_where_the_run_does_and_a_partial_last_second_does_not_dip() {
    let run = run_of_12_4_s();
    let html = single(&run);
    for chart in ["tiers-edge", "origin-requests", "origin-bytes"] {
        assert_eq!(
            x_ticks(&html, chart),
            ["0", "5", "10"],
            "{chart}: no tick past 12.4 s"
        );
    }
    // The axis ends at 12.4 s: the point of second 12 (its end) sits 12/12.4 of the way.
    let plot = |x: f64| 64.0 + (760.0 - 64.0 - 16.0) * x / 12.4;
    assert!(
        html.contains(&format!("{:.1},", plot(12.0))),
        "12 s at {:.1}",
        plot(12.0)
    );
    let (seconds, pop) = series(&html, "tiers-edge", "served at the PoP").expect("PoP line");
    assert_eq!(seconds, (1..=12).map(f64::from).collect::<Vec<_>>());
    assert!(pop.iter().all(|&share| share == pop[0]), "no dip: {pop:?}");
    assert!(html.contains("The run's last 0.4 s, shorter than a second, is left out"));
    // A run of whole seconds leaves nothing out and says nothing about it.
    assert!(!single(&fixture().edge).contains("class=\"caption\""));
}

#[test]
fn percentiles_are_bars_per_place_and_the_table_is_html() {
    let comparison = fixture();
    let html = super::comparison(&comparison);
    assert!(html.contains(
        "data-series=\"direct\" data-group=\"Sydney\" data-cluster=\"p50\" data-value=\"347.2\""
    ));
    assert!(html.contains("data-group=\"São Paulo &amp; Rio\""));
    assert_eq!(html.matches("class=\"bar\"").count(), 4 * 3 * 2);
    assert_eq!(html.matches("class=\"group-label\"").count(), 4);
    assert!(!html.contains("<pre>"), "no preformatted table");
    assert!(html.contains("<table class=\"places\">"));
    assert!(html.contains("<th>served at the PoP</th>"));
    assert!(html.contains("<td>Sydney</td><td>347.2 / 520.8 / 868.0</td>"));
    assert!(html.contains("Emulator error"), "the panel stays");
    assert!(!html.contains("<script"), "no script");
}

#[test]
fn single_reports_draw_the_same_charts() {
    let comparison = fixture();
    let html = single(&comparison.edge);
    assert!(series(&html, "origin-requests", "edge").is_some());
    assert!(series(&html, "cdf", "Sydney edge").is_some());
    assert!(html.contains("<th>served at the PoP</th>"));
}

#[test]
fn charts_escape_labels_and_stay_inline() {
    let svg = bar_chart(
        "b",
        "t",
        &[("x", "#000")],
        &[BarGroup {
            label: "<a&b>".to_string(),
            clusters: vec![("p50", vec![3.0])],
        }],
        " ms",
    );
    assert!(svg.contains("&lt;a&amp;b&gt;"));
    assert!(!svg.contains("<a&b>"));
    assert!(!svg.contains("http://") || svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
}

#[test]
fn the_map_shows_every_place_and_path_of_the_runs() {
    let comparison = fixture();
    let html = super::comparison(&comparison);
    let edge = comparison.edge.map.as_ref().expect("the fixture has maps");
    let direct = comparison
        .direct
        .map
        .as_ref()
        .expect("the fixture has maps");
    assert_eq!(
        html.matches("data-chart=\"map\"").count(),
        1,
        "one map for the runs"
    );
    for place in &edge.places {
        assert!(
            html.contains(&format!("data-id=\"{}\"", escape(&place.id))),
            "{}",
            place.id
        );
    }
    let paths = edge.paths.len() + direct.paths.len();
    assert_eq!(html.matches("<g class=\"route\"").count(), paths);
    assert_eq!(html.matches("<table class=\"paths\">").count(), 1);
    // Sydney's edge path in the table: every stop with its hop's RTT, hit and miss.
    let sydney = edge.paths.iter().find(|p| p.place == "Sydney").unwrap();
    assert!(html.contains(&format!(
        "<td>Sydney</td><td>edge</td><td style=\"text-align:left\">Sydney → SYD ({:.1}) → rec:SYD",
        sydney.hops[0].rtt_ms
    )));
    assert!(html.contains(&format!("<td>{:.1}</td></tr>", sydney.rtt_ms)));
    // A single run's page has the map too; a run without one has none.
    assert!(single(&comparison.edge).contains("data-chart=\"map\""));
    let mut bare = comparison.edge.clone();
    bare.map = None;
    assert!(!single(&bare).contains("data-chart=\"map\""));
}

#[test]
fn the_emulator_error_over_time_is_drawn_per_run_with_its_bound() {
    let runs: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/data/runs.json")).expect("fixture parses");
    let direct: Report = serde_json::from_value(runs["direct"].clone()).expect("direct");
    let mut edge: Report = serde_json::from_value(runs["edge"].clone()).expect("edge");
    let stats = |count: u64, p99_ms: f64| match count {
        0 => crate::report::PointStats::default(),
        count => crate::report::PointStats {
            count,
            p50_ms: p99_ms / 2.0,
            p99_ms,
            max_ms: p99_ms,
        },
    };
    let points: Vec<crate::report::ErrorPoint> = (0..4)
        .map(|second| crate::report::ErrorPoint {
            start_s: second as f64,
            interval_s: 1.0,
            rate_per_s: 100.0,
            client_links: stats(10, 1.0 + second as f64),
            tier_links: stats(
                if second == 2 { 0 } else { 5 },
                300.0 / (1.0 + second as f64),
            ),
            send_lateness: stats(10, 0.5),
        })
        .collect();
    edge.emulator_error.warn_above_ms = 5.0;
    edge.emulator_error.set_series(points, 4.0);
    let html = super::comparison(&Comparison::new(&direct, &edge, None));
    let (x, y) = series(&html, "emulator-error-edge", "tier links p99").expect("tier line");
    // The interval without tier-link deliveries is left out.
    assert_eq!(x, [0.5, 1.5, 3.5]);
    assert_eq!(y, [300.0, 150.0, 75.0]);
    let (_, client) = series(&html, "emulator-error-edge", "client links p99").unwrap();
    assert_eq!(client, [1.0, 2.0, 3.0, 4.0]);
    let (_, bound) = series(&html, "emulator-error-edge", "bound 5 ms").unwrap();
    assert_eq!(bound, [5.0, 5.0]);
    assert!(
        html.contains(&escape(
            edge.emulator_error
                .late_in_part
                .as_deref()
                .expect("the tier links broke the bound in part of the run")
        ))
    );
    assert!(!html.contains("data-chart=\"emulator-error-direct\""));
}
