"""examples/python/helpdesk.py, run as a user would run it on an itil.user browser session: it
pulls a queue, attaches a log and resolves each incident; the emulator refuses itil users the
Attachment API and resolving through web services, so both go through the browser, and the
records show the work."""

from __future__ import annotations

import hashlib

import snowbridge

from conftest import REPO

EXAMPLE = REPO / "examples" / "python" / "helpdesk.py"
QUERY = "active=true^stateIN1,2^ORDERBYnumber"


def test_the_help_desk_loop_attaches_and_resolves_through_the_browser_fallback(home, emulator, monkeypatch):
    monkeypatch.setenv("SNOWBRIDGE_PASSWORD", "snowbridge")
    snowbridge.login("dev", headless=True, user="itil.user")
    monkeypatch.delenv("SNOWBRIDGE_PASSWORD")
    before = {
        r["number"]: r
        for r in snowbridge.connect("dev").records(
            "incident", QUERY, fields=["number", "short_description"], limit=2
        )
    }
    queue = list(before)
    assert len(queue) == 2

    done = home.python(EXAMPLE, "dev", QUERY, "2", timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == queue, lines
    for line in lines:
        assert "(browser), resolved (browser)" in line, line

    for number, seen in before.items():
        record = emulator.record("incident", number)
        assert record["state"] == "6", record
        assert record["close_code"] == "Solution provided"
        assert record["close_notes"] == "Fixed; triage log attached."
        assert record["sys_updated_by"] == "itil.user"
        log = f"{number}: {seen['short_description']}\nchecked by itil.user\n".encode()
        attached = emulator.control("attachments", record=seen["sys_id"])
        assert [(a["file_name"], a["hash"]) for a in attached] == [
            (f"{number}-triage.log", hashlib.sha256(log).hexdigest())
        ], attached
