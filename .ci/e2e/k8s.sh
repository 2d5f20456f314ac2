#!/usr/bin/env bash
# Kubernetes, validated offline (no cluster runs here): `edgelab deploy k8s` for the shipped
# topologies (default, minimal, global), each manifest validated strictly (unknown fields rejected) against Kubernetes 1.29
# and the newest schema kubernetes-validate ships, and `kubectl kustomize` renders the base
# (the rendered objects are validated too). kubernetes-validate lives in a virtualenv under
# target/ so reruns do not download it again.
#   EDGELAB=target/debug/edgelab bash .ci/e2e/k8s.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. loadtest/lib.sh
EDGELAB="${EDGELAB:-$PWD/target/debug/edgelab}"
start=$SECONDS

VENV="${CARGO_TARGET_DIR:-$PWD/target}/k8s-validate-venv"
if [ ! -x "$VENV/bin/kubernetes-validate" ]; then
    lib_install "python3-venv" python3
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet kubernetes-validate
fi
if ! command -v kubectl >/dev/null 2>&1; then
    lib_install "kubernetes-client" kubectl
fi
# The newest Kubernetes version whose strict schemas the package ships.
newest="$("$VENV/bin/python" - <<'PY'
import os, re, kubernetes_validate
root = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema")
found = [m.group(1) for d in os.listdir(root) if (m := re.fullmatch(r"v(\d+\.\d+\.\d+)-local-strict", d))]
print(max(found, key=lambda v: tuple(map(int, v.split(".")))))
PY
)"
versions=("1.29.0" "$newest")

lib_workdir k8s
manifests=()
objects=0
for topology in config/default.toml config/minimal.toml config/global.toml; do
    out="$WORK/$(basename "$topology" .toml)"
    "$EDGELAB" deploy k8s "$topology" --out "$out" >/dev/null
    kubectl kustomize "$out/k8s" >"$out/rendered.yaml"
    manifests+=("$out"/k8s/{config,nodes,prometheus,loadgen}.yaml "$out/rendered.yaml")
    rendered=$(grep -c '^kind:' "$out/rendered.yaml")
    objects=$((objects + rendered))
    echo "  $topology: kubectl kustomize renders $rendered objects"
done
# The validation is strict: a manifest with an unknown field fails it.
sed 's/^  replicas: 1$/  replicaz: 1/' "$WORK/minimal/k8s/nodes.yaml" >"$WORK/unknown-field.yaml"
if "$VENV/bin/kubernetes-validate" --strict --quiet "$WORK/unknown-field.yaml" >/dev/null 2>&1; then
    echo "k8s e2e: strict validation accepted an unknown field" >&2
    exit 1
fi
for version in "${versions[@]}"; do
    if ! "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "${manifests[@]}"; then
        echo "k8s e2e: a manifest is not valid Kubernetes $version (see above)" >&2
        exit 1
    fi
    echo "  every manifest valid for Kubernetes $version (strict)"
done
echo "k8s e2e: ok (${#manifests[@]} files, $objects rendered objects; $((SECONDS - start)) s)"
