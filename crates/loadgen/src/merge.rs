//! Merging the reports of shards ([`crate::Shard`]) of one run into the report of the whole
//! run: the histograms and counters each report carries ([`crate::recorded`]) are added up,
//! and every summary is derived again from the sums by [`Report::derive`], the same code a
//! single run's report comes from. Percentiles are never averaged (the p99 of a sum is not
//! the mean of p99s); per-second timelines add bucket by bucket, aligned on each run's start.
//!
//! Only shards of one run merge: same label, seed, settings, workload and targets (the
//! report's [`crate::report::Fingerprint`]), the same shard count, each shard once. Origin
//! load: shards that read the same `/metrics` URLs measured one origin, so its load over the
//! merged run is the last reading after minus the first reading before (shards running side
//! by side each saw all of it); shards that read different URLs (each started its own nodes)
//! measured different origins, whose loads add.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use edgelab_link::{DeliveryErrors, PathClass};

use crate::compare::Comparison;
use crate::origin_load::OriginCounters;
use crate::record::Recorder;
use crate::recorded::{RecordedOrigin, measurements, tier_links};
use crate::report::{
    ErrorPoint, ErrorSeries, Measurements, OriginLoad, OriginRecord, OriginSecond, Report,
};
use crate::shard::ShardSet;

/// How strict a merge is.
#[derive(Clone, Copy, Debug, Default)]
pub struct MergeOptions {
    /// Merge even when some shards of the split are missing (the result says which it
    /// covers); by default every shard must be there.
    pub partial: bool,
}

/// What kind of problem stopped a merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeErrorKind {
    /// An input is not a report with recorded histograms (bad data, or an older report).
    Data,
    /// An input comes from another run (seed, settings, workload, targets, label).
    Mismatch,
    /// A shard is there twice, or one is missing.
    Shards,
}

impl MergeErrorKind {
    /// Label for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            MergeErrorKind::Data => "data",
            MergeErrorKind::Mismatch => "mismatch",
            MergeErrorKind::Shards => "shards",
        }
    }
}

/// Why reports could not be merged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct MergeError {
    /// What went wrong.
    pub kind: MergeErrorKind,
    /// The input (0-based position) it concerns, if one.
    pub input: Option<usize>,
    /// What went wrong, in words.
    pub problem: String,
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.input {
            Some(input) => write!(f, "input {}: {}", input + 1, self.problem),
            None => f.write_str(&self.problem),
        }
    }
}

impl MergeError {
    fn new(kind: MergeErrorKind, input: Option<usize>, problem: impl Into<String>) -> MergeError {
        MergeError {
            kind,
            input,
            problem: problem.into(),
        }
    }
}

/// The report of the whole run from the reports of its shards.
pub fn merge(reports: &[Report], options: MergeOptions) -> Result<Report, MergeError> {
    let Some(first) = reports.first() else {
        return Err(MergeError::new(
            MergeErrorKind::Shards,
            None,
            "no reports to merge",
        ));
    };
    for (input, report) in reports.iter().enumerate() {
        same_run(first, report, input)?;
    }
    let shards = covered_shards(reports, options)?;
    let mut recorder = Recorder::new();
    let delivery = DeliveryErrors::new();
    let mut tiers = edgelab_link::lateness::new_histogram();
    for (input, report) in reports.iter().enumerate() {
        let data = |problem| MergeError::new(MergeErrorKind::Data, Some(input), problem);
        let (recorded, links) = measurements(report).map_err(data)?;
        recorder.merge(recorded);
        for class in PathClass::ALL {
            delivery.add(class, &links.histogram(class));
        }
        if let Some(histogram) = tier_links(report).map_err(data)? {
            // invariant: auto-resizing histograms always add.
            tiers
                .add(&histogram)
                .expect("auto-resizing histograms always add");
        }
    }
    let elapsed_s = reports.iter().map(|r| r.elapsed_s).fold(0.0, f64::max);
    let mut merged = Report::derive(Measurements {
        label: first.label.clone(),
        seed: first.seed,
        settings: first.settings.clone(),
        targets: first.targets.clone(),
        shards,
        fingerprint: first.fingerprint.clone(),
        recorder: &recorder,
        delivery: &delivery,
        // The series' histograms are not carried in `Recorded`: the shards' points are
        // merged below instead.
        series: &ErrorSeries::default(),
        scheduled: reports.iter().map(|r| r.totals.scheduled).sum(),
        elapsed: Duration::from_secs_f64(elapsed_s.max(0.0)),
        interrupted: reports.iter().any(|r| r.interrupted),
        origin: merged_origin(reports),
    });
    // Shards of one run routed the same targets (their fingerprints agree): one map.
    merged.map = first.map.clone();
    if !tiers.is_empty() {
        merged.set_tier_links(&tiers);
    }
    merged
        .emulator_error
        .set_series(merged_points(reports), elapsed_s.max(0.0));
    Ok(merged)
}

/// The shards' error series as one: per interval (by its start), counts and rates summed,
/// each percentile the highest of the shards' (an upper bound of the whole run's: if no
/// shard has more than 1 % of its values above its p99, the run has no more than 1 % above
/// the highest), max exact. An interval some shard measured with another length (a longer
/// shard's coarser bins) is left out rather than mixed.
fn merged_points(reports: &[Report]) -> Vec<ErrorPoint> {
    let mut points: Vec<ErrorPoint> = Vec::new();
    let mut mixed: Vec<f64> = Vec::new();
    for point in reports.iter().flat_map(|r| &r.emulator_error.series) {
        match points.iter_mut().find(|p| p.start_s == point.start_s) {
            Some(into) if into.interval_s == point.interval_s => {
                into.rate_per_s += point.rate_per_s;
                for (into, from) in [
                    (&mut into.client_links, &point.client_links),
                    (&mut into.tier_links, &point.tier_links),
                    (&mut into.send_lateness, &point.send_lateness),
                ] {
                    into.count += from.count;
                    into.p50_ms = into.p50_ms.max(from.p50_ms);
                    into.p99_ms = into.p99_ms.max(from.p99_ms);
                    into.max_ms = into.max_ms.max(from.max_ms);
                }
            }
            Some(_) => mixed.push(point.start_s),
            None => points.push(point.clone()),
        }
    }
    points.retain(|p| !mixed.contains(&p.start_s));
    points.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    points
}

/// The comparison of the whole run from the comparisons of its shards: each run (direct,
/// edge, ga, the cold warm-up) merged on its own, then compared again.
pub fn merge_comparisons(
    comparisons: &[Comparison],
    options: MergeOptions,
) -> Result<Comparison, MergeError> {
    let side = |name: &str, pick: fn(&Comparison) -> Option<&Report>| {
        let present: Vec<Option<&Report>> = comparisons.iter().map(pick).collect();
        if present.iter().all(Option::is_none) {
            return Ok(None);
        }
        if let Some(input) = present.iter().position(Option::is_none) {
            let problem = format!("has no {name} run, while other inputs have one");
            return Err(MergeError::new(
                MergeErrorKind::Mismatch,
                Some(input),
                problem,
            ));
        }
        let reports: Vec<Report> = present.into_iter().flatten().cloned().collect();
        merge(&reports, options).map(Some)
    };
    let (Some(direct), Some(edge)) = (
        side("direct", |c| Some(&c.direct))?,
        side("edge", |c| Some(&c.edge))?,
    ) else {
        return Err(MergeError::new(
            MergeErrorKind::Shards,
            None,
            "no comparisons to merge",
        ));
    };
    let ga = side("ga", |c| c.ga.as_ref())?;
    let cold = side("cold warm-up", |c| c.cold.as_ref())?;
    let comparison = Comparison::new(&direct, &edge, ga.as_ref());
    Ok(match cold {
        Some(cold) => comparison.with_cold(cold),
        None => comparison,
    })
}

/// Checks that `report` (input `input`) is a shard of the same run as `first`.
fn same_run(first: &Report, report: &Report, input: usize) -> Result<(), MergeError> {
    let mismatch = |problem: String| {
        Err(MergeError::new(
            MergeErrorKind::Mismatch,
            Some(input),
            problem,
        ))
    };
    if report.recorded.is_none() || report.fingerprint.is_none() {
        return Err(MergeError::new(
            MergeErrorKind::Data,
            Some(input),
            "the report carries no histograms (`recorded`) or fingerprint: it was written by an \
             edgelab without `report merge`; run it again to merge it",
        ));
    }
    if report.label != first.label {
        return mismatch(format!(
            "is a `{}` run and input 1 a `{}` run",
            report.label, first.label
        ));
    }
    if report.seed != first.seed {
        return mismatch(format!(
            "seed {} differs from input 1's seed {}",
            report.seed, first.seed
        ));
    }
    let differing = differing_fields(&first.settings, &report.settings);
    if !differing.is_empty() {
        return mismatch(format!(
            "settings differ from input 1's ({})",
            differing.join(", ")
        ));
    }
    let places = |r: &Report| {
        r.targets
            .iter()
            .map(|t| t.place.clone())
            .collect::<Vec<_>>()
    };
    if places(report) != places(first) {
        return mismatch(format!(
            "client places {:?} differ from input 1's {:?}",
            places(report),
            places(first)
        ));
    }
    if let (Some(a), Some(b)) = (&first.fingerprint, &report.fingerprint) {
        if a.workload != b.workload {
            return mismatch(
                "ran another workload than input 1 (catalog, mix, populations or settings)".into(),
            );
        }
        if a.targets != b.targets {
            return mismatch(
                "sent to other targets than input 1 (modes, weights or modelled paths: \
                 another topology?)"
                    .into(),
            );
        }
    }
    if report.shards.count != first.shards.count {
        return mismatch(format!(
            "is split into {} shards and input 1 into {}",
            report.shards.count, first.shards.count
        ));
    }
    Ok(())
}

/// The top-level fields in which two serialisable values differ.
fn differing_fields<T: serde::Serialize>(a: &T, b: &T) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return Vec::new();
    };
    a.iter()
        .filter(|(key, value)| b.get(*key) != Some(value))
        .map(|(key, _)| key.clone())
        .collect()
}

/// The shards the inputs cover together: each once, all of them unless `partial`.
fn covered_shards(reports: &[Report], options: MergeOptions) -> Result<ShardSet, MergeError> {
    let count = reports[0].shards.count;
    let mut owner: BTreeMap<u32, usize> = BTreeMap::new();
    for (input, report) in reports.iter().enumerate() {
        for &index in &report.shards.indices {
            if !(1..=count).contains(&index) {
                return Err(MergeError::new(
                    MergeErrorKind::Data,
                    Some(input),
                    format!("shard {index} of {count} does not exist"),
                ));
            }
            if let Some(other) = owner.insert(index, input) {
                return Err(MergeError::new(
                    MergeErrorKind::Shards,
                    Some(input),
                    format!(
                        "shard {index} of {count} is also input {}: merging would count its \
                         requests twice",
                        other + 1
                    ),
                ));
            }
        }
    }
    let shards = ShardSet {
        count,
        indices: owner.into_keys().collect(),
    };
    if !shards.is_complete() && !options.partial {
        let missing: Vec<String> = shards.missing().iter().map(u32::to_string).collect();
        return Err(MergeError::new(
            MergeErrorKind::Shards,
            None,
            format!(
                "shard{} {} of {count} missing (merge what there is with --partial)",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", ")
            ),
        ));
    }
    Ok(shards)
}

/// One input's origin readings: the report, its origin load, its raw counters.
type OriginPart<'a> = (&'a Report, &'a OriginLoad, RecordedOrigin);

/// The origin's load over the merged run (see the module documentation); `None` unless
/// every input read the origin's counters.
fn merged_origin(reports: &[Report]) -> Option<OriginRecord> {
    let mut parts: Vec<OriginPart<'_>> = Vec::new();
    for report in reports {
        let load = report.origin.as_ref()?;
        let raw = report.recorded.as_ref()?.origin?;
        parts.push((report, load, raw));
    }
    let urls = |urls: &[String]| {
        let mut sorted = urls.to_vec();
        sorted.sort();
        sorted
    };
    let first_urls = urls(&parts.first()?.1.metrics_urls);
    if parts
        .iter()
        .all(|(_, load, _)| urls(&load.metrics_urls) == first_urls)
    {
        shared_origin(&parts)
    } else {
        Some(separate_origins(&parts))
    }
}

/// Every input read the same origin: the first reading before to the last after.
fn shared_origin(parts: &[OriginPart<'_>]) -> Option<OriginRecord> {
    let min = |f: fn(&RecordedOrigin) -> f64| {
        parts
            .iter()
            .map(|(_, _, raw)| f(raw))
            .fold(f64::INFINITY, f64::min)
    };
    let max = |f: fn(&RecordedOrigin) -> f64| {
        parts
            .iter()
            .map(|(_, _, raw)| f(raw))
            .fold(f64::NEG_INFINITY, f64::max)
    };
    // Every shard watched the same origin: the lowest shard's scrapes show its load.
    let (_, watcher, _) = parts
        .iter()
        .min_by_key(|(report, _, _)| report.shards.indices.first().copied())?;
    Some(OriginRecord {
        metrics_urls: watcher.metrics_urls.clone(),
        before: OriginCounters {
            requests: min(|r| r.before.requests),
            response_bytes: min(|r| r.before.response_bytes),
        },
        after: OriginCounters {
            requests: max(|r| r.after.requests),
            response_bytes: max(|r| r.after.response_bytes),
        },
        timeline: watcher.timeline.clone(),
    })
}

/// Each input read its own origins: their counters and per-second loads add.
fn separate_origins(parts: &[OriginPart<'_>]) -> OriginRecord {
    let mut record = OriginRecord {
        metrics_urls: Vec::new(),
        before: OriginCounters::default(),
        after: OriginCounters::default(),
        timeline: Vec::new(),
    };
    let mut seconds: BTreeMap<u64, OriginSecond> = BTreeMap::new();
    for (_, load, raw) in parts {
        for url in &load.metrics_urls {
            if !record.metrics_urls.contains(url) {
                record.metrics_urls.push(url.clone());
            }
        }
        record.before.requests += raw.before.requests;
        record.before.response_bytes += raw.before.response_bytes;
        record.after.requests += raw.after.requests;
        record.after.response_bytes += raw.after.response_bytes;
        for point in &load.timeline {
            let sum = seconds.entry(point.second).or_insert(OriginSecond {
                second: point.second,
                ..OriginSecond::default()
            });
            sum.requests += point.requests;
            sum.response_bytes += point.response_bytes;
        }
    }
    record.timeline = seconds.into_values().collect();
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RequestErrorKind;
    use crate::record::{CacheResult, ResponseSample, Sample, Tier};
    use crate::report::tests::plan_and_targets;
    use crate::report::{Fingerprint, ReportSettings, ReportTarget};
    use crate::shard::Shard;
    use crate::target::Mode;

    /// Request `i` of a made-up run: its place, result, latency and completion second.
    fn sample(i: u64) -> Sample<'static> {
        let cache = match i % 7 {
            0 => CacheResult::Miss,
            1 => CacheResult::RefreshHit,
            _ => CacheResult::Hit,
        };
        let tier = if cache == CacheResult::Miss {
            Tier::Origin
        } else if i.is_multiple_of(5) {
            Tier::Rec
        } else {
            Tier::Edge
        };
        let ms = 1 + (i * 37) % 400;
        let error = (i % 97 == 3).then(|| (RequestErrorKind::Status5xx, format!("503 #{i}")));
        Sample {
            place: i.is_multiple_of(3) as usize,
            completed_at: Duration::from_millis(i * 9),
            response: (i % 101 != 5).then_some(ResponseSample {
                cache,
                pop: if i.is_multiple_of(2) {
                    "FRA56-P1"
                } else {
                    "NRT57-P2"
                },
                tier,
                total: Duration::from_micros(ms * 1000 + i % 1000),
                ttfb: Duration::from_micros(ms * 500),
                bytes: 100 + i % 13,
            }),
            error: if i % 101 == 5 {
                Some((RequestErrorKind::Timeout, format!("late #{i}")))
            } else {
                error
            },
        }
    }

    /// The report of the requests `keep` selects, as shard `shards`.
    fn report(
        keep: impl Fn(u64) -> bool,
        shards: ShardSet,
        origin: Option<OriginRecord>,
    ) -> Report {
        let (plan, targets) = plan_and_targets(&["London", "Tokyo"], Mode::Edge);
        let mut recorder = Recorder::new();
        let delivery = DeliveryErrors::new();
        let mut tiers = edgelab_link::lateness::new_histogram();
        let mut scheduled = 0;
        for i in (0..2_000).filter(|&i| keep(i)) {
            recorder.record(sample(i));
            recorder
                .record_send_lateness(Duration::from_micros(i % 50), Duration::from_millis(i * 9));
            if i % 7 == 3 {
                recorder.record_connection_wait((i % 2) as usize, Duration::from_micros(i % 900));
            }
            delivery.record(PathClass::Internet, Duration::from_micros(i % 70));
            edgelab_link::lateness::record(&mut tiers, Duration::from_micros(i % 90));
            scheduled += 1;
        }
        let mut report = Report::derive(Measurements {
            label: "edge".into(),
            seed: 1,
            settings: ReportSettings::of(&plan),
            targets: targets.iter().map(ReportTarget::of).collect(),
            shards,
            fingerprint: Some(Fingerprint::of(&plan, &targets)),
            recorder: &recorder,
            delivery: &delivery,
            series: &ErrorSeries::default(),
            scheduled: scheduled + 1,
            elapsed: Duration::from_secs(18),
            interrupted: false,
            origin,
        });
        report.set_tier_links(&tiers);
        report
    }

    fn shard_reports(count: u32) -> Vec<Report> {
        (1..=count)
            .map(|index| {
                let shard = Shard::new(index, count).unwrap();
                let saved = report(|i| shard.contains(i), shard.into(), None).to_json();
                serde_json::from_str(&saved).unwrap()
            })
            .collect()
    }

    #[test]
    fn merged_shards_equal_the_whole_run_exactly() {
        let whole = report(|_| true, ShardSet::default(), None);
        let merged = merge(&shard_reports(3), MergeOptions::default()).unwrap();
        assert_eq!(merged.shards.indices, [1, 2, 3]);
        assert_eq!(merged.latency, whole.latency);
        assert_eq!(merged.ttfb, whole.ttfb);
        assert_eq!(merged.places, whole.places);
        assert_eq!(merged.groups, whole.groups);
        assert_eq!(merged.tiers, whole.tiers);
        assert_eq!(merged.timeline, whole.timeline);
        assert_eq!(merged.errors.total, whole.errors.total);
        assert_eq!(merged.errors.by_kind, whole.errors.by_kind);
        assert_eq!(merged.errors.by_place, whole.errors.by_place);
        // The merged series is the shards' points merged (counts and rates add up to the
        // whole run's, percentiles at most the highest shard's); all else is equal.
        let series = &whole.emulator_error.series;
        assert!(!series.is_empty());
        let merged_series = &merged.emulator_error.series;
        assert_eq!(merged_series.len(), series.len());
        for (merged, whole) in merged_series.iter().zip(series) {
            assert_eq!(merged.start_s, whole.start_s);
            assert_eq!(merged.interval_s, whole.interval_s);
            assert!(
                (merged.rate_per_s - whole.rate_per_s).abs() < 1e-6,
                "{merged:?}"
            );
            assert_eq!(merged.send_lateness.count, whole.send_lateness.count);
            assert_eq!(merged.send_lateness.max_ms, whole.send_lateness.max_ms);
            assert!(merged.send_lateness.p99_ms >= whole.send_lateness.p99_ms);
        }
        let mut whole_error = whole.emulator_error.clone();
        let mut merged_error = merged.emulator_error.clone();
        for error in [&mut whole_error, &mut merged_error] {
            error.series.clear();
            error.late_in_part = None;
        }
        assert_eq!(merged_error, whole_error);
        assert_eq!(
            merged.emulator_error.tier_links.count, 2_000,
            "the tier links' lateness adds up too"
        );
        assert_eq!(merged.connection_wait, whole.connection_wait);
        assert!(whole.connection_wait.count > 0 && whole.places[1].connection_waits > 0);
        assert_eq!(merged.fingerprint, whole.fingerprint);
        let (m, w) = (&merged.totals, &whole.totals);
        assert_eq!(
            (
                m.completed,
                m.responses,
                m.hits,
                m.misses,
                m.bytes,
                m.errors
            ),
            (
                w.completed,
                w.responses,
                w.hits,
                w.misses,
                w.bytes,
                w.errors
            )
        );
        // Each shard counted its own scheduled requests (+1 unfinished each here).
        assert_eq!(m.scheduled, w.scheduled + 2);
        // The histograms themselves add up, so merging merged reports works too.
        let again = merge(std::slice::from_ref(&merged), MergeOptions::default()).unwrap();
        assert_eq!(
            (&again.places, &again.groups, &again.emulator_error),
            (&merged.places, &merged.groups, &merged.emulator_error)
        );
        // Averaging the shards' p99 would not give this (it is a different number).
        let shards = shard_reports(3);
        let mean_p99 = shards.iter().map(|r| r.latency.p99_ms).sum::<f64>() / 3.0;
        assert_ne!(mean_p99, whole.latency.p99_ms);
    }

    #[test]
    fn only_every_shard_of_one_run_merges() {
        let shards = shard_reports(3);
        let fail = |reports: &[Report], options| merge(reports, options).unwrap_err();
        let missing = fail(&shards[..2], MergeOptions::default());
        assert_eq!(missing.kind, MergeErrorKind::Shards);
        assert!(
            missing.problem.contains("shard 3 of 3 missing"),
            "{missing}"
        );
        let partial = merge(&shards[..2], MergeOptions { partial: true }).unwrap();
        assert_eq!(partial.shards.to_string(), "1,2 of 3");
        assert!(partial.summary().contains("merged shards 1,2 of 3"));

        let twice = fail(
            &[shards[0].clone(), shards[0].clone()],
            MergeOptions::default(),
        );
        assert_eq!((twice.kind, twice.input), (MergeErrorKind::Shards, Some(1)));
        assert!(twice.problem.contains("twice"), "{twice}");

        let mut other_seed = shards[1].clone();
        other_seed.seed = 2;
        let error = fail(&[shards[0].clone(), other_seed], MergeOptions::default());
        assert_eq!(
            (error.kind, error.input),
            (MergeErrorKind::Mismatch, Some(1))
        );
        assert!(error.to_string().starts_with("input 2: seed 2"), "{error}");

        let mut other_rate = shards[1].clone();
        other_rate.settings.duration_s = 99.0;
        let error = fail(&[shards[0].clone(), other_rate], MergeOptions::default());
        assert!(error.problem.contains("(duration_s)"), "{error}");

        let mut other_topology = shards[2].clone();
        if let Some(f) = other_topology.fingerprint.as_mut() {
            f.targets = "0".repeat(16);
        }
        let error = fail(
            &[shards[0].clone(), other_topology],
            MergeOptions::default(),
        );
        assert!(error.problem.contains("another topology"), "{error}");

        let mut direct = shards[1].clone();
        direct.label = "direct".into();
        assert_eq!(
            fail(&[shards[0].clone(), direct], MergeOptions::default()).kind,
            MergeErrorKind::Mismatch
        );

        let mut old = shards[1].clone();
        old.recorded = None;
        let error = fail(&[shards[0].clone(), old], MergeOptions::default());
        assert_eq!(error.kind, MergeErrorKind::Data);

        let mut split_in_two = shards[1].clone();
        split_in_two.shards.count = 2;
        assert_eq!(
            fail(&[shards[0].clone(), split_in_two], MergeOptions::default()).kind,
            MergeErrorKind::Mismatch
        );
        assert_eq!(
            fail(&[], MergeOptions::default()).kind,
            MergeErrorKind::Shards
        );
    }

    fn origin(url: &str, before: f64, after: f64, timeline: &[(u64, f64)]) -> OriginRecord {
        OriginRecord {
            metrics_urls: vec![url.to_string()],
            before: OriginCounters {
                requests: before,
                response_bytes: before * 10.0,
            },
            after: OriginCounters {
                requests: after,
                response_bytes: after * 10.0,
            },
            timeline: timeline
                .iter()
                .map(|&(second, requests)| OriginSecond {
                    second,
                    requests,
                    response_bytes: requests * 10.0,
                })
                .collect(),
        }
    }

    fn with_origins(origins: [OriginRecord; 2]) -> Report {
        let [a, b] = origins;
        let shard = |index| Shard::new(index, 2).unwrap();
        let reports = [
            report(|i| shard(1).contains(i), shard(1).into(), Some(a)),
            report(|i| shard(2).contains(i), shard(2).into(), Some(b)),
        ];
        merge(&reports, MergeOptions::default()).unwrap()
    }

    #[test]
    fn one_origin_seen_by_every_shard_is_counted_once() {
        // Both shards read the same origin, side by side: 100 → 160 and 102 → 165.
        let merged = with_origins([
            origin(
                "http://web:9090/metrics",
                100.0,
                160.0,
                &[(1, 30.0), (2, 30.0)],
            ),
            origin(
                "http://web:9090/metrics",
                102.0,
                165.0,
                &[(1, 31.0), (2, 29.0)],
            ),
        ]);
        let load = merged.origin.unwrap();
        assert_eq!((load.requests, load.response_bytes), (65.0, 650.0));
        assert_eq!(load.timeline[0].requests, 30.0, "shard 1's view");
    }

    #[test]
    fn separate_origins_add_up() {
        // Each shard started its own nodes: two origins, whose loads add.
        let merged = with_origins([
            origin(
                "http://127.0.0.1:4001/metrics",
                0.0,
                40.0,
                &[(1, 20.0), (2, 20.0)],
            ),
            origin(
                "http://127.0.0.1:4002/metrics",
                0.0,
                38.0,
                &[(1, 18.0), (3, 20.0)],
            ),
        ]);
        let load = merged.origin.unwrap();
        assert_eq!((load.requests, load.response_bytes), (78.0, 780.0));
        let seconds: Vec<(u64, f64)> = load
            .timeline
            .iter()
            .map(|p| (p.second, p.requests))
            .collect();
        assert_eq!(seconds, [(1, 38.0), (2, 20.0), (3, 20.0)]);
        assert_eq!(load.metrics_urls.len(), 2);
    }

    #[test]
    fn comparisons_merge_run_by_run() {
        let shards = shard_reports(2);
        let direct: Vec<Report> = shards
            .iter()
            .map(|r| Report {
                label: "direct".into(),
                ..r.clone()
            })
            .collect();
        let comparisons: Vec<Comparison> = direct
            .iter()
            .zip(&shards)
            .map(|(d, e)| Comparison::new(d, e, None))
            .collect();
        let merged = merge_comparisons(&comparisons, MergeOptions::default()).unwrap();
        let edge = merge(&shards, MergeOptions::default()).unwrap();
        let direct = merge(&direct, MergeOptions::default()).unwrap();
        assert_eq!(merged, Comparison::new(&direct, &edge, None));
        let mut with_ga = comparisons.clone();
        with_ga[1].ga = Some(shards[1].clone());
        let error = merge_comparisons(&with_ga, MergeOptions::default()).unwrap_err();
        assert_eq!(
            (error.kind, error.input),
            (MergeErrorKind::Mismatch, Some(0))
        );
    }
}
