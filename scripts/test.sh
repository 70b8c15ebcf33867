#!/usr/bin/env bash
# The whole test suite, as the README documents it.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test
