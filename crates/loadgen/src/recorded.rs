//! What a run recorded, carried losslessly inside its report ([`Recorded`]): every HDR
//! histogram (latency and TTFB per group, send lateness, link delivery lateness per path
//! class) in HdrHistogram's V2 format, deflated and base64-encoded, the error counts per place
//! and kind, and the origin's raw counters. With the report's per-second timeline (already
//! plain counts) that is everything [`crate::Report::derive`] needs, so a report can be turned
//! back into a [`Recorder`] and added to another: reports of shards merge by adding
//! histograms and counters, never by averaging percentiles ([`crate::merge`]).
//!
//! The V2 encoding is HdrHistogram's own interchange format (the one its Java, C, Go and
//! Python implementations read), so the histograms can also be read by other tools.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use edgelab_link::{DeliveryErrors, PathClass};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::error::RequestErrorKind;
use crate::origin_load::OriginCounters;
use crate::record::{CacheResult, Group, Recorder, SecondCounts, Tier, new_histogram, tier_index};
use crate::report::{ErrorExample, KindCount, Report};

/// The encoding of every histogram in [`Recorded`].
pub const ENCODING: &str = "hdrhistogram-v2-deflate+base64";

/// A run's measurements, losslessly (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// How the histograms are encoded ([`ENCODING`]).
    pub encoding: String,
    /// Latency histograms per place × X-Cache × PoP × tier (µs).
    pub groups: Vec<RecordedGroup>,
    /// Failed requests per place and kind.
    pub errors: Vec<RecordedErrors>,
    /// Send lateness (ns), open loop.
    pub send_lateness: Option<String>,
    /// Connection waits (ns) per place, open loop (only places where a request waited).
    /// Absent in reports written before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connection_wait: Vec<RecordedWait>,
    /// Client link delivery lateness (ns) per path class.
    pub emulation: Vec<RecordedClass>,
    /// Delivery lateness (ns) of the links between the tiers, when the cache nodes measured
    /// it ([`EmulatorError::tier_links`](crate::report::EmulatorError::tier_links)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier_links: Option<String>,
    /// The origin's counters before and after the run.
    pub origin: Option<RecordedOrigin>,
}

/// One group's histograms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedGroup {
    /// Client place.
    pub place: String,
    /// X-Cache result.
    pub cache: CacheResult,
    /// PoP label.
    pub pop: String,
    /// Serving tier.
    pub tier: Tier,
    /// Body bytes.
    pub bytes: u64,
    /// Total latency, µs (encoded).
    pub total: String,
    /// Time to first byte, µs (encoded).
    pub ttfb: String,
}

/// One place's failed requests by kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedErrors {
    /// Client place.
    pub place: String,
    /// Count per kind (only kinds that occurred).
    pub by_kind: Vec<KindCount>,
}

/// One place's connection waits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedWait {
    /// Client place.
    pub place: String,
    /// How long each waiting request waited for a free connection, ns (encoded).
    pub wait: String,
}

/// One path class's delivery lateness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedClass {
    /// `backbone`, `internet` or `last_mile`.
    pub class: String,
    /// Lateness, ns (encoded).
    pub lateness: String,
}

/// The origin's summed counters around the run (absolute values, not differences).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedOrigin {
    /// Before the run.
    pub before: OriginCounters,
    /// After the run.
    pub after: OriginCounters,
}

/// `histogram` in V2 deflate format, base64.
pub fn encode(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // invariant: writing to a Vec cannot fail, and u64 counts of one run stay far below the
    // format's i64 limit.
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .expect("a histogram serialises into memory");
    BASE64.encode(bytes)
}

/// The histogram `text` encodes, added into a fresh auto-resizing one (3 significant digits).
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = BASE64
        .decode(text)
        .map_err(|error| format!("not base64: {error}"))?;
    let histogram: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|error| format!("not an HdrHistogram V2 histogram: {error:?}"))?;
    let mut grown = new_histogram();
    grown
        .add(&histogram)
        .map_err(|error| format!("histogram out of range: {error:?}"))?;
    Ok(grown)
}

impl Recorded {
    /// The lossless copy of `recorder` and `delivery`; `place_name` names a place index.
    pub fn new(
        recorder: &Recorder,
        delivery: &DeliveryErrors,
        place_name: &dyn Fn(usize) -> String,
        origin: Option<RecordedOrigin>,
    ) -> Recorded {
        let groups = recorder
            .groups
            .iter()
            .map(|group| RecordedGroup {
                place: place_name(group.place),
                cache: group.cache,
                pop: group.pop.clone(),
                tier: group.tier,
                bytes: group.bytes,
                total: encode(&group.total),
                ttfb: encode(&group.ttfb),
            })
            .collect();
        let errors = recorder
            .errors
            .iter()
            .map(|(place, counts)| RecordedErrors {
                place: place_name(*place),
                by_kind: RequestErrorKind::ALL
                    .iter()
                    .filter(|kind| counts[kind.index()] > 0)
                    .map(|kind| KindCount {
                        kind: kind.as_str().to_string(),
                        count: counts[kind.index()],
                    })
                    .collect(),
            })
            .collect();
        let emulation = PathClass::ALL
            .iter()
            .map(|&class| (class, delivery.histogram(class)))
            .filter(|(_, histogram)| !histogram.is_empty())
            .map(|(class, histogram)| RecordedClass {
                class: class.as_str().to_string(),
                lateness: encode(&histogram),
            })
            .collect();
        Recorded {
            encoding: ENCODING.to_string(),
            groups,
            errors,
            send_lateness: recorder.send_lateness.as_ref().map(encode),
            connection_wait: recorder
                .connection_wait
                .iter()
                .map(|(place, waits)| RecordedWait {
                    place: place_name(*place),
                    wait: encode(waits),
                })
                .collect(),
            emulation,
            tier_links: None,
            origin,
        }
    }
}

/// A report's measurements back as a [`Recorder`] and the delivery lateness of its links: the
/// inverse of [`Recorded::new`] (with the report's timeline and error examples).
pub fn measurements(report: &Report) -> Result<(Recorder, DeliveryErrors), String> {
    let recorded = report.recorded.as_ref().ok_or(
        "the report carries no histograms (`recorded`): it was written by an edgelab \
         without `report merge`; run it again to merge it",
    )?;
    if recorded.encoding != ENCODING {
        return Err(format!(
            "histograms encoded as `{}`, expected `{ENCODING}`",
            recorded.encoding
        ));
    }
    let place = |name: &str| {
        report
            .targets
            .iter()
            .position(|t| t.place == name)
            .ok_or_else(|| format!("place `{name}` is not among the report's targets"))
    };
    let mut recorder = Recorder::new();
    for (index, group) in recorded.groups.iter().enumerate() {
        let field = |part: &str, error: String| format!("recorded.groups[{index}].{part}: {error}");
        recorder.groups.push(Group {
            place: place(&group.place)?,
            cache: group.cache,
            pop: group.pop.clone(),
            tier: group.tier,
            total: decode(&group.total).map_err(|e| field("total", e))?,
            ttfb: decode(&group.ttfb).map_err(|e| field("ttfb", e))?,
            bytes: group.bytes,
        });
    }
    for errors in &recorded.errors {
        let mut counts = [0; RequestErrorKind::ALL.len()];
        for count in &errors.by_kind {
            let kind = error_kind(&count.kind)?;
            counts[kind.index()] += count.count;
        }
        recorder.errors.push((place(&errors.place)?, counts));
    }
    recorder.error_examples = report
        .errors
        .examples
        .iter()
        .map(|ErrorExample { kind, message }| Ok((error_kind(kind)?, message.clone())))
        .collect::<Result<_, String>>()?;
    recorder.timeline = report.timeline.iter().map(second_counts).collect();
    recorder.send_lateness = match &recorded.send_lateness {
        Some(text) => Some(decode(text).map_err(|e| format!("recorded.send_lateness: {e}"))?),
        None => None,
    };
    for waits in &recorded.connection_wait {
        let histogram = decode(&waits.wait)
            .map_err(|e| format!("recorded.connection_wait.{}: {e}", waits.place))?;
        recorder
            .connection_wait
            .push((place(&waits.place)?, histogram));
    }
    let delivery = DeliveryErrors::new();
    for class in &recorded.emulation {
        let path_class = PathClass::ALL
            .into_iter()
            .find(|c| c.as_str() == class.class)
            .ok_or_else(|| format!("unknown path class `{}`", class.class))?;
        let histogram = decode(&class.lateness)
            .map_err(|e| format!("recorded.emulation.{}: {e}", class.class))?;
        delivery.add(path_class, &histogram);
    }
    Ok((recorder, delivery))
}

/// The delivery lateness of the links between tiers a report recorded (`None` when it has
/// none).
pub fn tier_links(report: &Report) -> Result<Option<Histogram<u64>>, String> {
    let text = report
        .recorded
        .as_ref()
        .and_then(|r| r.tier_links.as_deref());
    text.map(|text| decode(text).map_err(|e| format!("recorded.tier_links: {e}")))
        .transpose()
}

fn error_kind(label: &str) -> Result<RequestErrorKind, String> {
    RequestErrorKind::ALL
        .into_iter()
        .find(|kind| kind.as_str() == label)
        .ok_or_else(|| format!("unknown error kind `{label}`"))
}

fn second_counts(point: &crate::report::TimelinePoint) -> SecondCounts {
    let mut by_tier = [0; Tier::ALL.len()];
    for served in &point.served {
        by_tier[tier_index(served.tier)] += served.responses;
    }
    SecondCounts {
        responses: point.responses,
        hits: point.hits,
        misses: point.misses,
        errors: point.errors,
        by_tier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::record_value;

    #[test]
    fn histograms_survive_encoding_exactly() {
        let mut histogram = new_histogram();
        for value in [1, 2, 3, 999, 1_000, 1_001, 65_432, 3_600_000_000] {
            record_value(&mut histogram, value);
        }
        for _ in 0..10_000 {
            record_value(&mut histogram, 12_345);
        }
        let text = encode(&histogram);
        let back = decode(&text).unwrap();
        assert_eq!(back, histogram);
        assert_eq!(back.len(), 10_008);
        assert_eq!(
            back.value_at_quantile(0.5),
            histogram.value_at_quantile(0.5)
        );
        assert_eq!(back.max(), histogram.max());
        assert_eq!(decode(&encode(&new_histogram())).unwrap().len(), 0);
        assert!(decode("not base64!").unwrap_err().contains("base64"));
        assert!(decode("aGVsbG8=").unwrap_err().contains("V2"));
    }
}
