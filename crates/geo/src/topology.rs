//! The topology catalogue: every Region, Availability Zone, Local Zone and CloudFront
//! location, parsed from the CSV files embedded at compile time, and lookup by name.
//!
//! Names resolve in this order (all case-insensitive): Region code, AZ id, Local Zone code,
//! `rec:<CODE>` (a Regional Edge Cache), PoP code (the edge when a city has both an edge and
//! a REC, the REC when a code has only a REC row), then city name (`Frankfurt`; the text
//! before a parenthesis also counts, so `Ashburn` finds `Ashburn (N. Virginia)`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::error::GeoError;
use crate::places::{AvailabilityZone, City, Coordinates, LocalZone, Place, Pop, PopKind, Region};

const REGIONS_CSV: &str = include_str!("../data/regions.csv");
const LOCAL_ZONES_CSV: &str = include_str!("../data/local_zones.csv");
const EDGE_LOCATIONS_CSV: &str = include_str!("../data/edge_locations.csv");

/// The catalogue of places.
#[derive(Debug, Clone)]
pub struct Topology {
    regions: Vec<Region>,
    availability_zones: Vec<AvailabilityZone>,
    local_zones: Vec<LocalZone>,
    pops: Vec<Pop>,
    cities: Vec<City>,
}

#[derive(serde::Deserialize)]
struct RegionRow {
    code: String,
    name: String,
    city: String,
    lat: f64,
    lon: f64,
    az_count: u32,
    az_ids: String,
    #[allow(dead_code)] // provenance only
    city_basis: String,
}

#[derive(serde::Deserialize)]
struct LocalZoneRow {
    code: String,
    parent_region: String,
    city: String,
    lat: f64,
    lon: f64,
    country: String,
    zone_ids: String,
    #[allow(dead_code)] // provenance only
    evidence: String,
}

#[derive(serde::Deserialize)]
struct PopRow {
    pop_code: String,
    city: String,
    country: String,
    lat: f64,
    lon: f64,
    kind: String,
}

fn rows<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<Vec<T>, String> {
    csv::Reader::from_reader(text.as_bytes())
        .deserialize()
        .enumerate()
        .map(|(i, row)| row.map_err(|e| format!("{file} row {}: {e}", i + 2)))
        .collect()
}

fn list(field: &str) -> Vec<String> {
    field
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn checked(file: &str, name: &str, lat: f64, lon: f64) -> Result<Coordinates, String> {
    let c = Coordinates::new(lat, lon);
    if c.is_valid() {
        Ok(c)
    } else {
        Err(format!(
            "{file}: {name}: coordinates {lat},{lon} out of range"
        ))
    }
}

/// The lookup form of a city name: lower case, without a trailing parenthesis.
fn city_keys(name: &str) -> Vec<String> {
    let full = name.trim().to_lowercase();
    let mut keys = vec![full.clone()];
    if let Some((short, _)) = full.split_once(" (") {
        keys.push(short.trim().to_string());
    }
    for part in full.split('/') {
        let part = part.split(" (").next().unwrap_or(part).trim().to_string();
        if !keys.contains(&part) {
            keys.push(part);
        }
    }
    keys
}

impl Topology {
    /// The topology shipped with edgelab (36 Regions, 47 Local Zones, 120 CloudFront
    /// locations: 107 edges and 13 Regional Edge Caches), parsed once.
    pub fn embedded() -> &'static Topology {
        static EMBEDDED: OnceLock<Topology> = OnceLock::new();
        EMBEDDED.get_or_init(|| {
            // Invariant: the embedded files are checked by this crate's tests, so parsing
            // them cannot fail in a built binary.
            Topology::from_csv(REGIONS_CSV, LOCAL_ZONES_CSV, EDGE_LOCATIONS_CSV)
                .expect("embedded topology data is valid")
        })
    }

    /// Builds a topology from the three CSV files (the formats of `data/`).
    pub fn from_csv(
        regions: &str,
        local_zones: &str,
        edge_locations: &str,
    ) -> Result<Self, String> {
        let mut topology = Topology {
            regions: Vec::new(),
            availability_zones: Vec::new(),
            local_zones: Vec::new(),
            pops: Vec::new(),
            cities: Vec::new(),
        };
        for row in rows::<RegionRow>("regions.csv", regions)? {
            let coordinates = checked("regions.csv", &row.code, row.lat, row.lon)?;
            let az_ids = list(&row.az_ids);
            for id in &az_ids {
                topology.availability_zones.push(AvailabilityZone {
                    id: id.clone(),
                    region: row.code.clone(),
                    city: row.city.clone(),
                    coordinates,
                });
            }
            topology.regions.push(Region {
                code: row.code,
                name: row.name,
                city: row.city,
                coordinates,
                az_count: row.az_count,
                az_ids,
            });
        }
        for row in rows::<LocalZoneRow>("local_zones.csv", local_zones)? {
            let coordinates = checked("local_zones.csv", &row.code, row.lat, row.lon)?;
            if topology.region(&row.parent_region).is_none() {
                return Err(format!(
                    "local_zones.csv: {}: unknown parent region {}",
                    row.code, row.parent_region
                ));
            }
            topology.local_zones.push(LocalZone {
                code: row.code,
                parent_region: row.parent_region,
                city: row.city,
                country: row.country,
                coordinates,
                zone_ids: list(&row.zone_ids),
            });
        }
        for row in rows::<PopRow>("edge_locations.csv", edge_locations)? {
            let coordinates = checked("edge_locations.csv", &row.pop_code, row.lat, row.lon)?;
            let kind = match row.kind.as_str() {
                "edge" => PopKind::Edge,
                "regional_edge_cache" => PopKind::RegionalEdgeCache,
                other => {
                    return Err(format!(
                        "edge_locations.csv: {}: unknown kind {other}",
                        row.pop_code
                    ));
                }
            };
            topology.pops.push(Pop {
                code: row.pop_code,
                city: row.city,
                country: row.country,
                coordinates,
                kind,
            });
        }
        topology.cities = topology.build_cities();
        Ok(topology)
    }

    /// One city entry per distinct city name: a Region's city wins, then an edge's, a REC's
    /// and a Local Zone's.
    fn build_cities(&self) -> Vec<City> {
        let mut cities: BTreeMap<String, City> = BTreeMap::new();
        let mut add = |name: &str, country: Option<&str>, c: Coordinates, region: Option<&str>| {
            let key = name.to_lowercase();
            cities.entry(key).or_insert_with(|| City {
                name: name.to_string(),
                country: country.map(String::from),
                coordinates: c,
                region: region.map(String::from),
            });
        };
        for r in &self.regions {
            add(&r.city, None, r.coordinates, Some(&r.code));
        }
        for p in self.pops.iter().filter(|p| !p.is_rec()) {
            add(&p.city, Some(&p.country), p.coordinates, None);
        }
        for p in self.pops.iter().filter(|p| p.is_rec()) {
            add(&p.city, Some(&p.country), p.coordinates, None);
        }
        for lz in &self.local_zones {
            add(&lz.city, Some(&lz.country), lz.coordinates, None);
        }
        cities.into_values().collect()
    }

    /// Every Region, in file order (sorted by code).
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Every Availability Zone with a public id.
    pub fn availability_zones(&self) -> &[AvailabilityZone] {
        &self.availability_zones
    }

    /// Every Local Zone.
    pub fn local_zones(&self) -> &[LocalZone] {
        &self.local_zones
    }

    /// Every CloudFront location row (edges and RECs).
    pub fn pops(&self) -> &[Pop] {
        &self.pops
    }

    /// The edge locations.
    pub fn edges(&self) -> impl Iterator<Item = &Pop> {
        self.pops.iter().filter(|p| p.kind == PopKind::Edge)
    }

    /// The Regional Edge Caches.
    pub fn recs(&self) -> impl Iterator<Item = &Pop> {
        self.pops
            .iter()
            .filter(|p| p.kind == PopKind::RegionalEdgeCache)
    }

    /// Every distinct city named in the data.
    pub fn cities(&self) -> &[City] {
        &self.cities
    }

    /// The Region with this code (case-insensitive).
    pub fn region(&self, code: &str) -> Option<&Region> {
        self.regions
            .iter()
            .find(|r| r.code.eq_ignore_ascii_case(code))
    }

    /// The Availability Zone with this id (case-insensitive).
    pub fn availability_zone(&self, id: &str) -> Option<&AvailabilityZone> {
        self.availability_zones
            .iter()
            .find(|az| az.id.eq_ignore_ascii_case(id))
    }

    /// The Local Zone with this code (case-insensitive).
    pub fn local_zone(&self, code: &str) -> Option<&LocalZone> {
        self.local_zones
            .iter()
            .find(|lz| lz.code.eq_ignore_ascii_case(code))
    }

    /// The location with this code and kind.
    pub fn pop_of_kind(&self, code: &str, kind: PopKind) -> Option<&Pop> {
        self.pops
            .iter()
            .find(|p| p.kind == kind && p.code.eq_ignore_ascii_case(code))
    }

    /// The location named by a PoP key: `rec:CODE` for a REC, `CODE` for the edge (or the
    /// REC when the city has no edge).
    pub fn pop(&self, key: &str) -> Option<&Pop> {
        let key = key.trim();
        if let Some(code) = strip_prefix_ci(key, "rec:") {
            return self.pop_of_kind(code, PopKind::RegionalEdgeCache);
        }
        self.pop_of_kind(key, PopKind::Edge)
            .or_else(|| self.pop_of_kind(key, PopKind::RegionalEdgeCache))
    }

    /// The REC in the same city as this Region (the Region's Origin Shield location), if any:
    /// the REC nearest the Region within 400 km (the Oregon REC at Hillsboro is
    /// about 270 km from the `us-west-2` city, Hermiston).
    pub fn rec_in_region(&self, region: &Region) -> Option<&Pop> {
        self.recs()
            .map(|p| (crate::distance_km(p.coordinates, region.coordinates), p))
            .filter(|(d, _)| *d <= 400.0)
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, p)| p)
    }

    /// Resolves a name to a place (see the module docs for the order). Unknown names give
    /// [`GeoError::UnknownPlace`] with up to 5 near matches.
    pub fn resolve(&self, name: &str) -> Result<Place<'_>, GeoError> {
        let trimmed = name.trim();
        if let Some(r) = self.region(trimmed) {
            return Ok(Place::Region(r));
        }
        if let Some(az) = self.availability_zone(trimmed) {
            return Ok(Place::AvailabilityZone(az));
        }
        if let Some(lz) = self.local_zone(trimmed) {
            return Ok(Place::LocalZone(lz));
        }
        if let Some(p) = self.pop(trimmed) {
            return Ok(Place::Pop(p));
        }
        let wanted = trimmed.to_lowercase();
        if let Some(city) = self
            .cities
            .iter()
            .find(|c| city_keys(&c.name).contains(&wanted))
        {
            return Ok(Place::City(city));
        }
        Err(GeoError::UnknownPlace {
            name: trimmed.to_string(),
            suggestions: self.suggestions(&wanted),
        })
    }

    /// Every name [`Topology::resolve`] accepts (codes as written in the data).
    pub fn names(&self) -> Vec<String> {
        let mut names = Vec::new();
        names.extend(self.regions.iter().map(|r| r.code.clone()));
        names.extend(self.availability_zones.iter().map(|az| az.id.clone()));
        names.extend(self.local_zones.iter().map(|lz| lz.code.clone()));
        names.extend(self.pops.iter().map(Pop::key));
        names.extend(self.cities.iter().map(|c| c.name.clone()));
        names
    }

    fn suggestions(&self, wanted: &str) -> Vec<String> {
        let mut scored: Vec<(f64, String)> = self
            .names()
            .into_iter()
            .map(|n| (strsim::jaro_winkler(wanted, &n.to_lowercase()), n))
            .filter(|(score, _)| *score >= 0.8)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        scored.dedup_by(|a, b| a.1 == b.1);
        scored.into_iter().take(5).map(|(_, n)| n).collect()
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    if text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&text[prefix.len()..])
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_counts_match_the_sources() {
        let t = Topology::embedded();
        assert_eq!(t.regions().len(), 36);
        assert_eq!(t.local_zones().len(), 47);
        assert_eq!(t.pops().len(), 120);
        assert_eq!(t.edges().count(), 107);
        assert_eq!(t.recs().count(), 13);
    }

    #[test]
    fn every_region_has_its_az_count_or_no_public_ids() {
        let t = Topology::embedded();
        for r in t.regions() {
            assert!(
                r.az_ids.is_empty() || r.az_ids.len() == r.az_count as usize,
                "{}",
                r.code
            );
            assert!(r.az_count >= 2, "{}", r.code);
        }
        let az = t.availability_zone("use1-az4").expect("use1-az4 exists");
        assert_eq!(az.region, "us-east-1");
    }

    #[test]
    fn every_local_zone_has_a_known_parent() {
        let t = Topology::embedded();
        for lz in t.local_zones() {
            assert!(t.region(&lz.parent_region).is_some(), "{}", lz.code);
        }
    }

    #[test]
    fn pop_keys_are_unique() {
        let t = Topology::embedded();
        let mut keys: Vec<String> = t.pops().iter().map(Pop::key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 120);
    }

    #[test]
    fn resolves_every_kind_of_name() {
        let t = Topology::embedded();
        assert_eq!(t.resolve("eu-west-2").unwrap().kind(), "region");
        assert_eq!(t.resolve("EU-WEST-2").unwrap().code(), "eu-west-2");
        assert_eq!(t.resolve("euw2-az1").unwrap().region(), Some("eu-west-2"));
        assert_eq!(t.resolve("us-west-2-lax-1").unwrap().kind(), "local_zone");
        assert_eq!(t.resolve("FRA").unwrap().kind(), "edge");
        assert_eq!(t.resolve("fra").unwrap().code(), "FRA");
        assert_eq!(t.resolve("rec:FRA").unwrap().kind(), "regional_edge_cache");
        assert_eq!(t.resolve("rec:hio").unwrap().kind(), "regional_edge_cache");
        assert_eq!(t.resolve("HIO").unwrap().kind(), "edge");
        let london = t.resolve("london").unwrap();
        assert_eq!(london.kind(), "city");
        assert_eq!(london.region(), Some("eu-west-2"));
        assert_eq!(t.resolve("Ashburn").unwrap().region(), Some("us-east-1"));
    }

    #[test]
    fn typo_suggests_near_matches() {
        let t = Topology::embedded();
        match t.resolve("eu-wset-1") {
            Err(GeoError::UnknownPlace { suggestions, .. }) => {
                assert!(
                    suggestions.contains(&"eu-west-1".to_string()),
                    "{suggestions:?}"
                );
            }
            other => panic!("expected UnknownPlace, got {other:?}"),
        }
        match t.resolve("Frankfrut") {
            Err(GeoError::UnknownPlace { suggestions, .. }) => {
                assert!(
                    suggestions.contains(&"Frankfurt".to_string()),
                    "{suggestions:?}"
                );
            }
            other => panic!("expected UnknownPlace, got {other:?}"),
        }
    }

    #[test]
    fn bad_rows_are_reported_not_panicked() {
        let bad = "code,name,city,lat,lon,az_count,az_ids,city_basis\nx,X,X,95,0,3,,x\n";
        let error = Topology::from_csv(bad, LOCAL_ZONES_CSV, EDGE_LOCATIONS_CSV).unwrap_err();
        assert!(error.contains("out of range"), "{error}");
        let bad = "code,name,city,lat,lon,az_count,az_ids,city_basis\nx,X,X,abc,0,3,,x\n";
        assert!(Topology::from_csv(bad, "", "").is_err());
    }

    #[test]
    fn each_origin_shield_region_has_a_rec() {
        let t = Topology::embedded();
        for code in [
            "us-east-1",
            "us-east-2",
            "us-west-2",
            "us-west-1",
            "ap-south-1",
            "ap-northeast-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-northeast-1",
            "eu-central-1",
            "eu-west-1",
            "eu-west-2",
            "sa-east-1",
        ] {
            let region = t.region(code).unwrap();
            assert!(t.rec_in_region(region).is_some(), "{code}");
        }
    }
}
