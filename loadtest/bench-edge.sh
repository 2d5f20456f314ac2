#!/usr/bin/env bash
# Cache-hit throughput and latency: edgelab edge vs nginx proxy_cache vs a limit server, same
# origin, same objects; then the edge's memory per cached object at a million objects.
#
# Hits: the origin is a plain nginx serving 1 KiB, 16 KiB and 1 MiB files with
# `Cache-Control: max-age=3600` (it only sees the warm-up misses). Every server under test
# runs pinned to SERVER_CPU, wrk (one thread) to LOAD_CPU. For each (size, connections) cell
# the targets run one after the other in an order that rotates with each of REPS repetitions,
# so a noisy machine hurts every target alike; each run lasts DURATION seconds. The limit
# server (one-thread hyper answering from memory: the most a Rust hit path can do on one core)
# is perf-anchors' `limit`: LIMIT_BIN, or built from PERF_ANCHORS/limit when that exists,
# else left out. Results: median req/s with min-max spread, p50/p99 and the server's CPU
# share (CPU seconds per wall second) per cell, edgelab's ratio to nginx and to the limit.
# Targets (issue 14): >= 1.2x nginx on 1 KiB and 16 KiB, >= 1.5x on 1 MiB, >= 0.8x the limit.
#
# Memory: a fresh edge is filled with OBJECTS distinct 1-byte objects (wrk, one request per
# object), and its RSS growth is divided by the object count: what an object costs beyond its
# body, allocator slack included (target <= 512 bytes). Then every object is requested once
# more (a hit each) and the RSS read again: an object's cost once it has been served. MEMORY_PATH=/tiny/ answers every object
# with the same headers (those filled in one second share one header block); /tiny-own/ gives
# each object an ETag of its own (nginx's \$request_id), as a real origin's files have.
#
# Everything lands in RESULTS (default target/bench-edge/<UTC stamp>/): results.md,
# results.json (loadtest/bench-summary.py), runs.tsv and each run's wrk output. A busy machine
# makes the hit numbers meaningless (the load average is recorded next to them); the memory
# figure does not depend on it.
#
# Next to req/s, each cell gives the server's CPU microseconds per request (its CPU ticks over
# the requests wrk completed: median and min-max of the repetitions), wrk's own CPU share, and
# the ratio of edgelab to nginx and to the limit on that measure too. A cell where wrk used
# >= 95 % of its core is marked load-generator bound: its req/s is wrk's ceiling, not the
# server's, and only CPU per request ranks the servers there (docs/request-lifecycle.md).
#
# Usage: loadtest/bench-edge.sh        (installs nginx and wrk with apt-get if missing)
#        loadtest/bench-edge.sh summarise DIR
#            the same summary of a results folder: this script's, or perf-anchors' run.sh
#            bench folder (/tmp/perf-anchors/results/<stamp>/: runs.csv, pinned wrk runs),
#            written as DIR/results.md and DIR/results.json
# Env:   DURATION=10  REPS=3  CONNS="64 256"  SIZES="1k 16k 1m"  OBJECTS=1000000
#        PHASES="hits memory"  TARGETS="edgelab nginx limit"  RESULTS=...  LIMIT_BIN=...
#          edgelab targets, all the same binary: edgelab; edgelab-heap (EDGELAB_FILE_BODIES=0,
#          every body on the heap and none sent with sendfile: the arena's effect measured in
#          the same run); edgelab-hyper (`--no-lane`: every hit through hyper, as HTTP/2
#          viewers, ranges and conditionals are served); edgelab-hyper-heap (both);
#          edgelab-base: BASE_BIN (another build, e.g. main before a change) as edgelab
#        SIZES: any of NNk / NNm (NN times 1024 / 1048576 bytes); the origin serves a file of
#          each, the limit server only 1k, 16k and 1m (it is left out of the other sizes)
#        EDGELAB_FILE_BODIES=MIN-MAX (e.g. 16k-1m): the sizes the edgelab targets keep in the
#          arena (but the -heap ones), to measure where it pays; checked before measuring
#        MEMORY_PATH=/tiny/ (or /tiny-own/)
#        BASE_BIN=path (the build of the target edgelab-base)
#        PERF_ANCHORS=../shared/tools/perf-anchors  CARGO_TARGET_DIR=target  NO_BUILD=1  EDGELAB_BIN=path
#        SERVER_CPU=0  LOAD_CPU=1
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${1:-}" = summarise ]; then
    [ -d "${2:-}" ] || { echo "usage: $0 summarise RESULTS_DIR" >&2; exit 64; }
    exec python3 "$ROOT/loadtest/bench-summary.py" "$2"
fi
DURATION="${DURATION:-10}"
REPS="${REPS:-3}"
CONNS="${CONNS:-64 256}"
SIZES="${SIZES:-1k 16k 1m}"
OBJECTS="${OBJECTS:-1000000}"
MEMORY_PATH="${MEMORY_PATH:-/tiny/}"
PHASES="${PHASES:-hits memory}"
TARGETS="${TARGETS:-edgelab nginx limit}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
PERF_ANCHORS="${PERF_ANCHORS:-$ROOT/../shared/tools/perf-anchors}"
LIMIT_BIN="${LIMIT_BIN:-/tmp/perf-anchors/limit/target/release/limit}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="${RESULTS:-$TARGET/bench-edge/$STAMP}"
HZ="$(getconf CLK_TCK)"

# shellcheck source=lib.sh
source "$ROOT/loadtest/lib.sh"
lib_install "nginx wrk curl python3" nginx wrk curl python3
lib_release_bin

if [[ " $TARGETS " == *" limit "* ]] && ! [ -x "$LIMIT_BIN" ]; then
    if [ -d "$PERF_ANCHORS/limit" ]; then
        echo "building the limit server from $PERF_ANCHORS/limit" >&2
        LIMIT_DIR="$(dirname "$(dirname "$(dirname "$LIMIT_BIN")")")"
        mkdir -p "$LIMIT_DIR"
        cp -r "$PERF_ANCHORS/limit/src" "$PERF_ANCHORS/limit/Cargo.toml" \
            "$PERF_ANCHORS/limit/Cargo.lock" "$LIMIT_DIR/"
        (cd "$LIMIT_DIR" && cargo build --release --locked -q)
    else
        echo "no limit server (LIMIT_BIN, PERF_ANCHORS/limit): target left out" >&2
        TARGETS="${TARGETS//limit/}"
    fi
fi

lib_workdir bench-edge
mkdir -p "$RESULTS/raw"
wait_http() { lib_wait_http "$1" || exit 1; }

# The CPU ticks (user + system) a process has used so far.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# The bytes of a size: 16k -> 16384, 1m -> 1048576 (also plain bytes; K and M as the edge
# reads them in EDGELAB_FILE_BODIES).
bytes_of() {
    case $1 in
        *[0-9][kK]) echo $((${1%[kK]} * 1024)) ;;
        *[0-9][mM]) echo $((${1%[mM]} * 1048576)) ;;
        *[0-9]) echo $(($1)) ;;
        *) echo "size $1 is not NNk, NNm or bytes" >&2; exit 64 ;;
    esac
}
# The sizes of bodies kept in the arena, "MIN MAX" in bytes ("0 -1": none), by
# EDGELAB_FILE_BODIES as the edge reads it (unset or 1: 16 KiB to 256 KiB; 0: off; MIN-MAX).
ARENA_SIZES="16384 262144"
case "${EDGELAB_FILE_BODIES:-1}" in
    1) ;;
    0) ARENA_SIZES="0 -1" ;;
    *-*) ARENA_SIZES="$(bytes_of "${EDGELAB_FILE_BODIES%-*}") $(bytes_of "${EDGELAB_FILE_BODIES#*-}")" ;;
esac
# The limit server answers these sizes only.
limit_serves() { [[ " 1k 16k 1m " == *" $1 "* ]]; }

# The edgelab targets: the environment and the arguments each gives `edgelab edge`.
declare -A TARGET_ENV=([edgelab]="" [edgelab-heap]="EDGELAB_FILE_BODIES=0"
    [edgelab-hyper]="" [edgelab-hyper-heap]="EDGELAB_FILE_BODIES=0" [edgelab-base]="")
declare -A TARGET_ARGS=([edgelab]="" [edgelab-heap]=""
    [edgelab-hyper]="--no-lane" [edgelab-hyper-heap]="--no-lane" [edgelab-base]="")
is_edgelab() { [[ -v "TARGET_ENV[$1]" ]]; }
for t in $TARGETS; do
    is_edgelab "$t" || [[ $t == nginx || $t == limit ]] \
        || { echo "TARGETS: unknown target $t" >&2; exit 64; }
done
for size in $SIZES; do bytes_of "$size" >/dev/null; done
if [[ " $TARGETS " == *" edgelab-base "* ]] && ! [ -x "${BASE_BIN:-}" ]; then
    echo "TARGETS has edgelab-base: BASE_BIN must name an edgelab binary" >&2
    exit 64
fi

# --- origin: nginx with a file of each size and a tiny-object location ------------------------
mkdir -p "$WORK/www/obj"
for size in 1k $SIZES; do
    head -c "$(bytes_of "$size")" /dev/urandom >"$WORK/www/obj/$size.bin"
done
ORIGIN_PORT="$(lib_free_port)"
NGINX_PORT="$(lib_free_port)"
LIMIT_PORT="$(lib_free_port)"
cat >"$WORK/origin.conf" <<NGINX
$(lib_nginx_main origin)
events { worker_connections 4096; }
http {
$(lib_nginx_http_common)
    proxy_temp_path $WORK/tmp-proxy-o;
    types { application/octet-stream bin; }
    server {
        listen 127.0.0.1:$ORIGIN_PORT;
        root $WORK/www;
        add_header Cache-Control "max-age=3600";
        location /tiny/ { add_header Cache-Control "max-age=3600"; return 200 "x"; }
        location /tiny-own/ {
            add_header Cache-Control "max-age=3600";
            add_header ETag "\"\$request_id\"";
            return 200 "x";
        }
    }
}
NGINX
lib_nginx_proxy_conf "$NGINX_PORT" >"$WORK/proxy.conf"
lib_start_nginx "$LOAD_CPU" "$WORK/origin.conf"
wait_http "http://127.0.0.1:$ORIGIN_PORT/obj/1k.bin"

# An edge in front of the origin on SERVER_CPU, with the store capacity given (bytes) and
# any further arguments of `edgelab edge`.
start_edge() {
    cat >"$WORK/edge.toml" <<TOML
pop = "FRA"
capacity_bytes = $1
[upstream]
primary = "http://127.0.0.1:$ORIGIN_PORT"
[default_behavior]
cache_policy = { preset = "CachingOptimized" }
TOML
    lib_start_node "${EDGE_BIN:-$BIN}" "$SERVER_CPU" edge --config "$WORK/edge.toml" "${@:2}"
    EDGE_PID=$NODE_PID
    EDGE_TRAFFIC=$NODE_TRAFFIC
    EDGE_ADMIN=$NODE_ADMIN
}

cat >"$RESULTS/setup.json" <<JSON
{
  "stamp": "$STAMP",
  "setup": "servers on CPU $SERVER_CPU (one worker / thread), wrk -t1 on CPU $LOAD_CPU, ${DURATION} s per run, $REPS interleaved repetitions; host $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg)",
  "load_note": "$(awk -v n="$(nproc)" '$1 > n / 2 { print "the machine was busy (load average " $1 " on " n " CPUs): hit figures are not comparable" }' /proc/loadavg)",
  "commit": "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)",
  "duration_s": $DURATION, "reps": $REPS, "objects": $OBJECTS
}
JSON

# --- hits ---------------------------------------------------------------------------------------
declare -A URL PID_OF ADMIN_OF
url_of() { # target size -> URL
    case $1 in
        limit) echo "${URL[limit]}/$2" ;;
        *) echo "${URL[$1]}/obj/$2.bin" ;;
    esac
}

# Checks every target answers each size from its cache (or memory) with the origin's bytes.
warm_targets() {
    local t size url
    for t in $TARGETS; do
        for size in $SIZES; do
            url="$(url_of "$t" "$size")"
            if [ "$t" = limit ]; then
                limit_serves "$size" || continue
            fi
            curl -fsS -o /dev/null "$url"
            curl -fsS -o /dev/null "$url"
            if [ "$t" != limit ]; then
                cmp -s <(curl -fsS "$url") "$WORK/www/obj/$size.bin" \
                    || { echo "$url differs from the origin file" >&2; exit 1; }
            fi
        done
    done
    local expected bytes min max
    read -r min max <<<"$ARENA_SIZES"
    for size in $SIZES; do
        bytes=$(bytes_of "$size")
        for t in $TARGETS; do
            is_edgelab "$t" || continue
            curl -fsS -D - -o /dev/null "$(url_of "$t" "$size")" \
                | grep -qi '^x-cache: Hit from cloudfront' \
                || { echo "$t is not serving $size from cache" >&2; exit 1; }
            # Another build may keep its bodies otherwise (or not say where).
            [[ $t == edgelab-base ]] && continue
            # Where the body is kept: the arena from 16 KiB to 256 KiB, unless turned off.
            expected=heap
            if [[ ${TARGET_ENV[$t]} != *EDGELAB_FILE_BODIES=0* ]] \
                && ((bytes >= min && bytes <= max)); then
                expected=arena
            fi
            curl -fsS "http://${ADMIN_OF[$t]}/cache?path=/obj/$size.bin" \
                | grep -q "\"body_in\": \"$expected\"" \
                || { echo "$t does not keep the $size body in the $expected" >&2; exit 1; }
        done
        if [[ " $TARGETS " == *" nginx "* ]]; then
            curl -fsS -D - -o /dev/null "$(url_of nginx "$size")" | grep -qi '^x-cache: HIT' \
                || { echo "nginx is not serving $size from cache" >&2; exit 1; }
        fi
    done
}

# One measured run: wrk on LOAD_CPU, the target's CPU ticks around it and wrk's own CPU time
# (bash's `times` in the subshell that waited for it); appends to runs.tsv.
measure() {
    local t="$1" size="$2" c="$3" rep="$4" out t0 t1 w0 w1 load_cpu
    out="$RESULTS/raw/$t-$size-c$c-r$rep.txt"
    t0=$(ticks "${PID_OF[$t]}")
    w0=$(date +%s.%N)
    load_cpu=$( (
        (TIMEOUT=$((DURATION + 30)) lib_pinned "$LOAD_CPU" wrk -t1 -c"$c" -d"${DURATION}s" \
            --latency "$(url_of "$t" "$size")" >"$out")
        times
    ) | awk 'NR == 2 { # children: "0m1.23s 0m4.56s", user and system
            split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
    w1=$(date +%s.%N)
    t1=$(ticks "${PID_OF[$t]}")
    awk -v t="$t" -v s="$size" -v c="$c" -v r="$rep" -v cpu="$(((t1 - t0)))" -v hz="$HZ" \
        -v wall="$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')" -v lg="$load_cpu" '
        function ms(v) {
            if (v ~ /us$/) { sub(/us/, "", v); return v / 1000 }
            if (v ~ /ms$/) { sub(/ms/, "", v); return v + 0 }
            if (v ~ /s$/) { sub(/s/, "", v); return v * 1000 }
            return "nan" }
        /^Requests\/sec:/ { rps = $2 }
        / requests in / { requests = $1 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        END { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%d\t%.2f\n",
            t, s, c, r, rps, p50, p99, cpu / hz, wall, requests, lg }' \
        "$out" >>"$RESULTS/runs.tsv"
}

# An edgelab target's edge (its environment local to this call).
start_target() {
    local assignment EDGE_BIN="$BIN"
    [[ $1 == edgelab-base ]] && EDGE_BIN="$BASE_BIN"
    for assignment in ${TARGET_ENV[$1]}; do local -x "${assignment?}"; done
    # shellcheck disable=SC2086 # the target's arguments, word by word
    start_edge 268435456 ${TARGET_ARGS[$1]}
}

run_hits() {
    local t edges=()
    for t in $TARGETS; do
        is_edgelab "$t" || continue
        start_target "$t"
        URL[$t]="http://$EDGE_TRAFFIC"
        PID_OF[$t]=$EDGE_PID
        ADMIN_OF[$t]=$EDGE_ADMIN
        edges+=("$EDGE_PID")
    done
    lib_start_nginx "$SERVER_CPU" "$WORK/proxy.conf"
    URL[nginx]="http://127.0.0.1:$NGINX_PORT"
    wait_http "${URL[nginx]}/obj/1k.bin"
    PID_OF[nginx]="$(pgrep -P "$NGINX_PID" | head -1)" # the one worker does the work
    if [[ " $TARGETS " == *" limit "* ]]; then
        lib_pinned "$SERVER_CPU" "$LIMIT_BIN" --listen "127.0.0.1:$LIMIT_PORT" \
            >"$WORK/limit.out" 2>&1 &
        PID_OF[limit]=$!
        PIDS+=("$!")
        URL[limit]="http://127.0.0.1:$LIMIT_PORT"
        wait_http "${URL[limit]}/1k"
    fi
    warm_targets
    printf 'target\tsize\tconns\trep\treq_s\tp50_ms\tp99_ms\tserver_cpu_s\twall_s\trequests\tload_cpu_s\n' \
        >"$RESULTS/runs.tsv"
    local rep size c i n order
    read -r -a order <<<"$TARGETS"
    n=${#order[@]}
    for rep in $(seq 1 "$REPS"); do
        for size in $SIZES; do
            for c in $CONNS; do
                for i in $(seq 0 $((n - 1))); do
                    t=${order[$(((i + rep - 1) % n))]}
                    [[ $t == limit ]] && ! limit_serves "$size" && continue
                    echo "rep $rep $size c$c $t" >&2
                    measure "$t" "$size" "$c" "$rep"
                done
            done
        done
    done
    kill "$NGINX_PID" "${edges[@]}" ${PID_OF[limit]:+"${PID_OF[limit]}"} 2>/dev/null || true
    wait "${edges[@]}" 2>/dev/null || true
}

# --- memory per cached object ----------------------------------------------------------------
# Hits this node has answered from its cache, all labels summed.
hit_count() {
    curl -fsS "http://$EDGE_ADMIN/metrics" |
        awk '/^edgelab_edge_requests_total\{/ && /cache_status="hit"/ { n += $2 } END { printf "%d\n", n }'
}
run_memory() {
    # A store large enough that nothing is evicted.
    start_edge $((OBJECTS * 4096 + (64 << 20)))
    local rss_before rss_after objects started ended
    rss_before=$(awk '/^VmRSS:/ { print $2 }' "/proc/$EDGE_PID/status")
    cat >"$WORK/distinct.lua" <<LUA
counter = 0
request = function()
    counter = counter + 1
    return wrk.format(nil, "$MEMORY_PATH" .. counter)
end
LUA
    started=$(date +%s)
    # One request per object; stopped (by its pid) once the store holds OBJECTS, or after
    # 30 minutes.
    timeout 1800 taskset -c "$LOAD_CPU" wrk -t1 -c64 -d1800s -s "$WORK/distinct.lua" \
        "http://$EDGE_TRAFFIC" >"$RESULTS/raw/memory-fill.txt" &
    local filler=$!
    while kill -0 "$filler" 2>/dev/null; do
        objects=$(curl -fsS "http://$EDGE_ADMIN/metrics" | awk '/^edgelab_edge_cache_objects/ { print $2 }')
        [ "${objects:-0}" -ge "$OBJECTS" ] && kill "$filler" 2>/dev/null
        sleep 1
    done
    wait "$filler" 2>/dev/null || true
    ended=$(date +%s)
    sleep 1 # the store gauges are published every 200 ms
    objects=$(curl -fsS "http://$EDGE_ADMIN/metrics" | awk '/^edgelab_edge_cache_objects/ { print $2 }')
    rss_after=$(awk '/^VmRSS:/ { print $2 }' "/proc/$EDGE_PID/status")
    # Then one hit on every object, the same paths again from the first: what an object costs
    # once it has been served from the cache (a hit may keep state an object filled and never
    # hit does not, e.g. its header lines encoded for the lane), stopped once the node counted
    # that many hits.
    local hits_before hits rss_hit
    hits_before=$(hit_count)
    # Paths wrap at the stored count, so the pass never asks for an object the fill did not store.
    cat >"$WORK/again.lua" <<LUA
counter = 0
request = function()
    counter = counter % $objects + 1
    return wrk.format(nil, "$MEMORY_PATH" .. counter)
end
LUA
    timeout 1800 taskset -c "$LOAD_CPU" wrk -t1 -c64 -d1800s -s "$WORK/again.lua" \
        "http://$EDGE_TRAFFIC" >"$RESULTS/raw/memory-hit.txt" &
    filler=$!
    while kill -0 "$filler" 2>/dev/null; do
        hits=$(hit_count)
        [ $((hits - hits_before)) -ge "$objects" ] && kill "$filler" 2>/dev/null
        sleep 1
    done
    wait "$filler" 2>/dev/null || true
    hits=$(( $(hit_count) - hits_before ))
    rss_hit=$(awk '/^VmRSS:/ { print $2 }' "/proc/$EDGE_PID/status")
    awk -v p="$MEMORY_PATH" -v b="$rss_before" -v a="$rss_after" -v n="$objects" -v s="$((ended - started))" \
        -v h="$hits" -v r="$rss_hit" 'BEGIN {
        printf "{\"path\": \"%s\", ", p
        printf "\"objects\": %d, \"rss_before_bytes\": %d, \"rss_after_bytes\": %d, ", n, b * 1024, a * 1024
        printf "\"rss_delta_bytes\": %d, \"bytes_per_object\": %.1f, \"fill_seconds\": %d",
            (a - b) * 1024, (n > 0 ? (a - b) * 1024 / n : 0), s
        printf ", \"hits\": %d, \"rss_after_hits_bytes\": %d, \"bytes_per_object_after_hits\": %.1f}\n",
            h, r * 1024, (n > 0 ? (r - b) * 1024 / n : 0) }' >"$RESULTS/memory.json"
    kill "$EDGE_PID" 2>/dev/null || true
    wait "$EDGE_PID" 2>/dev/null || true
}

[[ " $PHASES " == *" hits "* ]] && run_hits
[[ " $PHASES " == *" memory "* ]] && run_memory
python3 "$ROOT/loadtest/bench-summary.py" "$RESULTS"
echo "results: $RESULTS/results.md, $RESULTS/results.json" >&2
