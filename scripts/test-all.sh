#!/usr/bin/env bash
# Installs what the tests need (Debian packages) and runs every check and test.
# Run as root on Debian: the end-to-end tests build network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
need=(nftables iproute2 keepalived curl tcpdump ethtool)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "test-all: cargo not found; install a Rust toolchain (rustup) first" >&2
  exit 1
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
