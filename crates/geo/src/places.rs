//! Typed places: Regions, Availability Zones, Local Zones, PoPs (edge locations and Regional
//! Edge Caches) and cities, and the [`Place`] a name resolves to.

use std::fmt;

/// A point on Earth in WGS84 decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Coordinates {
    /// Latitude, degrees north (−90 to 90).
    pub lat: f64,
    /// Longitude, degrees east (−180 to 180).
    pub lon: f64,
}

impl Coordinates {
    /// A point from latitude and longitude in degrees.
    pub const fn new(lat: f64, lon: f64) -> Self {
        Coordinates { lat, lon }
    }

    /// Whether both values are finite and within their ranges.
    pub fn is_valid(&self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
    }
}

impl fmt::Display for Coordinates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.4},{:.4}", self.lat, self.lon)
    }
}

/// An AWS Region: an independent group of data centres at a city (e.g. `eu-west-2`, London).
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Region code, e.g. `eu-west-2`.
    pub code: String,
    /// Display name, e.g. `Europe (London)`.
    pub name: String,
    /// City the Region is placed at (see `data/SOURCES.md` for the basis of each).
    pub city: String,
    /// City-centre coordinates.
    pub coordinates: Coordinates,
    /// Number of Availability Zones.
    pub az_count: u32,
    /// Availability Zone ids (e.g. `euw2-az1`); empty where not public.
    pub az_ids: Vec<String>,
}

/// An Availability Zone: an isolated site inside a Region (placed at the Region's city).
#[derive(Debug, Clone, PartialEq)]
pub struct AvailabilityZone {
    /// AZ id, e.g. `use1-az4`.
    pub id: String,
    /// The Region that holds it.
    pub region: String,
    /// The Region's city.
    pub city: String,
    /// The Region's coordinates (AZ sites are not public).
    pub coordinates: Coordinates,
}

/// A Local Zone: an extension of a Region in another city (e.g. `us-west-2-lax-1`).
#[derive(Debug, Clone, PartialEq)]
pub struct LocalZone {
    /// Local Zone group code, e.g. `us-west-2-lax-1`.
    pub code: String,
    /// The parent Region's code.
    pub parent_region: String,
    /// City.
    pub city: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// City-centre coordinates.
    pub coordinates: Coordinates,
    /// Zone names and ids (`us-west-2-lax-1a=usw2-lax1-az1`), where known.
    pub zone_ids: Vec<String>,
}

/// The kind of a CloudFront location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PopKind {
    /// An edge location, close to users.
    Edge,
    /// A Regional Edge Cache: the larger tier between edges and the origin.
    RegionalEdgeCache,
}

impl PopKind {
    /// The name used in the data file and on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            PopKind::Edge => "edge",
            PopKind::RegionalEdgeCache => "regional_edge_cache",
        }
    }
}

/// A CloudFront location (edge or Regional Edge Cache), identified by an IATA code.
///
/// A city that is both an edge and a REC has two rows with the same code; the REC is named
/// `rec:<CODE>` (see [`Pop::key`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Pop {
    /// IATA code, e.g. `FRA`.
    pub code: String,
    /// City.
    pub city: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// Airport coordinates.
    pub coordinates: Coordinates,
    /// Edge or REC.
    pub kind: PopKind,
}

impl Pop {
    /// The unique name of this row: the code for an edge, `rec:<CODE>` for a REC.
    pub fn key(&self) -> String {
        match self.kind {
            PopKind::Edge => self.code.clone(),
            PopKind::RegionalEdgeCache => format!("rec:{}", self.code),
        }
    }

    /// Whether this is a Regional Edge Cache.
    pub fn is_rec(&self) -> bool {
        self.kind == PopKind::RegionalEdgeCache
    }
}

/// A city named by the user (a client place): a name and a position.
#[derive(Debug, Clone, PartialEq)]
pub struct City {
    /// City name as found in the data.
    pub name: String,
    /// ISO country code where known.
    pub country: Option<String>,
    /// Position (the Region's, PoP's or Local Zone's in that city).
    pub coordinates: Coordinates,
    /// The Region at this city, if any.
    pub region: Option<String>,
}

/// Anything a name can resolve to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Place<'t> {
    /// A Region.
    Region(&'t Region),
    /// An Availability Zone.
    AvailabilityZone(&'t AvailabilityZone),
    /// A Local Zone.
    LocalZone(&'t LocalZone),
    /// An edge location or Regional Edge Cache.
    Pop(&'t Pop),
    /// A city (client place).
    City(&'t City),
}

impl Place<'_> {
    /// The place's code: Region code, AZ id, Local Zone code, PoP key (`FRA`, `rec:FRA`) or
    /// city name.
    pub fn code(&self) -> String {
        match self {
            Place::Region(r) => r.code.clone(),
            Place::AvailabilityZone(az) => az.id.clone(),
            Place::LocalZone(lz) => lz.code.clone(),
            Place::Pop(p) => p.key(),
            Place::City(c) => c.name.clone(),
        }
    }

    /// The city the place is in.
    pub fn city(&self) -> &str {
        match self {
            Place::Region(r) => &r.city,
            Place::AvailabilityZone(az) => &az.city,
            Place::LocalZone(lz) => &lz.city,
            Place::Pop(p) => &p.city,
            Place::City(c) => &c.name,
        }
    }

    /// Where the place is.
    pub fn coordinates(&self) -> Coordinates {
        match self {
            Place::Region(r) => r.coordinates,
            Place::AvailabilityZone(az) => az.coordinates,
            Place::LocalZone(lz) => lz.coordinates,
            Place::Pop(p) => p.coordinates,
            Place::City(c) => c.coordinates,
        }
    }

    /// The Region code the place belongs to, where that is meaningful (Region, AZ, Local
    /// Zone's parent, a city that hosts a Region).
    pub fn region(&self) -> Option<&str> {
        match self {
            Place::Region(r) => Some(&r.code),
            Place::AvailabilityZone(az) => Some(&az.region),
            Place::LocalZone(lz) => Some(&lz.parent_region),
            Place::Pop(_) => None,
            Place::City(c) => c.region.as_deref(),
        }
    }

    /// A short word for the kind of place (`region`, `az`, `local_zone`, `edge`,
    /// `regional_edge_cache`, `city`).
    pub fn kind(&self) -> &'static str {
        match self {
            Place::Region(_) => "region",
            Place::AvailabilityZone(_) => "az",
            Place::LocalZone(_) => "local_zone",
            Place::Pop(p) => p.kind.as_str(),
            Place::City(_) => "city",
        }
    }
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::City(c) => write!(f, "{}", c.name),
            Place::AvailabilityZone(az) => write!(f, "{} ({})", az.id, az.region),
            other => write!(f, "{} ({})", other.code(), other.city()),
        }
    }
}
