//! Price classes → the edge locations a distribution uses.
//!
//! The Amazon CloudFront Developer Guide ("Choose the price class for a CloudFront
//! distribution") groups edge locations into geographic regions and the regions into price
//! classes:
//!
//! | region | `PriceClass_100` | `PriceClass_200` | `PriceClass_All` |
//! |---|---|---|---|
//! | North America (United States, Mexico, Canada) | yes | yes | yes |
//! | Europe and Israel | yes | yes | yes |
//! | South Africa, Kenya, Middle East | | yes | yes |
//! | Japan | | yes | yes |
//! | Hong Kong, Indonesia, Philippines, Singapore, South Korea, Taiwan, Thailand | | yes | yes |
//! | India | | yes | yes |
//! | South America | | | yes |
//! | Australia and New Zealand | | | yes |
//!
//! Countries of `edgelab-geo`'s edge locations that the table does not name (Malaysia,
//! Vietnam, Nigeria, Egypt, Türkiye) are in `PriceClass_200`, as the AWS CDK's `PriceClass`
//! documentation (v2) lists them. The China edge locations (PEK, PVG, SZX, ZHY) belong to
//! CloudFront's separate China network and are in no price class of a global distribution.

use edgelab_geo::Pop;

/// A distribution's price class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceClass {
    /// The least expensive regions.
    Class100,
    /// Most regions.
    Class200,
    /// Every edge location (the API default).
    All,
}

impl PriceClass {
    /// Parses the API value (`PriceClass_100`, `PriceClass_200`, `PriceClass_All`).
    pub fn parse(text: &str) -> Option<PriceClass> {
        match text {
            "PriceClass_100" => Some(PriceClass::Class100),
            "PriceClass_200" => Some(PriceClass::Class200),
            "PriceClass_All" => Some(PriceClass::All),
            _ => None,
        }
    }

    /// The API value.
    pub fn as_str(self) -> &'static str {
        match self {
            PriceClass::Class100 => "PriceClass_100",
            PriceClass::Class200 => "PriceClass_200",
            PriceClass::All => "PriceClass_All",
        }
    }

    /// Whether this class uses edge locations in `country` (ISO 3166 alpha-2).
    pub fn includes(self, country: &str) -> bool {
        match country_class(country) {
            Some(needed) => self.rank() >= needed.rank(),
            None => false,
        }
    }

    fn rank(self) -> u8 {
        match self {
            PriceClass::Class100 => 0,
            PriceClass::Class200 => 1,
            PriceClass::All => 2,
        }
    }

    /// The edge locations (kind `edge`) of this class, in the data's order.
    pub fn pops(self, geo: &edgelab_geo::Topology) -> Vec<&Pop> {
        geo.edges()
            .filter(|pop| self.includes(&pop.country))
            .collect()
    }
}

const NORTH_AMERICA: &[&str] = &["US", "CA", "MX"];
const EUROPE_AND_ISRAEL: &[&str] = &[
    "AT", "BE", "BG", "CH", "CZ", "DE", "DK", "ES", "FI", "FR", "GB", "GR", "HR", "HU", "IE", "IT",
    "NL", "NO", "PL", "PT", "RO", "SE", "IL",
];
const CLASS_200: &[&str] = &[
    // South Africa, Kenya, Middle East
    "ZA", "KE", "AE", "BH", "OM", "QA", "SA", // Japan
    "JP", // Hong Kong, Indonesia, Philippines, Singapore, South Korea, Taiwan, Thailand
    "HK", "ID", "PH", "SG", "KR", "TW", "TH", // India
    "IN", // named by the AWS CDK's PriceClass_200
    "MY", "VN", "NG", "EG", "TR",
];
const CLASS_ALL: &[&str] = &[
    // South America
    "AR", "BR", "CL", "CO", "PE", // Australia and New Zealand
    "AU", "NZ",
];

/// The cheapest class that includes `country`; `None` for countries outside the global
/// network (China).
fn country_class(country: &str) -> Option<PriceClass> {
    if NORTH_AMERICA.contains(&country) || EUROPE_AND_ISRAEL.contains(&country) {
        Some(PriceClass::Class100)
    } else if CLASS_200.contains(&country) {
        Some(PriceClass::Class200)
    } else if CLASS_ALL.contains(&country) {
        Some(PriceClass::All)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_edge_location_outside_china_has_a_class() {
        let geo = edgelab_geo::Topology::embedded();
        for pop in geo.edges() {
            assert_eq!(
                country_class(&pop.country).is_none(),
                pop.country == "CN",
                "{} ({})",
                pop.code,
                pop.country
            );
        }
    }

    #[test]
    fn classes_nest_and_follow_the_guides_table() {
        let geo = edgelab_geo::Topology::embedded();
        let codes = |class: PriceClass| -> Vec<String> {
            class.pops(geo).iter().map(|p| p.code.clone()).collect()
        };
        let (c100, c200, all) = (
            codes(PriceClass::Class100),
            codes(PriceClass::Class200),
            codes(PriceClass::All),
        );
        assert!(c100.iter().all(|c| c200.contains(c)));
        assert!(c200.iter().all(|c| all.contains(c)));
        assert!(c100.contains(&"FRA".to_string()) && c100.contains(&"IAD".to_string()));
        assert!(c100.contains(&"TLV".to_string()), "Israel is with Europe");
        assert!(!c100.contains(&"NRT".to_string()) && c200.contains(&"NRT".to_string()));
        assert!(c200.contains(&"BOM".to_string()), "India is in 200");
        assert!(!c200.contains(&"GRU".to_string()) && all.contains(&"GRU".to_string()));
        assert!(!c200.contains(&"SYD".to_string()) && all.contains(&"SYD".to_string()));
        assert!(
            !all.contains(&"PEK".to_string()),
            "China network is separate"
        );
        assert_eq!(
            PriceClass::parse("PriceClass_200"),
            Some(PriceClass::Class200)
        );
        assert_eq!(PriceClass::parse("PriceClass_300"), None);
    }
}
