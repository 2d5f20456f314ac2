//! Deployment files generated from a topology: a docker compose file, a Docker Swarm stack
//! file and a Kubernetes kustomize base, so none of them is written (or drifts) by hand.
//!
//! Pure: a [`Topology`] and [`DeployOptions`] in, [`DeployFile`]s (path relative to the output
//! directory, text) out; the CLI writes them. Every node runs the same image and reads the same
//! topology file as `edgelab up FILE --node NAME --listen 0.0.0.0:8080 --admin 0.0.0.0:9090
//! --peers dns`, so a node reaches a peer `M` at `http://M:8080` and the service names are the
//! node names in all three. Host ports are published on [`DeployOptions::publish`]
//! (127.0.0.1 unless asked otherwise); secrets come from the environment (compose reads them
//! from the `.env` file [`env_file`] writes), never from a default in the files.

use std::net::IpAddr;

use edgelab_common::names::env;
use serde_yaml_ng::{Mapping, Value};

use crate::topology::{NodePlan, Topology};

/// Traffic port of every node inside its container.
pub const TRAFFIC_PORT: u16 = 8080;
/// Admin port (`/healthz`, `/readyz`, `/metrics`) of every node inside its container.
pub const ADMIN_PORT: u16 = 9090;
/// Host port of the primary origin replica; the PoPs follow from `ORIGIN_HOST_PORT + 1`.
pub const ORIGIN_HOST_PORT: u16 = 8000;
/// The image every node runs.
pub const IMAGE: &str = "edgelab:local";
/// Where the topology directory is mounted (compose) or the topology file put (Swarm, k8s).
pub const CONFIG_DIR: &str = "/etc/edgelab";
/// The variable holding Grafana's admin password (in `.env`).
pub const GRAFANA_PASSWORD: &str = "GRAFANA_ADMIN_PASSWORD";
/// Shipped Prometheus configuration (targets come from `targets/*.json`).
pub const PROMETHEUS_YML: &str = include_str!("../../../deploy/prometheus/prometheus.yml");
const GRAFANA_DATASOURCE: &str =
    include_str!("../../../deploy/grafana/provisioning/datasources/prometheus.yml");
const GRAFANA_PROVIDER: &str =
    include_str!("../../../deploy/grafana/provisioning/dashboards/edgelab.yml");
const GRAFANA_DASHBOARD: &str = include_str!("../../../deploy/grafana/dashboards/edgelab.json");

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `docker-compose.yml` (one machine).
    Compose,
    /// `edgelab-stack.yml` for `docker stack deploy` (a Swarm of one or many machines).
    Stack,
    /// A kustomize base under `k8s/` for `kubectl apply -k`.
    Kubernetes,
}

/// Settings of the generated files.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// File name of the topology inside [`CONFIG_DIR`] (e.g. `default.toml`).
    pub topology_file: String,
    /// The topology file's text (the Kubernetes ConfigMap carries it).
    pub topology_text: String,
    /// Host address published ports bind (compose). Default 127.0.0.1.
    pub publish: IpAddr,
    /// Swarm: require each node's machine to carry its place label (see docs/deploy.md).
    pub constrain: bool,
    /// Swarm and Kubernetes: how many load generators share the comparison, each sending
    /// one shard of the seeded workload (`compare --shard I/N`). Default 1.
    pub loadgen_shards: u32,
}

impl DeployOptions {
    /// Options for the topology file `name` holding `text`, publishing on 127.0.0.1, no
    /// placement constraints.
    pub fn new(name: &str, text: &str) -> DeployOptions {
        DeployOptions {
            topology_file: name.to_string(),
            topology_text: text.to_string(),
            publish: IpAddr::from([127, 0, 0, 1]),
            constrain: false,
            loadgen_shards: 1,
        }
    }

    fn topology_path(&self) -> String {
        format!("{CONFIG_DIR}/{}", self.topology_file)
    }
}

/// One generated file: path relative to the output directory, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployFile {
    /// Relative path (`/`-separated).
    pub path: String,
    /// Contents.
    pub text: String,
}

impl DeployFile {
    fn new(path: &str, text: impl Into<String>) -> DeployFile {
        DeployFile {
            path: path.to_string(),
            text: text.into(),
        }
    }
}

/// Every file of `target` for `topology` (the topology file itself is not among them: the
/// caller puts it at `config/<topology_file>`).
pub fn generate(topology: &Topology, target: Target, options: &DeployOptions) -> Vec<DeployFile> {
    match target {
        Target::Compose => {
            let mut files = vec![DeployFile::new(
                "docker-compose.yml",
                compose(topology, options),
            )];
            files.extend(monitoring(topology));
            files
        }
        Target::Stack => {
            let mut files = vec![DeployFile::new(
                "edgelab-stack.yml",
                stack(topology, options),
            )];
            files.extend(monitoring(topology));
            files
        }
        Target::Kubernetes => kubernetes(topology, options),
    }
}

/// The `.env` file compose reads: a fresh admin token and Grafana password from
/// `random_hex` (called once per secret). Written only when none exists, so a re-run keeps
/// the secrets.
pub fn env_file(random_hex: &mut dyn FnMut() -> String) -> String {
    format!(
        "# Secrets of the generated deployment (edgelab deploy); keep this file private.\n\
         {}={}\n{GRAFANA_PASSWORD}={}\n",
        env::ADMIN_TOKEN,
        random_hex(),
        random_hex()
    )
}

/// Prometheus file-based discovery targets: `NAME:9090` for every node, labels `node`, `tier`.
pub fn prometheus_targets(topology: &Topology) -> String {
    let groups: Vec<serde_json::Value> = topology
        .nodes
        .iter()
        .map(|node| {
            serde_json::json!({
                "targets": [format!("{}:{ADMIN_PORT}", node.name)],
                "labels": { "node": node.name, "tier": node.tier.as_str() },
            })
        })
        .collect();
    // A Vec of json! values always serialises.
    let mut text = serde_json::to_string_pretty(&groups).expect("JSON values serialise");
    text.push('\n');
    text
}

/// Prometheus' and Grafana's files (the same for compose and Swarm).
fn monitoring(topology: &Topology) -> Vec<DeployFile> {
    vec![
        DeployFile::new("deploy/prometheus/prometheus.yml", PROMETHEUS_YML),
        DeployFile::new(
            "deploy/prometheus/targets/edgelab.json",
            prometheus_targets(topology),
        ),
        DeployFile::new(
            "deploy/grafana/provisioning/datasources/prometheus.yml",
            GRAFANA_DATASOURCE,
        ),
        DeployFile::new(
            "deploy/grafana/provisioning/dashboards/edgelab.yml",
            GRAFANA_PROVIDER,
        ),
        DeployFile::new("deploy/grafana/dashboards/edgelab.json", GRAFANA_DASHBOARD),
    ]
}

// ---- YAML building -------------------------------------------------------------------------

fn s(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut mapping = Mapping::new();
    for (key, value) in pairs {
        mapping.insert(s(key), value);
    }
    Value::Mapping(mapping)
}

fn seq<I: IntoIterator<Item = Value>>(items: I) -> Value {
    Value::Sequence(items.into_iter().collect())
}

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    seq(items.into_iter().map(s))
}

fn yaml(header: &str, value: &Value) -> String {
    // Mappings of strings, sequences and numbers always serialise.
    let body = serde_yaml_ng::to_string(value).expect("YAML values serialise");
    format!("{header}{body}")
}

/// The container command of node `node`.
fn node_command(node: &NodePlan, options: &DeployOptions) -> Value {
    let listen = format!("0.0.0.0:{TRAFFIC_PORT}");
    let admin = format!("0.0.0.0:{ADMIN_PORT}");
    strings([
        "up",
        &options.topology_path(),
        "--node",
        &node.name,
        "--listen",
        &listen,
        "--admin",
        &admin,
        "--peers",
        "dns",
    ])
}

/// The load generator's command: the topology's comparison against the running nodes.
fn loadgen_command(options: &DeployOptions) -> Value {
    strings([
        "compare",
        "--topology",
        &options.topology_path(),
        "--peers",
        "dns",
        "--out",
        "/report",
    ])
}

/// The load generator's command with a shard whose index comes from `index` (text the
/// orchestrator expands): `… --shard INDEX/N`.
fn sharded_loadgen_command(options: &DeployOptions, index: &str) -> Value {
    let Value::Sequence(mut command) = loadgen_command(options) else {
        unreachable!("strings() builds a sequence")
    };
    command.push(s("--shard"));
    command.push(s(format!("{index}/{}", options.loadgen_shards)));
    Value::Sequence(command)
}

/// `${VAR:?message}`: compose and `docker stack deploy` refuse to start without it.
fn required(variable: &str) -> Value {
    s(format!(
        "${{{variable}:?is not set; edgelab deploy writes it into .env}}"
    ))
}

fn node_environment() -> Value {
    map([
        ("EDGELAB_LOG", s("info")),
        (env::ADMIN_TOKEN, required(env::ADMIN_TOKEN)),
    ])
}

/// Host port of a node that publishes its traffic port: the primary origin and every PoP.
fn host_port(topology: &Topology, node: &NodePlan) -> Option<u16> {
    if topology
        .origins()
        .next()
        .is_some_and(|o| o.name == node.name)
    {
        return Some(ORIGIN_HOST_PORT);
    }
    let index = topology.pops().position(|p| p.name == node.name)?;
    u16::try_from(index + 1)
        .ok()
        .and_then(|i| ORIGIN_HOST_PORT.checked_add(i))
}

fn healthy(names: impl IntoIterator<Item = String>) -> Value {
    let mut mapping = Mapping::new();
    for name in names {
        mapping.insert(s(name), map([("condition", s("service_healthy"))]));
    }
    Value::Mapping(mapping)
}

// ---- compose -------------------------------------------------------------------------------

const COMPOSE_HEADER: &str = "\
# Generated by `edgelab deploy compose TOPOLOGY`: edit the topology and regenerate, not this file.
# One `edgelab up --node NAME` per node, Prometheus scraping every node, Grafana with the
# edgelab dashboard and the load generator (profile `loadgen`). The secrets come from .env,
# which `edgelab deploy compose` writes on its first run.
#
#   docker compose up -d --build                       # the CDN, Prometheus, Grafana
#   docker compose --profile loadgen up loadgen        # direct vs edge comparison (one shot)
#   docker compose cp loadgen:/report ./edgelab-report # its HTML/JSON report
#
# Node N listens on N:8080 (traffic) and N:9090 (admin) and finds its peers by service name
# (--peers dns). Published on the host: the primary origin replica 8000, the PoPs from 8001 in
# topology order, Prometheus 9090, Grafana 3000. See docs/deploy.md.
";

/// The compose file of `topology`.
pub fn compose(topology: &Topology, options: &DeployOptions) -> String {
    let mut services = Mapping::new();
    for node in &topology.nodes {
        services.insert(s(&node.name), compose_node(topology, node, options));
    }
    services.insert(s("loadgen"), compose_loadgen(topology, options));
    services.insert(s("prometheus"), compose_prometheus(options));
    services.insert(s("grafana"), compose_grafana(options));
    let file = map([
        ("services", Value::Mapping(services)),
        (
            "volumes",
            map([
                ("report", Value::Null),
                ("prometheus-data", Value::Null),
                ("grafana-data", Value::Null),
            ]),
        ),
    ]);
    yaml(COMPOSE_HEADER, &file)
}

fn publish(options: &DeployOptions, host: u16, container: u16) -> Value {
    s(format!("{}:{host}:{container}", options.publish))
}

fn compose_node(topology: &Topology, node: &NodePlan, options: &DeployOptions) -> Value {
    let mut service = map([
        ("image", s(IMAGE)),
        ("build", s(".")),
        ("restart", s("unless-stopped")),
        ("command", node_command(node, options)),
        ("environment", node_environment()),
        ("volumes", strings([&*format!("./config:{CONFIG_DIR}:ro")])),
        ("labels", node_labels(node)),
    ]);
    let Value::Mapping(fields) = &mut service else {
        unreachable!("map() builds a mapping")
    };
    if let Some(port) = host_port(topology, node) {
        fields.insert(s("ports"), seq([publish(options, port, TRAFFIC_PORT)]));
    }
    if !node.upstream.is_empty() {
        fields.insert(s("depends_on"), healthy(node.upstream.iter().cloned()));
    }
    service
}

/// `edgelab.*` labels of a node: tier, place and (origins) Region.
fn node_labels(node: &NodePlan) -> Value {
    let mut labels = Mapping::new();
    labels.insert(s("edgelab.node"), s(&node.name));
    labels.insert(s("edgelab.tier"), s(node.tier.as_str()));
    labels.insert(s("edgelab.place"), s(&node.place));
    if let Some(region) = &node.region {
        labels.insert(s("edgelab.region"), s(region));
    }
    Value::Mapping(labels)
}

fn compose_loadgen(topology: &Topology, options: &DeployOptions) -> Value {
    map([
        ("image", s(IMAGE)),
        ("build", s(".")),
        // No `restart:` (compose's default is not to restart): a one-shot run. (A plain `no`
        // is a YAML 1.1 boolean to docker-compose 1.x.)
        ("profiles", strings(["loadgen"])),
        // No admin port: the image's /healthz check is for the nodes.
        ("healthcheck", map([("disable", Value::Bool(true))])),
        ("command", loadgen_command(options)),
        ("environment", node_environment()),
        (
            "volumes",
            strings([&*format!("./config:{CONFIG_DIR}:ro"), "report:/report"]),
        ),
        (
            "depends_on",
            healthy(topology.pops().map(|p| p.name.clone())),
        ),
    ])
}

fn compose_prometheus(options: &DeployOptions) -> Value {
    map([
        ("image", s("${PROMETHEUS_IMAGE:-prom/prometheus:v2.55.1}")),
        ("restart", s("unless-stopped")),
        ("command", prometheus_flags()),
        ("ports", seq([publish(options, 9090, 9090)])),
        (
            "volumes",
            strings([
                "./deploy/prometheus:/etc/prometheus:ro",
                "prometheus-data:/prometheus",
            ]),
        ),
    ])
}

fn prometheus_flags() -> Value {
    strings([
        "--config.file=/etc/prometheus/prometheus.yml",
        "--storage.tsdb.path=/prometheus",
        "--storage.tsdb.retention.time=7d",
    ])
}

fn compose_grafana(options: &DeployOptions) -> Value {
    map([
        ("image", s("${GRAFANA_IMAGE:-grafana/grafana:11.4.0}")),
        ("restart", s("unless-stopped")),
        ("ports", seq([publish(options, 3000, 3000)])),
        (
            "environment",
            map([
                ("GF_AUTH_ANONYMOUS_ENABLED", s("true")),
                ("GF_AUTH_ANONYMOUS_ORG_ROLE", s("Viewer")),
                ("GF_SECURITY_ADMIN_PASSWORD", required(GRAFANA_PASSWORD)),
                (
                    "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH",
                    s("/var/lib/grafana/dashboards/edgelab.json"),
                ),
            ]),
        ),
        (
            "volumes",
            strings([
                "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro",
                "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro",
                "grafana-data:/var/lib/grafana",
            ]),
        ),
        ("depends_on", strings(["prometheus"])),
    ])
}

// ---- Swarm ---------------------------------------------------------------------------------

/// The stack file's opening comment: how to deploy it and run the load generator on it (in
/// [`DeployOptions::loadgen_shards`] shards), with the topology's real file name (a load
/// generator container reads the stack's `topology` config, not the image's copy, so any
/// topology works).
fn stack_header(options: &DeployOptions) -> String {
    let topology = options.topology_path();
    let shards = options.loadgen_shards;
    format!(
        "\
# Generated by `edgelab deploy stack TOPOLOGY`: a Docker Swarm stack of the topology.
#
#   set -a; . ./.env; set +a       # the secrets (docker stack deploy reads no .env)
#   docker stack deploy --resolve-image never -c edgelab-stack.yml edgelab
#   docker service create --name edgelab_loadgen --restart-condition none --replicas {shards} \\
#       --network edgelab_edgelab --config source=edgelab_topology,target={topology} \\
#       --env 'EDGELAB_SHARD={{{{.Task.Slot}}}}/{shards}' --no-resolve-image edgelab:local \\
#       loadgen --topology {topology} --peers dns   # {shards} load generator shard(s)
#
# `--resolve-image never`: the image edgelab:local is loaded on every machine, not pulled.
# Every service resolves to its task's address (endpoint_mode: dnsrr) on the overlay network
# `edgelab`: Swarm's VIP routing mesh is not needed. Placement prefers spreading the nodes over
# machines labelled edgelab.place (docker node update --label-add edgelab.place=FRA NODE); with
# `--constrain`, each node must run on a machine with its label. See docs/deploy.md.
"
    )
}

/// The Swarm stack file of `topology`.
pub fn stack(topology: &Topology, options: &DeployOptions) -> String {
    let mut services = Mapping::new();
    for node in &topology.nodes {
        services.insert(s(&node.name), stack_node(node, options));
    }
    services.insert(s("prometheus"), stack_prometheus());
    let file = map([
        ("version", s("3.8")),
        ("services", Value::Mapping(services)),
        (
            "networks",
            map([(
                "edgelab",
                map([("driver", s("overlay")), ("attachable", Value::Bool(true))]),
            )]),
        ),
        (
            "configs",
            map([
                (
                    "topology",
                    map([("file", s(format!("./config/{}", options.topology_file)))]),
                ),
                (
                    "prometheus",
                    map([("file", s("./deploy/prometheus/prometheus.yml"))]),
                ),
                (
                    "prometheus-targets",
                    map([("file", s("./deploy/prometheus/targets/edgelab.json"))]),
                ),
            ]),
        ),
    ]);
    yaml(&stack_header(options), &file)
}

fn stack_node(node: &NodePlan, options: &DeployOptions) -> Value {
    let mut placement = map([(
        "preferences",
        seq([map([("spread", s("node.labels.edgelab.place"))])]),
    )]);
    if options.constrain {
        let Value::Mapping(fields) = &mut placement else {
            unreachable!("map() builds a mapping")
        };
        fields.insert(
            s("constraints"),
            strings([&*format!("node.labels.edgelab.place == {}", node.place)]),
        );
    }
    map([
        ("image", s(IMAGE)),
        ("command", node_command(node, options)),
        ("environment", node_environment()),
        (
            "configs",
            seq([map([
                ("source", s("topology")),
                ("target", s(options.topology_path())),
            ])]),
        ),
        ("networks", strings(["edgelab"])),
        (
            "deploy",
            map([
                ("endpoint_mode", s("dnsrr")),
                ("replicas", Value::from(1)),
                ("labels", node_labels(node)),
                ("placement", placement),
                (
                    "resources",
                    map([("reservations", map([("memory", s("64M"))]))]),
                ),
            ]),
        ),
    ])
}

fn stack_prometheus() -> Value {
    map([
        ("image", s("${PROMETHEUS_IMAGE:-prom/prometheus:v2.55.1}")),
        ("command", prometheus_flags()),
        (
            "configs",
            seq([
                map([
                    ("source", s("prometheus")),
                    ("target", s("/etc/prometheus/prometheus.yml")),
                ]),
                map([
                    ("source", s("prometheus-targets")),
                    ("target", s("/etc/prometheus/targets/edgelab.json")),
                ]),
            ]),
        ),
        ("networks", strings(["edgelab"])),
        (
            "deploy",
            map([("endpoint_mode", s("dnsrr")), ("replicas", Value::from(1))]),
        ),
    ])
}

// ---- Kubernetes ----------------------------------------------------------------------------

/// Label keys of the Kubernetes objects.
const K8S_APP: &str = "app.kubernetes.io/name";
const K8S_NODE: &str = "edgelab.io/node";

fn k8s_labels(node: &NodePlan) -> Value {
    let mut labels = Mapping::new();
    labels.insert(s(K8S_APP), s("edgelab"));
    labels.insert(s(K8S_NODE), s(&node.name));
    labels.insert(s("edgelab.io/tier"), s(node.tier.as_str()));
    labels.insert(s("edgelab.io/place"), s(&node.place));
    if let Some(region) = &node.region {
        labels.insert(s("edgelab.io/region"), s(region));
    }
    Value::Mapping(labels)
}

fn documents(docs: &[Value]) -> String {
    let mut text = String::from("# Generated by `edgelab deploy k8s TOPOLOGY`.\n");
    for doc in docs {
        text.push_str("---\n");
        text.push_str(&yaml("", doc));
    }
    text
}

/// The kustomize base of `topology`: `k8s/kustomization.yaml` and its resources.
pub fn kubernetes(topology: &Topology, options: &DeployOptions) -> Vec<DeployFile> {
    let mut nodes = Vec::new();
    for node in &topology.nodes {
        nodes.push(k8s_deployment(node, options));
        nodes.push(k8s_service(node));
    }
    let resources = [
        "config.yaml",
        "nodes.yaml",
        "prometheus.yaml",
        "loadgen.yaml",
    ];
    let kustomization = map([
        ("apiVersion", s("kustomize.config.k8s.io/v1beta1")),
        ("kind", s("Kustomization")),
        (
            "labels",
            seq([map([(
                "pairs",
                map([("app.kubernetes.io/part-of", s("edgelab"))]),
            )])]),
        ),
        ("resources", strings(resources)),
    ]);
    vec![
        DeployFile::new(
            "k8s/kustomization.yaml",
            yaml(
                "# Generated by `edgelab deploy k8s`: kubectl apply -k k8s/\n",
                &kustomization,
            ),
        ),
        DeployFile::new("k8s/config.yaml", documents(&k8s_config(topology, options))),
        DeployFile::new("k8s/nodes.yaml", documents(&nodes)),
        DeployFile::new("k8s/prometheus.yaml", documents(&k8s_prometheus())),
        DeployFile::new("k8s/loadgen.yaml", documents(&[k8s_loadgen(options)])),
    ]
}

fn config_map(name: &str, data: Vec<(String, String)>) -> Value {
    let mut entries = Mapping::new();
    for (key, value) in data {
        entries.insert(s(key), s(value));
    }
    map([
        ("apiVersion", s("v1")),
        ("kind", s("ConfigMap")),
        ("metadata", map([("name", s(name))])),
        ("data", Value::Mapping(entries)),
    ])
}

/// The topology file and Prometheus' configuration as ConfigMaps.
fn k8s_config(topology: &Topology, options: &DeployOptions) -> Vec<Value> {
    vec![
        config_map(
            "edgelab-topology",
            vec![(options.topology_file.clone(), options.topology_text.clone())],
        ),
        config_map(
            "edgelab-prometheus",
            vec![
                ("prometheus.yml".into(), PROMETHEUS_YML.into()),
                ("edgelab.json".into(), prometheus_targets(topology)),
            ],
        ),
    ]
}

fn probe(path: &str) -> Value {
    map([
        ("httpGet", map([("path", s(path)), ("port", s("admin"))])),
        ("periodSeconds", Value::from(5)),
    ])
}

fn container_ports() -> Value {
    seq([
        map([
            ("name", s("traffic")),
            ("containerPort", Value::from(TRAFFIC_PORT)),
        ]),
        map([
            ("name", s("admin")),
            ("containerPort", Value::from(ADMIN_PORT)),
        ]),
    ])
}

fn token_env() -> Value {
    seq([map([
        ("name", s(env::ADMIN_TOKEN)),
        (
            "valueFrom",
            map([(
                "secretKeyRef",
                map([
                    ("name", s("edgelab-admin")),
                    ("key", s("token")),
                    ("optional", Value::Bool(true)),
                ]),
            )]),
        ),
    ])])
}

fn topology_volume() -> (Value, Value) {
    (
        seq([map([
            ("name", s("topology")),
            ("configMap", map([("name", s("edgelab-topology"))])),
        ])]),
        seq([map([
            ("name", s("topology")),
            ("mountPath", s(CONFIG_DIR)),
            ("readOnly", Value::Bool(true)),
        ])]),
    )
}

/// Prefer machines labelled `edgelab.io/place=<place>` (never required).
fn affinity(node: &NodePlan) -> Value {
    let term = map([(
        "matchExpressions",
        seq([map([
            ("key", s("edgelab.io/place")),
            ("operator", s("In")),
            ("values", strings([node.place.as_str()])),
        ])]),
    )]);
    map([(
        "nodeAffinity",
        map([(
            "preferredDuringSchedulingIgnoredDuringExecution",
            seq([map([("weight", Value::from(50)), ("preference", term)])]),
        )]),
    )])
}

fn k8s_deployment(node: &NodePlan, options: &DeployOptions) -> Value {
    let (volumes, mounts) = topology_volume();
    let container = map([
        ("name", s("edgelab")),
        ("image", s(IMAGE)),
        ("imagePullPolicy", s("IfNotPresent")),
        ("args", node_command(node, options)),
        ("env", token_env()),
        ("ports", container_ports()),
        ("readinessProbe", probe("/readyz")),
        ("livenessProbe", probe("/healthz")),
        (
            "resources",
            map([("requests", map([("cpu", s("100m")), ("memory", s("64Mi"))]))]),
        ),
        ("volumeMounts", mounts),
    ]);
    map([
        ("apiVersion", s("apps/v1")),
        ("kind", s("Deployment")),
        (
            "metadata",
            map([("name", s(&node.name)), ("labels", k8s_labels(node))]),
        ),
        (
            "spec",
            map([
                ("replicas", Value::from(1)),
                (
                    "selector",
                    map([("matchLabels", map([(K8S_NODE, s(&node.name))]))]),
                ),
                (
                    "template",
                    map([
                        ("metadata", map([("labels", k8s_labels(node))])),
                        (
                            "spec",
                            map([
                                ("affinity", affinity(node)),
                                ("containers", seq([container])),
                                ("volumes", volumes),
                            ]),
                        ),
                    ]),
                ),
            ]),
        ),
    ])
}

fn service_port(name: &str, port: u16) -> Value {
    map([
        ("name", s(name)),
        ("port", Value::from(port)),
        ("targetPort", s(name)),
    ])
}

fn k8s_service(node: &NodePlan) -> Value {
    map([
        ("apiVersion", s("v1")),
        ("kind", s("Service")),
        (
            "metadata",
            map([("name", s(&node.name)), ("labels", k8s_labels(node))]),
        ),
        (
            "spec",
            map([
                ("selector", map([(K8S_NODE, s(&node.name))])),
                (
                    "ports",
                    seq([
                        service_port("traffic", TRAFFIC_PORT),
                        service_port("admin", ADMIN_PORT),
                    ]),
                ),
            ]),
        ),
    ])
}

fn k8s_prometheus() -> Vec<Value> {
    let labels = map([(K8S_APP, s("prometheus"))]);
    let container = k8s_prometheus_container();
    k8s_prometheus_objects(labels, container)
}

fn k8s_prometheus_container() -> Value {
    map([
        ("name", s("prometheus")),
        ("image", s("prom/prometheus:v2.55.1")),
        ("args", prometheus_flags()),
        (
            "ports",
            seq([map([
                ("name", s("web")),
                ("containerPort", Value::from(9090)),
            ])]),
        ),
        (
            "readinessProbe",
            map([(
                "httpGet",
                map([("path", s("/-/ready")), ("port", s("web"))]),
            )]),
        ),
        (
            "resources",
            map([(
                "requests",
                map([("cpu", s("100m")), ("memory", s("256Mi"))]),
            )]),
        ),
        (
            "volumeMounts",
            seq([
                map([
                    ("name", s("config")),
                    ("mountPath", s("/etc/prometheus/prometheus.yml")),
                    ("subPath", s("prometheus.yml")),
                ]),
                map([
                    ("name", s("config")),
                    ("mountPath", s("/etc/prometheus/targets/edgelab.json")),
                    ("subPath", s("edgelab.json")),
                ]),
                map([("name", s("data")), ("mountPath", s("/prometheus"))]),
            ]),
        ),
    ])
}

fn k8s_prometheus_objects(labels: Value, container: Value) -> Vec<Value> {
    let deployment = map([
        ("apiVersion", s("apps/v1")),
        ("kind", s("Deployment")),
        (
            "metadata",
            map([("name", s("prometheus")), ("labels", labels.clone())]),
        ),
        (
            "spec",
            map([
                ("replicas", Value::from(1)),
                ("selector", map([("matchLabels", labels.clone())])),
                (
                    "template",
                    map([
                        ("metadata", map([("labels", labels.clone())])),
                        (
                            "spec",
                            map([
                                ("containers", seq([container])),
                                (
                                    "volumes",
                                    seq([
                                        map([
                                            ("name", s("config")),
                                            ("configMap", map([("name", s("edgelab-prometheus"))])),
                                        ]),
                                        map([("name", s("data")), ("emptyDir", map([]))]),
                                    ]),
                                ),
                            ]),
                        ),
                    ]),
                ),
            ]),
        ),
    ]);
    let service = map([
        ("apiVersion", s("v1")),
        ("kind", s("Service")),
        (
            "metadata",
            map([("name", s("prometheus")), ("labels", labels.clone())]),
        ),
        (
            "spec",
            map([
                ("selector", labels),
                ("ports", seq([service_port("web", 9090)])),
            ]),
        ),
    ]);
    vec![deployment, service]
}

fn k8s_loadgen(options: &DeployOptions) -> Value {
    let (volumes, mounts) = topology_volume();
    let Value::Sequence(mut mounts) = mounts else {
        unreachable!("seq() builds a sequence")
    };
    mounts.push(map([("name", s("report")), ("mountPath", s("/report"))]));
    let Value::Sequence(mut volumes) = volumes else {
        unreachable!("seq() builds a sequence")
    };
    volumes.push(map([("name", s("report")), ("emptyDir", map([]))]));
    let labels = map([(K8S_APP, s("edgelab-loadgen"))]);
    let container = map([
        ("name", s("loadgen")),
        ("image", s(IMAGE)),
        ("imagePullPolicy", s("IfNotPresent")),
        // The Job controller sets JOB_COMPLETION_INDEX (0-based); the kubelet expands it.
        (
            "args",
            sharded_loadgen_command(options, "$(JOB_COMPLETION_INDEX)+1"),
        ),
        (
            "resources",
            map([(
                "requests",
                map([("cpu", s("500m")), ("memory", s("128Mi"))]),
            )]),
        ),
        ("volumeMounts", Value::Sequence(mounts)),
    ]);
    map([
        ("apiVersion", s("batch/v1")),
        ("kind", s("Job")),
        (
            "metadata",
            map([("name", s("edgelab-loadgen")), ("labels", labels.clone())]),
        ),
        (
            "spec",
            map([
                // An indexed Job: pod K sends shard K+1 of the comparison.
                ("completionMode", s("Indexed")),
                ("completions", Value::from(options.loadgen_shards)),
                ("parallelism", Value::from(options.loadgen_shards)),
                ("backoffLimit", Value::from(0)),
                (
                    "template",
                    map([
                        ("metadata", map([("labels", labels)])),
                        (
                            "spec",
                            map([
                                ("restartPolicy", s("Never")),
                                ("containers", seq([container])),
                                ("volumes", Value::Sequence(volumes)),
                            ]),
                        ),
                    ]),
                ),
            ]),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_files(target: Target) -> Vec<DeployFile> {
        generate(
            &Topology::default_topology(),
            target,
            &DeployOptions::new("default.toml", crate::topology::DEFAULT_TOPOLOGY),
        )
    }

    fn parse(text: &str) -> serde_json::Value {
        let value: Value = serde_yaml_ng::from_str(text).expect("generated YAML parses");
        serde_json::to_value(value).expect("YAML as JSON")
    }

    #[test]
    fn compose_publishes_only_on_loopback_and_requires_secrets() {
        let files = default_files(Target::Compose);
        let compose = parse(&files[0].text);
        let services = compose["services"].as_object().expect("services");
        let mut published = 0;
        for (name, service) in services {
            for port in service["ports"].as_array().into_iter().flatten() {
                let port = port.as_str().expect("a port string");
                assert!(port.starts_with("127.0.0.1:"), "{name} publishes {port}");
                published += 1;
            }
        }
        // The primary origin, 7 PoPs, Prometheus and Grafana.
        assert_eq!(published, 10);
        let token = &services["pop-fra"]["environment"][env::ADMIN_TOKEN];
        assert!(
            token
                .as_str()
                .is_some_and(|t| t.starts_with("${EDGELAB_ADMIN_TOKEN:?"))
        );
        let password = &services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"];
        assert!(
            password
                .as_str()
                .is_some_and(|p| p.starts_with("${GRAFANA_ADMIN_PASSWORD:?"))
        );
    }

    #[test]
    fn publish_address_is_an_option() {
        let mut options = DeployOptions::new("default.toml", crate::topology::DEFAULT_TOPOLOGY);
        options.publish = IpAddr::from([0, 0, 0, 0]);
        let text = compose(&Topology::default_topology(), &options);
        assert!(text.contains("0.0.0.0:8003:8080"), "{text}");
        assert!(!text.contains("127.0.0.1:"));
    }

    #[test]
    fn stack_services_use_dnsrr_and_optional_constraints() {
        let topology = Topology::default_topology();
        let mut options = DeployOptions::new("default.toml", crate::topology::DEFAULT_TOPOLOGY);
        let stack_file = parse(&stack(&topology, &options));
        for node in &topology.nodes {
            let deploy = &stack_file["services"][&node.name]["deploy"];
            assert_eq!(deploy["endpoint_mode"], "dnsrr", "{}", node.name);
            assert!(deploy["placement"]["constraints"].is_null());
            assert!(stack_file["services"][&node.name]["ports"].is_null());
        }
        options.constrain = true;
        let stack_file = parse(&stack(&topology, &options));
        assert_eq!(
            stack_file["services"]["pop-fra"]["deploy"]["placement"]["constraints"][0],
            "node.labels.edgelab.place == FRA"
        );
    }

    #[test]
    fn stack_header_runs_the_load_generator_on_the_stacks_own_topology() {
        let topology = Topology::default_topology();
        let mut options = DeployOptions::new("lab.toml", crate::topology::DEFAULT_TOPOLOGY);
        options.loadgen_shards = 2;
        let text = stack(&topology, &options);
        let header: String = text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        // The local image is used as is, and the load generator reads the stack's config
        // (the image only holds the shipped topologies), split into shards by task slot.
        assert!(
            header.contains("docker stack deploy --resolve-image never"),
            "{header}"
        );
        assert!(
            header.contains("--config source=edgelab_topology,target=/etc/edgelab/lab.toml"),
            "{header}"
        );
        assert!(
            header.contains("'EDGELAB_SHARD={{.Task.Slot}}/2'"),
            "{header}"
        );
        assert!(
            header.contains("loadgen --topology /etc/edgelab/lab.toml --peers dns"),
            "{header}"
        );
        let parsed = parse(&text);
        assert_eq!(
            parsed["configs"]["topology"]["file"], "./config/lab.toml",
            "the config the header names"
        );
    }

    #[test]
    fn kubernetes_has_a_deployment_and_service_per_node_and_the_topology() {
        let topology = Topology::default_topology();
        let options = DeployOptions::new("default.toml", "name = \"x\"\n");
        let files = kubernetes(&topology, &options);
        let text = |path: &str| {
            files
                .iter()
                .find(|f| f.path == path)
                .map(|f| f.text.clone())
                .unwrap_or_else(|| panic!("no {path}"))
        };
        let nodes: Vec<serde_json::Value> =
            serde_yaml_ng::Deserializer::from_str(&text("k8s/nodes.yaml"))
                .map(|doc| {
                    let value = <Value as serde::Deserialize>::deserialize(doc).expect("a doc");
                    serde_json::to_value(value).expect("JSON")
                })
                .collect();
        assert_eq!(nodes.len(), 2 * topology.nodes.len());
        let deployment = &nodes[0];
        assert_eq!(deployment["kind"], "Deployment");
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["readinessProbe"]["httpGet"]["port"], "admin");
        assert_eq!(container["resources"]["requests"]["cpu"], "100m");
        assert_eq!(nodes[1]["kind"], "Service");
        assert_eq!(nodes[1]["metadata"]["name"], topology.nodes[0].name);
        let config: Vec<serde_json::Value> =
            serde_yaml_ng::Deserializer::from_str(&text("k8s/config.yaml"))
                .map(|doc| {
                    let value = <Value as serde::Deserialize>::deserialize(doc).expect("a doc");
                    serde_json::to_value(value).expect("JSON")
                })
                .collect();
        assert_eq!(config[0]["data"]["default.toml"], "name = \"x\"\n");
    }

    #[test]
    fn sharded_load_generators_in_the_stack_and_the_indexed_job() {
        let topology = Topology::default_topology();
        let mut options = DeployOptions::new("default.toml", crate::topology::DEFAULT_TOPOLOGY);
        options.loadgen_shards = 3;
        // Swarm: the header's one-shot service has N tasks, shard from the task slot.
        let text = stack(&topology, &options);
        assert!(text.contains("--replicas 3 "), "{text}");
        assert!(text.contains("'EDGELAB_SHARD={{.Task.Slot}}/3'"), "{text}");
        assert!(text.contains("# 3 load generator shard(s)"), "{text}");

        let files = kubernetes(&topology, &options);
        let job = parse(
            &files
                .iter()
                .find(|f| f.path == "k8s/loadgen.yaml")
                .unwrap()
                .text,
        );
        assert_eq!(job["kind"], "Job");
        assert_eq!(job["spec"]["completionMode"], "Indexed");
        assert_eq!(job["spec"]["completions"], 3);
        assert_eq!(job["spec"]["parallelism"], 3);
        let args = &job["spec"]["template"]["spec"]["containers"][0]["args"];
        let args: Vec<&str> = args
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let at = args.iter().position(|a| *a == "--shard").expect("--shard");
        assert_eq!(args[at + 1], "$(JOB_COMPLETION_INDEX)+1/3");
        // What the kubelet expands it to is a valid shard for every pod.
        for index in 0..3 {
            let shard: edgelab_loadgen::Shard = args[at + 1]
                .replace("$(JOB_COMPLETION_INDEX)", &index.to_string())
                .parse()
                .unwrap();
            assert_eq!(shard.index, index + 1);
        }
    }

    #[test]
    fn env_file_holds_fresh_secrets() {
        let mut n = 0;
        let text = env_file(&mut || {
            n += 1;
            format!("secret{n}")
        });
        assert!(text.contains("EDGELAB_ADMIN_TOKEN=secret1\n"));
        assert!(text.contains("GRAFANA_ADMIN_PASSWORD=secret2\n"));
    }
}
