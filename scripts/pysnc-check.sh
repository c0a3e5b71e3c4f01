#!/usr/bin/env sh
# Checks the emulator against the official Python client, pysnc (from PyPI, unchanged).
# Creates .venv/ at the repository root when missing, installs pysnc (and requests-oauthlib,
# for its OAuth password-grant flow) into it, then runs the Rust integration tests that start
# the emulator over TLS and run tests/pysnc_check.py and tests/pysnc_oauth_check.py.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "import pysnc, requests_oauthlib" 2>/dev/null; then
    .venv/bin/python -m pip install --quiet pysnc requests-oauthlib
fi
exec cargo test --test emulator_pysnc -- --nocapture
