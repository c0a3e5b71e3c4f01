"""`Session.records`: 100,000 emulator incidents streamed from Rust, every sys_id once, with the
Python process's peak memory under 100 MB (the issue's bound, asserted here as a test
condition)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Emulator, Home

SCRIPTS = Path(__file__).parent / "scripts"
INCIDENTS = 100_000


@pytest.fixture(scope="module")
def big_emulator(tmp_path_factory):
    emu = Emulator(tmp_path_factory.mktemp("big") / "data", incidents=INCIDENTS)
    yield emu
    emu.stop()


def test_records_streams_100000_incidents_each_sys_id_once_in_under_100_mb(tmp_path, big_emulator):
    home = Home(tmp_path, big_emulator, auth="basic", extra='username = "admin"\n')
    assert big_emulator.control("count", table="incident") == INCIDENTS
    big_emulator.control("clear_request_log")

    done = home.python(SCRIPTS / "stream_incidents.py", "dev", timeout=900, SNOWBRIDGE_PASSWORD="snowbridge")
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["count"] == INCIDENTS
    assert seen["unique"] == INCIDENTS
    assert {"number", "short_description", "state", "sys_id"} <= set(seen["fields"]), "every field"
    print(f"peak memory {seen['peak_rss_mb']:.1f} MB")
    assert seen["peak_rss_mb"] < 100, f"peak memory {seen['peak_rss_mb']:.1f} MB"

    pages = [r for r in big_emulator.control("request_log") if r["path_and_query"].startswith("/api/now/table/incident")]
    assert len(pages) >= INCIDENTS // 1000, "paged, not one reply"
    assert all(r["status"] == 200 for r in pages)
