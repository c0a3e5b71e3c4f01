#!/usr/bin/env bash
# Every test: formatting, unused dependencies, what a library user compiles (no emulator or
# command-line crates; the library with no default features and with each feature alone),
# lints, the unit and integration tests (a real Chromium through a real chromedriver, real
# SQLite, real TLS, real Python: pysnc against the emulator), the library's unit tests built for
# Windows and run under wine64, the Python package's pytest suite, and the fuzz targets for a few seconds each. Prints how long each
# stage took at the end, failed or not, so CI logs show where the time goes.
set -euo pipefail
cd "$(dirname "$0")/.."

stage_names=()
stage_seconds=()
current=""
current_start=0
started=$SECONDS

# `stage NAME COMMAND...`: runs COMMAND as a stage of its own, timed.
stage() {
  current=$1
  current_start=$SECONDS
  shift
  echo "== $current"
  "$@"
  stage_names+=("$current")
  stage_seconds+=($((SECONDS - current_start)))
  current=""
}

minutes() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

summary() {
  local status=$?
  echo "== stage durations"
  local i
  for i in "${!stage_names[@]}"; do
    printf '   %-36s %6s\n' "${stage_names[$i]}" "$(minutes "${stage_seconds[$i]}")"
  done
  if [ -n "$current" ]; then
    printf '   %-36s %6s  FAILED\n' "$current" "$(minutes $((SECONDS - current_start)))"
  fi
  printf '   %-36s %6s\n' "total" "$(minutes $((SECONDS - started)))"
  if [ "$status" -eq 0 ]; then
    echo "== all tests passed"
  else
    echo "== FAILED${current:+ in: $current}" >&2
  fi
}
trap summary EXIT

setup() { source scripts/setup.sh; }

formatting() {
  cargo fmt --all -- --check
  cargo fmt --manifest-path fuzz/Cargo.toml --all -- --check
}

# cargo-machete reads the sources, so it sees the crates used behind features too; it checks
# fuzz/ as well.
unused_dependencies() {
  if ! cargo machete --version >/dev/null 2>&1; then
    echo "installing cargo-machete"
    cargo install --locked cargo-machete
  fi
  cargo machete
}

# The emulator's and the command line's crates never reach a library user's build, whatever
# the platform: with the default features and with none. hyper itself comes with reqwest (its
# client); its server must not.
library_user_build() {
  local forbidden=(axum rcgen clap indicatif csv tracing-subscriber rpassword)
  local leaked=() flags crates crate
  for flags in --no-default-features ""; do
    local which=${flags:-"the default features"}
    crates=$(cargo tree -e normal --target all $flags -p snowbridge --prefix none --format '{p}' |
      awk '{print $1}' | sort -u)
    for crate in "${forbidden[@]}"; do
      if grep -qx "$crate" <<<"$crates"; then leaked+=("$crate ($which)"); fi
    done
    if grep -qx hyper <<<"$crates" &&
      cargo tree -e features,normal --target all $flags -p snowbridge -i hyper |
      grep -q 'hyper feature "server"'; then
      leaked+=("hyper's server feature ($which)")
    fi
  done
  if [ "${#leaked[@]}" -gt 0 ]; then
    echo "a library user would compile: ${leaked[*]}" >&2
    echo "fix: put them under the emulator or cli feature in Cargo.toml (cargo tree -e features -i CRATE says who pulls them in)" >&2
    return 1
  fi
  echo "no emulator or command-line crate in a library user's build"
}

# `cargo check`: compiling proves each feature set holds together; building proves no more.
# `cli` alone is the set clippy compiles the library with (the tests' dev-dependency turns it
# on), so it is not checked twice.
library_features() {
  local features feature
  features=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json, sys; print(" ".join(f for f in json.load(sys.stdin)["packages"][0]["features"] if f not in ("default", "cli")))')
  echo "-- no default features"
  cargo check --quiet --lib --no-default-features
  for feature in $features; do
    echo "-- $feature alone"
    cargo check --quiet --lib --no-default-features --features "$feature"
  done
}

lints() {
  cargo clippy --all-targets -- -D warnings
  # The Python package's crate (python/), built against the virtualenv's Python.
  PYO3_PYTHON="$PWD/.venv/bin/python" cargo clippy -p snowbridge-python --all-targets -- -D warnings
}

# Every public item documented, links resolved; warnings are errors.
docs() {
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --lib
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --lib --features emulator
}

# The browser tests start their own Chromium; two at a time suit a 2-core machine. Every target
# is built first, the examples included, which tests/examples.rs runs against the emulator.
# `cargo test` builds examples under hashed names only: tests/examples.rs runs the plain ones.
tests() {
  cargo build --examples
  cargo test --all-targets -- --test-threads="${SNOWBRIDGE_TEST_THREADS:-2}"
}

# `pip install ./python` as the README says, built with the dev profile so it reuses the crates
# the tests built (the README's plain command builds an optimised release); maturin and pytest
# come from setup.sh. Then its pytest suite against the emulator.
python_package() {
  cargo build --bin snowbridge --features cli
  PATH="$PWD/.venv/bin:$PATH" MATURIN_PEP517_ARGS="--profile dev" \
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation ./python
  SNOWBRIDGE_BIN="$PWD/target/debug/snowbridge" .venv/bin/python -m pytest -q python/tests
}

stage "setup" setup
stage "cargo fmt --check" formatting
stage "unused dependencies (cargo machete)" unused_dependencies
stage "what a library user compiles" library_user_build
stage "cargo clippy" lints
stage "library features (cargo check)" library_features
stage "cargo doc" docs
stage "cargo test" tests
stage "Python package (pip install ./python, pytest)" python_package
stage "Windows unit tests under wine" scripts/windows.sh
stage "fuzz targets, a few seconds each" scripts/fuzz.sh --brief
