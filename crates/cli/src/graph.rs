//! `edgelab topology path` and `edgelab topology validate`: the long-haul graph a path
//! follows, and the model against measured RTTs. Thin: the logic is `edgelab_geo::backbone`
//! and `edgelab_geo::calibration`.

use std::fmt::Write as _;

use edgelab_geo::{
    Coordinates, LatencyModel, LegKind, PathClass, Residuals, Topology, fit, parse_measured,
    residuals,
};

use edgelab_common::text::table;

type Problems = Vec<String>;

/// The cities a path over `class` crosses between two points, joined by dashes (empty for
/// a straight path or a class without distance).
pub fn via(model: &LatencyModel, a: Coordinates, b: Coordinates, class: PathClass) -> String {
    model
        .via(a, b, class)
        .iter()
        .map(|h| h.city.as_str())
        .collect::<Vec<_>>()
        .join(" – ")
}

/// `topology path A B`.
pub fn path(
    t: &Topology,
    model: &LatencyModel,
    a: &str,
    b: &str,
    class: PathClass,
) -> Result<String, Problems> {
    let (pa, pb) = match (t.resolve(a), t.resolve(b)) {
        (Ok(pa), Ok(pb)) => (pa, pb),
        (ra, rb) => {
            return Err([ra.err(), rb.err()]
                .into_iter()
                .flatten()
                .map(|e| e.to_string())
                .collect());
        }
    };
    // Both classes run over the graph, so a route exists (invariant of `graph_weights`).
    let route = model
        .route(pa.coordinates(), pb.coordinates(), class)
        .expect("backbone and internet paths run over the graph");
    let graph = edgelab_geo::Backbone::embedded();
    let name = |id: &str| match graph.hubs().iter().find(|h| h.id == id) {
        Some(h) => format!("{} ({})", h.city, h.id),
        None => id.to_string(),
    };
    let (start, end) = (pa.to_string(), pb.to_string());
    let rows: Vec<Vec<String>> = route
        .route
        .legs
        .iter()
        .enumerate()
        .map(|(i, leg)| {
            let from = if leg.from == "place" {
                start.clone()
            } else {
                name(&leg.from)
            };
            let to = if leg.to == "place" {
                end.clone()
            } else {
                name(&leg.to)
            };
            let over = match leg.kind {
                LegKind::Access if route.route.legs.len() == 1 => "straight (one metro)".into(),
                LegKind::Access => "access".into(),
                _ => format!("{}: {}", leg.kind.as_str(), leg.name),
            };
            vec![
                (i + 1).to_string(),
                from,
                to,
                format!("{:.0}", leg.km),
                format!("{:.1}", leg.ms),
                over,
            ]
        })
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "{pa} -> {pb} over {class}");
    out.push_str(&table(&["leg", "from", "to", "km", "ms", "over"], &rows));
    let _ = writeln!(
        out,
        "total   {:.0} km of legs ({:.0} km great circle), {:.1} ms on the graph + {:.1} ms {} = {:.1} ms",
        route.route.km(),
        edgelab_geo::distance_km(pa.coordinates(), pb.coordinates()),
        route.route.ms,
        route.extra_ms,
        if class == PathClass::Internet {
            "fixed and detour"
        } else {
            "fixed"
        },
        route.rtt_ms()
    );
    Ok(out)
}

/// `topology validate --measured FILE [--fit]`.
pub fn validate(
    t: &Topology,
    model: &LatencyModel,
    file: &std::path::Path,
    class: PathClass,
    refit: bool,
) -> Result<String, Problems> {
    let shown = file.display();
    let text = std::fs::read_to_string(file).map_err(|e| vec![format!("{shown}: {e}")])?;
    let data = parse_measured(&text, t).map_err(|e| vec![format!("{shown}: {e}")])?;
    let mut out = String::new();
    if !refit {
        report(
            &mut out,
            &format!("{class} model vs {shown}"),
            &residuals(model, &data, class),
        );
        return Ok(out);
    }
    let f = fit(model, &data, class);
    report(
        &mut out,
        &format!("# before the fit ({class}, {shown})"),
        &f.before,
    );
    out.push('\n');
    report(&mut out, "# after the fit", &f.after);
    out.push('\n');
    let _ = writeln!(
        out,
        "# fitted to {shown} ({} pairs); put these tables in a topology file",
        f.after.pairs
    );
    out.push_str(&f.link_table());
    Ok(out)
}

fn report(out: &mut String, title: &str, r: &Residuals) {
    let prefix = if title.starts_with('#') { "# " } else { "" };
    let _ = writeln!(out, "{title}");
    let _ = writeln!(
        out,
        "{prefix}pairs {}  median {:.1} %  p90 {:.1} %  max {:.1} %  (mean {:.1} %, median bias {:+.1} %)",
        r.pairs,
        r.median_ape * 100.0,
        r.p90_ape * 100.0,
        r.max_ape * 100.0,
        r.mean_ape * 100.0,
        r.median_bias * 100.0
    );
    let rows: Vec<Vec<String>> = r
        .worst
        .iter()
        .map(|p| {
            vec![
                p.src.clone(),
                p.dst.clone(),
                format!("{:.1}", p.measured_ms),
                format!("{:.1}", p.modelled_ms),
                format!("{:.1}", p.ape * 100.0),
            ]
        })
        .collect();
    for line in table(
        &["src", "dst", "measured_ms", "modelled_ms", "ape_%"],
        &rows,
    )
    .lines()
    {
        let _ = writeln!(out, "{prefix}{line}");
    }
}
