//! `edgelab drill`: a failure drill. Load runs through the edges while the origin's primary
//! AZ fails, then its whole Region; the drill shows availability per phase, how much of the
//! Region outage the caches covered, and how long the origin group took to fail over (the
//! drill itself is `edgelab_cluster::drill`).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use edgelab_cluster::drill::{Drill, DrillReport};
use edgelab_cluster::{Lab, LabError, Reach};
use edgelab_common::shutdown::Shutdown;
use edgelab_loadgen::Overrides;

use crate::args::TopologyFile;
use crate::output;

/// Arguments of `edgelab drill`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  edgelab drill                          # default topology, 3 phases of 8 s
  edgelab drill config/global.toml --phase 10s --rate 500")]
pub struct Args {
    #[command(flatten)]
    pub topology: TopologyFile,
    /// Length of each phase (healthy, AZ down, Region down).
    #[arg(long, value_name = "DURATION", default_value = "8s", value_parser = humantime::parse_duration)]
    pub phase: Duration,
    /// Requests per second of the background load (default: the topology's; the built-in
    /// topology's is 300).
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,
}

/// Runs `edgelab drill`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let phase = args.phase.max(edgelab_cluster::drill::MIN_PHASE);
    let overrides = Overrides {
        duration: Some(phase * 3),
        rate: args.rate,
        ..Overrides::default()
    };
    let lab = match Lab::load(args.topology.path(), None, overrides) {
        Ok(lab) => lab,
        Err(errors) => return Ok(output::config_errors(&errors)),
    };
    let shutdown = Shutdown::new();
    let result = drill(lab, phase, shutdown.clone()).await;
    shutdown.drain(Duration::from_secs(5)).await;
    match result {
        Ok(report) => {
            output::block(&render(&report));
            Ok(ExitCode::SUCCESS)
        }
        Err(LabError::Config(errors)) => Ok(output::config_errors(&errors)),
        Err(error) => Err(error.into()),
    }
}

async fn drill(lab: Lab, phase: Duration, shutdown: Shutdown) -> Result<DrillReport, LabError> {
    let mut running = lab.start(Reach::Loopback, shutdown.clone()).await?;
    if let Some(cluster) = running.cluster() {
        output::block(&cluster.table());
    }
    let drill = Drill::prepare(&mut running, phase).await?;
    output::line(&format!(
        "drill: {phase:?} healthy, then {} ({}) down, then Region {} down; probing {}",
        drill.primary.place, drill.primary.name, drill.region, drill.probe_url
    ));
    let progress = std::io::stderr().is_terminal();
    drill.run(&mut running, progress, shutdown.child()).await
}

/// The phase table, the failover and the Region outage lines, then the late-host note when
/// the host ran the drill late.
fn render(report: &DrillReport) -> String {
    let mut out = String::from(
        "phase                 requests  served   availability  hit ratio   probe ok\n",
    );
    for p in &report.phases {
        out.push_str(&format!(
            "{:<20} {:>9} {:>7} {:>13} {:>10} {:>10}\n",
            p.name,
            p.responses,
            p.served,
            ratio(p.served, p.responses),
            ratio(p.hits, p.responses),
            format!("{}/{}", p.probes_ok, p.probes),
        ));
    }
    out.push_str(&match &report.failover {
        Some(f) => format!(
            "failover: first answer from {} {:.0} ms after {} failed ({} failed probes before it)\n",
            f.replica,
            f.after.as_secs_f64() * 1e3,
            report.az,
            f.failed_before
        ),
        None => format!(
            "failover: no probe was answered by another replica after {} failed\n",
            report.az
        ),
    });
    let (served, total) = report.region_outage;
    out.push_str(&format!(
        "Region outage: the caches served {} of requests with every origin replica down (stale-if-error and fresh hits)\n",
        ratio(served, total)
    ));
    if let Some(note) = report.late_host_note() {
        out.push_str(&note);
        out.push('\n');
    }
    out
}

fn ratio(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_string()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_ends_with_the_late_host_note_only_when_the_host_was_late() {
        let report = |late_p99_ms| DrillReport {
            az: "use1-az1".into(),
            phases: Vec::new(),
            failover: None,
            region_outage: (9, 10),
            late_p99_ms,
            warn_above_ms: 5.0,
        };
        let quiet = render(&report(1.5));
        assert!(!quiet.contains("host ran"), "{quiet}");
        assert!(quiet.ends_with("fresh hits)\n"), "{quiet}");
        let late = render(&report(120.4));
        assert!(
            late.ends_with(
                "The host ran the emulation late (p99 120 ms, over 5 ms): these times and losses \
                 are partly the host's.\n"
            ),
            "{late}"
        );
    }
}
