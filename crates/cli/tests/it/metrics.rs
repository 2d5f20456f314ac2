//! `docs/metrics.md` against a running origin and edge: every metric family their `/metrics`
//! export is in the catalogue with its type and labels, and every metric the catalogue lists
//! is exported, so the page cannot drift from the code.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::{Node, http_get, repo};

/// A metric family: its type and the label names its samples carry (`le` and `quantile`,
/// which the exposition adds to histograms and summaries, left out).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Family {
    kind: String,
    labels: BTreeSet<String>,
}

/// The families of a Prometheus text exposition, by name (`_bucket`, `_sum` and `_count`
/// samples belong to their histogram or summary).
fn exported(text: &str) -> BTreeMap<String, Family> {
    let mut families = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            families.insert(
                name.to_string(),
                Family {
                    kind: kind.trim().to_string(),
                    labels: BTreeSet::new(),
                },
            );
        }
    }
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let sample = &line[..end];
        let name = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|suffix| sample.strip_suffix(suffix))
            .find(|base| families.contains_key(*base))
            .unwrap_or(sample);
        let family = families
            .get_mut(name)
            .unwrap_or_else(|| panic!("sample {sample} has no # TYPE line"));
        if let (Some(open), Some(close)) = (line.find('{'), line.rfind('}')) {
            for pair in line[open + 1..close].split(',') {
                if let Some((label, _)) = pair.split_once('=')
                    && label != "le"
                    && label != "quantile"
                {
                    family.labels.insert(label.to_string());
                }
            }
        }
    }
    families
}

/// The backticked words of a catalogue cell outside parentheses (the label names, not the
/// values listed after them).
fn backticked_outside_parentheses(cell: &str) -> BTreeSet<String> {
    let mut depth = 0usize;
    let mut outside = String::new();
    for c in cell.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => outside.push(c),
            _ => {}
        }
    }
    outside
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The metrics `docs/metrics.md` lists: every table row `| `name` | type | labels | meaning |`.
fn catalogue(page: &str) -> BTreeMap<String, Family> {
    let mut families = BTreeMap::new();
    for line in page.lines().filter(|l| l.starts_with("| `edgelab_")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_string();
        let kind = cells[2]
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("{name}: no type in docs/metrics.md"))
            .to_string();
        let labels = backticked_outside_parentheses(cells[3]);
        let previous = families.insert(name.clone(), Family { kind, labels });
        assert!(
            previous.is_none(),
            "{name} is listed twice in docs/metrics.md"
        );
    }
    families
}

fn scrape(node: &Node) -> String {
    let (status, _, body) = http_get(node.admin, "/metrics", &[]);
    assert_eq!(status, 200, "/metrics of {}", node.admin);
    String::from_utf8(body).expect("metrics are UTF-8")
}

#[test]
fn the_metric_catalogue_lists_exactly_what_an_origin_and_an_edge_export() {
    let origin = Node::loopback("origin", &["--objects", "20"]);
    let upstream = format!("http://{}", origin.traffic);
    let edge = Node::loopback("edge", &["--upstream", &upstream, "--pop", "FRA"]);
    // One miss and one hit: the families whose label sets appear with their first sample
    // (upstream results, the origin's duration histogram) then have one.
    for _ in 0..2 {
        let (status, _, _) = http_get(edge.traffic, "/static/00000.js", &[]);
        assert_eq!(status, 200);
    }
    let mut live = exported(&scrape(&edge));
    for (name, family) in exported(&scrape(&origin)) {
        let merged = live.entry(name.clone()).or_insert_with(|| family.clone());
        assert_eq!(merged.kind, family.kind, "{name}: two types");
        merged.labels.extend(family.labels);
    }
    let page = std::fs::read_to_string(repo("docs/metrics.md")).expect("read docs/metrics.md");
    let documented = catalogue(&page);
    let undocumented: Vec<&String> = live
        .keys()
        .filter(|n| !documented.contains_key(*n))
        .collect();
    assert!(
        undocumented.is_empty(),
        "exported but not in docs/metrics.md: {undocumented:?}"
    );
    let absent: Vec<&String> = documented
        .keys()
        .filter(|n| !live.contains_key(*n))
        .collect();
    assert!(
        absent.is_empty(),
        "in docs/metrics.md but not exported: {absent:?}"
    );
    for (name, family) in &live {
        assert_eq!(
            &documented[name], family,
            "{name}: docs/metrics.md against /metrics"
        );
    }
    for node in [edge, origin] {
        assert!(node.terminate().success());
    }
}

#[test]
fn catalogue_rows_read_as_name_type_and_label_names() {
    let page = "| `edgelab_x_total` | counter | `pop`, `cause` (`a`, `b`) | text `not` |\n\
                | `edgelab_y` | summary (quantiles 0.5) | `class` (`backbone`; `internet`) | |";
    let families = catalogue(page);
    assert_eq!(families["edgelab_x_total"].kind, "counter");
    assert_eq!(
        families["edgelab_x_total"].labels,
        BTreeSet::from(["pop".to_string(), "cause".to_string()])
    );
    assert_eq!(families["edgelab_y"].kind, "summary");
    assert_eq!(
        families["edgelab_y"].labels,
        BTreeSet::from(["class".to_string()])
    );
    let text = "# TYPE h histogram\nh_bucket{a=\"1\",le=\"+Inf\"} 1\nh_sum{a=\"1\"} 2\n\
                # TYPE s summary\ns{b=\"x\",quantile=\"0.5\"} 0\ns_count{b=\"x\"} 0\n";
    let live = exported(text);
    assert_eq!(live["h"].labels, BTreeSet::from(["a".to_string()]));
    assert_eq!(live["s"].kind, "summary");
    assert_eq!(live["s"].labels, BTreeSet::from(["b".to_string()]));
}
