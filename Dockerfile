# syntax=docker/dockerfile:1
# edgelab in a container: one image, one binary (`edgelab`); docker-compose.yml runs one node
# of the topology per container with it. Build: docker build -t edgelab .
# Offline, from a binary built beforehand: Dockerfile.prebuilt.

# ---- build -------------------------------------------------------------------------------
FROM rust:1-slim-bookworm AS build
WORKDIR /src

# Dependency layer: the manifests and the lock file only, with empty crate sources, so the
# crates.io dependencies are compiled once and cached until a Cargo.toml or Cargo.lock changes.
# Every crate of the workspace must be listed here (crates/cli/tests/it/deploy.rs checks it).
COPY Cargo.toml Cargo.lock ./
COPY crates/accesslog/Cargo.toml crates/accesslog/Cargo.toml
COPY crates/chart/Cargo.toml crates/chart/Cargo.toml
COPY crates/cli/Cargo.toml crates/cli/Cargo.toml
COPY crates/cluster/Cargo.toml crates/cluster/Cargo.toml
COPY crates/common/Cargo.toml crates/common/Cargo.toml
COPY crates/edge/Cargo.toml crates/edge/Cargo.toml
COPY crates/geo/Cargo.toml crates/geo/Cargo.toml
COPY crates/import/Cargo.toml crates/import/Cargo.toml
COPY crates/link/Cargo.toml crates/link/Cargo.toml
COPY crates/loadgen/Cargo.toml crates/loadgen/Cargo.toml
COPY crates/origin/Cargo.toml crates/origin/Cargo.toml
COPY crates/policy/Cargo.toml crates/policy/Cargo.toml
COPY crates/replay/Cargo.toml crates/replay/Cargo.toml
COPY crates/testkit/Cargo.toml crates/testkit/Cargo.toml
COPY crates/wire/Cargo.toml crates/wire/Cargo.toml
RUN for crate in crates/*/; do \
        mkdir -p "$crate/src" && echo '' > "$crate/src/lib.rs"; \
    done \
    && echo 'fn main() {}' > crates/cli/src/main.rs \
    && cargo build --release --locked -p edgelab-cli \
    && rm -rf crates/*/src

# The sources. Their modification times may predate the stub build above: touch them so cargo
# rebuilds the workspace crates (the dependencies stay cached).
COPY crates crates
COPY config config
# `edgelab deploy` embeds the Prometheus and Grafana files.
COPY deploy deploy
RUN find crates -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p edgelab-cli \
    && install -m 0755 target/release/edgelab /usr/local/bin/edgelab

# ---- runtime -----------------------------------------------------------------------------
FROM debian:bookworm-slim
# curl for the health checks (GET /healthz on the admin port); ca-certificates for an
# https upstream given to `edgelab edge`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin edgelab \
    && mkdir -p /report && chown edgelab /report
COPY --from=build /usr/local/bin/edgelab /usr/local/bin/edgelab
# The shipped topologies and scenarios; docker-compose.yml mounts ./config over /etc/edgelab.
COPY config /etc/edgelab
COPY loadtest/scenarios /etc/edgelab/scenarios
USER edgelab
# Traffic and admin ports of a node started with --listen 0.0.0.0:8080 --admin 0.0.0.0:9090.
EXPOSE 8080 9090
HEALTHCHECK --interval=5s --timeout=2s --start-period=10s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:9090/healthz || exit 1
ENTRYPOINT ["edgelab"]
CMD ["--help"]

