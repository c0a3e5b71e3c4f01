"""Errors as exceptions of one base class: an expired session raises `LoginRequired` naming the
command to run; an ACL refusal raises `Forbidden` with the instance's own message; a data
policy names its fields; a mistyped instance is a `UsageError` with a guess."""

from __future__ import annotations

import pytest

import snowbridge

from conftest import Home


@pytest.fixture
def basic_home(tmp_path, emulator, monkeypatch):
    """A home whose instance file logs itil.user in with Basic (password in the environment)."""

    def make(user: str) -> Home:
        home = Home(tmp_path / user, emulator, auth="basic", extra=f'username = "{user}"\n')
        for name, value in home.env(SNOWBRIDGE_PASSWORD="snowbridge").items():
            monkeypatch.setenv(name, value)
        return home

    return make


def test_an_expired_session_raises_login_required_naming_the_command(home, emulator, monkeypatch):
    home.instance_file.write_text(home.instance_file.read_text() + "validate_every_secs = 0\n")
    monkeypatch.setenv("SNOWBRIDGE_PASSWORD", "snowbridge")
    session = snowbridge.login("dev", headless=True, user="itil.user", remember_me=False)
    monkeypatch.delenv("SNOWBRIDGE_PASSWORD")
    assert snowbridge.connect("dev").user == "itil.user"

    emulator.control("expire_all_sessions")

    with pytest.raises(snowbridge.LoginRequired) as caught:
        snowbridge.connect("dev")
    e = caught.value
    assert e.command == "snowbridge connect dev --login"
    assert e.command in str(e)
    assert (e.kind, e.exit_code, e.instance) == ("login_required", 4, "dev")
    assert isinstance(e, snowbridge.Error)

    # A session already open says the same on its next call, through every door.
    with pytest.raises(snowbridge.LoginRequired) as caught:
        session.api("GET", "/api/now/table/incident", params={"sysparm_limit": 1})
    assert caught.value.command == "snowbridge connect dev --login"
    with pytest.raises(snowbridge.LoginRequired):
        session.requests_session().get(session.url + "/api/now/table/incident?sysparm_limit=1")
    with pytest.raises(snowbridge.LoginRequired):
        next(iter(session.records("incident")))


def test_an_acl_refusal_raises_forbidden_with_the_instances_message(basic_home, emulator):
    basic_home("itil.user")
    session = snowbridge.connect("dev")
    assert session.method == "basic"
    target = emulator.control("insert_incident", fields={"short_description": "not yours to delete"})

    # What the instance answers, as any HTTP client sees it.
    raw = session.requests_session().delete(f"{session.url}/api/now/table/incident/{target}")
    assert raw.status_code == 403
    said = raw.json()["error"]

    with pytest.raises(snowbridge.Forbidden) as caught:
        session.api("DELETE", f"/api/now/table/incident/{target}")
    e = caught.value
    assert said["message"] in e.refusal and said["detail"] in e.refusal, (e.refusal, said)
    assert e.reason == "acl"
    assert (e.kind, e.exit_code) == ("forbidden", 5)
    assert emulator.record("incident", target) is not None, "nothing was deleted"


def test_a_data_policy_refusal_names_its_fields(basic_home, emulator):
    basic_home("admin")
    session = snowbridge.connect("dev")
    target = emulator.control("insert_incident", fields={"short_description": "resolve me bare"})
    with pytest.raises(snowbridge.Forbidden) as caught:
        session.api("PATCH", f"/api/now/table/incident/{target}", json={"state": "6"})
    assert caught.value.reason == "data_policy"
    assert caught.value.fields == ["Resolution code", "Resolution notes"]
    assert emulator.record("incident", target)["state"] == "1"


def test_a_mistyped_instance_is_a_usage_error_with_a_guess(home):
    with pytest.raises(snowbridge.UsageError) as caught:
        snowbridge.connect("dve")
    assert "did you mean `dev`" in str(caught.value)
    assert caught.value.exit_code == 2
    assert isinstance(caught.value, ValueError)


def test_a_file_that_cannot_be_read_is_refused_before_anything_is_sent(basic_home, emulator, tmp_path):
    basic_home("itil.admin")
    session = snowbridge.connect("dev")
    present = tmp_path / "present.log"
    present.write_text("here")
    emulator.control("clear_request_log")
    with pytest.raises(snowbridge.Error) as caught:
        session.attach("incident", "INC0010001", [present, tmp_path / "missing.log"])
    assert "missing.log" in str(caught.value)
    assert isinstance(caught.value, snowbridge.BadInput) and caught.value.exit_code == 1
    assert not any(r["method"] == "POST" for r in emulator.control("request_log")), "nothing sent"
