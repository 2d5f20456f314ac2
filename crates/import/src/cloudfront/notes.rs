//! What edgelab does not emulate, found in the distribution: each setting that is on (or
//! not at its default) and has no counterpart in a topology is listed, with where it is.

use super::edge::label;
use super::{Mapper, Target};
use crate::api::{CacheBehavior, DistributionConfig, Extra, Origin};

impl Mapper {
    fn note(&mut self, text: String) {
        self.not_emulated.push(text);
    }

    fn extras(&mut self, extra: &Extra, place: &str) {
        for (name, value) in extra {
            let unset = value.is_null()
                || value == &serde_json::Value::Bool(false)
                || value.as_str() == Some("")
                || value.get("Quantity").and_then(|q| q.as_u64()) == Some(0)
                || value.get("Enabled") == Some(&serde_json::Value::Bool(false));
            if !unset {
                self.note(format!(
                    "{place}: `{name}` is not understood by the importer"
                ));
            }
        }
    }

    /// Per-behaviour settings without a counterpart.
    pub(super) fn behavior_notes(
        &mut self,
        behavior: &CacheBehavior,
        field: &str,
        target: &Option<Target<'_>>,
    ) {
        let name = label(behavior);
        let lambdas = behavior.lambda_function_associations.items().len();
        if lambdas > 0 {
            self.note(format!("{name}: Lambda@Edge ({lambdas} association(s))"));
        }
        let functions = behavior.function_associations.items().len();
        if functions > 0 {
            self.note(format!(
                "{name}: CloudFront Functions ({functions} association(s))"
            ));
        }
        let signed = behavior.trusted_signers.as_ref().is_some_and(|t| t.enabled)
            || behavior
                .trusted_key_groups
                .as_ref()
                .is_some_and(|t| t.enabled);
        if signed {
            self.note(format!(
                "{name}: signed URLs / signed cookies (trusted signers or key groups)"
            ));
        }
        let set = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.is_empty());
        if set(&behavior.field_level_encryption_id) {
            self.note(format!("{name}: field-level encryption"));
        }
        if set(&behavior.realtime_log_config_arn) {
            self.note(format!("{name}: real-time logs"));
        }
        if set(&behavior.response_headers_policy_id) {
            self.note(format!("{name}: response headers policy"));
        }
        if behavior.smooth_streaming == Some(true) {
            self.note(format!("{name}: Smooth Streaming"));
        }
        if let Some(policy) = behavior
            .viewer_protocol_policy
            .as_deref()
            .filter(|p| *p != "allow-all")
        {
            self.note(format!(
                "{name}: viewer protocol policy {policy} (viewers speak plain HTTP to edgelab)"
            ));
        }
        self.method_notes(behavior, &name);
        if let Some(target) = target {
            let emulated = target.group.map_or(&target.origin.id, |g| &g.id);
            if &behavior.target_origin_id != emulated {
                self.note(format!(
                    "{name}: targets `{}`; edgelab runs one origin, so it goes to `{}`",
                    behavior.target_origin_id, target.origin.id
                ));
            }
        }
        let extra = behavior.extra.clone();
        self.extras(&extra, field);
    }

    fn method_notes(&mut self, behavior: &CacheBehavior, name: &str) {
        let Some(methods) = &behavior.allowed_methods else {
            return;
        };
        if methods.items.len() < 7 {
            self.note(format!(
                "{name}: allowed methods {:?} (edgelab forwards every method; CloudFront answers 403 to others)",
                methods.items
            ));
        }
        let cached = methods.cached_methods.as_ref().map(|c| c.items());
        if cached.is_some_and(|c| c.iter().any(|m| m == "OPTIONS")) {
            self.note(format!(
                "{name}: OPTIONS responses cached (edgelab caches GET and HEAD only)"
            ));
        }
    }

    /// Distribution-wide and origin settings without a counterpart.
    pub(super) fn distribution_notes(&mut self, config: &DistributionConfig) {
        let aliases = config.aliases.items();
        if !aliases.is_empty() {
            self.note(format!(
                "alternate domain names {aliases:?} (DNS, certificates)"
            ));
        }
        if config.viewer_certificate.is_some() {
            self.note(
                "viewer certificate: real TLS and certificates (edgelab serves plain HTTP)".into(),
            );
        }
        if config.web_acl_id.as_deref().is_some_and(|w| !w.is_empty()) {
            self.note("AWS WAF web ACL".into());
        }
        let geo = config.restrictions.as_ref().map(|r| &r.geo_restriction);
        if let Some(geo) = geo.filter(|g| g.restriction_type != "none") {
            self.note(format!(
                "geo restriction ({}, {} countries)",
                geo.restriction_type, geo.quantity
            ));
        }
        if config.logging.as_ref().is_some_and(|l| l.enabled) {
            self.note("standard logging to S3 (edgelab has metrics and reports instead)".into());
        }
        if let Some(version) = config.http_version.as_deref().filter(|v| v.contains('3')) {
            self.note(format!(
                "HTTP version {version}: HTTP/3 (edgelab serves HTTP/1.1 and h2c)"
            ));
        }
        let continuous = config.continuous_deployment_policy_id.as_deref();
        if continuous.is_some_and(|c| !c.is_empty()) || config.staging == Some(true) {
            self.note("continuous deployment / staging distribution".into());
        }
        if config.enabled == Some(false) {
            self.note("the distribution is disabled; the topology runs it anyway".into());
        }
        for (i, origin) in config.origins.items().iter().enumerate() {
            self.origin_notes(origin, i);
        }
        let extra = config.extra.clone();
        self.extras(&extra, self.root);
    }

    fn origin_notes(&mut self, origin: &Origin, index: usize) {
        let name = format!("origin `{}`", origin.id);
        let set = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.is_empty());
        if set(&origin.origin_path) {
            self.note(format!(
                "{name}: origin path {:?} (not prefixed)",
                origin.origin_path.as_deref().unwrap_or_default()
            ));
        }
        let headers = origin.custom_headers.items().len();
        if headers > 0 {
            self.note(format!("{name}: {headers} custom origin header(s)"));
        }
        let oai = origin
            .s3_origin_config
            .as_ref()
            .and_then(|s| s.get("OriginAccessIdentity"))
            .and_then(|v| v.as_str())
            .is_some_and(|v| !v.is_empty());
        if set(&origin.origin_access_control_id) || oai {
            self.note(format!(
                "{name}: origin access control / identity (signed origin requests)"
            ));
        }
        if let Some(custom) = &origin.custom_origin_config {
            let policy = custom.origin_protocol_policy.as_deref().unwrap_or("");
            if policy != "http-only" && !policy.is_empty() {
                self.note(format!(
                    "{name}: origin protocol {policy} (edgelab's origin speaks plain HTTP)"
                ));
            }
            if custom.origin_keepalive_timeout.is_some_and(|t| t != 5) {
                self.note(format!("{name}: origin keep-alive timeout"));
            }
        }
        if origin.vpc_origin_config.is_some() {
            self.note(format!("{name}: VPC origin"));
        }
        if origin.response_completion_timeout.is_some_and(|t| t > 0) {
            self.note(format!("{name}: response completion timeout"));
        }
        let extra = origin.extra.clone();
        self.extras(&extra, &format!("Origins.Items[{index}]"));
    }
}
