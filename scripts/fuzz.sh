#!/usr/bin/env bash
# Fuzzes every parser of outside input (the targets in fuzz/fuzz_targets/) with cargo-fuzz on
# nightly Rust, installing cargo-fuzz when missing.
#
#   scripts/fuzz.sh              every target for 10 minutes
#   scripts/fuzz.sh 300          every target for 300 seconds
#   scripts/fuzz.sh --brief      every target for a few seconds, built unoptimised (scripts/test.sh)
#   scripts/fuzz.sh 600 vault_file chrome_rows    only these targets
#
# Each run first replays the crashes found before (fuzz/regressions/TARGET/), then fuzzes from
# the kept seeds (fuzz/seeds/TARGET/) and what earlier runs learnt (fuzz/corpus/TARGET/, not
# committed). A crash stops the script with libFuzzer's report; the input is in
# fuzz/artifacts/TARGET/: fix the code, add the input to fuzz/regressions/TARGET/ and a unit
# test beside the code. Set FUZZ_JOBS=2 to run two targets at a time; FUZZ_NICE (default 19)
# is the niceness.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=600
brief=false
if [ "${1:-}" = "--brief" ]; then
  seconds=5
  brief=true
  shift
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: cargo-fuzz needs nightly Rust: rustup toolchain install nightly" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install --locked cargo-fuzz
fi

nice_level="${FUZZ_NICE:-19}"
# No sanitizer: the code under test is safe Rust, panics are what the targets look for, and
# without AddressSanitizer it runs several times faster. Debug assertions and overflow checks
# either way. A real run is optimised (cargo-fuzz's release build, one codegen unit: the most
# executions a second); the brief run that scripts/test.sh makes is a smoke test (the targets
# build, the kept regressions stay fixed, a few seconds find nothing new), so it builds
# unoptimised, which takes a fraction of the time.
build_flags=(--sanitizer none)
profile=release
if [ "$brief" = true ]; then
  build_flags+=(--dev)
  profile=debug
fi

cd fuzz
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

echo "== fuzz: building the targets ($profile)"
# Every target in one cargo invocation (cargo fuzz build with no target named).
nice -n "$nice_level" cargo +nightly fuzz build "${build_flags[@]}"

# Run the built binaries directly: `cargo fuzz run` would rebuild (from whatever the sources
# are by then) before every target.
bin="target/$(rustc +nightly -vV | sed -n 's/^host: //p')/$profile"
mkdir -p logs
run_one() {
  local target=$1 log="logs/$1.log"
  mkdir -p "corpus/$target" "seeds/$target" "regressions/$target" "artifacts/$target"
  : >"$log"
  if [ -n "$(ls -A "regressions/$target")" ]; then
    nice -n "$nice_level" "$bin/$target" -runs=0 regressions/"$target"/* >>"$log" 2>&1 || {
      echo "fuzz: $target: a kept regression input fails again (see fuzz/$log)" >&2
      return 1
    }
  fi
  if nice -n "$nice_level" "$bin/$target" -artifact_prefix="artifacts/$target/" \
    -max_total_time="$seconds" -print_final_stats=1 "corpus/$target" "seeds/$target" \
    >>"$log" 2>&1; then
    local runs
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    echo "fuzz: $target: ${runs:-?} executions in ${seconds}s, no crash"
  else
    echo "fuzz: $target: CRASH (see fuzz/$log and fuzz/artifacts/$target/)" >&2
    tail -n 30 "$log" >&2
    return 1
  fi
}

jobs="${FUZZ_JOBS:-1}"
failed=0
running=0
for target in "${targets[@]}"; do
  run_one "$target" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
if [ "$failed" -ne 0 ]; then
  echo "== fuzz: a target crashed" >&2
  exit 1
fi
echo "== fuzz: every target ran ${seconds}s without a crash"
