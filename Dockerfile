# syntax=docker/dockerfile:1
#
# The qualys-operator image: one static binary on distroless, non-root.
#
#   docker build -t qualys-operator:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REPO:TAG --push .
#   scripts/image.sh build          # without network: local base images, buildah
#
# Stage 1 builds a fully static musl binary (ring's and jemalloc's C code needs
# musl-gcc); stage 2 is gcr.io/distroless/static:nonroot, which adds only CA
# certificates (Qualys is reached over TLS), tzdata and /etc/passwd for UID
# 65532 to the binary. The operator writes no files: run it with a read-only
# root filesystem.
#
# Both base images are build arguments, so the image can be built where they
# cannot be pulled (scripts/image.sh, CI without network):
#   BUILDER_IMAGE  the Rust toolchain (default), or any image with a POSIX shell
#                  that already holds a static binary at /out/qualys-operator;
#                  then nothing is compiled in the build.
#   RUNTIME_IMAGE  a base with CA certificates at /etc/ssl/certs/ca-certificates.crt
#                  and UID/GID 65532 in /etc/passwd and /etc/group.

ARG RUST_VERSION=1.95
ARG BUILDER_IMAGE=docker.io/library/rust:${RUST_VERSION}-trixie
ARG RUNTIME_IMAGE=gcr.io/distroless/static:nonroot

FROM ${BUILDER_IMAGE} AS build
# The builder runs on the target platform (natively or emulated), so the
# target triple is the machine's own: x86_64-unknown-linux-musl on amd64,
# aarch64-unknown-linux-musl on arm64.
# A builder that already holds the binary skips the toolchain setup.
RUN if [ ! -e /out/qualys-operator ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends musl-tools \
        && rm -rf /var/lib/apt/lists/* \
        && rustup target add "$(uname -m)-unknown-linux-musl"; \
    fi
WORKDIR /src
COPY . .
# Cache mounts keep the registry and compiled dependencies between builds;
# the binary is copied out of the (cached, so unexported) target directory.
# Static or nothing: a dynamic loader would not exist in the runtime image.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    set -eu; \
    if [ ! -e /out/qualys-operator ]; then \
        target="$(uname -m)-unknown-linux-musl"; \
        cargo build --release --locked --target "$target" --bin qualys-operator; \
        install -D -m 0755 "target/$target/release/qualys-operator" /out/qualys-operator; \
    fi; \
    if command -v readelf >/dev/null && readelf -l /out/qualys-operator | grep -q 'Requesting program interpreter'; then \
        echo "qualys-operator is not statically linked" >&2; exit 1; \
    fi; \
    /out/qualys-operator --version

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="qualys-operator" \
      org.opencontainers.image.description="Kubernetes operator that manages Qualys cloud connectors declaratively" \
      org.opencontainers.image.source="https://github.com/qualys-operator/qualys-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/qualys-operator /qualys-operator
# nonroot:nonroot in distroless; numeric so `runAsNonRoot` can verify it.
USER 65532:65532
# /metrics, /healthz, /readyz
EXPOSE 8080
ENTRYPOINT ["/qualys-operator", "run"]
