//! The one catalogue of names: HTTP headers, metric names, environment variables and
//! well-known paths. Every other crate refers to these constants, so a name is spelled once.

/// HTTP header names used by edgelab (lower case, as `http` stores them).
pub mod header {
    /// CloudFront's cache result header: `Hit from cloudfront`, `Miss from cloudfront`, ...
    pub const X_CACHE: &str = "x-cache";
    /// CloudFront's PoP identifier header, `<IATA><n>-P<m>`.
    pub const X_AMZ_CF_POP: &str = "x-amz-cf-pop";
    /// CloudFront's per-request id, also sent upstream.
    pub const X_AMZ_CF_ID: &str = "x-amz-cf-id";
    /// RFC 9211 `Cache-Status`.
    pub const CACHE_STATUS: &str = "cache-status";
    /// W3C `Server-Timing`, with CloudFront's metric names.
    pub const SERVER_TIMING: &str = "server-timing";
    /// Content digest of a synthetic origin object: `xxh3=<16 hex digits>` over the whole
    /// representation (not the range).
    pub const X_EDGELAB_DIGEST: &str = "x-edgelab-digest";
    /// Path class of a synthetic origin object (`static`, `img`, `api`, `video`).
    pub const X_EDGELAB_CLASS: &str = "x-edgelab-class";
    /// Placement of the origin replica that answered: `<region>/<az>`.
    pub const X_EDGELAB_ORIGIN: &str = "x-edgelab-origin";
    /// The admin token for state-changing admin calls (`Authorization: Bearer` also works).
    pub const X_EDGELAB_TOKEN: &str = "x-edgelab-token";
    /// The cache tier that sent a request or produced a response (`EDGE`, `REC`, `Origin
    /// Shield`); on a request it marks a hop forwarded by a tier, whose request id is kept.
    pub const X_EDGELAB_TIER: &str = "x-edgelab-tier";
    /// Marks an invalidation forwarded by another tier (not forwarded again).
    pub const X_EDGELAB_FORWARDED: &str = "x-edgelab-forwarded";
}

/// The header names above that a server sets on every response, as `http::HeaderName`s made
/// at compile time: a `HeaderMap` operation given a `&str` name parses it each time.
pub mod header_name {
    use super::header;
    use http::HeaderName;

    /// [`header::X_CACHE`].
    pub static X_CACHE: HeaderName = HeaderName::from_static(header::X_CACHE);
    /// [`header::X_AMZ_CF_POP`].
    pub static X_AMZ_CF_POP: HeaderName = HeaderName::from_static(header::X_AMZ_CF_POP);
    /// [`header::X_AMZ_CF_ID`].
    pub static X_AMZ_CF_ID: HeaderName = HeaderName::from_static(header::X_AMZ_CF_ID);
    /// [`header::CACHE_STATUS`].
    pub static CACHE_STATUS: HeaderName = HeaderName::from_static(header::CACHE_STATUS);
    /// [`header::SERVER_TIMING`].
    pub static SERVER_TIMING: HeaderName = HeaderName::from_static(header::SERVER_TIMING);
    /// [`header::X_EDGELAB_TIER`].
    pub static X_EDGELAB_TIER: HeaderName = HeaderName::from_static(header::X_EDGELAB_TIER);
}

/// Environment variables read by edgelab. Every name is listed in `docs/config.md`
/// ("Environment variables").
pub mod env {
    /// Tracing filter: `LEVEL` and `TARGET=LEVEL` directives, comma-separated, as in
    /// `RUST_LOG` without span or field filters (default: `warn`; see [`crate::telemetry`]).
    pub const LOG: &str = "EDGELAB_LOG";
    /// Admin token required by state-changing admin endpoints when set.
    pub const ADMIN_TOKEN: &str = "EDGELAB_ADMIN_TOKEN";
    /// The load generator's shard, `I/N` (`edgelab loadgen|compare --shard`), for
    /// orchestrators that template environment variables but not commands (Docker Swarm's
    /// `{{.Task.Slot}}`).
    pub const SHARD: &str = "EDGELAB_SHARD";
    /// Tuning of the command's multi-thread runtime (`origin`, `loadgen`, `compare`, `up`,
    /// `demo`, `drill`): tokio's `event_interval`, scheduler ticks between polls of the I/O
    /// and timer driver (an integer ≥ 1; tokio's default, 61, when unset). For benchmarking.
    pub const RUNTIME_EVENT_INTERVAL: &str = "EDGELAB_RUNTIME_EVENT_INTERVAL";
    /// tokio's `global_queue_interval` for the same runtime: scheduler ticks between checks
    /// of the shared queue (an integer ≥ 1; tokio's own choice when unset). For benchmarking.
    pub const RUNTIME_GLOBAL_QUEUE_INTERVAL: &str = "EDGELAB_RUNTIME_GLOBAL_QUEUE_INTERVAL";
    /// `0` keeps every stored body on the heap: an edge then does not put bodies of 16 KiB
    /// to 256 KiB in its body arena (`edgelab_common::arena`) nor send them with `sendfile`.
    /// `MIN-MAX` (bytes, or with `k` / `m`: `16k-1m`) puts bodies of those sizes there instead.
    /// For comparing in one build; on (unset or `1`, 16 KiB to 256 KiB) by default; any other
    /// value stops a command with exit 64.
    pub const FILE_BODIES: &str = "EDGELAB_FILE_BODIES";
}

/// Well-known paths.
pub mod path {
    /// Prometheus exposition on the admin port.
    pub const METRICS: &str = "/metrics";
    /// Liveness on the admin port.
    pub const HEALTHZ: &str = "/healthz";
    /// Readiness on the admin port (503 while starting or draining).
    pub const READYZ: &str = "/readyz";
    /// Origin catalog on the admin port.
    pub const ADMIN_CATALOG: &str = "/catalog";
    /// Origin catalog on the traffic port (`Cache-Control: no-store`).
    pub const WELL_KNOWN_CATALOG: &str = "/.well-known/edgelab/catalog";
    /// Origin fault switches on the admin port (`GET`, `POST` JSON, `DELETE`).
    pub const ORIGIN_FAULTS: &str = "/faults";
    /// Origin outage switch on the admin port (`POST` on, `DELETE` off).
    pub const ORIGIN_OUTAGE: &str = "/outage";
    /// Origin echo endpoint on the traffic port (`/echo` and everything under `/echo/`).
    pub const ORIGIN_ECHO: &str = "/echo";
}

/// Prometheus metric names (SPEC §7). Every name is listed in `docs/metrics.md`.
pub mod metric {
    /// Requests served by an edge node, by `pop`, `tier`, `cache_status`.
    pub const EDGE_REQUESTS_TOTAL: &str = "edgelab_edge_requests_total";
    /// Edge request duration histogram, by `pop`, `tier`, `cache_status`.
    pub const EDGE_REQUEST_DURATION_SECONDS: &str = "edgelab_edge_request_duration_seconds";
    /// Upstream requests made by an edge node, by `pop`, `tier`, `result`.
    pub const EDGE_UPSTREAM_REQUESTS_TOTAL: &str = "edgelab_edge_upstream_requests_total";
    /// Upstream connections an edge node opened, by `pop`, `tier`, `upstream`.
    pub const EDGE_UPSTREAM_CONNECTIONS_OPENED_TOTAL: &str =
        "edgelab_edge_upstream_connections_opened_total";
    /// Upstream connects that waited for a connect slot (the `[upstream] max_connecting` cap).
    pub const EDGE_UPSTREAM_CONNECT_WAITS_TOTAL: &str = "edgelab_edge_upstream_connect_waits_total";
    /// Requests that waited on another request's upstream fetch, by `pop`, `tier`.
    pub const EDGE_COLLAPSED_REQUESTS_TOTAL: &str = "edgelab_edge_collapsed_requests_total";
    /// Collapsed requests answered from the leader's fill while it was still running
    /// (streamed, or its stored object awaited), by `pop`, `tier`.
    pub const EDGE_COLLAPSED_FROM_FILL_TOTAL: &str = "edgelab_edge_collapsed_from_fill_total";
    /// Expired objects an edge node served because the upstream failed, by `pop`, `tier`,
    /// `cause`.
    pub const EDGE_STALE_ON_ERROR_TOTAL: &str = "edgelab_edge_stale_on_error_total";
    /// Interim (1xx) responses an edge node received from upstream, by `pop`, `tier`,
    /// `result` (`relayed` to the viewer, `dropped`).
    pub const EDGE_INTERIM_RESPONSES_TOTAL: &str = "edgelab_edge_interim_responses_total";
    /// Bytes held in an edge cache, by `pop`, `tier`.
    pub const EDGE_CACHE_BYTES: &str = "edgelab_edge_cache_bytes";
    /// Objects held in an edge cache, by `pop`, `tier`.
    pub const EDGE_CACHE_OBJECTS: &str = "edgelab_edge_cache_objects";
    /// Bytes of an edge cache's body arena held by stored bodies, by `pop`, `tier`.
    pub const EDGE_ARENA_BYTES: &str = "edgelab_edge_arena_bytes";
    /// Evictions from an edge cache, by `pop`, `tier`, `cause`.
    pub const EDGE_EVICTIONS_TOTAL: &str = "edgelab_edge_evictions_total";
    /// Requests served by an origin replica, by `origin`, `az`, `status_class`.
    pub const ORIGIN_REQUESTS_TOTAL: &str = "edgelab_origin_requests_total";
    /// Response body bytes sent by an origin replica, by `origin`, `az`.
    pub const ORIGIN_RESPONSE_BYTES_TOTAL: &str = "edgelab_origin_response_bytes_total";
    /// Origin request duration histogram, by `origin`.
    pub const ORIGIN_REQUEST_DURATION_SECONDS: &str = "edgelab_origin_request_duration_seconds";
    /// Injected faults by an origin replica, by `origin`, `az`, `fault`
    /// (`outage`, `error`, `reset`).
    pub const ORIGIN_FAULTS_TOTAL: &str = "edgelab_origin_faults_total";
    /// Placement of an origin replica (always 1), by `origin`, `region`, `az`.
    pub const ORIGIN_INFO: &str = "edgelab_origin_info";
    /// Connections open on a listener, by `listener` (`traffic`, `admin`).
    pub const LISTENER_CONNECTIONS_OPEN: &str = "edgelab_listener_connections_open";
    /// Connections accepted by a listener, by `listener`.
    pub const LISTENER_CONNECTIONS_TOTAL: &str = "edgelab_listener_connections_total";
    /// Times a listener held its maximum of connections and stopped accepting, by `listener`.
    pub const LISTENER_CONNECTION_LIMIT_WAITS_TOTAL: &str =
        "edgelab_listener_connection_limit_waits_total";
    /// Failed accepts (each followed by a back-off), by `listener`.
    pub const LISTENER_ACCEPT_ERRORS_TOTAL: &str = "edgelab_listener_accept_errors_total";
    /// Connections closed by a listener timeout, by `listener`, `kind`
    /// (`first_byte`, `header_read`, `idle`).
    pub const LISTENER_TIMEOUTS_TOTAL: &str = "edgelab_listener_timeouts_total";
    /// Requests the lane answered without hyper, by `listener`.
    pub const LISTENER_LANE_ANSWERS_TOTAL: &str = "edgelab_listener_lane_answers_total";
    /// Connections the lane handed to hyper for the rest of their life, by `listener`.
    pub const LISTENER_LANE_HANDOVERS_TOTAL: &str = "edgelab_listener_lane_handovers_total";
    /// Lane answers whose head the handler wrote as HTTP/1.1 text itself (no response map).
    pub const LISTENER_LANE_WRITTEN_TOTAL: &str = "edgelab_listener_lane_written_total";
    /// How late the emulated links of a node delivered against their schedule (summary), by
    /// `pop`, `tier`, `class`.
    pub const LINK_DELIVERY_LATENESS_SECONDS: &str = "edgelab_link_delivery_lateness_seconds";
}

#[cfg(test)]
mod tests {
    /// The values of the `pub const`s of module `module` in this file's source.
    fn constants_of(module: &str) -> Vec<String> {
        let source = include_str!("names.rs");
        let start = source
            .find(&format!("pub mod {module} {{"))
            .expect("the module");
        let body = &source[start..];
        let body = &body[..body.find("\n}\n").expect("the module's end")];
        body.lines()
            .filter(|line| line.trim_start().starts_with("pub const "))
            .filter_map(|line| line.split('"').nth(1).map(str::to_string))
            .collect()
    }

    #[test]
    fn every_environment_variable_is_in_the_config_docs_and_only_those() {
        let names = constants_of("env");
        assert!(names.len() >= 6, "{names:?}");
        let docs = include_str!("../../../docs/config.md");
        let section = &docs[docs
            .find("## Environment variables")
            .expect("docs/config.md has the section")..];
        let listed: Vec<String> = section
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split('`').next())
            .filter(|name| name.starts_with("EDGELAB_"))
            .map(str::to_string)
            .collect();
        for name in &names {
            assert!(listed.contains(name), "{name} is not in docs/config.md");
        }
        for name in &listed {
            assert!(
                names.contains(name),
                "docs/config.md lists {name}, the code has none"
            );
        }
    }
}
