# The opt-in node of scripts/testenv.sh (QUALYS_TESTENV_NODE=1), sourced by
# it: kube-controller-manager, kube-scheduler, a kubelet, and a containerd of
# its own. Everything lives under DIR/node; stop_node removes all of it.
#
# What these machines need (found the hard way, see issue 16):
# - cgroup v1: the kubelet refuses it unless failCgroupV1 is false, and uses
#   the cgroupfs driver (no systemd here).
# - No CAP_SYS_RESOURCE: runc fails the sandbox's oom_score_adj of -998 with
#   "can't get final child's PID from pipe"; containerd's
#   restrict_oom_score_adj clamps it to containerd's own.
# - The native snapshotter: plain directories, no overlay mounts needed.
# - No registry: the sandbox image is built locally and imported; the kubelet
#   never pulls it (pinned) and pods use imagePullPolicy Never.
# - A loopback node IP is refused for the Node's addresses, so nothing can
#   reach the kubelet's API (no logs/exec): pod logs are read from files.
# shellcheck shell=bash

NODE_NAME=qualys-testenv-node
# Private, so a host's own CNI config (or none) does not matter; the IPAM
# state lives under DIR/node too.
NODE_BRIDGE=qtestenv0
NODE_POD_CIDR=10.88.77.0/24

node_preflight() {
    ((EUID == 0)) || die "the node needs root (containerd, runc, mounts, cgroups)"
    local c
    for c in containerd containerd-shim-runc-v2 runc ctr buildah; do
        command -v "$c" >/dev/null ||
            die "$c is missing: apt-get install -y containerd runc buildah containernetworking-plugins busybox-static"
    done
    [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
        die "CNI plugins missing: apt-get install -y containernetworking-plugins"
}

node_env() { # dir: what tests need to know, as shell assignments
    local n=$1/node
    echo "export QUALYS_TESTENV_APISERVER=127.0.0.1:$APISERVER_PORT"
    echo "export QUALYS_TESTENV_NODE_NAME=$NODE_NAME"
    echo "export QUALYS_TESTENV_POD_LOGS=$n/pod-logs"
    echo "export QUALYS_TESTENV_CONTAINERD=$n/containerd.sock"
}

write_containerd_config() { # node-dir
    local n=$1
    mkdir -p "$n/cni" "$n/cni-ipam"
    cat >"$n/cni/10-testenv.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "qualys-testenv",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$n/cni-ipam",
        "ranges": [[{ "subnet": "$NODE_POD_CIDR" }]]
      }
    },
    { "type": "loopback" }
  ]
}
EOF
    # version 2 is containerd 1.6's format. The stream server (exec/attach)
    # stays on loopback with a random port.
    cat >"$n/containerd.toml" <<EOF
version = 2
root = "$n/containerd/root"
state = "$n/containerd/state"
plugin_dir = ""
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$n/containerd.sock"

[ttrpc]
  address = "$n/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$n/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$n/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$n/cni"
EOF
}

node_ctr() { ctr --address "$NODE_DIR/containerd.sock" --namespace k8s.io "$@"; }

start_containerd() { # node-dir
    local n=$1
    write_containerd_config "$n"
    containerd --config "$n/containerd.toml" </dev/null >"$n/containerd.log" 2>&1 &
    echo $! >"$n/containerd.pid"
    wait_ready containerd $! "$n/containerd.log" node_ctr version ||
        { show_log "$n/containerd.log"; die "containerd failed to start"; }
}

# Imports a docker/OCI archive into the k8s.io namespace, unpacked for the
# snapshotter the CRI uses.
node_import() { # archive
    node_ctr images import --snapshotter native "$1" >&2 ||
        die "importing $1 into containerd failed"
}

start_kubelet() { # dir
    local dir=$1 n=$1/node
    local port healthz
    port=$(pick_port)
    healthz=$(pick_port)
    mkdir -p "$n/kubelet" "$n/kubelet-certs" "$n/pod-logs"
    # Authentication by the apiserver is impossible without a node address
    # anyway; the kubelet's own API only listens on loopback.
    cat >"$n/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
address: 127.0.0.1
port: $port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz
containerRuntimeEndpoint: unix://$n/containerd.sock
podLogsDir: $n/pod-logs
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: $dir/pki/ca.crt
authorization:
  mode: AlwaysAllow
failSwapOn: false
registerNode: true
# The disk is shared with everything else on the machine: never evict or
# garbage-collect the imported images because of it.
evictionHard:
  imagefs.available: "0%"
  nodefs.available: "0%"
  nodefs.inodesFree: "0%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
fileCheckFrequency: 1s
syncFrequency: 5s
nodeStatusUpdateFrequency: 2s
EOF
    "$(node_binary kubelet)" \
        --config="$n/kubelet.yaml" \
        --kubeconfig="$dir/kubeconfig" \
        --root-dir="$n/kubelet" \
        --cert-dir="$n/kubelet-certs" \
        --hostname-override="$NODE_NAME" \
        --v=1 \
        </dev/null >"$n/kubelet.log" 2>&1 &
    echo $! >"$n/kubelet.pid"
}

start_control_loops() { # dir
    local dir=$1 n=$1/node
    # --secure-port=0: no serving, so no authentication delegation to set up.
    # The signing key is the apiserver's, so the tokens it mints validate.
    "$(node_binary kube-controller-manager)" \
        --kubeconfig="$dir/kubeconfig" \
        --secure-port=0 \
        --leader-elect=false \
        --service-account-private-key-file="$dir/pki/sa.key" \
        --root-ca-file="$dir/pki/ca.crt" \
        --use-service-account-credentials=false \
        --controllers='*,-service-lb-controller,-node-ipam-controller,-cloud-node-lifecycle-controller' \
        </dev/null >"$n/kube-controller-manager.log" 2>&1 &
    echo $! >"$n/kube-controller-manager.pid"
    "$(node_binary kube-scheduler)" \
        --kubeconfig="$dir/kubeconfig" \
        --secure-port=0 \
        --leader-elect=false \
        </dev/null >"$n/kube-scheduler.log" 2>&1 &
    echo $! >"$n/kube-scheduler.pid"
}

kubectl_admin() { kubectl --kubeconfig="$NODE_ROOT/kubeconfig" "$@"; }

node_ready() {
    [[ $(kubectl_admin get node "$NODE_NAME" \
        -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]] &&
        # The default ServiceAccount exists once the controller manager runs.
        kubectl_admin -n default get serviceaccount default >/dev/null 2>&1
}

start_node() { # dir
    local dir=$1 n=$1/node
    NODE_ROOT=$dir NODE_DIR=$n
    node_preflight
    command -v kubectl >/dev/null || die "kubectl is required for the node"
    mkdir -p "$n"
    PAUSE_IMAGE=localhost/qualys-operator-testenv/pause:3.10
    "$REPO_ROOT/scripts/image.sh" pause "$n/pause.tar" >/dev/null
    start_containerd "$n"
    node_import "$n/pause.tar"
    local a
    for a in ${QUALYS_TESTENV_NODE_IMAGES:-}; do
        node_import "$a"
    done
    start_control_loops "$dir"
    start_kubelet "$dir"
    local deadline=$((SECONDS + START_TIMEOUT))
    until node_ready; do
        local p
        for p in kubelet kube-controller-manager kube-scheduler containerd; do
            if ! is_ours "$(cat "$n/$p.pid" 2>/dev/null)" "$p"; then
                show_log "$n/$p.log"
                die "$p exited during start"
            fi
        done
        if ((SECONDS >= deadline)); then
            show_log "$n/kubelet.log"
            die "node $NODE_NAME not Ready after ${START_TIMEOUT}s"
        fi
        sleep 0.5
    done
    log "node $NODE_NAME Ready (containerd $n/containerd.sock, pod logs $n/pod-logs)"
}

# Removes every trace of the node: first its pods through the kubelet (so CNI
# and volumes are torn down properly), then whatever is left by force.
stop_node() { # dir
    local dir=$1 n=$1/node
    [[ -d $n ]] || return 0
    NODE_ROOT=$dir NODE_DIR=$n
    stop_process "$n/kube-scheduler.pid" kube-scheduler
    stop_process "$n/kube-controller-manager.pid" kube-controller-manager
    if is_ours "$(cat "$n/kubelet.pid" 2>/dev/null)" kubelet &&
        kubectl_admin get --raw /readyz >/dev/null 2>&1; then
        kubectl_admin delete pods --all-namespaces --all --grace-period=0 --force \
            --wait=false >/dev/null 2>&1 || true
        local i
        for ((i = 0; i < 60; i++)); do
            [[ -z $(node_ctr tasks list -q 2>/dev/null) ]] && break
            sleep 0.5
        done
    fi
    stop_process "$n/kubelet.pid" kubelet
    if is_ours "$(cat "$n/containerd.pid" 2>/dev/null)" containerd; then
        local t c
        for t in $(node_ctr tasks list -q 2>/dev/null); do
            node_ctr tasks kill --signal SIGKILL "$t" >/dev/null 2>&1 || true
        done
        sleep 0.5
        for t in $(node_ctr tasks list -q 2>/dev/null); do
            node_ctr tasks delete --force "$t" >/dev/null 2>&1 || true
        done
        for c in $(node_ctr containers list -q 2>/dev/null); do
            node_ctr containers delete "$c" >/dev/null 2>&1 || true
        done
    fi
    stop_process "$n/containerd.pid" containerd
    kill_node_shims "$n"
    unmount_under "$n"
    if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
        ip link delete "$NODE_BRIDGE" 2>/dev/null || true
    fi
    remove_pod_cgroups
    rm -rf "$n"
    # The shims' socket directory is fixed in containerd 1.6; it is left empty
    # (and removed if nobody else uses it).
    rmdir /run/containerd/s /run/containerd 2>/dev/null || true
}

# Shims outlive containerd by design; ours are the ones started with our
# socket (`-address DIR/node/containerd.sock`), nobody else's.
kill_node_shims() { # node-dir
    local sock=$1/containerd.sock p
    for p in /proc/[0-9]*; do
        [[ -r $p/cmdline ]] || continue
        local argv
        argv=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
        if [[ $argv == *containerd-shim* && $argv == *"-address $sock "* ]]; then
            kill -KILL "${p#/proc/}" 2>/dev/null || true
        fi
    done
}

# Projected-volume tmpfs, netns and rootfs bind mounts, deepest first.
unmount_under() { # dir
    local m
    while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done < <(awk -v d="$1/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
}

# The kubelet's QoS cgroups (cgroupfs driver, cgroup v1: one tree per
# controller). Only empty directories go, deepest first, so a cgroup that
# still holds a process (never ours after the kills above) is left alone.
remove_pod_cgroups() {
    local d
    for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
        [[ -d $d ]] || continue
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
}
