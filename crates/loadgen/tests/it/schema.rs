//! The JSON report matches `loadtest/report.schema.json`, and the schema is strict enough to
//! reject a report that drifted.

use std::time::Duration;

use edgelab_common::shutdown::Shutdown;
use edgelab_loadgen::scenario::{Arrival, Population, Settings};
use edgelab_loadgen::{Catalog, Mode, Plan, RunOptions, Target};

use crate::support::{Behaviour, start};

fn validator() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../loadtest/report.schema.json"
    );
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("the schema itself is valid")
}

fn problems(validator: &jsonschema::Validator, value: &serde_json::Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_match_the_published_schema() {
    let edge = start(Behaviour {
        cache: true,
        ..Behaviour::default()
    })
    .await;
    let broken = start(Behaviour {
        corrupt: true,
        ..Behaviour::default()
    })
    .await;
    let catalog = Catalog::discover(&edge.url(), Duration::from_secs(5))
        .await
        .unwrap();
    let settings = Settings {
        seed: 3,
        arrival: Arrival::Poisson { rate: 800.0 },
        requests: Some(200),
        connections: 2,
        populations: vec![
            Population {
                place: "London".into(),
                weight: 2.0,
                skew: 0.3,
            },
            Population {
                place: "Tokyo".into(),
                weight: 1.0,
                skew: 0.0,
            },
        ],
        ..Settings::default()
    };
    let targets = vec![
        Target {
            place: "London".into(),
            weight: 2.0,
            ..edge.target(Mode::Edge)
        },
        Target {
            place: "Tokyo".into(),
            weight: 1.0,
            // An emulated path, so the report has link deliveries to show.
            hop: edgelab_loadgen::Hop::fixed(Duration::from_millis(1)),
            ..broken.target(Mode::Direct)
        },
    ];
    let places: Vec<String> = targets.iter().map(|t| t.place.clone()).collect();
    let plan = Plan::new(settings, &catalog, &places).unwrap();
    let options = RunOptions {
        label: "edge".into(),
        origin_metrics: vec![edge.metrics_url()],
        ..RunOptions::default()
    };
    let report = edgelab_loadgen::run(&plan, &targets, &options, Shutdown::new())
        .await
        .unwrap();
    assert!(
        report.totals.errors > 0 && report.totals.hits > 0,
        "exercise every part: {:?}",
        report.totals
    );
    assert_eq!(report.places.len(), 2);
    let own = &report.emulator_error;
    assert!(
        own.send_lateness.count > 0 && own.emulation.count > 0,
        "{own:?}"
    );
    assert_eq!(own.emulation_by_class[0].class, "internet");

    let validator = validator();
    let value: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    let found = problems(&validator, &value);
    assert!(found.is_empty(), "{found:#?}");

    // The report reads back (compare works from saved JSON).
    let back: edgelab_loadgen::Report = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(back, report);

    // A drifted report is rejected.
    let mut drifted = value.clone();
    drifted["totals"]["hit_rate"] = serde_json::json!(0.5);
    assert!(!problems(&validator, &drifted).is_empty());
    let mut drifted = value.clone();
    drifted["groups"][0]["cache"] = serde_json::json!("HIT");
    assert!(!problems(&validator, &drifted).is_empty());
    let mut drifted = value.clone();
    drifted["emulator_error"]["send_lateness"]["p99"] = serde_json::json!(0.1);
    assert!(!problems(&validator, &drifted).is_empty());
    let mut drifted = value.clone();
    drifted["emulator_error"]
        .as_object_mut()
        .unwrap()
        .remove("emulation");
    assert!(!problems(&validator, &drifted).is_empty());
    let mut drifted = value.clone();
    drifted["recorded"]["groups"][0]
        .as_object_mut()
        .unwrap()
        .remove("total");
    assert!(!problems(&validator, &drifted).is_empty());

    // The lossless part is there, and a report written before it existed still validates
    // and reads (as the whole, unsharded run).
    assert!(value["recorded"]["groups"][0]["total"].is_string());
    assert_eq!(
        value["shards"],
        serde_json::json!({ "count": 1, "indices": [1] })
    );
    let mut older = value;
    for key in ["shards", "fingerprint", "recorded"] {
        older.as_object_mut().unwrap().remove(key);
    }
    assert!(problems(&validator, &older).is_empty());
    let older: edgelab_loadgen::Report = serde_json::from_value(older).unwrap();
    assert_eq!(older.shards, edgelab_loadgen::ShardSet::default());
    assert_eq!(older.recorded, None);
}

#[test]
fn maps_match_the_published_schema() {
    let validator = validator();
    let runs: serde_json::Value =
        serde_json::from_str(include_str!("../data/runs.json")).expect("fixture parses");
    let mut edge = serde_json::Value::Null;
    for run in ["direct", "edge"] {
        // Through the report type, which fills in what the older fixture leaves out.
        let report: edgelab_loadgen::Report = serde_json::from_value(runs[run].clone()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert!(
            value["map"]["paths"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        );
        assert_eq!(
            value["map"], runs[run]["map"],
            "{run}: the map reads back as written"
        );
        let found = problems(&validator, &value);
        assert!(found.is_empty(), "{run}: {found:#?}");
        edge = value;
    }
    let mut drifted = edge.clone();
    drifted["map"]["places"][0]["kind"] = serde_json::json!("airport");
    assert!(!problems(&validator, &drifted).is_empty());
    let mut drifted = edge;
    drifted["map"]["paths"][0]["hops"][0]
        .as_object_mut()
        .unwrap()
        .remove("rtt_ms");
    assert!(!problems(&validator, &drifted).is_empty());
}
