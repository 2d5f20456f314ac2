//! The `[edge]` section: the origin group's failover and timeouts, the behaviours with their
//! cache and origin request policies, compression and the default root object.

use super::{CONNECTION_ATTEMPTS, CONNECTION_TIMEOUT_S, Mapper, Target};
use crate::api::{CacheBehavior, CustomErrorResponse, DistributionConfig};
use crate::policy::{self, KeyPolicy};
use crate::render::{
    BehaviorSection, CachePolicySection, CustomErrorSection, EdgeSection, OriginRequestSection,
};

/// How a behaviour is named in the output.
pub(super) fn label(behavior: &CacheBehavior) -> String {
    match &behavior.path_pattern {
        Some(pattern) => format!("behaviour `{pattern}`"),
        None => "default behaviour".to_string(),
    }
}

impl Mapper {
    /// `[edge]` from the target origin (and group) and the mapped behaviours.
    pub(super) fn edge(
        &mut self,
        config: &DistributionConfig,
        target: &Target<'_>,
        behaviors: Vec<Option<BehaviorSection>>,
        default_behavior: BehaviorSection,
    ) -> Option<EdgeSection> {
        let (origin, index) = (target.origin, target.index);
        let failover_status_codes = match target.group {
            Some(group) => {
                let codes = group.failover_criteria.status_codes.items().to_vec();
                self.mapped.push(format!(
                    "origin group `{}`: fails over on {codes:?} and on connection failure",
                    group.id
                ));
                codes
            }
            None => {
                self.mapped.push(
                    "no origin group: no failover on status (edgelab still tries the second AZ replica when a connection fails)"
                        .to_string(),
                );
                Vec::new()
            }
        };
        let attempts = origin.connection_attempts.unwrap_or(CONNECTION_ATTEMPTS);
        if !(1..=3).contains(&attempts) {
            let field = format!("Origins.Items[{index}].ConnectionAttempts");
            self.problem(&field, format!("{attempts} is not 1, 2 or 3"));
        }
        let timeout = origin.connection_timeout.unwrap_or(CONNECTION_TIMEOUT_S);
        if !(1..=10).contains(&timeout) {
            let field = format!("Origins.Items[{index}].ConnectionTimeout");
            self.problem(&field, format!("{timeout} s is not between 1 and 10"));
        }
        let read_timeout = origin
            .custom_origin_config
            .as_ref()
            .and_then(|c| c.origin_read_timeout);
        self.mapped.push(format!(
            "origin connections: {attempts} attempts x {timeout} s{}",
            read_timeout
                .map(|t| format!(", response timeout {t} s"))
                .unwrap_or_default()
        ));
        let default_root_object = config
            .default_root_object
            .clone()
            .filter(|root| !root.is_empty());
        if let Some(root) = &default_root_object {
            self.mapped.push(format!("DefaultRootObject: {root}"));
        }
        let custom_error_responses = config
            .custom_error_responses
            .items()
            .iter()
            .enumerate()
            .map(|(i, response)| self.custom_error(response, i))
            .collect();
        let behaviors: Option<Vec<BehaviorSection>> = behaviors.into_iter().collect();
        Some(EdgeSection {
            default_root_object,
            failover_status_codes,
            connection_attempts: attempts,
            connection_timeout: format!("{timeout}s"),
            response_timeout: read_timeout.map(|t| format!("{t}s")),
            custom_error_responses,
            behaviors: behaviors?,
            default_behavior,
        })
    }

    /// One custom error response, as `[[edge.custom_error_responses]]` (the edge validates the
    /// codes and pairs and reports them under `edge.custom_error_responses[i]`; a response code
    /// that is not a number is reported here with its JSON path).
    fn custom_error(&mut self, response: &CustomErrorResponse, index: usize) -> CustomErrorSection {
        let field = format!("CustomErrorResponses.Items[{index}]");
        let page = response
            .response_page_path
            .clone()
            .filter(|path| !path.is_empty());
        let code = response.response_code.as_deref().filter(|c| !c.is_empty());
        let response_code = code.and_then(|code| match code.parse::<u16>() {
            Ok(code) => Some(code),
            Err(_) => {
                let message = format!("`{code}` is not an HTTP status code");
                self.problem(&format!("{field}.ResponseCode"), message);
                None
            }
        });
        let ttl = response.error_caching_min_ttl;
        self.mapped.push(format!(
            "custom error response for {}: {}{}",
            response.error_code,
            match (&page, response_code) {
                (Some(page), Some(code)) => format!("page {page} served as {code}"),
                _ => "no page".to_string(),
            },
            ttl.map(|t| format!(", error caching minimum TTL {t} s"))
                .unwrap_or_default()
        ));
        CustomErrorSection {
            error_code: response.error_code,
            error_caching_min_ttl: ttl.map(|t| format!("{t}s")),
            response_page_path: page,
            response_code,
        }
    }

    /// One behaviour (`field` is its JSON path below the config).
    pub(super) fn behavior(
        &mut self,
        behavior: &CacheBehavior,
        field: &str,
        target: &Option<Target<'_>>,
    ) -> Option<BehaviorSection> {
        let default = field == "DefaultCacheBehavior";
        let path_pattern = match (&behavior.path_pattern, default) {
            (_, true) => None,
            (Some(pattern), false) if !pattern.is_empty() => Some(pattern.clone()),
            _ => {
                self.problem(&format!("{field}.PathPattern"), "is required and non-empty");
                None
            }
        };
        self.behavior_notes(behavior, field, target);
        let policy = self.key_policy(behavior, field)?;
        let compress = behavior.compress.unwrap_or(false);
        let name = label(behavior);
        if compress && policy.gzip && !policy.brotli {
            self.not_emulated.push(format!(
                "{name}: the cache policy keys gzip only; edgelab compresses with gzip and brotli"
            ));
        }
        let origin_request = self.origin_request(behavior, field);
        let cache_policy = CachePolicySection::new(&policy, compress);
        self.mapped.push(format!(
            "{name}: cache policy {}, compress {}{}",
            policy.name,
            if cache_policy.compress { "on" } else { "off" },
            origin_request
                .as_ref()
                .map(|(_, name)| format!(", origin request policy {name}"))
                .unwrap_or_default()
        ));
        let origin_request = origin_request.map(|(section, _)| section);
        if !default && path_pattern.is_none() {
            return None;
        }
        Some(BehaviorSection {
            path_pattern,
            cache_policy,
            origin_request,
        })
    }

    /// The behaviour's cache policy: managed by id, a `--cache-policy` file, or the legacy
    /// settings.
    fn key_policy(&mut self, behavior: &CacheBehavior, field: &str) -> Option<KeyPolicy> {
        let name = label(behavior);
        let policy = match behavior
            .cache_policy_id
            .as_deref()
            .filter(|id| !id.is_empty())
        {
            Some(id) => {
                match policy::managed_cache_policy(id).or_else(|| self.custom.get(id).cloned()) {
                    Some(policy) => policy,
                    None => {
                        self.problem(
                        &format!("{field}.CachePolicyId"),
                        format!(
                            "unknown cache policy id `{id}`: not a managed cache policy and not in a \
                             --cache-policy file (save `aws cloudfront get-cache-policy --id {id}` and pass it \
                             with --cache-policy FILE)"
                        ),
                    );
                        return None;
                    }
                }
            }
            None => {
                let ttls = (behavior.min_ttl, behavior.default_ttl, behavior.max_ttl);
                match policy::legacy_cache_policy(behavior.forwarded_values.as_ref(), ttls) {
                    Ok(policy) => policy,
                    Err((tail, message)) => {
                        self.problem(&format!("{field}.{tail}"), message);
                        return None;
                    }
                }
            }
        };
        for approximation in &policy.approximations {
            self.not_emulated.push(format!("{name}: {approximation}"));
        }
        Some(policy)
    }

    /// The behaviour's origin request policy: managed by id or an `--origin-request-policy`
    /// file; with its name for the summary.
    fn origin_request(
        &mut self,
        behavior: &CacheBehavior,
        field: &str,
    ) -> Option<(OriginRequestSection, String)> {
        let id = behavior
            .origin_request_policy_id
            .as_deref()
            .filter(|id| !id.is_empty())?;
        let Some(policy) =
            crate::origin_request::managed(id).or_else(|| self.forwarding.get(id).cloned())
        else {
            self.problem(
                &format!("{field}.OriginRequestPolicyId"),
                format!(
                    "unknown origin request policy id `{id}`: not a managed origin request policy \
                     edgelab maps and not in an --origin-request-policy file (save `aws cloudfront \
                     get-origin-request-policy --id {id}` and pass it with --origin-request-policy \
                     FILE; the managed HostHeaderOnly policy is not mapped by id either: its id \
                     could not be checked against the Developer Guide, so pass its file too)"
                ),
            );
            return None;
        };
        let name = label(behavior);
        for approximation in &policy.approximations {
            self.not_emulated.push(format!(
                "{name}: origin request policy {}: {approximation}",
                policy.name
            ));
        }
        Some((OriginRequestSection::new(&policy), policy.name))
    }
}
