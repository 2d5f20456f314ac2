//! Cache policies as the importer models them: CloudFront's managed cache policies by their
//! documented ids (Amazon CloudFront Developer Guide, "Use managed cache policies"), custom
//! policies from `get-cache-policy` output, and the legacy `ForwardedValues` + TTL settings of
//! a behaviour without a cache policy. The managed origin request policies are mapped by id to
//! the names the edge knows ("Use managed origin request policies").

use crate::api::{CachePolicyConfig, CookiesConfig, ForwardedValues, QueryStringsConfig};

/// A selection of query strings or cookies in the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySelection {
    /// None.
    None,
    /// All.
    All,
    /// These names.
    Only(Vec<String>),
}

/// A cache policy, whatever its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPolicy {
    /// Name (managed policies: as the guide spells it).
    pub name: String,
    /// The edge preset of the same name, if the edge has one.
    pub preset: Option<&'static str>,
    /// MinTTL, seconds.
    pub min_ttl: u64,
    /// DefaultTTL, seconds.
    pub default_ttl: u64,
    /// MaxTTL, seconds.
    pub max_ttl: u64,
    /// Headers in the key.
    pub headers: Vec<String>,
    /// Cookies in the key.
    pub cookies: KeySelection,
    /// Query strings in the key.
    pub query_strings: KeySelection,
    /// Gzip in the key's normalised `Accept-Encoding`.
    pub gzip: bool,
    /// Brotli in the key's normalised `Accept-Encoding`.
    pub brotli: bool,
    /// What of it edgelab approximates (e.g. `allExcept` read as `all`).
    pub approximations: Vec<String>,
}

const YEAR: u64 = 31_536_000;
const DAY: u64 = 86_400;

/// Managed cache policy `id`, with the settings the Developer Guide lists for it.
pub fn managed_cache_policy(id: &str) -> Option<KeyPolicy> {
    let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let policy = |name: &str, preset, (min_ttl, default_ttl, max_ttl)| KeyPolicy {
        name: name.to_string(),
        preset,
        min_ttl,
        default_ttl,
        max_ttl,
        headers: Vec::new(),
        cookies: KeySelection::None,
        query_strings: KeySelection::None,
        gzip: false,
        brotli: false,
        approximations: Vec::new(),
    };
    let origin_headers = names(&[
        "Host",
        "Origin",
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
    ]);
    let policy = match id {
        "2e54312d-136d-493c-8eb9-b001f22f67d2" => KeyPolicy {
            headers: names(&["Authorization", "CloudFront-Viewer-Country", "Host"]),
            cookies: KeySelection::All,
            query_strings: KeySelection::All,
            gzip: true,
            brotli: true,
            ..policy("Amplify", None, (2, 2, 600))
        },
        "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" => {
            policy("CachingDisabled", Some("CachingDisabled"), (0, 0, 0))
        }
        "658327ea-f89d-4fab-a63d-7e88639e58f6" => KeyPolicy {
            gzip: true,
            brotli: true,
            ..policy("CachingOptimized", Some("CachingOptimized"), (1, DAY, YEAR))
        },
        "b2884449-e4de-46a7-ac36-70bc7f1ddd6d" => policy(
            "CachingOptimizedForUncompressedObjects",
            None,
            (1, DAY, YEAR),
        ),
        "08627262-05a9-4f76-9ded-b50ca2e3a84f" => KeyPolicy {
            headers: names(&["Origin"]),
            query_strings: KeySelection::Only(names(&["aws.manifestfilter", "start", "end", "m"])),
            gzip: true,
            ..policy("Elemental-MediaPackage", None, (0, DAY, YEAR))
        },
        "83da9c7e-98b4-4e11-a168-04f0df8e2c65" => KeyPolicy {
            headers: origin_headers,
            cookies: KeySelection::All,
            gzip: true,
            brotli: true,
            ..policy(
                "UseOriginCacheControlHeaders",
                Some("UseOriginCacheControlHeaders"),
                (0, 0, YEAR),
            )
        },
        "4cc15a8a-d715-48a4-82b8-cc0b614638fe" => KeyPolicy {
            headers: origin_headers,
            cookies: KeySelection::All,
            query_strings: KeySelection::All,
            gzip: true,
            brotli: true,
            ..policy(
                "UseOriginCacheControlHeaders-QueryStrings",
                None,
                (0, 0, YEAR),
            )
        },
        _ => return None,
    };
    Some(policy)
}

/// The managed origin request policy `id` by the name the edge knows it by.
///
/// `HostHeaderOnly` is left out: its id could not be checked against the guide (the stored
/// copies of "Use managed origin request policies" searched end before its section), so a
/// behaviour naming it is an unknown id until its `get-origin-request-policy` file is given.
pub fn managed_origin_request_policy(id: &str) -> Option<&'static str> {
    Some(match id {
        "216adef6-5c7f-47e4-b989-5492eafa07d3" => "AllViewer",
        "33f36d7e-f396-46d9-90e0-52428a34d9dc" => "AllViewerAndCloudFrontHeaders-2022-06",
        "b689b0a8-53d0-40ab-baf2-68738e2966ac" => "AllViewerExceptHostHeader",
        "59781a5b-3903-41f3-afcb-af62929ccde1" => "CORS-CustomOrigin",
        "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf" => "CORS-S3Origin",
        "775133bc-15f2-49f9-abea-afb2e0bf67d2" => "Elemental-MediaTailor-PersonalizedManifests",
        "acba4595-bd28-49b8-b9fe-13317c0390fa" => "UserAgentRefererHeaders",
        _ => return None,
    })
}

/// A `CookiesConfig` or a `QueryStringsConfig`: a behaviour word and its names, the same
/// in cache policies and origin request policies.
pub(crate) trait NamedSelection {
    /// The behaviour's field below the policy's config, for errors.
    const FIELD: &'static str;
    /// The API's behaviour word (`none`, `whitelist`, `allExcept`, `all`).
    fn behavior(&self) -> &str;
    /// The names it lists.
    fn names(&self) -> &[String];
}

impl NamedSelection for CookiesConfig {
    const FIELD: &'static str = "CookiesConfig.CookieBehavior";
    fn behavior(&self) -> &str {
        &self.cookie_behavior
    }
    fn names(&self) -> &[String] {
        self.cookies.items()
    }
}

impl NamedSelection for QueryStringsConfig {
    const FIELD: &'static str = "QueryStringsConfig.QueryStringBehavior";
    fn behavior(&self) -> &str {
        &self.query_string_behavior
    }
    fn names(&self) -> &[String] {
        self.query_strings.items()
    }
}

/// The selection `config` makes; `what` names it in approximations, and an error names its
/// field, `parent` (the path down to the config, with its dot, or empty) then its own.
pub(crate) fn selection<C: NamedSelection>(
    config: &C,
    parent: &str,
    what: &str,
    approximations: &mut Vec<String>,
) -> Result<KeySelection, (String, String)> {
    let names = config.names();
    match config.behavior() {
        "none" => Ok(KeySelection::None),
        "all" => Ok(KeySelection::All),
        "whitelist" => Ok(KeySelection::Only(names.to_vec())),
        "allExcept" => {
            approximations.push(format!(
                "{what}: allExcept {names:?} is keyed as all (edgelab has no exclusion lists)"
            ));
            Ok(KeySelection::All)
        }
        other => Err((
            format!("{parent}{}", C::FIELD),
            format!("unknown behaviour {other:?} (expected none, whitelist, allExcept or all)"),
        )),
    }
}

/// MinTTL, DefaultTTL and MaxTTL with the API's defaults for the last two (86400 s but at
/// least MinTTL; 31536000 s but at least DefaultTTL), checked to be in order.
fn ttls(
    min_ttl: u64,
    default_ttl: Option<u64>,
    max_ttl: Option<u64>,
) -> Result<(u64, u64, u64), (String, String)> {
    let default_ttl = default_ttl.unwrap_or(DAY.max(min_ttl));
    let max_ttl = max_ttl.unwrap_or(YEAR.max(default_ttl));
    if min_ttl > default_ttl || default_ttl > max_ttl {
        return Err((
            "DefaultTTL".into(),
            format!(
                "MinTTL {min_ttl} <= DefaultTTL {default_ttl} <= MaxTTL {max_ttl} does not hold"
            ),
        ));
    }
    Ok((min_ttl, default_ttl, max_ttl))
}

/// A custom cache policy from `get-cache-policy`; errors name the field below
/// `CachePolicy.CachePolicyConfig`.
pub fn custom_cache_policy(config: &CachePolicyConfig) -> Result<KeyPolicy, (String, String)> {
    let keys = &config.parameters_in_cache_key_and_forwarded_to_origin;
    let mut approximations = Vec::new();
    let headers = match keys.headers_config.header_behavior.as_str() {
        "none" => Vec::new(),
        "whitelist" => keys.headers_config.headers.items().to_vec(),
        other => {
            return Err((
                format!("{KEYS}HeadersConfig.HeaderBehavior"),
                format!("unknown behaviour {other:?} (expected none or whitelist)"),
            ));
        }
    };
    const KEYS: &str = "ParametersInCacheKeyAndForwardedToOrigin.";
    let cookies = selection(&keys.cookies_config, KEYS, "cookies", &mut approximations)?;
    let query_strings = selection(
        &keys.query_strings_config,
        KEYS,
        "query strings",
        &mut approximations,
    )?;
    let (min_ttl, default_ttl, max_ttl) = ttls(config.min_ttl, config.default_ttl, config.max_ttl)?;
    Ok(KeyPolicy {
        name: config.name.clone(),
        preset: None,
        min_ttl,
        default_ttl,
        max_ttl,
        headers,
        cookies,
        query_strings,
        gzip: keys.enable_accept_encoding_gzip,
        brotli: keys.enable_accept_encoding_brotli,
        approximations,
    })
}

/// The legacy settings of a behaviour without a cache policy (`ForwardedValues`, `MinTTL`,
/// `DefaultTTL`, `MaxTTL`, with the API's defaults 0 / 86400 / 31536000). Forwarding all
/// headers (`*`) disables caching, as CloudFront does.
pub fn legacy_cache_policy(
    forwarded: Option<&ForwardedValues>,
    given: (Option<u64>, Option<u64>, Option<u64>),
) -> Result<KeyPolicy, (String, String)> {
    let (min_ttl, default_ttl, max_ttl) = ttls(given.0.unwrap_or(0), given.1, given.2)?;
    let mut policy = KeyPolicy {
        name: "legacy cache settings".to_string(),
        preset: None,
        min_ttl,
        default_ttl,
        max_ttl,
        headers: Vec::new(),
        cookies: KeySelection::None,
        query_strings: KeySelection::None,
        gzip: true,
        brotli: true,
        approximations: Vec::new(),
    };
    let Some(forwarded) = forwarded else {
        return Ok(policy);
    };
    if forwarded.query_string {
        let keys = forwarded.query_string_cache_keys.items();
        policy.query_strings = if keys.is_empty() {
            KeySelection::All
        } else {
            KeySelection::Only(keys.to_vec())
        };
    }
    policy.cookies = match forwarded.cookies.forward.as_str() {
        "none" => KeySelection::None,
        "all" => KeySelection::All,
        "whitelist" => KeySelection::Only(forwarded.cookies.whitelisted_names.items().to_vec()),
        other => {
            return Err((
                "ForwardedValues.Cookies.Forward".into(),
                format!("unknown value {other:?} (expected none, whitelist or all)"),
            ));
        }
    };
    let headers = forwarded.headers.items();
    if headers.iter().any(|h| h == "*") {
        policy.name = "legacy cache settings, all headers forwarded (not cached)".to_string();
        (policy.min_ttl, policy.default_ttl, policy.max_ttl) = (0, 0, 0);
    } else {
        policy.headers = headers.to_vec();
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_cache_policies_have_the_guides_ids_and_ttls() {
        let optimized = managed_cache_policy("658327ea-f89d-4fab-a63d-7e88639e58f6").unwrap();
        assert_eq!(optimized.name, "CachingOptimized");
        assert_eq!(
            (optimized.min_ttl, optimized.default_ttl, optimized.max_ttl),
            (1, DAY, YEAR)
        );
        assert!(optimized.gzip && optimized.brotli);
        let disabled = managed_cache_policy("4135ea2d-6df8-44a3-9df3-4b5a84be39ad").unwrap();
        assert_eq!(disabled.max_ttl, 0);
        let uncompressed = managed_cache_policy("b2884449-e4de-46a7-ac36-70bc7f1ddd6d").unwrap();
        assert!(!uncompressed.gzip && !uncompressed.brotli);
        let media = managed_cache_policy("08627262-05a9-4f76-9ded-b50ca2e3a84f").unwrap();
        assert!(media.gzip && !media.brotli, "gzip only");
        assert_eq!(media.headers, vec!["Origin".to_string()]);
        let origin = managed_cache_policy("83da9c7e-98b4-4e11-a168-04f0df8e2c65").unwrap();
        assert_eq!(origin.query_strings, KeySelection::None);
        assert_eq!(origin.cookies, KeySelection::All);
        let origin_qs = managed_cache_policy("4cc15a8a-d715-48a4-82b8-cc0b614638fe").unwrap();
        assert_eq!(origin_qs.query_strings, KeySelection::All);
        assert_eq!((origin_qs.min_ttl, origin_qs.default_ttl), (0, 0));
        assert!(managed_cache_policy("00000000-0000-0000-0000-000000000000").is_none());
    }

    #[test]
    fn managed_origin_request_policies_map_to_the_edges_names() {
        assert_eq!(
            managed_origin_request_policy("88a5eaf4-2fd4-4709-b370-b4c650ea3fcf"),
            Some("CORS-S3Origin")
        );
        assert_eq!(
            managed_origin_request_policy("216adef6-5c7f-47e4-b989-5492eafa07d3"),
            Some("AllViewer")
        );
        assert_eq!(managed_origin_request_policy("nope"), None);
    }

    #[test]
    fn legacy_settings_forwarding_all_headers_do_not_cache() {
        let forwarded: ForwardedValues = serde_json::from_str(
            r#"{"QueryString": true, "Cookies": {"Forward": "whitelist", "WhitelistedNames": {"Quantity": 1, "Items": ["session"]}},
                "Headers": {"Quantity": 1, "Items": ["*"]}, "QueryStringCacheKeys": {"Quantity": 0}}"#,
        )
        .unwrap();
        let policy = legacy_cache_policy(Some(&forwarded), (None, None, None)).unwrap();
        assert_eq!(policy.max_ttl, 0);
        assert_eq!(policy.query_strings, KeySelection::All);
        assert_eq!(policy.cookies, KeySelection::Only(vec!["session".into()]));
        let plain = legacy_cache_policy(None, (Some(5), None, None)).unwrap();
        assert_eq!(
            (plain.min_ttl, plain.default_ttl, plain.max_ttl),
            (5, DAY, YEAR)
        );
        assert!(legacy_cache_policy(None, (Some(10), Some(5), None)).is_err());
    }
}
