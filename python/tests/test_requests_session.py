"""`Session.requests_session()`: a plain requests script keeps working while the instance
rotates `glide_session_store` on every reply and after its session died and came back from the
remember-me cookies with a new CSRF token (the script's `X-UserToken` stale); the cookies it
rotated reach the vault, and the CLI's `snowbridge api` then works on them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import snowbridge

SCRIPTS = Path(__file__).parent / "scripts"
INCIDENTS = "/api/now/table/incident?sysparm_limit=1"


def vault_cookies(home) -> dict:
    """The stored session as `snowbridge cookies --format json` exports it."""
    return json.loads(home.cli("cookies", "dev", "--format", "json").stdout)


def cookie(export: dict, name: str) -> str:
    return next(c["value"] for c in export["cookies"] if c["name"] == name)


def test_a_requests_script_survives_rotation_and_a_stale_token_and_the_cli_goes_on_from_its_cookies(
    home, emulator, monkeypatch
):
    # A remember-me browser session of itil.user: headless Chrome fills in the form.
    monkeypatch.setenv("SNOWBRIDGE_PASSWORD", "snowbridge")
    session = snowbridge.login("dev", headless=True, user="itil.user")
    monkeypatch.delenv("SNOWBRIDGE_PASSWORD")
    assert session.user == "itil.user"
    assert session.expires_at is not None, "remember-me cookies give the session a horizon"
    first_session_id = cookie(vault_cookies(home), "JSESSIONID")

    script = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "requests_rounds.py"), "dev"],
        env=home.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def round_trip() -> dict:
        assert script.stdin is not None and script.stdout is not None
        script.stdin.write("go\n")
        script.stdin.flush()
        line = script.stdout.readline()
        assert line, f"the script ended: {script.stderr.read() if script.stderr else ''}"
        return json.loads(line)

    try:
        assert round_trip()["status"] == 200
        emulator.control("set_rotate_session_store", on=True)
        issued_before = len(emulator.control("issued_session_store"))
        for _ in range(3):
            assert round_trip()["status"] == 200
        assert len(emulator.control("issued_session_store")) >= issued_before + 3

        # The session dies on the instance; the remember-me cookies bring a new one with a new
        # CSRF token, so the token the script holds is stale.
        emulator.control("expire_all_sessions")
        emulator.control("clear_request_log")
        assert round_trip()["status"] == 200
        log = [r for r in emulator.control("request_log") if r["path_and_query"].startswith("/api/now/table/incident")]
        assert [r["status"] for r in log] == [401, 200], f"one stale-token 401, then the retry: {log}"
        assert round_trip()["status"] == 200
    finally:
        script.stdin.close()
        script.wait(timeout=60)
    assert script.returncode == 0, script.stderr.read()

    # What the script learned is in the vault: the latest glide_session_store the instance
    # issued, the new session and its token.
    stored = vault_cookies(home)
    issued = emulator.control("issued_session_store")
    assert cookie(stored, "glide_session_store") == issued[-1]
    live = [s for s in emulator.control("sessions") if s["user"] == "itil.user"]
    assert cookie(stored, "JSESSIONID") != first_session_id
    current = next(s for s in live if s["id"] == cookie(stored, "JSESSIONID"))
    assert stored["user_token"] == current["user_token"]

    # The CLI goes on from those cookies: no stale-token 401, no new session.
    emulator.control("clear_request_log")
    sessions_before = {s["id"] for s in emulator.control("sessions")}
    reply = json.loads(home.cli("api", "dev", INCIDENTS).stdout)
    assert len(reply["result"]) == 1
    log = emulator.control("request_log")
    assert [(r["status"], r["user"]) for r in log] == [(200, "itil.user")], log
    assert {s["id"] for s in emulator.control("sessions")} == sessions_before
    emulator.control("set_rotate_session_store", on=False)
