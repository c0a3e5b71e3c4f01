#!/usr/bin/env sh
# Checks the emulator against the official Python client, pysnc (from PyPI, unchanged).
# Creates .venv/ at the repository root when missing, installs pysnc into it, then runs the
# Rust integration test that starts the emulator over TLS and runs tests/pysnc_check.py.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "import pysnc" 2>/dev/null; then
    .venv/bin/pip install --quiet pysnc
fi
exec cargo test --test emulator_pysnc -- --nocapture
