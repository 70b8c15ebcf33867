#!/usr/bin/env bash
# The whole test suite, as the README documents it (CI runs it through .ci/run).
#
# Tiers:
#   1. format and lints
#   2. unit, codec, contract (client ↔ simulator), reconcile-core and CLI tests: `cargo test`
#      (the e2e tests are marked ignored there, with the reason: they never count as passes)
#   3. e2e: a real kube-apiserver + etcd on loopback (scripts/testenv.sh), the
#      operator binary, kubectl and helm; QUALYS_E2E=1 turns a missing prerequisite
#      into a failure instead of a skip.
#   4. node: the image (scripts/image.sh) installed with Helm as pods on a
#      kubelet + containerd (QUALYS_TESTENV_NODE=1 scripts/testenv.sh), under the
#      chart's RBAC, with leader failover and a rolling upgrade (tests/e2e_node.rs).
#      Needs root; installs its Debian packages (containerd, runc, buildah,
#      containernetworking-plugins, busybox-static, musl-tools) when missing.
#
# Set QUALYS_SKIP_E2E=1 to stop after tier 2 (local iteration only; CI never sets it).
# Set QUALYS_SKIP_NODE=1 to stop after tier 3 (local iteration only; CI never sets it).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

step "cargo test (unit, contract, core, CLI)"
cargo test

if [ "${QUALYS_SKIP_E2E:-}" = 1 ]; then
    echo "QUALYS_SKIP_E2E=1: e2e tier not run" >&2
    exit 0
fi

step "e2e prerequisites: kube-apiserver + etcd (cached after the first build), helm"
scripts/testenv.sh install
scripts/tools.sh helm >/dev/null

step "e2e tier on a real kube-apiserver"
e2e_tests=()
for f in tests/e2e_*.rs; do
    # The node tier has its own control plane (below).
    [[ $f == tests/e2e_node.rs ]] && continue
    e2e_tests+=(--test "$(basename "$f" .rs)")
done
scripts/testenv.sh run -- env QUALYS_E2E=1 cargo test "${e2e_tests[@]}" -- --include-ignored --test-threads=4

if [ "${QUALYS_SKIP_NODE:-}" = 1 ]; then
    echo "QUALYS_SKIP_NODE=1: node tier not run" >&2
    exit 0
fi

step "node tier prerequisites: Debian packages, the musl target, the node's Go binaries"
node_packages=(containerd runc buildah containernetworking-plugins busybox-static musl-tools)
missing=()
for p in "${node_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    ((EUID == 0)) || { echo "the node tier needs root to install: ${missing[*]}" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
QUALYS_TESTENV_NODE=1 scripts/testenv.sh install >/dev/null

step "node tier: build the image, then helm install it on a kubelet"
images=$(mktemp -d "${TMPDIR:-/tmp}/qualys-images.XXXXXX")
trap 'rm -rf "$images"' EXIT
# The release musl build is the slow part: cached outside the clone, like the Go builds.
CARGO_TARGET_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/qualys-operator/musl-target" \
    scripts/image.sh build e2e-a e2e-b >/dev/null
scripts/image.sh archive e2e-a "$images/a.tar" >/dev/null
scripts/image.sh archive e2e-b "$images/b.tar" >/dev/null
echo "image localhost/qualys-operator:e2e-a: $(stat -c %s "$images/a.tar") bytes (archive)"
QUALYS_TESTENV_NODE=1 QUALYS_TESTENV_NODE_IMAGES="$images/a.tar $images/b.tar" \
    scripts/testenv.sh run -- env QUALYS_E2E_NODE=1 \
    QUALYS_E2E_NODE_IMAGE=localhost/qualys-operator:e2e-a QUALYS_E2E_NODE_NEXT_TAG=e2e-b \
    cargo test --test e2e_node -- --include-ignored --test-threads=1 --nocapture
