#!/usr/bin/env bash
# Every test: formatting, lints, the unit and integration tests (a real Chromium through a real
# chromedriver, real SQLite, real TLS), the pysnc compatibility check against the emulator, and
# the Python package's pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
# The Python package's crate (python/), built against the virtualenv's Python.
PYO3_PYTHON="$PWD/.venv/bin/python" cargo clippy -p snowbridge-python --all-targets -- -D warnings
echo "== cargo test"
# The browser tests start their own Chromium; two at a time suit a 2-core machine.
cargo test --all-targets -- --test-threads="${SNOWBRIDGE_TEST_THREADS:-2}"
echo "== the Python package: installed into .venv as the README says, then pytest against the emulator"
# `pip install ./python`, built with the dev profile so it reuses the crates the tests built
# (the README's plain command builds an optimised release); maturin and pytest come from setup.sh.
cargo build --bin snowbridge --features cli
PATH="$PWD/.venv/bin:$PATH" MATURIN_PEP517_ARGS="--profile dev" \
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation ./python
SNOWBRIDGE_BIN="$PWD/target/debug/snowbridge" .venv/bin/python -m pytest -q python/tests
echo "== fuzz targets, a few seconds each (scripts/fuzz.sh runs them longer)"
scripts/fuzz.sh --brief
echo "== all tests passed"
