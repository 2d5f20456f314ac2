//! World-map geometry for reports and `edgelab topology route --svg`: the land (Natural Earth
//! 1:110m, simplified and embedded from `data/land/land.txt`, see `data/SOURCES.md`), an
//! equirectangular projection cropped to the latitudes CDN places are at, and great-circle
//! paths between places, split where they cross the antimeridian.
//!
//! A path between two places is the shorter great circle, so Tokyo → Los Angeles crosses the
//! Pacific: on a map whose edges are ±180° it leaves at the right edge and comes back at the
//! left one, as two pieces ([`Projection::path`]).

use std::sync::OnceLock;

use crate::distance::distance_km;
use crate::places::Coordinates;

/// The embedded land rings: one ring per line, `lon,lat` pairs separated by spaces.
const LAND: &str = include_str!("../data/land/land.txt");

/// Kilometres of great circle per sampled point of a drawn path (curves stay smooth: about a
/// pixel of sagitta on a 960-pixel-wide map).
const KM_PER_SAMPLE: f64 = 250.0;

/// The land as rings of points (outer boundaries; Antarctica left out), parsed on first use.
///
/// A ring that crosses the antimeridian (eastern Russia, Fiji) comes twice, with longitudes
/// running continuously past ±180° and shifted by 360°: drawn on a map from −180° to 180°,
/// clipped at its edges, the two copies show the two halves.
pub fn land() -> &'static [Vec<Coordinates>] {
    static RINGS: OnceLock<Vec<Vec<Coordinates>>> = OnceLock::new();
    RINGS.get_or_init(|| {
        LAND.lines()
            .map(|line| {
                line.split(' ')
                    .filter_map(|pair| {
                        let (lon, lat) = pair.split_once(',')?;
                        Some(Coordinates::new(lat.parse().ok()?, lon.parse().ok()?))
                    })
                    .collect()
            })
            .collect()
    })
}

/// A point on the map, pixels from its top-left corner.
pub type Point = (f64, f64);

/// An equirectangular (plate carrée) projection: longitude and latitude map linearly to x and
/// y at the same scale, between longitudes −180° and 180° and latitudes `north` and `south`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    /// Width of the map, px (360° of longitude).
    pub width: f64,
    /// Latitude at the top edge, degrees.
    pub north: f64,
    /// Latitude at the bottom edge, degrees.
    pub south: f64,
}

impl Projection {
    /// The whole inhabited world, 960 px wide: 84° N (north of Svalbard) to 58° S (south of
    /// Tierra del Fuego and New Zealand).
    pub const WORLD: Projection = Projection {
        width: 960.0,
        north: 84.0,
        south: -58.0,
    };

    /// Pixels per degree.
    pub fn scale(&self) -> f64 {
        self.width / 360.0
    }

    /// Height of the map, px.
    pub fn height(&self) -> f64 {
        (self.north - self.south) * self.scale()
    }

    /// Where `at` is drawn (outside the map when its latitude is beyond `north` or `south`).
    pub fn project(&self, at: Coordinates) -> Point {
        (
            (at.lon + 180.0) * self.scale(),
            (self.north - at.lat) * self.scale(),
        )
    }

    /// The great circle from `a` to `b` as drawn: one polyline, or two when it crosses the
    /// antimeridian (the first ends on one edge, the second starts on the other at the same
    /// height).
    pub fn path(&self, a: Coordinates, b: Coordinates) -> Vec<Vec<Point>> {
        let samples = (distance_km(a, b) / KM_PER_SAMPLE).ceil().max(1.0) as usize;
        let points = great_circle(a, b, samples);
        let mut pieces = vec![Vec::new()];
        for pair in points.windows(2) {
            let (p, q) = (pair[0], pair[1]);
            if let Some(piece) = pieces.last_mut()
                && piece.is_empty()
            {
                piece.push(self.project(p));
            }
            if (q.lon - p.lon).abs() > 180.0 {
                // Going east over 180° (or west over −180°): unwrap q's longitude, find where
                // the segment meets the edge, end this piece there and start the next one on
                // the opposite edge.
                let edge = if p.lon > 0.0 { 180.0 } else { -180.0 };
                let q_lon = q.lon + 2.0 * edge;
                let t = (edge - p.lon) / (q_lon - p.lon);
                let lat = p.lat + t * (q.lat - p.lat);
                if let Some(piece) = pieces.last_mut() {
                    piece.push(self.project(Coordinates::new(lat, edge)));
                }
                pieces.push(vec![self.project(Coordinates::new(lat, -edge))]);
            }
            if let Some(piece) = pieces.last_mut() {
                piece.push(self.project(q));
            }
        }
        pieces.retain(|piece| piece.len() > 1);
        pieces
    }
}

/// The point a fraction `t` (0 to 1) of the way along the great circle from `a` to `b`.
pub fn along(a: Coordinates, b: Coordinates, t: f64) -> Coordinates {
    let (va, vb) = (unit(a), unit(b));
    let dot = (va[0] * vb[0] + va[1] * vb[1] + va[2] * vb[2]).clamp(-1.0, 1.0);
    let omega = dot.acos();
    let v = if omega.sin().abs() < 1e-9 {
        // The same point (or antipodes, where every great circle is as short): straight mix.
        [
            va[0] + t * (vb[0] - va[0]),
            va[1] + t * (vb[1] - va[1]),
            va[2] + t * (vb[2] - va[2]),
        ]
    } else {
        let (wa, wb) = (
            ((1.0 - t) * omega).sin() / omega.sin(),
            (t * omega).sin() / omega.sin(),
        );
        [
            wa * va[0] + wb * vb[0],
            wa * va[1] + wb * vb[1],
            wa * va[2] + wb * vb[2],
        ]
    };
    let norm = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    if norm < 1e-12 {
        return a;
    }
    Coordinates::new(
        (v[2] / norm).asin().to_degrees(),
        v[1].atan2(v[0]).to_degrees(),
    )
}

/// `segments + 1` points along the great circle from `a` to `b`, both ends included exactly.
pub fn great_circle(a: Coordinates, b: Coordinates, segments: usize) -> Vec<Coordinates> {
    let segments = segments.max(1);
    let mut points: Vec<Coordinates> = (0..segments)
        .map(|i| along(a, b, i as f64 / segments as f64))
        .collect();
    points[0] = a;
    points.push(b);
    points
}

fn unit(c: Coordinates) -> [f64; 3] {
    let (lat, lon) = (c.lat.to_radians(), c.lon.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// Whether `at` is on land (inside one of the [`land`] rings; even-odd rule).
pub fn on_land(at: Coordinates) -> bool {
    land().iter().any(|ring| {
        let mut inside = false;
        for (i, p) in ring.iter().enumerate() {
            let q = ring[(i + 1) % ring.len()];
            if (p.lat > at.lat) != (q.lat > at.lat)
                && at.lon < p.lon + (at.lat - p.lat) / (q.lat - p.lat) * (q.lon - p.lon)
            {
                inside = !inside;
            }
        }
        inside
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Topology;

    fn at(name: &str) -> Coordinates {
        Topology::embedded().resolve(name).unwrap().coordinates()
    }

    fn close(a: Point, b: Point) -> bool {
        (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9
    }

    #[test]
    fn known_places_project_where_they_should() {
        let p = Projection::WORLD;
        assert_eq!(p.scale(), 960.0 / 360.0);
        assert!((p.height() - 142.0 * 960.0 / 360.0).abs() < 1e-9);
        assert!(close(p.project(Coordinates::new(84.0, -180.0)), (0.0, 0.0)));
        assert!(close(
            p.project(Coordinates::new(-58.0, 180.0)),
            (960.0, p.height())
        ));
        // Null Island is in the middle, 84° below the top.
        assert!(close(
            p.project(Coordinates::new(0.0, 0.0)),
            (480.0, 84.0 * 960.0 / 360.0)
        ));
        // Sydney (33.87° S, 151.21° E): right of centre, below the equator.
        let (x, y) = p.project(Coordinates::new(-33.8688, 151.2093));
        assert!((x - 331.2093 * 960.0 / 360.0).abs() < 1e-9, "{x}");
        assert!((y - 117.8688 * 960.0 / 360.0).abs() < 1e-9, "{y}");
    }

    #[test]
    fn a_great_circle_starts_and_ends_at_its_places() {
        let (london, new_york) = (at("London"), at("New York"));
        let points = great_circle(london, new_york, 20);
        assert_eq!(points.len(), 21);
        assert_eq!(points[0], london);
        assert_eq!(points[20], new_york);
        // Halfway in distance, and north of both ends (the great circle bows towards the pole).
        let mid = along(london, new_york, 0.5);
        let whole = distance_km(london, new_york);
        assert!((distance_km(london, mid) - whole / 2.0).abs() < 1.0);
        assert!(mid.lat > london.lat && mid.lat > new_york.lat, "{mid:?}");
        assert!(distance_km(along(london, london, 0.5), london) < 1e-6);
    }

    #[test]
    fn paths_that_do_not_cross_the_antimeridian_are_one_piece() {
        let p = Projection::WORLD;
        let pieces = p.path(at("London"), at("FRA"));
        assert_eq!(pieces.len(), 1);
        assert!(close(pieces[0][0], p.project(at("London"))));
        assert!(close(*pieces[0].last().unwrap(), p.project(at("FRA"))));
        // Sydney to Singapore stays on the Asian side.
        assert_eq!(p.path(at("Sydney"), at("Singapore")).len(), 1);
    }

    #[test]
    fn a_pacific_crossing_is_split_at_the_antimeridian_the_short_way() {
        let p = Projection::WORLD;
        for (from, to) in [("Tokyo", "LAX"), ("Sydney", "us-east-1"), ("LAX", "Tokyo")] {
            let (a, b) = (at(from), at(to));
            let pieces = p.path(a, b);
            assert_eq!(pieces.len(), 2, "{from} -> {to}");
            let (first, second) = (&pieces[0], &pieces[1]);
            assert!(close(first[0], p.project(a)));
            assert!(close(*second.last().unwrap(), p.project(b)));
            // The first piece ends on one edge, the second starts on the other, level.
            let (end, start) = (*first.last().unwrap(), second[0]);
            assert!(
                (end.0 == p.width && start.0 == 0.0) || (end.0 == 0.0 && start.0 == p.width),
                "{end:?} {start:?}"
            );
            assert!((end.1 - start.1).abs() < 1e-9);
            // No segment jumps across the map: the short way, drawn continuously.
            for piece in &pieces {
                for pair in piece.windows(2) {
                    assert!((pair[1].0 - pair[0].0).abs() < p.width / 4.0, "{pair:?}");
                }
            }
        }
        // Eastbound from Tokyo: leaves at the right edge.
        let pieces = p.path(at("Tokyo"), at("LAX"));
        assert_eq!(pieces[0].last().unwrap().0, p.width);
    }

    #[test]
    fn the_land_is_where_the_continents_are() {
        let rings = land();
        assert!((50..200).contains(&rings.len()), "{}", rings.len());
        assert!(rings.iter().all(|r| r.len() >= 4));
        assert!(
            rings
                .iter()
                .flatten()
                .all(|c| c.lat.abs() <= 90.0 && c.lon.abs() <= 540.0)
        );
        // Rings across the antimeridian come in pairs, 360° apart: Chukotka is on both edges.
        let crossing: Vec<&Vec<Coordinates>> = rings
            .iter()
            .filter(|r| r.iter().any(|c| c.lon.abs() > 180.0))
            .collect();
        assert!((2..=8).contains(&crossing.len()), "{}", crossing.len());
        assert!(on_land(Coordinates::new(66.0, 175.0)) && on_land(Coordinates::new(66.0, -175.0)));
        // No ring jumps across the map between two of its points.
        for ring in rings {
            for pair in ring.windows(2) {
                assert!((pair[1].lon - pair[0].lon).abs() < 180.0, "{pair:?}");
            }
        }
        for city in [
            "Paris",
            "Chicago",
            "Sao Paulo",
            "Sydney",
            "Johannesburg",
            "DEL",
        ] {
            assert!(on_land(at(city)), "{city} is on land");
        }
        for sea in [(30.0, -40.0), (0.0, -150.0), (-30.0, 80.0)] {
            assert!(!on_land(Coordinates::new(sea.0, sea.1)), "{sea:?} is sea");
        }
        // Antarctica is left out: nothing south of 60° S.
        assert!(rings.iter().flatten().all(|c| c.lat > -60.0));
    }
}
