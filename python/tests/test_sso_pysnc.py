"""`sso.user` logs in through the emulator's identity provider, the test playing the person at a
headed Chrome under Xvfb; then a Python process that holds no password runs pysnc (unchanged)
on `session.pysnc()` over TLS: GlideRecord over several pages, an insert and an update, which
the emulator records as sso.user's."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import snowbridge

from conftest import Person, chrome_processes, wait_until

SCRIPTS = Path(__file__).parent / "scripts"


def test_sso_user_logs_in_at_the_identity_provider_then_pysnc_pages_inserts_and_updates_without_a_password(
    home, emulator, display, monkeypatch
):
    monkeypatch.setenv("DISPLAY", display)
    lines = []
    outcome = {}

    def log_in() -> None:
        try:
            outcome["session"] = snowbridge.login("dev", headless=False, timeout=120, on_message=lines.append)
        except BaseException as e:  # handed to the test's thread
            outcome["error"] = e

    login = threading.Thread(target=log_in)
    login.start()
    person = Person(home.profile())
    try:
        wait_until("snowbridge telling the person what to do", lambda: lines, 60)
        assert login.is_alive(), f"login ended before the person acted: {outcome}"
        person.click("use_external_login")
        # The identity provider is another site: host `localhost` on the emulator's port.
        idp = f"localhost:{emulator.port}"
        wait_until(f"the browser reaching the identity provider at {idp}", lambda: person.host() == idp)
        assert login.is_alive(), "snowbridge must wait while the person is at the identity provider"
        person.type_into("idp_username", "sso.user")
        person.type_into("idp_password", "snowbridge")
        person.click("idp_login")
        login.join(timeout=120)
    finally:
        person.leave()
    assert not login.is_alive(), "the login did not finish"
    assert "error" not in outcome, outcome.get("error")
    session = outcome["session"]
    assert session.user == "sso.user"
    assert session.method == "browser"
    assert "in the browser window" in " ".join(lines), lines
    wait_until("the login's Chrome closing", lambda: not chrome_processes(home.profile()), 30)

    emulator.control("clear_request_log")
    active = emulator.control("count", table="incident", query="active=true")
    assert active > 20, "enough active incidents for several pages of 10"

    done = home.python(SCRIPTS / "pysnc_session.py", "dev")
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["user"] == "sso.user"
    assert seen["rows"] == active
    assert len(seen["seen"]) == active and len(set(seen["seen"])) == active

    log = emulator.control("request_log")
    pages = [
        r
        for r in log
        if r["method"] == "GET" and r["path_and_query"].startswith("/api/now/table/incident?")
    ]
    assert len(pages) >= 3, f"pysnc paged: {pages}"
    assert any("sysparm_offset=20" in r["path_and_query"] for r in pages), pages
    assert all(r["user"] == "sso.user" and r["status"] == 200 for r in pages), pages

    stored = emulator.record("incident", seen["inserted"])
    assert stored is not None, "the inserted incident is on the instance"
    assert stored["number"] == seen["number"]
    assert stored["short_description"] == "printer on fire, updated through pysnc"
    assert stored["sys_created_by"] == "sso.user"
    assert stored["sys_updated_by"] == "sso.user"
    assert stored["sys_mod_count"] == "1"
    assert stored["opened_by"] == emulator.control("user_sys_id", user="sso.user")
