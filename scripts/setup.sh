#!/usr/bin/env bash
# Installs what the demo and the tests need on a fresh Debian machine, when missing:
# Chromium and chromedriver, Xvfb (headed Chrome), gnome-keyring and D-Bus (the Secret Service
# tests), curl and wget (the cookie-export checks), mingw and wine64 with Rust's
# x86_64-pc-windows-gnu target (the Windows unit tests, scripts/windows.sh), Rust nightly (the
# fuzz targets, scripts/fuzz.sh), and a Python virtual environment in .venv with pysnc and
# requests (and maturin and pytest for the Python package). Sourced by demo.sh, bench.sh and test.sh.
set -euo pipefail

snowbridge_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need_packages=()
command -v chromium >/dev/null 2>&1 || need_packages+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_packages+=(chromium-driver)
command -v xvfb-run >/dev/null 2>&1 || need_packages+=(xvfb xauth)
command -v gnome-keyring-daemon >/dev/null 2>&1 || need_packages+=(gnome-keyring)
command -v dbus-run-session >/dev/null 2>&1 || need_packages+=(dbus dbus-x11)
command -v secret-tool >/dev/null 2>&1 || need_packages+=(libsecret-tools)
command -v curl >/dev/null 2>&1 || need_packages+=(curl)
command -v wget >/dev/null 2>&1 || need_packages+=(wget)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_packages+=(python3-venv)
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need_packages+=(gcc-mingw-w64-x86-64)
[ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null 2>&1 || need_packages+=(wine64)

if [ "${#need_packages[@]}" -gt 0 ]; then
  echo "setup: installing ${need_packages[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing: install Rust from https://rustup.rs and run again" >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu; then
    echo "setup: adding Rust's x86_64-pc-windows-gnu target" >&2
    rustup target add x86_64-pc-windows-gnu
  fi
  if ! rustup toolchain list | grep -q '^nightly'; then
    echo "setup: installing Rust nightly (for cargo-fuzz)" >&2
    rustup toolchain install nightly --profile minimal
  fi
fi

# Python: pysnc (the official client, unchanged) for the compatibility check, with
# requests-oauthlib, which its OAuth password-grant flow needs; requests for the check that a
# Netscape cookie export loads in MozillaCookieJar and authenticates.
venv="$snowbridge_root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import pysnc, cryptography, requests, requests_oauthlib" >/dev/null 2>&1; then
  echo "setup: installing pysnc, cryptography, requests and requests-oauthlib into .venv" >&2
  # `python -m pip`, not .venv/bin/pip: a copied venv's pip script names another interpreter.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check pysnc cryptography requests requests-oauthlib
fi

# The Python package (python/, PyO3 + maturin): maturin builds it, pytest tests it. Installed
# into .venv only where the package exists in this checkout.
if [ -f "$snowbridge_root/python/pyproject.toml" ] \
  && ! "$venv/bin/python" -c "import maturin, pytest" >/dev/null 2>&1; then
  echo "setup: installing maturin and pytest into .venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check 'maturin>=1.9.4,<2' pytest
fi
