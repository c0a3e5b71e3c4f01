"""Loads a `snowbridge cookies --format netscape` export the way the README tells Python users
to, and makes authenticated calls with requests.

Usage: netscape_check.py URL COOKIES_TXT EXPORT_JSON USER CA_PEM

URL is the instance's base URL, COOKIES_TXT the Netscape export, EXPORT_JSON the
`--format json` export (where the X-UserToken for REST calls comes from), USER the user the
session belongs to, CA_PEM the CA to trust. Exits non-zero with FAILED: ... on stderr when a
check fails; prints "netscape check passed" when every one held.
"""

import json
import sys
from http.cookiejar import MozillaCookieJar

import requests


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    url, cookies_txt, export_json, user, ca_pem = sys.argv[1:]
    url = url.rstrip("/")

    # The documented route: default arguments, nothing to know about session cookies.
    jar = MozillaCookieJar(cookies_txt)
    jar.load()
    names = sorted(c.name for c in jar)
    check("JSESSIONID" in names, f"the jar holds JSESSIONID: {names}")
    session_cookie = next(c for c in jar if c.name == "JSESSIONID")
    check(session_cookie.secure, "JSESSIONID keeps its Secure flag")

    me = "sys_id=javascript:gs.getUserID()"

    # The JSON web service: the cookies alone.
    reply = requests.get(
        f"{url}/sys_user.do",
        params={"JSONv2": "", "sysparm_action": "getRecords", "sysparm_query": me},
        cookies=jar,
        allow_redirects=False,
        verify=ca_pem,
        timeout=30,
    )
    check(reply.status_code == 200, f"JSONv2 with the jar: {reply.status_code} {reply.text[:300]}")
    records = reply.json().get("records", [])
    check(
        [r.get("user_name") for r in records] == [user],
        f"JSONv2 answered as {user}: {records}",
    )

    # The REST API: the cookies plus the X-UserToken header, read from the JSON export.
    with open(export_json, encoding="utf-8") as f:
        token = json.load(f)["user_token"]
    session = requests.Session()
    session.cookies = jar
    reply = session.get(
        f"{url}/api/now/table/sys_user",
        params={"sysparm_query": me, "sysparm_fields": "user_name"},
        headers={"X-UserToken": token, "Accept": "application/json"},
        allow_redirects=False,
        verify=ca_pem,
        timeout=30,
    )
    check(reply.status_code == 200, f"REST with the jar: {reply.status_code} {reply.text[:300]}")
    result = reply.json()["result"]
    check(
        [r.get("user_name") for r in result] == [user],
        f"REST answered as {user}: {result}",
    )
    print("netscape check passed")


if __name__ == "__main__":
    main()
