//! The CloudFront API shapes the importer reads, as the AWS CLI prints them (JSON, PascalCase
//! names, lists as `{"Quantity": n, "Items": [...]}`), from the CloudFront API Reference
//! (`DistributionConfig`, `Origin`, `OriginGroup`, `CacheBehavior`, `CachePolicyConfig`).
//!
//! Fields the importer understands are typed; every other field of a distribution, origin or
//! behaviour is kept in an `extra` map so that the import can list it as not understood
//! instead of dropping it silently.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// Fields not modelled here, by name (listed in the output as not understood).
pub type Extra = BTreeMap<String, Value>;

/// A CloudFront list: `Quantity` and, when it is above 0, `Items`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct List<T> {
    /// Number of items.
    pub quantity: u32,
    /// The items (absent when `Quantity` is 0).
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List {
            quantity: 0,
            items: Vec::new(),
        }
    }
}

impl<T> List<T> {
    /// The items (`Items` is authoritative when `Quantity` disagrees).
    pub fn items(&self) -> &[T] {
        &self.items
    }
}

/// What `get-distribution-config` prints (`DistributionConfig` + `ETag`) or what
/// `get-distribution` prints (`Distribution.DistributionConfig`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DistributionDocument {
    /// Version of the configuration.
    #[serde(rename = "ETag")]
    pub etag: Option<String>,
    /// `get-distribution-config` output.
    pub distribution_config: Option<DistributionConfig>,
    /// `get-distribution` output.
    pub distribution: Option<Distribution>,
}

/// A distribution as `get-distribution` prints it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Distribution {
    /// Distribution id (`E2QWRUHAPOMQZL`).
    pub id: Option<String>,
    /// Its domain (`d111111abcdef8.cloudfront.net`).
    pub domain_name: Option<String>,
    /// The configuration.
    pub distribution_config: DistributionConfig,
}

/// `DistributionConfig`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DistributionConfig {
    /// Unique reference given when the distribution was created.
    pub caller_reference: Option<String>,
    /// Alternate domain names (CNAMEs).
    #[serde(default)]
    pub aliases: List<String>,
    /// Object returned for a request to `/`.
    pub default_root_object: Option<String>,
    /// Origins.
    pub origins: List<Origin>,
    /// Origin groups (failover).
    #[serde(default)]
    pub origin_groups: List<OriginGroup>,
    /// The default cache behaviour.
    pub default_cache_behavior: CacheBehavior,
    /// Ordered cache behaviours.
    #[serde(default)]
    pub cache_behaviors: List<CacheBehavior>,
    /// Custom error responses.
    #[serde(default)]
    pub custom_error_responses: List<CustomErrorResponse>,
    /// Free-text comment.
    pub comment: Option<String>,
    /// Standard logging.
    pub logging: Option<Logging>,
    /// `PriceClass_100`, `PriceClass_200` or `PriceClass_All`.
    pub price_class: Option<String>,
    /// Whether the distribution accepts requests.
    pub enabled: Option<bool>,
    /// TLS certificate settings.
    pub viewer_certificate: Option<Value>,
    /// Geo restriction.
    pub restrictions: Option<Restrictions>,
    /// AWS WAF web ACL.
    #[serde(rename = "WebACLId")]
    pub web_acl_id: Option<String>,
    /// `http1.1`, `http2`, `http3`, `http2and3`.
    pub http_version: Option<String>,
    /// IPv6 on.
    #[serde(rename = "IsIPV6Enabled")]
    pub is_ipv6_enabled: Option<bool>,
    /// Continuous deployment policy.
    pub continuous_deployment_policy_id: Option<String>,
    /// A staging distribution.
    pub staging: Option<bool>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `LoggingConfig`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Logging {
    /// Standard logs on.
    pub enabled: bool,
}

/// `Restrictions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Restrictions {
    /// Geo restriction.
    pub geo_restriction: GeoRestriction,
}

/// `GeoRestriction`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GeoRestriction {
    /// `none`, `whitelist` or `blacklist`.
    pub restriction_type: String,
    /// Number of countries.
    #[serde(default)]
    pub quantity: u32,
}

/// `Origin`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Origin {
    /// Origin id, referenced by behaviours and groups.
    pub id: String,
    /// Domain name (`bucket.s3.eu-west-1.amazonaws.com`, `api.example.com`).
    pub domain_name: String,
    /// Path prefix added to every origin request.
    pub origin_path: Option<String>,
    /// Headers added to origin requests.
    #[serde(default)]
    pub custom_headers: List<Value>,
    /// Amazon S3 origin settings.
    pub s3_origin_config: Option<Value>,
    /// Custom origin settings.
    pub custom_origin_config: Option<CustomOriginConfig>,
    /// VPC origin settings.
    pub vpc_origin_config: Option<Value>,
    /// Connection attempts (1 to 3, default 3).
    pub connection_attempts: Option<u32>,
    /// Seconds per connection attempt (1 to 10, default 10).
    pub connection_timeout: Option<u64>,
    /// Seconds allowed for the whole response.
    pub response_completion_timeout: Option<u64>,
    /// Origin Shield.
    pub origin_shield: Option<OriginShield>,
    /// Origin access control (signed requests to S3 and others).
    pub origin_access_control_id: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `CustomOriginConfig`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomOriginConfig {
    /// HTTP port.
    #[serde(rename = "HTTPPort")]
    pub http_port: Option<u16>,
    /// HTTPS port.
    #[serde(rename = "HTTPSPort")]
    pub https_port: Option<u16>,
    /// `http-only`, `match-viewer`, `https-only`.
    pub origin_protocol_policy: Option<String>,
    /// Seconds CloudFront waits for a response (default 30).
    pub origin_read_timeout: Option<u64>,
    /// Seconds an idle origin connection is kept (default 5).
    pub origin_keepalive_timeout: Option<u64>,
    /// Everything else (TLS protocols, IP address type).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `OriginShield`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OriginShield {
    /// Origin Shield on.
    pub enabled: bool,
    /// The AWS Region of the shield (`us-east-1`).
    pub origin_shield_region: Option<String>,
}

/// `OriginGroup`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OriginGroup {
    /// Group id, referenced by behaviours.
    pub id: String,
    /// When to fail over.
    pub failover_criteria: FailoverCriteria,
    /// Primary, then secondary.
    pub members: List<OriginGroupMember>,
    /// `default` or `media-quality-based`.
    pub selection_criteria: Option<String>,
}

/// `OriginGroupFailoverCriteria`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FailoverCriteria {
    /// Primary statuses that make CloudFront try the secondary.
    pub status_codes: List<u16>,
}

/// `OriginGroupMember`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OriginGroupMember {
    /// The member origin.
    pub origin_id: String,
}

/// `CacheBehavior` and `DefaultCacheBehavior`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CacheBehavior {
    /// Path pattern (ordered behaviours only).
    pub path_pattern: Option<String>,
    /// Origin or origin group id.
    pub target_origin_id: String,
    /// Signed URLs/cookies by AWS account.
    pub trusted_signers: Option<Trusted>,
    /// Signed URLs/cookies by key group.
    pub trusted_key_groups: Option<Trusted>,
    /// `allow-all`, `redirect-to-https`, `https-only`.
    pub viewer_protocol_policy: Option<String>,
    /// Methods CloudFront accepts, and those it caches.
    pub allowed_methods: Option<AllowedMethods>,
    /// Microsoft Smooth Streaming.
    pub smooth_streaming: Option<bool>,
    /// Compress objects automatically.
    pub compress: Option<bool>,
    /// Lambda@Edge associations.
    #[serde(default)]
    pub lambda_function_associations: List<Value>,
    /// CloudFront Functions associations.
    #[serde(default)]
    pub function_associations: List<Value>,
    /// Field-level encryption configuration.
    pub field_level_encryption_id: Option<String>,
    /// Real-time log configuration.
    pub realtime_log_config_arn: Option<String>,
    /// Cache policy id.
    pub cache_policy_id: Option<String>,
    /// Origin request policy id.
    pub origin_request_policy_id: Option<String>,
    /// Response headers policy id.
    pub response_headers_policy_id: Option<String>,
    /// Legacy cache key and origin request settings (without a cache policy).
    pub forwarded_values: Option<ForwardedValues>,
    /// Legacy MinTTL, seconds.
    #[serde(rename = "MinTTL")]
    pub min_ttl: Option<u64>,
    /// Legacy DefaultTTL, seconds.
    #[serde(rename = "DefaultTTL")]
    pub default_ttl: Option<u64>,
    /// Legacy MaxTTL, seconds.
    #[serde(rename = "MaxTTL")]
    pub max_ttl: Option<u64>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `TrustedSigners` / `TrustedKeyGroups`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Trusted {
    /// Signed requests required.
    pub enabled: bool,
}

/// `AllowedMethods`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllowedMethods {
    /// Number of methods.
    pub quantity: u32,
    /// Methods CloudFront accepts.
    #[serde(default)]
    pub items: Vec<String>,
    /// Methods whose responses are cached.
    pub cached_methods: Option<List<String>>,
}

/// Legacy `ForwardedValues`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ForwardedValues {
    /// Query strings forwarded (and keyed).
    pub query_string: bool,
    /// Cookies forwarded (and keyed).
    pub cookies: LegacyCookies,
    /// Headers forwarded (and keyed); `*` is all.
    #[serde(default)]
    pub headers: List<String>,
    /// Query strings in the key when `QueryString` is true (empty: all).
    #[serde(default)]
    pub query_string_cache_keys: List<String>,
}

/// Legacy `CookiePreference`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LegacyCookies {
    /// `none`, `whitelist` or `all`.
    pub forward: String,
    /// Cookie names when `whitelist`.
    #[serde(default)]
    pub whitelisted_names: List<String>,
}

/// What `get-cache-policy` prints.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CachePolicyDocument {
    /// Version of the policy.
    #[serde(rename = "ETag")]
    pub etag: Option<String>,
    /// The policy.
    pub cache_policy: CachePolicy,
}

/// `CachePolicy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CachePolicy {
    /// Policy id, referenced by behaviours.
    pub id: String,
    /// Its configuration.
    pub cache_policy_config: CachePolicyConfig,
}

/// `CachePolicyConfig`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CachePolicyConfig {
    /// Policy name.
    pub name: String,
    /// MinTTL, seconds.
    #[serde(rename = "MinTTL")]
    pub min_ttl: u64,
    /// DefaultTTL, seconds (API default: 86400, or MinTTL when larger).
    #[serde(rename = "DefaultTTL")]
    pub default_ttl: Option<u64>,
    /// MaxTTL, seconds (API default: 31536000, or DefaultTTL when larger).
    #[serde(rename = "MaxTTL")]
    pub max_ttl: Option<u64>,
    /// The cache key and what it forwards.
    pub parameters_in_cache_key_and_forwarded_to_origin: KeyParameters,
}

/// `ParametersInCacheKeyAndForwardedToOrigin`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyParameters {
    /// Gzip in the normalised `Accept-Encoding` of the key.
    pub enable_accept_encoding_gzip: bool,
    /// Brotli in the normalised `Accept-Encoding` of the key.
    #[serde(default)]
    pub enable_accept_encoding_brotli: bool,
    /// Headers in the key.
    pub headers_config: HeadersConfig,
    /// Cookies in the key.
    pub cookies_config: CookiesConfig,
    /// Query strings in the key.
    pub query_strings_config: QueryStringsConfig,
}

/// What `get-origin-request-policy` prints.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OriginRequestPolicyDocument {
    /// Version of the policy.
    #[serde(rename = "ETag")]
    pub etag: Option<String>,
    /// The policy.
    pub origin_request_policy: OriginRequestPolicy,
}

/// `OriginRequestPolicy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OriginRequestPolicy {
    /// Policy id, referenced by behaviours (`OriginRequestPolicyId`).
    pub id: String,
    /// Its configuration.
    pub origin_request_policy_config: OriginRequestPolicyConfig,
}

/// `OriginRequestPolicyConfig`: what of the viewer request reaches the origin besides the
/// cache key.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OriginRequestPolicyConfig {
    /// Policy name.
    pub name: String,
    /// Viewer headers forwarded (`OriginRequestPolicyHeadersConfig`: `none`, `whitelist`,
    /// `allViewer`, `allViewerAndWhitelistCloudFront`, `allExcept`).
    pub headers_config: HeadersConfig,
    /// Cookies forwarded (`OriginRequestPolicyCookiesConfig`: `none`, `whitelist`, `all`,
    /// `allExcept`).
    pub cookies_config: CookiesConfig,
    /// Query strings forwarded (`OriginRequestPolicyQueryStringsConfig`: `none`,
    /// `whitelist`, `all`, `allExcept`).
    pub query_strings_config: QueryStringsConfig,
}

/// `CachePolicyHeadersConfig` and `OriginRequestPolicyHeadersConfig` (same fields).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HeadersConfig {
    /// `none` or `whitelist` (an origin request policy also takes `allViewer`,
    /// `allViewerAndWhitelistCloudFront` and `allExcept`).
    pub header_behavior: String,
    /// Header names when `whitelist`.
    #[serde(default)]
    pub headers: List<String>,
}

/// `CachePolicyCookiesConfig` and `OriginRequestPolicyCookiesConfig`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CookiesConfig {
    /// `none`, `whitelist`, `allExcept` or `all`.
    pub cookie_behavior: String,
    /// Cookie names for `whitelist` / `allExcept`.
    #[serde(default)]
    pub cookies: List<String>,
}

/// `CachePolicyQueryStringsConfig` and `OriginRequestPolicyQueryStringsConfig`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryStringsConfig {
    /// `none`, `whitelist`, `allExcept` or `all`.
    pub query_string_behavior: String,
    /// Names for `whitelist` / `allExcept`.
    #[serde(default)]
    pub query_strings: List<String>,
}

/// One custom error response (`CustomErrorResponses.Items[i]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomErrorResponse {
    /// The HTTP status it applies to.
    pub error_code: u16,
    /// The page served instead (empty or absent: none).
    #[serde(default)]
    pub response_page_path: Option<String>,
    /// The status the page is served with, a string in the API (`"200"`; empty: none).
    #[serde(default)]
    pub response_code: Option<String>,
    /// Seconds the error is cached at least.
    #[serde(rename = "ErrorCachingMinTTL", default)]
    pub error_caching_min_ttl: Option<u64>,
}
