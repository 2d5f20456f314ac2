# Docker for the end-to-end scripts, offline: sourced after loadtest/lib.sh, never run. Starts a
# dockerd of our own (data under WORK, stopped by its PID on exit), makes a Debian bookworm
# base image with debootstrap (the tarball cached under target/ so reruns are fast; the
# unpacked tree deleted after import) and packages the edgelab binary and Debian's Prometheus
# on it. No registry is needed. Functions are prefixed `docker_`.

# Starts dockerd with its state under $WORK/docker; sets DOCKER_HOST and DOCKERD_PID. Only
# one dockerd can run on a machine (it owns the iptables chains and the bridge), so when
# another one runs this waits for it to end (up to DOCKER_WAIT seconds, default 900).
docker_start() {
    lib_install "docker.io docker-compose debootstrap prometheus" dockerd docker-compose debootstrap prometheus
    local root="$WORK/docker" _ waited=0
    while pgrep -x dockerd >/dev/null; do
        [ "$waited" = 0 ] && echo "  another dockerd runs (pid $(pgrep -x dockerd | head -1)); waiting for it to end" >&2
        [ "$waited" -ge "${DOCKER_WAIT:-900}" ] && { echo "dockerd still runs after ${waited} s" >&2; return 1; }
        sleep 5
        waited=$((waited + 5))
    done
    mkdir -p "$root"
    dockerd --data-root "$root/data" --exec-root "$root/exec" --pidfile "$root/pid" \
        -H "unix://$root/sock" >"$root/log" 2>&1 &
    DOCKERD_PID=$!
    PIDS+=("$DOCKERD_PID")
    export DOCKER_HOST="unix://$root/sock"
    for _ in $(seq 1 100); do
        docker info >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "dockerd did not start:" >&2
    tail -20 "$root/log" >&2
    return 1
}

# Imports the base image edgelab-base:bookworm (minbase + curl, ca-certificates).
docker_base_image() {
    local cache="${CARGO_TARGET_DIR:-$PWD/target}/docker/bookworm-minbase.tar"
    if [ ! -s "$cache" ]; then
        mkdir -p "$(dirname "$cache")"
        local tree="$WORK/rootfs"
        debootstrap --variant=minbase --include=curl,ca-certificates bookworm "$tree" \
            http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 \
            || { tail -20 "$WORK/debootstrap.log" >&2; return 1; }
        rm -rf "$tree"/var/cache/apt/archives/*.deb "$tree"/var/lib/apt/lists/*
        tar -C "$tree" -cf "$cache.part" . && mv "$cache.part" "$cache"
        rm -rf "$tree"
    fi
    docker import "$cache" edgelab-base:bookworm >/dev/null
}

# Builds edgelab:local (Dockerfile.prebuilt) around the binary $1, and
# edgelab-prometheus:local around Debian's /usr/bin/prometheus.
docker_images() {
    local context="$WORK/image"
    mkdir -p "$context/loadtest"
    cp "$1" "$context/edgelab"
    cp -r config "$context/config"
    cp -r loadtest/scenarios "$context/loadtest/scenarios"
    docker build -q --build-arg BASE=edgelab-base:bookworm \
        -f Dockerfile.prebuilt -t edgelab:local "$context" >/dev/null
    rm -rf "$context"
    mkdir -p "$WORK/prometheus-image"
    cp /usr/bin/prometheus "$WORK/prometheus-image/prometheus"
    printf '%s\n' 'FROM edgelab-base:bookworm' 'COPY prometheus /bin/prometheus' \
        'ENTRYPOINT ["/bin/prometheus"]' >"$WORK/prometheus-image/Dockerfile"
    docker build -q -t edgelab-prometheus:local "$WORK/prometheus-image" >/dev/null
    rm -rf "$WORK/prometheus-image"
}

# Removes the images this library made (containers and volumes are the caller's).
docker_remove_images() {
    docker image rm -f edgelab:local edgelab-prometheus:local edgelab-base:bookworm \
        >/dev/null 2>&1 || true
}

# ---- checks shared by the compose and Swarm scripts (Prometheus runs in container $PROM) ----

# Prometheus' answer to the instant query $1, asked inside container $PROM (the base image has
# curl): the API's JSON.
docker_prom() {
    docker exec "$PROM" curl -fsS --max-time 10 -G http://127.0.0.1:9090/api/v1/query \
        --data-urlencode "query=$1"
}

# The first sample's value of the query $1 ("" when the result is empty).
docker_prom_value() {
    docker_prom "$1" | jq -r 'if .status != "success" then error("\(.errorType): \(.error)")
        else (.data.result[0].value[1] // "") end'
}

# The counters the agreement check needs, once Prometheus has scraped a quiet cluster: the
# viewer requests at the PoPs (at least $1), the viewer hits at any tier, the origin
# requests; "viewer hits origin". Waits (up to 60 s) until two scrapes a second apart agree.
DOCKER_VIEWER='sum(edgelab_edge_requests_total{tier="edge"})'
DOCKER_HITS='sum(edgelab_edge_requests_total{tier="edge",cache_status=~"hit|refresh_hit|stale"}) + (sum(edgelab_edge_requests_total{tier!="edge",cache_status=~"hit|stale"}) or vector(0))'
DOCKER_ORIGIN='sum(edgelab_origin_requests_total)'
docker_prom_counters() {
    local least="$1" last="" now="" _
    for _ in $(seq 60); do
        now="$(docker_prom_value "$DOCKER_VIEWER") $(docker_prom_value "($DOCKER_HITS) or vector(0)") $(docker_prom_value "$DOCKER_ORIGIN")"
        if [ "$now" = "$last" ] && jq -e -n "(${now%% *} // 0) >= $least" >/dev/null 2>&1; then
            echo "$now"
            return 0
        fi
        last="$now"
        sleep 1.5
    done
    echo "Prometheus counters did not settle at >= $least viewer requests: $now" >&2
    return 1
}

# Requires the hit ratio and origin offload of the load generator's report $1 and those
# Prometheus computes from its counters between the snapshots $2 and $3 (docker_prom_counters
# before and after the run) to be within 2 percentage points; prints both.
docker_agreement() {
    local report="$1" before="$2" after="$3"
    read -r lg_hit lg_offload < <(jq -r '[.totals.hits / (.totals.hits + .totals.misses),
        1 - .origin.requests / .totals.responses] | @tsv' "$report")
    read -r prom_hit prom_offload < <(jq -n -r --arg b "$before" --arg a "$after" '
        ($b | split(" ") | map(tonumber)) as $b | ($a | split(" ") | map(tonumber)) as $a
        | ($a[0] - $b[0]) as $viewer
        | [($a[1] - $b[1]) / $viewer, 1 - ($a[2] - $b[2]) / $viewer] | @tsv')
    printf '    %-24s %10s %10s\n' "" "hit ratio" "offload"
    printf '    %-24s %10.4f %10.4f\n' "load generator" "$lg_hit" "$lg_offload"
    printf '    %-24s %10.4f %10.4f\n' "prometheus (counters)" "$prom_hit" "$prom_offload"
    jq -e -n "($prom_hit - $lg_hit | fabs) <= 0.02 and ($prom_offload - $lg_offload | fabs) <= 0.02" \
        >/dev/null || { echo "Prometheus and the load generator disagree by more than 2 points" >&2; return 1; }
}

# Runs every query of the Grafana dashboard $1 through Prometheus' API (the whole run as the
# rate window, every PoP for $pop) and requires at least one series from each; prints how many.
docker_dashboard_series() {
    local title expr series count=0 empty=()
    while IFS=$'\t' read -r title expr; do
        # shellcheck disable=SC2016 # the dollars are Grafana's variables
        expr="$(sed -e 's/\$__rate_interval/10m/g' -e 's/\$pop/.*/g' <<<"$expr")"
        series="$(docker_prom "$expr" | jq '.data.result | length')" \
            || { echo "panel \"$title\": Prometheus rejects $expr" >&2; return 1; }
        [ "$series" -ge 1 ] || empty+=("$title: $expr")
        count=$((count + 1))
    done < <(jq -r '.panels[] | select(.type != "row") | .title as $t | .targets[] | [$t, .expr] | @tsv' "$1")
    if [ "${#empty[@]}" -gt 0 ]; then
        printf 'dashboard query without data: %s\n' "${empty[@]}" >&2
        return 1
    fi
    echo "    dashboard: $count queries, each with data"
}

# Requires every body of the load generator's reports $@ to have matched its digest and
# length (no `digest` or `short_body` errors).
docker_bodies_verified() {
    local report bad
    for report in "$@"; do
        bad="$(jq '[.errors.by_kind[] | select(.kind == "digest" or .kind == "short_body") | .count] | add // 0' "$report")"
        [ "$bad" = 0 ] || { echo "$report: $bad wrong or short bodies" >&2; jq -c .errors "$report" >&2; return 1; }
    done
    echo "    bodies: every one matched its digest and length ($(jq -s 'map(.totals.responses) | add' "$@") responses in $# runs)"
}
