//! The container setup, checked without a container engine: `docker-compose.yml` runs every
//! node of `config/default.toml` (as `edgelab up --list` plans it), mounts only files that
//! exist, the `Dockerfile` copies every crate, Prometheus scrapes every node, and the Grafana
//! dashboard queries only metrics that a live origin and edge really export.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Node, exited, http_get, json_stdout, run, run_env, temp_dir};

/// The repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo().join(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// A YAML file of the repository as JSON values, with `<<` merge keys applied.
fn yaml(relative: &str) -> Value {
    let mut value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&read(relative))
        .unwrap_or_else(|e| panic!("{relative} is not valid YAML: {e}"));
    value
        .apply_merge()
        .unwrap_or_else(|e| panic!("{relative}: bad merge key: {e}"));
    serde_json::to_value(value).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|v| v.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// One planned node of `edgelab up FILE --list`.
#[derive(Debug, serde::Deserialize)]
struct Planned {
    name: String,
    tier: String,
    upstream: Vec<String>,
}

/// The nodes `edgelab up config/default.toml --list` plans.
fn default_nodes() -> Vec<Planned> {
    let file = repo().join("config/default.toml");
    let output = run(
        &["up", file.to_str().expect("utf-8 path"), "--list"],
        Duration::from_secs(20),
    );
    let nodes: Vec<Planned> = json_stdout(&output);
    assert!(
        nodes.len() >= 5,
        "the default topology has few nodes: {nodes:?}"
    );
    nodes
}

/// Services of the compose file that are not topology nodes.
const EXTRA_SERVICES: [&str; 3] = ["loadgen", "prometheus", "grafana"];

fn services(compose: &Value) -> &serde_json::Map<String, Value> {
    compose["services"]
        .as_object()
        .expect("docker-compose.yml has services")
}

/// `(host path, container path)` of a service's bind mounts; named volumes are checked to be
/// declared at the top level.
fn bind_mounts(compose: &Value, name: &str, service: &Value) -> Vec<(String, String)> {
    let mut mounts = Vec::new();
    for volume in strings(&service["volumes"]) {
        let mut parts = volume.split(':');
        let source = parts.next().expect("a volume source").to_string();
        let target = parts
            .next()
            .unwrap_or_else(|| panic!("{name}: volume {volume:?} has no target"))
            .to_string();
        if source.starts_with("./") || source.starts_with('/') {
            assert!(
                source.starts_with("./"),
                "{name}: {source} is an absolute host path; use a path in the repository"
            );
            mounts.push((source, target));
        } else {
            assert!(
                compose["volumes"].get(&source).is_some(),
                "{name}: named volume {source} is not declared under volumes:"
            );
        }
    }
    mounts
}

/// The repository file a container path of `service` resolves to through its bind mounts.
fn host_path(mounts: &[(String, String)], container: &str) -> Option<PathBuf> {
    mounts.iter().find_map(|(source, target)| {
        let rest = container.strip_prefix(target.as_str())?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        Some(repo().join(source).join(rest.trim_start_matches('/')))
    })
}

#[test]
fn compose_runs_every_node_of_the_default_topology() {
    let compose = yaml("docker-compose.yml");
    let services = services(&compose);
    let nodes = default_nodes();
    let node_names: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let service_names: BTreeSet<&str> = services
        .keys()
        .map(String::as_str)
        .filter(|s| !EXTRA_SERVICES.contains(s))
        .collect();
    assert_eq!(
        service_names, node_names,
        "compose services must be exactly the nodes of `edgelab up config/default.toml --list`"
    );
    for service in EXTRA_SERVICES {
        assert!(services.contains_key(service), "no {service} service");
    }

    let mut host_ports = BTreeSet::new();
    for node in &nodes {
        let service = &services[&node.name];
        assert_eq!(service["image"], "edgelab:local", "{}: image", node.name);
        assert_eq!(
            service["build"], ".",
            "{}: built from the Dockerfile",
            node.name
        );
        let mounts = bind_mounts(&compose, &node.name, service);
        let command = strings(&service["command"]);
        assert_eq!(
            command,
            [
                "up",
                "/etc/edgelab/default.toml",
                "--node",
                &node.name,
                "--listen",
                "0.0.0.0:8080",
                "--admin",
                "0.0.0.0:9090",
                "--peers",
                "dns"
            ],
            "{}: command",
            node.name
        );
        let topology = host_path(&mounts, &command[1])
            .unwrap_or_else(|| panic!("{}: {} is not mounted", node.name, command[1]));
        assert!(topology.is_file(), "{} does not exist", topology.display());
        // Upstream nodes start first (and are healthy) so a node's first misses find them.
        for upstream in &node.upstream {
            assert!(
                service["depends_on"].get(upstream).is_some(),
                "{} must depend on its upstream {upstream}",
                node.name
            );
        }
        // PoPs publish their traffic port; every published port maps to 8080 and is unique.
        let ports = strings(&service["ports"]);
        if node.tier == "edge" {
            assert_eq!(ports.len(), 1, "{}: one published traffic port", node.name);
        }
        for port in ports {
            assert!(
                port.starts_with("127.0.0.1:"),
                "{}: {port} is published beyond loopback",
                node.name
            );
            let (host, container) = port.rsplit_once(':').expect("HOST:CONTAINER");
            assert_eq!(container, "8080", "{}: publish the traffic port", node.name);
            assert!(
                host_ports.insert(host.to_string()),
                "host port {host} twice"
            );
        }
    }
    for (name, service) in services {
        for dependency in service["depends_on"]
            .as_object()
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_else(|| strings(&service["depends_on"]))
        {
            assert!(
                services.contains_key(&dependency),
                "{name} depends on unknown service {dependency}"
            );
        }
    }

    // The load generator: one shot, behind a profile, comparing against the running nodes.
    let loadgen = &services["loadgen"];
    assert_eq!(strings(&loadgen["profiles"]), ["loadgen"]);
    let command = strings(&loadgen["command"]);
    assert_eq!(command[0], "compare");
    let flag = |name: &str| {
        let at = command.iter().position(|c| c == name);
        at.map(|at| command[at + 1].clone())
    };
    assert_eq!(flag("--peers").as_deref(), Some("dns"));
    assert_eq!(flag("--out").as_deref(), Some("/report"));
    let mounts = bind_mounts(&compose, "loadgen", loadgen);
    let topology = flag("--topology").expect("loadgen names the topology");
    assert!(
        host_path(&mounts, &topology).is_some_and(|p| p.is_file()),
        "loadgen: {topology} is not a mounted file"
    );
}

#[test]
fn compose_mounts_only_files_of_the_repository() {
    let compose = yaml("docker-compose.yml");
    for (name, service) in services(&compose) {
        for (source, _) in bind_mounts(&compose, name, service) {
            assert!(
                repo().join(&source).exists(),
                "{name} mounts {source}, which is not in the repository"
            );
        }
        if let Some(build) = service["build"].as_str() {
            assert!(repo().join(build).join("Dockerfile").is_file());
        }
    }
    let services = services(&compose);
    // Prometheus reads its config from the mounted directory.
    let prometheus = &services["prometheus"];
    let mounts = bind_mounts(&compose, "prometheus", prometheus);
    let config = strings(&prometheus["command"])
        .iter()
        .find_map(|c| c.strip_prefix("--config.file=").map(str::to_string))
        .expect("prometheus --config.file");
    let config = host_path(&mounts, &config).expect("the Prometheus config is mounted");
    assert_eq!(
        config.canonicalize().expect("prometheus.yml exists"),
        repo()
            .join("deploy/prometheus/prometheus.yml")
            .canonicalize()
            .expect("deploy/prometheus/prometheus.yml exists")
    );
    // Grafana: provisioning, dashboards and the home dashboard are mounted files.
    let grafana = &services["grafana"];
    let mounts = bind_mounts(&compose, "grafana", grafana);
    let provisioning = host_path(&mounts, "/etc/grafana/provisioning").expect("provisioning");
    assert!(provisioning.join("datasources").is_dir());
    assert!(provisioning.join("dashboards").is_dir());
    let home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
        .as_str()
        .expect("a home dashboard");
    assert!(host_path(&mounts, home).is_some_and(|p| p.is_file()));
    let provider = yaml("deploy/grafana/provisioning/dashboards/edgelab.yml");
    let folder = provider["providers"][0]["options"]["path"]
        .as_str()
        .expect("dashboard provider path");
    let folder = host_path(&mounts, folder).expect("the dashboard folder is mounted");
    assert!(folder.join("edgelab.json").is_file());
}

#[test]
fn dockerfile_copies_every_crate_and_existing_paths() {
    let dockerfile = read("Dockerfile");
    // Dockerfile.prebuilt packages a binary from a context CI assembles (the binary, config/,
    // loadtest/scenarios/) on the same runtime.
    let prebuilt = read("Dockerfile.prebuilt");
    let prebuilt_sources: Vec<&str> = prebuilt
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert_eq!(
        prebuilt_sources,
        ["edgelab", "config", "loadtest/scenarios"]
    );
    assert!(prebuilt.contains("\nUSER ") && prebuilt.contains("/healthz"));
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/').to_string())
        .collect();
    let mut copied = BTreeSet::new();
    for line in dockerfile.lines() {
        let Some(rest) = line.strip_prefix("COPY ") else {
            continue;
        };
        if rest.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = rest.split_whitespace().collect();
        for source in &parts[..parts.len() - 1] {
            assert!(
                repo().join(source).exists(),
                "Dockerfile copies {source}, which does not exist"
            );
            assert!(
                !ignored.iter().any(|i| source.starts_with(i.as_str())),
                "Dockerfile copies {source}, which .dockerignore excludes"
            );
            copied.insert(source.to_string());
        }
    }
    // The dependency layer builds the workspace from the manifests alone: every member's
    // Cargo.toml must be copied or `cargo build` fails there.
    for entry in std::fs::read_dir(repo().join("crates")).expect("crates/") {
        let entry = entry.expect("a crate directory");
        let manifest = format!("crates/{}/Cargo.toml", entry.file_name().to_string_lossy());
        if repo().join(&manifest).is_file() {
            assert!(
                copied.contains(&manifest),
                "Dockerfile does not copy {manifest}"
            );
        }
    }
    for needed in ["Cargo.toml", "Cargo.lock", "crates", "config"] {
        assert!(copied.contains(needed), "Dockerfile does not copy {needed}");
    }
    assert!(dockerfile.contains("ENTRYPOINT [\"edgelab\"]"));
    assert!(
        dockerfile.contains("\nUSER "),
        "the runtime image runs as a non-root user"
    );
    assert!(dockerfile.contains("curl") && dockerfile.contains("/healthz"));
}

/// `(target, node label, tier label)` of every Prometheus file_sd entry.
fn scrape_targets() -> Vec<(String, String, String)> {
    let config = yaml("deploy/prometheus/prometheus.yml");
    let jobs = config["scrape_configs"].as_array().expect("scrape_configs");
    assert_eq!(jobs.len(), 1, "one edgelab job");
    assert_eq!(jobs[0]["metrics_path"], "/metrics");
    assert_eq!(jobs[0]["honor_labels"], true);
    let files = strings(&jobs[0]["file_sd_configs"][0]["files"]);
    assert_eq!(files, ["targets/*.json"]);
    let mut targets = Vec::new();
    for entry in std::fs::read_dir(repo().join("deploy/prometheus/targets")).expect("targets/") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable targets file");
        let groups: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: bad JSON: {e}", path.display()));
        for group in groups.as_array().expect("an array of target groups") {
            let node = group["labels"]["node"].as_str().expect("a node label");
            let tier = group["labels"]["tier"].as_str().expect("a tier label");
            for target in strings(&group["targets"]) {
                targets.push((target, node.to_string(), tier.to_string()));
            }
        }
    }
    targets
}

#[test]
fn prometheus_scrapes_every_node_once_by_its_name() {
    let nodes = default_nodes();
    let targets = scrape_targets();
    let mut scraped = BTreeMap::new();
    for (target, node, tier) in &targets {
        assert_eq!(
            target,
            &format!("{node}:9090"),
            "scrape the admin port of {node}"
        );
        let planned = nodes
            .iter()
            .find(|n| &n.name == node)
            .unwrap_or_else(|| panic!("scrape target {target} is not a node of the topology"));
        assert_eq!(&planned.tier, tier, "{node}: tier label");
        assert!(
            scraped.insert(node.clone(), ()).is_none(),
            "{node} scraped twice"
        );
    }
    for node in &nodes {
        assert!(
            scraped.contains_key(&node.name),
            "{} is not scraped",
            node.name
        );
    }
}

fn dashboard() -> Value {
    serde_json::from_str(&read("deploy/grafana/dashboards/edgelab.json"))
        .expect("the dashboard is valid JSON")
}

/// Every PromQL expression of the dashboard (panel targets and template queries).
fn expressions(dashboard: &Value) -> Vec<String> {
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().expect("an expr").to_string());
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(query) = variable["query"]["query"].as_str() {
            exprs.push(query.to_string());
        }
    }
    exprs
}

/// The `edgelab_*` metric names an expression uses.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("edgelab_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn dashboard_uses_the_provisioned_datasource() {
    let datasources = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let datasource = &datasources["datasources"][0];
    let uid = datasource["uid"]
        .as_str()
        .expect("the datasource has a uid");
    assert_eq!(datasource["type"], "prometheus");
    // It points at the compose Prometheus service.
    assert_eq!(datasource["url"], "http://prometheus:9090");
    let compose = yaml("docker-compose.yml");
    assert!(
        strings(&services(&compose)["prometheus"]["ports"]).contains(&"127.0.0.1:9090:9090".into())
    );

    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "edgelab");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut queried = 0;
    for panel in panels {
        if panel["type"] == "row" {
            continue;
        }
        let title = panel["title"].as_str().expect("a title");
        assert_eq!(panel["datasource"]["uid"], uid, "panel {title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {title} has no query");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], uid, "panel {title}");
            queried += 1;
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        assert_eq!(variable["datasource"]["uid"], uid);
    }
    assert!(queried >= 10, "only {queried} queries");
    // The panels the deployment promises.
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for wanted in [
        "Requests/s per PoP",
        "Hit ratio per PoP",
        "Hit ratio per tier",
        "Origin offload",
        "PoP latency percentiles",
        "Collapsed requests/s",
        "Evictions/s by cause",
    ] {
        assert!(titles.contains(&wanted), "no panel {wanted:?}");
    }
    let exprs = expressions(&dashboard);
    let used: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    for name in [
        "edgelab_edge_requests_total",
        "edgelab_edge_request_duration_seconds_bucket",
        "edgelab_edge_collapsed_requests_total",
        "edgelab_edge_evictions_total",
        "edgelab_origin_requests_total",
    ] {
        assert!(used.contains(name), "the dashboard never queries {name}");
    }
}

/// Metric families (name → label names seen) of a Prometheus text exposition.
fn families(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut families: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = families.entry(line[..end].to_string()).or_default();
        if let Some(open) = line.find('{') {
            let close = line.find('}').expect("closed label set");
            for pair in line[open + 1..close].split(',') {
                if let Some((label, _)) = pair.split_once('=') {
                    labels.insert(label.to_string());
                }
            }
        }
    }
    families
}

/// The label names of a `by (...)` clause or a `{label=...}` matcher in an expression.
fn label_names(expr: &str) -> BTreeSet<String> {
    let mut labels = BTreeSet::new();
    for part in expr.split("by (").skip(1) {
        let list = &part[..part.find(')').expect("closed by clause")];
        labels.extend(list.split(',').map(|l| l.trim().to_string()));
    }
    for part in expr.split('{').skip(1) {
        let set = &part[..part.find('}').expect("closed matcher")];
        for matcher in set.split(',') {
            let name = matcher.split(['=', '!']).next().unwrap_or("").trim();
            if !name.is_empty() {
                labels.insert(name.to_string());
            }
        }
    }
    labels.remove("le");
    labels
}

fn catalog_paths(origin: SocketAddr) -> Vec<String> {
    let (status, _, body) = http_get(origin, "/.well-known/edgelab/catalog", &[]);
    assert_eq!(status, 200, "catalog");
    let catalog: Value = serde_json::from_slice(&body).expect("catalog JSON");
    catalog["objects"]
        .as_array()
        .expect("catalog objects")
        .iter()
        .map(|o| o["path"].as_str().expect("object path").to_string())
        .filter(|p| !p.starts_with("/api/"))
        .collect()
}

#[test]
fn dashboard_queries_only_metrics_the_nodes_export() {
    let dir = temp_dir("deploy");
    let origin = Node::loopback("origin", &["--seed", "3", "--objects", "200"]);
    // A small store (capacity evictions) and a modelled upstream round trip (concurrent misses
    // of one object collapse onto one fetch), so every edge metric gets samples.
    let config = dir.join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "pop = \"FRA\"\ntier = \"edge\"\ncapacity_bytes = 65536\n\n[upstream]\n\
             primary = \"http://{}\"\nrtt = \"150ms\"\n",
            origin.traffic
        ),
    )
    .expect("write edge config");
    let edge = Node::start(&[
        "edge",
        "--config",
        config.to_str().expect("utf-8 path"),
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
    ]);
    let paths = catalog_paths(origin.traffic);
    assert!(paths.len() >= 40, "catalog too small: {}", paths.len());

    let exprs = expressions(&dashboard());
    let wanted: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    let histogram_base = |name: &str| {
        ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .map(str::to_string)
    };
    let start = Instant::now();
    let mut round = 0;
    let exported = loop {
        // Misses then hits of a few objects, and eight concurrent requests for one cold object.
        for path in paths.iter().skip(round * 10).take(10) {
            for _ in 0..2 {
                let (status, _, _) = http_get(edge.traffic, path, &[]);
                assert!(status < 500, "{path}: {status}");
            }
        }
        let cold = paths[paths.len() - 1 - round].clone();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (addr, cold) = (edge.traffic, cold.clone());
                std::thread::spawn(move || http_get(addr, &cold, &[]).0)
            })
            .collect();
        for thread in threads {
            assert!(thread.join().expect("request thread") < 500);
        }
        let mut exported = families(&String::from_utf8_lossy(
            &http_get(edge.admin, "/metrics", &[]).2,
        ));
        exported.extend(families(&String::from_utf8_lossy(
            &http_get(origin.admin, "/metrics", &[]).2,
        )));
        let missing: Vec<&String> = wanted
            .iter()
            .filter(|name| !exported.contains_key(*name))
            .collect();
        if missing.is_empty() {
            break exported;
        }
        round += 1;
        assert!(
            start.elapsed() < Duration::from_secs(30) && round < 20,
            "the dashboard queries metrics no node exports: {missing:?}"
        );
    };
    for name in &wanted {
        if let Some(base) = histogram_base(name) {
            assert!(
                exported.contains_key(&format!("{base}_bucket")),
                "{name}: {base} is not a histogram"
            );
        }
    }
    // Every label an expression groups or filters by exists on one of its metrics.
    for expr in &exprs {
        let mut available = BTreeSet::new();
        for name in metric_names(expr) {
            available.extend(exported[&name].iter().cloned());
        }
        for label in label_names(expr) {
            assert!(
                available.contains(&label),
                "{expr}: no metric there has the label {label}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    edge.terminate();
    origin.terminate();
}

#[test]
fn metric_and_label_extraction() {
    let expr = r#"sum by (pop, le) (rate(edgelab_edge_request_duration_seconds_bucket{tier="edge",pop=~"$pop"}[5m])) / edgelab_origin_requests_total"#;
    assert_eq!(
        metric_names(expr).into_iter().collect::<Vec<_>>(),
        [
            "edgelab_edge_request_duration_seconds_bucket",
            "edgelab_origin_requests_total"
        ]
    );
    assert_eq!(
        label_names(expr).into_iter().collect::<Vec<_>>(),
        ["pop", "tier"]
    );
    let text = "# HELP x y\nedgelab_a_total{pop=\"FRA\",tier=\"edge\"} 3\nedgelab_b 1\n";
    let families = families(text);
    assert_eq!(families["edgelab_a_total"].len(), 2);
    assert!(families["edgelab_b"].is_empty());
}

#[test]
fn compose_node_commands_start_their_node() {
    // The exact command of one container per tier, with loopback addresses instead of
    // 0.0.0.0:8080/9090: the CLI accepts it, the node starts, and the admin port answers the
    // Dockerfile's health check and serves the metrics Prometheus scrapes.
    let compose = yaml("docker-compose.yml");
    let services = services(&compose);
    let topology = repo().join("config/default.toml");
    let topology = topology.to_str().expect("utf-8 path");
    for (name, wanted) in [
        ("origin-use1-az1", "edgelab_origin_requests_total"),
        ("shield-iad", "edgelab_edge_requests_total"),
        ("rec-fra", "edgelab_edge_requests_total"),
        ("pop-fra", "edgelab_edge_requests_total"),
    ] {
        let command: Vec<String> = strings(&services[name]["command"])
            .into_iter()
            .map(|arg| match arg.as_str() {
                "/etc/edgelab/default.toml" => topology.to_string(),
                "0.0.0.0:8080" | "0.0.0.0:9090" => "127.0.0.1:0".to_string(),
                _ => arg,
            })
            .collect();
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let node = Node::start(&args);
        let (status, _, _) = http_get(node.admin, "/healthz", &[]);
        assert_eq!(status, 200, "{name}: /healthz");
        let (status, _, body) = http_get(node.admin, "/metrics", &[]);
        assert_eq!(status, 200, "{name}: /metrics");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(wanted), "{name} does not export {wanted}");
        let status = node.terminate();
        assert!(status.success(), "{name} stopped with {status}");
    }
}

#[test]
fn compose_loadgen_command_targets_the_compose_services() {
    // Without the containers the comparison cannot run, but the command must be accepted
    // (not a usage error, exit 64) and must look for a node under its service name.
    let compose = yaml("docker-compose.yml");
    let out = std::env::temp_dir().join(format!("edgelab-deploy-report-{}", std::process::id()));
    let topology = repo().join("config/default.toml");
    let command: Vec<String> = strings(&services(&compose)["loadgen"]["command"])
        .into_iter()
        .map(|arg| match arg.as_str() {
            "/etc/edgelab/default.toml" => topology.to_string_lossy().into_owned(),
            "/report" => out.to_string_lossy().into_owned(),
            _ => arg,
        })
        .collect();
    let args: Vec<&str> = command.iter().map(String::as_str).collect();
    let output = run(&args, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(64), "usage error: {stderr}");
    assert!(
        !output.status.success(),
        "no containers here, yet it succeeded"
    );
    assert!(
        default_nodes()
            .iter()
            .any(|node| stderr.contains(&format!("http://{}:8080", node.name))),
        "the comparison does not reach a node by its service name: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn shipped_compose_files_are_the_generated_ones() {
    // `edgelab deploy compose config/default.toml` writes exactly the shipped files, so the
    // compose file and the Prometheus targets can never drift from the topology.
    let out = std::env::temp_dir().join(format!("edgelab-deploy-compose-{}", std::process::id()));
    let topology = repo().join("config/default.toml");
    let output = run(
        &[
            "deploy",
            "compose",
            topology.to_str().expect("utf-8 path"),
            "--out",
            out.to_str().expect("utf-8 path"),
        ],
        Duration::from_secs(20),
    );
    assert!(
        output.status.success(),
        "edgelab deploy compose failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for file in [
        "docker-compose.yml",
        "deploy/prometheus/prometheus.yml",
        "deploy/prometheus/targets/edgelab.json",
        "deploy/grafana/dashboards/edgelab.json",
        "config/default.toml",
    ] {
        let generated = std::fs::read_to_string(out.join(file))
            .unwrap_or_else(|e| panic!("{file} was not generated: {e}"));
        assert!(
            generated == read(file),
            "{file} differs from `edgelab deploy compose config/default.toml`; regenerate it \
             with `edgelab deploy compose config/default.toml --out .`"
        );
    }
    // A fresh .env holds the secrets compose requires; a second run keeps them.
    let env = std::fs::read_to_string(out.join(".env")).expect(".env written");
    let token = env
        .lines()
        .find_map(|l| l.strip_prefix("EDGELAB_ADMIN_TOKEN="))
        .expect("an admin token");
    assert_eq!(token.len(), 32, "a 128-bit hex token: {token}");
    assert!(env.contains("GRAFANA_ADMIN_PASSWORD="));
    let again = run(
        &[
            "deploy",
            "compose",
            topology.to_str().expect("utf-8 path"),
            "--out",
            out.to_str().expect("utf-8 path"),
        ],
        Duration::from_secs(20),
    );
    assert!(again.status.success());
    assert_eq!(
        std::fs::read_to_string(out.join(".env")).expect(".env kept"),
        env
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn deploy_stack_and_k8s_name_every_node() {
    let out = std::env::temp_dir().join(format!("edgelab-deploy-other-{}", std::process::id()));
    for kind in ["stack", "k8s"] {
        let output = run(
            &["deploy", kind, "--out", out.to_str().expect("utf-8 path")],
            Duration::from_secs(20),
        );
        assert!(
            output.status.success(),
            "edgelab deploy {kind}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stack: Value = {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            &std::fs::read_to_string(out.join("edgelab-stack.yml")).expect("stack file"),
        )
        .expect("stack YAML");
        serde_json::to_value(value).expect("JSON")
    };
    let nodes = std::fs::read_to_string(out.join("k8s/nodes.yaml")).expect("k8s/nodes.yaml");
    for node in default_nodes() {
        assert_eq!(
            stack["services"][&node.name]["deploy"]["endpoint_mode"], "dnsrr",
            "{}",
            node.name
        );
        assert!(
            nodes.contains(&format!("name: {}\n", node.name)),
            "k8s: no objects for {}",
            node.name
        );
    }
    assert!(out.join("k8s/kustomization.yaml").is_file());
    assert!(out.join("config/default.toml").is_file());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn deploy_with_a_bad_topology_is_a_config_error() {
    let dir = temp_dir("deploy-bad");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "pops = [\"XXX\"]\n").expect("write");
    let output = run(
        &[
            "deploy",
            "compose",
            bad.to_str().expect("utf-8"),
            "--out",
            dir.to_str().expect("utf-8"),
        ],
        Duration::from_secs(20),
    );
    exited(&output, 64);
    assert!(!dir.join("docker-compose.yml").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sharded_loadgen_commands_of_the_stack_and_the_job_are_accepted() {
    let out = std::env::temp_dir().join(format!("edgelab-deploy-shards-{}", std::process::id()));
    for kind in ["stack", "k8s"] {
        let args = ["deploy", kind, "--loadgen-shards", "2", "--out"];
        let output = run(
            &[&args[..], &[out.to_str().expect("utf-8 path")]].concat(),
            Duration::from_secs(20),
        );
        assert!(output.status.success(), "{kind}: {output:?}");
    }
    let zero = run(
        &["deploy", "k8s", "--loadgen-shards", "0"],
        Duration::from_secs(20),
    );
    exited(&zero, 64);
    let parse = |path: &str| -> Value {
        let text = std::fs::read_to_string(out.join(path)).expect(path);
        serde_json::to_value(serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text).unwrap())
            .unwrap()
    };
    let topology = repo().join("config/default.toml");
    let report = out.join("report");
    let local = |args: Vec<String>| -> Vec<String> {
        args.into_iter()
            .map(|arg| match arg.as_str() {
                "/etc/edgelab/default.toml" => topology.to_string_lossy().into_owned(),
                "/report" => report.to_string_lossy().into_owned(),
                _ => arg,
            })
            .collect()
    };
    // Swarm: the stack header's one-shot service, task 2's environment as the engine
    // expands {{.Task.Slot}}.
    let header = std::fs::read_to_string(out.join("edgelab-stack.yml")).expect("stack file");
    let service: String = header
        .lines()
        .skip_while(|line| !line.contains("docker service create"))
        .take_while(|line| line.starts_with('#'))
        .map(|line| line.trim_start_matches('#').trim_end_matches('\\'))
        .take_while(|line| !line.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let service = service.split("   #").next().unwrap_or_default();
    let words: Vec<&str> = service.split_whitespace().collect();
    let env_at = words.iter().position(|w| *w == "--env").expect("--env");
    let shard = words[env_at + 1]
        .trim_matches('\'')
        .strip_prefix("EDGELAB_SHARD=")
        .expect("the shard from the environment")
        .replace("{{.Task.Slot}}", "2");
    assert_eq!(shard, "2/2");
    let image_at = words
        .iter()
        .position(|w| *w == "edgelab:local")
        .expect("image");
    let swarm = local(
        words[image_at + 1..]
            .iter()
            .map(|w| w.to_string())
            .collect(),
    );
    // Kubernetes: pod 1 of the indexed Job, as the kubelet expands $(JOB_COMPLETION_INDEX).
    let job = parse("k8s/loadgen.yaml");
    let k8s = local(
        strings(&job["spec"]["template"]["spec"]["containers"][0]["args"])
            .into_iter()
            .map(|arg| arg.replace("$(JOB_COMPLETION_INDEX)", "1"))
            .collect(),
    );
    for (command, env) in [
        (swarm, vec![("EDGELAB_SHARD", shard.as_str())]),
        (k8s, vec![]),
    ] {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let output = run_env(&args, &env, Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_ne!(
            output.status.code(),
            Some(64),
            "usage error: {args:?} {stderr}"
        );
        assert!(
            default_nodes()
                .iter()
                .any(|node| stderr.contains(&format!("http://{}:8080", node.name))),
            "the shard does not look for the nodes by name: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
