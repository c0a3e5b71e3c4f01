"""`requests_session()` for the ways in that are not the browser: the Bearer token of the
client-credentials grant (renewed when the instance ends it early), and a client certificate
presented in the TLS handshake, each through the Rust session."""

from __future__ import annotations

from pathlib import Path

import snowbridge

from conftest import Home

INCIDENTS = "/api/now/table/incident?sysparm_limit=1"


def test_a_bearer_session_carries_its_token_and_renews_it(tmp_path, emulator, monkeypatch):
    home = Home(
        tmp_path,
        emulator,
        auth="oauth-client-credentials",
        extra='[oauth]\nclient_id = "5c1d2e3f4a5b46c7d8e9f0a1b2c3d4e5"\n',
    )
    for name, value in home.env(SNOWBRIDGE_CLIENT_SECRET="integration-secret").items():
        monkeypatch.setenv(name, value)
    emulator.control("clear_request_log")
    session = snowbridge.connect("dev")
    assert session.method == "oauth-client-credentials"
    assert session.expires_at is not None, "a token's expiry"
    http = session.requests_session()
    assert http.get(session.url + INCIDENTS).status_code == 200

    # Past the token's life on the instance's clock: the instance refuses it, and the session
    # renews it once and sends the request again.
    emulator.control("advance_clock", secs=3600)
    reply = http.get(session.url + INCIDENTS)
    assert reply.status_code == 200, reply.text
    log = emulator.control("request_log")
    grants = [r["status"] for r in log if r["path_and_query"] == "/oauth_token.do"]
    assert grants == [200, 200], f"the grant, then one renewal: {log}"
    calls = [(r["status"], r["user"]) for r in log if r["path_and_query"] == INCIDENTS]
    assert calls[-1] == (200, "itil.user"), calls


def test_a_certificate_session_presents_its_certificate(tmp_path, emulator, monkeypatch):
    clients = Path(emulator.ca_file).parent / "clients"
    home = Home(
        tmp_path,
        emulator,
        auth="mtls",
        extra=f'[mtls]\ncert = "{clients / "itil.admin.pem"}"\nkey = "{clients / "itil.admin.key"}"\n',
    )
    for name, value in home.env().items():
        monkeypatch.setenv(name, value)
    session = snowbridge.connect("dev")
    emulator.control("clear_request_log")
    reply = session.requests_session().get(session.url + INCIDENTS)
    assert reply.status_code == 200, reply.text
    assert [(r["status"], r["user"]) for r in emulator.control("request_log")] == [(200, "itil.admin")]
