"""A help-desk script that holds no password: pysnc (unchanged) on the snowbridge session.

Usage: pysnc_session.py INSTANCE

Queries the active incidents through pysnc's GlideRecord in pages of 10, inserts an incident
and updates it, and prints what it saw as one JSON object: the rows' sys_ids, the inserted
record's sys_id and number.
"""

import json
import os
import sys

import snowbridge


def main() -> None:
    secrets = [k for k in os.environ if k.startswith("SNOWBRIDGE_") and k.endswith(
        ("PASSWORD", "CLIENT_SECRET", "API_KEY", "KEY_PASSPHRASE"))]
    assert not secrets, f"this script must hold no secret, yet has {secrets}"

    session = snowbridge.connect(sys.argv[1])
    client = session.pysnc()

    gr = client.GlideRecord("incident", batch_size=10)
    gr.add_active_query()
    gr.query()
    seen = [record.get_value("sys_id") for record in gr]

    new = client.GlideRecord("incident")
    new.initialize()
    new.short_description = "printer on fire, filed through pysnc"
    new.impact = "2"
    new.urgency = "2"
    sys_id = new.insert()
    new.short_description = "printer on fire, updated through pysnc"
    new.update()

    print(json.dumps({
        "user": session.user,
        "rows": gr.get_row_count(),
        "seen": seen,
        "inserted": str(sys_id),
        "number": new.get_value("number"),
    }))


if __name__ == "__main__":
    main()
