//! The world map of a run as inline SVG: the land (Natural Earth, from `edgelab_geo::map`),
//! every place of the [`RunMap`] with a marker per kind, each client's path drawn hop by hop
//! along great circles (split at the antimeridian) and labelled with its modelled RTT, and a
//! legend. The same drawing is the report's map section and the file `edgelab topology route
//! --svg` writes ([`standalone`]).
//!
//! Places that fall within a few pixels of each other (a PoP and its REC at one airport, a
//! Region's Availability Zones, whose sites are not public) are fanned out on a small circle
//! around their common position, so each keeps a marker; hops run between the drawn markers.
//! Labels are placed greedily: each takes the first of several positions around its anchor
//! whose box stays inside the map and clear of every marker and label placed before it; a hop
//! label with no free position is left out (its RTT is in the hover text and the table).
//!
//! Every marker carries `data-id`, `data-kind` and its projected position (`data-x`,
//! `data-y`), every hop `data-place`, `data-mode`, `data-from`, `data-to` and `data-rtt-ms`,
//! which the browser test checks against the report's JSON.

use std::fmt::Write as _;

use edgelab_geo::map::{Point, land};
use edgelab_geo::{Coordinates, Projection};

use super::svg::escape;
use crate::map::{MapHop, MapPath, MapPlace, MapPlaceKind, RunMap};
use crate::target::Mode;

/// The projection every map is drawn in.
pub const PROJECTION: Projection = Projection::WORLD;
/// Height of the legend strip under the map, px.
const LEGEND_H: f64 = 26.0;
/// Places closer than this (px) share one position and are fanned out.
pub const CLUSTER_PX: f64 = 4.0;
/// Radius of the circle co-located markers are fanned out on, px.
pub const FAN_PX: f64 = 6.0;
/// Half the size of a marker, px.
const MARKER_PX: f64 = 4.0;
/// Font size of labels, px.
const FONT_PX: f64 = 10.0;
/// Hops shorter than this on the map (px) get no RTT label of their own.
const MIN_LABELLED_HOP_PX: f64 = 24.0;

/// The colour of a mode's paths (the report's run colours) and its stroke dash.
fn mode_style(mode: Mode) -> (&'static str, Option<&'static str>) {
    match mode {
        Mode::Direct => ("#d9534f", Some("6 4")),
        Mode::Edge => ("#2a7ab0", None),
        Mode::Ga => ("#3c9d5d", Some("2 3")),
    }
}

/// What a kind of place is called in the legend and hover text.
fn kind_name(kind: MapPlaceKind) -> &'static str {
    match kind {
        MapPlaceKind::Client => "client",
        MapPlaceKind::Pop => "PoP (edge location)",
        MapPlaceKind::Rec => "Regional Edge Cache",
        MapPlaceKind::Shield => "Origin Shield",
        MapPlaceKind::Origin => "origin (AZ)",
    }
}

/// A marker's shape centred on `(x, y)`.
fn marker(kind: MapPlaceKind, (x, y): Point) -> String {
    let r = MARKER_PX;
    match kind {
        MapPlaceKind::Client => format!(
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="#222" stroke="#fff" stroke-width="1"/>"##
        ),
        MapPlaceKind::Pop => format!(
            r##"<rect x="{:.1}" y="{:.1}" width="{}" height="{}" fill="#2a7ab0" stroke="#fff" stroke-width="1"/>"##,
            x - r * 0.85,
            y - r * 0.85,
            r * 1.7,
            r * 1.7
        ),
        MapPlaceKind::Rec => format!(
            r##"<path d="M{x:.1},{:.1}L{:.1},{y:.1}L{x:.1},{:.1}L{:.1},{y:.1}Z" fill="#8e44ad" stroke="#fff" stroke-width="1"/>"##,
            y - r * 1.15,
            x + r * 1.15,
            y + r * 1.15,
            x - r * 1.15
        ),
        MapPlaceKind::Shield => format!(
            r##"<path d="M{x:.1},{:.1}L{:.1},{:.1}L{:.1},{:.1}Z" fill="#e67e22" stroke="#fff" stroke-width="1"/>"##,
            y - r * 1.2,
            x + r * 1.1,
            y + r * 0.8,
            x - r * 1.1,
            y + r * 0.8
        ),
        MapPlaceKind::Origin => format!(
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="#d9534f" stroke="#7a1f1c" stroke-width="1.5"/>"##
        ),
    }
}

/// A label's box in map pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelBox {
    /// Left.
    pub x0: f64,
    /// Top.
    pub y0: f64,
    /// Right.
    pub x1: f64,
    /// Bottom.
    pub y1: f64,
}

impl LabelBox {
    fn overlaps(&self, other: &LabelBox) -> bool {
        self.x0 < other.x1 && other.x0 < self.x1 && self.y0 < other.y1 && other.y0 < self.y1
    }

    fn inside(&self, width: f64, height: f64) -> bool {
        self.x0 >= 0.0 && self.y0 >= 0.0 && self.x1 <= width && self.y1 <= height
    }

    fn around((x, y): Point, half: f64) -> LabelBox {
        LabelBox {
            x0: x - half,
            y0: y - half,
            x1: x + half,
            y1: y + half,
        }
    }
}

/// The width of `text` at `FONT_PX`, estimated on the wide side (DejaVu Sans, the usual
/// sans-serif of a Linux browser, is among the widest): capitals and digits 0.72 em, other
/// letters 0.62 em, spaces 0.32 em.
pub fn text_width(text: &str) -> f64 {
    text.chars()
        .map(|c| {
            if c == ' ' {
                0.32
            } else if c.is_ascii_uppercase() || c.is_ascii_digit() {
                0.72
            } else {
                0.62
            }
        })
        .sum::<f64>()
        * FONT_PX
}

/// Where labels go: positions tried in turn, boxes taken so far, the map's size.
#[derive(Debug)]
pub struct Labels {
    taken: Vec<LabelBox>,
    width: f64,
    height: f64,
    svg: String,
}

/// Text-anchor of a candidate position.
#[derive(Clone, Copy)]
enum Anchor {
    Start,
    Middle,
    End,
}

impl Labels {
    /// No label yet on a map of `width` × `height`; `markers` are kept clear.
    pub fn new(width: f64, height: f64, markers: &[Point]) -> Labels {
        Labels {
            taken: markers
                .iter()
                .map(|&p| LabelBox::around(p, MARKER_PX + 1.0))
                .collect(),
            width,
            height,
            svg: String::new(),
        }
    }

    /// The box of `text` drawn with its baseline at `y` and `anchor` at `x` (a pixel of margin
    /// around the font's ascent and descent).
    fn box_of(text: &str, (x, y): Point, anchor: Anchor) -> LabelBox {
        let w = text_width(text);
        let x0 = match anchor {
            Anchor::Start => x,
            Anchor::Middle => x - w / 2.0,
            Anchor::End => x - w,
        };
        LabelBox {
            x0: x0 - 1.0,
            y0: y - FONT_PX * 0.95 - 1.0,
            x1: x0 + w + 1.0,
            y1: y + FONT_PX * 0.25 + 1.0,
        }
    }

    /// Places `text` at the first free position of `candidates`; the box, or `None` when
    /// every one is taken or outside the map.
    fn place(
        &mut self,
        (text, color): (&str, &str),
        class: &str,
        candidates: &[(Point, Anchor)],
    ) -> Option<LabelBox> {
        let (at, anchor, bbox) = candidates.iter().find_map(|&(at, anchor)| {
            let bbox = Labels::box_of(text, at, anchor);
            (bbox.inside(self.width, self.height) && !self.taken.iter().any(|t| t.overlaps(&bbox)))
                .then_some((at, anchor, bbox))
        })?;
        self.taken.push(bbox);
        let anchor = match anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        let _ = write!(
            self.svg,
            r#"<text class="map-label {class}" x="{:.1}" y="{:.1}" text-anchor="{anchor}" fill="{color}">{}</text>"#,
            at.0,
            at.1,
            escape(text)
        );
        Some(bbox)
    }

    /// A place label in `color` beside a marker group of radius `r` at `p`: right, left,
    /// above, below, then the diagonals and further out.
    pub fn place_beside(&mut self, label: (&str, &str), at: Point, r: f64) -> Option<LabelBox> {
        self.place(label, "place-label", &Labels::beside(at, r))
    }

    /// An RTT label in `color` beside a marker group (a hop too short to carry it), at the
    /// positions [`Labels::place_beside`] tries.
    pub fn place_rtt_beside(&mut self, label: (&str, &str), at: Point, r: f64) -> Option<LabelBox> {
        self.place(label, "rtt-label", &Labels::beside(at, r))
    }

    fn beside((x, y): Point, r: f64) -> Vec<(Point, Anchor)> {
        let base = y + FONT_PX * 0.35;
        let mut candidates = Vec::new();
        for step in [0.0, 10.0, 20.0] {
            let d = r + 3.0 + step;
            candidates.extend([
                ((x + d, base), Anchor::Start),
                ((x - d, base), Anchor::End),
                ((x, y - d), Anchor::Middle),
                ((x, y + d + FONT_PX * 0.8), Anchor::Middle),
                ((x + d, y - d), Anchor::Start),
                ((x - d, y - d), Anchor::End),
                ((x + d, y + d + FONT_PX * 0.6), Anchor::Start),
                ((x - d, y + d + FONT_PX * 0.6), Anchor::End),
            ]);
        }
        candidates
    }

    /// An RTT label in `color` on a hop, centred on `p` or shifted up, down and sideways.
    pub fn place_on(&mut self, (text, color): (&str, &str), (x, y): Point) -> Option<LabelBox> {
        let base = y + FONT_PX * 0.35;
        let mut candidates = vec![((x, base), Anchor::Middle)];
        for step in [11.0, 22.0, 33.0] {
            candidates.extend([
                ((x, base - step), Anchor::Middle),
                ((x, base + step), Anchor::Middle),
                ((x + step * 2.0, base), Anchor::Middle),
                ((x - step * 2.0, base), Anchor::Middle),
            ]);
        }
        self.place((text, color), "rtt-label", &candidates)
    }
}

/// Where each place is drawn: its projected position, or a spot on a small circle around it
/// when others share it. Returns `(projected, drawn)` per place, in `places` order.
pub fn layout_markers(places: &[MapPlace]) -> Vec<(Point, Point)> {
    let projected: Vec<Point> = places
        .iter()
        .map(|p| PROJECTION.project(Coordinates::new(p.lat, p.lon)))
        .collect();
    let mut cluster_of: Vec<usize> = Vec::with_capacity(places.len());
    let mut clusters: Vec<Vec<usize>> = Vec::new();
    for (i, p) in projected.iter().enumerate() {
        let near = clusters.iter().position(|members| {
            let q = projected[members[0]];
            (p.0 - q.0).hypot(p.1 - q.1) < CLUSTER_PX
        });
        match near {
            Some(c) => {
                clusters[c].push(i);
                cluster_of.push(c);
            }
            None => {
                cluster_of.push(clusters.len());
                clusters.push(vec![i]);
            }
        }
    }
    (0..places.len())
        .map(|i| {
            let members = &clusters[cluster_of[i]];
            let centre = projected[members[0]];
            if members.len() == 1 {
                return (projected[i], projected[i]);
            }
            let k = members.iter().position(|&m| m == i).unwrap_or(0) as f64;
            let angle =
                std::f64::consts::TAU * k / members.len() as f64 - std::f64::consts::FRAC_PI_2;
            let drawn = (
                centre.0 + FAN_PX * angle.cos(),
                centre.1 + FAN_PX * angle.sin(),
            );
            (projected[i], drawn)
        })
        .collect()
}

/// The land as one SVG path.
fn land_path() -> String {
    let mut d = String::new();
    for ring in land() {
        for (i, point) in ring.iter().enumerate() {
            let (x, y) = PROJECTION.project(*point);
            let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
        }
        d.push('Z');
    }
    format!(r##"<path class="land" d="{d}" fill="#e4e2d8" stroke="#b9b6a6" stroke-width="0.5"/>"##)
}

/// The pieces of `hop` from `from` to `to` as drawn: great circles from place to place
/// through the hubs it crosses, bent at the ends from the places' projected positions to
/// their drawn (fanned-out) markers.
fn hop_pieces(
    hop: &MapHop,
    from: (&MapPlace, Point, Point),
    to: (&MapPlace, Point, Point),
) -> Vec<Vec<Point>> {
    let mut stops = vec![Coordinates::new(from.0.lat, from.0.lon)];
    stops.extend(hop.via.iter().map(|w| Coordinates::new(w.lat, w.lon)));
    stops.push(Coordinates::new(to.0.lat, to.0.lon));
    let mut pieces: Vec<Vec<Point>> = Vec::new();
    for leg in stops.windows(2) {
        for (i, piece) in PROJECTION.path(leg[0], leg[1]).into_iter().enumerate() {
            // A leg's first piece carries on the previous leg's last one.
            match pieces.last_mut() {
                Some(last) if i == 0 => last.extend(piece.into_iter().skip(1)),
                _ => pieces.push(piece),
            }
        }
    }
    let total: usize = pieces.iter().map(Vec::len).sum::<usize>().max(2) - 1;
    let shift = |p: Point, q: Point| (q.0 - p.0, q.1 - p.1);
    let (a, b) = (shift(from.1, from.2), shift(to.1, to.2));
    let mut n = 0usize;
    for piece in &mut pieces {
        for point in piece.iter_mut() {
            let f = n as f64 / total as f64;
            point.0 += a.0 * (1.0 - f) + b.0 * f;
            point.1 += a.1 * (1.0 - f) + b.1 * f;
            n += 1;
        }
    }
    if pieces.is_empty() {
        pieces.push(vec![from.2, to.2]);
    }
    pieces
}

fn path_d(pieces: &[Vec<Point>]) -> String {
    let mut d = String::new();
    for piece in pieces {
        for (i, (x, y)) in piece.iter().enumerate() {
            let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
        }
    }
    d
}

/// The hover text of a path: each hop with its RTT, then the totals.
fn path_title(path: &MapPath, map: &RunMap) -> String {
    let name = |id: &str| map.place(id).map_or(id.to_string(), |p| p.label.clone());
    let mut text = format!("{}, {}:", path.place, path.mode.as_str());
    for hop in &path.hops {
        let _ = write!(
            text,
            " → {} {:.1} ms ({})",
            name(&hop.to),
            hop.rtt_ms,
            hop.class
        );
    }
    match (path.mode, path.hops.first()) {
        (Mode::Edge, Some(first)) => {
            let _ = write!(
                text,
                "; a hit costs {:.1} ms, a miss {:.1} ms",
                first.rtt_ms, path.rtt_ms
            );
        }
        _ => {
            let _ = write!(text, "; {:.1} ms in all", path.rtt_ms);
        }
    }
    text
}

/// The RTT label of one hop.
struct HopLabel {
    /// `13 ms`.
    text: String,
    /// The midpoint of a long hop, or the start of a short one.
    at: Point,
    /// The hop's length on the map, px.
    length: f64,
    /// Its mode's colour.
    color: &'static str,
}

/// Everything drawn for the hops: the SVG of the paths and the RTT label of each distinct
/// hop long enough to carry one on its line, or a client's hop (beside the client when short);
/// short hops between the CDN's own places (a PoP and its REC at one airport) get none.
fn draw_paths(map: &RunMap, drawn: &[(Point, Point)]) -> (String, Vec<HopLabel>) {
    let index = |id: &str| map.places.iter().position(|p| p.id == id);
    let mut svg = String::new();
    let mut labels: Vec<HopLabel> = Vec::new();
    let mut seen: Vec<(&str, &str, Mode)> = Vec::new();
    for path in &map.paths {
        let (color, dash) = mode_style(path.mode);
        let _ = write!(
            svg,
            r#"<g class="route" data-place="{}" data-mode="{}" data-rtt-ms="{}"><title>{}</title>"#,
            escape(&path.place),
            path.mode.as_str(),
            path.rtt_ms,
            escape(&path_title(path, map))
        );
        for hop in &path.hops {
            let (Some(f), Some(t)) = (index(&hop.from), index(&hop.to)) else {
                continue;
            };
            let pieces = hop_pieces(
                hop,
                (&map.places[f], drawn[f].0, drawn[f].1),
                (&map.places[t], drawn[t].0, drawn[t].1),
            );
            draw_hop(&mut svg, path, hop, &pieces, (color, dash));
            if seen.contains(&(&hop.from, &hop.to, path.mode)) {
                continue;
            }
            seen.push((&hop.from, &hop.to, path.mode));
            let (a, b) = (drawn[f].1, drawn[t].1);
            let length = (a.0 - b.0).hypot(a.1 - b.1);
            let client = map.places[f].kind == MapPlaceKind::Client;
            if length >= MIN_LABELLED_HOP_PX || client {
                labels.push(HopLabel {
                    text: format!("{:.0} ms", hop.rtt_ms),
                    at: if length >= MIN_LABELLED_HOP_PX {
                        along_pieces(&pieces, 0.5)
                    } else {
                        drawn[f].0
                    },
                    length,
                    color,
                });
            }
        }
        svg.push_str("</g>");
    }
    (svg, labels)
}

fn draw_hop(
    svg: &mut String,
    path: &MapPath,
    hop: &MapHop,
    pieces: &[Vec<Point>],
    style: (&str, Option<&str>),
) {
    let (color, dash) = style;
    let width = if hop.class == "backbone" { 1.4 } else { 2.2 };
    let _ = write!(
        svg,
        r#"<path class="hop" data-place="{}" data-mode="{}" data-from="{}" data-to="{}" data-rtt-ms="{}" d="{}" fill="none" stroke="{color}" stroke-width="{width}" stroke-opacity="0.85"{}/>"#,
        escape(&path.place),
        path.mode.as_str(),
        escape(&hop.from),
        escape(&hop.to),
        hop.rtt_ms,
        path_d(pieces),
        dash.map_or(String::new(), |d| format!(r#" stroke-dasharray="{d}""#))
    );
}

/// The point a fraction `t` of the way along the drawn pieces (by length).
fn along_pieces(pieces: &[Vec<Point>], t: f64) -> Point {
    let segments: Vec<(Point, Point)> = pieces
        .iter()
        .flat_map(|p| p.windows(2).map(|w| (w[0], w[1])))
        .collect();
    let length = |(a, b): &(Point, Point)| (b.0 - a.0).hypot(b.1 - a.1);
    let total: f64 = segments.iter().map(length).sum();
    let mut left = total * t;
    for segment in &segments {
        let l = length(segment);
        if left <= l && l > 0.0 {
            let f = left / l;
            let (a, b) = segment;
            return (a.0 + f * (b.0 - a.0), a.1 + f * (b.1 - a.1));
        }
        left -= l;
    }
    pieces
        .first()
        .and_then(|p| p.first())
        .copied()
        .unwrap_or((0.0, 0.0))
}

/// One short label per group of co-located places (`Sydney · SYD`, `IAD · origin ×3`).
fn cluster_labels(map: &RunMap, drawn: &[(Point, Point)]) -> Vec<(String, Point, usize)> {
    let mut groups: Vec<(Point, Vec<usize>)> = Vec::new();
    for (i, (projected, _)) in drawn.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|(p, _)| (p.0 - projected.0).hypot(p.1 - projected.1) < CLUSTER_PX)
        {
            Some((_, members)) => members.push(i),
            None => groups.push((*projected, vec![i])),
        }
    }
    groups
        .into_iter()
        .map(|(at, mut members)| {
            // Clients first, then the CDN's tiers in path order, the origin last.
            members.sort_by_key(|&m| map.places[m].kind);
            let mut parts: Vec<String> = Vec::new();
            let origins = members
                .iter()
                .filter(|&&m| map.places[m].kind == MapPlaceKind::Origin)
                .count();
            for &m in &members {
                let place = &map.places[m];
                let part = match place.kind {
                    MapPlaceKind::Origin if origins > 1 => format!("origin ×{origins}"),
                    MapPlaceKind::Origin => format!("origin {}", place.label),
                    _ => place.label.clone(),
                };
                if !parts.contains(&part) {
                    parts.push(part);
                }
            }
            (parts.join(" · "), at, members.len())
        })
        .collect()
}

/// The legend strip: a marker per kind present, a line per mode present.
fn legend(map: &RunMap, y: f64) -> String {
    let mut out = String::new();
    let mut x = 8.0;
    for kind in MapPlaceKind::ALL {
        if !map.places.iter().any(|p| p.kind == kind) {
            continue;
        }
        out.push_str(&marker(kind, (x + 4.0, y)));
        let name = kind_name(kind);
        let _ = write!(
            out,
            r#"<text class="legend" x="{:.1}" y="{:.1}">{}</text>"#,
            x + 12.0,
            y + 3.5,
            escape(name)
        );
        x += 24.0 + text_width(name);
    }
    for mode in [Mode::Direct, Mode::Edge, Mode::Ga] {
        if !map.paths.iter().any(|p| p.mode == mode) {
            continue;
        }
        let (color, dash) = mode_style(mode);
        let name = match mode {
            Mode::Direct => "direct to the origin",
            Mode::Edge => "edge: PoP, REC, shield, origin",
            Mode::Ga => "Global Accelerator",
        };
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="2.2"{}/><text class="legend" x="{:.1}" y="{:.1}">{}</text>"#,
            x + 22.0,
            dash.map_or(String::new(), |d| format!(r#" stroke-dasharray="{d}""#)),
            x + 26.0,
            y + 3.5,
            name
        );
        x += 40.0 + text_width(name);
    }
    out
}

/// The map of `map` as an inline `<svg>` (`data-chart="map"`), titled `title` for screen
/// readers and hover.
pub fn svg(map: &RunMap, title: &str) -> String {
    let (width, height) = (PROJECTION.width, PROJECTION.height());
    let total_h = height + LEGEND_H;
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" data-chart="map" viewBox="0 0 {width} {total_h:.1}" width="{width}" height="{total_h:.1}" font-family="sans-serif" font-size="{FONT_PX}"><title>{}</title><rect class="sea" width="{width}" height="{height:.1}" fill="#f2f7fb"/>"##,
        escape(title)
    );
    out.push_str(&land_path());
    let drawn = layout_markers(&map.places);
    let (paths, hop_labels) = draw_paths(map, &drawn);
    out.push_str(&paths);
    for (place, (projected, at)) in map.places.iter().zip(&drawn) {
        let _ = write!(
            out,
            r#"<g class="place" data-id="{}" data-kind="{}" data-x="{}" data-y="{}"><title>{}: {}, {} ({:.2}, {:.2})</title>{}</g>"#,
            escape(&place.id),
            place.kind.as_str(),
            projected.0,
            projected.1,
            escape(kind_name(place.kind)),
            escape(&place.label),
            escape(&place.city),
            place.lat,
            place.lon,
            marker(place.kind, *at)
        );
    }
    let markers: Vec<Point> = drawn.iter().map(|d| d.1).collect();
    let mut labels = Labels::new(width, height, &markers);
    for (text, at, members) in cluster_labels(map, &drawn) {
        let r = if members > 1 {
            FAN_PX + MARKER_PX
        } else {
            MARKER_PX
        };
        labels.place_beside((&text, "#222"), at, r);
    }
    let mut hop_labels = hop_labels;
    // Long hops first: they have the most room and say the most.
    hop_labels.sort_by(|a, b| b.length.total_cmp(&a.length));
    for label in hop_labels {
        if label.length >= MIN_LABELLED_HOP_PX {
            labels.place_on((&label.text, label.color), label.at);
        } else {
            let r = FAN_PX + MARKER_PX;
            labels.place_rtt_beside((&label.text, label.color), label.at, r);
        }
    }
    let _ = write!(
        out,
        r##"<g class="labels" paint-order="stroke" stroke="#fff" stroke-width="3" stroke-linejoin="round">{}</g>"##,
        labels.svg
    );
    out.push_str(&legend(map, height + LEGEND_H / 2.0));
    out.push_str("</svg>");
    out
}

/// The map as a self-contained SVG file.
pub fn standalone(map: &RunMap, title: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}\n",
        svg(map, title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(id: &str, kind: MapPlaceKind, lat: f64, lon: f64) -> MapPlace {
        MapPlace {
            id: id.into(),
            kind,
            label: id.trim_start_matches("client:").into(),
            city: "c".into(),
            lat,
            lon,
        }
    }

    fn hop(from: &str, to: &str, rtt_ms: f64) -> MapHop {
        MapHop {
            from: from.into(),
            to: to.into(),
            class: "backbone".into(),
            rtt_ms,
            via: Vec::new(),
        }
    }

    /// Sydney through SYD (and its REC, at the same airport) to an origin in Virginia with
    /// three AZs, and direct.
    fn sydney() -> RunMap {
        RunMap {
            places: vec![
                place("client:Sydney", MapPlaceKind::Client, -33.87, 151.21),
                place("SYD", MapPlaceKind::Pop, -33.95, 151.18),
                place("rec:SYD", MapPlaceKind::Rec, -33.95, 151.18),
                place("rec:IAD", MapPlaceKind::Shield, 38.94, -77.46),
                place("use1-az1", MapPlaceKind::Origin, 39.04, -77.49),
                place("use1-az2", MapPlaceKind::Origin, 39.04, -77.49),
            ],
            paths: vec![
                MapPath::new(
                    "Sydney",
                    Mode::Edge,
                    vec![
                        hop("client:Sydney", "SYD", 11.0),
                        hop("SYD", "rec:SYD", 0.5),
                        hop("rec:SYD", "rec:IAD", 190.0),
                        hop("rec:IAD", "use1-az1", 1.0),
                    ],
                ),
                MapPath::new(
                    "Sydney",
                    Mode::Direct,
                    vec![hop("client:Sydney", "use1-az1", 347.0)],
                ),
            ],
        }
    }

    #[test]
    fn co_located_places_are_fanned_out_around_their_position() {
        let map = sydney();
        let drawn = layout_markers(&map.places);
        for (place, (projected, at)) in map.places.iter().zip(&drawn) {
            let expected = PROJECTION.project(Coordinates::new(place.lat, place.lon));
            assert_eq!(*projected, expected);
            let off = (at.0 - projected.0).hypot(at.1 - projected.1);
            assert!(off <= FAN_PX + CLUSTER_PX, "{}: {off}", place.id);
        }
        // Every marker is apart from every other.
        for (i, a) in drawn.iter().enumerate() {
            for b in &drawn[i + 1..] {
                assert!((a.1.0 - b.1.0).hypot(a.1.1 - b.1.1) > 2.0 * MARKER_PX - 1.0);
            }
        }
    }

    #[test]
    fn every_place_and_hop_is_drawn_with_its_numbers() {
        let map = sydney();
        let svg = svg(&map, "t");
        assert_eq!(svg.matches(r#"<g class="place""#).count(), 6);
        assert_eq!(svg.matches(r#"<path class="hop""#).count(), 5);
        assert!(svg.contains(r#"data-from="rec:SYD" data-to="rec:IAD" data-rtt-ms="190""#));
        assert!(svg.contains(r#"data-place="Sydney" data-mode="edge" data-rtt-ms="202.5""#));
        assert!(svg.contains("a hit costs 11.0 ms, a miss 202.5 ms"));
        assert!(svg.contains(">190 ms</text>") && svg.contains(">347 ms</text>"));
        // The 0.5 ms hop between the PoP and its REC is too short to label on the map; the
        // client's short hop to its PoP is labelled beside the client, in the edge's colour.
        assert!(!svg.contains(">0 ms</text>") && !svg.contains(">1 ms</text>"));
        assert!(svg.contains(r##"fill="#2a7ab0">11 ms</text>"##));
        assert!(
            svg.contains("Sydney · SYD"),
            "one label for the airport group"
        );
        assert!(svg.contains("origin ×2"));
        assert!(svg.contains("Origin Shield") && svg.contains("direct to the origin"));
        assert!(standalone(&map, "t").starts_with("<?xml"));
    }

    #[test]
    fn labels_never_overlap_and_stay_on_the_map() {
        let mut labels = Labels::new(200.0, 100.0, &[(100.0, 50.0)]);
        let mut boxes = Vec::new();
        for _ in 0..12 {
            if let Some(b) = labels.place_beside(("Label", "#000"), (100.0, 50.0), MARKER_PX) {
                boxes.push(b);
            }
        }
        assert!(boxes.len() >= 8, "{}", boxes.len());
        for (i, a) in boxes.iter().enumerate() {
            assert!(a.inside(200.0, 100.0));
            for b in &boxes[i + 1..] {
                assert!(!a.overlaps(b), "{a:?} {b:?}");
            }
        }
        // Near the right edge, the label goes to the left of its marker.
        let mut edge = Labels::new(200.0, 100.0, &[]);
        let b = edge
            .place_beside(("Somewhere", "#000"), (195.0, 50.0), MARKER_PX)
            .unwrap();
        assert!(b.x1 < 195.0);
        assert!(text_width("SYD") > text_width("syd"));
    }

    #[test]
    fn a_hop_across_the_pacific_is_drawn_in_two_pieces_the_short_way() {
        let map = sydney();
        let svg = svg(&map, "t");
        let at = svg
            .find(r#"data-from="client:Sydney" data-to="use1-az1""#)
            .unwrap();
        let d = &svg[at..];
        let d = &d[d.find(" d=\"").unwrap() + 4..];
        let d = &d[..d.find('"').unwrap()];
        assert_eq!(d.matches('M').count(), 2, "{d}");
        // Eastward from Sydney: the first piece leaves at the right edge.
        let first = &d[..d[1..].find('M').unwrap() + 1];
        let last_x: f64 = first
            .rsplit('L')
            .next()
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((last_x - PROJECTION.width).abs() < FAN_PX + 1.0, "{last_x}");
    }
}
