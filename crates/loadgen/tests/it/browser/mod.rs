//! The HTML report in a real browser: headless Chromium loads a report made from the fixture
//! (`tests/data/runs.json`), and the series it drew are read back and compared with the
//! fixture's values: the origin-load lines' points are the timeline values (and go up where
//! they go up), each CDF ends at 1.0, no label overlaps its neighbour, no console error; on
//! the map every place has its marker where its coordinates project, every hop of every
//! client's path is drawn from marker to marker, and no label leaves the map or overlaps
//! another. A screenshot is saved as `target/browser/report.png`.
//!
//! Skipped, with a message, when no Chromium is installed; required when `CI=true`
//! (`.ci/e2e/report-browser.sh` installs Debian's `chromium` and runs this test).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use edgelab_geo::Coordinates;
use edgelab_loadgen::html::map::{CLUSTER_PX, FAN_PX, PROJECTION};
use edgelab_loadgen::{Comparison, Report, RunMap, html};
use edgelab_testkit::browser::{HEADLESS_FLAGS, artefact_dir, chromium_or_skip};

/// The script injected before the report's content (the report itself has none).
const CHECK_JS: &str = include_str!("check.js");

fn fixture() -> Comparison {
    let runs: serde_json::Value =
        serde_json::from_str(include_str!("../../data/runs.json")).expect("fixture parses");
    let direct: Report = serde_json::from_value(runs["direct"].clone()).expect("direct");
    let edge: Report = serde_json::from_value(runs["edge"].clone()).expect("edge");
    Comparison::new(&direct, &edge, None)
}

/// Runs headless Chromium with a fresh profile on `page` plus `args`; returns stdout.
///
/// Stdout goes to a file next to the profile, not a pipe: a dumped DOM is larger than a pipe's
/// buffer, and a pipe nobody reads until exit would stall Chromium.
fn headless(binary: &Path, profile: &Path, args: &[String], page: &Path) -> String {
    let stdout_path = profile.with_extension("stdout");
    let stdout = std::fs::File::create(&stdout_path).expect("target/browser is writable");
    let mut child = Command::new(binary)
        .args(HEADLESS_FLAGS)
        .arg("--window-size=1000,3600")
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(stdout)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromium starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if child
            .try_wait()
            .expect("chromium can be waited on")
            .is_some()
        {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = std::fs::read(&stdout_path).expect("chromium's output");
    String::from_utf8_lossy(&output).into_owned()
}

/// The findings the injected script wrote into the dumped DOM.
fn findings(dom: &str) -> serde_json::Value {
    let start = dom
        .rfind("<pre id=\"edgelab-check\">")
        .unwrap_or_else(|| panic!("the check ran; DOM starts {}", &dom[..dom.len().min(400)]))
        + "<pre id=\"edgelab-check\">".len();
    let end = start + dom[start..].find("</pre>").expect("closing pre");
    let text = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).expect("the findings are JSON")
}

fn numbers(value: &serde_json::Value) -> Vec<f64> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect()
}

fn drawn<'a>(found: &'a serde_json::Value, chart: &str, name: &str) -> &'a serde_json::Value {
    found["series"]
        .as_array()
        .expect("series")
        .iter()
        .find(|s| s["chart"] == chart && s["name"] == name)
        .unwrap_or_else(|| panic!("{chart}: no series {name}"))
}

#[test]
fn the_report_draws_its_json_in_a_real_browser() {
    let Some(binary) = chromium_or_skip("the report browser test") else {
        return;
    };
    let comparison = fixture();
    let report = html::comparison(&comparison);
    let dir = artefact_dir();
    let page = dir.join("report.html");
    std::fs::write(&page, &report).expect("write the report");
    let checked = report.replacen("<head>", &format!("<head><script>{CHECK_JS}</script>"), 1);
    let check_page = dir.join("report-check.html");
    std::fs::write(&check_page, checked).expect("write the check page");
    let profile = dir.join("profile");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = headless(&binary, &profile, &["--dump-dom".to_string()], &check_page);
    let found = findings(&dom);
    assert_eq!(found["errors"], serde_json::json!([]), "no console errors");
    assert_eq!(
        found["overlaps"],
        serde_json::json!([]),
        "no label overlaps a neighbour"
    );
    assert!(
        found["labels"].as_u64().unwrap() > 20,
        "labels were measured"
    );
    assert_eq!(
        found["bars"],
        4 * 3 * 2,
        "a bar per place, percentile and run"
    );
    check_origin_lines(&found, &comparison);
    check_cdfs(&found, &comparison);
    check_map(&found["map"], &comparison);
    let shot = dir.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let _ = std::fs::remove_dir_all(&profile);
    headless(
        &binary,
        &profile,
        &[format!("--screenshot={}", shot.display())],
        &page,
    );
    let _ = std::fs::remove_dir_all(&profile);
    let size = std::fs::metadata(&shot).map_or(0, |m| m.len());
    assert!(size > 10_000, "a screenshot was saved ({size} bytes)");
}

/// The origin-load points are the timeline values, and the drawn line rises where they rise.
fn check_origin_lines(found: &serde_json::Value, comparison: &Comparison) {
    for run in comparison.runs() {
        let timeline = &run.origin.as_ref().expect("origin").timeline;
        let line = drawn(found, "origin-requests", &run.label);
        let values: Vec<f64> = timeline.iter().map(|p| p.requests).collect();
        assert_eq!(numbers(&line["y"]), values, "{}", run.label);
        let pixels = line["pixels"].as_array().expect("pixels");
        assert_eq!(pixels.len(), values.len());
        for (pair, values) in pixels.windows(2).zip(values.windows(2)) {
            let (a, b) = (pair[0][1].as_f64().unwrap(), pair[1][1].as_f64().unwrap());
            // SVG y grows downwards: a higher value is drawn higher up.
            assert_eq!(
                (b < a, b > a),
                (values[1] > values[0], values[1] < values[0]),
                "{}: {values:?} drawn at y {a} then {b}",
                run.label
            );
        }
    }
}

/// Every place's CDF in every run ends at 1.0, at the top of the plot.
fn check_cdfs(found: &serde_json::Value, comparison: &Comparison) {
    let mut tops = Vec::new();
    for run in comparison.runs() {
        for place in &run.places {
            let line = drawn(found, "cdf", &format!("{} {}", place.place, run.label));
            assert_eq!(numbers(&line["y"]).last(), Some(&1.0));
            assert_eq!(
                numbers(&line["x"]),
                place.cdf.iter().map(|c| c.ms).collect::<Vec<_>>()
            );
            let last = line["pixels"].as_array().unwrap().last().unwrap().clone();
            tops.push(last[1].as_f64().unwrap());
        }
    }
    assert!(tops.windows(2).all(|w| w[0] == w[1]), "{tops:?}");
}

fn point(value: &serde_json::Value) -> (f64, f64) {
    (value[0].as_f64().unwrap(), value[1].as_f64().unwrap())
}

fn apart(a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

/// Every place of the runs' maps has its marker at its projected position (fanned out on a
/// circle of [`FAN_PX`] around a position within [`CLUSTER_PX`] when places share it), every hop is drawn from its start's marker to its
/// end's, and the labels are clear of each other and inside the map.
fn check_map(map: &serde_json::Value, comparison: &Comparison) {
    let merged = RunMap::merged(
        [&comparison.direct, &comparison.edge]
            .map(|r| r.map.as_ref().expect("the fixture's runs have maps")),
    );
    let drawn = map["places"].as_array().expect("the map is drawn");
    assert_eq!(drawn.len(), merged.places.len());
    let mut centres = std::collections::HashMap::new();
    for place in &merged.places {
        let marker = drawn
            .iter()
            .find(|m| m["id"] == place.id.as_str())
            .unwrap_or_else(|| panic!("no marker for {}", place.id));
        assert_eq!(marker["kind"], place.kind.as_str());
        let projected = PROJECTION.project(Coordinates::new(place.lat, place.lon));
        let data = (marker["x"].as_f64().unwrap(), marker["y"].as_f64().unwrap());
        assert_eq!(data, projected, "{}", place.id);
        let centre = (
            marker["cx"].as_f64().unwrap(),
            marker["cy"].as_f64().unwrap(),
        );
        assert!(
            apart(centre, projected) <= FAN_PX + CLUSTER_PX,
            "{}: {centre:?} vs {projected:?}",
            place.id
        );
        centres.insert(place.id.clone(), centre);
    }
    let hops = map["hops"].as_array().expect("hops");
    let mut expected = 0;
    for path in &merged.paths {
        for hop in &path.hops {
            expected += 1;
            let line = hops
                .iter()
                .find(|h| {
                    h["place"] == path.place.as_str()
                        && h["mode"] == path.mode.as_str()
                        && h["from"] == hop.from.as_str()
                        && h["to"] == hop.to.as_str()
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{} {}: no hop {} -> {}",
                        path.place, path.mode, hop.from, hop.to
                    )
                });
            assert_eq!(line["rtt_ms"].as_f64(), Some(hop.rtt_ms));
            assert!(line["length"].as_f64().unwrap() > 1.0, "{line}");
            assert!(
                apart(point(&line["start"]), centres[&hop.from]) < 1.0,
                "{line}"
            );
            assert!(apart(point(&line["end"]), centres[&hop.to]) < 1.0, "{line}");
        }
    }
    assert_eq!(hops.len(), expected, "one line per hop of every path");
    assert!(map["labels"].as_u64().unwrap() >= 12, "{}", map["labels"]);
    assert_eq!(
        map["overlaps"],
        serde_json::json!([]),
        "no map label overlaps another"
    );
    assert_eq!(
        map["outside"],
        serde_json::json!([]),
        "every map label is on the map"
    );
}
