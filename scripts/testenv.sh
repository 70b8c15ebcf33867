#!/usr/bin/env bash
# A throw-away Kubernetes control plane (etcd + kube-apiserver, nothing else)
# on 127.0.0.1 for end-to-end tests, in the spirit of controller-runtime's
# envtest.
#
#   scripts/testenv.sh install           build + cache the binaries, print their paths
#   scripts/testenv.sh start DIR         start a control plane whose state lives in DIR;
#                                        prints `export KUBECONFIG=DIR/kubeconfig`
#   scripts/testenv.sh stop DIR          stop it and delete what start created in DIR
#   scripts/testenv.sh run -- CMD ARG... start in a temp dir, run CMD with KUBECONFIG
#                                        set, always tear down, exit with CMD's status
#
# Typical use:
#   scripts/testenv.sh run -- cargo test --test e2e
#   eval "$(scripts/testenv.sh start /tmp/kenv)"; ...; scripts/testenv.sh stop /tmp/kenv
#
# Environment:
#   QUALYS_TESTENV_CACHE          binary cache (default ~/.cache/qualys-operator/testenv)
#   QUALYS_TESTENV_KUBE_APISERVER use this kube-apiserver instead of building one
#   QUALYS_TESTENV_ETCD           use this etcd instead of building one
#   QUALYS_TESTENV_START_TIMEOUT  seconds to wait for readiness (default 90)
#   QUALYS_TESTENV_KEEP=1         `run`: keep the temp dir (logs, etcd data) afterwards
#   QUALYS_TESTENV_NODE=1         `start`/`run`: add a node (see below)
#   QUALYS_TESTENV_NODE_IMAGES    with the node: docker/OCI archives (space-separated)
#                                 imported into containerd's k8s.io namespace
#
# What you get by default is an API server only: no kube-controller-manager,
# scheduler or kubelet. So there is no garbage collection of ownerReferences,
# namespaces stay Terminating after delete, pods are never scheduled, and
# ServiceAccount tokens are not auto-created. Every admin request is allowed
# (system:masters).
#
# With QUALYS_TESTENV_NODE=1 (root only) it also runs a one-node cluster:
# kube-controller-manager, kube-scheduler and a kubelet (built like
# kube-apiserver, from the same wrapper module and cached by version), on a
# containerd + runc from Debian that has its own root, state and socket under
# DIR/node, a bridge CNI network in a private conf dir, and a sandbox image
# built locally (scripts/image.sh pause). Nothing can be pulled: pods must use
# images imported through QUALYS_TESTENV_NODE_IMAGES with imagePullPolicy
# Never, and should use host networking (everything stays on loopback). The
# node has no reachable address, so `kubectl logs`/`exec` do not work; pod logs
# are files under $QUALYS_TESTENV_POD_LOGS. `start` prints and `run` exports:
#   QUALYS_TESTENV_APISERVER        127.0.0.1:PORT (pods: KUBERNETES_SERVICE_HOST/PORT,
#                                   since no kube-proxy serves the kubernetes Service)
#   QUALYS_TESTENV_NODE_NAME        the Node's name
#   QUALYS_TESTENV_POD_LOGS         the kubelet's pod log directory
#   QUALYS_TESTENV_CONTAINERD       containerd's socket (for `ctr -a`)
# `stop` removes the node's pods, containers, shims, mounts and cgroups.
#
# Requires: go, openssl, curl; Linux (uses /proc to make sure we only ever
# signal our own processes). The node also needs root and the Debian packages
# containerd, runc, containernetworking-plugins, buildah and busybox-static.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
WRAPPERS=$REPO_ROOT/scripts/testenv
# shellcheck source=testenv/node.sh
source "$WRAPPERS/node.sh"

# The versions are read from the wrapper modules so go.mod is the single
# source of truth; they also key the cache, so bumping a wrapper rebuilds.
# kube-apiserver must match the k8s-openapi feature in Cargo.toml (v1_35).
mod_version() { # wrapper-dir module-path
    sed -n "s#^\(require\)\{0,1\}[[:space:]]*$2 \(v[^[:space:]]*\).*#\2#p" "$WRAPPERS/$1/go.mod" | head -n1
}
K8S_VERSION=$(mod_version kube-apiserver k8s.io/kubernetes)
ETCD_VERSION=$(mod_version etcd go.etcd.io/etcd/server/v3)
CACHE=${QUALYS_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qualys-operator/testenv}
KUBE_APISERVER=${QUALYS_TESTENV_KUBE_APISERVER:-$CACHE/k8s-$K8S_VERSION/kube-apiserver}
KUBE_NODE_BINARIES=(kubelet kube-controller-manager kube-scheduler)
ETCD=${QUALYS_TESTENV_ETCD:-$CACHE/etcd-$ETCD_VERSION/etcd}
START_TIMEOUT=${QUALYS_TESTENV_START_TIMEOUT:-90}

log() { printf 'testenv: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2; }

# --------------------------------------------------------------------------
# Building
#
# kube-apiserver: k8s.io/kubernetes can't be `go install`ed (its go.mod maps
# the k8s.io/* staging modules to ./staging), so scripts/testenv/kube-apiserver
# is a wrapper module that requires it and replaces every staging module with
# its published v0.X.Y tag, and builds the upstream main via a `tool`
# directive.
#
# etcd: built from go.etcd.io/etcd/server/v3 (wrapper scripts/testenv/etcd)
# rather than taken from Debian's etcd-server package (3.4.23). That package
# does pass our smoke test with kube-apiserver 1.35 (CRUD, CRDs, watch, CEL),
# but 1.35 is released against etcd 3.6, and with 3.4.23 the apiserver logs
# "RequestWatchProgress feature is not supported" and quietly takes other
# code paths for consistent reads from its watch cache, i.e. our tests would
# not exercise what real clusters run. The package also needs root + apt and
# only exists on Debian, and has no --unsafe-no-fsync. v3.6.14 is the newest
# 3.6 patch whose go.mod still accepts Go 1.25 (same floor as kube-apiserver).
#
# Cold build on a 2-core VM with an empty Go build cache and a cargo build
# competing for the CPUs: kube-apiserver 4.5 min (6.5 min CPU), etcd 0.5-3.5
# min (1.5 min CPU). Later runs only stat the cached binaries; a warm start
# takes ~3.5 s.
# -trimpath/-s -w keep the binaries small and reproducible; they're passed as
# flags rather than via GOFLAGS so the user's own `go env GOFLAGS` still applies.
go_build() { # wrapper-dir package output [extra ldflags...]
    local dir=$WRAPPERS/$1 pkg=$2 out=$3; shift 3
    local tmp="$out.tmp.$$"
    mkdir -p "$(dirname "$out")"
    log "building $pkg into $out (first run only, takes a few minutes)"
    local start=$SECONDS
    # GOWORK=off: a go.work higher up must not pull the wrapper into a workspace.
    # CGO_ENABLED=0: upstream ships both as static binaries too.
    # -buildvcs=false: etcd's main is in our repo; stamping our git state into
    # it is useless and fails when git can't read the checkout.
    command -v go >/dev/null || die "go is required to build $pkg (or set QUALYS_TESTENV_KUBE_APISERVER/QUALYS_TESTENV_ETCD)"
    if ! (cd "$dir" && GOWORK=off CGO_ENABLED=0 \
            go build -trimpath -buildvcs=false -ldflags="-s -w $*" -o "$tmp" "$pkg"); then
        rm -f "$tmp"
        die "building $pkg failed"
    fi
    # Atomic rename: an interrupted build never leaves a half-written binary
    # in the cache.
    mv -f "$tmp" "$out"
    log "built $out in $((SECONDS - start))s"
}

install_binaries() {
    mkdir -p "$CACHE"
    # Parallel test jobs calling us at once should build only once.
    if command -v flock >/dev/null; then
        exec 9>"$CACHE/.build.lock"
        flock 9
    fi
    if [[ ! -x $KUBE_APISERVER ]]; then
        go_build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$KUBE_APISERVER" $(k8s_ldflags)
    fi
    if [[ ! -x $ETCD ]]; then
        go_build etcd . "$ETCD"
    fi
    if [[ ${QUALYS_TESTENV_NODE:-} == 1 ]]; then
        local b
        for b in "${KUBE_NODE_BINARIES[@]}"; do
            if [[ ! -x $(node_binary "$b") ]]; then
                go_build kube-apiserver "k8s.io/kubernetes/cmd/$b" "$(node_binary "$b")" $(k8s_ldflags)
            fi
        done
    fi
    if [[ -e /dev/fd/9 ]]; then exec 9>&-; fi
}

# What hack/lib/version.sh stamps, so /version and kubectl's skew check see a
# real version instead of v0.0.0-master.
k8s_ldflags() {
    local major=${K8S_VERSION#v}; major=${major%%.*}
    local minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
    local p
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        echo "-X=$p.gitVersion=$K8S_VERSION" "-X=$p.gitMajor=$major" "-X=$p.gitMinor=$minor"
    done
}

# Same wrapper module and version as kube-apiserver, so they share its cache key.
node_binary() { echo "$CACHE/k8s-$K8S_VERSION/$1"; }

# --------------------------------------------------------------------------
# Processes

# True if PID is alive and runs a program called NAME, so a stale pid file
# whose pid got reused never makes us signal a stranger.
is_ours() { # pid name
    [[ -n $1 ]] && kill -0 "$1" 2>/dev/null || return 1
    [[ -r /proc/$1/cmdline ]] || return 0
    local argv0
    argv0=$(tr '\0' '\n' </proc/"$1"/cmdline | head -n1)
    [[ ${argv0##*/} == "$2" ]]
}

stop_process() { # pidfile name
    local pidfile=$1 pid
    [[ -f $pidfile ]] || return 0
    pid=$(<"$pidfile")
    if is_ours "$pid" "$2"; then
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for ((i = 0; i < 100; i++)); do
            is_ours "$pid" "$2" || break
            sleep 0.1
        done
        if is_ours "$pid" "$2"; then
            log "$2 ($pid) ignored SIGTERM, killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

# Not in the kernel's ephemeral range (usually 32768-60999), so outgoing
# connections can't grab it between our check and the server's bind. A
# remaining race with another process is handled by retrying on EADDRINUSE.
pick_port() {
    local p
    while :; do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        if command -v ss >/dev/null; then
            [[ -z $(ss -Htan "sport = :$p" 2>/dev/null) ]] && break
        elif ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            break
        fi
    done
    echo "$p"
}

show_log() { # file
    log "last lines of $1:"
    tail -n 30 "$1" | sed 's/^/    /' >&2 || true
}

# Waits until CHECK succeeds. Returns 1 if the process died (the caller looks
# at the log to decide whether to retry on another port), dies on timeout.
wait_ready() { # name pid log check-command...
    local name=$1 pid=$2 logf=$3; shift 3
    local deadline=$((SECONDS + START_TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || return 1
        if ((SECONDS >= deadline)); then
            show_log "$logf"
            die "$name not ready after ${START_TIMEOUT}s"
        fi
        sleep 0.2
    done
}

# --------------------------------------------------------------------------
# Certificates and credentials

gen_pki() { # dir
    local pki=$1
    mkdir -p "$pki"
    # ECDSA P-256: key generation is instant (RSA would add seconds per start).
    local k
    for k in ca server sa; do
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/$k.key" 2>/dev/null
    done
    openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
    # Explicit extensions: rustls/webpki (kube-rs) rejects certificates that
    # lack SANs, use a CA as the leaf, or miss serverAuth.
    cat >"$pki/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = qualys-operator-testenv
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    openssl req -x509 -new -config "$pki/openssl.cnf" -extensions ca -key "$pki/ca.key" \
        -subj "/CN=qualys-operator-testenv-ca" -days 3650 -out "$pki/ca.crt"
    openssl req -new -config "$pki/openssl.cnf" -key "$pki/server.key" -subj "/CN=127.0.0.1" |
        openssl x509 -req -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
            -days 3650 -extfile "$pki/openssl.cnf" -extensions server -out "$pki/server.crt" 2>/dev/null
    # The token user is in system:masters, which RBAC lets do anything.
    openssl rand -hex 32 >"$pki/admin.token"
    printf '%s,admin,admin,"system:masters"\n' "$(<"$pki/admin.token")" >"$pki/tokens.csv"
    chmod 600 "$pki"/*.key "$pki/admin.token" "$pki/tokens.csv"
}

# --------------------------------------------------------------------------
# start / stop

# Checks the body, not just the status: until a losing etcd notices its bind
# failed, whatever else holds the port is what answers. (The apiserver check
# needs no such care: nobody else has our CA and token.)
etcd_healthy() {
    [[ $(curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health") == *'"health":"true"'* ]]
}

start_etcd() { # dir -> sets ETCD_PORT
    local dir=$1 attempt peer
    for attempt in 1 2 3 4 5; do
        ETCD_PORT=$(pick_port)
        peer=$(pick_port)
        rm -rf "$dir/etcd-data"
        # --unsafe-no-fsync: the data is thrown away anyway, and fsync is most
        # of etcd's write latency.
        "$ETCD" \
            --name=testenv \
            --data-dir="$dir/etcd-data" \
            --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
            --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
            --listen-peer-urls="http://127.0.0.1:$peer" \
            --initial-advertise-peer-urls="http://127.0.0.1:$peer" \
            --initial-cluster="testenv=http://127.0.0.1:$peer" \
            --unsafe-no-fsync \
            --log-level=warn \
            </dev/null >"$dir/etcd.log" 2>&1 &
        echo $! >"$dir/etcd.pid"
        if wait_ready etcd $! "$dir/etcd.log" etcd_healthy; then
            return 0
        fi
        grep -q 'address already in use' "$dir/etcd.log" || break
        log "etcd port clash (attempt $attempt), retrying on other ports"
    done
    show_log "$dir/etcd.log"
    die "etcd failed to start"
}

# /readyz alone can pass a moment before the bootstrap controller has created
# the `default` namespace, and tests tend to start by writing there.
apiserver_ready() { # pki-dir
    local get=(curl -fsS --max-time 5 --cacert "$1/ca.crt" -H "Authorization: Bearer $(<"$1/admin.token")")
    "${get[@]}" "https://127.0.0.1:$APISERVER_PORT/readyz" &&
        "${get[@]}" "https://127.0.0.1:$APISERVER_PORT/api/v1/namespaces/default"
}

start_apiserver() { # dir -> sets APISERVER_PORT
    local dir=$1 pki=$1/pki attempt
    for attempt in 1 2 3 4 5; do
        APISERVER_PORT=$(pick_port)
        # ServiceAccount admission is off because nothing (no controller
        # manager) creates the `default` ServiceAccount, so every pod create
        # would be rejected; with the node, kube-controller-manager does, and
        # pods need the token volume it adds. All other default admission
        # plugins, webhooks and ValidatingAdmissionPolicy stay on, as in a real
        # cluster.
        local DISABLED_ADMISSION=ServiceAccount
        if [[ ${QUALYS_TESTENV_NODE:-} == 1 ]]; then DISABLED_ADMISSION=; fi
        # --endpoint-reconciler-type=none: the apiserver would otherwise retry
        # every 10s to publish 127.0.0.1 as the `kubernetes` Service endpoint,
        # which validation rejects (loopback), filling the log with errors.
        "$KUBE_APISERVER" \
            --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
            --bind-address=127.0.0.1 \
            --advertise-address=127.0.0.1 \
            --secure-port="$APISERVER_PORT" \
            --tls-cert-file="$pki/server.crt" \
            --tls-private-key-file="$pki/server.key" \
            --token-auth-file="$pki/tokens.csv" \
            --authorization-mode=RBAC \
            --disable-admission-plugins="$DISABLED_ADMISSION" \
            --allow-privileged=true \
            --service-cluster-ip-range=10.0.0.0/24 \
            --service-account-issuer=https://kubernetes.default.svc.cluster.local \
            --service-account-key-file="$pki/sa.pub" \
            --service-account-signing-key-file="$pki/sa.key" \
            --endpoint-reconciler-type=none \
            --profiling=false \
            </dev/null >"$dir/kube-apiserver.log" 2>&1 &
        echo $! >"$dir/kube-apiserver.pid"
        if wait_ready kube-apiserver $! "$dir/kube-apiserver.log" apiserver_ready "$pki"; then
            return 0
        fi
        grep -q 'address already in use' "$dir/kube-apiserver.log" || break
        log "kube-apiserver port clash (attempt $attempt), retrying on another port"
    done
    show_log "$dir/kube-apiserver.log"
    die "kube-apiserver failed to start"
}

write_kubeconfig() { # dir
    local dir=$1
    # CA embedded, so the file stays valid when copied elsewhere.
    cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testenv
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 <"$dir/pki/ca.crt")
users:
- name: admin
  user:
    token: $(<"$dir/pki/admin.token")
contexts:
- name: testenv
  context:
    cluster: testenv
    user: admin
current-context: testenv
EOF
    chmod 600 "$dir/kubeconfig"
}

start_env() { # absolute-dir
    local dir=$1
    command -v openssl >/dev/null || die "openssl is required"
    command -v curl >/dev/null || die "curl is required"
    install_binaries
    gen_pki "$dir/pki"
    start_etcd "$dir"
    start_apiserver "$dir"
    write_kubeconfig "$dir"
    log "kube-apiserver on https://127.0.0.1:$APISERVER_PORT ($KUBE_APISERVER), etcd on 127.0.0.1:$ETCD_PORT ($ETCD), logs in $dir"
    echo "export KUBECONFIG=$dir/kubeconfig"
    if [[ ${QUALYS_TESTENV_NODE:-} == 1 ]]; then
        start_node "$dir"
        node_env "$dir"
    fi
}

stop_env() { # dir
    local dir=$1
    [[ -d $dir ]] || return 0
    dir=$(cd "$dir" && pwd -P)
    # First, while the apiserver can still tell the kubelet to remove pods.
    stop_node "$dir"
    stop_process "$dir/kube-apiserver.pid" kube-apiserver
    stop_process "$dir/etcd.pid" etcd
    # Only what start created: DIR itself may be a directory the user cares about.
    rm -rf "$dir/etcd-data" "$dir/pki" "$dir/kubeconfig" \
        "$dir/etcd.log" "$dir/kube-apiserver.log"
    rmdir "$dir" 2>/dev/null || true
}

# --------------------------------------------------------------------------
# run

cmd_run() {
    [[ ${1:-} == -- ]] && shift
    (($#)) || usage
    RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/qualys-testenv.XXXXXX")
    CHILD=
    trap run_cleanup EXIT
    trap 'run_signal INT 130' INT
    trap 'run_signal TERM 143' TERM
    trap 'run_signal HUP 129' HUP

    # start_env dies (exit 1) on failure after printing the logs; the EXIT
    # trap then cleans up.
    local exports
    exports=$(start_env "$RUN_DIR")
    eval "$exports"

    # CMD runs in the background so `wait` can be interrupted by our signal
    # traps (bash defers traps until a foreground child exits, so a SIGTERM
    # sent only to us would otherwise leave CMD running). Background commands
    # of a non-interactive shell get stdin=/dev/null and SIGINT ignored; the
    # explicit <&0 and `trap -` undo both so CMD behaves as in the foreground.
    ( trap - INT QUIT; exec "$@" ) <&0 &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=
    exit "$rc"
}

run_signal() { # signal exit-code
    if [[ -n $CHILD ]]; then
        kill -s "$1" "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    exit "$2"
}

run_cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [[ ${QUALYS_TESTENV_KEEP:-} == 1 ]]; then
        if [[ -d $RUN_DIR/node ]]; then
            mkdir -p "$RUN_DIR/node-logs"
            cp -r "$RUN_DIR"/node/*.log "$RUN_DIR/node/pod-logs" "$RUN_DIR/node-logs/" 2>/dev/null || true
            stop_node "$RUN_DIR"
        fi
        stop_process "$RUN_DIR/kube-apiserver.pid" kube-apiserver
        stop_process "$RUN_DIR/etcd.pid" etcd
        log "kept $RUN_DIR"
    else
        stop_env "$RUN_DIR"
    fi
    exit "$rc"
}

# --------------------------------------------------------------------------

main() {
    case ${1:-} in
    install)
        install_binaries
        echo "TEST_ASSET_KUBE_APISERVER=$KUBE_APISERVER"
        echo "TEST_ASSET_ETCD=$ETCD"
        if [[ ${QUALYS_TESTENV_NODE:-} == 1 ]]; then
            local b
            for b in "${KUBE_NODE_BINARIES[@]}"; do
                echo "TEST_ASSET_$(tr 'a-z-' 'A-Z_' <<<"$b")=$(node_binary "$b")"
            done
        fi
        ;;
    start)
        [[ $# == 2 ]] || usage
        mkdir -p "$2"
        START_DIR=$(cd "$2" && pwd -P)
        if [[ -f $START_DIR/kube-apiserver.pid || -f $START_DIR/etcd.pid ]]; then
            die "$START_DIR already holds a test environment; run: $0 stop $START_DIR"
        fi
        # A failed start must not leave a half-started etcd behind; the logs stay
        # for inspection (their tails were already printed).
        trap 'stop_node "$START_DIR"; stop_process "$START_DIR/kube-apiserver.pid" kube-apiserver; stop_process "$START_DIR/etcd.pid" etcd' EXIT
        start_env "$START_DIR"
        trap - EXIT
        ;;
    stop) [[ $# == 2 ]] || usage; stop_env "$2" ;;
    run) shift; cmd_run "$@" ;;
    *) usage ;;
    esac
}

# Everything above only defines functions, and this line is parsed whole
# before it runs, so editing or checking out this file while a long `run` is
# in progress cannot make bash execute a mix of old and new text.
main "$@"; exit
