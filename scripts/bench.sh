#!/usr/bin/env bash
# Benchmarks, as whole-process timings on this machine (never as tests):
#  0. the emulator's start-up, from launch to its first answer, with the default data and with
#     100,000 incidents (a fresh database each time: seeding included);
#  1. a warm `snowbridge api` call beside curl making the same call with the same cookies
#     (target: within 2x of curl);
#  2. `snowbridge records` of 100,000 emulator incidents: throughput and peak memory
#     (target: under 64 MB);
#  3. importing the instance's cookies from a synthetic Chromium profile of 20,000 cookies,
#     beside browser_cookie3 and rookiepy reading the same file (target: faster than both).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

missing=()
command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
[ -x /usr/bin/time ] || missing+=(time)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
py="$PWD/.venv/bin/python"
"$py" -c 'import browser_cookie3, rookiepy' 2>/dev/null || "$py" -m pip install -q --disable-pip-version-check browser_cookie3 rookiepy

echo "== building (release)"
# The command line is the `cli` feature (Cargo.toml); the binary requires it.
cargo build --release --quiet --features cli --bin snowbridge
sb="$PWD/target/release/snowbridge"

work="$(mktemp -d -t snowbridge-bench.XXXXXX)"
export SNOWBRIDGE_CONFIG_DIR="$work/config" SNOWBRIDGE_DATA_DIR="$work/data" SNOWBRIDGE_KEYRING=off
emulator_pid=""
cleanup() {
  [ -n "$emulator_pid" ] && kill -TERM "$emulator_pid" 2>/dev/null && wait "$emulator_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== 0. emulator start-up (launch to the first answer, seeding a new database)"
# Sets startup_ms to the milliseconds from launching the emulator with $1 incidents until
# /login.do answers (no command substitution: the cleanup trap must see the emulator's pid).
measure_startup() {
  local p t0
  p=$(free_port)
  t0=$(date +%s%N)
  "$sb" emulator --port "$p" --incidents "$1" > "$work/startup.log" 2>&1 &
  emulator_pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$p/login.do"; do
    kill -0 "$emulator_pid" 2>/dev/null || { cat "$work/startup.log"; exit 1; }
    sleep 0.005
  done
  startup_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  kill -TERM "$emulator_pid" && wait "$emulator_pid" 2>/dev/null || true
  emulator_pid=""
}
for n in 50 100000; do
  times=""
  for _ in 1 2 3; do
    measure_startup "$n"
    times="$times $startup_ms ms"
  done
  echo "start-up with $n incidents:$times"
done

port=$(free_port)
base="http://127.0.0.1:$port"
mkdir -p "$SNOWBRIDGE_CONFIG_DIR/instances"
printf 'url = "%s"\nusername = "admin"\n' "$base" > "$SNOWBRIDGE_CONFIG_DIR/instances/bench.toml"
printf 'url = "https://acme.service-now.com"\n' > "$SNOWBRIDGE_CONFIG_DIR/instances/acme.toml"

echo "== starting the emulator with 100,000 incidents"
"$sb" emulator --port "$port" --incidents 100000 --data "$work/emulator" > "$work/emulator.log" 2>&1 &
emulator_pid=$!
for _ in $(seq 1 600); do
  curl -fs -o /dev/null "$base/login.do" && break
  kill -0 "$emulator_pid" 2>/dev/null || { cat "$work/emulator.log"; exit 1; }
  sleep 0.1
done
SNOWBRIDGE_PASSWORD=snowbridge "$sb" connect bench --login --headless >/dev/null

echo; echo "== 1. a warm api call, beside curl with the same cookies"
path="/api/now/table/incident?sysparm_limit=1"
"$sb" api bench "$path" >/dev/null
"$sb" cookies bench --format netscape > "$work/cookies.txt"
token=$("$sb" cookies bench --format header | sed -n 's/^X-UserToken: //p')
curl -fs -b "$work/cookies.txt" -H "X-UserToken: $token" -H 'Accept: application/json' "$base$path" >/dev/null \
  || { echo "curl with the exported cookies failed"; exit 1; }
hyperfine --style basic --warmup 5 --runs 40 --export-json "$work/api.json" \
  -n snowbridge "$sb api bench '$path'" \
  -n curl "curl -fs -b $work/cookies.txt -H 'X-UserToken: $token' -H 'Accept: application/json' '$base$path'"
python3 - "$work/api.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
s, c = r["snowbridge"]["mean"], r["curl"]["mean"]
print(f"api: snowbridge {s*1000:.1f} ms, curl {c*1000:.1f} ms: {s/c:.2f}x curl (target: within 2x)")
PY

echo; echo "== 2. records of 100,000 incidents as ndjson"
/usr/bin/time -f "%e %M" -o "$work/records.time" "$sb" records bench incident --format ndjson --page-size 5000 > "$work/all.ndjson"
python3 - "$work/records.time" "$work/all.ndjson" <<'PY'
import sys
secs, kb = open(sys.argv[1]).read().split()[-2:]
lines = sum(1 for _ in open(sys.argv[2]))
secs = float(secs)
print(f"records: {lines} incidents in {secs:.2f} s = {lines/secs:,.0f} records/s, peak memory {int(kb)/1024:.1f} MB (target: under 64 MB)")
assert lines == 100000, "not every incident came out"
PY

echo; echo "== 3. importing from a 20,000-cookie Chromium profile, beside browser_cookie3 and rookiepy"
"$py" tests/gen_chrome_profile.py --out "$work/profile" --count 20000 >/dev/null
db="$work/profile/Default/Cookies"
# browser_cookie3 insists on a D-Bus session (it asks the Secret Service first): give it a
# private one with its own HOME, so nothing outlives the run.
mkdir -p "$work/bc3home"
hyperfine --style basic --warmup 3 --runs 20 --export-json "$work/import.json" \
  -n snowbridge "$sb import-chrome acme --browser chromium --user-data-dir $work/profile --dry-run" \
  -n browser_cookie3 "HOME=$work/bc3home dbus-run-session -- $py -c 'import browser_cookie3; browser_cookie3.chromium(cookie_file=\"$db\", domain_name=\"acme.service-now.com\")'" \
  -n rookiepy "$py -c 'import rookiepy; rookiepy.chromium_based(\"$db\", [\"acme.service-now.com\"])'"
"$py" - "$db" <<'PY'
import sys, time
db = sys.argv[1]
import rookiepy
t = time.perf_counter(); n = len(rookiepy.chromium_based(db, ["acme.service-now.com"])); r = time.perf_counter() - t
print(f"in-process (library call only): rookiepy {r*1000:.1f} ms for {n} cookies")
PY
python3 - "$work/import.json" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
s = r["snowbridge"]
print("import (whole process): " + ", ".join(f"{k} {v*1000:.1f} ms" for k, v in r.items())
      + f"; snowbridge is {r['browser_cookie3']/s:.1f}x faster than browser_cookie3 and {r['rookiepy']/s:.1f}x faster than rookiepy")
PY
