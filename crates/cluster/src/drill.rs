//! The failure drill of `edgelab drill`: load runs through the edges while the origin's
//! primary AZ fails, then its whole Region.
//!
//! Three equal phases: healthy, primary AZ down, Region down. A probe asks one PoP for an
//! uncacheable object every [`PROBE_EVERY`], so every probe reaches the origin group: its
//! answers show when the failover happened and which replica served. Probes are sent on
//! their schedule whether or not the earlier ones were answered (a slow answer on a busy
//! host does not hold the next probe back, so a short phase still has its probes). The
//! faults are timed where they are switched, so a fault switched late by a busy host is not
//! counted against the origin group. The [`DrillReport`] has availability and hit ratio per
//! phase, the failover time (from the fault to the first answer from another replica) and how
//! much of the Region outage the caches covered.

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
    /// Time from the AZ fault to that answer's arrival: at least the wait for the next
    /// probe (up to [`PROBE_EVERY`]) plus the probe's own round trip through the PoP to the
    /// other replica; on a busy host, also the host's lateness.
    pub after: Duration,
    /// Probes sent after the fault that failed before it.
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
    /// The largest p99 of the run's own error (send lateness, client links, tier links), ms:
    /// how late the host ran the emulation while the drill measured.
    pub late_p99_ms: f64,
    /// The p99 above which the run's report warns that the host distorted it (ms).
    pub warn_above_ms: f64,
}

impl DrillReport {
    /// The sentence saying the host ran the emulation late, when the drill's own error had a
    /// p99 over [`DrillReport::warn_above_ms`]: its times and losses are then partly the
    /// host's. `None` on a host that kept up.
    pub fn late_host_note(&self) -> Option<String> {
        (self.late_p99_ms > self.warn_above_ms).then(|| {
            format!(
                "The host ran the emulation late (p99 {:.0} ms, over {:.0} ms): these times and \
                 losses are partly the host's.",
                self.late_p99_ms, self.warn_above_ms
            )
        })
    }
}

/// One probe answer.
struct Probe {
    /// When it was sent, from the drill's start.
    at: Duration,
    /// When its answer (or its failure) came, from the drill's start.
    answered: Duration,
    ok: bool,
    replica: String,
}

/// When the faults were switched, from the drill's start.
#[derive(Debug, Clone, Copy)]
struct Faults {
    az: Duration,
    region: Duration,
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
                let az = start.elapsed();
                tokio::time::sleep_until(start + phase * 2).await;
                let _ = cluster.fail(&region);
                Faults {
                    az,
                    region: start.elapsed(),
                }
            })
        };
        let probe = tokio::spawn(probe_loop(self.probe_url.clone(), start, phase * 3));
        let opts = RunOpts {
            label: Some("drill".to_string()),
            progress,
            ..RunOpts::default()
        };
        let report = running.run(Mode::Edge, opts, stop).await;
        // The task only sleeps and switches two flags; if it could not finish, the faults
        // count from when they were due.
        let faults = faults.await.unwrap_or(Faults {
            az: phase,
            region: phase * 2,
        });
        let probes = probe.await.unwrap_or_default();
        let _ = self.cluster.restore(&self.region);
        let report = report?;
        let own = &report.emulator_error;
        let late_p99_ms = [&own.send_lateness, &own.emulation, &own.tier_links]
            .iter()
            .map(|stats| stats.p99_ms)
            .fold(0.0, f64::max);
        let warn_above_ms = own.warn_above_ms;
        let timeline = report.timeline;
        Ok(DrillReport {
            late_p99_ms,
            warn_above_ms,
            az: self.primary.place.clone(),
            phases: self.phases(&timeline, &probes, faults),
            failover: failover(&self.primary.place, &probes, faults),
            region_outage: served(timeline.iter().filter(|p| p.second >= phase.as_secs() * 2)),
        })
    }

    fn phases(
        &self,
        timeline: &[TimelinePoint],
        probes: &[Probe],
        faults: Faults,
    ) -> Vec<PhaseStats> {
        let names = [
            "healthy".to_string(),
            format!("{} down", self.primary.place),
            format!("{} down", self.region),
        ];
        let phase = self.phase;
        // Probes by when they were sent against when the faults were switched.
        let bounds = [Duration::ZERO, faults.az, faults.region, Duration::MAX];
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
                let window = |p: &&Probe| p.at >= bounds[i] && p.at < bounds[i + 1];
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
}

/// From the AZ fault to the first answer from a replica other than `primary`, among the
/// probes sent while only the AZ was down.
fn failover(primary: &str, probes: &[Probe], faults: Faults) -> Option<Failover> {
    let mut after_fault: Vec<&Probe> = probes
        .iter()
        .filter(|p| p.at >= faults.az && p.at < faults.region)
        .collect();
    after_fault.sort_by_key(|p| p.answered);
    let first = after_fault
        .iter()
        .position(|p| p.ok && p.replica != primary)?;
    Some(Failover {
        replica: after_fault[first].replica.clone(),
        after: after_fault[first].answered.saturating_sub(faults.az),
        failed_before: after_fault[..first].iter().filter(|p| !p.ok).count(),
    })
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

/// How long a probe waits for its answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks `url` every [`PROBE_EVERY`] until `length` has passed since `start`, each probe in
/// its own task so that a slow answer does not delay the next probe (at most
/// `PROBE_TIMEOUT / PROBE_EVERY`, 100, in flight); returns them in the order sent.
async fn probe_loop(url: String, start: Instant, length: Duration) -> Vec<Probe> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let Ok(uri) = url.parse::<http::Uri>() else {
        return Vec::new();
    };
    let mut in_flight = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while start.elapsed() < length {
        tick.tick().await;
        let (client, uri) = (client.clone(), uri.clone());
        in_flight.spawn(async move {
            let at = start.elapsed();
            let (ok, replica) = match tokio::time::timeout(PROBE_TIMEOUT, client.get(uri)).await {
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
            Probe {
                at,
                answered: start.elapsed(),
                ok,
                replica,
            }
        });
    }
    let mut probes: Vec<Probe> = in_flight.join_all().await;
    probes.sort_by_key(|p| p.at);
    probes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn probe(at: u64, answered: u64, ok: bool, replica: &str) -> Probe {
        Probe {
            at: ms(at),
            answered: ms(answered),
            ok,
            replica: replica.to_string(),
        }
    }

    const FAULTS: Faults = Faults {
        az: Duration::from_millis(2_000),
        region: Duration::from_millis(4_000),
    };

    #[test]
    fn the_late_host_note_appears_only_when_the_drill_ran_late() {
        let report = |late_p99_ms| DrillReport {
            az: "use1-az1".into(),
            phases: Vec::new(),
            failover: None,
            region_outage: (0, 0),
            late_p99_ms,
            warn_above_ms: 5.0,
        };
        assert_eq!(report(1.5).late_host_note(), None);
        assert_eq!(report(5.0).late_host_note(), None);
        assert_eq!(
            report(120.4).late_host_note().as_deref(),
            Some(
                "The host ran the emulation late (p99 120 ms, over 5 ms): these times and losses \
                 are partly the host's."
            )
        );
    }

    #[test]
    fn the_failover_is_timed_from_the_fault_to_the_first_answer_from_another_replica() {
        let probes = [
            probe(1_950, 1_960, true, "use1-az1"),
            // Sent just after the fault and slow (a busy host): answered after later probes.
            probe(2_010, 3_300, false, ""),
            probe(2_060, 2_300, false, ""),
            probe(2_110, 2_450, true, "use1-az2"),
            probe(2_160, 2_400, true, "use1-az2"),
            probe(4_010, 4_020, false, ""),
        ];
        let failover = failover("use1-az1", &probes, FAULTS).expect("az2 answered");
        assert_eq!(failover.replica, "use1-az2");
        assert_eq!(
            failover.after,
            ms(400),
            "the earliest answer, not the earliest send"
        );
        assert_eq!(failover.failed_before, 1);
    }

    #[test]
    fn answers_from_the_failed_replica_or_after_the_region_fault_are_no_failover() {
        let probes = [
            probe(2_010, 2_020, true, "use1-az1"),
            probe(3_990, 4_500, false, ""),
            probe(4_010, 4_020, true, "use1-az2"),
        ];
        assert_eq!(failover("use1-az1", &probes, FAULTS), None);
    }
}
