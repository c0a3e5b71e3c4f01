"""Fixtures for the package's tests: the emulator as its own process (the `snowbridge` binary,
steered over `--control`), a snowbridge home of its own per test (instance file, vault, no OS
keyring), a virtual display, and the person at the browser (a chromedriver of the test's own
attached to the Chrome snowbridge opened, typing and clicking as a person would).

Every wait polls a condition against a deadline.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
POLL = 0.1


def snowbridge_bin() -> Path:
    """The `snowbridge` binary the tests run the emulator and the CLI from."""
    path = Path(os.environ.get("SNOWBRIDGE_BIN", REPO / "target" / "debug" / "snowbridge"))
    if not path.exists():
        pytest.fail(
            f"these tests need the snowbridge binary at {path}: run `cargo build` first "
            "(or set SNOWBRIDGE_BIN)"
        )
    return path


def wait_until(what: str, check, within: float = 60.0):
    """Polls `check()` until it returns something truthy; fails naming `what` after `within`."""
    deadline = time.monotonic() + within
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {within:.0f} s")
        time.sleep(POLL)


class Emulator:
    """`snowbridge emulator --tls --port 0 --json --control` in a process of its own."""

    def __init__(self, data: Path, incidents: int = 50, config: str = "") -> None:
        args = [
            str(snowbridge_bin()),
            "emulator",
            "--tls",
            "--port",
            "0",
            "--json",
            "--control",
            "--data",
            str(data),
            "--incidents",
            str(incidents),
        ]
        if config:
            path = data.parent / f"{data.name}-emulator.toml"
            path.write_text(config)
            args += ["--config", str(path)]
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        if not first:
            err = self.process.stderr.read() if self.process.stderr else ""
            pytest.fail(f"the emulator did not start: {err}")
        address = json.loads(first)
        self.url: str = address["url"].rstrip("/")
        self.ca_file: str = address["ca_file"]
        self.port = int(self.url.rsplit(":", 1)[1])

    def control(self, op: str, **args: Any) -> Any:
        """One control command (see `snowbridge emulator --help`); its answer."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        if "error" in answer:
            pytest.fail(f"control {op} {args}: {answer['error']}")
        return answer["ok"]

    def record(self, table: str, id: str) -> Optional[Dict[str, str]]:
        return self.control("record", table=table, id=id)

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory) -> Iterator[Emulator]:
    """One emulator over TLS for the tests that share it (50 incidents)."""
    emu = Emulator(tmp_path_factory.mktemp("emulator") / "data")
    yield emu
    emu.stop()


class Home:
    """A snowbridge home of its own: the configuration folder with an instance file `NAME.toml`
    for the emulator (trusting its CA), the data folder with the vault, the OS keyring off. The
    test process's environment points at it (the library reads it as the CLI does), and
    `env()` gives the same for child processes, with no password in it."""

    def __init__(
        self, root: Path, emu: Emulator, name: str = "dev", auth: str = "browser", extra: str = ""
    ) -> None:
        self.root = root
        self.name = name
        self.emu = emu
        self.config = root / "config"
        self.data = root / "data"
        (self.config / "instances").mkdir(parents=True)
        self.data.mkdir()
        self.instance_file = self.config / "instances" / f"{name}.toml"
        self.instance_file.write_text(
            f'url = "{emu.url}"\nauth = "{auth}"\nca_file = "{emu.ca_file}"\n{extra}'
        )

    def env(self, **more: str) -> Dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("SNOWBRIDGE_PASSWORD", "SNOWBRIDGE_API_KEY", "DISPLAY", "WAYLAND_DISPLAY")
        }
        env.update(
            SNOWBRIDGE_CONFIG_DIR=str(self.config),
            SNOWBRIDGE_DATA_DIR=str(self.data),
            SNOWBRIDGE_KEYRING="off",
        )
        env.update(more)
        return env

    def profile(self) -> Path:
        """The login profile Chrome runs on."""
        return self.data / "profiles" / self.name

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Runs the `snowbridge` command in this home."""
        done = subprocess.run(
            [str(snowbridge_bin()), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and done.returncode != 0:
            pytest.fail(f"snowbridge {' '.join(args)} exited {done.returncode}: {done.stderr}")
        return done

    def python(self, script: Path, *args: str, timeout: float = 300, **env: str):
        """Runs `script` with this interpreter in a process of its own, in this home, with no
        password in its environment."""
        return subprocess.run(
            [sys.executable, str(script), *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture
def home(tmp_path, emulator, monkeypatch) -> Home:
    """A home of the test's own on the shared emulator; this process's environment points at
    it."""
    h = Home(tmp_path, emulator)
    for name, value in h.env().items():
        monkeypatch.setenv(name, value)
    for name in ("SNOWBRIDGE_PASSWORD", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    return h


def require_browser() -> None:
    for program in ("chromedriver", "Xvfb"):
        if shutil.which(program) is None:
            pytest.fail(
                f"this test needs {program}: apt-get install chromium chromium-driver xvfb "
                "(scripts/setup.sh installs them)"
            )


@pytest.fixture
def display() -> Iterator[str]:
    """A virtual X display (Xvfb) for a headed Chrome; its name, for DISPLAY."""
    require_browser()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert xvfb.stdout is not None
    # Xvfb writes the number once the display accepts clients.
    number = xvfb.stdout.readline().strip()
    assert number, "Xvfb did not report its display"
    yield f":{number}"
    xvfb.kill()
    xvfb.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class Person:
    """The person at the login window: the test's own chromedriver attached to the Chrome
    running on `profile` (through its DevTools port), speaking W3C WebDriver over HTTP."""

    def __init__(self, profile: Path, within: float = 120) -> None:
        active = profile / "DevToolsActivePort"

        def devtools_port() -> Optional[int]:
            try:
                return int(active.read_text().splitlines()[0])
            except (OSError, ValueError, IndexError):
                return None

        port = wait_until(f"a Chrome writing {active}", devtools_port, within)
        self.http = requests.Session()
        self.http.trust_env = False
        self.driver: Optional[subprocess.Popen] = None
        for _ in range(5):
            driver_port = free_port()
            driver = subprocess.Popen(
                ["chromedriver", f"--port={driver_port}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.base = f"http://127.0.0.1:{driver_port}"
            if wait_until("the test's chromedriver", lambda: driver.poll() is not None or self._ready(), 30) and driver.poll() is None:
                self.driver = driver
                break
        assert self.driver is not None, "the test's chromedriver did not start"
        reply = self.http.post(
            f"{self.base}/session",
            json={
                "capabilities": {
                    "alwaysMatch": {
                        "goog:chromeOptions": {"debuggerAddress": f"127.0.0.1:{port}"}
                    }
                }
            },
        ).json()
        assert "sessionId" in reply["value"], f"cannot attach to the login Chrome: {reply}"
        self.session = f"{self.base}/session/{reply['value']['sessionId']}"

    def _ready(self) -> bool:
        try:
            return self.http.get(f"{self.base}/status", timeout=2).json()["value"]["ready"] is True
        except (requests.RequestException, ValueError, KeyError):
            return False

    def _element(self, id: str) -> str:
        def find() -> Optional[str]:
            reply = self.http.post(
                f"{self.session}/element", json={"using": "css selector", "value": f"#{id}"}
            ).json()["value"]
            return reply.get(ELEMENT) if isinstance(reply, dict) else None

        return wait_until(f"#{id} appearing", find, 30)

    def click(self, id: str) -> None:
        self.http.post(f"{self.session}/element/{self._element(id)}/click", json={})

    def type_into(self, id: str, text: str) -> None:
        self.http.post(f"{self.session}/element/{self._element(id)}/value", json={"text": text})

    def host(self) -> str:
        """The page's host (with port) once it is fully loaded; empty while it navigates."""
        reply = self.http.post(
            f"{self.session}/execute/sync",
            json={
                "script": "return document.readyState === 'complete' ? location.host : null",
                "args": [],
            },
        ).json()["value"]
        return reply if isinstance(reply, str) else ""

    def leave(self) -> None:
        # Attached, not started: ending chromedriver leaves the Chrome to snowbridge.
        if self.driver is not None:
            self.driver.kill()
            self.driver.wait()


def chrome_processes(profile: Path) -> List[int]:
    """The pids of processes running Chrome on `profile`."""
    needle = f"--user-data-dir={profile}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if needle in cmdline:
            pids.append(int(entry.name))
    return pids
