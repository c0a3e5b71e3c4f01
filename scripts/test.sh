#!/usr/bin/env bash
# Every test: formatting, lints, the unit and integration tests (a real Chromium through a real
# chromedriver, real SQLite, real TLS) and the pysnc compatibility check against the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "== cargo doc (every public item documented, links resolved; warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --lib
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --lib --features emulator
echo "== cargo test"
# The browser tests start their own Chromium; two at a time suit a 2-core machine. Every target
# is built first, the examples included, which tests/examples.rs runs against the emulator.
cargo test --all-targets -- --test-threads="${SNOWBRIDGE_TEST_THREADS:-2}"
echo "== fuzz targets, a few seconds each (scripts/fuzz.sh runs them longer)"
scripts/fuzz.sh --brief
echo "== all tests passed"
