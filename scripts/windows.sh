#!/usr/bin/env bash
# Builds the library's unit tests for Windows (x86_64-pc-windows-gnu, with mingw) and runs them
# under wine64, so the DPAPI and AES-GCM Chrome import, the Credential Manager keyring and the
# Windows paths run as Windows runs them. scripts/test.sh runs this; scripts/setup.sh installs
# the target, mingw and wine.
#
#   scripts/windows.sh              every unit test
#   scripts/windows.sh keyring      only the tests whose names contain "keyring"
#
# wine 8 (Debian 12) lacks ProcessPrng in bcryptprimitives.dll, which Rust's standard library
# calls for every random byte; scripts/wine/bcryptprimitives.c is a stand-in built here with
# mingw and put first in the DLL search order. The wine prefix lives in target/wine/prefix
# (made on the first run, some seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-pc-windows-gnu
missing=()
rustup target list --installed | grep -qx "$target" || missing+=("the Rust target ($target)")
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || missing+=("mingw (gcc-mingw-w64-x86-64)")
wine=$(command -v wine64 || true)
[ -n "$wine" ] || [ ! -x /usr/lib/wine/wine64 ] || wine=/usr/lib/wine/wine64
[ -n "$wine" ] || missing+=("wine64")
if [ "${#missing[@]}" -gt 0 ]; then
  echo "windows: missing ${missing[*]}: run scripts/setup.sh (or install them)" >&2
  exit 1
fi

target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
wine_dir="$target_dir/wine"
mkdir -p "$wine_dir"
dll="$wine_dir/bcryptprimitives.dll"
if [ ! -f "$dll" ] || [ scripts/wine/bcryptprimitives.c -nt "$dll" ]; then
  echo "windows: building the stand-in bcryptprimitives.dll"
  x86_64-w64-mingw32-gcc -shared -O2 -o "$dll" scripts/wine/bcryptprimitives.c
fi

# One build: the library's unit tests with its default features (the browser and the Chrome
# import); the tests under tests/ need the emulator and Chromium and are not built for Windows.
echo "windows: building the library's unit tests for $target"
exe=$(cargo test --lib --target "$target" --no-run --message-format json-render-diagnostics |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
if [ -z "$exe" ]; then
  echo "windows: the unit tests did not build for $target" >&2
  exit 1
fi
# Beside the test binary, the stand-in is found before wine's own builtin DLL.
cp "$dll" "$(dirname "$exe")/"

export WINEPREFIX="$wine_dir/prefix"
export WINEDEBUG=-all
export WINEDLLOVERRIDES="bcryptprimitives=n,b;mscoree,mshtml="
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  echo "windows: making the wine prefix"
  "$wine" wineboot --init >/dev/null 2>&1
fi
echo "windows: running the unit tests under $("$wine" --version)"
status=0
"$wine" "$exe" --test-threads=2 "$@" || status=$?
# wineserver outlives the tests by a few seconds unless told to go; it is ours to end.
wineserver=$(command -v wineserver || true)
[ -n "$wineserver" ] || [ ! -x /usr/lib/wine/wineserver64 ] || wineserver=/usr/lib/wine/wineserver64
[ -z "$wineserver" ] || "$wineserver" -k 2>/dev/null || true
exit "$status"
