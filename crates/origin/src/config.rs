//! Origin configuration: the raw TOML shape ([`OriginConfig`], every field documented, unknown
//! fields rejected) and its validated form ([`OriginSettings`]), reached through `TryFrom`
//! which reports *every* problem with its field path.
//!
//! The fault part ([`FaultsConfig`] → [`Faults`]) is shared with the admin API: `POST /faults`
//! takes the same JSON shape and is validated by the same code.

use std::path::PathBuf;
use std::time::Duration;

use edgelab_common::config::ConfigErrors;
use edgelab_common::serve::{ListenerLimits, RawListenerLimits};
use http::{HeaderValue, StatusCode};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Exp, LogNormal};
use serde::{Deserialize, Serialize};

use crate::class::Class;

/// Largest number of synthetic objects in one catalog.
pub const MAX_OBJECTS: u64 = 10_000_000;
/// Largest synthetic object (16 GiB).
pub const MAX_OBJECT_BYTES: u64 = 16 << 30;
/// Smallest and largest body pool.
pub const POOL_BYTES_RANGE: (u64, u64) = (64 << 10, 1 << 30);

/// The origin's configuration file (TOML), as written. Every field has a default, so an
/// empty file is a working demo origin. Convert it with `OriginSettings::try_from`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OriginConfig {
    /// Name of the origin: the `origin` label on its metrics. Replicas of one origin in
    /// different AZs share the name. Default `origin`.
    pub name: String,
    /// Region code the replica runs in (e.g. `us-east-1`), or the parent Region of a Local
    /// Zone. Sent in `x-edgelab-origin` and exported on `edgelab_origin_info`.
    pub region: String,
    /// Availability Zone id (e.g. `use1-az1`) or Local Zone name: the `az` metric label.
    pub az: String,
    /// Seed of the catalog (paths, sizes, bodies, dates) and of fault sampling.
    pub seed: u64,
    /// Number of synthetic objects, split between the classes by their `share`.
    pub objects: u64,
    /// Size of the pseudo-random byte pool the bodies are windows of (bytes). Larger pools
    /// make coincidences between objects rarer; the pool is the bulk of the memory used.
    pub pool_bytes: u64,
    /// A directory of real files to serve under `/files/` as well (optional). Files are read
    /// and digested at start and read again per request.
    pub files_dir: Option<PathBuf>,
    /// `Cache-Control` of the real files under `/files/`.
    pub files_cache_control: String,
    /// Token that state-changing admin calls must carry (`x-edgelab-token` or
    /// `Authorization: Bearer`). The `EDGELAB_ADMIN_TOKEN` variable sets it too.
    pub admin_token: Option<String>,
    /// How long in-flight requests may run after shutdown before connections are dropped.
    #[serde(with = "humantime_serde")]
    pub drain_deadline: Duration,
    /// Connection cap and timeouts of the traffic and admin listeners (`[listener]`).
    pub listener: RawListenerLimits,
    /// The path classes of the synthetic catalog.
    pub classes: ClassesConfig,
    /// Fault injection and service time at start (changeable at runtime on the admin port).
    pub faults: FaultsConfig,
}

impl Default for OriginConfig {
    fn default() -> Self {
        Self {
            name: "origin".to_owned(),
            region: "us-east-1".to_owned(),
            az: "use1-az1".to_owned(),
            seed: 42,
            objects: 1_000,
            pool_bytes: 4 << 20,
            files_dir: None,
            files_cache_control: "public, max-age=3600".to_owned(),
            admin_token: None,
            drain_deadline: Duration::from_secs(10),
            listener: RawListenerLimits::default(),
            classes: ClassesConfig::default(),
            faults: FaultsConfig::default(),
        }
    }
}

/// The four synthetic path classes. A class left out keeps its defaults; a field left out
/// of a class keeps that class's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassesConfig {
    /// `/static/NNNNN.js`: default share 0.45, `public, max-age=31536000, immutable`,
    /// log-normal sizes around 8 KiB.
    #[serde(rename = "static")]
    pub static_: ClassConfig,
    /// `/img/NNNNN.jpg`: default share 0.35, `public, max-age=14400` (4 h), log-normal
    /// sizes around 32 KiB.
    pub img: ClassConfig,
    /// `/api/NNNNN.bin`: default share 0.19, `no-store`, log-normal sizes around 1 KiB.
    pub api: ClassConfig,
    /// `/video/NNNNN.mp4`: default share 0.01, `public, max-age=86400`, log-normal sizes
    /// around 2 MiB (served with ranges).
    pub video: ClassConfig,
}

impl ClassesConfig {
    fn get(&self, class: Class) -> &ClassConfig {
        match class {
            Class::Static => &self.static_,
            Class::Img => &self.img,
            Class::Api => &self.api,
            Class::Video | Class::File => &self.video,
        }
    }
}

/// One path class; every field is optional and falls back to the class default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassConfig {
    /// Relative weight of the class in the catalog (≥ 0; the shares are normalised).
    pub share: Option<f64>,
    /// `Cache-Control` sent with every object of the class.
    pub cache_control: Option<String>,
    /// `Content-Type` of the class.
    pub content_type: Option<String>,
    /// File extension of the paths (`js` gives `/static/00017.js`).
    pub extension: Option<String>,
    /// Size distribution of the bodies.
    pub size: Option<SizeConfig>,
}

/// A distribution of object sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "distribution", rename_all = "lowercase", deny_unknown_fields)]
pub enum SizeConfig {
    /// Every object has `bytes` bytes.
    Fixed {
        /// The size.
        bytes: u64,
    },
    /// Uniform between `min` and `max` inclusive.
    Uniform {
        /// Smallest size.
        min: u64,
        /// Largest size.
        max: u64,
    },
    /// Log-normal with the given median and shape `sigma`, clamped to `[min, max]`.
    LogNormal {
        /// Median size.
        median: u64,
        /// Shape (standard deviation of the log); 0 means every object has the median size.
        sigma: f64,
        /// Smallest size after clamping.
        min: u64,
        /// Largest size after clamping.
        max: u64,
    },
}

/// Service time and injected faults, as configured or sent to `POST /faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultsConfig {
    /// Answer every traffic request with 503 (a full outage of this replica).
    pub outage: bool,
    /// Time spent before answering a request for an object or `/echo/`.
    pub service_time: ServiceTimeConfig,
    /// Fraction of object and echo requests answered with `error_status` (0..=1).
    pub error_rate: f64,
    /// Status of injected errors (400..=599).
    pub error_status: u16,
    /// Send bodies at this many bytes per second (0: as fast as possible).
    pub slow_body_bytes_per_second: u64,
    /// Fraction of object bodies whose connection is reset mid-body (0..=1).
    pub reset_rate: f64,
    /// How many body bytes are sent before such a reset.
    pub reset_after_bytes: u64,
}

impl Default for FaultsConfig {
    fn default() -> Self {
        Self {
            outage: false,
            service_time: ServiceTimeConfig::default(),
            error_rate: 0.0,
            error_status: 503,
            slow_body_bytes_per_second: 0,
            reset_rate: 0.0,
            reset_after_bytes: 0,
        }
    }
}

/// A distribution of service times (durations in humantime form, `"5ms"`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "distribution", rename_all = "lowercase", deny_unknown_fields)]
pub enum ServiceTimeConfig {
    /// Always `value`.
    Fixed {
        /// The service time.
        #[serde(with = "humantime_serde")]
        value: Duration,
    },
    /// Uniform between `min` and `max`.
    Uniform {
        /// Shortest.
        #[serde(with = "humantime_serde")]
        min: Duration,
        /// Longest.
        #[serde(with = "humantime_serde")]
        max: Duration,
    },
    /// Log-normal with the given median and shape, capped at `max`.
    LogNormal {
        /// Median service time.
        #[serde(with = "humantime_serde")]
        median: Duration,
        /// Shape (standard deviation of the log).
        sigma: f64,
        /// Cap.
        #[serde(with = "humantime_serde")]
        max: Duration,
    },
    /// Exponential with the given mean, capped at `max`.
    Exponential {
        /// Mean service time.
        #[serde(with = "humantime_serde")]
        mean: Duration,
        /// Cap.
        #[serde(with = "humantime_serde")]
        max: Duration,
    },
}

impl Default for ServiceTimeConfig {
    fn default() -> Self {
        Self::Fixed {
            value: Duration::ZERO,
        }
    }
}

/// Validated origin configuration.
#[derive(Debug, Clone)]
pub struct OriginSettings {
    /// Origin name (metric label `origin`).
    pub name: String,
    /// Region code.
    pub region: String,
    /// AZ id (metric label `az`).
    pub az: String,
    /// Catalog and fault seed.
    pub seed: u64,
    /// Number of synthetic objects.
    pub objects: u64,
    /// Body pool size in bytes.
    pub pool_bytes: usize,
    /// Real files to serve under `/files/`.
    pub files_dir: Option<PathBuf>,
    /// `Cache-Control` of real files.
    pub files_cache_control: HeaderValue,
    /// Admin token, if any.
    pub admin_token: Option<String>,
    /// Drain deadline at shutdown.
    pub drain_deadline: Duration,
    /// Connection cap and timeouts of the listeners.
    pub listener: ListenerLimits,
    /// The synthetic classes, in [`Class::SYNTHETIC`] order.
    pub classes: Vec<ClassSettings>,
    /// Faults at start.
    pub faults: Faults,
    /// Objects from an access log, served besides the synthetic ones (set by
    /// `--catalog-from-log`, never read from a file).
    pub logged: Vec<LoggedObject>,
}

/// An object taken from an access log (`edgelab origin --catalog-from-log`): served at its
/// logged path with its logged size, its bytes a seeded window of the pool like every
/// synthetic body, its `Cache-Control` its class's.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedObject {
    /// The path as logged (no query).
    pub path: String,
    /// Body size in bytes (the largest the log shows).
    pub size: u64,
    /// The class whose `Cache-Control` it gets.
    pub class: Class,
    /// Its logged `Content-Type`, if any (else the class's).
    pub content_type: Option<HeaderValue>,
}

/// A validated path class.
#[derive(Debug, Clone)]
pub struct ClassSettings {
    /// Which class.
    pub class: Class,
    /// Normalised share (sums to 1 over the classes).
    pub share: f64,
    /// `Cache-Control` value.
    pub cache_control: HeaderValue,
    /// `Content-Type` value.
    pub content_type: HeaderValue,
    /// Path extension, without the dot.
    pub extension: String,
    /// Size distribution.
    pub size: SizeDistribution,
}

/// A validated size distribution.
#[derive(Debug, Clone, Copy)]
pub enum SizeDistribution {
    /// Always this many bytes.
    Fixed(u64),
    /// Uniform in `[min, max]`.
    Uniform(u64, u64),
    /// Log-normal clamped to `[min, max]`.
    LogNormal(LogNormal<f64>, u64, u64),
}

impl SizeDistribution {
    /// Draws one size.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        match *self {
            Self::Fixed(bytes) => bytes,
            Self::Uniform(min, max) => rng.random_range(min..=max),
            Self::LogNormal(distribution, min, max) => {
                let drawn = distribution.sample(rng);
                // `as` saturates on overflow and maps NaN to 0; the clamp bounds it anyway.
                (drawn.round() as u64).clamp(min, max)
            }
        }
    }

    /// Largest size this distribution can produce.
    pub fn max(&self) -> u64 {
        match *self {
            Self::Fixed(bytes) => bytes,
            Self::Uniform(_, max) | Self::LogNormal(_, _, max) => max,
        }
    }
}

/// Validated faults: what the traffic handler consults on every request.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Full outage: every traffic request gets 503.
    pub outage: bool,
    /// Service time distribution.
    pub service_time: ServiceTime,
    /// Fraction of requests answered with `error_status`.
    pub error_rate: f64,
    /// Status of injected errors.
    pub error_status: StatusCode,
    /// Body pace, if slowed.
    pub slow_body_bytes_per_second: Option<u64>,
    /// Fraction of bodies reset mid-way.
    pub reset_rate: f64,
    /// Bytes sent before a reset.
    pub reset_after_bytes: u64,
    /// The configuration these came from (what `GET /faults` shows).
    pub config: FaultsConfig,
}

impl Default for Faults {
    fn default() -> Self {
        Faults::try_from(FaultsConfig::default()).expect("the default faults are valid")
    }
}

impl Faults {
    /// Whether nothing is injected at all (the handler then skips every draw).
    pub fn is_quiet(&self) -> bool {
        !self.outage
            && self.service_time.is_zero()
            && self.error_rate == 0.0
            && self.slow_body_bytes_per_second.is_none()
            && self.reset_rate == 0.0
    }
}

/// A validated service-time distribution.
#[derive(Debug, Clone, Copy)]
pub enum ServiceTime {
    /// Always this long.
    Fixed(Duration),
    /// Uniform in `[min, max]`.
    Uniform(Duration, Duration),
    /// Log-normal (seconds), capped.
    LogNormal(LogNormal<f64>, Duration),
    /// Exponential (seconds), capped.
    Exponential(Exp<f64>, Duration),
}

impl ServiceTime {
    /// Whether every draw is zero.
    pub fn is_zero(&self) -> bool {
        matches!(self, Self::Fixed(value) if value.is_zero())
    }

    /// Draws one service time.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let capped = |seconds: f64, max: Duration| {
            Duration::try_from_secs_f64(seconds.max(0.0))
                .unwrap_or(max)
                .min(max)
        };
        match *self {
            Self::Fixed(value) => value,
            Self::Uniform(min, max) => {
                if min >= max {
                    min
                } else {
                    rng.random_range(min..=max)
                }
            }
            Self::LogNormal(distribution, max) => capped(distribution.sample(rng), max),
            Self::Exponential(distribution, max) => capped(distribution.sample(rng), max),
        }
    }
}

impl TryFrom<ServiceTimeConfig> for ServiceTime {
    type Error = ConfigErrors;

    fn try_from(raw: ServiceTimeConfig) -> Result<Self, ConfigErrors> {
        let mut errors = ConfigErrors::new();
        let limit = Duration::from_secs(3600);
        let mut bounded = |field: &str, value: Duration| {
            if value > limit {
                errors.push(field, "must be at most 1h");
            }
        };
        let value = match raw {
            ServiceTimeConfig::Fixed { value } => {
                bounded("value", value);
                Some(Self::Fixed(value))
            }
            ServiceTimeConfig::Uniform { min, max } => {
                bounded("min", min);
                bounded("max", max);
                if min > max {
                    errors.push("min", "must not exceed max");
                }
                Some(Self::Uniform(min, max))
            }
            ServiceTimeConfig::LogNormal { median, sigma, max } => {
                bounded("max", max);
                if median.is_zero() {
                    errors.push("median", "must be positive");
                }
                if !(sigma.is_finite() && (0.0..=10.0).contains(&sigma)) {
                    errors.push("sigma", "must be between 0 and 10");
                }
                LogNormal::new(median.as_secs_f64().max(f64::MIN_POSITIVE).ln(), sigma)
                    .ok()
                    .map(|d| Self::LogNormal(d, max))
            }
            ServiceTimeConfig::Exponential { mean, max } => {
                bounded("max", max);
                if mean.is_zero() {
                    errors.push("mean", "must be positive");
                }
                Exp::new(1.0 / mean.as_secs_f64().max(1e-9))
                    .ok()
                    .map(|d| Self::Exponential(d, max))
            }
        };
        match value {
            Some(value) => errors.into_result(value),
            None => {
                if errors.is_empty() {
                    errors.push("distribution", "invalid parameters");
                }
                Err(errors)
            }
        }
    }
}

impl TryFrom<FaultsConfig> for Faults {
    type Error = ConfigErrors;

    fn try_from(raw: FaultsConfig) -> Result<Self, ConfigErrors> {
        let mut errors = ConfigErrors::new();
        let service_time = match ServiceTime::try_from(raw.service_time) {
            Ok(value) => Some(value),
            Err(inner) => {
                errors.extend_prefixed("service_time", inner);
                None
            }
        };
        check_fraction(&mut errors, "error_rate", raw.error_rate);
        check_fraction(&mut errors, "reset_rate", raw.reset_rate);
        let error_status = match StatusCode::from_u16(raw.error_status) {
            Ok(status) if (400..=599).contains(&raw.error_status) => Some(status),
            _ => {
                errors.push("error_status", "must be an HTTP status between 400 and 599");
                None
            }
        };
        match (service_time, error_status) {
            (Some(service_time), Some(error_status)) if errors.is_empty() => Ok(Faults {
                outage: raw.outage,
                service_time,
                error_rate: raw.error_rate,
                error_status,
                slow_body_bytes_per_second: (raw.slow_body_bytes_per_second > 0)
                    .then_some(raw.slow_body_bytes_per_second),
                reset_rate: raw.reset_rate,
                reset_after_bytes: raw.reset_after_bytes,
                config: raw,
            }),
            _ => Err(errors),
        }
    }
}

fn check_fraction(errors: &mut ConfigErrors, field: &str, value: f64) {
    if !(value.is_finite() && (0.0..=1.0).contains(&value)) {
        errors.push(field, "must be between 0 and 1");
    }
}

/// Defaults of one class: share, cache-control, content type, extension, size.
fn class_defaults(class: Class) -> (f64, &'static str, &'static str, &'static str, SizeConfig) {
    let log_normal = |median: u64, sigma: f64, min: u64, max: u64| SizeConfig::LogNormal {
        median,
        sigma,
        min,
        max,
    };
    match class {
        Class::Static => (
            0.45,
            Class::Static.default_cache_control(),
            "application/javascript",
            "js",
            log_normal(8 << 10, 1.0, 256, 1 << 20),
        ),
        Class::Img => (
            0.35,
            Class::Img.default_cache_control(),
            "image/jpeg",
            "jpg",
            log_normal(32 << 10, 0.8, 1 << 10, 4 << 20),
        ),
        Class::Api => (
            0.19,
            Class::Api.default_cache_control(),
            "application/octet-stream",
            "bin",
            log_normal(1 << 10, 0.7, 64, 64 << 10),
        ),
        Class::Video | Class::File => (
            0.01,
            Class::Video.default_cache_control(),
            "video/mp4",
            "mp4",
            log_normal(2 << 20, 0.6, 256 << 10, 32 << 20),
        ),
    }
}

fn validate_size(errors: &mut ConfigErrors, field: &str, raw: SizeConfig) -> SizeDistribution {
    let mut bounded = |name: &str, value: u64| {
        if value > MAX_OBJECT_BYTES {
            errors.push(format!("{field}.{name}"), "must be at most 16 GiB");
        }
    };
    match raw {
        SizeConfig::Fixed { bytes } => {
            bounded("bytes", bytes);
            SizeDistribution::Fixed(bytes)
        }
        SizeConfig::Uniform { min, max } => {
            bounded("max", max);
            if min > max {
                errors.push(format!("{field}.min"), "must not exceed max");
            }
            SizeDistribution::Uniform(min, max.max(min))
        }
        SizeConfig::LogNormal {
            median,
            sigma,
            min,
            max,
        } => {
            bounded("max", max);
            if median == 0 {
                errors.push(format!("{field}.median"), "must be positive");
            }
            if min > max {
                errors.push(format!("{field}.min"), "must not exceed max");
            }
            if !(sigma.is_finite() && (0.0..=10.0).contains(&sigma)) {
                errors.push(format!("{field}.sigma"), "must be between 0 and 10");
            }
            let distribution = LogNormal::new((median.max(1) as f64).ln(), sigma)
                .unwrap_or_else(|_| LogNormal::new(0.0, 0.0).expect("σ = 0 is valid"));
            SizeDistribution::LogNormal(distribution, min, max.max(min))
        }
    }
}

fn header_value(errors: &mut ConfigErrors, field: &str, value: &str) -> HeaderValue {
    match HeaderValue::from_str(value) {
        Ok(value) if !value.is_empty() => value,
        _ => {
            errors.push(field, "must be a non-empty, visible-ASCII header value");
            HeaderValue::from_static("invalid")
        }
    }
}

/// A placement code: a non-empty word of letters, digits and `-` (it goes into a header and
/// a metric label).
fn check_code(errors: &mut ConfigErrors, field: &str, value: &str) {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        errors.push(
            field,
            format!("`{value}` must be 1 to 64 letters, digits, `-` or `_`"),
        );
    }
}

impl TryFrom<OriginConfig> for OriginSettings {
    type Error = ConfigErrors;

    fn try_from(raw: OriginConfig) -> Result<Self, ConfigErrors> {
        let mut errors = ConfigErrors::new();
        check_code(&mut errors, "name", &raw.name);
        check_code(&mut errors, "region", &raw.region);
        check_code(&mut errors, "az", &raw.az);
        if raw.objects > MAX_OBJECTS {
            errors.push("objects", format!("must be at most {MAX_OBJECTS}"));
        }
        let (low, high) = POOL_BYTES_RANGE;
        if !(low..=high).contains(&raw.pool_bytes) {
            errors.push("pool_bytes", "must be between 64 KiB and 1 GiB");
        }
        if let Some(dir) = &raw.files_dir
            && !dir.is_dir()
        {
            errors.push(
                "files_dir",
                format!("`{}` is not a readable directory", dir.display()),
            );
        }
        let files_cache_control =
            header_value(&mut errors, "files_cache_control", &raw.files_cache_control);
        if raw.admin_token.as_deref() == Some("") {
            errors.push(
                "admin_token",
                "must not be empty (leave it out for no token)",
            );
        }
        if raw.drain_deadline > Duration::from_secs(600) {
            errors.push("drain_deadline", "must be at most 10m");
        }
        let listener = ListenerLimits::try_from(&raw.listener).unwrap_or_else(|problems| {
            errors.extend_prefixed("listener", problems);
            ListenerLimits::default()
        });

        let mut classes = Vec::with_capacity(Class::SYNTHETIC.len());
        for class in Class::SYNTHETIC {
            let given = raw.classes.get(class);
            let field = format!("classes.{}", class.as_str());
            let (share, cache_control, content_type, extension, size) = class_defaults(class);
            let share = given.share.unwrap_or(share);
            if !(share.is_finite() && share >= 0.0) {
                errors.push(format!("{field}.share"), "must be a number ≥ 0");
            }
            let cache_control = header_value(
                &mut errors,
                &format!("{field}.cache_control"),
                given.cache_control.as_deref().unwrap_or(cache_control),
            );
            let content_type = header_value(
                &mut errors,
                &format!("{field}.content_type"),
                given.content_type.as_deref().unwrap_or(content_type),
            );
            let extension = given.extension.as_deref().unwrap_or(extension).to_owned();
            if extension.is_empty()
                || extension.len() > 16
                || !extension.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                errors.push(
                    format!("{field}.extension"),
                    "must be 1 to 16 letters or digits",
                );
            }
            let size = validate_size(
                &mut errors,
                &format!("{field}.size"),
                given.size.unwrap_or(size),
            );
            classes.push(ClassSettings {
                class,
                share,
                cache_control,
                content_type,
                extension,
                size,
            });
        }
        let total: f64 = classes
            .iter()
            .map(|c| c.share)
            .filter(|s| s.is_finite())
            .sum();
        if total <= 0.0 && raw.objects > 0 {
            errors.push("classes", "at least one class needs a positive share");
        }
        for class in &mut classes {
            class.share = if total > 0.0 {
                class.share / total
            } else {
                0.0
            };
        }

        let faults = match Faults::try_from(raw.faults) {
            Ok(faults) => Some(faults),
            Err(inner) => {
                errors.extend_prefixed("faults", inner);
                None
            }
        };
        match faults {
            Some(faults) if errors.is_empty() => Ok(OriginSettings {
                name: raw.name,
                region: raw.region,
                az: raw.az,
                seed: raw.seed,
                objects: raw.objects,
                pool_bytes: raw.pool_bytes as usize,
                files_dir: raw.files_dir,
                files_cache_control,
                admin_token: raw.admin_token,
                drain_deadline: raw.drain_deadline,
                listener,
                classes,
                faults,
                logged: Vec::new(),
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgelab_common::config::parse_toml;

    #[test]
    fn default_config_is_valid() {
        let settings = OriginSettings::try_from(OriginConfig::default()).unwrap();
        assert_eq!(settings.classes.len(), 4);
        let sum: f64 = settings.classes.iter().map(|c| c.share).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        assert!(settings.faults.is_quiet());
    }

    #[test]
    fn empty_file_is_the_default() {
        let parsed: OriginConfig = parse_toml("", "origin.toml").unwrap();
        assert_eq!(parsed, OriginConfig::default());
    }

    #[test]
    fn a_partial_class_keeps_its_other_defaults() {
        let text = r#"
            [classes.video]
            share = 0.5
            size = { distribution = "fixed", bytes = 1048576 }
        "#;
        let parsed: OriginConfig = parse_toml(text, "origin.toml").unwrap();
        let settings = OriginSettings::try_from(parsed).unwrap();
        let video = &settings.classes[3];
        assert_eq!(video.class, Class::Video);
        assert_eq!(video.extension, "mp4");
        assert_eq!(video.size.max(), 1 << 20);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let text = r#"
            name = ""
            pool_bytes = 10
            [classes.img]
            share = -1.0
            size = { distribution = "uniform", min = 10, max = 5 }
            [faults]
            error_rate = 2.0
            error_status = 200
            service_time = { distribution = "uniform", min = "2s", max = "1s" }
        "#;
        let parsed: OriginConfig = parse_toml(text, "origin.toml").unwrap();
        let errors = OriginSettings::try_from(parsed).unwrap_err();
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        for expected in [
            "name",
            "pool_bytes",
            "classes.img.share",
            "classes.img.size.min",
            "faults.error_rate",
            "faults.error_status",
            "faults.service_time.min",
        ] {
            assert!(
                fields.contains(&expected),
                "{expected} missing in {fields:?}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_rejected_also_inside_tagged_distributions() {
        assert!(parse_toml::<OriginConfig>("colour = 1", "o.toml").is_err());
        let text =
            "[faults]\nservice_time = { distribution = \"fixed\", value = \"1ms\", typo = 1 }";
        assert!(parse_toml::<OriginConfig>(text, "o.toml").is_err());
    }

    #[test]
    fn service_time_samples_stay_in_bounds() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
        let lognormal = ServiceTime::try_from(ServiceTimeConfig::LogNormal {
            median: Duration::from_millis(5),
            sigma: 2.0,
            max: Duration::from_millis(50),
        })
        .unwrap();
        let uniform = ServiceTime::try_from(ServiceTimeConfig::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(3),
        })
        .unwrap();
        for _ in 0..1000 {
            assert!(lognormal.sample(&mut rng) <= Duration::from_millis(50));
            let u = uniform.sample(&mut rng);
            assert!(u >= Duration::from_millis(1) && u <= Duration::from_millis(3));
        }
    }
}
