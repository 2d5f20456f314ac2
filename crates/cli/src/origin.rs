//! `edgelab origin`: runs one origin replica (SPEC §3, §8), or exports its bodies to a
//! directory with `--export` (for serving the same bytes with another server).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use edgelab_common::config::{ConfigErrors, load_toml};
use edgelab_common::names::env;
use edgelab_common::serve::bind_listeners;
use edgelab_common::shutdown::{Shutdown, signal};
use edgelab_origin::catalog::CatalogError;
use edgelab_origin::{Catalog, OriginConfig, OriginSettings};

use crate::output;

/// Arguments of `edgelab origin`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  edgelab origin                        # traffic 127.0.0.1:8080, admin 127.0.0.1:9080
  edgelab edge --upstream http://127.0.0.1:8080   # then an edge in front of it (127.0.0.1:8081)
  edgelab origin --listen 127.0.0.1:0 --admin 127.0.0.1:0 --seed 7 --region eu-west-2 --az euw2-az1
  edgelab origin --config config/origin.toml --objects 100000
  edgelab origin --config config/origin.toml --export /tmp/bodies
  edgelab origin --catalog-from-log config/examples/cloudfront-access.log --listen 127.0.0.1:0 --admin 127.0.0.1:0

Admin API (on --admin): GET /metrics /healthz /readyz /catalog /faults;
POST /faults (JSON), DELETE /faults, POST|DELETE /outage (need the token when one is set).")]
pub struct Args {
    /// Traffic address (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Admin address: /metrics, /healthz, /readyz, /catalog, /faults, /outage.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9080")]
    admin: SocketAddr,
    /// Configuration file (TOML; see config/origin.toml). Flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Seed of the catalog and of fault sampling (default: the config file's, else 42).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Region code of this replica, e.g. eu-west-2 (default: the config file's, else us-east-1).
    #[arg(long, value_name = "CODE")]
    region: Option<String>,
    /// Availability Zone id or Local Zone of this replica, e.g. euw2-az1 (default: the config
    /// file's, else use1-az1).
    #[arg(long, value_name = "ID")]
    az: Option<String>,
    /// Origin name: the `origin` metric label (default: the config file's, else origin).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Number of synthetic objects (default: the config file's, else 1000).
    #[arg(long, value_name = "N")]
    objects: Option<u64>,
    /// Also serve the real files of DIR under /files/.
    #[arg(long, value_name = "DIR")]
    files: Option<PathBuf>,
    /// Token required by state-changing admin calls.
    #[arg(long, value_name = "TOKEN", env = env::ADMIN_TOKEN, hide_env_values = true)]
    admin_token: Option<String>,
    /// Write every synthetic body to `DIR/<path>` and exit instead of serving.
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,
    /// Serve the objects an access log names (CloudFront or CLF, plain or gzip): each logged
    /// path at its logged size (no synthetic objects unless --objects is given).
    #[arg(long, value_name = "LOG")]
    catalog_from_log: Option<PathBuf>,
    /// With --catalog-from-log: a malformed log line is fatal (exit 64).
    #[arg(long, requires = "catalog_from_log")]
    strict: bool,
}

/// The objects of `--catalog-from-log`, and the malformed-line summary for standard error
/// (if any).
pub(crate) fn logged_objects(
    path: &std::path::Path,
    strict: bool,
) -> Result<(Vec<edgelab_origin::config::LoggedObject>, Option<String>), String> {
    let input = edgelab_accesslog::open(path)
        .map_err(|error| format!("cannot open {}: {error}", path.display()))?;
    let mut records = edgelab_accesslog::Records::new(input, None, strict);
    let mut failure = None;
    let objects = edgelab_origin::logged::objects_from_log(records.by_ref().map_while(|r| {
        r.map_err(|error| failure = Some(format!("{}: {error}", path.display())))
            .ok()
    }));
    if let Some(failure) = failure {
        return Err(failure);
    }
    let malformed = edgelab_accesslog::malformed_report(&records)
        .map(|report| format!("{}: {report}", path.display()));
    Ok((objects, malformed))
}

impl Args {
    /// File (or defaults), then flags.
    fn config(&self) -> Result<OriginConfig, ConfigErrors> {
        let mut config = match &self.config {
            Some(path) => load_toml::<OriginConfig>(path)?,
            None => OriginConfig::default(),
        };
        if let Some(seed) = self.seed {
            config.seed = seed;
        }
        if let Some(region) = &self.region {
            config.region = region.clone();
        }
        if let Some(az) = &self.az {
            config.az = az.clone();
        }
        if let Some(name) = &self.name {
            config.name = name.clone();
        }
        if self.catalog_from_log.is_some() {
            config.objects = 0;
        }
        if let Some(objects) = self.objects {
            config.objects = objects;
        }
        if let Some(files) = &self.files {
            config.files_dir = Some(files.clone());
        }
        if let Some(token) = &self.admin_token {
            config.admin_token = Some(token.clone());
        }
        Ok(config)
    }
}

/// Runs `edgelab origin`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = match args.config() {
        Ok(config) => config,
        Err(errors) => return Ok(output::config_errors(&errors)),
    };
    let placement = edgelab_cluster::topology::check_placement(&config.region, &config.az);
    let mut settings = match OriginSettings::try_from(config) {
        Ok(settings) if placement.is_empty() => settings,
        Ok(_) => return Ok(output::config_errors(&placement)),
        Err(mut errors) => {
            errors.extend_prefixed("", placement);
            return Ok(output::config_errors(&errors));
        }
    };
    if let Some(log) = &args.catalog_from_log {
        match logged_objects(log, args.strict) {
            Ok((objects, malformed)) => {
                if let Some(malformed) = malformed {
                    output::error(&malformed);
                }
                settings.logged = objects;
            }
            Err(message) => {
                output::error(&message);
                return Ok(ExitCode::from(edgelab_common::config::EXIT_CONFIG as u8));
            }
        }
    }
    let build = settings.clone();
    let catalog = match tokio::task::spawn_blocking(move || Catalog::build(&build))
        .await
        .context("building the catalog")?
    {
        Ok(catalog) => catalog,
        Err(error @ CatalogError::TooLarge { .. }) => {
            return Ok(output::config_errors(&ConfigErrors::one(
                "objects",
                error.to_string(),
            )));
        }
        Err(error) => return Err(error.into()),
    };

    if let Some(dir) = &args.export {
        let written = catalog
            .export(dir)
            .with_context(|| format!("exporting to {}", dir.display()))?;
        output::line(&format!(
            "exported {written} objects (seed {}) to {}",
            catalog.seed(),
            dir.display()
        ));
        return Ok(ExitCode::SUCCESS);
    }

    // A longer accept queue than tokio's bind gives: a load generator's thousands of
    // connects arrive at once.
    let traffic = bind_listeners(args.listen, 1)
        .and_then(|mut sockets| {
            // invariant: one socket was asked for and bound.
            tokio::net::TcpListener::from_std(sockets.pop().expect("one socket"))
        })
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let admin = tokio::net::TcpListener::bind(args.admin)
        .await
        .with_context(|| format!("cannot listen on {}", args.admin))?;
    let shutdown = Shutdown::new();
    let deadline = settings.drain_deadline;
    let identity = (
        settings.name.clone(),
        settings.region.clone(),
        settings.az.clone(),
    );
    let handle = edgelab_origin::start_with_catalog(
        settings,
        std::sync::Arc::new(catalog),
        traffic,
        admin,
        prometheus::Registry::new(),
        shutdown.clone(),
    )?;
    // Install the SIGINT/SIGTERM handlers before announcing the node, so a script that
    // signals right after the `listening` line gets a graceful stop.
    let stop = signal();
    output::listening(handle.traffic_addr(), handle.admin_addr());
    output::line(&format!(
        "origin {name} at {region}/{az}: {objects} objects, seed {seed}, catalog http://{traffic}{catalog}",
        name = identity.0,
        region = identity.1,
        az = identity.2,
        objects = handle.catalog().len(),
        seed = handle.catalog().seed(),
        traffic = handle.traffic_addr(),
        catalog = edgelab_common::names::path::WELL_KNOWN_CATALOG,
    ));
    stop.await;
    tracing::info!("stopping: readiness off, draining");
    handle.readiness().set(false);
    // The node's drain deadline bounds the connections; a little extra covers task exits.
    let finished = shutdown
        .drain(deadline + std::time::Duration::from_secs(1))
        .await;
    if !finished {
        tracing::warn!("some tasks were still running at the drain deadline");
    }
    Ok(ExitCode::SUCCESS)
}
