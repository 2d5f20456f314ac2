//! Tiers. A cache node plays one [`Tier`] (edge/PoP, Regional Edge Cache, Origin Shield); the
//! delivery path has one more [`Layer`], the origin, and a response the load generator sees
//! may come from no CDN layer at all. Labels, config words and CloudFront's layer names
//! (`cdn-hit-layer;desc=…`) are spelled here and nowhere else.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The cache tier a node plays. Only labels and headers differ; the caching is the same.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// An edge location (PoP), nearest the users.
    #[default]
    Edge,
    /// A Regional Edge Cache.
    Rec,
    /// The Origin Shield (one REC as the single path to the origin).
    Shield,
}

impl Tier {
    /// Every tier, nearest the users first.
    pub const ALL: [Tier; 3] = [Tier::Edge, Tier::Rec, Tier::Shield];

    /// Label and config word: `edge`, `rec`, `shield`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Edge => "edge",
            Tier::Rec => "rec",
            Tier::Shield => "shield",
        }
    }

    /// CloudFront's name of the layer in `Server-Timing` (`cdn-hit-layer`,
    /// `cdn-upstream-layer`): `EDGE`, `REC`, `Origin Shield`.
    pub fn layer(self) -> &'static str {
        match self {
            Tier::Edge => "EDGE",
            Tier::Rec => "REC",
            Tier::Shield => "Origin Shield",
        }
    }

    /// Parses a config word: `edge` (or `pop`), `rec`, `shield`, in any case.
    pub fn parse(text: &str) -> Option<Tier> {
        match text.trim().to_ascii_lowercase().as_str() {
            "edge" | "pop" => Some(Tier::Edge),
            "rec" => Some(Tier::Rec),
            "shield" => Some(Tier::Shield),
            _ => None,
        }
    }

    /// Parses CloudFront's layer name ([`Tier::layer`]), in any case and quoted or not;
    /// `SHIELD` is taken for the shield too.
    pub fn from_layer(text: &str) -> Option<Tier> {
        match text.trim().trim_matches('"').to_ascii_uppercase().as_str() {
            "EDGE" => Some(Tier::Edge),
            "REC" => Some(Tier::Rec),
            "ORIGIN SHIELD" | "SHIELD" => Some(Tier::Shield),
            _ => None,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not a tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTier(pub String);

impl fmt::Display for UnknownTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not one of edge, rec, shield", self.0)
    }
}

impl std::error::Error for UnknownTier {}

impl FromStr for Tier {
    type Err = UnknownTier;

    fn from_str(text: &str) -> Result<Tier, UnknownTier> {
        Tier::parse(text).ok_or_else(|| UnknownTier(text.to_string()))
    }
}

/// A layer of the delivery path: a cache tier or the origin. As what a load generator sees,
/// [`Layer::None`] is a response that came through no CDN layer (no `X-Cache`); no planned
/// node is ever `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The PoP's cache.
    Edge,
    /// A Regional Edge Cache.
    Rec,
    /// The Origin Shield.
    Shield,
    /// The origin (through the CDN, when a load generator reports it).
    Origin,
    /// Not through a CDN.
    None,
}

impl Layer {
    /// Every layer, in report order (nearest the users first).
    pub const ALL: [Layer; 5] = [
        Layer::Edge,
        Layer::Rec,
        Layer::Shield,
        Layer::Origin,
        Layer::None,
    ];

    /// Label used in tables, reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Edge => "edge",
            Layer::Rec => "rec",
            Layer::Shield => "shield",
            Layer::Origin => "origin",
            Layer::None => "none",
        }
    }

    /// The cache tier, for the three cache layers.
    pub fn tier(self) -> Option<Tier> {
        match self {
            Layer::Edge => Some(Tier::Edge),
            Layer::Rec => Some(Tier::Rec),
            Layer::Shield => Some(Tier::Shield),
            Layer::Origin | Layer::None => None,
        }
    }
}

impl From<Tier> for Layer {
    fn from(tier: Tier) -> Layer {
        match tier {
            Tier::Edge => Layer::Edge,
            Tier::Rec => Layer::Rec,
            Tier::Shield => Layer::Shield,
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_layer_names_round_trip() {
        for tier in Tier::ALL {
            assert_eq!(Tier::parse(tier.as_str()), Some(tier));
            assert_eq!(tier.as_str().parse::<Tier>(), Ok(tier));
            assert_eq!(Tier::from_layer(tier.layer()), Some(tier));
            assert_eq!(Layer::from(tier).tier(), Some(tier));
            assert_eq!(Layer::from(tier).as_str(), tier.as_str());
        }
        assert_eq!(Tier::parse("POP"), Some(Tier::Edge));
        assert_eq!(Tier::from_layer("\"origin shield\""), Some(Tier::Shield));
        assert_eq!(Tier::from_layer("Origin"), None);
        assert_eq!(
            "mid".parse::<Tier>().unwrap_err().to_string(),
            "\"mid\" is not one of edge, rec, shield"
        );
    }

    #[test]
    fn layers_serialise_as_their_labels() {
        for layer in Layer::ALL {
            let json = serde_json::to_string(&layer).unwrap();
            assert_eq!(json, format!("\"{}\"", layer.as_str()));
            assert_eq!(serde_json::from_str::<Layer>(&json).unwrap(), layer);
        }
        assert_eq!(serde_json::to_string(&Tier::Shield).unwrap(), "\"shield\"");
    }
}
