//! End-to-end runs of `edgelab topology`.

use std::time::Duration;

use crate::support::{exited, run, succeeded};

const LIMIT: Duration = Duration::from_secs(20);

fn stdout(args: &[&str]) -> String {
    succeeded(&run(args, LIMIT))
}

fn rtt_ms(text: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix("rtt"))
        .and_then(|rest| rest.trim().strip_suffix(" ms"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no rtt line in {text}"))
}

#[test]
fn list_shows_every_place_of_each_kind() {
    let count = |kind: &str| {
        stdout(&["topology", "list", kind, "--format", "csv"])
            .lines()
            .count()
            - 1
    };
    assert_eq!(count("regions"), 36);
    assert_eq!(count("local-zones"), 47);
    assert_eq!(count("pops"), 107);
    assert_eq!(count("recs"), 13);
    let all = stdout(&["topology", "list"]);
    assert!(all.contains("# regions (36)") && all.contains("# regional edge caches (13)"));
    assert!(all.contains("eu-west-2") && all.contains("rec:FRA"));
}

#[test]
fn rtt_between_regions_is_over_the_backbone_and_grows_with_distance() {
    let near = stdout(&["topology", "rtt", "us-east-1", "eu-west-1"]);
    assert!(near.contains("class     backbone"), "{near}");
    let far = stdout(&["topology", "rtt", "us-east-1", "ap-southeast-2"]);
    assert!(rtt_ms(&near) < rtt_ms(&far));
    // Over the graph: Ashburn → New York (350 km terrestrial × 1.366) → Dublin (5,115 km
    // AEC-1 × 1.241), × 2 / 200 km/ms, + 4.344 ms entry + 3 hubs × 0.594 ms + 0.5 ms fixed.
    assert!((rtt_ms(&near) - 74.9).abs() < 0.2, "{near}");
}

#[test]
fn rtt_from_a_city_is_a_client_path_and_classes_can_be_chosen() {
    let client = stdout(&["topology", "rtt", "london", "FRA"]);
    assert!(client.contains("last_mile+internet"), "{client}");
    let internet = stdout(&["topology", "rtt", "london", "FRA", "--class", "internet"]);
    assert!(
        rtt_ms(&internet) + 9.0 < rtt_ms(&client),
        "last mile adds its fixed cost"
    );
    let rec = stdout(&["topology", "rtt", "rec:FRA", "euc1-az1"]);
    assert!(
        rec.contains("rec:FRA (Frankfurt) -> euc1-az1 (eu-central-1)"),
        "{rec}"
    );
}

#[test]
fn unknown_places_exit_64_with_suggestions() {
    let output = run(&["topology", "rtt", "eu-wset-1", "Frankfrut"], LIMIT);
    let stderr = exited(&output, 64);
    assert!(stderr.contains("did you mean eu-west-1"), "{stderr}");
    assert!(stderr.contains("did you mean Frankfurt"), "{stderr}");
    let output = run(
        &[
            "topology",
            "rtt",
            "us-east-1",
            "eu-west-1",
            "--class",
            "warp",
        ],
        LIMIT,
    );
    exited(&output, 64);
}

#[test]
fn matrix_prints_every_ordered_region_pair() {
    let csv = stdout(&["topology", "matrix", "--kind", "region", "--format", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("src,dst,rtt_ms"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 36 * 35);
    let find = |a: &str, b: &str| -> f64 {
        rows.iter()
            .find(|r| r[0] == a && r[1] == b)
            .map(|r| r[2].parse().unwrap())
            .unwrap()
    };
    assert_eq!(
        find("eu-west-1", "us-east-1"),
        find("us-east-1", "eu-west-1")
    );
    assert!(rows.iter().all(|r| r[2].parse::<f64>().unwrap() > 0.0));
}

#[test]
fn route_goes_through_the_nearest_pop_rec_and_shield() {
    let out = stdout(&[
        "topology",
        "route",
        "--client",
        "London",
        "--origin",
        "us-east-1",
        "--shield",
    ]);
    assert!(out.contains("LHR (London)"), "{out}");
    assert!(out.contains("rec:LHR"), "{out}");
    assert!(
        out.contains("rec:IAD") && out.contains("[origin shield]"),
        "{out}"
    );
    // With London down among a small PoP set, Paris goes to Frankfurt.
    let first_hop = |out: &str| -> String {
        out.lines()
            .find(|l| l.starts_with("1 "))
            .unwrap_or_else(|| panic!("no first hop in {out}"))
            .to_string()
    };
    let args = [
        "topology",
        "route",
        "--client",
        "Paris",
        "--pops",
        "FRA,LHR,IAD",
    ];
    assert!(first_hop(&stdout(&args)).contains("LHR (London)"));
    let mut down = args.to_vec();
    down.extend(["--down", "LHR"]);
    assert!(first_hop(&stdout(&down)).contains("FRA (Frankfurt)"));
}

#[test]
fn route_ga_fails_over_and_fails_open() {
    let args = [
        "topology",
        "route",
        "--client",
        "Berlin",
        "--ga",
        "--ga-regions",
        "eu-central-1,us-east-1",
    ];
    let out = stdout(&args);
    assert!(
        out.contains("[anycast entry]") && out.contains("eu-central-1 endpoint"),
        "{out}"
    );
    let mut down = args.to_vec();
    down.extend(["--down", "eu-central-1"]);
    let out = stdout(&down);
    assert!(
        out.contains("us-east-1 endpoint") && out.contains("no healthy endpoint"),
        "{out}"
    );
    down.pop();
    down.push("eu-central-1,us-east-1");
    let out = stdout(&down);
    assert!(out.contains("failed open"), "{out}");
}

#[test]
fn a_topology_files_link_table_overrides_the_model_and_bad_values_exit_64() {
    let dir = std::env::temp_dir().join(format!("edgelab-topology-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[origin]\nregion = \"us-east-1\"\n\n[link.backbone]\ninflation = 2.0\n\n[link.graph]\nsubmarine_inflation = 2.0\n",
    )
    .unwrap();
    let default = rtt_ms(&stdout(&["topology", "rtt", "us-east-1", "eu-west-1"]));
    let custom = rtt_ms(&stdout(&[
        "topology",
        "rtt",
        "us-east-1",
        "eu-west-1",
        "--topology",
        good.to_str().unwrap(),
    ]));
    assert!(custom > default * 1.4, "{custom} vs {default}");
    // `--config`, the flag's earlier name, still reads the same table.
    let earlier = rtt_ms(&stdout(&[
        "topology",
        "rtt",
        "us-east-1",
        "eu-west-1",
        "--config",
        good.to_str().unwrap(),
    ]));
    assert_eq!(earlier, custom);
    // `route` takes the file as `--topology` alone; `--config` is hidden there but still
    // reads the `[link]` table over the PoPs and origin given on the command line.
    let help = stdout(&["topology", "route", "--help"]);
    assert!(
        help.contains("--topology <FILE>") && !help.contains("--config"),
        "{help}"
    );
    let good_path = good.to_str().unwrap();
    let plain = stdout(&["topology", "route", "--client", "London"]);
    let link_only = stdout(&[
        "topology", "route", "--client", "London", "--config", good_path,
    ]);
    assert_ne!(link_only, plain, "the file's [link] table changes the RTTs");

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[link.backbone]\ninflation = 0.5\nloss = 2.0\n").unwrap();
    let output = run(
        &["topology", "matrix", "--config", bad.to_str().unwrap()],
        LIMIT,
    );
    let stderr = exited(&output, 64);
    assert!(
        stderr.contains("link.backbone.inflation") && stderr.contains("link.backbone.loss"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The shipped topology files (not the single-node origin and edge examples).
fn shipped_topologies() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("config/ exists")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| !p.ends_with("origin.toml") && !p.ends_with("edge.toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    files
}

/// The value after `prefix` on the line starting with `line`.
fn field_after<'a>(out: &'a str, line: &str, prefix: &str) -> &'a str {
    let text = out
        .lines()
        .find(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no line {line:?} in {out}"));
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in {text:?}"));
    text[at + prefix.len()..]
        .split_whitespace()
        .next()
        .unwrap_or_default()
}

/// Regression: `compare --ga` sent each client to its nearest PoP plus a backbone hop to the
/// first origin replica, while `topology route --ga` used Global Accelerator's endpoint
/// groups; both now ask one planner, so they agree on every client place of every shipped
/// topology (and so do `compare`'s edge targets and `route`'s first hop).
#[test]
fn compare_ga_targets_and_topology_route_ga_agree_on_every_shipped_config() {
    use edgelab_cluster::targets::{self, Dns};
    use edgelab_loadgen::Mode;
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    let mut checked = 0;
    for file in shipped_topologies() {
        let topology = edgelab_cluster::Topology::load(&file).expect("shipped topology");
        let settings = &topology.load;
        let path = file.to_str().expect("utf-8 path");
        for mode in [Mode::Ga, Mode::Edge] {
            let dns = Dns { port: 80 };
            let targets = targets::resolve(&topology, &settings.populations, mode, &dns)
                .expect("every place routes");
            for target in targets {
                let mut args = vec!["topology", "route", "--topology", path];
                args.extend(["--client", target.place.as_str()]);
                if mode == Mode::Ga {
                    args.push("--ga");
                }
                let out = stdout(&args);
                let node = target.base_url.host().expect("a host");
                let (line, prefix) = match mode {
                    Mode::Ga => ("2 ", "endpoint "),
                    _ => ("hit ", "served by "),
                };
                let shown = field_after(&out, line, prefix).trim_end_matches(')');
                let expected = match mode {
                    Mode::Ga => node.to_string(),
                    _ => node.trim_start_matches("pop-").to_ascii_uppercase(),
                };
                assert_eq!(shown, expected, "{} {mode:?}: {out}", target.place);
                let rtt = match mode {
                    Mode::Ga => field_after(&out, "total ", "total "),
                    _ => field_after(&out, "hit ", "hit "),
                };
                assert_eq!(rtt, ms(target.hop.rtt), "{} {mode:?}: {out}", target.place);
                checked += 1;
            }
        }
    }
    assert!(checked >= 2 * 15, "only {checked} places checked");
}

#[test]
fn path_prints_the_hubs_and_cables_of_a_detour() {
    let out = stdout(&["topology", "path", "eu-central-1", "ap-northeast-1"]);
    // Frankfurt ↔ Tokyo goes through Suez and the Indian Ocean, not along the great circle.
    for hop in [
        "Marseille (MRS)",
        "Alexandria (ALX)",
        "Singapore (SIN)",
        "Tokyo (TYO)",
    ] {
        assert!(out.contains(hop), "{hop}: {out}");
    }
    assert!(out.contains("submarine: SEA-ME-WE 5"), "{out}");
    let rtt = stdout(&["topology", "rtt", "eu-central-1", "ap-northeast-1"]);
    let total = out.lines().last().unwrap();
    assert!(
        total.ends_with(&format!("= {:.1} ms", rtt_ms(&rtt))),
        "{total} vs {rtt}"
    );
    let straight = stdout(&["topology", "path", "use1-az1", "use1-az2"]);
    assert!(straight.contains("straight (one metro)"), "{straight}");
    let route = stdout(&[
        "topology",
        "route",
        "--client",
        "Sydney",
        "--origin",
        "eu-west-1",
        "--shield",
    ]);
    assert!(route.contains("Singapore – Mumbai"), "{route}");
}

#[test]
fn validate_scores_a_measured_table_and_fit_writes_a_link_table() {
    let dir = std::env::temp_dir().join(format!("edgelab-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("measured.csv");
    std::fs::write(
        &file,
        "# three pairs\nsrc,dst,rtt_ms\nus-east-1,eu-west-1,68\neu-central-1,ap-northeast-1,230\nSIN,SYD,95\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let out = stdout(&["topology", "validate", "--measured", path]);
    assert!(out.contains("pairs 3  median "), "{out}");
    assert!(out.contains("eu-central-1  ap-northeast-1  230.0"), "{out}");
    let fitted = stdout(&["topology", "validate", "--measured", path, "--fit"]);
    assert!(fitted.contains("[link.backbone]\ninflation = "), "{fitted}");
    // The whole output is a topology file fragment that `--config` accepts.
    let config = dir.join("link.toml");
    std::fs::write(&config, &fitted).unwrap();
    let again = stdout(&[
        "topology",
        "validate",
        "--measured",
        path,
        "--config",
        config.to_str().unwrap(),
    ]);
    let median = |text: &str| -> f64 {
        let at = text.find("median ").unwrap() + 7;
        text[at..].split(' ').next().unwrap().parse().unwrap()
    };
    assert!(median(&again) <= median(&out), "{again} vs {out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn validate_rejects_bad_input_with_its_line_and_exit_64() {
    let dir = std::env::temp_dir().join(format!("edgelab-validate-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("empty.csv", "", "no measurements"),
        (
            "place.csv",
            "src,dst,rtt_ms\nus-east-1,eu-west-1,68\nus-east-1,atlantis,5\n",
            "line 3: unknown place `atlantis`",
        ),
        (
            "rtt.csv",
            "src,dst,rtt_ms\n\nus-east-1,eu-west-1,fast\n",
            "line 3: rtt_ms `fast` is not a positive number",
        ),
    ];
    for (name, text, expected) in cases {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let output = run(
            &["topology", "validate", "--measured", file.to_str().unwrap()],
            LIMIT,
        );
        assert_eq!(output.status.code(), Some(64), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{name}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn route_svg_draws_the_path_on_a_map() {
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("route-{}.svg", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let shown = file.display().to_string();
    let out = stdout(&[
        "topology", "route", "--client", "Sydney", "--shield", "--svg", &shown,
    ]);
    assert!(out.contains(&format!("map     {shown}")), "{out}");
    let text = std::fs::read_to_string(&file).expect("the map was written");
    let svg = roxmltree::Document::parse(&text).expect("the map is well-formed XML");
    let root = svg.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    assert!(
        !text.contains("<script") && !text.contains("href"),
        "self-contained"
    );
    let with_class = |class: &str| -> Vec<roxmltree::Node<'_, '_>> {
        svg.descendants()
            .filter(|n| {
                n.attribute("class")
                    .is_some_and(|c| c.split(' ').any(|w| w == class))
            })
            .collect()
    };
    // A marker per place of the path: the client, SYD, its REC, the shield and the origin.
    let kinds: Vec<(&str, &str)> = with_class("place")
        .iter()
        .map(|n| {
            (
                n.attribute("data-id").unwrap(),
                n.attribute("data-kind").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("client:Sydney", "client"),
            ("SYD", "pop"),
            ("rec:SYD", "rec"),
            ("rec:IAD", "shield"),
            ("us-east-1", "origin"),
        ]
    );
    // The edge path's four hops and the direct one, each with the RTT the table printed.
    let hops = with_class("hop");
    assert_eq!(hops.len(), 5);
    let printed: Vec<f64> = out
        .lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(|l| {
            // The RTT follows the class column (the `to` column has spaces).
            let words: Vec<&str> = l.split_whitespace().collect();
            let class = words
                .iter()
                .position(|w| *w == "backbone" || *w == "last_mile+internet")
                .unwrap();
            words[class + 1].parse().unwrap()
        })
        .collect();
    for (hop, rtt) in hops.iter().zip(&printed) {
        assert_eq!(hop.attribute("data-mode"), Some("edge"));
        let drawn: f64 = hop.attribute("data-rtt-ms").unwrap().parse().unwrap();
        assert!((drawn - rtt).abs() < 0.051, "{drawn} vs {rtt}");
    }
    assert_eq!(hops[4].attribute("data-mode"), Some("direct"));
    // The long hops are labelled with their RTT; the land is there.
    let labels: Vec<&str> = with_class("rtt-label")
        .iter()
        .filter_map(|n| n.text())
        .collect();
    let label_of = |hop: &roxmltree::Node<'_, '_>| {
        let rtt: f64 = hop.attribute("data-rtt-ms").unwrap().parse().unwrap();
        format!("{rtt:.0} ms")
    };
    for hop in [&hops[0], &hops[2], &hops[4]] {
        assert!(labels.contains(&label_of(hop).as_str()), "{labels:?}");
    }
    assert!(with_class("land")[0].attribute("d").unwrap().len() > 10_000);
    let _ = std::fs::remove_file(&file);
}
