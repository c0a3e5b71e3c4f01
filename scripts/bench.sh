#!/usr/bin/env bash
# Benchmarks against what a user would otherwise run, in one run, over TLS as users meet it
# (the emulator's --tls on loopback; plain HTTP beside it where it shows something). Never tests:
# numbers only, medians of several runs, ratios against each peer from the same run, peak memory
# from /usr/bin/time -v. Writes bench/results.md (machine, date, load) and prints it.
#
#  0. the emulator's start-up (launch to first answer, seeding 100,000 incidents);
#  1. a warm authenticated call: `snowbridge api` beside curl with the exported cookies (the
#     floor), a pysnc script and a requests script; whole process, and in-process (the library's
#     call beside pysnc's and requests' in a warm interpreter);
#  2. the export of 100,000 incidents with every field's value and display value: `snowbridge
#     records` (Table API, and JSONv2) beside pysnc's GlideRecord iteration and one curl over the
#     same pages; throughput, peak memory, and the emulator's own CPU time;
#  3. the Chrome import from a 20,000-cookie profile beside browser_cookie3 and rookiepy, whole
#     process, and in-process beside rookiepy's library call;
#  4. an automated headless login (`connect --login --headless`) beside a Selenium script doing
#     the same steps with the same chromedriver and Chromium;
#  5. the browser fallback as itil.user (`attach`, `resolve`) beside a Selenium script on the
#     same form;
#  6. a cold client-credentials connect and first call beside pysnc's client-credentials flow.
#
# BENCH_QUICK=1 takes fewer runs (a check of the script, not a measurement).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
source scripts/setup.sh

missing=()
command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
[ -x /usr/bin/time ] || missing+=(time)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
py="$root/.venv/bin/python"
# `python -m pip`, not .venv/bin/pip: a copied venv's pip script names another interpreter.
"$py" -c 'import pysnc, requests, browser_cookie3, rookiepy, selenium' 2>/dev/null \
  || "$py" -m pip install -q --disable-pip-version-check pysnc requests browser_cookie3 rookiepy selenium
peers="$root/bench/peers.py"
chromedriver="$(command -v chromedriver)"
chromium="$(command -v chromium || command -v chromium-browser)"

if [ "${BENCH_QUICK:-0}" = 1 ]; then quick=1; else quick=0; fi
runs() { if [ "$quick" = 1 ]; then echo "$2"; else echo "$1"; fi; }

# Each section's heading carries the seconds since the script started.
started=$SECONDS
section() { echo; echo "== $* (at $((SECONDS - started)) s)"; }
section "building (release)"
# The command line is the `cli` feature (Cargo.toml); the binary requires it.
cargo build --release --quiet --features cli --bin snowbridge --example bench_inproc
build_seconds=$((SECONDS - started))
sb="$root/target/release/snowbridge"
inproc="$root/target/release/examples/bench_inproc"

work="$(mktemp -d -t snowbridge-bench.XXXXXX)"
res="$work/results"
mkdir -p "$res"
export SNOWBRIDGE_CONFIG_DIR="$work/config" SNOWBRIDGE_DATA_DIR="$work/data" SNOWBRIDGE_KEYRING=off
emulator_pid="" http_pid=""
cleanup() {
  for pid in $emulator_pid $http_pid; do
    kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

started_at=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# The emulator's user+system CPU seconds so far (the export's bottleneck question).
cpu_of() { awk '{ printf "%.2f\n", ($14 + $15) / '"$(getconf CLK_TCK)"' }' "/proc/$1/stat"; }
# times_ms NAME RUNS CMD...: runs CMD RUNS times (after one untimed run), appending each run's
# wall milliseconds to $res/NAME.ms; for commands that need a fresh target each run, CMD may
# read $run (1..RUNS, 0 for the untimed one).
times_ms() {
  local name=$1 n=$2 t0; shift 2
  : > "$res/$name.ms"
  for run in $(seq 0 "$n"); do
    t0=$(date +%s%N)
    "$@" >/dev/null
    [ "$run" = 0 ] || echo $(( ($(date +%s%N) - t0) / 1000 )) | awk '{ print $1 / 1000 }' >> "$res/$name.ms"
  done
}
# peak NAME CMD...: one run under /usr/bin/time -v, stdout to $work/NAME.out.
peak() {
  local name=$1; shift
  /usr/bin/time -v -o "$res/$name.time" "$@" > "$work/$name.out"
}

section "0. starting the emulator over TLS with 100,000 incidents (start-up timed)"
port=$(free_port)
base="https://127.0.0.1:$port"
ca="$work/emulator/ca.pem"
t0=$(date +%s%N)
"$sb" emulator --tls --port "$port" --incidents 100000 --data "$work/emulator" > "$work/emulator.log" 2>&1 &
emulator_pid=$!
until [ -f "$ca" ] && curl -fs --cacert "$ca" -o /dev/null "$base/login.do"; do
  kill -0 "$emulator_pid" 2>/dev/null || { cat "$work/emulator.log"; exit 1; }
  sleep 0.02
done
echo $(( ($(date +%s%N) - t0) / 1000000 )) > "$res/startup_100000.ms"
export REQUESTS_CA_BUNDLE="$ca"

mkdir -p "$SNOWBRIDGE_CONFIG_DIR/instances"
inst() { printf 'url = "%s"\nca_file = "%s"\n%s\n' "$2" "$ca" "$3" > "$SNOWBRIDGE_CONFIG_DIR/instances/$1.toml"; }
inst bench "$base" 'username = "admin"'
inst itil "$base" 'username = "itil.user"'
inst cc "$base" $'auth = "oauth-client-credentials"\n[oauth]\nclient_id = "5c1d2e3f4a5b46c7d8e9f0a1b2c3d4e5"'
printf 'url = "https://acme.service-now.com"\n' > "$SNOWBRIDGE_CONFIG_DIR/instances/acme.toml"
SNOWBRIDGE_PASSWORD=snowbridge "$sb" connect bench --login --headless >/dev/null
SNOWBRIDGE_PASSWORD=snowbridge "$sb" connect itil --login --headless >/dev/null

# The same session for the peers: a Netscape cookie file and the CSRF token.
"$sb" cookies bench --format netscape > "$work/cookies.txt"
token=$("$sb" cookies bench --format header | sed -n 's/^X-UserToken: //p')
path="/api/now/table/incident?sysparm_limit=1"
# One string for hyperfine, which splits it as a shell would.
curl_call="curl -fsS --cacert $ca -b $work/cookies.txt -H 'X-UserToken: $token' -H 'Accept: application/json' '$base$path'"
eval "$curl_call" >/dev/null || { echo "curl with the exported cookies failed"; exit 1; }
"$sb" api bench "$path" >/dev/null

section "1. a warm authenticated call"
hyperfine --style basic -N --warmup 5 --runs "$(runs 40 5)" --export-json "$res/api.json" \
  -n snowbridge "$sb api bench '$path'" \
  -n curl "$curl_call" \
  -n pysnc "$py $peers warm-pysnc $base $work/cookies.txt $token" \
  -n requests "$py $peers warm-requests $base $work/cookies.txt $token $path"
peak api_snowbridge "$sb" api bench "$path"
"$inproc" api bench "$path" "$(runs 200 20)" > "$res/inproc_api.json"
"$py" "$peers" inproc "$base" "$work/cookies.txt" "$token" "$path" "$(runs 200 20)" > "$res/inproc_py.json"

# Plain HTTP beside it: what TLS costs each side.
hport=$(free_port)
"$sb" emulator --port "$hport" --data "$work/emulator-http" > "$work/emulator-http.log" 2>&1 &
http_pid=$!
until curl -fs -o /dev/null "http://127.0.0.1:$hport/login.do"; do
  kill -0 "$http_pid" 2>/dev/null || { cat "$work/emulator-http.log"; exit 1; }
  sleep 0.02
done
printf 'url = "http://127.0.0.1:%s"\nusername = "admin"\n' "$hport" > "$SNOWBRIDGE_CONFIG_DIR/instances/plain.toml"
SNOWBRIDGE_PASSWORD=snowbridge "$sb" connect plain --login --headless >/dev/null
"$sb" cookies plain --format netscape > "$work/plain.txt"
ptoken=$("$sb" cookies plain --format header | sed -n 's/^X-UserToken: //p')
hyperfine --style basic -N --warmup 5 --runs "$(runs 40 5)" --export-json "$res/api_http.json" \
  -n snowbridge "$sb api plain '$path'" \
  -n curl "curl -fsS -b $work/plain.txt -H 'X-UserToken: $ptoken' -H 'Accept: application/json' 'http://127.0.0.1:$hport$path'"
kill -TERM "$http_pid" && wait "$http_pid" 2>/dev/null || true
http_pid=""

section "2. the export of 100,000 incidents, every field's value and display value"
export_runs=$(runs 3 1)
export_one() { # NAME CMD...: peak memory of each run, emulator CPU of each run
  local name=$1 c0; shift
  for i in $(seq 1 "$export_runs"); do
    c0=$(cpu_of "$emulator_pid")
    peak "${name}_$i" "$@"
    echo "$(cpu_of "$emulator_pid") $c0" | awk '{ print $1 - $2 }' > "$res/${name}_$i.emucpu"
    wc -l < "$work/${name}_$i.out" > "$res/${name}_$i.lines"
  done
}
export_one export_table "$sb" records bench incident --display-value all --format ndjson
export_one export_jsonv2 "$sb" records bench incident --api jsonv2 --display-value all --format ndjson
# One curl over the same pages (offset paging, as pysnc pages), one connection: the transfer's floor.
pages="$work/pages.curl"
: > "$pages"
for o in $(seq 0 1000 99000); do
  echo "url = \"$base/api/now/table/incident?sysparm_query=ORDERBYsys_id&sysparm_display_value=all&sysparm_exclude_reference_link=true&sysparm_limit=1000&sysparm_offset=$o\"" >> "$pages"
  echo "output = \"/dev/null\"" >> "$pages"
done
export_one export_curl curl -fsS --cacert "$ca" -b "$work/cookies.txt" -H "X-UserToken: $token" -H 'Accept: application/json' --config "$pages" -w '%{http_code}\n'
# pysnc takes some 45 s a run: two runs (their mean), where the others take three.
export_runs=$(runs 2 1) export_one export_pysnc "$py" "$peers" export-pysnc "$base" "$work/cookies.txt" "$token" /dev/stdout
# Every run gave every incident (curl: every page said 200).
for f in "$res"/export_table_*.lines "$res"/export_jsonv2_*.lines "$res"/export_pysnc_*.lines; do
  [ "$(cat "$f")" -ge 100000 ] || { echo "an export came out short: $f: $(cat "$f")"; exit 1; }
done
[ "$(grep -c '^200$' "$work/export_curl_1.out")" = 100 ] || { echo "curl's pages failed"; exit 1; }

section "3. the Chrome import from a 20,000-cookie Chromium profile"
"$py" tests/gen_chrome_profile.py --out "$work/profile" --count 20000 >/dev/null
db="$work/profile/Default/Cookies"
# browser_cookie3 insists on a D-Bus session (it asks the Secret Service first): give it a
# private one with its own HOME, so nothing outlives the run.
mkdir -p "$work/bc3home"
hyperfine --style basic -N --warmup 3 --runs "$(runs 30 5)" --export-json "$res/import.json" \
  -n snowbridge "$sb import-chrome acme --browser chromium --user-data-dir $work/profile --dry-run" \
  -n rookiepy "$py -c 'import rookiepy; rookiepy.chromium_based(\"$db\", [\"acme.service-now.com\"])'"
hyperfine --style basic --warmup 1 --runs "$(runs 10 3)" --export-json "$res/import_bc3.json" \
  -n browser_cookie3 "HOME=$work/bc3home dbus-run-session -- $py -c 'import browser_cookie3; browser_cookie3.chromium(cookie_file=\"$db\", domain_name=\"acme.service-now.com\")'"
"$inproc" import "$work/profile" https://acme.service-now.com/ "$(runs 50 5)" > "$res/inproc_import.json"
"$py" "$peers" rookie-inproc "$db" acme.service-now.com "$(runs 50 5)" > "$res/inproc_rookie.json"

section "4. an automated headless login"
browser_runs=$(runs 5 1)
times_ms login_snowbridge "$browser_runs" env SNOWBRIDGE_PASSWORD=snowbridge "$sb" connect bench --login --headless
times_ms login_selenium "$browser_runs" "$py" "$peers" selenium-login "$base" "$chromedriver" "$chromium" admin snowbridge "$work/selenium-cookies.json"
"$sb" cookies bench --format netscape > "$work/cookies.txt"
token=$("$sb" cookies bench --format header | sed -n 's/^X-UserToken: //p')

section "5. the browser fallback as itil.user"
# Incidents in New, one per run and tool (resolving is done once per incident).
need=$(( (browser_runs + 1) * 2 ))
curl -fsS --cacert "$ca" -b "$work/cookies.txt" -H "X-UserToken: $token" -H 'Accept: application/json' \
  "$base/api/now/table/incident?sysparm_query=state=1^ORDERBYnumber&sysparm_fields=number,sys_id&sysparm_limit=$((need * 2))" \
  | "$py" -c 'import json,sys; [print(r["number"], r["sys_id"]) for r in json.load(sys.stdin)["result"]]' > "$work/new.txt"
"$sb" cookies itil --format json > "$work/itil-cookies.json"
printf 'bench attachment\n' > "$work/note.txt"
nth() { sed -n "$1p" "$work/new.txt" | cut -d' ' -f"$2"; }
sb_attach() { "$sb" attach itil incident "$(nth $((run + 1)) 1)" "$work/note.txt"; }
se_attach() { "$py" "$peers" selenium-fallback "$base" "$chromedriver" "$chromium" "$work/itil-cookies.json" attach "$(nth $((run + 1)) 2)" "$work/note.txt"; }
sb_resolve() { "$sb" resolve itil "$(nth $((run + 1)) 1)" --code 'Solution provided' --notes 'Resolved by the bench'; }
se_resolve() { "$py" "$peers" selenium-fallback "$base" "$chromedriver" "$chromium" "$work/itil-cookies.json" resolve "$(nth $((run + browser_runs + 2)) 2)"; }
times_ms attach_snowbridge "$browser_runs" sb_attach
times_ms attach_selenium "$browser_runs" se_attach
times_ms resolve_snowbridge "$browser_runs" sb_resolve
# Selenium resolves other incidents than snowbridge did (each can be resolved once).
times_ms resolve_selenium "$browser_runs" se_resolve

section "6. client credentials: a cold connect and the first call"
hyperfine --style basic --warmup 2 --runs "$(runs 15 3)" --export-json "$res/cc.json" \
  --prepare "$sb logout cc >/dev/null 2>&1 || true" \
  -n snowbridge "SNOWBRIDGE_CLIENT_SECRET=integration-secret $sb connect cc >/dev/null && SNOWBRIDGE_CLIENT_SECRET=integration-secret $sb api cc '$path' >/dev/null" \
  -n pysnc "$py $peers cc-pysnc $base 5c1d2e3f4a5b46c7d8e9f0a1b2c3d4e5 integration-secret"

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cat > "$res/meta.json" <<EOF
{"date": "$started_at", "cores": $(nproc), "cpu": "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)",
 "load_before": "$load_before", "load_after": "$load_after", "quick": $quick,
 "binary_bytes": $(stat -c %s "$sb"), "rustc": "$(rustc --version)",
 "build_seconds": $build_seconds, "seconds": $((SECONDS - started))}
EOF
"$py" bench/report.py "$res" > bench/results.md
cat bench/results.md
