"""Runs the official ServiceNow Python client (pysnc, unchanged from PyPI) against the emulator's
other ways in: its OAuth password-grant flow (through requests-oauthlib), its client-credentials
flow, and a client certificate. (Its JWT class is left out: it sends the JWT in a header the
instance does not read, and builds the token URL without the port, so it cannot reach an
emulator on a port other than 443; tests/emulator_oauth.rs checks the header is not read.)

Usage: pysnc_oauth_check.py URL CA_PEM SETTINGS_JSON

SETTINGS_JSON holds "password_app" and "client_credentials_app" ([client_id, client_secret]) and
"certificate" ([cert_pem_path, key_path]) of a user mapped to it.
The emulator's CA is trusted through REQUESTS_CA_BUNDLE, as a user would. Every check exits
non-zero on failure; "pysnc oauth check passed" is printed when everything held.
"""

import json
import os
import sys


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def incidents(client, limit=3):
    gr = client.GlideRecord("incident", batch_size=limit)
    gr.limit = limit
    gr.query()
    return [record.get_value("number") for record in gr]


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    url, ca_pem, settings = sys.argv[1].rstrip("/"), sys.argv[2], json.loads(sys.argv[3])
    os.environ["REQUESTS_CA_BUNDLE"] = ca_pem

    import pysnc
    from pysnc.auth import ServiceNowPasswordGrantFlow

    client_credentials_flow = getattr(pysnc.auth, "ServiceNowClientCredentialsFlow", None)
    check(client_credentials_flow is not None, "this pysnc has ServiceNowClientCredentialsFlow")

    # Password grant: one token request, then Bearer calls; reads and a write.
    app_id, app_secret = settings["password_app"]
    flow = ServiceNowPasswordGrantFlow("itil.admin", "snowbridge", app_id, app_secret)
    client = pysnc.ServiceNowClient(url, flow)
    numbers = incidents(client)
    check(len(numbers) == 3 and all(n.startswith("INC") for n in numbers), f"password grant read {numbers}")
    new = client.GlideRecord("incident")
    new.initialize()
    new.short_description = "inserted by pysnc over oauth"
    sys_id = new.insert()
    check(sys_id is not None, "password grant insert")
    again = client.GlideRecord("incident")
    check(again.get(str(sys_id)), "password grant get after insert")
    check(again.get_value("sys_created_by") == "itil.admin", "the token acts as its user")

    # A wrong password: the grant is refused with the instance's one refusal.
    try:
        pysnc.ServiceNowClient(url, ServiceNowPasswordGrantFlow("itil.admin", "wrong", app_id, app_secret))
        check(False, "a wrong password was accepted")
    except Exception as error:  # oauthlib raises its own error types
        check("access_denied" in str(error), f"refusal names access_denied: {error!r}")

    # Client credentials: the token acts as the app's OAuth Application User.
    cc_id, cc_secret = settings["client_credentials_app"]
    client = pysnc.ServiceNowClient(url, client_credentials_flow(cc_id, cc_secret))
    numbers = incidents(client)
    check(len(numbers) == 3, f"client credentials read {numbers}")

    # A client certificate, no credentials at all.
    cert, key = settings["certificate"]
    client = pysnc.ServiceNowClient(url, cert=(cert, key))
    numbers = incidents(client)
    check(len(numbers) == 3, f"certificate read {numbers}")

    print("pysnc oauth check passed")


if __name__ == "__main__":
    main()
