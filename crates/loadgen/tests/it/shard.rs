//! A sharded run against the real origin on loopback, over modelled paths: three shards side
//! by side send exactly the requests of one unsharded run (running at the same time against
//! another origin of the same catalog), and their merged report matches the unsharded one
//! (counts and bytes exactly, percentiles within the measurement's noise).

use std::time::Duration;

use edgelab_common::shutdown::Shutdown;
use edgelab_loadgen::merge::{MergeOptions, merge};
use edgelab_loadgen::record;
use edgelab_loadgen::recorded;
use edgelab_loadgen::report::Report;
use edgelab_loadgen::scenario::{Arrival, Population, Settings};
use edgelab_loadgen::{Catalog, Hop, Mode, Plan, RunOptions, Shard, Target};
use hdrhistogram::Histogram;

use crate::cdn::{Cdn, cdn};

/// Two places with different modelled RTTs, about 50 requests/s each. The unsharded run has
/// 3 connections per place and each of the 3 shards 1, so both open as many connections (each
/// pays its connect round trip once) and carry the same load per connection (about 17
/// requests/s, against 3 or 5 ms per exchange): what differs is only who sends. The rate is
/// low enough that a saturated two-core host still serves both runs (at 200 requests/s in
/// all, debug builds under a load average of 20 queued requests for seconds and timed some
/// out); the timeout is long so that a slow moment is latency, not a lost request.
fn settings(shard: Shard) -> Settings {
    let place = |name: &str| Population {
        place: name.into(),
        weight: 1.0,
        skew: 0.2,
    };
    Settings {
        seed: 5,
        arrival: Arrival::Constant { rate: 100.0 },
        requests: Some(REQUESTS),
        duration: Duration::from_secs(60),
        connections: if shard.is_whole() { 3 } else { 1 },
        timeout: Duration::from_secs(30),
        populations: vec![place("London"), place("Tokyo")],
        shard,
        ..Settings::default()
    }
}

const RTT_MS: [u64; 2] = [3, 5];

/// Requests of the whole run.
const REQUESTS: u64 = 400;

async fn run(cdn: &Cdn, catalog: &Catalog, shard: Shard) -> Report {
    let targets: Vec<Target> = ["London", "Tokyo"]
        .iter()
        .zip(RTT_MS)
        .map(|(place, rtt)| Target {
            place: place.to_string(),
            hop: Hop::fixed(Duration::from_millis(rtt)),
            ..Target::local(cdn.origin.clone(), Mode::Direct)
        })
        .collect();
    let places: Vec<String> = targets.iter().map(|t| t.place.clone()).collect();
    let plan = Plan::new(settings(shard), catalog, &places).unwrap();
    let options = RunOptions {
        label: "direct".into(),
        origin_metrics: vec![cdn.origin_metrics.clone()],
        ..RunOptions::default()
    };
    edgelab_loadgen::run(&plan, &targets, &options, Shutdown::new())
        .await
        .unwrap()
}

/// One place's latency histogram (µs), rebuilt from the report's lossless copy.
fn histogram(report: &Report, place: &str) -> Histogram<u64> {
    let mut all = record::new_histogram();
    let recorded = report.recorded.as_ref().unwrap();
    for group in recorded.groups.iter().filter(|g| g.place == place) {
        all.add(recorded::decode(&group.total).unwrap()).unwrap();
    }
    all
}

/// Whether `merged`'s value at quantile `q` agrees with `whole`'s within the measurement's
/// noise.
///
/// Every latency is a modelled RTT plus the emulator's own error (link delivery and send
/// lateness) plus any wait for a free connection when the server fell behind, which each
/// report measures: `noise_ms` is the larger sum of those p99s of the two runs. The
/// two runs draw that noise independently, so their empirical quantiles differ by sampling
/// error (the standard error of a quantile's rank is `sqrt(q (1 - q) / n)`) and by how busy
/// the host was during each. The merged value at `q` must lie within the unsharded run's
/// values at `q ± 4` standard errors (rank), widened by the histogram's 0.1 %, the link
/// timer's 1 ms tick and `noise_ms`. On a quiet host (noise ≈ 1 ms) that is a few ms at p99;
/// on a saturated one the reports warn, and the band widens with what they measured.
fn agrees(
    whole: &Histogram<u64>,
    merged: &Histogram<u64>,
    q: f64,
    noise_ms: f64,
) -> Result<(), String> {
    let n = whole.len() as f64;
    let band = 4.0 * (q * (1.0 - q) / n).sqrt();
    let ms = |us: u64| us as f64 / 1000.0;
    let low = ms(whole.value_at_quantile((q - band).max(0.0))) * 0.999 - 1.0 - noise_ms;
    let high = ms(whole.value_at_quantile((q + band).min(1.0))) * 1.001 + 1.0 + noise_ms;
    let got = ms(merged.value_at_quantile(q));
    if (low..=high).contains(&got) {
        Ok(())
    } else {
        Err(format!(
            "q{q}: merged {got:.3} ms outside the unsharded run's [{low:.3}, {high:.3}] ms \
             (its q{q} ± {band:.4}); unsharded q{q} {:.3} ms",
            ms(whole.value_at_quantile(q))
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_shards_match_the_unsharded_run() {
    // The unsharded run and the three shards run at the same time, against two origins of
    // the same catalog, so both see the same host: a busy moment slows both, not one.
    let (one, other) = (cdn().await, cdn().await);
    let catalog = Catalog::discover(&one.origin, Duration::from_secs(5))
        .await
        .unwrap();
    let shard = |index| Shard::new(index, 3).unwrap();
    let (whole, a, b, c) = tokio::join!(
        run(&one, &catalog, Shard::WHOLE),
        run(&other, &catalog, shard(1)),
        run(&other, &catalog, shard(2)),
        run(&other, &catalog, shard(3))
    );
    // Through JSON, as the reports travel between machines.
    let shards: Vec<Report> = [a, b, c]
        .iter()
        .map(|r| serde_json::from_str(&r.to_json()).unwrap())
        .collect();
    assert_eq!(
        shards
            .iter()
            .map(|r| r.totals.scheduled)
            .collect::<Vec<_>>(),
        [134, 133, 133],
        "request i of 400 goes to shard i mod 3 + 1"
    );
    let merged = merge(&shards, MergeOptions::default()).unwrap();

    // The same requests: counts per place, bytes (the same objects) and the origins' own
    // counts (the shards' origin read by every shard, counted once) are equal exactly.
    let (w, m) = (&whole.totals, &merged.totals);
    assert_eq!((w.completed, w.errors), (REQUESTS, 0), "{:?}", whole.errors);
    assert_eq!(
        (m.scheduled, m.completed, m.responses, m.errors, m.bytes),
        (w.scheduled, w.completed, w.responses, w.errors, w.bytes)
    );
    for (whole_place, merged_place) in whole.places.iter().zip(&merged.places) {
        assert_eq!(whole_place.place, merged_place.place);
        assert_eq!(whole_place.responses, merged_place.responses);
    }
    assert_eq!(whole.origin.as_ref().unwrap().requests, REQUESTS as f64);
    assert_eq!(merged.origin.as_ref().unwrap().requests, REQUESTS as f64);
    assert_eq!(
        merged.origin.as_ref().unwrap().response_bytes,
        whole.origin.as_ref().unwrap().response_bytes
    );

    let noise = [&whole, &merged]
        .iter()
        .map(|r| r.emulator_error.worst_p99_ms() + r.connection_wait.p99_ms)
        .fold(0.0, f64::max);
    let numbers = format!(
        "unsharded vs merged (ms): {}; emulator error + connection wait p99 {noise:.3} ms",
        whole
            .places
            .iter()
            .zip(&merged.places)
            .map(|(w, m)| format!(
                "{} p50 {:.3}/{:.3} p90 {:.3}/{:.3} p99 {:.3}/{:.3}",
                w.place,
                w.latency.p50_ms,
                m.latency.p50_ms,
                w.latency.p90_ms,
                m.latency.p90_ms,
                w.latency.p99_ms,
                m.latency.p99_ms
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    // The same latencies, within sampling error (see `agrees`).
    for (place, rtt) in ["London", "Tokyo"].iter().zip(RTT_MS) {
        let (w, m) = (histogram(&whole, place), histogram(&merged, place));
        assert_eq!(w.len(), m.len(), "{place}");
        for q in [0.5, 0.9, 0.99] {
            if let Err(problem) = agrees(&w, &m, q, noise) {
                panic!("{place} {problem}; {numbers}");
            }
        }
        assert!(
            m.value_at_quantile(0.5) >= rtt * 1000,
            "{place} p50 below the modelled {rtt} ms"
        );
    }
}
