"""The help-desk loop on a snowbridge session: pull a queue, attach a log, resolve.

Usage: python examples/python/helpdesk.py INSTANCE [QUERY] [LIMIT]

Takes the incidents QUERY matches (default: the active ones, oldest number first), at most LIMIT
of them (default 3); for each, writes a triage log, attaches it, and resolves the incident with
"Solution provided". snowbridge uses the REST APIs where the instance allows them and the
browser where it refuses them (attachments and resolving, for `itil` users on many instances);
each line says which path did the work. Needs a session: `snowbridge connect INSTANCE --login`.
"""

import sys
import tempfile
from pathlib import Path

import snowbridge


def main() -> int:
    instance = sys.argv[1]
    query = sys.argv[2] if len(sys.argv) > 2 else "active=true^ORDERBYnumber"
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    try:
        session = snowbridge.connect(instance)
    except snowbridge.LoginRequired as e:
        print(f"{e.message}: run `{e.command}`", file=sys.stderr)
        return 4

    queue = session.records("incident", query, fields=["number", "short_description"], limit=limit)
    with tempfile.TemporaryDirectory() as folder:
        for incident in queue:
            number = incident["number"]
            log = Path(folder) / f"{number}-triage.log"
            log.write_text(f"{number}: {incident['short_description']}\nchecked by {session.user}\n")
            attached = session.attach("incident", number, log)
            resolved = session.resolve(number, "Solution provided", "Fixed; triage log attached.")
            print(f"{number}: attached {log.name} ({attached.path}), resolved ({resolved.path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
