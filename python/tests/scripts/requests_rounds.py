"""A plain requests script on the snowbridge session, for as long as its caller keeps it going.

Usage: requests_rounds.py INSTANCE   (then one line on stdin per round; end with EOF)

Each round reads one incident through `session.requests_session()` and prints
`{"status": ..., "number": ...}` on a line of its own. Nothing here knows about cookies or tokens.
"""

import json
import sys

import snowbridge


def main() -> None:
    session = snowbridge.connect(sys.argv[1])
    http = session.requests_session()
    url = session.url + "/api/now/table/incident"
    for _ in sys.stdin:
        reply = http.get(url, params={"sysparm_limit": 1, "sysparm_fields": "number"})
        reply.raise_for_status()
        number = reply.json()["result"][0]["number"]
        print(json.dumps({"status": reply.status_code, "number": number}), flush=True)


if __name__ == "__main__":
    main()
