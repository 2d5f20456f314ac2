//! `edgelab drill`: a failure drill. Load runs through the edges while the origin's primary
//! AZ fails, then its whole Region; the drill shows availability per phase, how much of the
//! Region outage the caches covered, and how long the origin group took to fail over.
//!
//! Three equal phases: healthy, primary AZ down, Region down. A probe asks one PoP for an
//! uncacheable object every 50 ms, so every probe reaches the origin group: its answers show
//! when the failover happened and which replica served.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use edgelab_cluster::{Lab, LabError, Reach, RunOpts};
use edgelab_common::names::header;
use edgelab_common::shutdown::Shutdown;
use edgelab_loadgen::{Mode, Overrides};
use http_body_util::{BodyExt, Empty};
use tokio::time::Instant;

use crate::output;

/// Probe interval.
const PROBE_EVERY: Duration = Duration::from_millis(50);

/// Arguments of `edgelab drill`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  edgelab drill                          # default topology, 3 phases of 8 s
  edgelab drill config/global.toml --phase 10s --rate 500")]
pub struct Args {
    /// Topology file (default: the built-in default topology).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Length of each phase (healthy, AZ down, Region down).
    #[arg(long, default_value = "8s", value_parser = humantime::parse_duration)]
    pub phase: Duration,
    /// Requests per second of the background load (default: the topology's).
    #[arg(long)]
    pub rate: Option<f64>,
}

/// One probe answer.
struct Probe {
    at: Duration,
    ok: bool,
    replica: String,
}

/// Runs `edgelab drill`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let phase = args.phase.max(Duration::from_secs(2));
    let overrides = Overrides {
        duration: Some(phase * 3),
        rate: args.rate,
        ..Overrides::default()
    };
    let lab = match Lab::load(args.file.as_deref(), None, overrides) {
        Ok(lab) => lab,
        Err(errors) => return Ok(output::config_errors(&errors)),
    };
    let Some(primary) = lab.topology().origins().next().cloned() else {
        anyhow::bail!("the topology has no origin");
    };
    let region = primary.region.clone().unwrap_or_default();

    let shutdown = Shutdown::new();
    let mut running = lab.start(Reach::Loopback, shutdown.clone()).await?;
    let cluster = running
        .cluster()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the drill runs the topology in this process"))?;
    output::block(&cluster.table());
    let probe_path = running
        .catalog()
        .await?
        .objects
        .iter()
        .find(|o| o.class == "api")
        .map(|o| o.path.clone())
        .unwrap_or_else(|| "/echo/drill".to_string());
    let targets = match running.targets(Mode::Edge) {
        Ok(targets) => targets,
        Err(errors) => return Ok(output::config_errors(&errors)),
    };
    let probe_pop = targets
        .first()
        .map(|t| t.base_url.to_string().trim_end_matches('/').to_string())
        .ok_or_else(|| anyhow::anyhow!("no target"))?;

    output::line(&format!(
        "drill: {phase:?} healthy, then {} ({}) down, then Region {region} down; probing {probe_pop}{probe_path}",
        primary.place, primary.name
    ));
    let start = Instant::now();
    let faults = {
        let cluster = cluster.clone();
        let (az, region) = (primary.place.clone(), region.clone());
        tokio::spawn(async move {
            tokio::time::sleep_until(start + phase).await;
            let _ = cluster.fail(&az);
            tokio::time::sleep_until(start + phase * 2).await;
            let _ = cluster.fail(&region);
        })
    };
    let probe = tokio::spawn(probe_loop(
        format!("{probe_pop}{probe_path}"),
        start,
        phase * 3,
    ));
    let opts = RunOpts {
        label: Some("drill".to_string()),
        progress: std::io::stderr().is_terminal(),
        ..RunOpts::default()
    };
    let report = match running.run(Mode::Edge, opts, shutdown.child()).await {
        Ok(report) => report,
        Err(LabError::Config(errors)) => return Ok(output::config_errors(&errors)),
        Err(error) => return Err(error.into()),
    };
    let _ = faults.await;
    let probes = probe.await.unwrap_or_default();
    let _ = cluster.restore(&region);

    let mut table = String::from(
        "phase                 requests  served   availability  hit ratio   probe ok\n",
    );
    let names = [
        "healthy".to_string(),
        format!("{} down", primary.place),
        format!("{region} down"),
    ];
    for (i, name) in names.iter().enumerate() {
        let (from, to) = (phase.as_secs() * i as u64, phase.as_secs() * (i as u64 + 1));
        let points = report
            .timeline
            .iter()
            .filter(|p| p.second >= from && p.second < to);
        let (mut responses, mut errors, mut hits) = (0u64, 0u64, 0u64);
        for point in points {
            responses += point.responses;
            errors += point.errors;
            hits += point.hits;
        }
        let served = responses.saturating_sub(errors);
        let window = |p: &&Probe| p.at >= phase * i as u32 && p.at < phase * (i as u32 + 1);
        let probe_total = probes.iter().filter(window).count();
        let probe_ok = probes.iter().filter(window).filter(|p| p.ok).count();
        table.push_str(&format!(
            "{name:<20} {responses:>9} {served:>7} {:>13} {:>10} {:>10}\n",
            ratio(served, responses),
            ratio(hits, responses),
            format!("{probe_ok}/{probe_total}"),
        ));
    }
    output::block(&table);

    // Failover: from the AZ fault to the first probe answered by another replica.
    let after_fault: Vec<&Probe> = probes
        .iter()
        .filter(|p| p.at >= phase && p.at < phase * 2)
        .collect();
    match after_fault
        .iter()
        .find(|p| p.ok && p.replica != primary.place)
    {
        Some(first) => {
            let failed = after_fault
                .iter()
                .take_while(|p| !std::ptr::eq(**p, *first))
                .filter(|p| !p.ok)
                .count();
            output::line(&format!(
                "failover: first answer from {} {:.0} ms after {} failed ({failed} failed probes before it)",
                first.replica,
                (first.at - phase).as_secs_f64() * 1e3,
                primary.place
            ));
        }
        None => output::line(&format!(
            "failover: no probe was answered by another replica after {} failed",
            primary.place
        )),
    }
    let region_phase: Vec<&edgelab_loadgen::report::TimelinePoint> = report
        .timeline
        .iter()
        .filter(|p| p.second >= phase.as_secs() * 2)
        .collect();
    let served: u64 = region_phase
        .iter()
        .map(|p| p.responses.saturating_sub(p.errors))
        .sum();
    let total: u64 = region_phase.iter().map(|p| p.responses).sum();
    output::line(&format!(
        "Region outage: the caches served {} of requests with every origin replica down (stale-if-error and fresh hits)",
        ratio(served, total)
    ));
    shutdown.drain(Duration::from_secs(5)).await;
    Ok(ExitCode::SUCCESS)
}

fn ratio(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_string()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
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
