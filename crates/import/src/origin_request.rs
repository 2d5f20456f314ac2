//! Origin request policies as the importer maps them to a behaviour's `origin_request`
//! (`docs/config.md`): CloudFront's managed policies by their documented ids (Amazon
//! CloudFront Developer Guide, "Use managed origin request policies"; the edge knows them by
//! name) and custom policies from `get-origin-request-policy` output
//! (`OriginRequestPolicy.OriginRequestPolicyConfig` of the CloudFront API Reference).
//!
//! A custom policy maps field by field: `HeadersConfig` `none` / `whitelist` / `allViewer`
//! to `headers = "none"` / a list / `"all"`, `allExcept` of `Host` alone to the edge's
//! `AllViewerExceptHostHeader` (the same rule), `CookiesConfig` and `QueryStringsConfig`
//! `none` / `whitelist` / `all` to `"none"` / a list / `"all"`. What edgelab approximates is
//! said: `allExcept` lists other than `Host` alone forward everything (the edge has no
//! exclusion lists), and the headers CloudFront itself adds (`CloudFront-Viewer-Country`, ...)
//! are not added by edgelab (a viewer that sends one has it forwarded).

use crate::api::OriginRequestPolicyConfig;
use crate::policy::{self, KeySelection};

/// An origin request policy as a behaviour's `origin_request` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardPolicy {
    /// Name (a managed policy's as the guide spells it, a custom policy's own).
    pub name: String,
    /// The edge's managed policy it starts from (`None`: the fields below say everything).
    pub managed: Option<&'static str>,
    /// Viewer headers forwarded (`None`: the managed policy's).
    pub headers: Option<KeySelection>,
    /// Cookies forwarded (`None`: the managed policy's).
    pub cookies: Option<KeySelection>,
    /// Query strings forwarded (`None`: the managed policy's).
    pub query_strings: Option<KeySelection>,
    /// What of it edgelab approximates or does not emulate, one item each.
    pub approximations: Vec<String>,
}

/// The managed origin request policy `id`, by the name the edge knows it by.
pub fn managed(id: &str) -> Option<ForwardPolicy> {
    let name = policy::managed_origin_request_policy(id)?;
    Some(ForwardPolicy {
        name: name.to_string(),
        managed: Some(name),
        headers: None,
        cookies: None,
        query_strings: None,
        approximations: Vec::new(),
    })
}

/// The prefix of the headers CloudFront adds to origin requests itself.
const CLOUDFRONT_HEADER: &str = "cloudfront-";

/// A custom origin request policy from `get-origin-request-policy`; errors name the field
/// below `OriginRequestPolicy.OriginRequestPolicyConfig`.
pub fn custom(config: &OriginRequestPolicyConfig) -> Result<ForwardPolicy, (String, String)> {
    let mut approximations = Vec::new();
    let (managed, headers) = match headers(config, &mut approximations)? {
        Headers::Managed(name) => (Some(name), None),
        Headers::Selected(selection) => (None, Some(selection)),
    };
    let cookies = policy::selection(
        &config.cookies_config,
        "",
        "cookies forwarded",
        &mut approximations,
    )?;
    let query_strings = policy::selection(
        &config.query_strings_config,
        "",
        "query strings forwarded",
        &mut approximations,
    )?;
    Ok(ForwardPolicy {
        name: config.name.clone(),
        managed,
        headers,
        cookies: Some(cookies),
        query_strings: Some(query_strings),
        approximations,
    })
}

/// What a custom policy's `HeadersConfig` becomes.
enum Headers {
    /// The edge's managed policy of the same rule.
    Managed(&'static str),
    /// A selection of viewer headers.
    Selected(KeySelection),
}

/// The headers of `config`: a managed policy (for `allExcept` of `Host` alone) or a
/// selection.
fn headers(
    config: &OriginRequestPolicyConfig,
    approximations: &mut Vec<String>,
) -> Result<Headers, (String, String)> {
    let names = config.headers_config.headers.items();
    let added_by_cloudfront: Vec<&String> = names
        .iter()
        .filter(|n| n.to_ascii_lowercase().starts_with(CLOUDFRONT_HEADER))
        .collect();
    let behavior = config.headers_config.header_behavior.as_str();
    if !added_by_cloudfront.is_empty() && behavior != "allExcept" {
        approximations.push(format!(
            "headers {added_by_cloudfront:?}: CloudFront adds them to origin requests, edgelab \
             does not (a viewer that sends one has it forwarded)"
        ));
    }
    let selection = match behavior {
        "none" => KeySelection::None,
        "whitelist" => KeySelection::Only(names.to_vec()),
        "allViewer" | "allViewerAndWhitelistCloudFront" => KeySelection::All,
        "allExcept" if names.len() == 1 && names[0].eq_ignore_ascii_case("host") => {
            return Ok(Headers::Managed("AllViewerExceptHostHeader"));
        }
        "allExcept" => {
            approximations.push(format!(
                "headers forwarded: allExcept {names:?} forwards all (edgelab withholds only Host, \
                 as AllViewerExceptHostHeader does)"
            ));
            KeySelection::All
        }
        other => {
            return Err((
                "HeadersConfig.HeaderBehavior".to_string(),
                format!(
                    "unknown behaviour {other:?} (expected none, whitelist, allViewer, \
                     allViewerAndWhitelistCloudFront or allExcept)"
                ),
            ));
        }
    };
    Ok(Headers::Selected(selection))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(headers: &str, cookies: &str, query: &str) -> OriginRequestPolicyConfig {
        serde_json::from_str(&format!(
            r#"{{"Name": "p", "HeadersConfig": {headers}, "CookiesConfig": {cookies},
                "QueryStringsConfig": {query}}}"#
        ))
        .expect("an OriginRequestPolicyConfig")
    }

    /// The policy a custom config of these three parts maps to (it must map).
    fn mapped(headers: &str, cookies: &str, query: &str) -> ForwardPolicy {
        custom(&config(headers, cookies, query)).expect("the config maps")
    }

    /// The policy of these headers with no cookies and no query strings.
    fn headers_mapped(headers: &str) -> ForwardPolicy {
        mapped(headers, NO_COOKIES, NO_QUERY)
    }

    const NO_HEADERS: &str = r#"{"HeaderBehavior": "none"}"#;
    const NO_COOKIES: &str = r#"{"CookieBehavior": "none"}"#;
    const NO_QUERY: &str = r#"{"QueryStringBehavior": "none"}"#;

    #[test]
    fn a_header_whitelist_maps_to_a_list_and_none_to_none() {
        let policy = headers_mapped(
            r#"{"HeaderBehavior": "whitelist", "Headers": {"Quantity": 2, "Items": ["Accept", "Referer"]}}"#,
        );
        assert_eq!(policy.managed, None);
        assert_eq!(
            policy.headers,
            Some(KeySelection::Only(vec!["Accept".into(), "Referer".into()]))
        );
        assert_eq!(policy.cookies, Some(KeySelection::None));
        assert_eq!(policy.query_strings, Some(KeySelection::None));
        assert!(policy.approximations.is_empty());
        let none = headers_mapped(NO_HEADERS);
        assert_eq!(none.headers, Some(KeySelection::None));
    }

    #[test]
    fn all_viewer_headers_map_to_all_and_cloudfront_headers_are_said_to_be_missing() {
        let all = headers_mapped(r#"{"HeaderBehavior": "allViewer"}"#);
        assert_eq!(all.headers, Some(KeySelection::All));
        assert!(all.approximations.is_empty());
        let with_cf = headers_mapped(
            r#"{"HeaderBehavior": "allViewerAndWhitelistCloudFront",
                "Headers": {"Quantity": 1, "Items": ["CloudFront-Viewer-Country"]}}"#,
        );
        assert_eq!(with_cf.headers, Some(KeySelection::All));
        assert!(
            with_cf.approximations[0].contains("CloudFront-Viewer-Country"),
            "{:?}",
            with_cf.approximations
        );
    }

    #[test]
    fn all_except_host_is_the_managed_rule_and_other_exclusions_are_approximated() {
        let except_host = mapped(
            r#"{"HeaderBehavior": "allExcept", "Headers": {"Quantity": 1, "Items": ["host"]}}"#,
            r#"{"CookieBehavior": "all"}"#,
            r#"{"QueryStringBehavior": "all"}"#,
        );
        assert_eq!(except_host.managed, Some("AllViewerExceptHostHeader"));
        assert_eq!(
            except_host.headers, None,
            "the managed policy's: all but Host"
        );
        assert_eq!(except_host.cookies, Some(KeySelection::All));
        assert!(except_host.approximations.is_empty());
        let except_more = headers_mapped(
            r#"{"HeaderBehavior": "allExcept", "Headers": {"Quantity": 2, "Items": ["Host", "X-Debug"]}}"#,
        );
        assert_eq!(except_more.headers, Some(KeySelection::All));
        assert!(except_more.approximations[0].contains("X-Debug"));
    }

    #[test]
    fn cookie_and_query_string_selections_map_with_all_except_approximated() {
        let policy = mapped(
            NO_HEADERS,
            r#"{"CookieBehavior": "whitelist", "Cookies": {"Quantity": 1, "Items": ["session"]}}"#,
            r#"{"QueryStringBehavior": "allExcept", "QueryStrings": {"Quantity": 1, "Items": ["utm_source"]}}"#,
        );
        assert_eq!(
            policy.cookies,
            Some(KeySelection::Only(vec!["session".into()]))
        );
        assert_eq!(policy.query_strings, Some(KeySelection::All));
        assert!(policy.approximations[0].contains("utm_source"));
    }

    #[test]
    fn each_unknown_behaviour_names_its_field() {
        for (headers, cookies, query, field, word) in [
            (
                r#"{"HeaderBehavior": "some"}"#,
                NO_COOKIES,
                NO_QUERY,
                "HeadersConfig.HeaderBehavior",
                "some",
            ),
            (
                NO_HEADERS,
                r#"{"CookieBehavior": "allViewer"}"#,
                NO_QUERY,
                "CookiesConfig.CookieBehavior",
                "allViewer",
            ),
            (
                NO_HEADERS,
                NO_COOKIES,
                r#"{"QueryStringBehavior": "whitelisted"}"#,
                "QueryStringsConfig.QueryStringBehavior",
                "whitelisted",
            ),
        ] {
            let (got, message) = custom(&config(headers, cookies, query)).unwrap_err();
            assert_eq!(got, field);
            assert!(message.contains(word), "{message}");
        }
    }

    #[test]
    fn managed_policies_map_by_id_to_the_edges_names() {
        let cors = managed("88a5eaf4-2fd4-4709-b370-b4c650ea3fcf").unwrap();
        assert_eq!(cors.managed, Some("CORS-S3Origin"));
        assert_eq!((cors.headers, cors.cookies), (None, None));
        assert!(managed("a1b2c3d4-5678-90ab-cdef-EXAMPLE22222").is_none());
    }
}
