#!/usr/bin/env bash
# Runs every test against a real PostgreSQL (a fresh database per test), starting it if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
ensure_postgres
cargo test --workspace --locked
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo fmt --all --check
