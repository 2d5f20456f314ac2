//! The failure drill of `edgelab drill`: load runs through the edges while the origin's
//! primary AZ fails, then its whole Region.
//!
//! Three equal phases: healthy, primary AZ down, Region down. A probe asks one PoP for an
//! uncacheable object every [`PROBE_EVERY`], so every probe reaches the origin group: its
//! answers show when the failover happened and which replica served. The [`DrillReport`]
//! has availability and hit ratio per phase, the failover time and how much of the Region
//! outage the caches covered.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use edgelab_common::names::header;
use edgelab_common::shutdown::Shutdown;
use edgelab_loadgen::Mode;
use edgelab_loadgen::report::TimelinePoint;
use http_body_util::{BodyExt, Empty};
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::lab::{LabError, RunOpts, RunningLab};
use crate::topology::NodePlan;

/// Probe interval.
pub const PROBE_EVERY: Duration = Duration::from_millis(50);
/// Shortest phase.
pub const MIN_PHASE: Duration = Duration::from_secs(2);

/// A drill ready to run on a lab started in this process.
#[derive(Clone)]
pub struct Drill {
    /// Length of each phase.
    pub phase: Duration,
    /// The origin group's primary replica (its AZ fails first).
    pub primary: NodePlan,
    /// The origin's Region (fails second).
    pub region: String,
    /// What the probe asks for (an uncacheable object at the first place's PoP).
    pub probe_url: String,
    cluster: Arc<Cluster>,
}

/// One phase of a drill.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseStats {
    /// `healthy`, `<az> down`, `<region> down`.
    pub name: String,
    /// Responses of the load in the phase.
    pub responses: u64,
    /// Responses that were not errors.
    pub served: u64,
    /// CDN hits.
    pub hits: u64,
    /// Probes sent.
    pub probes: usize,
    /// Probes answered with a success.
    pub probes_ok: usize,
}

/// When the origin group failed over.
#[derive(Debug, Clone, PartialEq)]
pub struct Failover {
    /// The replica that answered first after the primary failed.
    pub replica: String,
    /// Time from the AZ fault to that answer.
    pub after: Duration,
    /// Probes that failed before it.
    pub failed_before: usize,
}

/// What a drill measured.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillReport {
    /// The primary replica's AZ (or Local Zone), failed in the second phase.
    pub az: String,
    /// The three phases.
    pub phases: Vec<PhaseStats>,
    /// The failover, if another replica answered while the primary AZ was down.
    pub failover: Option<Failover>,
    /// Load responses during the Region outage: (served, total).
    pub region_outage: (u64, u64),
}

/// One probe answer.
struct Probe {
    at: Duration,
    ok: bool,
    replica: String,
}

impl Drill {
    /// A drill of three `phase`s (at least [`MIN_PHASE`]) on `running`, which must have
    /// started its nodes in this process.
    pub async fn prepare(running: &mut RunningLab, phase: Duration) -> Result<Drill, LabError> {
        let not_here = || LabError::Attach("the drill runs the topology in this process".into());
        let cluster = running.cluster().cloned().ok_or_else(not_here)?;
        let topology = running.lab().topology();
        let primary = topology
            .origins()
            .next()
            .cloned()
            .ok_or_else(|| LabError::Attach("the topology has no origin".into()))?;
        let region = primary.region.clone().unwrap_or_default();
        let probe_path = running
            .catalog()
            .await?
            .objects
            .iter()
            .find(|o| o.class == "api")
            .map(|o| o.path.clone())
            .unwrap_or_else(|| "/echo/drill".to_string());
        let targets = running.targets(Mode::Edge)?;
        let probe_pop = targets
            .first()
            .map(|t| t.base_url.to_string().trim_end_matches('/').to_string())
            .ok_or_else(|| LabError::Attach("no target".into()))?;
        Ok(Drill {
            phase: phase.max(MIN_PHASE),
            primary,
            region,
            probe_url: format!("{probe_pop}{probe_path}"),
            cluster,
        })
    }

    /// Runs the three phases with the faults and the probe; restores the Region after.
    pub async fn run(
        self,
        running: &mut RunningLab,
        progress: bool,
        stop: Shutdown,
    ) -> Result<DrillReport, LabError> {
        let phase = self.phase;
        let start = Instant::now();
        let faults = {
            let cluster = self.cluster.clone();
            let (az, region) = (self.primary.place.clone(), self.region.clone());
            tokio::spawn(async move {
                tokio::time::sleep_until(start + phase).await;
                let _ = cluster.fail(&az);
                tokio::time::sleep_until(start + phase * 2).await;
                let _ = cluster.fail(&region);
            })
        };
        let probe = tokio::spawn(probe_loop(self.probe_url.clone(), start, phase * 3));
        let opts = RunOpts {
            label: Some("drill".to_string()),
            progress,
            ..RunOpts::default()
        };
        let report = running.run(Mode::Edge, opts, stop).await;
        let _ = faults.await;
        let probes = probe.await.unwrap_or_default();
        let _ = self.cluster.restore(&self.region);
        let timeline = report?.timeline;
        Ok(DrillReport {
            az: self.primary.place.clone(),
            phases: self.phases(&timeline, &probes),
            failover: self.failover(&probes),
            region_outage: served(timeline.iter().filter(|p| p.second >= phase.as_secs() * 2)),
        })
    }

    fn phases(&self, timeline: &[TimelinePoint], probes: &[Probe]) -> Vec<PhaseStats> {
        let names = [
            "healthy".to_string(),
            format!("{} down", self.primary.place),
            format!("{} down", self.region),
        ];
        let phase = self.phase;
        names
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                let (from, to) = (phase.as_secs() * i as u64, phase.as_secs() * (i as u64 + 1));
                let points = timeline
                    .iter()
                    .filter(|p| p.second >= from && p.second < to);
                let hits = points.clone().map(|p| p.hits).sum();
                let (served, responses) = served(points);
                let window = |p: &&Probe| p.at >= phase * i as u32 && p.at < phase * (i as u32 + 1);
                PhaseStats {
                    name,
                    responses,
                    served,
                    hits,
                    probes: probes.iter().filter(window).count(),
                    probes_ok: probes.iter().filter(window).filter(|p| p.ok).count(),
                }
            })
            .collect()
    }

    /// From the AZ fault to the first probe answered by another replica.
    fn failover(&self, probes: &[Probe]) -> Option<Failover> {
        let phase = self.phase;
        let after_fault: Vec<&Probe> = probes
            .iter()
            .filter(|p| p.at >= phase && p.at < phase * 2)
            .collect();
        let first = after_fault
            .iter()
            .position(|p| p.ok && p.replica != self.primary.place)?;
        Some(Failover {
            replica: after_fault[first].replica.clone(),
            after: after_fault[first].at - phase,
            failed_before: after_fault[..first].iter().filter(|p| !p.ok).count(),
        })
    }
}

/// (served, total) responses of `points`.
fn served<'a>(points: impl Iterator<Item = &'a TimelinePoint>) -> (u64, u64) {
    points.fold((0, 0), |(served, total), p| {
        (
            served + p.responses.saturating_sub(p.errors),
            total + p.responses,
        )
    })
}

/// Asks `url` every [`PROBE_EVERY`] until `length` has passed since `start`.
async fn probe_loop(url: String, start: Instant, length: Duration) -> Vec<Probe> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let Ok(uri) = url.parse::<http::Uri>() else {
        return Vec::new();
    };
    let mut probes = Vec::new();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while start.elapsed() < length {
        tick.tick().await;
        let at = start.elapsed();
        let answer = tokio::time::timeout(Duration::from_secs(5), client.get(uri.clone())).await;
        let (ok, replica) = match answer {
            Ok(Ok(response)) => {
                let ok = response.status().is_success();
                let replica = response
                    .headers()
                    .get(header::X_EDGELAB_ORIGIN)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split('/').nth(1))
                    .unwrap_or("")
                    .to_string();
                let _ = response.into_body().collect().await;
                (ok, replica)
            }
            _ => (false, String::new()),
        };
        probes.push(Probe { at, ok, replica });
    }
    probes
}
