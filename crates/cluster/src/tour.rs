//! The tour of `edgelab demo --tour`: what the product emulates, one chapter each, measured
//! live and summed up in one sentence.
//!
//! 1. **Edge caching** (a): static objects direct, then through the PoPs from cold caches,
//!    then warm ([`RunningLab::compare`] with the warm-up).
//! 2. **Global Accelerator** (b): uncacheable API requests direct over the public internet,
//!    through the CDN, and entering the backbone at the nearest PoP.
//! 3. **A Local Zone** (c): Los Angeles clients straight to an origin replica in the Local
//!    Zone `us-west-2-lax-1`, then to the same origin in its parent Region `us-west-2`
//!    (`config/local-zone.toml`, two small clusters one after the other).
//! 4. **An AZ failure** (d) and **a Region failure** (e): one [`Drill`] on the default
//!    topology, whose caches chapters (a) and (b) warmed: how long the origin group took to
//!    fail over and what was lost, then what the caches served with the whole Region down.
//!
//! Every run lasts [`TourOptions::run`] (the drill's three phases too), so the whole tour is
//! eleven runs plus starting the clusters. [`Tour::html`] is the report: one section per
//! chapter, the comparisons drawn by `edgelab_loadgen::html`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use edgelab_common::config::{ConfigErrors, parse_toml};
use edgelab_common::shutdown::Shutdown;
use edgelab_loadgen::compare::main_pop;
use edgelab_loadgen::html::svg::escape;
use edgelab_loadgen::{Comparison, Mode, Overrides, Report};

use crate::drill::{Drill, DrillReport};
use crate::lab::{Lab, LabError, Reach, RunOpts, RunningLab};
use crate::topology::{RawTopology, Topology};

/// The Local Zone chapter's topology (origin in `us-west-2-lax-1`, clients in Los Angeles).
pub const LOCAL_ZONE_TOPOLOGY: &str = include_str!("../../../config/local-zone.toml");

/// What a tour measures with.
#[derive(Debug, Clone)]
pub struct TourOptions {
    /// Length of every run and of every drill phase (at least [`crate::drill::MIN_PHASE`]).
    pub run: Duration,
    /// Requests per second over all client places (default: each topology's).
    pub rate: Option<f64>,
    /// A live progress line on standard error.
    pub progress: bool,
}

/// What a chapter measured, for its section of the report.
#[derive(Debug, Clone)]
pub enum Evidence {
    /// Direct vs edge (vs ga) runs.
    Comparison(Box<Comparison>),
    /// The same clients straight to the origin in a Local Zone and in its parent Region.
    LocalZone {
        /// The Local Zone's code.
        zone: String,
        /// The parent Region's code.
        region: String,
        /// The run to the Local Zone replica.
        to_zone: Box<Report>,
        /// The run to the Region replica.
        to_region: Box<Report>,
    },
    /// The failure drill (chapters d and e share it).
    Drill(Box<DrillReport>),
}

/// One chapter of the tour.
#[derive(Debug, Clone)]
pub struct Chapter {
    /// `a` to `e`.
    pub id: char,
    /// What it shows.
    pub title: &'static str,
    /// What it measured, in one sentence.
    pub sentence: String,
    /// The measurements behind the sentence.
    pub evidence: Evidence,
}

/// A finished tour.
#[derive(Debug, Clone)]
pub struct Tour {
    /// Chapters a to e, in order.
    pub chapters: Vec<Chapter>,
    /// Wall-clock time of the whole tour.
    pub elapsed: Duration,
}

/// Chapter titles, in order.
pub const TITLES: [(char, &str); 5] = [
    ('a', "Edge caching for static objects"),
    ('b', "Global Accelerator for uncacheable API requests"),
    ('c', "A Local Zone next to the users"),
    ('d', "An Availability Zone fails"),
    ('e', "A whole Region fails"),
];

fn title(id: char) -> &'static str {
    TITLES
        .iter()
        .find(|(c, _)| *c == id)
        .map_or("", |(_, title)| title)
}

/// Runs the whole tour; nodes started for it are tracked by `nodes` (the caller drains it),
/// runs end early when `stop` triggers. `say` is called with what is about to run (chapter
/// headings, runs) and with each chapter's sentence once measured.
pub async fn run(
    opts: &TourOptions,
    nodes: &Shutdown,
    stop: &Shutdown,
    say: &(dyn Fn(&str) + Sync),
) -> Result<Tour, LabError> {
    let started = Instant::now();
    let overrides = Overrides {
        duration: Some(opts.run),
        rate: opts.rate,
        ..Overrides::default()
    };
    let lab = Lab::new(Topology::default_topology(), None, overrides.clone())?;
    let default_mix = lab.settings().mix.clone();
    let mut running = lab.start(Reach::Loopback, nodes.clone()).await?;
    let mut chapters = Vec::new();

    heading(say, 'a');
    running.settings_mut().mix = vec![("static".into(), 0.6), ("img".into(), 0.4)];
    let cached = compare(&mut running, false, true, opts, stop, say).await?;
    chapters.push(finish(
        say,
        'a',
        static_sentence(&cached),
        Evidence::Comparison(cached.into()),
    ));

    heading(say, 'b');
    running.settings_mut().mix = vec![("api".into(), 1.0)];
    let dynamic = compare(&mut running, true, false, opts, stop, say).await?;
    chapters.push(finish(
        say,
        'b',
        ga_sentence(&dynamic),
        Evidence::Comparison(dynamic.into()),
    ));

    heading(say, 'c');
    let evidence = local_zone(&overrides, opts, (nodes, stop), say).await?;
    chapters.push(finish(say, 'c', local_zone_sentence(&evidence), evidence));

    running.settings_mut().mix = default_mix;
    let drill = drill(&mut running, opts, stop, say).await?;
    chapters.push(finish(
        say,
        'd',
        az_sentence(&drill),
        Evidence::Drill(drill.clone().into()),
    ));
    chapters.push(finish(
        say,
        'e',
        region_sentence(&drill),
        Evidence::Drill(drill.into()),
    ));
    Ok(Tour {
        chapters,
        elapsed: started.elapsed(),
    })
}

fn heading(say: &(dyn Fn(&str) + Sync), id: char) {
    say(&format!("\n({id}) {}", title(id)));
}

fn finish(say: &(dyn Fn(&str) + Sync), id: char, sentence: String, evidence: Evidence) -> Chapter {
    say(&format!("=> {sentence}"));
    Chapter {
        id,
        title: title(id),
        sentence,
        evidence,
    }
}

async fn compare(
    running: &mut RunningLab,
    ga: bool,
    warm: bool,
    opts: &TourOptions,
    stop: &Shutdown,
    say: &(dyn Fn(&str) + Sync),
) -> Result<Comparison, LabError> {
    let announce = |mode: Mode, run: &RunOpts| {
        let label = run.label.as_deref().unwrap_or(mode.as_str());
        say(&format!("   {label}: {:?} …", opts.run));
    };
    running
        .compare(ga, warm, opts.progress, stop.clone(), announce)
        .await?
        .ok_or_else(|| LabError::Attach("the tour was interrupted".into()))
}

/// Chapter (c): one small cluster with the origin in the Local Zone, then one with it in
/// the parent Region's first AZ; Los Angeles clients go straight to it in both.
async fn local_zone(
    overrides: &Overrides,
    opts: &TourOptions,
    (nodes, stop): (&Shutdown, &Shutdown),
    say: &(dyn Fn(&str) + Sync),
) -> Result<Evidence, LabError> {
    let raw: RawTopology = parse_toml(LOCAL_ZONE_TOPOLOGY, "config/local-zone.toml")?;
    let zone = raw.origin.local_zone.clone().unwrap_or_default();
    let region = raw.origin.region.clone().unwrap_or_default();
    let first_az = edgelab_geo::Topology::embedded()
        .region(&region)
        .and_then(|r| r.az_ids.first().cloned())
        .ok_or_else(|| ConfigErrors::one("origin.region", "a Region with AZ ids"))?;
    let mut in_region = raw.clone();
    in_region.origin.local_zone = None;
    in_region.origin.azs = Some(vec![first_az.clone()]);
    let mut reports = Vec::new();
    for (raw, place) in [
        (raw, zone.clone()),
        (in_region, format!("{first_az} in {region}")),
    ] {
        let lab = Lab::new(Topology::try_from(raw)?, None, overrides.clone())?;
        let cluster = nodes.child();
        let mut running = lab.start(Reach::Loopback, cluster.clone()).await?;
        say(&format!(
            "   direct to the origin in {place}: {:?} …",
            opts.run
        ));
        let run = RunOpts {
            label: Some(format!(
                "direct-{}",
                place.split(' ').next().unwrap_or("origin")
            )),
            progress: opts.progress,
            ..RunOpts::default()
        };
        let report = running.run(Mode::Direct, run, stop.clone()).await;
        drop(running);
        cluster.drain(Duration::from_secs(5)).await;
        reports.push(report?);
    }
    let to_region = reports.pop().expect("two runs");
    let to_zone = reports.pop().expect("two runs");
    Ok(Evidence::LocalZone {
        zone,
        region,
        to_zone: to_zone.into(),
        to_region: to_region.into(),
    })
}

/// Chapters (d) and (e): the drill on the (warm) default lab.
async fn drill(
    running: &mut RunningLab,
    opts: &TourOptions,
    stop: &Shutdown,
    say: &(dyn Fn(&str) + Sync),
) -> Result<DrillReport, LabError> {
    let drill = Drill::prepare(running, opts.run).await?;
    // The load runs through all three phases.
    running.settings_mut().duration = drill.phase * 3;
    heading(say, 'd');
    say(&format!(
        "   drill: {:?} healthy, then {} down, then all of {} down; probing {} every {:?}",
        drill.phase,
        drill.primary.place,
        drill.region,
        drill.probe_url,
        crate::drill::PROBE_EVERY
    ));
    drill.run(running, opts.progress, stop.clone()).await
}

fn p50(report: &Report, place: &str) -> Option<f64> {
    report
        .places
        .iter()
        .find(|p| p.place == place && p.latency.count > 0)
        .map(|p| p.latency.p50_ms)
}

fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.0}%", part * 100.0 / whole)
    } else {
        "-".into()
    }
}

/// The place whose p50 `faster` improved most over `base`: (place, base p50, faster p50).
fn best_place(base: &Report, faster: &Report) -> Option<(String, f64, f64)> {
    base.places
        .iter()
        .filter_map(|p| {
            Some((
                p.place.clone(),
                p50(base, &p.place)?,
                p50(faster, &p.place)?,
            ))
        })
        .max_by(|a, b| (a.1 - a.2).total_cmp(&(b.1 - b.2)))
}

fn static_sentence(c: &Comparison) -> String {
    let Some((place, direct, warm)) = best_place(&c.direct, &c.edge) else {
        return "no place completed both the direct and the edge run".into();
    };
    let pop = main_pop(&c.edge, &place).unwrap_or_else(|| "its PoP".into());
    let cold = c
        .cold
        .as_ref()
        .and_then(|cold| p50(cold, &place))
        .map_or_else(|| "-".into(), |ms| format!("{ms:.0} ms"));
    let offload = c
        .origin
        .request_offload
        .map_or_else(|| "-".into(), |o| format!("{:.0}%", o * 100.0));
    format!(
        "Static objects for {place} took {direct:.0} ms direct, {cold} from a cold {pop} and \
         {warm:.0} ms from a warm one (p50), and with warm caches the origin served {offload} \
         fewer requests."
    )
}

fn ga_sentence(c: &Comparison) -> String {
    let Some(ga) = &c.ga else {
        return "the Global Accelerator run did not finish".into();
    };
    let Some((place, direct, through)) = best_place(&c.direct, ga) else {
        return "no place completed both the direct and the Global Accelerator run".into();
    };
    let pop = main_pop(&c.edge, &place).unwrap_or_else(|| "its nearest PoP".into());
    let verdict = if through < direct {
        format!("{} less", percent(direct - through, direct))
    } else {
        "no gain".into()
    };
    format!(
        "Uncacheable API requests from {place} took {direct:.0} ms over the public internet and \
         {through:.0} ms entering the backbone at {pop} with Global Accelerator (p50, {verdict})."
    )
}

fn local_zone_sentence(evidence: &Evidence) -> String {
    let Evidence::LocalZone {
        zone,
        region,
        to_zone,
        to_region,
    } = evidence
    else {
        return String::new();
    };
    let place = to_zone
        .places
        .first()
        .map_or("the clients", |p| p.place.as_str());
    match (p50(to_zone, place), p50(to_region, place)) {
        (Some(near), Some(far)) => format!(
            "{place} reached an origin replica in the Local Zone {zone} in {near:.0} ms against \
             {far:.0} ms in the parent Region {region} (p50 of uncached requests straight to the origin)."
        ),
        _ => format!("the {zone} / {region} runs did not both complete"),
    }
}

fn az_sentence(d: &DrillReport) -> String {
    let Some(phase) = d.phases.get(1) else {
        return "the drill did not run its AZ phase".into();
    };
    let lost = phase.responses - phase.served;
    let failover = d.failover.as_ref().map_or_else(
        || "no other replica answered".to_string(),
        |f| {
            format!(
                "the origin group failed over to {}, whose first answer came {:.0} ms after the \
                 fault (probing every {} ms),",
                f.replica,
                f.after.as_secs_f64() * 1e3,
                crate::drill::PROBE_EVERY.as_millis()
            )
        },
    );
    let losses = if lost == 0 {
        "nothing was lost".to_string()
    } else {
        format!("{lost} requests failed")
    };
    let host = d
        .late_host_note()
        .map_or_else(String::new, |note| format!(" {note}"));
    format!(
        "When {} failed, {failover} and {losses}: {} of {} requests served, {} of {} \
         uncacheable probes answered.{host}",
        d.az, phase.served, phase.responses, phase.probes_ok, phase.probes
    )
}

fn region_sentence(d: &DrillReport) -> String {
    let (served, total) = d.region_outage;
    let region = d
        .phases
        .get(2)
        .map_or("the Region", |p| p.name.trim_end_matches(" down"));
    format!(
        "With all of {region} down, the caches still served {} of requests ({served} of {total}); \
         what they did not hold failed.",
        percent(served as f64, total as f64)
    )
}

impl Tour {
    /// The report: an introduction, then one section per chapter with its sentence and its
    /// measurements (comparisons with their tables and charts).
    pub fn html(&self) -> String {
        let mut body = format!(
            "<p>Five chapters, each measured live in this process on loopback ({:.0} s in all). \
             Each section starts with what it measured in one sentence.</p><ul>",
            self.elapsed.as_secs_f64()
        );
        for chapter in &self.chapters {
            let _ = write!(
                body,
                "<li><a href=\"#chapter-{}\">({}) {}</a></li>",
                chapter.id,
                chapter.id,
                escape(chapter.title)
            );
        }
        body.push_str("</ul>");
        for chapter in &self.chapters {
            let _ = write!(
                body,
                "<section class=\"chapter\" id=\"chapter-{id}\"><h2>({id}) {}</h2>\
                 <p class=\"sentence\"><b>{}</b></p>{}</section>",
                escape(chapter.title),
                escape(&chapter.sentence),
                evidence_html(chapter),
                id = chapter.id,
            );
        }
        edgelab_loadgen::html::document("edgelab demo --tour", &body)
    }

    /// The chapters as JSON: id, title and sentence (the comparisons go to their own files).
    pub fn summary_json(&self) -> String {
        let chapters: Vec<serde_json::Value> = self
            .chapters
            .iter()
            .map(|c| serde_json::json!({ "id": c.id.to_string(), "title": c.title, "sentence": c.sentence }))
            .collect();
        let doc =
            serde_json::json!({ "elapsed_s": self.elapsed.as_secs_f64(), "chapters": chapters });
        // invariant: strings and finite numbers only.
        serde_json::to_string_pretty(&doc).expect("the tour summary serialises")
    }
}

fn evidence_html(chapter: &Chapter) -> String {
    match &chapter.evidence {
        Evidence::Comparison(c) => edgelab_loadgen::html::comparison_section(c),
        Evidence::LocalZone {
            zone,
            region,
            to_zone,
            to_region,
        } => {
            let mut out = String::from(
                "<table><tr><th>origin replica</th><th>place</th><th>p50 / p90 / p99 ms</th><th>requests</th></tr>",
            );
            for (name, report) in [(zone, to_zone), (region, to_region)] {
                for p in &report.places {
                    let _ = write!(
                        out,
                        "<tr><td>{}</td><td>{}</td><td>{:.1} / {:.1} / {:.1}</td><td>{}</td></tr>",
                        escape(name),
                        escape(&p.place),
                        p.latency.p50_ms,
                        p.latency.p90_ms,
                        p.latency.p99_ms,
                        p.responses
                    );
                }
            }
            out.push_str("</table>");
            out
        }
        Evidence::Drill(d) => drill_html(d, chapter.id),
    }
}

/// The drill's phases as a table: chapter (d) shows the healthy and the AZ phase, (e) the
/// Region phase.
fn drill_html(d: &DrillReport, id: char) -> String {
    let mut out = String::from(
        "<table><tr><th>phase</th><th>requests</th><th>served</th><th>hits</th><th>probes ok</th></tr>",
    );
    let shown: &[usize] = if id == 'd' { &[0, 1] } else { &[2] };
    for phase in shown.iter().filter_map(|&i| d.phases.get(i)) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td></tr>",
            escape(&phase.name),
            phase.responses,
            phase.served,
            phase.hits,
            phase.probes_ok,
            phase.probes
        );
    }
    out.push_str("</table>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::{Failover, PhaseStats};

    fn phase(name: &str, responses: u64, served: u64, probes: (usize, usize)) -> PhaseStats {
        PhaseStats {
            name: name.to_string(),
            responses,
            served,
            hits: served / 2,
            probes: probes.1,
            probes_ok: probes.0,
        }
    }

    fn drill(az_phase: PhaseStats, failover: Option<Failover>) -> DrillReport {
        DrillReport {
            az: "use1-az1".into(),
            phases: vec![
                phase("healthy", 100, 100, (40, 40)),
                az_phase,
                phase("us-east-1 down", 120, 90, (0, 40)),
            ],
            failover,
            region_outage: (90, 120),
            late_p99_ms: 1.5,
            warn_above_ms: 5.0,
        }
    }

    #[test]
    fn the_az_sentence_says_the_failover_time_and_whether_anything_was_lost() {
        let failover = Some(Failover {
            replica: "use1-az2".into(),
            after: Duration::from_millis(12),
            failed_before: 0,
        });
        let clean = drill(phase("use1-az1 down", 110, 110, (40, 40)), failover.clone());
        assert_eq!(
            az_sentence(&clean),
            "When use1-az1 failed, the origin group failed over to use1-az2, whose first answer \
             came 12 ms after the fault (probing every 50 ms), and nothing was lost: 110 of 110 \
             requests served, 40 of 40 uncacheable probes answered."
        );
        let lossy = drill(phase("use1-az1 down", 110, 107, (38, 40)), None);
        let sentence = az_sentence(&lossy);
        assert!(
            sentence.contains("no other replica answered and 3 requests failed"),
            "{sentence}"
        );
        assert!(!sentence.contains("host"), "{sentence}");
        let busy = DrillReport {
            late_p99_ms: 120.4,
            ..lossy
        };
        assert!(
            az_sentence(&busy).ends_with(
                "The host ran the emulation late (p99 120 ms, over 5 ms): these times and losses \
                 are partly the host's."
            ),
            "{}",
            az_sentence(&busy)
        );
    }

    #[test]
    fn the_region_sentence_says_what_the_caches_served() {
        let report = drill(phase("use1-az1 down", 1, 1, (1, 1)), None);
        assert_eq!(
            region_sentence(&report),
            "With all of us-east-1 down, the caches still served 75% of requests (90 of 120); \
             what they did not hold failed."
        );
    }

    #[test]
    fn every_chapter_has_a_title() {
        assert_eq!(
            ['a', 'b', 'c', 'd', 'e']
                .map(title)
                .iter()
                .filter(|t| !t.is_empty())
                .count(),
            5
        );
        assert_eq!(title('z'), "");
    }
}
