//! The mapping from a CloudFront distribution to a topology file.
//!
//! - **Origin**: edgelab runs one origin (replicas in the Region's AZs). It is the target of
//!   the default behaviour, or that origin group's primary. Its Region is `--origin-region`,
//!   else the Region named in its domain (`bucket.s3.eu-west-1.amazonaws.com`), else its
//!   Origin Shield Region, else `us-east-1` (said so in the output).
//! - **Origin group**: its failover status codes; the emulated group is two AZ replicas of
//!   the one origin. Connection attempts and timeout come from the primary origin, the
//!   response timeout from its `OriginReadTimeout`.
//! - **Behaviours**: in order with their path patterns; cache policies by managed id,
//!   `--cache-policy` files or legacy `ForwardedValues`; origin request policies by managed id
//!   or `--origin-request-policy` files; `Compress`.
//! - **Origin Shield**: on when the emulated origin has it, at the REC of its Region.
//! - **Price class**: the edge locations of the class ([`crate::price_class`]).
//! - **DefaultRootObject**.
//!
//! Everything else that is set is listed as not emulated, never dropped.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use crate::api::{
    CachePolicyDocument, DistributionConfig, DistributionDocument, Origin, OriginGroup,
    OriginRequestPolicyDocument,
};
use crate::origin_request::ForwardPolicy;
use crate::policy::{self, KeyPolicy};
use crate::price_class::PriceClass;
use crate::render::{BehaviorSection, OriginSection, TopologyFile};
use crate::{ImportError, Problem};

/// What the importer is given besides the distribution.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The origin's Region, overriding what the distribution says.
    pub origin_region: Option<String>,
    /// Custom cache policies: `(file name, get-cache-policy JSON)`.
    pub cache_policies: Vec<(String, String)>,
    /// Custom origin request policies: `(file name, get-origin-request-policy JSON)`.
    pub origin_request_policies: Vec<(String, String)>,
}

/// A finished import.
#[derive(Debug, Clone)]
pub struct Import {
    /// The topology file (comment block + TOML).
    pub topology: String,
    /// What edgelab does not emulate, one item each.
    pub not_emulated: Vec<String>,
}

/// CloudFront's defaults for an origin (API Reference, `Origin`).
const CONNECTION_ATTEMPTS: u32 = 3;
const CONNECTION_TIMEOUT_S: u64 = 10;

/// Parses `text` as `T`, errors with the JSON path (`$.A.B[0]`).
pub(crate) fn parse_json<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, ImportError> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|error| {
        let path = json_path(&error.path().to_string());
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => ImportError::Shape {
                file: file.to_string(),
                path,
                message: inner.to_string(),
            },
            _ => ImportError::NotJson {
                file: file.to_string(),
                message: inner.to_string(),
            },
        }
    })
}

fn json_path(serde_path: &str) -> String {
    if serde_path == "." || serde_path.is_empty() {
        "$".to_string()
    } else {
        format!("$.{serde_path}")
    }
}

/// Imports the distribution JSON `text` (named `file` in messages).
pub fn import(text: &str, file: &str, options: &Options) -> Result<Import, ImportError> {
    let document: DistributionDocument = parse_json(text, file)?;
    let (config, root, id) = match (&document.distribution_config, &document.distribution) {
        (Some(config), _) => (config, "$.DistributionConfig", None),
        (None, Some(distribution)) => (
            &distribution.distribution_config,
            "$.Distribution.DistributionConfig",
            distribution.id.clone(),
        ),
        (None, None) => {
            return Err(ImportError::Shape {
                file: file.to_string(),
                path: "$".to_string(),
                message: "expected `DistributionConfig` (aws cloudfront get-distribution-config) \
                          or `Distribution.DistributionConfig` (get-distribution)"
                    .to_string(),
            });
        }
    };
    let custom = custom_policies(&options.cache_policies)?;
    let forwarding = origin_request_policies(&options.origin_request_policies)?;
    let mut mapper = Mapper {
        root,
        custom,
        forwarding,
        problems: Vec::new(),
        mapped: Vec::new(),
        not_emulated: Vec::new(),
    };
    let topology = mapper.topology(config, id.as_deref(), options);
    let (Some(topology), true) = (topology, mapper.problems.is_empty()) else {
        return Err(ImportError::Invalid {
            file: file.to_string(),
            problems: mapper.problems,
        });
    };
    let mut header = vec![format!(
        "Imported by `edgelab import cloudfront` from {file}{}{}.",
        id.map(|id| format!(" (distribution {id})"))
            .unwrap_or_default(),
        document
            .etag
            .map(|etag| format!(", ETag {etag}"))
            .unwrap_or_default()
    )];
    header.push("Mapped:".to_string());
    header.extend(mapper.mapped.iter().map(|line| format!("  {line}")));
    let text = crate::render::render(&topology, &header, &mapper.not_emulated).map_err(|e| {
        ImportError::Invalid {
            file: file.to_string(),
            problems: vec![Problem::new("$", format!("cannot write TOML: {e}"))],
        }
    })?;
    Ok(Import {
        topology: text,
        not_emulated: mapper.not_emulated,
    })
}

/// The `--cache-policy` files by policy id.
fn custom_policies(files: &[(String, String)]) -> Result<BTreeMap<String, KeyPolicy>, ImportError> {
    let mut policies = BTreeMap::new();
    for (file, text) in files {
        let document: CachePolicyDocument = parse_json(text, file)?;
        let policy = policy::custom_cache_policy(&document.cache_policy.cache_policy_config)
            .map_err(|(field, message)| ImportError::Invalid {
                file: file.clone(),
                problems: vec![Problem::new(
                    format!("$.CachePolicy.CachePolicyConfig.{field}"),
                    message,
                )],
            })?;
        policies.insert(document.cache_policy.id.clone(), policy);
    }
    Ok(policies)
}

/// The `--origin-request-policy` files by policy id.
fn origin_request_policies(
    files: &[(String, String)],
) -> Result<BTreeMap<String, ForwardPolicy>, ImportError> {
    let mut policies = BTreeMap::new();
    for (file, text) in files {
        let document: OriginRequestPolicyDocument = parse_json(text, file)?;
        let policy = &document.origin_request_policy;
        let mapped = crate::origin_request::custom(&policy.origin_request_policy_config).map_err(
            |(field, message)| ImportError::Invalid {
                file: file.clone(),
                problems: vec![Problem::new(
                    format!("$.OriginRequestPolicy.OriginRequestPolicyConfig.{field}"),
                    message,
                )],
            },
        )?;
        policies.insert(policy.id.clone(), mapped);
    }
    Ok(policies)
}

struct Mapper {
    /// JSON path of the `DistributionConfig`.
    root: &'static str,
    custom: BTreeMap<String, KeyPolicy>,
    /// Custom origin request policies by id.
    forwarding: BTreeMap<String, ForwardPolicy>,
    problems: Vec<Problem>,
    mapped: Vec<String>,
    not_emulated: Vec<String>,
}

/// The origin edgelab runs and the group it stands in, if any.
struct Target<'a> {
    origin: &'a Origin,
    index: usize,
    group: Option<&'a OriginGroup>,
}

impl Mapper {
    fn path(&self, tail: &str) -> String {
        format!("{}.{tail}", self.root)
    }

    fn problem(&mut self, tail: &str, message: impl Into<String>) {
        let path = self.path(tail);
        self.problems.push(Problem::new(path, message));
    }

    fn topology(
        &mut self,
        config: &DistributionConfig,
        id: Option<&str>,
        options: &Options,
    ) -> Option<TopologyFile> {
        let target = self.target(config);
        let region = target.as_ref().map(|t| self.region(t.origin, options));
        let shield = target.as_ref().map(|t| self.shield(t.origin, t.index));
        let pops = self.pops(config);
        let behaviors: Vec<Option<BehaviorSection>> = config
            .cache_behaviors
            .items()
            .iter()
            .enumerate()
            .map(|(i, b)| self.behavior(b, &format!("CacheBehaviors.Items[{i}]"), &target))
            .collect();
        let default_behavior = self.behavior(
            &config.default_cache_behavior,
            "DefaultCacheBehavior",
            &target,
        );
        self.distribution_notes(config);
        let target = target?;
        let edge = self.edge(config, &target, behaviors, default_behavior?)?;
        let name = id
            .map(str::to_string)
            .or_else(|| config.comment.clone().filter(|c| !c.trim().is_empty()))
            .or_else(|| config.caller_reference.clone())
            .unwrap_or_else(|| "cloudfront".to_string());
        Some(TopologyFile {
            name,
            pops,
            origin: OriginSection {
                name: target.origin.id.clone(),
                region: region??,
            },
            shield: shield??,
            edge,
        })
    }

    /// The default behaviour's target: an origin, or an origin group's primary member.
    fn target<'a>(&mut self, config: &'a DistributionConfig) -> Option<Target<'a>> {
        let wanted = &config.default_cache_behavior.target_origin_id;
        let origins = config.origins.items();
        let find = |id: &str| origins.iter().position(|o| o.id == id);
        if let Some(index) = find(wanted) {
            self.mapped.push(format!(
                "origin: `{wanted}` ({}), the default behaviour's target",
                origins[index].domain_name
            ));
            return Some(Target {
                origin: &origins[index],
                index,
                group: None,
            });
        }
        let groups = config.origin_groups.items();
        let Some((g, group)) = groups.iter().enumerate().find(|(_, g)| &g.id == wanted) else {
            self.problem(
                "DefaultCacheBehavior.TargetOriginId",
                format!("`{wanted}` is neither an origin nor an origin group of the distribution"),
            );
            return None;
        };
        let members = group.members.items();
        let Some(primary) = members.first() else {
            self.problem(
                &format!("OriginGroups.Items[{g}].Members"),
                "has no members",
            );
            return None;
        };
        let Some(index) = find(&primary.origin_id) else {
            self.problem(
                &format!("OriginGroups.Items[{g}].Members.Items[0].OriginId"),
                format!(
                    "`{}` is not an origin of the distribution",
                    primary.origin_id
                ),
            );
            return None;
        };
        self.mapped.push(format!(
            "origin: `{}` ({}), primary of origin group `{wanted}` (the default behaviour's target)",
            primary.origin_id, origins[index].domain_name
        ));
        if let Some(secondary) = members.get(1) {
            self.not_emulated.push(format!(
                "origin group `{wanted}`: secondary `{}` is emulated as the origin's second AZ replica, not as its own origin",
                secondary.origin_id
            ));
        }
        if group.selection_criteria.as_deref() == Some("media-quality-based") {
            self.not_emulated.push(format!(
                "origin group `{wanted}`: media-quality-based selection (edgelab fails over on status and connection only)"
            ));
        }
        Some(Target {
            origin: &origins[index],
            index,
            group: Some(group),
        })
    }

    fn pops(&mut self, config: &DistributionConfig) -> Vec<String> {
        let text = config.price_class.as_deref().unwrap_or("PriceClass_All");
        let Some(class) = PriceClass::parse(text) else {
            self.problem(
                "PriceClass",
                format!(
                    "unknown price class {text:?} (expected PriceClass_100, PriceClass_200 or PriceClass_All)"
                ),
            );
            return Vec::new();
        };
        let geo = edgelab_geo::Topology::embedded();
        let pops: Vec<String> = class.pops(geo).iter().map(|p| p.code.clone()).collect();
        self.mapped.push(format!(
            "price class {}: its {} edge locations",
            class.as_str(),
            pops.len()
        ));
        pops
    }
}

mod edge;
mod notes;
mod place;
