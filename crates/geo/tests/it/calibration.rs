//! The fit of the default backbone, reproduced: the defaults are what `fit` finds on the
//! published Azure P50 table, and the residuals quoted in `docs/latency-model.md` hold on
//! it and on the held-out IBM Cloud table. Run with `--nocapture` to see the worst pairs.

use edgelab_geo::{
    LatencyModel, Measurement, PathClass, Residuals, Topology, fit, parse_measured, residuals,
};

const AZURE: &str = include_str!("../../data/calibration/azure-p50-2026-07.csv");
const IBM: &str = include_str!("../../data/calibration/ibm-cloud-2026-02.csv");

fn load(text: &str) -> Vec<Measurement> {
    parse_measured(text, Topology::embedded()).expect("calibration data parses")
}

// The residuals are this test's report (`--nocapture`).
#[allow(clippy::print_stdout)]
fn show(name: &str, r: &Residuals) {
    println!(
        "{name}: {} pairs, median {:.1} %, p90 {:.1} %, max {:.1} %, mean {:.1} %, bias {:+.1} %",
        r.pairs,
        r.median_ape * 100.0,
        r.p90_ape * 100.0,
        r.max_ape * 100.0,
        r.mean_ape * 100.0,
        r.median_bias * 100.0
    );
    for p in &r.worst {
        println!(
            "  {} - {}: measured {:.0} ms, modelled {:.1} ms ({:.0} %)",
            p.src,
            p.dst,
            p.measured_ms,
            p.modelled_ms,
            p.ape * 100.0
        );
    }
}

#[test]
fn the_default_backbone_is_the_fit_to_the_azure_table() {
    let azure = load(AZURE);
    let model = LatencyModel::default();
    let f = fit(&model, &azure, PathClass::Backbone);
    show("azure (fit set)", &f.before);
    for (name, value) in &f.parameters {
        let default = match *name {
            "backbone.inflation" => model.backbone.inflation,
            "graph.submarine_inflation" => model.graph.submarine_inflation,
            "graph.hub_ms" => model.graph.hub_ms,
            "graph.entry_ms" => model.graph.entry_ms,
            other => panic!("unexpected knob {other}"),
        };
        assert!(
            (value - default).abs() < 0.01,
            "{name}: fit {value}, default {default}"
        );
    }
    // The numbers in docs/latency-model.md, to the rounding shown there.
    assert_eq!(f.before.pairs, 780);
    assert!(f.before.median_ape <= 0.047, "{:?}", f.before.median_ape);
    assert!(f.before.p90_ape <= 0.135, "{:?}", f.before.p90_ape);
    assert!(f.before.max_ape <= 0.355, "{:?}", f.before.max_ape);
}

#[test]
fn the_default_backbone_on_the_held_out_ibm_table() {
    let r = residuals(&LatencyModel::default(), &load(IBM), PathClass::Backbone);
    show("ibm (held out)", &r);
    assert_eq!(r.pairs, 66);
    assert!(r.median_ape <= 0.06, "{:?}", r.median_ape);
    assert!(r.p90_ape <= 0.165, "{:?}", r.p90_ape);
    assert!(r.max_ape <= 0.275, "{:?}", r.max_ape);
}

const WONDERPROXY: &str = include_str!("../../data/calibration/wonderproxy-2011.csv");

#[test]
fn the_default_internet_is_the_fit_to_the_wonderproxy_pings() {
    let pings = load(WONDERPROXY);
    let model = LatencyModel::default();
    let f = fit(&model, &pings, PathClass::Internet);
    show("wonderproxy 2011 (internet fit set)", &f.before);
    for (name, value) in &f.parameters {
        let default = match *name {
            "internet.inflation" => model.internet.inflation,
            "internet.fixed_ms" => model.internet.fixed_ms,
            "graph.internet_detour_ms" => model.graph.internet_detour_ms,
            "graph.internet_detour_km" => model.graph.internet_detour_km,
            other => panic!("unexpected knob {other}"),
        };
        assert!(
            (value - default).abs() < 0.01,
            "{name}: fit {value}, default {default} ({:?})",
            f.parameters
        );
    }
    assert_eq!(f.before.pairs, 35);
    assert!(f.before.median_ape <= 0.084, "{:?}", f.before.median_ape);
    assert!(f.before.p90_ape <= 0.232, "{:?}", f.before.p90_ape);
}

/// The internet has no second public table here, so hold back part of the one it has: fit
/// on the pairs without Brisbane and Zurich, score the pairs with them.
#[test]
fn the_internet_fit_on_part_of_the_pings_predicts_the_rest() {
    let pings = load(WONDERPROXY);
    let held = |m: &Measurement| {
        ["Brisbane", "Zurich"]
            .iter()
            .any(|c| m.src == *c || m.dst == *c)
    };
    let (back, fit_set): (Vec<Measurement>, Vec<Measurement>) =
        pings.into_iter().partition(|m| held(m));
    let f = fit(&LatencyModel::default(), &fit_set, PathClass::Internet);
    show("wonderproxy without Brisbane, Zurich (fit)", &f.after);
    let r = residuals(&f.model, &back, PathClass::Internet);
    show("wonderproxy Brisbane, Zurich (held back)", &r);
    assert_eq!((fit_set.len(), r.pairs), (21, 14));
    assert!(r.median_ape <= 0.15, "{:?}", r.median_ape);
}
