//! The origin server: `start` wires the catalog, the traffic handler and the admin routes to
//! two bound listeners; [`OriginHandle`] is how the caller sees and steers the running node.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use edgelab_common::admin::{Admin, AdminRoutes, Readiness, authorize};
use edgelab_common::body::{self, Body};
use edgelab_common::config::ConfigErrors;
use edgelab_common::names::{header as names, path};
use edgelab_common::serve::lane::{Answer, WireHead, decimal};
use edgelab_common::serve::{Handler, ListenerFamilies, ServeOptions, serve};
use edgelab_common::shutdown::Shutdown;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use prometheus::Registry;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::body::{ObjectBody, Segment};
use crate::catalog::{Catalog, CatalogError, MAX_FRAME, Object, Source};
use crate::config::{Faults, FaultsConfig, OriginConfig, OriginSettings};
use crate::metrics::{FaultKind, OriginMetrics};
use edgelab_wire::conditional::{self, Conditions, Precondition, Validators};
use edgelab_wire::range::{self, Multipart, Piece, RangeRequest};

/// Largest request body `/echo/` reads.
pub const MAX_ECHO_BODY: usize = 1 << 20;

/// Why an origin could not start.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    /// The configuration is invalid (every problem listed).
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The catalog could not be built.
    #[error("cannot build the catalog: {0}")]
    Catalog(#[from] CatalogError),
    /// The metrics could not be registered (e.g. already registered in this registry).
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A listener's address could not be read.
    #[error("listener: {0}")]
    Listener(#[from] std::io::Error),
}

impl OriginError {
    /// Short label of the error kind.
    pub fn kind(&self) -> &'static str {
        match self {
            OriginError::Config(_) => "config",
            OriginError::Catalog(_) => "catalog",
            OriginError::Metrics(_) => "metrics",
            OriginError::Listener(_) => "listener",
        }
    }
}

/// State shared by the traffic handler, the admin routes and the handle.
struct State {
    catalog: Arc<Catalog>,
    placement: HeaderValue,
    faults: RwLock<Arc<Faults>>,
    initial_faults: Faults,
    rng: Mutex<Xoshiro256PlusPlus>,
    metrics: OriginMetrics,
    token: Option<String>,
}

impl State {
    fn faults(&self) -> Arc<Faults> {
        // A poisoned lock still holds a valid `Arc`: every write is a single assignment.
        self.faults
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_faults(&self, faults: Faults) {
        *self.faults.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(faults);
    }

    fn with_rng<T>(&self, f: impl FnOnce(&mut Xoshiro256PlusPlus) -> T) -> T {
        // The generator has no invariant a panic could break; keep using it if poisoned.
        f(&mut self.rng.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A running origin replica.
pub struct OriginHandle {
    traffic: SocketAddr,
    admin: SocketAddr,
    state: Arc<State>,
    readiness: Readiness,
    shutdown: Shutdown,
}

impl std::fmt::Debug for OriginHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginHandle")
            .field("traffic", &self.traffic)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

impl OriginHandle {
    /// Address of the traffic listener.
    pub fn traffic_addr(&self) -> SocketAddr {
        self.traffic
    }

    /// Address of the admin listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// The catalog this replica serves (share it with other replicas of the same origin).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.state.catalog.clone()
    }

    /// The readiness reported on `/readyz`.
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        (*self.state.faults()).clone()
    }

    /// Replaces the faults in force.
    pub fn set_faults(&self, faults: Faults) {
        self.state.set_faults(faults);
    }

    /// Switches the full outage on or off (an AZ failure of this replica).
    pub fn set_outage(&self, outage: bool) {
        let mut config = self.state.faults().config.clone();
        config.outage = outage;
        self.set_faults_config(config)
            .expect("toggling the outage of valid faults keeps them valid");
    }

    /// Whether the outage switch is on.
    pub fn outage(&self) -> bool {
        self.state.faults().outage
    }

    /// Sets the injected error rate and status.
    pub fn set_error_rate(&self, rate: f64, status: u16) -> Result<(), ConfigErrors> {
        let mut config = self.state.faults().config.clone();
        config.error_rate = rate;
        config.error_status = status;
        self.set_faults_config(config)
    }

    /// Validates `config` and puts it in force.
    pub fn set_faults_config(&self, config: FaultsConfig) -> Result<(), ConfigErrors> {
        self.set_faults(Faults::try_from(config)?);
        Ok(())
    }

    /// Stops this replica: readiness flips to not-ready first, then the listeners stop
    /// accepting and in-flight requests get `deadline` to finish. Returns whether everything
    /// finished in time.
    pub async fn stop(&self, deadline: Duration) -> bool {
        self.readiness.set(false);
        self.shutdown.drain(deadline).await
    }
}

/// Validates `config`, builds its catalog and starts serving. See [`start_with_catalog`].
///
/// The catalog is built on the calling thread (digesting every body); for a large catalog
/// build it with [`Catalog::build`] under `spawn_blocking` and call [`start_with_catalog`].
pub fn start(
    config: OriginConfig,
    traffic: TcpListener,
    admin: TcpListener,
    registry: Registry,
    shutdown: Shutdown,
) -> Result<OriginHandle, OriginError> {
    let settings = OriginSettings::try_from(config)?;
    let catalog = Arc::new(Catalog::build(&settings)?);
    start_with_catalog(settings, catalog, traffic, admin, registry, shutdown)
}

/// Starts a replica with an already built `catalog` (replicas of one origin share one).
///
/// Serves traffic on `traffic` and the admin API on `admin`, registers the metrics in
/// `registry`, and stops when `shutdown` fires (or [`OriginHandle::stop`] is called). The
/// replica's tasks run on a child of `shutdown` whose completion the parent's tracker waits
/// for, so draining the parent drains this replica too. Must be called within a tokio runtime.
pub fn start_with_catalog(
    settings: OriginSettings,
    catalog: Arc<Catalog>,
    traffic: TcpListener,
    admin: TcpListener,
    registry: Registry,
    shutdown: Shutdown,
) -> Result<OriginHandle, OriginError> {
    let traffic_addr = traffic.local_addr()?;
    let admin_addr = admin.local_addr()?;
    let metrics =
        OriginMetrics::register(&registry, &settings.name, &settings.region, &settings.az)?;
    let placement = HeaderValue::from_str(&format!("{}/{}", settings.region, settings.az))
        .expect("validated region and AZ are header-safe words");
    let token = settings
        .admin_token
        .clone()
        .or_else(|| std::env::var(edgelab_common::names::env::ADMIN_TOKEN).ok())
        .filter(|t| !t.is_empty());
    let state = Arc::new(State {
        catalog,
        placement,
        faults: RwLock::new(Arc::new(settings.faults.clone())),
        initial_faults: settings.faults.clone(),
        rng: Mutex::new(Xoshiro256PlusPlus::seed_from_u64(
            settings.seed ^ 0x6661_756c,
        )),
        metrics,
        token,
    });

    let node = shutdown.child();
    let readiness = Readiness::new();
    let listeners = ListenerFamilies::register(&registry)?;
    let options = ServeOptions {
        drain_deadline: settings.drain_deadline,
        limits: settings.listener,
        lane: settings.listener.lane,
        metrics: listeners.listener("traffic"),
        ..ServeOptions::default()
    };
    let admin_options = ServeOptions {
        metrics: listeners.listener("admin"),
        ..options.clone()
    };
    serve(
        traffic,
        Arc::new(Traffic {
            state: state.clone(),
        }),
        options,
        node.clone(),
    );
    serve(
        admin,
        Arc::new(Admin::new(
            registry,
            readiness.clone(),
            AdminApi {
                state: state.clone(),
            },
        )),
        admin_options,
        node.clone(),
    );
    // Readiness flips as soon as the node is told to stop; the parent tracker waits for the
    // node's own tasks, so draining the parent drains this node.
    let watcher = node.clone();
    let flip = readiness.clone();
    shutdown.spawn(async move {
        watcher.triggered().await;
        flip.set(false);
        watcher.tracker().close();
        watcher.tracker().wait().await;
    });
    readiness.set(true);
    tracing::info!(traffic = %traffic_addr, admin = %admin_addr, objects = state.catalog.len(), "origin started");
    Ok(OriginHandle {
        traffic: traffic_addr,
        admin: admin_addr,
        state,
        readiness,
        shutdown: node,
    })
}

/// The traffic handler.
struct Traffic {
    state: Arc<State>,
}

impl Handler for Traffic {
    async fn handle(&self, request: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        let started = Instant::now();
        let response = self.respond(request).await;
        self.finish(response, started)
    }

    fn answers_now(&self) -> bool {
        true
    }

    /// The lane's answers: with quiet faults, a GET or HEAD of a pool object (and the
    /// outage's 503) is answered at once, as [`Handler::handle`] answers it. A plain one (no
    /// precondition, no `Range`, a body of one pool frame) is written as HTTP/1.1 text
    /// without a map ([`Traffic::write_plain`]); the rest (and the catalog) build their
    /// response as `handle` does. Injected delays, errors, resets, slow bodies, files and
    /// `/echo/` go to `handle` (the connection to hyper).
    fn write_now(
        &self,
        request: Request<()>,
        _peer: SocketAddr,
        head: &mut WireHead<'_>,
    ) -> Option<Answer> {
        let started = Instant::now();
        let state = &self.state;
        let faults = state.faults();
        if !faults.outage && !faults.is_quiet() {
            return None;
        }
        let object = match self.route(&faults, request.method(), request.uri().path()) {
            Route::Answer(response) => {
                return Some(Answer::Response(self.finish(response, started)));
            }
            Route::Echo => return None,
            Route::Object(object) => object,
        };
        let Source::Pool { offset } = object.source else {
            return None;
        };
        let is_head = request.method() == Method::HEAD;
        if plain(request.headers(), is_head)
            && (is_head || (1..=MAX_FRAME as u64).contains(&object.size))
        {
            let body = self.write_plain(&object, offset, is_head, head);
            head.give_back(request.into_parts().0.headers);
            state.metrics.request(StatusCode::OK);
            state
                .metrics
                .duration
                .observe(started.elapsed().as_secs_f64());
            return Some(Answer::Written(body));
        }
        let response = match self.check(request.method(), request.headers(), &object) {
            Ok(plan) => self.finish_object(plan, &object, None, &faults, false),
            Err(response) => response,
        };
        Some(Answer::Response(self.finish(response, started)))
    }
}

/// Whether a request's fields leave a GET or HEAD of an object a plain 200 of the whole
/// body: no precondition and (for a GET) no `Range`. Any such field, whatever its value,
/// sends the request through the map.
fn plain(headers: &HeaderMap, is_head: bool) -> bool {
    [
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_UNMODIFIED_SINCE,
    ]
    .iter()
    .all(|name| !headers.contains_key(name))
        && (is_head || !headers.contains_key(header::RANGE))
}

fn is_echo(path: &str) -> bool {
    path.strip_prefix(path::ORIGIN_ECHO)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Lower-case hex of `n`, 16 digits (as `{:016x}` writes it).
fn hex16(n: u64) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = DIGITS[((n >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// `Last-Modified` of `seconds` since the epoch as IMF-fixdate (29 bytes, as
/// `httpdate::fmt_http_date` writes it), without allocating.
fn http_date(seconds: u64, out: &mut [u8; 29]) -> &[u8] {
    use std::io::Write as _;
    let date = httpdate::HttpDate::from(std::time::UNIX_EPOCH + Duration::from_secs(seconds));
    let mut cursor = std::io::Cursor::new(&mut out[..]);
    write!(cursor, "{date}").expect("an IMF-fixdate is 29 bytes");
    let len = cursor.position() as usize;
    &out[..len]
}

/// Where [`Traffic::route`] sends a request.
enum Route {
    /// Answered as it is (the outage's 503, the catalog, a 404).
    Answer(Response<Body>),
    /// `/echo/`: answered from the request's own body, by hyper.
    Echo,
    /// An object of the catalog.
    Object(Object),
}

/// What the faults decided for one request.
struct Draw {
    delay: Duration,
    error: bool,
    reset: bool,
}

impl Traffic {
    async fn respond(&self, request: Request<Incoming>) -> Response<Body> {
        let state = &self.state;
        let faults = state.faults();
        let object = match self.route(&faults, request.method(), request.uri().path()) {
            Route::Answer(response) => return response,
            Route::Echo => None,
            Route::Object(object) => Some(object),
        };
        let draw = if faults.is_quiet() {
            Draw {
                delay: Duration::ZERO,
                error: false,
                reset: false,
            }
        } else {
            state.with_rng(|rng| Draw {
                delay: faults.service_time.sample(rng),
                error: faults.error_rate > 0.0 && rng.random_bool(faults.error_rate),
                reset: faults.reset_rate > 0.0 && rng.random_bool(faults.reset_rate),
            })
        };
        if !draw.delay.is_zero() {
            tokio::time::sleep(draw.delay).await;
        }
        if draw.error {
            state.metrics.fault(FaultKind::Error);
            return body::text(faults.error_status, "injected error (fault injection)");
        }
        match object {
            None => echo(request).await,
            Some(object) => self.object(request, object, &faults, draw.reset).await,
        }
    }

    /// Where a request goes before any fault but the outage is drawn, as both
    /// [`Traffic::respond`] and the lane's [`Traffic::write_now`] decide it: the outage's 503,
    /// the catalog and a 404 are answered as they are; `/echo/` and objects go on.
    fn route(&self, faults: &Faults, method: &Method, path: &str) -> Route {
        let state = &self.state;
        if faults.outage {
            state.metrics.fault(FaultKind::Outage);
            return Route::Answer(body::text(
                StatusCode::SERVICE_UNAVAILABLE,
                "origin outage (fault injection)",
            ));
        }
        if path == path::WELL_KNOWN_CATALOG {
            return Route::Answer(catalog_response(&state.catalog, method));
        }
        if is_echo(path) {
            return Route::Echo;
        }
        match state.catalog.find(path) {
            Some(object) => Route::Object(object),
            None => Route::Answer(body::text(
                StatusCode::NOT_FOUND,
                format!("no object at {path}"),
            )),
        }
    }

    /// Adds the replica's placement to an answer and counts it.
    fn finish(&self, mut response: Response<Body>, started: Instant) -> Response<Body> {
        let state = &self.state;
        response
            .headers_mut()
            .insert(names::X_EDGELAB_ORIGIN, state.placement.clone());
        state.metrics.request(response.status());
        state
            .metrics
            .duration
            .observe(started.elapsed().as_secs_f64());
        response
    }

    /// The head of a plain 200 of a pool object, written in the order [`Traffic::handle`]'s
    /// map has it ([`object_headers`], then `content-type`, `content-length` and the
    /// placement), and its body: one pool frame (empty after HEAD).
    fn write_plain(
        &self,
        object: &Object,
        offset: u64,
        is_head: bool,
        head: &mut WireHead<'_>,
    ) -> Bytes {
        let written = head.status(StatusCode::OK);
        debug_assert!(written, "a 200 is written");
        let digest = hex16(object.digest);
        let mut date = [0u8; 29];
        let mut digits = [0u8; 20];
        head.field(
            header::CACHE_CONTROL.as_str(),
            object.cache_control.as_bytes(),
        );
        head.field_parts(header::ETAG.as_str(), &[b"\"", &digest, b"\""]);
        head.field(
            header::LAST_MODIFIED.as_str(),
            http_date(object.modified, &mut date),
        );
        head.field_parts(names::X_EDGELAB_DIGEST, &[b"xxh3=", &digest]);
        head.field(names::X_EDGELAB_CLASS, object.class.as_str().as_bytes());
        head.field(header::ACCEPT_RANGES.as_str(), b"bytes");
        head.field(
            header::CONTENT_TYPE.as_str(),
            object.content_type.as_bytes(),
        );
        head.content_length(decimal(object.size, &mut digits));
        head.field(names::X_EDGELAB_ORIGIN, self.state.placement.as_bytes());
        if is_head {
            return Bytes::new();
        }
        self.state.metrics.response_bytes.inc_by(object.size);
        self.state
            .catalog
            .pool()
            .frame(offset, object.size as usize)
    }

    async fn object(
        &self,
        request: Request<Incoming>,
        object: Object,
        faults: &Faults,
        reset: bool,
    ) -> Response<Body> {
        let plan = match self.check(request.method(), request.headers(), &object) {
            Ok(plan) => plan,
            Err(response) => return response,
        };
        let file = match &object.source {
            Source::File(path) if !plan.is_head => match tokio::fs::read(path).await {
                Ok(bytes) => Some(Bytes::from(bytes)),
                Err(error) => {
                    return body::text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("cannot read the file: {error}"),
                    );
                }
            },
            _ => None,
        };
        self.finish_object(plan, &object, file, faults, reset)
    }

    /// What comes before the body is read: the method, the preconditions and `Range`; an
    /// answer already, or the plan of one.
    fn check(
        &self,
        method: &Method,
        request_headers: &HeaderMap,
        object: &Object,
    ) -> Result<Plan, Response<Body>> {
        if method != Method::GET && method != Method::HEAD {
            let mut response = body::text(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not allowed on objects"),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Err(response);
        }
        let is_head = method == Method::HEAD;
        let etag = object.etag();
        let modified = object.modified_time();
        let headers = object_headers(object, &etag, modified);
        let validators = Validators {
            etag: Some(&etag),
            last_modified: Some(modified),
        };
        let conditions = Conditions::from_headers(request_headers);
        match conditional::evaluate(method, &conditions, &validators) {
            Precondition::NotModified => {
                return Err(with_headers(
                    StatusCode::NOT_MODIFIED,
                    headers,
                    body::empty(),
                ));
            }
            Precondition::Failed => {
                let message = "the representation does not meet the request's preconditions";
                return Err(with_validators(
                    StatusCode::PRECONDITION_FAILED,
                    message,
                    &headers,
                ));
            }
            Precondition::Proceed => {}
        }
        let mut ranges = RangeRequest::Ignore;
        if !is_head
            && let Some(value) = request_headers.get(header::RANGE)
            && let Ok(value) = value.to_str()
            && conditional::if_range_holds(&conditions, &validators)
        {
            ranges = range::parse(value, object.size);
        }
        if ranges == RangeRequest::Unsatisfiable {
            let message = "no requested range overlaps the object";
            let mut response =
                with_validators(StatusCode::RANGE_NOT_SATISFIABLE, message, &headers);
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&range::unsatisfied_range(object.size)),
            );
            return Err(response);
        }
        Ok(Plan {
            headers,
            ranges,
            is_head,
        })
    }

    /// The answer of a checked request, its body from the pool or `file`.
    fn finish_object(
        &self,
        plan: Plan,
        object: &Object,
        file: Option<Bytes>,
        faults: &Faults,
        reset: bool,
    ) -> Response<Body> {
        let Plan {
            mut headers,
            ranges,
            is_head,
        } = plan;
        let pieces = Pieces {
            object,
            pool: self.state.catalog.pool(),
            file,
        };
        let (status, segments) = pieces.plan(ranges, is_head, &mut headers);
        let length = segments.iter().map(segment_len).sum();
        let length = if is_head { object.size } else { length };
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        if is_head {
            return with_headers(status, headers, body::empty());
        }
        let mut body = ObjectBody::new(segments, self.state.metrics.response_bytes.clone());
        if reset && faults.reset_after_bytes < length {
            self.state.metrics.fault(FaultKind::Reset);
            body = body.reset_after(faults.reset_after_bytes);
        }
        if let Some(rate) = faults.slow_body_bytes_per_second {
            body = body.paced(rate);
        }
        with_headers(status, headers, body.boxed())
    }
}

/// A request that passed [`Traffic::check`]: the object's fields so far, the ranges to send.
struct Plan {
    headers: HeaderMap,
    ranges: RangeRequest,
    is_head: bool,
}

/// The headers every answer about `object` carries.
fn object_headers(object: &Object, etag: &str, modified: std::time::SystemTime) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(12);
    headers.insert(header::CACHE_CONTROL, object.cache_control.clone());
    headers.insert(header::ETAG, header_value(etag));
    headers.insert(
        header::LAST_MODIFIED,
        header_value(&httpdate::fmt_http_date(modified)),
    );
    headers.insert(
        HeaderName::from_static(names::X_EDGELAB_DIGEST),
        header_value(&object.digest_header()),
    );
    headers.insert(
        HeaderName::from_static(names::X_EDGELAB_CLASS),
        HeaderValue::from_static(object.class.as_str()),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers
}

/// A short text answer carrying the object's validators.
fn with_validators(status: StatusCode, message: &str, headers: &HeaderMap) -> Response<Body> {
    let mut response = body::text(status, message);
    for name in [header::ETAG, header::LAST_MODIFIED] {
        if let Some(value) = headers.get(&name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

/// Where an object's bytes come from: the pool (zero-copy windows) or a file read in full.
struct Pieces<'a> {
    object: &'a Object,
    pool: &'a crate::catalog::Pool,
    file: Option<Bytes>,
}

impl Pieces<'_> {
    /// `len` bytes of the object from `first`.
    fn piece(&self, first: u64, len: u64) -> Segment {
        match (&self.object.source, &self.file) {
            (_, Some(bytes)) => {
                let end = (first + len).min(bytes.len() as u64) as usize;
                Segment::Bytes(bytes.slice((first as usize).min(end)..end))
            }
            (Source::Pool { offset }, None) => Segment::Window {
                pool: self.pool.clone(),
                position: offset + first,
                len,
            },
            (Source::File(_), None) => Segment::Bytes(Bytes::new()),
        }
    }

    /// Status and body segments for `ranges` (none for HEAD); sets the content headers.
    fn plan(
        &self,
        ranges: RangeRequest,
        is_head: bool,
        headers: &mut HeaderMap,
    ) -> (StatusCode, Vec<Segment>) {
        let object = self.object;
        match ranges {
            RangeRequest::Ranges(ranges) if ranges.len() == 1 => {
                let (first, last) = ranges[0];
                headers.insert(
                    header::CONTENT_RANGE,
                    header_value(&range::content_range(first, last, object.size)),
                );
                headers.insert(header::CONTENT_TYPE, object.content_type.clone());
                let segments = vec![self.piece(first, last - first + 1)];
                (StatusCode::PARTIAL_CONTENT, segments)
            }
            RangeRequest::Ranges(ranges) => {
                let boundary = format!("edgelab-byteranges-{:016x}", object.digest);
                let content_type = object.content_type.to_str().ok();
                let multipart = Multipart::new(&ranges, object.size, content_type, &boundary);
                headers.insert(
                    header::CONTENT_TYPE,
                    header_value(&multipart.content_type()),
                );
                let segments = multipart
                    .pieces()
                    .iter()
                    .map(|piece| match piece {
                        Piece::Framing(bytes) => Segment::Bytes(bytes.clone()),
                        Piece::Data { first, last } => self.piece(*first, last - first + 1),
                    })
                    .collect();
                (StatusCode::PARTIAL_CONTENT, segments)
            }
            _ => {
                headers.insert(header::CONTENT_TYPE, object.content_type.clone());
                let segments = if is_head {
                    Vec::new()
                } else {
                    vec![self.piece(0, object.size)]
                };
                (StatusCode::OK, segments)
            }
        }
    }
}

fn segment_len(segment: &Segment) -> u64 {
    match segment {
        Segment::Bytes(bytes) => bytes.len() as u64,
        Segment::Window { len, .. } => *len,
    }
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("values built from hex digits, dates and numbers are valid")
}

fn with_headers(status: StatusCode, headers: HeaderMap, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn catalog_response(catalog: &Catalog, method: &Method) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        let mut response = body::text(StatusCode::METHOD_NOT_ALLOWED, "the catalog is read-only");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let json = catalog.json();
    let length = json.len();
    let body = if method == Method::HEAD {
        body::empty()
    } else {
        body::full(json)
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    response
}

/// The `/echo/` answer: the request as JSON.
#[derive(serde::Serialize)]
struct Echo {
    method: String,
    path: String,
    query: Option<String>,
    version: String,
    headers: Vec<(String, String)>,
    body: String,
    body_bytes: usize,
}

async fn echo(request: Request<Incoming>) -> Response<Body> {
    let (parts, incoming) = request.into_parts();
    let too_large = || {
        body::text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {MAX_ECHO_BODY} bytes"),
        )
    };
    // A declared length over the limit is refused before the body is read, so the client
    // never gets `100 Continue` for a body that would be refused anyway.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_ECHO_BODY as u64) {
        return too_large();
    }
    let bytes = match Limited::new(incoming, MAX_ECHO_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => return too_large(),
        // A malformed chunked body is the client's fault.
        Err(error) => {
            return body::text(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {error}"),
            );
        }
    };
    let echo = Echo {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        version: format!("{:?}", parts.version),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        body_bytes: bytes.len(),
    };
    let mut response = body::json(StatusCode::OK, &echo);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if parts.method == Method::HEAD {
        *response.body_mut() = body::empty();
    }
    response
}

/// The origin's admin routes (see `docs/origin.md`).
struct AdminApi {
    state: Arc<State>,
}

impl AdminApi {
    fn faults_view(&self) -> Response<Body> {
        body::json(StatusCode::OK, &self.state.faults().config)
    }

    /// Overlays the JSON object in `body` on the faults in force, validates and installs.
    fn patch_faults(&self, body: &[u8]) -> Response<Body> {
        let patch: serde_json::Value = match serde_json::from_slice(body) {
            Ok(value @ serde_json::Value::Object(_)) => value,
            Ok(_) => return body::text(StatusCode::BAD_REQUEST, "expected a JSON object"),
            Err(error) => {
                return body::text(StatusCode::BAD_REQUEST, format!("invalid JSON: {error}"));
            }
        };
        let mut merged = serde_json::to_value(&self.state.faults().config)
            .expect("the fault configuration serialises to JSON");
        if let (Some(target), serde_json::Value::Object(patch)) = (merged.as_object_mut(), patch) {
            target.extend(patch);
        }
        let config: FaultsConfig = match serde_json::from_value(merged) {
            Ok(config) => config,
            Err(error) => {
                return body::text(StatusCode::BAD_REQUEST, format!("invalid faults: {error}"));
            }
        };
        match Faults::try_from(config) {
            Ok(faults) => {
                tracing::info!(?faults.config, "faults changed");
                self.state.set_faults(faults);
                self.faults_view()
            }
            Err(errors) => body::text(StatusCode::BAD_REQUEST, errors.to_string()),
        }
    }
}

impl AdminRoutes for AdminApi {
    async fn route(&self, request: &Request<Bytes>) -> Option<Response<Body>> {
        let method = request.method();
        let is_read = method == Method::GET || method == Method::HEAD;
        let path = request.uri().path();
        let token = self.state.token.as_deref();
        Some(match path {
            path::ADMIN_CATALOG if is_read => catalog_response(&self.state.catalog, method),
            path::ORIGIN_FAULTS if is_read => self.faults_view(),
            path::ORIGIN_FAULTS
                if matches!(*method, Method::POST | Method::PUT | Method::PATCH) =>
            {
                if let Err(denied) = authorize(request, token) {
                    return Some(denied);
                }
                self.patch_faults(request.body())
            }
            path::ORIGIN_FAULTS if method == Method::DELETE => {
                if let Err(denied) = authorize(request, token) {
                    return Some(denied);
                }
                self.state.set_faults(self.state.initial_faults.clone());
                self.faults_view()
            }
            path::ORIGIN_OUTAGE if matches!(*method, Method::POST | Method::DELETE) => {
                if let Err(denied) = authorize(request, token) {
                    return Some(denied);
                }
                let body: &[u8] = if method == Method::POST {
                    br#"{"outage": true}"#
                } else {
                    br#"{"outage": false}"#
                };
                self.patch_faults(body)
            }
            path::ADMIN_CATALOG | path::ORIGIN_FAULTS | path::ORIGIN_OUTAGE => {
                let mut response = body::text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("{method} not allowed"),
                );
                let allow = match path {
                    path::ADMIN_CATALOG => "GET, HEAD",
                    path::ORIGIN_FAULTS => "GET, HEAD, POST, PUT, PATCH, DELETE",
                    _ => "POST, DELETE",
                };
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                response
            }
            _ => return None,
        })
    }
}
