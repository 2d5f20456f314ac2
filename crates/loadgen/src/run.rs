//! The engine: a dispatcher releases requests at their intended times into a per-target
//! `Lane` (`lane.rs`), which hands each to an idle worker of that target (or queues it while all are
//! busy); each target has `connections` workers, each owning one HTTP/1.1 connection (opened
//! through the target's [`connector`] and driven by the worker's own task, `client.rs`), and
//! one [`Recorder`] its workers share.
//! Latency runs from the intended send time to the end of the body, so time spent waiting for
//! a free connection behind a stalled server is counted (open loop, no coordinated
//! omission). A closed-loop run instead has each worker send its next request as soon as the
//! previous one finished.
//!
//! The run stops by itself after its duration or request count; the queue is then drained
//! for at most one request timeout. Cancelling the caller's [`Shutdown`] ends it early, and
//! the partial report is still returned.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::{HeaderValue, Uri};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use xxhash_rust::xxh3::Xxh3;

use edgelab_common::config::ConfigErrors;
use edgelab_common::names::header;
use edgelab_common::shutdown::Shutdown;

use crate::catalog::CatalogObject;
use crate::client::{ClientError, Http1};
use crate::dispatch::{Job, dispatch};
use crate::error::{LoadgenError, RequestErrorKind};
use crate::lane::{Lane, Taken};
use crate::origin_load::OriginCounters;
pub use crate::plan::Plan;
use crate::progress::{Live, Progress};
use crate::record::{
    CacheResult, Recorder, ResponseSample, Sample, Tier, pop_from_headers, tier_from_headers,
};
use crate::report::{ErrorSeries, OriginSecond, Report, ReportInput};
use crate::sent::SendStamp;
use crate::target::{Connector, Target, connector};
use edgelab_link::{DeliveryErrors, LinkStream, TimedLateness};
use edgelab_wire::Digest;

/// Requests a target's lane holds while all its connections are busy, before the dispatcher
/// waits (memory bound under overload; waiting does not change intended times, so latency
/// stays honest).
const QUEUE_CAPACITY: usize = 65_536;
/// Time limit of a `/metrics` scrape.
const SCRAPE_LIMIT: Duration = Duration::from_secs(5);

/// How a run reports besides its result.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// A name for the run in reports (`direct`, `edge`, `ga`, or the target).
    pub label: String,
    /// Origin admin `/metrics` URLs scraped before, during (each second) and after the run.
    pub origin_metrics: Vec<Uri>,
    /// Show a live progress line on standard error (the caller checks for a TTY).
    pub progress: bool,
    /// Write an HdrHistogram interval log (total latency, µs, one interval per second) here.
    pub hdr_log: Option<PathBuf>,
    /// The delivery errors of the cache nodes' upstream links (the links between the
    /// tiers), when they run in this process: during the run their deliveries are also
    /// binned over time into the report's series ([`EmulatorError::series`](
    /// crate::report::EmulatorError::series)). Their run-wide figures are the caller's
    /// (`Report::set_tier_links`).
    pub tier_links: Vec<DeliveryErrors>,
}

/// What every worker shares.
struct Shared {
    plan: Plan,
    start: Instant,
    /// Ends the workers (early stop, drain deadline).
    stop: CancellationToken,
    live: Arc<Live>,
    /// Closed loop: requests that may still be started.
    budget: AtomicU64,
}

/// A target's connection details, shared by its workers.
struct TargetRuntime {
    place: usize,
    connector: Connector,
    base: Uri,
    host: HeaderValue,
    path_prefix: String,
    /// The histograms of this target, shared by its connections. One recorder per
    /// connection would cost a full set of auto-growing histograms each: with thousands of
    /// connections that is gigabytes of counts, and page faults dominate the CPU profile.
    /// A record is a few increments, so the lock is held only briefly.
    recorder: Mutex<Recorder>,
}

/// Runs `plan` against `targets` (one per place of the plan, in the same order) and returns
/// the report. Stops by itself; cancelling `shutdown` ends the run early with a partial,
/// `interrupted` report.
pub async fn run(
    plan: &Plan,
    targets: &[Target],
    options: &RunOptions,
    shutdown: Shutdown,
) -> Result<Report, LoadgenError> {
    let delivery = DeliveryErrors::new();
    let runtimes = check_targets(plan, targets, &delivery)?;
    let settings = &plan.settings;
    let origin_before = if options.origin_metrics.is_empty() {
        None
    } else {
        Some(OriginCounters::scrape(&options.origin_metrics, SCRAPE_LIMIT).await?)
    };

    let stop = shutdown.token().child_token();
    let live = Arc::new(Live::default());
    let start = Instant::now();
    let started_at = SystemTime::now();
    // The emulator's error over time, from the start of the run: every client link's
    // deliveries, and the tier links' while the run lasts.
    let client_series = TimedLateness::new(start);
    delivery.attach(Some(&client_series));
    let tier_series = TimedLateness::new(start);
    for links in &options.tier_links {
        links.attach(Some(&tier_series));
    }
    let shared = Arc::new(Shared {
        plan: plan.clone(),
        start,
        stop: stop.clone(),
        live: live.clone(),
        budget: AtomicU64::new(settings.requests.unwrap_or(u64::MAX)),
    });

    // Workers.
    let mut lanes = Vec::new();
    let mut workers = Vec::new();
    let runtimes: Vec<Arc<TargetRuntime>> = runtimes.into_iter().map(Arc::new).collect();
    for (index, runtime) in runtimes.iter().cloned().enumerate() {
        let lane = if settings.closed {
            None
        } else {
            let lane = Arc::new(Lane::new(QUEUE_CAPACITY));
            lanes.push(lane.clone());
            Some(lane)
        };
        let source = Arc::new(Mutex::new(StdRng::seed_from_u64(
            settings.seed.wrapping_add(0x100 + index as u64),
        )));
        for _ in 0..settings.connections {
            let worker = Worker {
                shared: shared.clone(),
                target: runtime.clone(),
            };
            let lane = lane.clone();
            let source = source.clone();
            workers.push(shutdown.spawn(async move {
                match lane {
                    Some(lane) => worker.open_loop(lane).await,
                    None => worker.closed_loop(source).await,
                }
            }));
        }
    }

    // Progress, interval log and origin timeline, once a second.
    let collector_done = CancellationToken::new();
    let collector = shutdown.spawn(collect(
        live.clone(),
        options.clone(),
        started_at,
        start,
        settings.duration,
        origin_before,
        collector_done.clone(),
    ));

    // Open loop: dispatch until the schedule ends. Closed loop: the workers stop themselves
    // at the end of the duration or of the request budget.
    let (scheduled, sending_ends) = if settings.closed {
        (None, start + settings.duration)
    } else {
        let scheduled = dispatch(plan, lanes, start, &stop).await;
        (Some(scheduled), Instant::now())
    };

    // Drain: queued and in-flight requests get at most one request timeout.
    let drain_deadline =
        tokio::time::sleep_until(sending_ends.max(Instant::now()) + settings.timeout);
    tokio::pin!(drain_deadline);
    let mut recorder = Recorder::new();
    let mut remaining = workers.into_iter();
    let mut deadline_passed = false;
    for handle in remaining.by_ref() {
        let handle = handle;
        tokio::pin!(handle);
        let result = if deadline_passed {
            handle.await
        } else {
            tokio::select! {
                result = &mut handle => result,
                _ = &mut drain_deadline => {
                    deadline_passed = true;
                    stop.cancel();
                    handle.await
                }
            }
        };
        if let Err(error) = result {
            tracing::error!(%error, "a load generator worker failed");
        }
    }
    for runtime in &runtimes {
        // invariant: a worker never panics while holding the lock (record does not panic).
        let mut target = runtime
            .recorder
            .lock()
            .expect("recorder lock is not poisoned");
        recorder.merge(std::mem::take(&mut *target));
    }
    stop.cancel();
    let elapsed = start.elapsed();
    for links in &options.tier_links {
        links.attach(None);
    }
    delivery.attach(None);
    let series = ErrorSeries {
        client_links: client_series.snapshot(),
        tier_links: tier_series.snapshot(),
    };
    collector_done.cancel();
    let (origin_timeline, hdr_error) = collector.await.unwrap_or_default();
    if let Some(error) = hdr_error {
        return Err(error);
    }
    let origin_after = if origin_before.is_some() {
        Some(OriginCounters::scrape(&options.origin_metrics, SCRAPE_LIMIT).await?)
    } else {
        None
    };
    let interrupted = shutdown.is_triggered();
    let scheduled = scheduled.unwrap_or_else(|| live.started.load(Ordering::Relaxed));
    Ok(Report::build(ReportInput {
        label: &options.label,
        plan,
        targets,
        recorder: &recorder,
        delivery: &delivery,
        series: &series,
        scheduled,
        elapsed,
        interrupted,
        origin_metrics: &options.origin_metrics,
        origin_before,
        origin_after,
        origin_timeline,
    }))
}

fn check_targets(
    plan: &Plan,
    targets: &[Target],
    delivery: &DeliveryErrors,
) -> Result<Vec<TargetRuntime>, LoadgenError> {
    let mut errors = ConfigErrors::new();
    if targets.is_empty() {
        errors.push("targets", "at least one target is needed");
    }
    let places: Vec<&String> = targets.iter().map(|t| &t.place).collect();
    if places
        .iter()
        .map(|p| p.as_str())
        .ne(plan.places.iter().map(|p| p.as_str()))
    {
        errors.push(
            "targets",
            format!(
                "places {places:?} differ from the plan's places {:?}",
                plan.places
            ),
        );
    }
    let mut runtimes = Vec::new();
    for (index, target) in targets.iter().enumerate() {
        let field = format!("targets[{index}]");
        if !(target.weight.is_finite() && target.weight > 0.0) {
            errors.push(format!("{field}.weight"), "must be a number > 0");
        }
        if target.base_url.scheme_str() != Some("http") {
            errors.push(
                format!("{field}.base_url"),
                format!("{}: only http:// targets are supported", target.base_url),
            );
            continue;
        }
        let Some(authority) = target.base_url.authority() else {
            errors.push(
                format!("{field}.base_url"),
                format!("{} has no host", target.base_url),
            );
            continue;
        };
        let Ok(host) = HeaderValue::from_str(authority.as_str()) else {
            errors.push(
                format!("{field}.base_url"),
                "host is not a valid header value",
            );
            continue;
        };
        runtimes.push(TargetRuntime {
            recorder: Mutex::new(Recorder::new()),
            place: index,
            connector: connector(
                &target.hop,
                plan.settings.seed.wrapping_add(index as u64),
                delivery,
            ),
            base: target.base_url.clone(),
            host,
            path_prefix: target.base_url.path().trim_end_matches('/').to_string(),
        });
    }
    errors.into_result(runtimes).map_err(LoadgenError::from)
}

struct Worker {
    shared: Arc<Shared>,
    target: Arc<TargetRuntime>,
}

/// The worker's connection, opened lazily and reopened after a failure.
type Connection = Option<Open>;

/// An open connection and the stamp of its writes.
struct Open {
    client: Http1<LinkStream>,
    stamp: Arc<SendStamp>,
    /// The request target being written (kept for its allocation).
    path: String,
}

/// How an open-loop request reached its worker, for its send lateness and connection wait.
#[derive(Clone, Copy, Debug)]
struct Handover {
    /// Since when the worker was free (it finished its previous request).
    free_since: Instant,
    /// When the worker took the request.
    taken_at: Instant,
    /// It waited in the backlog: every connection of its place was busy when it was due.
    queued: bool,
}

impl Worker {
    async fn open_loop(self, lane: Arc<Lane>) {
        let mut connection: Connection = None;
        let mut recent = self.shared.live.local();
        // Since when this worker has been free to send: a request intended before that
        // waited for a connection (the target's fault, not the load generator's). A worker
        // is free from the start of the run, even if a busy host starts it later.
        let mut free_since = self.shared.start;
        loop {
            let taken = tokio::select! {
                biased;
                _ = self.shared.stop.cancelled() => None,
                taken = lane.take() => taken,
            };
            let Some(Taken { job, queued }) = taken else {
                break;
            };
            let handover = Handover {
                free_since,
                taken_at: Instant::now(),
                queued,
            };
            self.shared.live.started.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                biased;
                _ = self.shared.stop.cancelled() => break,
                () = self.one(&mut connection, job, Some(handover), &mut recent) => {}
            }
            free_since = Instant::now();
        }
        recent.flush(&self.shared.live);
    }

    async fn closed_loop(self, source: Arc<Mutex<StdRng>>) {
        let mut connection: Connection = None;
        let mut recent = self.shared.live.local();
        let end = self.shared.start + self.shared.plan.settings.duration;
        loop {
            if Instant::now() >= end || self.shared.stop.is_cancelled() {
                break;
            }
            let taken =
                self.shared
                    .budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                        left.checked_sub(1)
                    });
            if taken.is_err() {
                break;
            }
            let object = {
                // invariant: the lock is never held across a panic point that could poison it.
                let mut rng = source.lock().expect("the sampler lock is not poisoned");
                self.shared
                    .plan
                    .workload
                    .sample(self.target.place, &mut *rng) as u32
            };
            self.shared.live.started.fetch_add(1, Ordering::Relaxed);
            let job = Job {
                intended: Instant::now(),
                object,
                query: None,
            };
            tokio::select! {
                biased;
                _ = self.shared.stop.cancelled() => break,
                _ = tokio::time::sleep_until(end) => break,
                () = self.one(&mut connection, job, None, &mut recent) => {}
            }
        }
        recent.flush(&self.shared.live);
    }

    /// Sends one request (handed over as `handover`, in open loop) and records it.
    async fn one(
        &self,
        connection: &mut Connection,
        job: Job,
        handover: Option<Handover>,
        recent: &mut crate::progress::LocalLive,
    ) {
        let object = &self.shared.plan.workload.objects()[job.object as usize];
        let timeout = self.shared.plan.settings.timeout;
        let mut sent = Sent::default();
        let outcome = tokio::time::timeout_at(
            job.intended + timeout,
            self.exchange(
                connection,
                object,
                job.query.as_deref(),
                job.intended,
                &mut sent,
            ),
        )
        .await
        .unwrap_or_else(|_| {
            *connection = None;
            Outcome::failed(
                RequestErrorKind::Timeout,
                format!("no complete response within {timeout:?}"),
            )
        });
        let completed_at = Instant::now();
        let response = outcome.response.as_ref().map(|r| ResponseSample {
            cache: r.cache,
            pop: pop_from_headers(&r.headers),
            tier: r.tier,
            total: completed_at.saturating_duration_since(job.intended),
            ttfb: r.ttfb,
            bytes: r.bytes,
        });
        if let Some(response) = &response {
            recent.record(
                response.total,
                response.cache,
                outcome.error.is_some(),
                &self.shared.live,
            );
        } else {
            recent.record_error(&self.shared.live);
        }
        let sample = Sample {
            place: self.target.place,
            completed_at: completed_at.saturating_duration_since(self.shared.start),
            response,
            error: outcome.error,
        };
        // invariant: recording does not panic, so the lock is never poisoned.
        let mut recorder = self
            .target
            .recorder
            .lock()
            .expect("recorder lock is not poisoned");
        recorder.record(sample);
        if let Some(handover) = handover {
            recorder.record_send_lateness(
                handover.lateness(job.intended, &sent),
                handover
                    .due(job.intended)
                    .saturating_duration_since(self.shared.start),
            );
            if let Some(wait) = handover.connection_wait(job.intended) {
                recorder.record_connection_wait(self.target.place, wait);
            }
        }
    }

    /// One exchange on `connection` (opened first if needed) for `object`, with `query` after
    /// its path; notes in `sent` how long the connect took and when the request's first byte
    /// was written.
    async fn exchange(
        &self,
        connection: &mut Connection,
        object: &CatalogObject,
        query: Option<&str>,
        intended: Instant,
        sent: &mut Sent,
    ) -> Outcome {
        let reusable = connection
            .as_mut()
            .is_some_and(|open| open.client.is_reusable());
        let open = match connection {
            Some(open) if reusable => open,
            _ => {
                *connection = None;
                let connecting = Instant::now();
                let opened = self.connect().await;
                // A modelled hop's connect round trips are latency (their lateness is in the
                // emulation error); a plain loopback connect models nothing, so its time
                // stays in send lateness.
                if !self.target.connector.hop().is_zero() {
                    sent.connect = connecting.elapsed();
                }
                match opened {
                    Ok(open) => connection.insert(open),
                    Err(outcome) => return outcome,
                }
            }
        };
        // The connection's path buffer, given back after the exchange (one allocation per
        // connection, not per request).
        let mut path = std::mem::take(&mut open.path);
        path.clear();
        path.push_str(&self.target.path_prefix);
        path.push_str(&object.path);
        if let Some(query) = query {
            path.push('?');
            path.push_str(query);
        }
        // The request target must be a valid URI path (a replayed log's query may not be).
        if let Err(error) = Uri::try_from(path.as_str()) {
            return Outcome::failed(RequestErrorKind::Request, format!("{path}: {error}"));
        }
        open.stamp.arm();
        sent.stamp = Some(open.stamp.clone());
        let parts = match open.client.get(&path, &self.target.host, &open.stamp).await {
            Ok(head) => head,
            Err(error) => {
                *connection = None;
                return Outcome::failed(RequestErrorKind::Request, format!("{path}: {error}"));
            }
        };
        let ttfb = intended.elapsed();
        let cache = CacheResult::from_headers(&parts.headers);
        let tier = tier_from_headers(&parts.headers, cache);
        let announced = parts
            .headers
            .get(header::X_EDGELAB_DIGEST)
            .and_then(|v| v.to_str().ok())
            .and_then(Digest::parse)
            .or(object.digest)
            .map(Digest::value);
        let verify = parts.status == http::StatusCode::OK && announced.is_some();
        let mut hasher = verify.then(Xxh3::new);
        let read = open
            .client
            .body(&parts, |data| {
                if let Some(hasher) = &mut hasher {
                    hasher.update(data);
                }
            })
            .await;
        let (bytes, mut error) = match read {
            Ok(bytes) => (bytes, None),
            Err(failure) => {
                *connection = None;
                let bytes = match &failure {
                    ClientError::Body { bytes, .. } => *bytes,
                    ClientError::Head(_) => 0,
                };
                (
                    bytes,
                    Some((RequestErrorKind::Body, format!("{path}: {failure}"))),
                )
            }
        };
        if error.is_none() {
            error = judge(
                &path,
                parts.status,
                &parts.headers,
                object,
                bytes,
                announced,
                hasher,
            );
        }
        if let Some(open) = connection.as_mut() {
            open.path = path;
        }
        Outcome {
            response: Some(Measured {
                cache,
                tier,
                headers: parts.headers,
                ttfb,
                bytes,
            }),
            error,
        }
    }

    async fn connect(&self) -> Result<Open, Outcome> {
        let stream = self
            .target
            .connector
            .connect(self.target.base.clone())
            .await
            .map_err(|error| {
                Outcome::failed(
                    RequestErrorKind::Connect,
                    format!("{}: {error}", self.target.base),
                )
            })?;
        Ok(Open {
            client: Http1::new(stream),
            stamp: SendStamp::new(self.shared.start),
            path: String::new(),
        })
    }
}

/// What the worker saw of one request's way out.
#[derive(Clone, Debug, Default)]
struct Sent {
    /// Time spent opening a connection for it over a modelled hop (its connect cost; zero on
    /// a warm connection or a plain one).
    connect: Duration,
    /// The stamp of the connection it was sent on, armed just before (none if it failed
    /// before that).
    stamp: Option<Arc<SendStamp>>,
}

impl Sent {
    /// When its first byte was handed to the socket, if it got that far.
    fn written_at(&self) -> Option<Instant> {
        self.stamp.as_ref().and_then(|stamp| stamp.written_at())
    }
}

impl Handover {
    /// How late the request was sent: from the later of its intended time and the moment its
    /// worker was free (a request that waited for a busy connection was held up by the
    /// target, not by the load generator) to the moment its first byte was written, less the
    /// time spent opening a connection (modelled latency, not lateness). A request that
    /// failed before anything was written counts up to the moment its worker took it.
    fn lateness(&self, intended: Instant, sent: &Sent) -> Duration {
        let from = self.due(intended);
        match sent.written_at() {
            Some(written) => written
                .saturating_duration_since(from)
                .saturating_sub(sent.connect),
            None => self.taken_at.saturating_duration_since(from),
        }
    }

    /// When the request could have left: its intended time, or when its worker came free if
    /// that was later (where its send lateness counts from, and the interval of the report's
    /// series it falls in).
    fn due(&self, intended: Instant) -> Instant {
        intended.max(self.free_since)
    }

    /// How long the request waited for a free connection, if it did: it was queued because
    /// every connection of its place was busy, until this worker came free.
    fn connection_wait(&self, intended: Instant) -> Option<Duration> {
        let wait = self.free_since.saturating_duration_since(intended);
        (self.queued && !wait.is_zero()).then_some(wait)
    }
}

/// Decides whether a fully read response is wrong: status, length, digest.
fn judge(
    path: &str,
    status: http::StatusCode,
    headers: &http::HeaderMap,
    object: &CatalogObject,
    bytes: u64,
    announced: Option<u64>,
    hasher: Option<Xxh3>,
) -> Option<(RequestErrorKind, String)> {
    if status.is_server_error() {
        return Some((
            RequestErrorKind::Status5xx,
            format!("{path}: status {status}"),
        ));
    }
    if status.is_client_error() {
        return Some((
            RequestErrorKind::Status4xx,
            format!("{path}: status {status}"),
        ));
    }
    if status != http::StatusCode::OK {
        return None;
    }
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(expected) = declared.or(object.size.filter(|_| object.digest.is_some()))
        && expected != bytes
    {
        return Some((
            RequestErrorKind::ShortBody,
            format!("{path}: {bytes} body bytes, expected {expected}"),
        ));
    }
    if let (Some(expected), Some(hasher)) = (announced, hasher) {
        let got = hasher.digest();
        if got != expected {
            return Some((
                RequestErrorKind::Digest,
                format!(
                    "{path}: body digest {}, expected {}",
                    Digest(got),
                    Digest(expected)
                ),
            ));
        }
    }
    None
}

/// The measured parts of a response (owned, for the recorder).
struct Measured {
    cache: CacheResult,
    tier: Tier,
    /// The response's fields, moved rather than copied; its PoP is read from them.
    headers: http::HeaderMap,
    ttfb: Duration,
    bytes: u64,
}

struct Outcome {
    response: Option<Measured>,
    error: Option<(RequestErrorKind, String)>,
}

impl Outcome {
    fn failed(kind: RequestErrorKind, message: String) -> Outcome {
        Outcome {
            response: None,
            error: Some((kind, message)),
        }
    }
}

/// Once a second: the progress line, an interval of the HdrHistogram log and an origin
/// scrape. Returns the origin timeline and a log-writing error, if any.
async fn collect(
    live: Arc<Live>,
    options: RunOptions,
    started_at: SystemTime,
    start: Instant,
    duration: Duration,
    origin_before: Option<OriginCounters>,
    done: CancellationToken,
) -> (Vec<OriginSecond>, Option<LoadgenError>) {
    let mut progress = Progress::new(options.progress, duration);
    let mut log = match &options.hdr_log {
        Some(path) => match crate::progress::IntervalLog::create(path, started_at) {
            Ok(log) => Some(log),
            Err(error) => return (Vec::new(), Some(error)),
        },
        None => None,
    };
    let mut origin_timeline = Vec::new();
    let mut last_origin = origin_before;
    let mut ticker =
        tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut error = None;
    loop {
        let finished = tokio::select! {
            _ = ticker.tick() => false,
            _ = done.cancelled() => true,
        };
        let interval = live.take_interval();
        let elapsed = start.elapsed();
        progress.update(&live, &interval, elapsed);
        if let Some(writer) = &mut log
            && let Err(failure) = writer.write(&interval, elapsed)
        {
            error = Some(failure);
            log = None;
        }
        if let Some(before) = last_origin
            && !finished
        {
            match OriginCounters::scrape(&options.origin_metrics, Duration::from_millis(900)).await
            {
                Ok(now) => {
                    origin_timeline.push(OriginSecond {
                        second: elapsed.as_secs_f64().round() as u64,
                        requests: (now.requests - before.requests).max(0.0),
                        response_bytes: (now.response_bytes - before.response_bytes).max(0.0),
                    });
                    last_origin = Some(now);
                }
                Err(failure) => tracing::debug!(%failure, "origin scrape during the run failed"),
            }
        }
        if finished {
            break;
        }
    }
    progress.finish();
    if let Some(writer) = log
        && let Err(failure) = writer.close()
    {
        error = error.or(Some(failure));
    }
    (origin_timeline, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handover(free_since: Instant, taken_at: Instant, queued: bool) -> Handover {
        Handover {
            free_since,
            taken_at,
            queued,
        }
    }

    #[test]
    fn send_lateness_runs_from_the_later_of_intended_and_free_to_the_first_byte_written() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let sent_at = |at: Duration, connect: Duration| Sent {
            connect,
            stamp: Some(SendStamp::written(t0, t0 + at)),
        };
        let nothing = Sent::default();
        // Idle worker, request taken 2 ms after its intended time and written at once: 2 ms.
        let idle = handover(t0, t0 + ms(12), false);
        assert_eq!(idle.lateness(t0 + ms(10), &sent_at(ms(12), ms(0))), ms(2));
        // Written 3 ms after it was taken (the connection's task ran late): 5 ms.
        assert_eq!(idle.lateness(t0 + ms(10), &sent_at(ms(15), ms(0))), ms(5));
        // A fresh connection took 40 ms to open (modelled): that is not lateness.
        assert_eq!(idle.lateness(t0 + ms(10), &sent_at(ms(53), ms(40))), ms(3));
        // Request queued behind a busy connection since 10 ms; the worker was free at 50 ms
        // and wrote it at 51 ms: 1 ms late, the 40 ms wait is the target's.
        let busy = handover(t0 + ms(50), t0 + ms(50), true);
        assert_eq!(busy.lateness(t0 + ms(10), &sent_at(ms(51), ms(0))), ms(1));
        assert_eq!(busy.connection_wait(t0 + ms(10)), Some(ms(40)));
        assert_eq!(
            idle.connection_wait(t0 + ms(10)),
            None,
            "it found a free one"
        );
        // Failed before writing anything: counted up to when the worker took it.
        assert_eq!(idle.lateness(t0 + ms(10), &nothing), ms(2));
        // On time (or a clock read before the deadline): never negative.
        let early = handover(t0, t0 + ms(9), false);
        assert_eq!(
            early.lateness(t0 + ms(10), &sent_at(ms(10), ms(0))),
            Duration::ZERO
        );
        assert_eq!(
            early.lateness(t0 + ms(10), &sent_at(ms(9), ms(0))),
            Duration::ZERO
        );
        assert_eq!(early.lateness(t0 + ms(10), &nothing), Duration::ZERO);
    }
}
