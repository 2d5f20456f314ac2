# Docker for the end-to-end scripts, offline: sourced after loadtest/lib.sh, never run. Starts a
# dockerd of our own (data under WORK, stopped by its PID on exit), makes a Debian bookworm
# base image with debootstrap (the tarball cached under target/ so reruns are fast; the
# unpacked tree deleted after import) and packages the edgelab binary and Debian's Prometheus
# on it. No registry is needed. Functions are prefixed `docker_`.

# Starts dockerd with its state under $WORK/docker; sets DOCKER_HOST and DOCKERD_PID.
docker_start() {
    lib_install "docker.io docker-compose debootstrap prometheus" dockerd docker-compose debootstrap prometheus
    local root="$WORK/docker" _
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
