"""Streams every incident through `Session.records` and reports what it saw and the process's
peak memory.

Usage: stream_incidents.py INSTANCE

Prints one JSON object: `count` (records read), `unique` (distinct sys_ids), `fields` (the
fields of the first record) and `peak_rss_mb` (`resource.getrusage(RUSAGE_SELF).ru_maxrss`, in
MiB: Linux reports kibibytes).
"""

import json
import resource
import sys

import snowbridge


def main() -> None:
    session = snowbridge.connect(sys.argv[1])
    seen = set()
    count = 0
    fields = None
    for record in session.records("incident"):
        if fields is None:
            fields = sorted(record)
        seen.add(record["sys_id"])
        count += 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"count": count, "unique": len(seen), "fields": fields, "peak_rss_mb": peak}))


if __name__ == "__main__":
    main()
