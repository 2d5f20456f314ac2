//! The cache policy of a replay: which responses a cache stores and for how long, decided by
//! the running edge's own rules (`edgelab_policy`), and the expiry of stored objects over the
//! trace's time.
//!
//! An object's response is the one the live origin would send for it: for an access log, the
//! `Cache-Control` of the class `origin --catalog-from-log` gives its path
//! (`edgelab_wire::Class::of_logged`), with an `ETag`; for CSV and `oracleGeneral` traces,
//! no `Cache-Control` (the policy's DefaultTTL applies), with an `ETag`. What the policy makes
//! of each class is decided once per grid point, not per request.
//!
//! A stored object whose freshness has run out when it is requested again is revalidated
//! (the edge's conditional GET, which the origin answers with 304): a *refresh*. It counts as
//! a request to the next tier, not as bytes. Without a policy nothing expires and every
//! object is stored, as libCacheSim does.

use std::time::Duration;

use edgelab_policy::{CachePolicyConfig, ErrorTtl, Lifetime, PRESETS, Rules, Selection};
use edgelab_wire::Class;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;

/// The replay treats every logged request as a 200 for its object, as the catalog origin
/// answers it: no error status is ever decided.
#[derive(Debug)]
struct NoErrors;

impl ErrorTtl for NoErrors {
    fn min_ttl(&self, _status: StatusCode) -> Option<Duration> {
        None
    }
}

/// The classes a request can name, in the order of [`PolicyChoice`]'s table (then "none").
const CLASSES: [Class; 5] = [
    Class::Static,
    Class::Img,
    Class::Api,
    Class::Video,
    Class::File,
];

/// Index of a request's class in the table (`CLASSES.len()`: no class).
pub(crate) fn class_index(class: Option<Class>) -> usize {
    class.map_or(CLASSES.len(), |class| match class {
        Class::Static => 0,
        Class::Img => 1,
        Class::Api => 2,
        Class::Video => 3,
        Class::File => 4,
    })
}

/// What a fill stores under a policy: nothing, or the object with a lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Not stored (`CachingDisabled`, `no-store` with MinTTL 0, …).
    Pass,
    /// Stored with this lifetime.
    Store(Lifetime),
}

/// The response the origin sends for an object of `class` (`None`: no `Cache-Control`).
fn origin_response(class: Option<Class>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    // A quoted token is a valid header value.
    headers.insert(header::ETAG, HeaderValue::from_static("\"replay\""));
    if let Some(class) = class {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(class.default_cache_control()),
        );
    }
    headers
}

/// One cache policy of the grid: a preset, maybe with TTL overrides.
#[derive(Debug, Clone)]
pub struct PolicyChoice {
    /// The validated policy, as the edge builds it from the same preset and TTLs.
    pub config: CachePolicyConfig,
    /// Per class (then no class): what a fill stores.
    admissions: [Admission; CLASSES.len() + 1],
}

impl PolicyChoice {
    /// Decides every class's response under `config`.
    pub fn new(config: CachePolicyConfig) -> Self {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let rules = Rules {
            cache: &config,
            errors: &NoErrors,
        };
        let decide = |class: Option<Class>| {
            let response = origin_response(class);
            match edgelab_policy::storable_response(rules, StatusCode::OK, &response, now) {
                Ok(lifetime) => Admission::Store(lifetime),
                Err(_) => Admission::Pass,
            }
        };
        let mut admissions = [Admission::Pass; CLASSES.len() + 1];
        for (at, class) in CLASSES.iter().enumerate() {
            admissions[at] = decide(Some(*class));
        }
        admissions[CLASSES.len()] = decide(None);
        PolicyChoice { config, admissions }
    }

    /// What a fill of an object of `class` stores.
    pub fn admission(&self, class: Option<Class>) -> Admission {
        self.admissions[class_index(class)]
    }

    /// What a fill of an object of the class at `index` ([`class_index`]) stores.
    pub(crate) fn admission_at(&self, index: usize) -> Admission {
        self.admissions[index]
    }

    /// How the choice is named in reports.
    pub fn label(&self) -> PolicyLabel {
        label_of(&self.config)
    }

    /// This policy with a cache key keeping the query strings `selection` picks instead of
    /// its own (as `cache_policy.query_strings` in an edge config): requests that differ in
    /// those parameters are different objects.
    pub fn keyed_on(mut self, selection: Selection) -> Self {
        self.config.query_strings = selection;
        self
    }
}

/// Reads a `--query-strings` value: `all`, `none`, or the names kept, comma-separated.
pub fn parse_query_strings(text: &str) -> Result<Selection, String> {
    let names: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    match names.as_slice() {
        [] => Err("query strings: all, none, or the names kept (v,lang)".to_owned()),
        [one] if one == "all" => Ok(Selection::All),
        [one] if one == "none" => Ok(Selection::None),
        _ => Ok(Selection::Only(names)),
    }
}

/// A selection as a label shows it: `all`, `none` or the names.
fn selection_name(selection: &Selection) -> String {
    match selection {
        Selection::All => "all".to_owned(),
        Selection::None => "none".to_owned(),
        Selection::Only(names) => names.join(","),
    }
}

/// How a policy is named in reports.
fn label_of(c: &CachePolicyConfig) -> PolicyLabel {
    let seconds = |d: Duration| (d != Duration::MAX).then_some(d.as_secs_f64());
    let preset = CachePolicyConfig::preset(&c.name);
    let overridden = preset.as_ref().is_none_or(|p| {
        (p.min_ttl, p.default_ttl, p.max_ttl, p.rfc) != (c.min_ttl, c.default_ttl, c.max_ttl, c.rfc)
    });
    let mut name = if overridden {
        format!(
            "{} {}/{}/{}",
            c.name,
            short(c.min_ttl),
            short(c.default_ttl),
            short(c.max_ttl)
        )
    } else {
        c.name.clone()
    };
    if preset.is_none_or(|p| p.query_strings != c.query_strings) {
        name.push_str(&format!(" query={}", selection_name(&c.query_strings)));
    }
    PolicyLabel {
        name,
        preset: c.name.clone(),
        min_ttl: seconds(c.min_ttl),
        default_ttl: seconds(c.default_ttl),
        max_ttl: seconds(c.max_ttl),
        query_strings: KeyQueryStrings::of(&c.query_strings),
    }
}

/// A duration as `10s`, `1.5s` or `inf`.
fn short(d: Duration) -> String {
    if d == Duration::MAX {
        "inf".to_owned()
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// A policy as the report names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyLabel {
    /// The preset, then `MIN/DEFAULT/MAX` when the TTLs differ from the preset's.
    pub name: String,
    /// The preset it started from.
    pub preset: String,
    /// MinTTL in seconds.
    pub min_ttl: Option<f64>,
    /// DefaultTTL in seconds.
    pub default_ttl: Option<f64>,
    /// MaxTTL in seconds (`null`: unbounded, `rfc9111`).
    pub max_ttl: Option<f64>,
    /// The query strings its cache key keeps.
    pub query_strings: KeyQueryStrings,
}

/// The query strings a cache key keeps, as the JSON report shows them: `"all"`, `"none"`, or
/// the names kept (`["v", "lang"]`, as given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum KeyQueryStrings {
    /// `all` or `none`.
    Word(&'static str),
    /// The names kept.
    Names(Vec<String>),
}

impl KeyQueryStrings {
    fn of(selection: &Selection) -> Self {
        match selection {
            Selection::All => KeyQueryStrings::Word("all"),
            Selection::None => KeyQueryStrings::Word("none"),
            Selection::Only(names) => KeyQueryStrings::Names(names.clone()),
        }
    }
}

/// The policies of the grid: every combination of the presets and the TTLs given (the
/// preset varying slowest), each TTL overriding the preset's as the edge's `cache_policy`
/// does. With no preset but some TTL, the edge's default preset (`CachingOptimized`). Empty
/// when nothing is given: nothing expires.
pub fn policy_grid(
    presets: &[String],
    min: &[Duration],
    default: &[Duration],
    max: &[Duration],
) -> Result<Vec<PolicyChoice>, String> {
    if presets.is_empty() && min.is_empty() && default.is_empty() && max.is_empty() {
        return Ok(Vec::new());
    }
    let default_preset = ["CachingOptimized".to_owned()];
    let presets = if presets.is_empty() {
        &default_preset[..]
    } else {
        presets
    };
    let options = |list: &[Duration]| -> Vec<Option<Duration>> {
        if list.is_empty() {
            vec![None]
        } else {
            list.iter().copied().map(Some).collect()
        }
    };
    let mut grid = Vec::new();
    let mut problems = Vec::new();
    for name in presets {
        let Some(preset) = CachePolicyConfig::preset(name) else {
            return Err(format!(
                "unknown policy `{name}` (expected {})",
                PRESETS.join(", ")
            ));
        };
        for min in options(min) {
            for default in options(default) {
                for max in options(max) {
                    let mut config = preset.clone();
                    config.set_ttls(min, default, max);
                    let found = config.ttl_problems();
                    for problem in &found {
                        let label = label_of(&config).name;
                        problems.push(format!("{label}: {} {}", problem.field, problem.message));
                    }
                    // The clamps need MinTTL <= MaxTTL: a bad point is reported, not decided.
                    if found.is_empty() {
                        grid.push(PolicyChoice::new(config));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(grid)
    } else {
        Err(problems.join("; "))
    }
}

/// What a cache did with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Served fresh from the cache.
    Hit,
    /// Found expired and revalidated upstream (a request without a body).
    Refresh,
    /// Fetched from upstream (and stored when the policy admits it and it fits).
    Miss,
}

/// The policies of a replay and the time scale their TTLs run on.
#[derive(Debug, Clone)]
pub struct PolicyGrid {
    /// The policies (empty: nothing expires, every object is stored).
    pub choices: Vec<PolicyChoice>,
    /// The trace's times are divided by this before they are compared with TTLs, as
    /// `loadgen --replay --speed` sends them (1: as logged).
    pub speed: f64,
}

impl PolicyGrid {
    /// No policy: nothing expires.
    pub fn none() -> Self {
        PolicyGrid {
            choices: Vec::new(),
            speed: 1.0,
        }
    }

    /// The choices as the grid iterates them: `None` alone without a policy.
    pub fn points(&self) -> Vec<Option<&PolicyChoice>> {
        if self.choices.is_empty() {
            vec![None]
        } else {
            self.choices.iter().map(Some).collect()
        }
    }
}

/// The trace's time in ms, divided by `speed` (as `loadgen --replay --speed` plays it).
pub fn scaled_ms(time: u64, speed: f64) -> u64 {
    // Seconds of a trace times 1000 stay far below 2^53; the cast saturates.
    (time as f64 * 1000.0 / speed) as u64
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `preset` with the TTLs given (min, default, max in seconds) overriding its own.
    pub(crate) fn choice(preset: &str, ttls: [Option<u64>; 3]) -> PolicyChoice {
        let mut config = CachePolicyConfig::preset(preset).unwrap();
        let [min, default, max] = ttls.map(|t| t.map(Duration::from_secs));
        config.set_ttls(min, default, max);
        PolicyChoice::new(config)
    }

    fn lifetime(admission: Admission) -> Option<u64> {
        match admission {
            Admission::Store(l) => Some(l.lifetime.as_secs()),
            Admission::Pass => None,
        }
    }

    #[test]
    fn each_class_gets_what_the_edge_decides_for_its_cache_control() {
        let optimized = choice("CachingOptimized", [None; 3]);
        let secs: Vec<Option<u64>> = [
            Some(Class::Static),
            Some(Class::Img),
            Some(Class::Api),
            None,
        ]
        .map(|c| lifetime(optimized.admission(c)))
        .to_vec();
        assert_eq!(
            secs,
            [Some(31_536_000), Some(14_400), Some(1), Some(86_400)]
        );
        let origin = choice("UseOriginCacheControlHeaders", [None; 3]);
        assert_eq!(lifetime(origin.admission(Some(Class::Api))), None);
        assert_eq!(lifetime(origin.admission(None)), Some(0), "revalidated");
        let disabled = choice("CachingDisabled", [None; 3]);
        assert_eq!(disabled.admission(Some(Class::Img)), Admission::Pass);
        let short = choice("CachingOptimized", [Some(0), Some(2), Some(2)]);
        assert_eq!(lifetime(short.admission(Some(Class::Static))), Some(2));
        assert_eq!(short.admission(Some(Class::Api)), Admission::Pass);
        assert_eq!(short.label().name, "CachingOptimized 0s/2s/2s");
        assert_eq!(optimized.label().name, "CachingOptimized");
    }

    #[test]
    fn the_grid_is_the_product_and_names_its_bad_points() {
        let s = Duration::from_secs;
        let grid = policy_grid(&[], &[], &[s(5)], &[s(5), s(10)]).unwrap();
        let names: Vec<String> = grid.iter().map(|c| c.label().name).collect();
        assert_eq!(
            names,
            ["CachingOptimized 1s/5s/5s", "CachingOptimized 1s/5s/10s"]
        );
        assert!(policy_grid(&[], &[], &[], &[]).unwrap().is_empty());
        let error = policy_grid(&["Fast".into()], &[], &[], &[]).err().unwrap();
        assert!(error.contains("CachingOptimized"), "{error}");
        let error = policy_grid(&[], &[s(20)], &[], &[s(10)]).err().unwrap();
        assert!(error.contains("min_ttl"), "{error}");
    }

    #[test]
    fn query_strings_parse_and_name_the_policy_when_they_differ_from_the_preset() {
        assert_eq!(parse_query_strings("all"), Ok(Selection::All));
        assert_eq!(parse_query_strings("none"), Ok(Selection::None));
        let only = parse_query_strings("v, lang").unwrap();
        assert_eq!(only, Selection::Only(vec!["v".into(), "lang".into()]));
        assert!(parse_query_strings(" ,").is_err());
        let keyed = choice("CachingOptimized", [None; 3]).keyed_on(only);
        assert_eq!(keyed.label().name, "CachingOptimized query=v,lang");
        let rfc = choice("rfc9111", [None; 3]).keyed_on(Selection::All);
        assert_eq!(rfc.label().name, "rfc9111", "the preset's own");
    }
}
