#!/usr/bin/env bash
# The main job, against the bundled ServiceNow emulator: start it; log in through a real
# (headless) Chromium as itil.user; show the session; stream a few incidents; attach a file and
# resolve an incident (both through the browser, since the instance refuses them over REST to
# itil users); read the incident back, Resolved, with the attachment listed; then the same
# instance through a token method (OAuth client credentials). Stops everything
# it started, and leaves your own snowbridge state untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

echo "== building snowbridge"
# The command line is the `cli` feature (Cargo.toml); the binary requires it.
cargo build --quiet --features cli --bin snowbridge
sb="$PWD/target/debug/snowbridge"

work="$(mktemp -d -t snowbridge-demo.XXXXXX)"
export SNOWBRIDGE_CONFIG_DIR="$work/config" SNOWBRIDGE_DATA_DIR="$work/data" SNOWBRIDGE_KEYRING=off
emulator_pid=""
cleanup() {
  if [ -n "$emulator_pid" ] && kill -0 "$emulator_pid" 2>/dev/null; then
    kill -TERM "$emulator_pid" 2>/dev/null || true
    wait "$emulator_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The project's instances/local.toml expects port 8765; take another if it is busy.
port=8765
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$SNOWBRIDGE_CONFIG_DIR/instances"
  printf 'url = "http://127.0.0.1:%s"\nauth = "browser"\nusername = "itil.user"\nfallback = "auto"\n' "$port" \
    > "$SNOWBRIDGE_CONFIG_DIR/instances/local.toml"
  echo "(port 8765 is busy: using $port through $SNOWBRIDGE_CONFIG_DIR/instances/local.toml)"
fi

echo "== starting the emulator on port $port"
"$sb" emulator --port "$port" --data "$work/emulator" > "$work/emulator.log" 2>&1 &
emulator_pid=$!
for _ in $(seq 1 300); do
  if curl -fs -o /dev/null "http://127.0.0.1:$port/login.do"; then break; fi
  kill -0 "$emulator_pid" 2>/dev/null || { cat "$work/emulator.log"; exit 1; }
  sleep 0.1
done
curl -fs -o /dev/null "http://127.0.0.1:$port/login.do" || { echo "the emulator did not come up"; cat "$work/emulator.log"; exit 1; }
cat "$work/emulator.log"

echo; echo "== snowbridge instances"
"$sb" instances

echo; echo "== snowbridge connect local --login --headless   (itil.user, password from SNOWBRIDGE_PASSWORD)"
SNOWBRIDGE_PASSWORD=snowbridge "$sb" connect local --login --headless

echo; echo "== snowbridge status local"
"$sb" status local

echo; echo "== snowbridge records local incident --query 'state=1^ORstate=2' --limit 5 --format csv"
"$sb" records local incident --query 'state=1^ORstate=2' --fields number,state,short_description --limit 5 --format csv

number=$("$sb" records local incident --query 'state=1' --fields number --limit 1 --format ndjson \
  | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["number"])')
printf 'disk check on host42: 97%% full\n' > "$work/diagnostics.log"

echo; echo "== snowbridge attach local incident $number diagnostics.log"
"$sb" attach local incident "$number" "$work/diagnostics.log" --headless

echo; echo "== snowbridge resolve local $number --code 'Solution provided' --notes ..."
"$sb" resolve local "$number" --code "Solution provided" --notes "Cleared the disk on host42." --headless

echo; echo "== the incident, read back"
record=$("$sb" api local "/api/now/table/incident?sysparm_query=number%3D$number&sysparm_fields=number,sys_id,state,close_code,close_notes")
attachments=$("$sb" api local "/api/now/attachment?sysparm_query=table_sys_id%3D$(printf '%s' "$record" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"][0]["sys_id"])')")
python3 - "$record" "$attachments" <<'PY'
import json, sys
record = json.loads(sys.argv[1])["result"][0]
files = [a["file_name"] for a in json.loads(sys.argv[2])["result"]]
print(f'{record["number"]}: state {record["state"]} (6 = Resolved), close code {record["close_code"]!r}, '
      f'notes {record["close_notes"]!r}, attachments {files}')
assert record["state"] == "6", "the incident is not Resolved"
assert record["close_code"] == "Solution provided"
assert "diagnostics.log" in files, "the attachment is not listed"
PY

echo; echo "== a token method: OAuth client credentials with the emulator's integration app"
# The same instance, as an integration sees it: its own instance file, the client secret in the
# environment (never in the file), the token sealed in the vault and renewed before it expires.
mkdir -p "$SNOWBRIDGE_CONFIG_DIR/instances"
printf 'url = "http://127.0.0.1:%s"\nauth = "oauth-client-credentials"\n[oauth]\nclient_id = "5c1d2e3f4a5b46c7d8e9f0a1b2c3d4e5"\n' "$port" \
  > "$SNOWBRIDGE_CONFIG_DIR/instances/integration.toml"
export SNOWBRIDGE_CLIENT_SECRET=integration-secret
echo "== snowbridge connect integration"
"$sb" connect integration
echo "== snowbridge status integration"
"$sb" status integration
echo "== snowbridge records integration incident --query number=$number   (as the app's user, itil.user)"
"$sb" records integration incident --query "number=$number" --fields number,state,close_code --format csv
unset SNOWBRIDGE_CLIENT_SECRET
echo "== snowbridge logout integration   (revokes the token)"
"$sb" logout integration

echo; echo "== done: the session, the records, the attachment and the resolution all went through"
