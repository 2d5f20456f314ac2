//! Checking the latency model against measured RTTs, and refitting it.
//!
//! A measured table is CSV with the header `src,dst,rtt_ms` (lines starting with `#` are
//! comments); places are any name [`Topology::resolve`] accepts. [`residuals`] scores the
//! model on it (absolute percentage error per pair: median, p90, max and the worst pairs);
//! [`fit`] refits the free parameters of one path class by coordinate descent on the mean
//! absolute percentage error. Everything here is pure: text in, numbers out.

use std::collections::BTreeMap;

use crate::error::GeoError;
use crate::model::{LatencyModel, PathClass};
use crate::places::Coordinates;
use crate::topology::Topology;

/// One measured pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Line of the file it came from (1-based).
    pub line: u64,
    /// Source place, as written.
    pub src: String,
    /// Destination place, as written.
    pub dst: String,
    /// Where the source is.
    pub a: Coordinates,
    /// Where the destination is.
    pub b: Coordinates,
    /// Measured round-trip time, ms.
    pub rtt_ms: f64,
}

/// What is wrong with a measured table.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeasuredError {
    /// No data rows.
    #[error("no measurements: expected a header `src,dst,rtt_ms` and at least one row")]
    Empty,
    /// The header is not `src,dst,rtt_ms`.
    #[error("line {line}: expected the header `src,dst,rtt_ms`, found `{found}`")]
    Header {
        /// Line of the header.
        line: u64,
        /// What was there.
        found: String,
    },
    /// A row that is not three fields.
    #[error("line {line}: {message}")]
    Row {
        /// Line of the row.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A place that does not resolve.
    #[error("line {line}: {source}")]
    Place {
        /// Line of the row.
        line: u64,
        /// The resolver's error (with suggestions).
        source: GeoError,
    },
    /// An RTT that is not a positive number.
    #[error("line {line}: rtt_ms `{value}` is not a positive number of milliseconds")]
    Rtt {
        /// Line of the row.
        line: u64,
        /// The text found.
        value: String,
    },
}

impl MeasuredError {
    /// A short, stable label for this kind of error.
    pub fn kind(&self) -> &'static str {
        match self {
            MeasuredError::Empty => "empty",
            MeasuredError::Header { .. } => "header",
            MeasuredError::Row { .. } => "row",
            MeasuredError::Place { .. } => "unknown_place",
            MeasuredError::Rtt { .. } => "rtt",
        }
    }
}

/// Parses a measured table; the first problem is returned with its line number. Fields
/// are separated by commas and trimmed (surrounding double quotes are dropped); blank lines
/// and lines starting with `#` are skipped.
pub fn parse_measured(text: &str, topology: &Topology) -> Result<Vec<Measurement>, MeasuredError> {
    let mut rows = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(line, l)| {
            let fields: Vec<&str> = l
                .split(',')
                .map(|f| f.trim().trim_matches('"').trim())
                .collect();
            (line, fields)
        });
    let Some((line, header)) = rows.next() else {
        return Err(MeasuredError::Empty);
    };
    let header: Vec<String> = header.iter().map(|f| f.to_ascii_lowercase()).collect();
    if header != ["src", "dst", "rtt_ms"] {
        return Err(MeasuredError::Header {
            line,
            found: header.join(","),
        });
    }
    let mut out = Vec::new();
    for (line, fields) in rows {
        out.push(measurement(line, &fields, topology)?);
    }
    if out.is_empty() {
        return Err(MeasuredError::Empty);
    }
    Ok(out)
}

fn measurement(
    line: u64,
    fields: &[&str],
    topology: &Topology,
) -> Result<Measurement, MeasuredError> {
    let &[src, dst, value] = fields else {
        return Err(MeasuredError::Row {
            line,
            message: format!("expected 3 fields (src,dst,rtt_ms), found {}", fields.len()),
        });
    };
    let place = |name: &str| {
        topology
            .resolve(name)
            .map(|p| p.coordinates())
            .map_err(|source| MeasuredError::Place { line, source })
    };
    let rtt_ms = value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| MeasuredError::Rtt {
            line,
            value: value.to_string(),
        })?;
    Ok(Measurement {
        line,
        src: src.to_string(),
        dst: dst.to_string(),
        a: place(src)?,
        b: place(dst)?,
        rtt_ms,
    })
}

/// The model's error on one measured pair.
#[derive(Debug, Clone, PartialEq)]
pub struct PairError {
    /// Source place, as written.
    pub src: String,
    /// Destination place, as written.
    pub dst: String,
    /// Measured RTT, ms.
    pub measured_ms: f64,
    /// Modelled RTT, ms.
    pub modelled_ms: f64,
    /// `|modelled − measured| / measured`, as a fraction.
    pub ape: f64,
}

/// How well the model matches a measured table.
#[derive(Debug, Clone, PartialEq)]
pub struct Residuals {
    /// Number of pairs.
    pub pairs: usize,
    /// Median absolute percentage error (fraction).
    pub median_ape: f64,
    /// 90th percentile (nearest rank).
    pub p90_ape: f64,
    /// Largest.
    pub max_ape: f64,
    /// Mean.
    pub mean_ape: f64,
    /// Median of `(modelled − measured) / measured`: positive when the model is slow.
    pub median_bias: f64,
    /// The worst pairs, worst first (at most ten).
    pub worst: Vec<PairError>,
}

/// The modelled RTT of every pair, grouped so each source is searched once.
fn modelled(model: &LatencyModel, data: &[Measurement], class: PathClass) -> Vec<f64> {
    let mut by_source: BTreeMap<(u64, u64), Vec<usize>> = BTreeMap::new();
    for (i, m) in data.iter().enumerate() {
        by_source
            .entry((m.a.lat.to_bits(), m.a.lon.to_bits()))
            .or_default()
            .push(i);
    }
    let mut out = vec![0.0; data.len()];
    for indices in by_source.values() {
        let a = data[indices[0]].a;
        let to: Vec<Coordinates> = indices.iter().map(|&i| data[i].b).collect();
        for (&i, ms) in indices.iter().zip(model.rtts_ms(a, &to, class)) {
            out[i] = ms;
        }
    }
    out
}

fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Scores the model on measured pairs over a class. `data` must not be empty.
pub fn residuals(model: &LatencyModel, data: &[Measurement], class: PathClass) -> Residuals {
    let mut pairs: Vec<PairError> = data
        .iter()
        .zip(modelled(model, data, class))
        .map(|(m, modelled_ms)| PairError {
            src: m.src.clone(),
            dst: m.dst.clone(),
            measured_ms: m.rtt_ms,
            modelled_ms,
            ape: (modelled_ms - m.rtt_ms).abs() / m.rtt_ms,
        })
        .collect();
    let mut apes: Vec<f64> = pairs.iter().map(|p| p.ape).collect();
    apes.sort_by(f64::total_cmp);
    let mut bias: Vec<f64> = pairs
        .iter()
        .map(|p| (p.modelled_ms - p.measured_ms) / p.measured_ms)
        .collect();
    bias.sort_by(f64::total_cmp);
    pairs.sort_by(|x, y| y.ape.total_cmp(&x.ape));
    pairs.truncate(10);
    Residuals {
        pairs: data.len(),
        median_ape: nearest_rank(&apes, 0.5),
        p90_ape: nearest_rank(&apes, 0.9),
        max_ape: apes.last().copied().unwrap_or(0.0),
        mean_ape: apes.iter().sum::<f64>() / apes.len().max(1) as f64,
        median_bias: nearest_rank(&bias, 0.5),
        worst: pairs,
    }
}

/// A free parameter of the model: its name in the `[link]` table, its range and a first
/// step for the search.
struct Knob {
    name: &'static str,
    min: f64,
    max: f64,
    step: f64,
    get: fn(&LatencyModel) -> f64,
    set: fn(&mut LatencyModel, f64),
}

/// The [`Knob`] for the model's field `TABLE.FIELD`, searched over `MIN..=MAX` from a first
/// step of `STEP`: its name is the field's path, so the two cannot disagree.
macro_rules! knob {
    ($table:ident . $field:ident, $min:expr, $max:expr, $step:expr) => {
        Knob {
            name: concat!(stringify!($table), ".", stringify!($field)),
            min: $min,
            max: $max,
            step: $step,
            get: |m| m.$table.$field,
            set: |m, v| m.$table.$field = v,
        }
    };
}

fn knobs(class: PathClass) -> Vec<Knob> {
    match class {
        PathClass::Backbone => vec![
            knob!(backbone.inflation, 1.0, 3.0, 0.1),
            knob!(graph.submarine_inflation, 1.0, 3.0, 0.1),
            knob!(graph.hub_ms, 0.0, 10.0, 0.5),
            knob!(graph.entry_ms, 0.0, 30.0, 1.0),
        ],
        PathClass::Internet => vec![
            knob!(internet.inflation, 1.0, 4.0, 0.1),
            knob!(graph.internet_detour_ms, 0.0, 100.0, 2.0),
            knob!(graph.internet_detour_km, 50.0, 20_000.0, 200.0),
            knob!(internet.fixed_ms, 0.0, 50.0, 1.0),
        ],
        PathClass::LastMile => vec![knob!(last_mile.fixed_ms, 0.0, 200.0, 1.0)],
    }
}

/// The result of a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The refitted model (every parameter outside the class's knobs unchanged).
    pub model: LatencyModel,
    /// The knobs and their fitted values, in a stable order.
    pub parameters: Vec<(&'static str, f64)>,
    /// Residuals before the fit.
    pub before: Residuals,
    /// Residuals after the fit.
    pub after: Residuals,
}

impl Fit {
    /// The fitted parameters as `[link.*]` tables for a topology file (values rounded to
    /// three decimals, tables in a stable order). Parameters outside the fit keep whatever
    /// the file already says.
    pub fn link_table(&self) -> String {
        let mut tables: BTreeMap<&str, Vec<(&str, f64)>> = BTreeMap::new();
        for (name, value) in &self.parameters {
            // Knob names are `table.field` by construction (see `knobs`).
            let (table, field) = name.split_once('.').unwrap_or(("", name));
            tables.entry(table).or_default().push((field, *value));
        }
        let mut out = String::new();
        for (table, fields) in tables {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("[link.{table}]\n"));
            for (field, value) in fields {
                out.push_str(&format!("{field} = {value:.3}\n"));
            }
        }
        out
    }
}

/// Refits the free parameters of `class` to measured pairs: coordinate descent on the mean
/// absolute percentage error, starting from `model`, steps halved until they are below
/// 1/64 of the first step. Deterministic. `data` must not be empty.
pub fn fit(model: &LatencyModel, data: &[Measurement], class: PathClass) -> Fit {
    let knobs = knobs(class);
    let score = |m: &LatencyModel| residuals(m, data, class).mean_ape;
    let mut best = model.clone();
    let mut best_score = score(&best);
    let mut steps: Vec<f64> = knobs.iter().map(|k| k.step).collect();
    while knobs.iter().zip(&steps).any(|(k, s)| *s >= k.step / 64.0) {
        let mut improved = false;
        for (knob, step) in knobs.iter().zip(steps.iter_mut()) {
            for direction in [1.0, -1.0] {
                let value = ((knob.get)(&best) + direction * *step).clamp(knob.min, knob.max);
                let mut candidate = best.clone();
                (knob.set)(&mut candidate, value);
                let s = score(&candidate);
                if s + 1e-12 < best_score {
                    (best, best_score, improved) = (candidate, s, true);
                    break;
                }
            }
        }
        if !improved {
            steps.iter_mut().for_each(|s| *s /= 2.0);
        }
    }
    Fit {
        parameters: knobs.iter().map(|k| (k.name, (k.get)(&best))).collect(),
        before: residuals(model, data, class),
        after: residuals(&best, data, class),
        model: best,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Measurement>, MeasuredError> {
        parse_measured(text, Topology::embedded())
    }

    #[test]
    fn parses_places_comments_and_whitespace() {
        let data =
            parse("# a comment\nsrc,dst,rtt_ms\nus-east-1, eu-west-1 ,68.5\n\nFRA,Tokyo,230\n")
                .unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data[0].line, 3);
        assert_eq!(data[0].dst, "eu-west-1");
        assert_eq!(data[1].rtt_ms, 230.0);
        assert_eq!(data[1].line, 5);
    }

    #[test]
    fn bad_input_names_its_line() {
        assert_eq!(parse("").unwrap_err(), MeasuredError::Empty);
        assert_eq!(parse("src,dst,rtt_ms\n").unwrap_err(), MeasuredError::Empty);
        let e = parse("a,b,c\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1: expected the header `src,dst,rtt_ms`, found `a,b,c`"
        );
        let e =
            parse("src,dst,rtt_ms\nus-east-1,eu-west-1,68\nus-east-1,nowhere-9,3\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("line 3: unknown place `nowhere-9`"),
            "{e}"
        );
        let e = parse("src,dst,rtt_ms\nus-east-1,eu-west-1,fast\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: rtt_ms `fast` is not a positive number of milliseconds"
        );
        let e = parse("src,dst,rtt_ms\nus-east-1,eu-west-1,-1\n").unwrap_err();
        assert_eq!(e.kind(), "rtt");
        let e = parse("src,dst,rtt_ms\nus-east-1,eu-west-1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: expected 3 fields (src,dst,rtt_ms), found 2"
        );
    }

    #[test]
    fn residuals_are_zero_on_the_models_own_numbers() {
        let model = LatencyModel::default();
        let mut data =
            parse("src,dst,rtt_ms\nus-east-1,eu-west-1,1\nFRA,Tokyo,1\nSIN,SYD,1\n").unwrap();
        for m in &mut data {
            m.rtt_ms = model.rtt_ms(m.a, m.b, PathClass::Backbone);
        }
        let r = residuals(&model, &data, PathClass::Backbone);
        assert_eq!(r.pairs, 3);
        assert!(r.max_ape < 1e-12, "{r:?}");
        assert_eq!(r.worst.len(), 3);
    }

    #[test]
    fn fit_recovers_parameters_that_generated_the_data() {
        let mut truth = LatencyModel::default();
        truth.backbone.inflation = 1.5;
        truth.graph.submarine_inflation = 1.25;
        truth.graph.hub_ms = 2.0;
        truth.graph.entry_ms = 4.0;
        let t = Topology::embedded();
        let places: Vec<Coordinates> = t.regions().iter().map(|r| r.coordinates).collect();
        let mut data = Vec::new();
        for (i, &a) in places.iter().enumerate() {
            for &b in &places[i + 1..] {
                data.push(Measurement {
                    line: 0,
                    src: String::new(),
                    dst: String::new(),
                    a,
                    b,
                    rtt_ms: truth.rtt_ms(a, b, PathClass::Backbone),
                });
            }
        }
        let fit = fit(&LatencyModel::default(), &data, PathClass::Backbone);
        assert!(fit.after.median_ape < 0.01, "{:?}", fit.parameters);
        assert!(fit.after.mean_ape < fit.before.mean_ape);
        assert_eq!(fit.parameters[0].0, "backbone.inflation");
        // The table it writes reads back as a model with the fitted values.
        let table = fit.link_table();
        assert!(
            table.starts_with("[link.backbone]\ninflation = "),
            "{table}"
        );
        let file: toml::Table = toml::from_str(&table).unwrap();
        let read: LatencyModel = file["link"].clone().try_into().unwrap();
        assert!((read.backbone.inflation - fit.model.backbone.inflation).abs() < 1e-3);
        assert!((read.graph.entry_ms - fit.model.graph.entry_ms).abs() < 1e-3);
        assert!(read.validate().is_empty());
    }
}
