#!/usr/bin/env bash
# Builds the operator image from the repository's Dockerfile without pulling
# anything, for the node tests and for local clusters.
#
#   scripts/image.sh build [TAG...]   build localhost/qualys-operator:TAG (default: dev;
#                                     more tags name the same image)
#   scripts/image.sh archive TAG OUT  write that image as a docker-archive to OUT
#                                     (`ctr images import OUT`, `kind load image-archive OUT`)
#   scripts/image.sh pause OUT        build the sandbox ("pause") image for the test
#                                     node and write it as a docker-archive to OUT
#
# `build` fails unless the binary is static and the image's user is 65532:65532;
# that it starts with a read-only root filesystem, all capabilities dropped, is
# checked by the node tests (tests/e2e_node.rs), which run it as the chart does.
#
# How, without network: base images cannot be pulled here, so `build` passes
# local equivalents of the Dockerfile's two bases as build arguments:
#   BUILDER_IMAGE  busybox (for /bin/sh) + the static musl binary built on the
#                  host with `cargo build --release --target <arch>-unknown-linux-musl`
#                  (musl-gcc from musl-tools compiles ring's and jemalloc's C);
#                  the Dockerfile then compiles nothing and only checks the binary.
#   RUNTIME_IMAGE  scratch + the host's CA bundle + /etc/passwd and /etc/group
#                  with nonroot (65532) + /tmp: what distroless/static:nonroot has.
# Both bases are rebuilt only when missing (the runtime base is keyed by this
# script's content hash); the binary is as cached as cargo's target/ is.
#
# Environment:
#   QUALYS_IMAGE_STORAGE  buildah storage driver (default vfs: works everywhere, in
#                         containers too; overlay is faster where it works)
#
# Requires: buildah (Debian package), cargo with the musl target, musl-tools,
# busybox-static; root (buildah's vfs storage under /var/lib/containers).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ARCH=$(uname -m)
TARGET=$ARCH-unknown-linux-musl
STORAGE=${QUALYS_IMAGE_STORAGE:-vfs}
REPO=localhost/qualys-operator
SCRIPT_HASH=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)
RUNTIME_BASE=localhost/qualys-operator-runtime-base:$SCRIPT_HASH
PAUSE_IMAGE=localhost/qualys-operator-testenv/pause:3.10

log() { printf 'image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2; }

bah() { buildah --storage-driver "$STORAGE" "$@"; }

need() { # command package
    command -v "$1" >/dev/null || die "$1 is missing: apt-get install -y $2"
}

exists() { bah inspect --type image "$1" >/dev/null 2>&1; }

# busybox-static: one static binary that is a shell (and sleep, for pause).
busybox_path() {
    local b
    for b in /bin/busybox /usr/bin/busybox; do
        if [[ -x $b ]] && ! readelf -l "$b" 2>/dev/null | grep -q 'program interpreter'; then
            echo "$b"
            return
        fi
    done
    die "no static busybox: apt-get install -y busybox-static"
}

static_binary() { # path: dies unless it is a static ELF
    need readelf binutils
    if readelf -l "$1" | grep -q 'Requesting program interpreter'; then
        die "$1 is dynamically linked (needs a loader the image does not have)"
    fi
}

build_binary() { # -> path of the static binary
    need cargo "rustup (https://rustup.rs)"
    need musl-gcc musl-tools
    if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
        log "adding the Rust target $TARGET"
        rustup target add "$TARGET" >&2
    fi
    local target_dir=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
    log "cargo build --release --target $TARGET (cached in $target_dir)"
    # musl-gcc compiles the C code of ring and tikv-jemalloc-sys for musl.
    (cd "$REPO_ROOT" && CC_x86_64_unknown_linux_musl=musl-gcc \
        cargo build --release --locked --target "$TARGET" --bin qualys-operator >&2)
    local bin=$target_dir/$TARGET/release/qualys-operator
    static_binary "$bin"
    echo "$bin"
}

# A base from a root filesystem directory: scratch + DIR's contents.
commit_rootfs() { # dir image [buildah-config-args...]
    local dir=$1 image=$2; shift 2
    local c
    c=$(bah from scratch)
    bah copy "$c" "$dir/" / >/dev/null
    if (($#)); then bah config "$@" "$c"; fi
    bah commit --rm -q "$c" "$image" >/dev/null
}

build_runtime_base() {
    exists "$RUNTIME_BASE" && return 0
    local ca=/etc/ssl/certs/ca-certificates.crt
    [[ -s $ca ]] || die "no CA bundle at $ca: apt-get install -y ca-certificates"
    local root
    root=$(mktemp -d)
    mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/home/nonroot"
    cp "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$root/etc/group"
    chmod 1777 "$root/tmp"
    chown 65532:65532 "$root/home/nonroot"
    log "building the runtime base $RUNTIME_BASE"
    commit_rootfs "$root" "$RUNTIME_BASE" --user 65532:65532
    rm -rf "$root"
}

build_builder_base() { # binary image
    local root
    root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/out"
    cp "$(busybox_path)" "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    install -m 0755 "$1" "$root/out/qualys-operator"
    commit_rootfs "$root" "$2"
    rm -rf "$root"
}

cmd_build() { # tag...
    local tag=$1 t tags=()
    for t in "$@"; do tags+=(-t "$REPO:$t"); done
    need buildah buildah
    local bin builder version
    bin=$(build_binary)
    build_runtime_base
    builder=localhost/qualys-operator-builder:$tag
    build_builder_base "$bin" "$builder"
    version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO_ROOT/Cargo.toml" | head -n1)
    log "buildah bud -> $REPO:$tag"
    # --isolation chroot: RUN steps need no user namespaces or runc;
    # --pull-never: the bases are the local ones, nothing may be fetched.
    bah bud --isolation chroot --pull-never --layers=false -q \
        --build-arg "BUILDER_IMAGE=$builder" \
        --build-arg "RUNTIME_IMAGE=$RUNTIME_BASE" \
        --build-arg "VERSION=$version" \
        -f "$REPO_ROOT/Dockerfile" "${tags[@]}" "$REPO_ROOT" >/dev/null
    bah rmi "$builder" >/dev/null 2>&1 || true
    local user
    user=$(bah inspect --type image --format '{{.OCIv1.Config.User}}' "$REPO:$tag")
    [[ $user == 65532:65532 ]] || die "$REPO:$tag runs as '$user', not 65532:65532"
    log "built $REPO:$tag ($(image_size "$REPO:$tag") uncompressed)"
    for t in "$@"; do echo "$REPO:$t"; done
}

image_size() { bah images --format '{{.Size}}' "$1" 2>/dev/null || echo "?"; }

cmd_archive() { # tag out
    local ref=$REPO:$1 out=$2
    exists "$ref" || die "$ref does not exist; run: $0 build $1"
    rm -f "$out"
    # docker-archive carries the full name, so `ctr images import` and
    # `kind load image-archive` tag it as $ref.
    bah push -q "$ref" "docker-archive:$out:$ref" >/dev/null
    echo "$out"
}

cmd_pause() { # out
    local out=$1
    need buildah buildah
    if ! exists "$PAUSE_IMAGE"; then
        local root
        root=$(mktemp -d)
        mkdir -p "$root/bin"
        cp "$(busybox_path)" "$root/bin/busybox"
        log "building the sandbox image $PAUSE_IMAGE"
        # Sleeps until killed, as registry.k8s.io/pause does (it also reaps
        # zombies; nothing shares a PID namespace with it here).
        commit_rootfs "$root" "$PAUSE_IMAGE" --entrypoint '["/bin/busybox","sleep","2147483647"]' --user 65535:65535
        rm -rf "$root"
    fi
    rm -f "$out"
    bah push -q "$PAUSE_IMAGE" "docker-archive:$out:$PAUSE_IMAGE" >/dev/null
    echo "$out"
}

main() {
    case ${1:-} in
    build) shift; if (($#)); then cmd_build "$@"; else cmd_build dev; fi ;;
    archive) [[ $# == 3 ]] || usage; cmd_archive "$2" "$3" ;;
    pause) [[ $# == 2 ]] || usage; cmd_pause "$2" ;;
    *) usage ;;
    esac
}

main "$@"; exit
