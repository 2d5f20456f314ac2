//! Great-circle distance on a spherical Earth (haversine formula).

use crate::places::Coordinates;

/// Mean Earth radius in kilometres (IUGG mean radius R1 = 6,371.0088 km, Moritz 2000,
/// "Geodetic Reference System 1980").
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance between two points in kilometres (haversine, mean Earth radius).
///
/// Symmetric, zero for identical points, and never more than half the Earth's circumference.
pub fn distance_km(a: Coordinates, b: Coordinates) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    // Rounding can push `h` a hair outside [0, 1]; clamp so `asin` stays defined.
    2.0 * EARTH_RADIUS_KM * h.clamp(0.0, 1.0).sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(lat: f64, lon: f64) -> Coordinates {
        Coordinates { lat, lon }
    }

    #[test]
    fn zero_for_the_same_point() {
        assert_eq!(distance_km(c(50.1, 8.7), c(50.1, 8.7)), 0.0);
    }

    #[test]
    fn quarter_meridian() {
        // Equator to pole along a meridian: a quarter of the circumference.
        let d = distance_km(c(0.0, 0.0), c(90.0, 0.0));
        let quarter = std::f64::consts::PI * EARTH_RADIUS_KM / 2.0;
        assert!((d - quarter).abs() < 1e-6, "{d} vs {quarter}");
    }

    #[test]
    fn antipodes_are_half_the_circumference() {
        let d = distance_km(c(10.0, 20.0), c(-10.0, -160.0));
        // asin is ill-conditioned near 1: allow a metre.
        assert!(
            (d - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-3,
            "{d}"
        );
    }

    #[test]
    fn london_to_paris_is_about_343_km() {
        let d = distance_km(c(51.5085, -0.1257), c(48.8534, 2.3488));
        assert!((340.0..346.0).contains(&d), "{d}");
    }
}
