#!/usr/bin/env bash
# Runs every test against a real PostgreSQL (a fresh database per test), starting it if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
ensure_test_tools
ensure_postgres
cargo test --workspace --locked
# The API contract: schemathesis against the served OpenAPI document (a few minutes).
bash scripts/contract_test.sh
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo fmt --all --check
# No ring of modules importing each other in the service or the binary (issue 15).
python3 scripts/module_cycles.py crates/service/src crates/orgbackup/src
# No state of a state machine spelled as a string in SQL (the enums of states.rs are bound).
python3 scripts/state_literals.py crates/service/src crates/orgbackup/src
# No file over 600 lines, no function over 100 lines without a `// long:` reason.
python3 scripts/long_functions.py crates/archive/src crates/engine/src crates/service/src crates/orgbackup/src
# The fuzz targets' workspace, on stable without libFuzzer: seeds and saved crashes replayed
# (sharing target/ so the dependencies built above are reused).
CARGO_TARGET_DIR="$PWD/target" cargo test --manifest-path fuzz/Cargo.toml --no-default-features --locked
CARGO_TARGET_DIR="$PWD/target" cargo clippy --manifest-path fuzz/Cargo.toml --no-default-features --all-targets --locked -- -D warnings
cargo fmt --manifest-path fuzz/Cargo.toml --check
