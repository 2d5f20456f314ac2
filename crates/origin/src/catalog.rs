//! The synthetic catalog: which paths exist, how large each body is, and what its bytes are.
//!
//! Bodies are never stored. At start a pseudo-random *pool* of a few MiB is generated from the
//! seed; each object is a window `(offset, size)` over that pool, wrapping round its end as
//! often as the size needs. Serving a window is handing out [`Bytes`] slices of the pool
//! (reference-counted, zero-copy), and a digest is XXH3-64 over the same slices. Object
//! metadata is a few dozen bytes, so a catalog of 100,000 objects costs a few MiB. Paths are
//! `/<class>/<NNNNN>.<ext>` with a per-class number, so a lookup parses the path instead of
//! keeping a map of strings.
//!
//! Real files (optional) are listed under `/files/<relative path>`, digested at start and
//! read from disk per request.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use edgelab_wire::{CatalogEntry, Digest};
use http::HeaderValue;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde::ser::{SerializeSeq, SerializeStruct};
use xxhash_rust::xxh3::Xxh3Default;

pub use crate::class::{Class, FILES_PREFIX};
use crate::config::{LoggedObject, OriginSettings, SizeDistribution};

/// Largest slice of the pool handed out as one body frame. The pool buffer is this much
/// longer than its period, so every frame is one contiguous slice.
pub const MAX_FRAME: usize = 256 << 10;

/// Last-Modified dates are spread over the year after this instant (2024-01-01T00:00:00Z).
const MODIFIED_BASE_SECS: u64 = 1_704_067_200;
/// Width of that spread.
const MODIFIED_SPREAD_SECS: u64 = 365 * 24 * 3600;

/// Largest total of synthetic body bytes: every body is digested at start (about a second
/// per 10 GB per core), so a bigger catalog is refused instead of stalling the start.
pub const MAX_CATALOG_BYTES: u64 = 256 << 30;

/// The seeded byte pool bodies are windows of.
#[derive(Clone)]
pub struct Pool {
    /// `period + MAX_FRAME` bytes: the period, then its first `MAX_FRAME` bytes again.
    bytes: Bytes,
    period: usize,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("period", &self.period)
            .finish()
    }
}

/// Bytes the pool is drawn from: 64 visible characters without `-`, so a multipart boundary
/// (which starts with `--`) can never occur inside a synthetic body, and bodies print safely.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";

impl Pool {
    /// A pool of `period` bytes drawn from `seed`.
    pub fn new(seed: u64, period: usize) -> Pool {
        let period = period.max(1);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x706f_6f6c);
        let mut bytes = Vec::with_capacity(period + MAX_FRAME);
        while bytes.len() < period {
            let word = rng.next_u64();
            for shift in 0..10 {
                if bytes.len() == period {
                    break;
                }
                bytes.push(ALPHABET[((word >> (shift * 6)) & 63) as usize]);
            }
        }
        for i in 0..MAX_FRAME {
            bytes.push(bytes[i % period]);
        }
        Pool {
            bytes: Bytes::from(bytes),
            period,
        }
    }

    /// Length of one period.
    pub fn period(&self) -> usize {
        self.period
    }

    /// The slice of at most `max` (≤ [`MAX_FRAME`]) bytes at stream position `position` of
    /// the infinite repetition of the pool.
    pub fn frame(&self, position: u64, max: usize) -> Bytes {
        let start = (position % self.period as u64) as usize;
        let len = max.min(MAX_FRAME);
        self.bytes.slice(start..start + len)
    }

    /// Calls `f` with the consecutive slices of the window `[offset, offset + len)`.
    pub fn for_each_frame(&self, offset: u64, len: u64, mut f: impl FnMut(Bytes)) {
        let mut position = offset;
        let mut remaining = len;
        while remaining > 0 {
            let take = remaining.min(MAX_FRAME as u64) as usize;
            f(self.frame(position, take));
            position += take as u64;
            remaining -= take as u64;
        }
    }

    /// XXH3-64 of the window `[offset, offset + len)`.
    pub fn digest(&self, offset: u64, len: u64) -> u64 {
        let mut hasher = Xxh3Default::new();
        self.for_each_frame(offset, len, |frame| hasher.update(&frame));
        hasher.digest()
    }
}

/// One synthetic object: about 40 bytes of metadata.
#[derive(Debug, Clone, Copy)]
struct Synthetic {
    size: u64,
    offset: u64,
    digest: u64,
    modified: u32,
}

/// One real file.
#[derive(Debug, Clone)]
struct RealFile {
    path: String,
    disk: PathBuf,
    size: u64,
    digest: u64,
    modified: u64,
    content_type: HeaderValue,
}

/// Per-class data.
#[derive(Debug)]
struct ClassData {
    class: Class,
    cache_control: HeaderValue,
    content_type: HeaderValue,
    extension: String,
    objects: Vec<Synthetic>,
}

/// Where the bytes of an object come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A window over the pool.
    Pool {
        /// Start of the window (stream position).
        offset: u64,
    },
    /// A file on disk, read per request.
    File(PathBuf),
}

/// An object found by [`Catalog::find`]: everything needed to answer for it.
#[derive(Debug, Clone)]
pub struct Object {
    /// Its class.
    pub class: Class,
    /// Body size in bytes.
    pub size: u64,
    /// XXH3-64 of the body.
    pub digest: u64,
    /// Last-Modified, in seconds since the Unix epoch.
    pub modified: u64,
    /// `Cache-Control` value.
    pub cache_control: HeaderValue,
    /// `Content-Type` value.
    pub content_type: HeaderValue,
    /// Where the bytes are.
    pub source: Source,
}

impl Object {
    /// The `x-edgelab-digest` value: `xxh3=<16 hex>`.
    pub fn digest_header(&self) -> String {
        Digest(self.digest).to_string()
    }

    /// The strong entity tag, quoted.
    pub fn etag(&self) -> String {
        Digest(self.digest).etag()
    }

    /// Last-Modified as a [`SystemTime`].
    pub fn modified_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.modified)
    }
}

/// Errors while building a catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The files directory could not be read.
    #[error("cannot read `{path}`: {source}")]
    Files {
        /// The path that failed.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The synthetic bodies add up to more than [`MAX_CATALOG_BYTES`].
    #[error(
        "the catalog's bodies add up to {total} bytes, more than the {MAX_CATALOG_BYTES} digested at start; \
         use fewer objects or smaller sizes"
    )]
    TooLarge {
        /// Total body bytes drawn.
        total: u64,
    },
    /// Writing an exported body failed.
    #[error("cannot write `{path}`: {source}")]
    Export {
        /// The path that failed.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The whole catalog: deterministic from the settings' seed, shared by replicas.
#[derive(Debug)]
pub struct Catalog {
    seed: u64,
    pool: Pool,
    classes: Vec<ClassData>,
    files: Vec<RealFile>,
    files_by_path: HashMap<String, usize>,
    files_cache_control: HeaderValue,
    logged: Vec<Logged>,
    logged_by_path: HashMap<String, usize>,
    json: OnceLock<Bytes>,
}

/// An object from an access log: a pool window at a logged path.
#[derive(Debug)]
struct Logged {
    path: String,
    class: Class,
    cache_control: HeaderValue,
    content_type: HeaderValue,
    body: Synthetic,
}

impl Catalog {
    /// Builds the catalog for `settings`: draws sizes and offsets, digests every body (on
    /// every available core) and, if configured, reads and digests the real files.
    pub fn build(settings: &OriginSettings) -> Result<Catalog, CatalogError> {
        let pool = Pool::new(settings.seed, settings.pool_bytes);
        let counts = split_counts(
            settings.objects,
            &settings.classes.iter().map(|c| c.share).collect::<Vec<_>>(),
        );
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(settings.seed);
        let mut classes = Vec::with_capacity(settings.classes.len());
        for (class, count) in settings.classes.iter().zip(counts) {
            let objects = (0..count)
                .map(|_| draw(&mut rng, &class.size, pool.period()))
                .collect();
            classes.push(ClassData {
                class: class.class,
                cache_control: class.cache_control.clone(),
                content_type: class.content_type.clone(),
                extension: class.extension.clone(),
                objects,
            });
        }
        let total = classes
            .iter()
            .flat_map(|c| c.objects.iter())
            .fold(0u64, |sum, o| sum.saturating_add(o.size));
        if total > MAX_CATALOG_BYTES {
            return Err(CatalogError::TooLarge { total });
        }
        digest_all(&pool, &mut classes);
        let files = match &settings.files_dir {
            Some(dir) => read_files(dir)?,
            None => Vec::new(),
        };
        let files_by_path = files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.path.clone(), i))
            .collect();
        let logged = logged_objects(settings, &pool, &mut rng)?;
        let logged_by_path = logged
            .iter()
            .enumerate()
            .map(|(i, o)| (o.path.clone(), i))
            .collect();
        Ok(Catalog {
            seed: settings.seed,
            pool,
            classes,
            files,
            files_by_path,
            files_cache_control: settings.files_cache_control.clone(),
            logged,
            logged_by_path,
            json: OnceLock::new(),
        })
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The body pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Number of objects (synthetic and real).
    pub fn len(&self) -> usize {
        self.classes.iter().map(|c| c.objects.len()).sum::<usize>()
            + self.files.len()
            + self.logged.len()
    }

    /// Whether the catalog lists nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Looks up `path` (the request path, without query).
    pub fn find(&self, path: &str) -> Option<Object> {
        if let Some(&at) = self.logged_by_path.get(path) {
            let logged = &self.logged[at];
            return Some(Object {
                class: logged.class,
                size: logged.body.size,
                digest: logged.body.digest,
                modified: MODIFIED_BASE_SECS + u64::from(logged.body.modified),
                cache_control: logged.cache_control.clone(),
                content_type: logged.content_type.clone(),
                source: Source::Pool {
                    offset: logged.body.offset,
                },
            });
        }
        if path.starts_with(FILES_PREFIX) {
            let file = &self.files[*self.files_by_path.get(path)?];
            return Some(Object {
                class: Class::File,
                size: file.size,
                digest: file.digest,
                modified: file.modified,
                cache_control: self.files_cache_control.clone(),
                content_type: file.content_type.clone(),
                source: Source::File(file.disk.clone()),
            });
        }
        for data in &self.classes {
            let Some(rest) = path.strip_prefix(data.class.prefix()) else {
                continue;
            };
            let digits = rest
                .strip_suffix(data.extension.as_str())?
                .strip_suffix('.')?;
            // Only the canonical spelling exists: at least five digits, no extra leading zero
            // (`00017`, `123456`; not `17`, `000017` or `+0017`).
            if digits.len() < 5
                || !digits.bytes().all(|b| b.is_ascii_digit())
                || (digits.len() > 5 && digits.starts_with('0'))
            {
                return None;
            }
            let number: usize = digits.parse().ok()?;
            let object = data.objects.get(number)?;
            return Some(Object {
                class: data.class,
                size: object.size,
                digest: object.digest,
                modified: MODIFIED_BASE_SECS + u64::from(object.modified),
                cache_control: data.cache_control.clone(),
                content_type: data.content_type.clone(),
                source: Source::Pool {
                    offset: object.offset,
                },
            });
        }
        None
    }

    /// Every object as a catalog entry, in catalog order.
    pub fn entries(&self) -> impl Iterator<Item = CatalogEntry> + '_ {
        let synthetic = self.classes.iter().flat_map(|data| {
            let content_type = data.content_type.to_str().unwrap_or_default().to_owned();
            data.objects
                .iter()
                .enumerate()
                .map(move |(number, object)| CatalogEntry {
                    path: format!("{}{number:05}.{}", data.class.prefix(), data.extension),
                    class: data.class.as_str().to_string(),
                    size: object.size,
                    digest: Digest(object.digest),
                    content_type: content_type.clone(),
                })
        });
        let files = self.files.iter().map(|file| CatalogEntry {
            path: file.path.clone(),
            class: Class::File.as_str().to_string(),
            size: file.size,
            digest: Digest(file.digest),
            content_type: file.content_type.to_str().unwrap_or_default().to_owned(),
        });
        let logged = self.logged.iter().map(|o| CatalogEntry {
            path: o.path.clone(),
            class: o.class.as_str().to_string(),
            size: o.body.size,
            digest: Digest(o.body.digest),
            content_type: o.content_type.to_str().unwrap_or_default().to_owned(),
        });
        synthetic.chain(files).chain(logged)
    }

    /// The catalog JSON, serialised once and shared afterwards.
    pub fn json(&self) -> Bytes {
        self.json
            .get_or_init(|| {
                let mut bytes = serde_json::to_vec(self)
                    .expect("serialising strings and integers to memory cannot fail");
                bytes.push(b'\n');
                Bytes::from(bytes)
            })
            .clone()
    }

    /// The full body of `object` in memory (for export and tests).
    pub fn body(&self, object: &Object) -> std::io::Result<Vec<u8>> {
        match &object.source {
            Source::Pool { offset } => {
                let mut body = Vec::with_capacity(object.size as usize);
                self.pool
                    .for_each_frame(*offset, object.size, |frame| body.extend_from_slice(&frame));
                Ok(body)
            }
            Source::File(path) => std::fs::read(path),
        }
    }

    /// Writes every synthetic body under `dir`, at its path (for serving the same bytes with
    /// another server). Returns the number of files written.
    pub fn export(&self, dir: &Path) -> Result<usize, CatalogError> {
        let mut written = 0;
        for entry in self.entries().filter(|e| e.class != Class::File.as_str()) {
            let target = dir.join(entry.path.trim_start_matches('/'));
            let io = |source| CatalogError::Export {
                path: target.clone(),
                source,
            };
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            let object = self
                .find(&entry.path)
                .expect("every listed path is found by the catalog");
            let mut file = std::io::BufWriter::new(std::fs::File::create(&target).map_err(io)?);
            if let Source::Pool { offset } = object.source {
                let mut result = Ok(());
                self.pool.for_each_frame(offset, object.size, |frame| {
                    if result.is_ok() {
                        result = std::io::Write::write_all(&mut file, &frame);
                    }
                });
                result.map_err(io)?;
            }
            std::io::Write::flush(&mut file).map_err(io)?;
            written += 1;
        }
        Ok(written)
    }
}

impl Serialize for Catalog {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Objects<'a>(&'a Catalog);
        impl Serialize for Objects<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
                for entry in self.0.entries() {
                    seq.serialize_element(&entry)?;
                }
                seq.end()
            }
        }
        let mut document = serializer.serialize_struct("Catalog", 2)?;
        document.serialize_field("seed", &self.seed)?;
        document.serialize_field("objects", &Objects(self))?;
        document.end()
    }
}

/// Splits `total` objects between classes in proportion to `shares` (largest remainder),
/// so the counts are exact and deterministic.
fn split_counts(total: u64, shares: &[f64]) -> Vec<usize> {
    let exact: Vec<f64> = shares.iter().map(|s| s * total as f64).collect();
    let mut counts: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let left = total.saturating_sub(counts.iter().sum());
    let mut order: Vec<usize> = (0..shares.len()).filter(|&i| shares[i] > 0.0).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().cycle().take(left as usize) {
        counts[i] += 1;
    }
    counts.into_iter().map(|c| c as usize).collect()
}

fn draw<R: Rng>(rng: &mut R, size: &SizeDistribution, period: usize) -> Synthetic {
    use rand::RngExt;
    Synthetic {
        size: size.sample(rng),
        offset: rng.random_range(0..period as u64),
        digest: 0,
        modified: rng.random_range(0..MODIFIED_SPREAD_SECS as u32),
    }
}

/// The access-log objects of `settings`: each a pool window drawn after the synthetic ones
/// (so the synthetic catalog is unchanged), digested, with its class's `Cache-Control`.
fn logged_objects(
    settings: &OriginSettings,
    pool: &Pool,
    rng: &mut Xoshiro256PlusPlus,
) -> Result<Vec<Logged>, CatalogError> {
    use rand::RngExt;
    let total = settings
        .logged
        .iter()
        .fold(0u64, |sum, o| sum.saturating_add(o.size));
    if total > MAX_CATALOG_BYTES {
        return Err(CatalogError::TooLarge { total });
    }
    let class_of = |object: &LoggedObject| {
        settings
            .classes
            .iter()
            .find(|c| c.class == object.class)
            .or_else(|| settings.classes.first())
    };
    let mut logged = Vec::with_capacity(settings.logged.len());
    for object in &settings.logged {
        let offset = rng.random_range(0..pool.period() as u64);
        let modified = rng.random_range(0..MODIFIED_SPREAD_SECS as u32);
        let class = class_of(object);
        let fallback = HeaderValue::from_static("application/octet-stream");
        logged.push(Logged {
            path: object.path.clone(),
            class: object.class,
            cache_control: class.map_or(HeaderValue::from_static("no-cache"), |c| {
                c.cache_control.clone()
            }),
            content_type: object
                .content_type
                .clone()
                .or_else(|| class.map(|c| c.content_type.clone()))
                .unwrap_or(fallback),
            body: Synthetic {
                size: object.size,
                offset,
                digest: pool.digest(offset, object.size),
                modified,
            },
        });
    }
    Ok(logged)
}

/// Digests every synthetic object, spreading the work over the available cores.
fn digest_all(pool: &Pool, classes: &mut [ClassData]) {
    let mut objects: Vec<&mut Synthetic> = classes
        .iter_mut()
        .flat_map(|c| c.objects.iter_mut())
        .collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16);
    let per_thread = objects.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for chunk in objects.chunks_mut(per_thread) {
            scope.spawn(move || {
                for object in chunk.iter_mut() {
                    object.digest = pool.digest(object.offset, object.size);
                }
            });
        }
    });
}

fn content_type_of(path: &Path) -> HeaderValue {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    HeaderValue::from_static(match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css",
        "js" | "mjs" => "application/javascript",
        "json" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    })
}

/// Lists and digests every regular file under `dir` (symbolic links are not followed).
fn read_files(dir: &Path) -> Result<Vec<RealFile>, CatalogError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| CatalogError::Files { path, source }
    };
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).map_err(io(&current))? {
            let entry = entry.map_err(io(&current))?;
            let kind = entry.file_type().map_err(io(&entry.path()))?;
            let disk = entry.path();
            if kind.is_dir() {
                pending.push(disk);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let Ok(relative) = disk.strip_prefix(dir) else {
                continue;
            };
            let Some(relative) = relative.to_str() else {
                continue; // not UTF-8: cannot be a request path
            };
            let relative = relative.replace(std::path::MAIN_SEPARATOR, "/");
            if relative
                .bytes()
                .any(|b| !b.is_ascii_graphic() || b == b'%' || b == b'?')
            {
                continue; // would need percent-encoding; keep the listing literal
            }
            let bytes = std::fs::read(&disk).map_err(io(&disk))?;
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            files.push(RealFile {
                path: format!("{FILES_PREFIX}{relative}"),
                content_type: content_type_of(&disk),
                disk,
                size: bytes.len() as u64,
                digest: xxhash_rust::xxh3::xxh3_64(&bytes),
                modified,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OriginConfig;

    fn settings(objects: u64) -> OriginSettings {
        OriginSettings::try_from(OriginConfig {
            objects,
            pool_bytes: 1 << 20,
            ..OriginConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn the_example_config_spells_out_the_defaults() {
        let text = include_str!("../../../config/origin.toml");
        let parsed: OriginConfig =
            edgelab_common::config::parse_toml(text, "config/origin.toml").unwrap();
        let example = OriginSettings::try_from(parsed).unwrap();
        let default = OriginSettings::try_from(OriginConfig::default()).unwrap();
        let example = Catalog::build(&example).unwrap();
        let default = Catalog::build(&default).unwrap();
        assert_eq!(example.json(), default.json());
    }

    #[test]
    fn pool_windows_wrap_and_digest_like_one_shot() {
        let pool = Pool::new(7, 100_000);
        let mut body = Vec::new();
        pool.for_each_frame(99_990, 700_000, |f| body.extend_from_slice(&f));
        assert_eq!(body.len(), 700_000);
        assert_eq!(body[10], body[100_010]);
        assert_eq!(
            xxhash_rust::xxh3::xxh3_64(&body),
            pool.digest(99_990, 700_000)
        );
        assert!(!body.contains(&b'-'));
    }

    #[test]
    fn a_catalog_too_large_to_digest_is_refused_quickly() {
        let mut config = OriginConfig {
            objects: 1_000,
            pool_bytes: 1 << 20,
            ..OriginConfig::default()
        };
        config.classes.video.share = Some(1.0);
        config.classes.video.size = Some(crate::config::SizeConfig::Fixed { bytes: 1 << 30 });
        let settings = OriginSettings::try_from(config).unwrap();
        assert!(matches!(
            Catalog::build(&settings),
            Err(CatalogError::TooLarge { .. })
        ));
    }

    #[test]
    fn split_counts_is_exact() {
        assert_eq!(
            split_counts(10, &[0.45, 0.35, 0.19, 0.01]),
            vec![5, 3, 2, 0]
        );
        assert_eq!(split_counts(2, &[0.5, 0.0, 0.0, 0.5]), vec![1, 0, 0, 1]);
        assert_eq!(split_counts(7, &[0.0, 1.0]), vec![0, 7]);
        let counts = split_counts(100_000, &[0.45, 0.35, 0.19, 0.01]);
        assert_eq!(counts.iter().sum::<usize>(), 100_000);
    }

    #[test]
    fn catalog_is_deterministic_from_the_seed() {
        let a = Catalog::build(&settings(200)).unwrap();
        let b = Catalog::build(&settings(200)).unwrap();
        assert_eq!(a.json(), b.json());
        let mut other = settings(200);
        other.seed += 1;
        assert_ne!(a.json(), Catalog::build(&other).unwrap().json());
    }

    #[test]
    fn every_listed_path_is_found_with_a_matching_digest() {
        let catalog = Catalog::build(&settings(100)).unwrap();
        let listing: edgelab_wire::CatalogListing =
            serde_json::from_slice(&catalog.json()).unwrap();
        assert_eq!(listing.objects.len(), 100);
        for entry in &listing.objects {
            let object = catalog.find(&entry.path).expect("listed path exists");
            let body = catalog.body(&object).unwrap();
            assert_eq!(body.len() as u64, entry.size);
            assert_eq!(Digest::of(&body), entry.digest);
        }
    }

    proptest::proptest! {
        #[test]
        fn lookups_of_arbitrary_paths_never_panic(
            class in proptest::sample::select(vec!["/static/", "/img/", "/api/", "/video/", "/files/", "/"]),
            rest in "\\PC{0,24}",
        ) {
            static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
            let catalog = CATALOG.get_or_init(|| Catalog::build(&settings(50)).unwrap());
            if let Some(object) = catalog.find(&format!("{class}{rest}")) {
                proptest::prop_assert!(object.size > 0);
            }
        }
    }

    #[test]
    fn only_canonical_paths_exist() {
        let catalog = Catalog::build(&settings(100)).unwrap();
        assert!(catalog.find("/static/00000.js").is_some());
        for path in [
            "/static/0.js",
            "/static/000000.js",
            "/static/+0000.js",
            "/static/00000.jpg",
            "/static/00000",
            "/static/99999.js",
            "/img/00000.js",
            "/nothing",
            "/files/x",
        ] {
            assert!(catalog.find(path).is_none(), "{path}");
        }
    }
}
