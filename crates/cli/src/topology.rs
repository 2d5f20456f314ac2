//! `edgelab topology`: inspect the geography, the latency model and routing (SPEC §2).
//!
//! Pure computation over `edgelab_geo`; nothing here needs a runtime.

use std::fmt::Write as _;
use std::process::ExitCode;

use edgelab_geo::{
    Coordinates, Hop, HopModel, LatencyModel, PathClass, Place, Stop, Topology, direct_hop,
    distance_km, ga_path, total_rtt,
};

use edgelab_cluster::route::{RouteInputs, RouteQuery, path_map, route_inputs};
use edgelab_common::text::table;
use edgelab_loadgen::{Mode, RunMap};

use crate::output;

const EXIT_USAGE: u8 = 64;

/// Subcommands of `edgelab topology`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List places: Regions, Availability Zones, Local Zones, edge locations, RECs.
    #[command(
        after_help = "Examples:\n  edgelab topology list regions\n  edgelab topology list recs --format csv"
    )]
    List {
        /// Which places (all when left out).
        what: Option<ListKind>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Print the modelled RTT between two places (Region, AZ id, Local Zone, PoP code,
    /// `rec:CODE`, or city name).
    #[command(
        after_help = "Examples:\n  edgelab topology rtt us-east-1 eu-west-1\n  edgelab topology rtt London FRA --class client\n  edgelab topology rtt Tokyo Sydney --class internet"
    )]
    Rtt {
        /// First place.
        a: String,
        /// Second place.
        b: String,
        /// Path class; `auto` is `client` (last mile + internet) when either side is a city,
        /// `backbone` otherwise.
        #[arg(long, value_enum, default_value_t = ClassArg::Auto)]
        class: ClassArg,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Print the RTT of every pair of places of one kind.
    #[command(
        after_help = "Example:\n  edgelab topology matrix --kind region --format csv > regions.csv"
    )]
    Matrix {
        /// Which places.
        #[arg(long, value_enum, default_value_t = MatrixKind::Region)]
        kind: MatrixKind,
        /// Path class (backbone by default).
        #[arg(long, value_enum, default_value_t = ClassArg::Backbone)]
        class: ClassArg,
        /// Output format: `csv` prints `src,dst,rtt_ms`.
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Print the path between two places over the long-haul graph: the hubs it crosses,
    /// the link (route or cable system) of each leg, its length and its share of the RTT.
    #[command(
        after_help = "Examples:\n  edgelab topology path eu-central-1 ap-northeast-1\n  edgelab topology path Sydney eu-west-1 --class internet"
    )]
    Path {
        /// First place.
        a: String,
        /// Second place.
        b: String,
        /// Path class.
        #[arg(long, value_enum, default_value_t = GraphClass::Backbone)]
        class: GraphClass,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Compare the model with measured RTTs (CSV `src,dst,rtt_ms`, places as `rtt` takes
    /// them): median / p90 / max absolute percentage error and the ten worst pairs.
    /// `--fit` refits the class's free parameters to the measurements and prints them as a
    /// `[link]` table for a topology file.
    #[command(
        after_help = "Examples:\n  edgelab topology validate --measured crates/geo/data/calibration/ibm-cloud-2026-02.csv\n  edgelab topology validate --measured my-pings.csv --fit > link.toml"
    )]
    Validate {
        /// The measured table.
        #[arg(long, value_name = "FILE")]
        measured: std::path::PathBuf,
        /// Path class the measurements were taken over.
        #[arg(long, value_enum, default_value_t = GraphClass::Backbone)]
        class: GraphClass,
        /// Refit the class's free parameters and print them as a `[link]` table.
        #[arg(long)]
        fit: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Show how a client's request travels: PoP, REC, Origin Shield and origin, or the
    /// Global Accelerator path, with the RTT of each hop.
    #[command(
        after_help = "Examples:\n  edgelab topology route --client London\n  edgelab topology route --client Sydney --origin eu-west-1 --shield\n  edgelab topology route --client Paris --pops FRA,LHR,IAD --down LHR\n  edgelab topology route --client Berlin --ga --ga-regions eu-central-1,us-east-1 --down eu-central-1\n  edgelab topology route --client Tokyo --topology config/global.toml --ga\n  edgelab topology route --client Sydney --shield --svg sydney.svg"
    )]
    Route {
        /// Where the client is (city, Region, PoP, ...).
        #[arg(long, value_name = "PLACE")]
        client: String,
        /// The origin's place (Region, AZ or Local Zone).
        #[arg(long, value_name = "PLACE", default_value = "us-east-1")]
        origin: String,
        /// Candidate PoPs (comma-separated codes); all edge locations when left out.
        #[arg(long, value_name = "CODES", value_delimiter = ',')]
        pops: Vec<String>,
        /// Put an Origin Shield (the REC nearest the origin) in the path.
        #[arg(long)]
        shield: bool,
        /// Route through Global Accelerator instead of the cache tiers.
        #[arg(long)]
        ga: bool,
        /// Endpoint-group Regions for `--ga` (comma-separated); the origin's Region when left
        /// out.
        #[arg(long, value_name = "CODES", value_delimiter = ',')]
        ga_regions: Vec<String>,
        /// Places that are down (comma-separated): PoP codes, `rec:CODE`, Region codes, AZ ids.
        #[arg(long, value_name = "PLACES", value_delimiter = ',')]
        down: Vec<String>,
        /// Seed for Global Accelerator's traffic-dial and weight draws (default: the
        /// topology's seed with `--topology`, else 1).
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
        /// Route over this topology file's PoPs, RECs, shield, origin replicas (GA endpoints)
        /// and `[link]` table, exactly as `edgelab compare` and `edgelab up` plan them.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["origin", "pops", "shield", "ga_regions", "config"])]
        topology: Option<std::path::PathBuf>,
        /// Only the `[link]` table of this topology file, with the PoPs and origin given here
        /// (the earlier spelling of the other commands' `--topology`; hidden, as `--topology`
        /// covers it: that file's `[link]` table is the model of its route).
        #[arg(long, value_name = "FILE", hide = true)]
        config: Option<std::path::PathBuf>,
        /// Also draw the path on a world map into this self-contained SVG file: the client,
        /// every stop with its kind's marker, each hop labelled with its modelled RTT (and the
        /// direct path to the origin, unless `--ga`).
        #[arg(long, value_name = "FILE")]
        svg: Option<std::path::PathBuf>,
    },
}

/// Where the latency model comes from.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ModelArgs {
    /// A topology file whose `[link]` table overrides the model's defaults (other tables are
    /// ignored here). `--topology`, as `up`, `compare` and `loadgen` name a topology file;
    /// `--config` is accepted too (its earlier name).
    #[arg(long = "topology", alias = "config", value_name = "FILE")]
    topology: Option<std::path::PathBuf>,
}

impl ModelArgs {
    /// The default model, or the one in the file's `[link]` table (every problem reported).
    fn load(&self) -> Result<LatencyModel, Problems> {
        let Some(path) = &self.topology else {
            return Ok(LatencyModel::default());
        };
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{shown}: {e}")])?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| vec![format!("{shown}: {e}")])?;
        let model = match table.get("link") {
            None => LatencyModel::default(),
            Some(value) => value
                .clone()
                .try_into::<LatencyModel>()
                .map_err(|e| vec![format!("{shown}: link: {e}")])?,
        };
        let problems: Problems = model
            .validate()
            .into_iter()
            .map(|e| {
                format!(
                    "{shown}: link.{}",
                    e.to_string().trim_start_matches("invalid latency model: ")
                )
            })
            .collect();
        if problems.is_empty() {
            Ok(model)
        } else {
            Err(problems)
        }
    }
}

/// Which places `list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListKind {
    /// AWS Regions.
    Regions,
    /// Availability Zones (by id).
    Azs,
    /// Local Zones.
    LocalZones,
    /// CloudFront edge locations.
    Pops,
    /// Regional Edge Caches.
    Recs,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// Comma-separated values with a header line.
    Csv,
}

/// Places `matrix` covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MatrixKind {
    /// Every Region.
    Region,
    /// Every Regional Edge Cache.
    Rec,
}

/// A path class on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClassArg {
    /// Choose from the places.
    Auto,
    /// The provider's backbone.
    Backbone,
    /// The public internet.
    Internet,
    /// The access network alone.
    LastMile,
    /// A client: last mile + internet.
    Client,
}

/// A path class that runs over the long-haul graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphClass {
    /// The provider's backbone.
    Backbone,
    /// The public internet.
    Internet,
}

impl GraphClass {
    fn class(self) -> PathClass {
        match self {
            GraphClass::Backbone => PathClass::Backbone,
            GraphClass::Internet => PathClass::Internet,
        }
    }
}

/// Runs `edgelab topology`.
pub fn run(command: Command) -> ExitCode {
    let topology = Topology::embedded();
    let result = match command {
        Command::List { what, format } => Ok(list(topology, what, format)),
        Command::Rtt { a, b, class, model } => model
            .load()
            .and_then(|model| rtt(topology, &model, &a, &b, class)),
        Command::Matrix {
            kind,
            class,
            format,
            model,
        } => model
            .load()
            .and_then(|model| matrix(topology, &model, kind, class, format)),
        Command::Path { a, b, class, model } => model
            .load()
            .and_then(|model| crate::graph::path(topology, &model, &a, &b, class.class())),
        Command::Validate {
            measured,
            class,
            fit,
            model,
        } => model.load().and_then(|model| {
            crate::graph::validate(topology, &model, &measured, class.class(), fit)
        }),
        Command::Route {
            client,
            origin,
            pops,
            shield,
            ga,
            ga_regions,
            down,
            seed,
            topology: file,
            svg,
            config,
        } => {
            let model = match (ModelArgs { topology: config }).load() {
                Ok(model) => model,
                Err(problems) => return usage(problems),
            };
            let request = RouteQuery {
                client: &client,
                origin: &origin,
                pops: &pops,
                shield,
                ga,
                ga_regions: &ga_regions,
                down: &down,
                seed,
                topology: file.as_deref(),
            };
            route(topology, model, &request, svg.as_deref())
        }
    };
    match result {
        Ok(text) => {
            output::block(&text);
            ExitCode::SUCCESS
        }
        Err(problems) => usage(problems),
    }
}

fn usage(problems: Problems) -> ExitCode {
    for problem in problems {
        output::error(&problem);
    }
    ExitCode::from(EXIT_USAGE)
}

type Problems = Vec<String>;

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

fn render(header: &[&str], rows: &[Vec<String>], format: Format) -> String {
    match format {
        Format::Table => table(header, rows),
        Format::Csv => {
            let mut out = header.join(",");
            out.push('\n');
            for row in rows {
                let cells: Vec<String> = row.iter().map(|c| csv_field(c)).collect();
                out.push_str(&cells.join(","));
                out.push('\n');
            }
            out
        }
    }
}

fn list(t: &Topology, what: Option<ListKind>, format: Format) -> String {
    let kinds = match what {
        Some(kind) => vec![kind],
        None => vec![
            ListKind::Regions,
            ListKind::LocalZones,
            ListKind::Pops,
            ListKind::Recs,
        ],
    };
    let mut out = String::new();
    for (i, kind) in kinds.iter().enumerate() {
        if what.is_none() {
            if i > 0 {
                out.push('\n');
            }
            let title = match kind {
                ListKind::Regions => format!("# regions ({})", t.regions().len()),
                ListKind::Azs => format!("# availability zones ({})", t.availability_zones().len()),
                ListKind::LocalZones => format!("# local zones ({})", t.local_zones().len()),
                ListKind::Pops => format!("# edge locations ({})", t.edges().count()),
                ListKind::Recs => format!("# regional edge caches ({})", t.recs().count()),
            };
            out.push_str(&title);
            out.push('\n');
        }
        let coord =
            |c: edgelab_geo::Coordinates| (format!("{:.4}", c.lat), format!("{:.4}", c.lon));
        let text = match kind {
            ListKind::Regions => {
                let rows: Vec<Vec<String>> = t
                    .regions()
                    .iter()
                    .map(|r| {
                        let (lat, lon) = coord(r.coordinates);
                        vec![
                            r.code.clone(),
                            r.name.clone(),
                            r.city.clone(),
                            lat,
                            lon,
                            r.az_count.to_string(),
                        ]
                    })
                    .collect();
                render(
                    &["code", "name", "city", "lat", "lon", "azs"],
                    &rows,
                    format,
                )
            }
            ListKind::Azs => {
                let rows: Vec<Vec<String>> = t
                    .availability_zones()
                    .iter()
                    .map(|az| vec![az.id.clone(), az.region.clone(), az.city.clone()])
                    .collect();
                render(&["id", "region", "city"], &rows, format)
            }
            ListKind::LocalZones => {
                let rows: Vec<Vec<String>> = t
                    .local_zones()
                    .iter()
                    .map(|lz| {
                        let (lat, lon) = coord(lz.coordinates);
                        vec![
                            lz.code.clone(),
                            lz.parent_region.clone(),
                            lz.city.clone(),
                            lz.country.clone(),
                            lat,
                            lon,
                        ]
                    })
                    .collect();
                render(
                    &["code", "parent_region", "city", "country", "lat", "lon"],
                    &rows,
                    format,
                )
            }
            ListKind::Pops | ListKind::Recs => {
                let rows: Vec<Vec<String>> = t
                    .pops()
                    .iter()
                    .filter(|p| p.is_rec() == (*kind == ListKind::Recs))
                    .map(|p| {
                        let (lat, lon) = coord(p.coordinates);
                        vec![p.key(), p.city.clone(), p.country.clone(), lat, lon]
                    })
                    .collect();
                render(&["code", "city", "country", "lat", "lon"], &rows, format)
            }
        };
        out.push_str(&text);
    }
    out
}

fn resolve<'t>(t: &'t Topology, name: &str, problems: &mut Problems) -> Option<Place<'t>> {
    match t.resolve(name) {
        Ok(place) => Some(place),
        Err(error) => {
            problems.push(error.to_string());
            None
        }
    }
}

fn class_hop(
    model: &LatencyModel,
    a: Place<'_>,
    b: Place<'_>,
    class: ClassArg,
) -> (String, HopModel) {
    let class = match class {
        ClassArg::Auto if matches!(a, Place::City(_)) || matches!(b, Place::City(_)) => {
            ClassArg::Client
        }
        ClassArg::Auto => ClassArg::Backbone,
        other => other,
    };
    let (ca, cb) = (a.coordinates(), b.coordinates());
    match class {
        ClassArg::Backbone => ("backbone".into(), model.hop(ca, cb, PathClass::Backbone)),
        ClassArg::Internet => ("internet".into(), model.hop(ca, cb, PathClass::Internet)),
        ClassArg::LastMile => ("last_mile".into(), model.hop(ca, cb, PathClass::LastMile)),
        ClassArg::Client | ClassArg::Auto => {
            ("last_mile+internet".into(), model.client_hop(ca, cb))
        }
    }
}

fn ms(d: std::time::Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn rtt(
    t: &Topology,
    model: &LatencyModel,
    a: &str,
    b: &str,
    class: ClassArg,
) -> Result<String, Problems> {
    let mut problems = Vec::new();
    let pa = resolve(t, a, &mut problems);
    let pb = resolve(t, b, &mut problems);
    let (Some(pa), Some(pb)) = (pa, pb) else {
        return Err(problems);
    };
    let (class_name, hop) = class_hop(model, pa, pb, class);
    let km = distance_km(pa.coordinates(), pb.coordinates());
    let mut out = String::new();
    let _ = writeln!(out, "{pa} -> {pb}");
    let _ = writeln!(out, "distance  {km:.0} km");
    let _ = writeln!(out, "class     {class_name}");
    let _ = writeln!(out, "rtt       {} ms", ms(hop.rtt));
    let _ = writeln!(out, "jitter    {} ms mean", ms(hop.jitter));
    let _ = writeln!(
        out,
        "loss      {:.3} % (rto {} ms)",
        hop.loss * 100.0,
        ms(hop.rto)
    );
    let _ = writeln!(
        out,
        "new conn  {} ms ({} rtt{})",
        ms(hop.rtt * hop.connect_rtts()),
        hop.connect_rtts(),
        if hop.tls { ", tcp + tls 1.3" } else { ", tcp" }
    );
    if let Some(rate) = hop.bandwidth_bytes_per_sec {
        let _ = writeln!(out, "bandwidth {:.0} Mbit/s", rate as f64 * 8.0 / 1e6);
    }
    Ok(out)
}

fn matrix(
    t: &Topology,
    model: &LatencyModel,
    kind: MatrixKind,
    class: ClassArg,
    format: Format,
) -> Result<String, Problems> {
    let places: Vec<(String, edgelab_geo::Coordinates)> = match kind {
        MatrixKind::Region => t
            .regions()
            .iter()
            .map(|r| (r.code.clone(), r.coordinates))
            .collect(),
        MatrixKind::Rec => t.recs().map(|p| (p.key(), p.coordinates)).collect(),
    };
    let class = match class {
        ClassArg::Auto | ClassArg::Backbone => PathClass::Backbone,
        ClassArg::Internet => PathClass::Internet,
        ClassArg::LastMile => PathClass::LastMile,
        ClassArg::Client => {
            return Err(vec!["--class client has no meaning between two provider places; use backbone or internet".into()]);
        }
    };
    let mut rows = Vec::new();
    for (src, a) in &places {
        for (dst, b) in &places {
            if src != dst {
                rows.push(vec![
                    src.clone(),
                    dst.clone(),
                    format!("{:.3}", model.rtt_ms(*a, *b, class)),
                ]);
            }
        }
    }
    Ok(render(&["src", "dst", "rtt_ms"], &rows, format))
}

/// How a stop is shown in the `to` column.
fn stop_label(stop: Stop<'_>, inputs: &RouteInputs) -> String {
    match stop {
        Stop::Client => "client".into(),
        Stop::Pop(p) | Stop::Rec(p) => format!("{} ({})", p.key(), p.city),
        Stop::Shield(s) => format!("{} ({}) [origin shield]", s.key(), s.city),
        Stop::Origin => format!("{} [origin]", inputs.origin),
        Stop::Endpoint { group, endpoint } => {
            let group = &inputs.groups[group];
            format!("{} endpoint {}", group.region, group.endpoints[endpoint].id)
        }
    }
}

/// How a stop is shown in the `from` column.
fn stop_key(stop: Stop<'_>, inputs: &RouteInputs) -> String {
    match stop {
        Stop::Pop(p) | Stop::Rec(p) | Stop::Shield(p) => p.key(),
        other => stop_label(other, inputs),
    }
}

/// Where a stop is.
fn stop_at(stop: Stop<'_>, client: Coordinates, inputs: &RouteInputs) -> Coordinates {
    match stop {
        Stop::Client => client,
        Stop::Pop(p) | Stop::Rec(p) | Stop::Shield(p) => p.coordinates,
        Stop::Origin => inputs.layout.origin,
        Stop::Endpoint { group, .. } => inputs.groups[group].coordinates,
    }
}

/// The hop table of a path: each hop with its RTT and the cities its path crosses.
fn path_table(path: &[Hop<'_>], client: Coordinates, inputs: &RouteInputs, entry: bool) -> String {
    let rows: Vec<Vec<String>> = path
        .iter()
        .enumerate()
        .map(|(i, hop)| {
            let mut to = stop_label(hop.to, inputs);
            if entry && i == 0 {
                to.push_str(" [anycast entry]");
            }
            let class = hop.class.graph_class();
            let (a, b) = (
                stop_at(hop.from, client, inputs),
                stop_at(hop.to, client, inputs),
            );
            vec![
                format!("{}", i + 1),
                stop_key(hop.from, inputs),
                to,
                hop.class.as_str().to_string(),
                ms(hop.model.rtt),
                crate::graph::via(&inputs.model, a, b, class),
            ]
        })
        .collect();
    table(&["hop", "from", "to", "class", "rtt_ms", "via"], &rows)
}

/// Writes the map of `paths` (hops and the mode they were taken in) from `client` to `file`.
fn write_map(
    file: &std::path::Path,
    client: Place<'_>,
    request: &RouteQuery<'_>,
    inputs: &RouteInputs,
    paths: &[(&[Hop<'_>], Mode)],
) -> Result<String, Problems> {
    let client = edgelab_cluster::targets::client_place(&client, request.client);
    let maps: Vec<RunMap> = paths
        .iter()
        .map(|(hops, mode)| path_map(&client, hops, *mode, inputs))
        .collect();
    let map = RunMap::merged(&maps);
    let title = format!(
        "edgelab topology route: {} to {}",
        request.client, inputs.origin
    );
    std::fs::write(file, edgelab_loadgen::html::map::standalone(&map, &title))
        .map_err(|e| vec![format!("{}: {e}", file.display())])?;
    Ok(format!("map     {}\n", file.display()))
}

fn route(
    t: &'static Topology,
    model: LatencyModel,
    request: &RouteQuery<'_>,
    svg: Option<&std::path::Path>,
) -> Result<String, Problems> {
    let mut problems = Vec::new();
    let client = resolve(t, request.client, &mut problems);
    let inputs = route_inputs(t, model, request, &mut problems);
    let (Some(client), Some(inputs)) = (client, inputs) else {
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut out = String::new();
    let _ = writeln!(out, "client  {client} at {}", client.coordinates());
    let at = client.coordinates();
    if request.ga {
        let Some(path) = ga_path(
            at,
            &inputs.layout.pops,
            &inputs.groups,
            &inputs.failures,
            &inputs.model,
            inputs.seed,
        ) else {
            return Err(vec![
                "no healthy PoP or no endpoint group to route to".into(),
            ]);
        };
        out.push_str(&path_table(&path.hops, at, &inputs, true));
        let _ = writeln!(
            out,
            "total   {} ms per exchange on warm connections",
            ms(total_rtt(&path.hops))
        );
        if path.route.failovers > 0 {
            let _ = writeln!(
                out,
                "note    {} nearer endpoint group(s) had no healthy endpoint",
                path.route.failovers
            );
        }
        if path.route.failed_open {
            let _ = writeln!(
                out,
                "note    no endpoint group within reach is healthy: failed open"
            );
        }
        if let Some(file) = svg {
            out.push_str(&write_map(
                file,
                client,
                request,
                &inputs,
                &[(&path.hops, Mode::Ga)],
            )?);
        }
        return Ok(out);
    }
    let Some(path) = inputs.layout.cdn_path(at, &inputs.failures, &inputs.model) else {
        return Err(vec!["no healthy PoP among the candidates".into()]);
    };
    out.push_str(&path_table(&path, at, &inputs, false));
    let first = &path[0];
    let _ = writeln!(
        out,
        "hit     {} ms (served by {})",
        ms(first.model.rtt),
        stop_key(first.to, &inputs)
    );
    let _ = writeln!(
        out,
        "miss    {} ms to the origin and back, warm upstream connections",
        ms(total_rtt(&path))
    );
    let direct = direct_hop(at, inputs.layout.origin, &inputs.model);
    let _ = writeln!(
        out,
        "direct  {} ms client to origin over the internet",
        ms(direct.model.rtt)
    );
    if let Some(file) = svg {
        out.push_str(&write_map(
            file,
            client,
            request,
            &inputs,
            &[(&path, Mode::Edge), (&[direct], Mode::Direct)],
        )?);
    }
    Ok(out)
}
