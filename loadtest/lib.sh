# Shared set-up of the benchmark and end-to-end scripts: sourced, never run. It installs what a
# script needs, makes a work directory cleaned up on exit with every started process, finds
# free loopback ports, waits for HTTP, starts edgelab nodes and nginx (optionally pinned to a
# CPU) and runs wrk. Each function is prefixed `lib_`; state lives in WORK and PIDS.

# Whether a command is installed (also Debian's /usr/sbin for nginx).
lib_need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

# Installs the Debian packages named when any of the commands named is missing:
#   lib_install "nginx wrk curl" nginx wrk curl
lib_install() {
    local packages="$1" missing=0 cmd
    shift
    for cmd in "$@"; do lib_need "$cmd" || missing=1; done
    [ "$missing" = 0 ] && return 0
    echo "installing $packages (apt-get)" >&2
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    # shellcheck disable=SC2086 # the package list is a word list
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $packages >/dev/null 2>&1 \
        || { $sudo apt-get update -qq >/dev/null \
            && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $packages >/dev/null; }
}

# The nginx binary (Debian keeps it in /usr/sbin).
lib_nginx() { command -v nginx || echo /usr/sbin/nginx; }

# The edgelab binary a probe runs: its argument when given, else a debug build of this tree
# (built here). Sets BIN; needs ROOT.
lib_debug_bin() {
    BIN="${1:-}"
    if [ -z "$BIN" ]; then
        (cd "$ROOT" && cargo build --locked -q -p edgelab-cli)
        BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/edgelab"
    fi
}

# The release binary a benchmark runs: EDGELAB_BIN when set (not built), else this tree's
# release build, built here unless NO_BUILD is set. Sets BIN; needs ROOT.
lib_release_bin() {
    BIN="${EDGELAB_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/edgelab}"
    [ -n "${NO_BUILD:-}${EDGELAB_BIN:-}" ] && return 0
    echo "building edgelab (release) into $(dirname "$(dirname "$BIN")")" >&2
    (cd "$ROOT" && cargo build --release --locked -q -p edgelab-cli)
}

# As many open files as the hard limit allows (thousands of client connections need more
# descriptors than the default 1,024).
lib_many_files() { ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; }

# The eleven client places of the scale benchmarks (bench-scale.sh, bench-open-loop.sh).
LIB_PLACES=("New York" "Los Angeles" "Sao Paulo" "London" "Berlin" "Lagos" "Dubai" "Mumbai" "Singapore" "Tokyo" "Sydney")

# The `[[population]]` tables of a scenario file, one for each of LIB_PLACES.
lib_populations() {
    local place
    for place in "${LIB_PLACES[@]}"; do printf '[[population]]\nplace = "%s"\n' "$place"; done
}

# Makes WORK (a fresh directory, /tmp/edgelab-$1.*) and a trap that stops every pid in PIDS
# and removes WORK.
lib_workdir() {
    WORK="$(mktemp -d "/tmp/edgelab-$1.XXXXXX")"
    chmod 755 "$WORK"
    PIDS=()
    trap lib_cleanup EXIT
    trap 'exit 130' INT TERM
}

lib_cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}

# A free TCP port on 127.0.0.1.
lib_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits up to 10 s for URL to answer 2xx.
lib_wait_http() {
    local _
    for _ in $(seq 1 200); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "not answering: $1" >&2
    return 1
}

# Runs (execs: call it in the background or in a subshell) a command pinned to CPU $1 when
# taskset is there and $1 is not "-", at nice level NICE when that is set, killed after
# TIMEOUT seconds when that is set.
lib_pinned() {
    local cpu="$1"
    shift
    local cmd=("$@")
    if [ "$cpu" != "-" ] && command -v taskset >/dev/null 2>&1; then
        cmd=(taskset -c "$cpu" "${cmd[@]}")
    fi
    if [ -n "${NICE:-}" ]; then
        cmd=(nice -n "$NICE" "${cmd[@]}")
    fi
    if [ -n "${TIMEOUT:-}" ]; then
        cmd=(timeout "$TIMEOUT" "${cmd[@]}")
    fi
    exec "${cmd[@]}"
}

# Starts `BIN SUBCOMMAND --listen 127.0.0.1:0 --admin 127.0.0.1:0 ARGS...` on CPU $2 and
# reads its first line; sets NODE_PID, NODE_TRAFFIC and NODE_ADMIN (host:port).
#   lib_start_node "$BIN" 0 edge --upstream http://127.0.0.1:8080 --policy CachingOptimized
lib_start_node() {
    local bin="$1" cpu="$2" subcommand="$3" out _
    shift 3
    out="$(mktemp "$WORK/node.XXXXXX")"
    lib_pinned "$cpu" "$bin" "$subcommand" --listen 127.0.0.1:0 --admin 127.0.0.1:0 "$@" >"$out" 2>"$out.err" &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    for _ in $(seq 1 200); do grep -q '^listening ' "$out" && break; sleep 0.05; done
    NODE_TRAFFIC="$(sed -n 's/^listening traffic=\([^ ]*\) admin=.*/\1/p' "$out")"
    NODE_ADMIN="$(sed -n 's/^listening traffic=[^ ]* admin=\(.*\)/\1/p' "$out")"
    [ -n "$NODE_TRAFFIC" ] || { echo "edgelab $subcommand did not start:" >&2; cat "$out.err" >&2; return 1; }
}

# The http{} lines every nginx config of these scripts shares (temp paths inside WORK).
lib_nginx_http_common() {
    cat <<NGINX
    access_log off; sendfile on; tcp_nopush on; tcp_nodelay on;
    keepalive_requests 1000000; keepalive_timeout 65;
    client_body_temp_path $WORK/tmp-body; fastcgi_temp_path $WORK/tmp-fastcgi;
    uwsgi_temp_path $WORK/tmp-uwsgi; scgi_temp_path $WORK/tmp-scgi;
NGINX
}

# The main-context lines of an nginx config named NAME: foreground, one worker, pid and error
# log in WORK (and `user root;` when run as root, so workers can read WORK).
lib_nginx_main() {
    [ "$(id -u)" = 0 ] && echo "user root;"
    echo "daemon off; worker_processes 1; pid $WORK/$1.pid; error_log $WORK/$1-error.log warn;"
}

# The nginx proxy_cache peer every hit benchmark measures against: a config (on stdout) for an
# nginx listening on 127.0.0.1:$1 that caches what the origin on ORIGIN_PORT serves; $2, if
# given, is one more main-context line (e.g. `master_process off;`).
lib_nginx_proxy_conf() {
    cat <<NGINX
$(lib_nginx_main proxy)${2:+ $2}
events { worker_connections 8192; }
http {
$(lib_nginx_http_common)
    proxy_temp_path $WORK/tmp-proxy;
    proxy_cache_path $WORK/cache levels=1:2 keys_zone=edge:64m max_size=2g inactive=1h use_temp_path=off;
    upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$1;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            proxy_cache_lock on;
            add_header X-Cache \$upstream_cache_status;
        }
    }
}
NGINX
}

# Starts nginx with config file $2 on CPU $1; sets NGINX_PID.
lib_start_nginx() {
    lib_pinned "$1" "$(lib_nginx)" -p "$WORK" -c "$2" &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
}

# Starts nginx on CPU $1 serving one 1 KiB file, /1k.bin, from $WORK/www
# (loadtest/bench-loadgen/nginx.conf.in; each further argument is one more sed expression
# applied to that config) and waits until it answers; sets NGINX_PID, URL
# (http://127.0.0.1:PORT) and writes $WORK/urls.txt (the one path).
lib_start_static_nginx() {
    local cpu="$1" port edit
    shift
    mkdir -p "$WORK/www"
    head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
    port="$(lib_free_port)"
    local edits=(-e "s|@WORK@|$WORK|g" -e "s|@PORT@|$port|g")
    for edit in "$@"; do edits+=(-e "$edit"); done
    sed "${edits[@]}" "$ROOT/loadtest/bench-loadgen/nginx.conf.in" >"$WORK/nginx.conf"
    if [ "$(id -u)" = 0 ]; then sed -i '1i user root;' "$WORK/nginx.conf"; fi
    lib_start_nginx "$cpu" "$WORK/nginx.conf"
    URL="http://127.0.0.1:$port"
    lib_wait_http "$URL/1k.bin"
    echo "/1k.bin" >"$WORK/urls.txt"
}

# wrk with one thread on CPU $1 against URL $2 with $3 connections for $4 seconds;
# prints "req/s p99_ms".
lib_wrk() {
    local cpu="$1" url="$2" conns="$3" seconds="$4" out
    out="$(mktemp "$WORK/wrk.XXXXXX")"
    (TIMEOUT=$((seconds + 30)) lib_pinned "$cpu" wrk -t1 -c"$conns" -d"${seconds}s" --latency "$url" >"$out")
    awk '/^Requests\/sec:/ { rps = $2 }
        $1 == "99%" { v = $2;
            if (v ~ /us$/) { sub(/us/, "", v); v = v / 1000 }
            else if (v ~ /ms$/) { sub(/ms/, "", v) }
            else if (v ~ /s$/) { sub(/s/, "", v); v = v * 1000 }
            p99 = sprintf("%.2f", v) }
        END { print rps, p99 }' "$out"
}

# Median, min and max of the numbers given: "median min max" (the spread a ratio is quoted
# with; benchmarks here run each target at least three times, interleaved).
lib_median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "0 0 0"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.2f %.2f %.2f\n", m, v[1], v[NR] }'
}

# The set-up loadtest/bench-replay.sh and loadtest/bench-replay-instructions.sh share (run from
# the repository root): EDGELAB (default target/release/edgelab, built here when missing),
# TRACE (default the cloudPhysics trace of crates/replay/tests/data), RUNS (default 3), and the
# cache configurations both measure, as `--capacity` values and the flags after them:
# REPLAY_ONE (1 GiB), REPLAY_GRID (128 MiB … 1 GiB in 128 MiB steps, 8 caches), and the
# arrays REPLAY_TIERS (--tiers pop,rec,shield at 2 grid points: PoP 128 MiB / 256 MiB, REC
# 1 GiB, shield 4 GiB) and REPLAY_POLICIES (2 presets × 2 DefaultTTLs × 2 capacities).
lib_replay_bench() {
    EDGELAB="${EDGELAB:-target/release/edgelab}"
    TRACE="${TRACE:-crates/replay/tests/data/cloudPhysicsIO.oracleGeneral.bin}"
    RUNS="${RUNS:-3}"
    [[ -x "$EDGELAB" ]] || cargo build --locked --release -q -p edgelab-cli
    local mib=$((1 << 20))
    REPLAY_ONE=$((1024 * mib))
    REPLAY_GRID="$(seq -s, $((128 * mib)) $((128 * mib)) $((1024 * mib)))"
    REPLAY_TIERS=(pop=128MiB,pop=256MiB,rec=1GiB,shield=4GiB --tiers pop,rec,shield)
    REPLAY_POLICIES=(256MiB,1GiB --policy CachingOptimized,UseOriginCacheControlHeaders
        --min-ttl 0s --default-ttl 10m,1h)
}
