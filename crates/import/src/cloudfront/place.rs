//! Where the origin runs (its Region) and where its Origin Shield sits (the REC of the
//! shield's Region).

use super::Mapper;
use crate::api::Origin;
use crate::render::ShieldSection;

/// The Region code named in an AWS domain (`s3.eu-west-1.amazonaws.com`,
/// `abc.execute-api.us-east-2.amazonaws.com`, `x.lambda-url.ap-south-1.on.aws`, the legacy
/// `s3-website-us-west-2`), if any: a Region code between label or word boundaries.
pub(crate) fn region_in_domain(domain: &str, geo: &edgelab_geo::Topology) -> Option<String> {
    let domain = domain.to_ascii_lowercase();
    let mut codes: Vec<&str> = geo.regions().iter().map(|r| r.code.as_str()).collect();
    // Longest first, so a longer code is never shadowed by a prefix of it.
    codes.sort_by_key(|code| std::cmp::Reverse(code.len()));
    let boundary = |c: Option<char>| c.is_none_or(|c| c == '.' || c == '-');
    codes.into_iter().find_map(|code| {
        domain.match_indices(code).find_map(|(at, _)| {
            let before = domain[..at].chars().next_back();
            let after = domain[at + code.len()..].chars().next();
            (boundary(before) && boundary(after)).then(|| code.to_string())
        })
    })
}

impl Mapper {
    /// The origin's Region: `--origin-region`, the domain, the Origin Shield Region, or
    /// `us-east-1` (each choice said in the output).
    pub(super) fn region(&mut self, origin: &Origin, options: &super::Options) -> Option<String> {
        let geo = edgelab_geo::Topology::embedded();
        if let Some(code) = &options.origin_region {
            if geo.region(code).is_none() {
                self.problems.push(crate::Problem::new(
                    "--origin-region",
                    format!("unknown Region `{code}`"),
                ));
                return None;
            }
            self.mapped
                .push(format!("origin Region: {code} (--origin-region)"));
            return Some(code.clone());
        }
        let domain = &origin.domain_name;
        if let Some(code) = region_in_domain(domain, geo) {
            self.mapped
                .push(format!("origin Region: {code} (from its domain {domain})"));
            return Some(code);
        }
        let shield_region = origin
            .origin_shield
            .as_ref()
            .filter(|s| s.enabled)
            .and_then(|s| s.origin_shield_region.clone())
            .filter(|code| geo.region(code).is_some());
        if let Some(code) = shield_region {
            self.mapped.push(format!(
                "origin Region: {code} (its Origin Shield Region; the domain names none)"
            ));
            return Some(code);
        }
        self.mapped.push(format!(
            "origin Region: us-east-1 (assumed: {domain} names no Region; pass --origin-region)"
        ));
        Some("us-east-1".to_string())
    }

    /// Origin Shield of the emulated origin: on at the REC of its Region, else off.
    pub(super) fn shield(&mut self, origin: &Origin, index: usize) -> Option<ShieldSection> {
        let Some(shield) = origin.origin_shield.as_ref().filter(|s| s.enabled) else {
            self.mapped
                .push("Origin Shield: off (the origin has none)".to_string());
            return Some(ShieldSection {
                enabled: false,
                rec: None,
            });
        };
        let field = format!("Origins.Items[{index}].OriginShield.OriginShieldRegion");
        let Some(code) = &shield.origin_shield_region else {
            self.problem(&field, "Origin Shield is enabled without a Region");
            return None;
        };
        let geo = edgelab_geo::Topology::embedded();
        let Some(region) = geo.region(code) else {
            self.problem(&field, format!("unknown Region `{code}`"));
            return None;
        };
        match geo.rec_in_region(region) {
            Some(rec) => {
                self.mapped.push(format!(
                    "Origin Shield: {code} → the Regional Edge Cache {} ({})",
                    rec.code, rec.city
                ));
                Some(ShieldSection {
                    enabled: true,
                    rec: Some(rec.code.clone()),
                })
            }
            None => {
                self.not_emulated.push(format!(
                    "Origin Shield Region {code}: no Regional Edge Cache in edgelab's data there; the shield is the REC nearest the origin"
                ));
                Some(ShieldSection {
                    enabled: true,
                    rec: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_read_from_aws_domains_only_at_boundaries() {
        let geo = edgelab_geo::Topology::embedded();
        let region = |d: &str| region_in_domain(d, geo);
        assert_eq!(
            region("media.s3.eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region("abc123.execute-api.ap-southeast-2.amazonaws.com").as_deref(),
            Some("ap-southeast-2")
        );
        assert_eq!(
            region("site.s3-website-us-west-2.amazonaws.com").as_deref(),
            Some("us-west-2")
        );
        assert_eq!(region("www.example.com"), None);
        assert_eq!(region("bucket.s3.amazonaws.com"), None);
        assert_eq!(region("xus-east-1y.example.com"), None);
    }
}
