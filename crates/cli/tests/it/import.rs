//! `edgelab import cloudfront`: the shipped example imports, the output loads in `edgelab up
//! --list`, what is not emulated goes to standard error, bad input exits 64.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{exited, json_stdout, repo, run, streams, succeeded};

const LIMIT: Duration = Duration::from_secs(60);

fn scratch(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("import-{}-{name}", std::process::id()))
}

#[test]
fn the_imported_example_loads_in_up_list_and_names_what_is_not_emulated() {
    let dist = repo("config/examples/cloudfront-distribution.json");
    let policy = repo("config/examples/cloudfront-cache-policy.json");
    let origin_policy = repo("config/examples/cloudfront-origin-request-policy.json");
    let out = run(
        &[
            "import",
            "cloudfront",
            &dist,
            "--cache-policy",
            &policy,
            "--origin-request-policy",
            &origin_policy,
        ],
        LIMIT,
    );
    succeeded(&out);
    let (_, stderr) = streams(&out);
    assert!(stderr.contains("not emulated: AWS WAF web ACL"), "{stderr}");
    assert!(
        stderr.contains("not emulated: default behaviour: CloudFront Functions"),
        "{stderr}"
    );
    let topology = scratch("topology.toml");
    std::fs::write(&topology, &out.stdout).expect("write the topology");
    let path = topology.to_str().expect("utf-8 path");
    let listed = run(&["up", path, "--list"], LIMIT);
    let _ = std::fs::remove_file(&topology);
    let nodes: serde_json::Value = json_stdout(&listed);
    let names: Vec<&str> = nodes
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert!(names.contains(&"shield-dub"), "{names:?}");
    assert!(
        names.contains(&"pop-fra") && !names.contains(&"pop-nrt"),
        "{names:?}"
    );
}

#[test]
fn bad_distributions_exit_64_with_the_json_path() {
    let not_json = scratch("not.json");
    std::fs::write(&not_json, "DistributionConfig: yes\n").expect("write");
    let out = run(&["import", "cloudfront", not_json.to_str().unwrap()], LIMIT);
    let _ = std::fs::remove_file(&not_json);
    assert!(exited(&out, 64).contains("not JSON"));

    // The example without its --cache-policy file: the custom policy id is unknown.
    let dist = repo("config/examples/cloudfront-distribution.json");
    let out = run(&["import", "cloudfront", &dist], LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("$.DistributionConfig.CacheBehaviors.Items[1].CachePolicyId"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing written on failure");

    let out = run(
        &[
            "import",
            "cloudfront",
            &dist,
            "--origin-region",
            "xx-nowhere-1",
        ],
        LIMIT,
    );
    exited(&out, 64);
}
