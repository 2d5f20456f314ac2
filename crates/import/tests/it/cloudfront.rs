//! `edgelab_import::import` over the shipped fixtures: what maps where, what is listed as not
//! emulated, and bad input with its JSON path.

use std::path::{Path, PathBuf};

use edgelab_cluster::Topology;
use edgelab_edge::config::Selection;
use edgelab_import::{ImportError, Options, import};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

const EXAMPLE: &str = "config/examples/cloudfront-distribution.json";
const EXAMPLE_POLICY: &str = "config/examples/cloudfront-cache-policy.json";
const EXAMPLE_ORIGIN_POLICY: &str = "config/examples/cloudfront-origin-request-policy.json";
const EXAMPLE_TOPOLOGY: &str = "config/examples/cloudfront-topology.toml";
const LEGACY: &str = "crates/import/tests/data/get-distribution-legacy.json";

fn example_options() -> Options {
    Options {
        origin_region: None,
        cache_policies: vec![(EXAMPLE_POLICY.to_string(), read(EXAMPLE_POLICY))],
        origin_request_policies: vec![(
            EXAMPLE_ORIGIN_POLICY.to_string(),
            read(EXAMPLE_ORIGIN_POLICY),
        )],
    }
}

/// The example's options with another origin request policy file.
fn with_origin_policy(text: &str) -> Options {
    Options {
        origin_request_policies: vec![("origin.json".to_string(), text.to_string())],
        ..example_options()
    }
}

fn problems(error: ImportError) -> Vec<(String, String)> {
    match error {
        ImportError::Invalid { problems, .. } => {
            problems.into_iter().map(|p| (p.path, p.message)).collect()
        }
        other => panic!("expected mapping problems, got {other}"),
    }
}

#[test]
fn the_shipped_example_imports_to_the_shipped_topology() {
    let imported = import(&read(EXAMPLE), EXAMPLE, &example_options()).expect("imports");
    assert_eq!(
        imported.topology,
        read(EXAMPLE_TOPOLOGY),
        "regenerate with: edgelab import cloudfront {EXAMPLE} --cache-policy {EXAMPLE_POLICY} \
         --origin-request-policy {EXAMPLE_ORIGIN_POLICY} > {EXAMPLE_TOPOLOGY}"
    );
}

#[test]
fn the_example_maps_origin_group_shield_price_class_and_behaviours_in_order() {
    let imported = import(&read(EXAMPLE), EXAMPLE, &example_options()).expect("imports");
    let topology = Topology::parse(&imported.topology, "imported").expect("validates");
    assert_eq!(topology.origin_region, "eu-west-1", "from the S3 domain");
    let shield = topology.nodes.iter().find(|n| n.name == "shield-dub");
    assert!(
        shield.is_some(),
        "Origin Shield eu-west-1 is the Dublin REC"
    );
    let pops: Vec<&str> = topology.pops().map(|p| p.place.as_str()).collect();
    assert!(pops.contains(&"FRA") && pops.contains(&"TLV"), "{pops:?}");
    assert!(
        !pops.contains(&"NRT") && !pops.contains(&"GRU"),
        "PriceClass_100"
    );
    let pop = &topology.cache.pop;
    let patterns: Vec<&str> = pop
        .behaviors
        .iter()
        .map(|b| b.path_pattern.as_str())
        .collect();
    assert_eq!(patterns, ["/api/*", "/img/*", "/video/*", "/static/*", "*"]);
    assert!(pop.behaviors[0].cache_policy.disabled(), "CachingDisabled");
    let images = &pop.behaviors[1].cache_policy;
    assert_eq!(
        images.min_ttl.as_secs(),
        60,
        "custom policy from --cache-policy"
    );
    assert_eq!(images.default_ttl.as_secs(), 3600);
    assert_eq!(images.query_strings, Selection::Only(vec!["w".to_string()]));
    let images_origin = &pop.behaviors[1].origin_request;
    assert_eq!(
        images_origin.headers,
        Selection::Only(vec!["accept".into(), "cloudfront-viewer-country".into()]),
        "custom origin request policy from --origin-request-policy"
    );
    assert_eq!(images_origin.query_strings, Selection::All);
    assert_eq!(images_origin.cookies, Selection::None);
    let api_origin = &pop.behaviors[0].origin_request;
    assert_eq!(api_origin.withheld, ["host"], "AllViewerExceptHostHeader");
    let video = &pop.behaviors[2].cache_policy;
    assert!(!video.compress, "CachingOptimizedForUncompressedObjects");
    assert_eq!(video.min_ttl.as_secs(), 1);
    let default = &pop.behaviors[4].cache_policy;
    assert_eq!(default.name, "CachingOptimized");
    assert!(default.compress);
    assert_eq!(pop.upstream.failover_status_codes, [500, 502, 503, 504]);
    assert_eq!(pop.upstream.connection_timeout.as_secs(), 5);
    assert_eq!(pop.default_root_object.as_deref(), Some("index.html"));
    for expected in [
        "AWS WAF",
        "CloudFront Functions",
        "real TLS",
        "targets `api`",
        "origin request policy shop-images-origin: headers [\"CloudFront-Viewer-Country\"]",
    ] {
        assert!(
            imported.not_emulated.iter().any(|n| n.contains(expected)),
            "{expected} missing from {:?}",
            imported.not_emulated
        );
    }
    assert!(imported.topology.contains("# Not emulated by edgelab"));
}

#[test]
fn get_distribution_output_with_legacy_settings_maps_and_lists_the_rest() {
    let imported = import(&read(LEGACY), LEGACY, &Options::default()).expect("imports");
    let topology = Topology::parse(&imported.topology, "imported").expect("validates");
    assert_eq!(topology.name, "E1LEGACYEXAMPLE");
    assert_eq!(
        topology.origin_region, "us-east-2",
        "its Origin Shield Region"
    );
    assert!(topology.nodes.iter().any(|n| n.name == "shield-cmh"));
    let pops: Vec<&str> = topology.pops().map(|p| p.place.as_str()).collect();
    assert!(
        pops.contains(&"NRT") && pops.contains(&"BOM"),
        "PriceClass_200"
    );
    assert!(!pops.contains(&"SYD") && !pops.contains(&"GRU"));
    let pop = &topology.cache.pop;
    assert!(
        pop.behaviors[0].cache_policy.disabled(),
        "all headers forwarded"
    );
    let default = &pop.behaviors[1].cache_policy;
    let ttls = (
        default.min_ttl.as_secs(),
        default.default_ttl.as_secs(),
        default.max_ttl.as_secs(),
    );
    assert_eq!(ttls, (0, 300, 3600));
    let keys = vec!["page".to_string(), "lang".to_string()];
    assert_eq!(default.query_strings, Selection::Only(keys));
    assert_eq!(
        default.cookies,
        Selection::Only(vec!["session".to_string()])
    );
    assert_eq!(
        default.headers,
        [http::HeaderName::from_static("accept-language")]
    );
    assert_eq!(pop.upstream.connection_attempts, 2);
    assert_eq!(pop.upstream.connection_timeout.as_secs(), 4);
    assert_eq!(pop.upstream.response_timeout.as_secs(), 45);
    assert!(
        pop.upstream.failover_status_codes.is_empty(),
        "no origin group"
    );
    assert_eq!(pop.default_root_object, None, "empty DefaultRootObject");
    let not_found = http::StatusCode::NOT_FOUND;
    let page = pop.error_responses.page(not_found).expect("404's page");
    assert_eq!(
        (page.path.as_str(), page.status.as_u16()),
        ("/404.html", 404)
    );
    assert_eq!(
        pop.error_responses.min_ttl(not_found).map(|t| t.as_secs()),
        Some(30)
    );
    assert!(
        imported
            .topology
            .contains("[[edge.custom_error_responses]]")
    );
    for expected in [
        "Lambda@Edge",
        "signed URLs",
        "field-level encryption",
        "geo restriction",
        "standard logging",
        "origin path \"/v2\"",
        "custom origin header",
        "`AnycastIpListId` is not understood",
        "OPTIONS responses cached",
    ] {
        assert!(
            imported.not_emulated.iter().any(|n| n.contains(expected)),
            "{expected} missing from {:?}",
            imported.not_emulated
        );
    }
}

#[test]
fn origin_region_option_overrides_and_is_checked() {
    let options = Options {
        origin_region: Some("ap-northeast-1".to_string()),
        ..example_options()
    };
    let imported = import(&read(EXAMPLE), EXAMPLE, &options).expect("imports");
    assert!(imported.topology.contains("region = \"ap-northeast-1\""));
    let options = Options {
        origin_region: Some("mars-north-1".to_string()),
        ..example_options()
    };
    let error = import(&read(EXAMPLE), EXAMPLE, &options).unwrap_err();
    let found = problems(error);
    assert_eq!(found[0].0, "--origin-region", "{found:?}");
}

#[test]
fn bad_input_is_reported_with_its_json_path() {
    let not_json = import(
        "{ \"DistributionConfig\": ",
        "bad.json",
        &Options::default(),
    );
    assert!(
        matches!(not_json, Err(ImportError::NotJson { .. })),
        "{not_json:?}"
    );

    let neither = import("{\"ETag\": \"E1\"}", "bad.json", &Options::default()).unwrap_err();
    assert!(
        matches!(&neither, ImportError::Shape { path, .. } if path == "$"),
        "{neither}"
    );

    let shape = import(
        "{\"DistributionConfig\": {\"Origins\": {\"Quantity\": 1, \"Items\": [{\"Id\": 7}]}}}",
        "bad.json",
        &Options::default(),
    )
    .unwrap_err();
    let ImportError::Shape { path, .. } = &shape else {
        panic!("expected a shape error, got {shape}");
    };
    assert_eq!(path, "$.DistributionConfig.Origins.Items[0].Id");

    // Without --cache-policy the example's custom policy id is unknown.
    let unknown = import(&read(EXAMPLE), EXAMPLE, &Options::default()).unwrap_err();
    let found = problems(unknown);
    assert_eq!(
        found[0].0, "$.DistributionConfig.CacheBehaviors.Items[1].CachePolicyId",
        "{found:?}"
    );
    assert!(found[0].1.contains("--cache-policy"), "{found:?}");
}

#[test]
fn without_its_file_a_custom_origin_request_policy_id_is_unknown_at_its_path() {
    let options = Options {
        origin_request_policies: Vec::new(),
        ..example_options()
    };
    let found = problems(import(&read(EXAMPLE), EXAMPLE, &options).unwrap_err());
    assert_eq!(found.len(), 1, "{found:?}");
    let (path, message) = &found[0];
    assert_eq!(
        path,
        "$.DistributionConfig.CacheBehaviors.Items[1].OriginRequestPolicyId"
    );
    for expected in [
        "a1b2c3d4-5678-90ab-cdef-EXAMPLE22222",
        "get-origin-request-policy",
        "--origin-request-policy FILE",
        "HostHeaderOnly",
    ] {
        assert!(message.contains(expected), "{expected} missing: {message}");
    }
}

#[test]
fn an_origin_request_policy_file_of_the_wrong_shape_names_its_path() {
    let not_json = import(&read(EXAMPLE), EXAMPLE, &with_origin_policy("{ \"Orig"));
    assert!(
        matches!(&not_json, Err(ImportError::NotJson { file, .. }) if file == "origin.json"),
        "{not_json:?}"
    );
    let cases = [
        // get-origin-request-policy-config output: no policy id to reference it by.
        (r#"{"OriginRequestPolicyConfig": {}}"#, "$"),
        (
            r#"{"OriginRequestPolicy": {"Id": "x", "OriginRequestPolicyConfig": {"Name": "p",
                "HeadersConfig": {"HeaderBehavior": "none"}, "CookiesConfig": {"CookieBehavior": "none"}}}}"#,
            "$.OriginRequestPolicy.OriginRequestPolicyConfig",
        ),
        (
            r#"{"OriginRequestPolicy": {"Id": "x", "OriginRequestPolicyConfig": {"Name": "p",
                "HeadersConfig": {"HeaderBehavior": "whitelist", "Headers": {"Quantity": 1, "Items": [7]}},
                "CookiesConfig": {"CookieBehavior": "none"}, "QueryStringsConfig": {"QueryStringBehavior": "none"}}}}"#,
            "$.OriginRequestPolicy.OriginRequestPolicyConfig.HeadersConfig.Headers.Items[0]",
        ),
    ];
    for (text, expected) in cases {
        let error = import(&read(EXAMPLE), EXAMPLE, &with_origin_policy(text)).unwrap_err();
        let ImportError::Shape { file, path, .. } = &error else {
            panic!("expected a shape error, got {error}");
        };
        assert_eq!((file.as_str(), path.as_str()), ("origin.json", expected));
    }
}

#[test]
fn an_origin_request_policy_with_an_unknown_behaviour_names_its_field() {
    let text = read(EXAMPLE_ORIGIN_POLICY).replace(
        "\"CookieBehavior\": \"none\"",
        "\"CookieBehavior\": \"allViewer\"",
    );
    let found = problems(import(&read(EXAMPLE), EXAMPLE, &with_origin_policy(&text)).unwrap_err());
    assert_eq!(
        found[0].0,
        "$.OriginRequestPolicy.OriginRequestPolicyConfig.CookiesConfig.CookieBehavior"
    );
    assert!(found[0].1.contains("allViewer"), "{found:?}");
}

#[test]
fn a_cache_policy_file_of_the_wrong_shape_names_its_path() {
    let options = Options {
        cache_policies: vec![(
            "policy.json".to_string(),
            "{\"CachePolicy\": {\"Id\": \"x\", \"CachePolicyConfig\": {\"Name\": \"p\", \"MinTTL\": \"soon\"}}}"
                .to_string(),
        )],
        ..Options::default()
    };
    let error = import(&read(EXAMPLE), EXAMPLE, &options).unwrap_err();
    let ImportError::Shape { file, path, .. } = &error else {
        panic!("expected a shape error, got {error}");
    };
    assert_eq!(file, "policy.json");
    assert_eq!(path, "$.CachePolicy.CachePolicyConfig.MinTTL");
}

#[test]
fn unknown_targets_and_policy_ids_are_all_reported() {
    let mut text = read(EXAMPLE);
    text = text.replace(
        "\"TargetOriginId\": \"assets\",\n            \"TrustedSigners\"",
        "\"TargetOriginId\": \"nowhere\",\n            \"TrustedSigners\"",
    );
    text = text.replace(
        "b689b0a8-53d0-40ab-baf2-68738e2966ac",
        "00000000-1111-2222-3333-444444444444",
    );
    let found = problems(import(&text, EXAMPLE, &example_options()).unwrap_err());
    let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    assert!(
        paths.contains(&"$.DistributionConfig.DefaultCacheBehavior.TargetOriginId"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"$.DistributionConfig.CacheBehaviors.Items[0].OriginRequestPolicyId"),
        "{paths:?}"
    );
}

#[test]
fn a_custom_error_response_code_that_is_not_a_status_names_its_path() {
    let text = read(LEGACY).replace("\"ResponseCode\": \"404\"", "\"ResponseCode\": \"four\"");
    let found = problems(import(&text, LEGACY, &Options::default()).unwrap_err());
    let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["$.Distribution.DistributionConfig.CustomErrorResponses.Items[0].ResponseCode"]
    );
}
