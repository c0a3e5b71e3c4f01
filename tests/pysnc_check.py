"""Runs the official ServiceNow Python client (pysnc, unchanged from PyPI) against the emulator.

Usage: pysnc_check.py URL CA_PEM

URL is the emulator's https base URL, CA_PEM the emulator's CA certificate (trusted through
REQUESTS_CA_BUNDLE, as a user would). The caller seeds 23 incidents whose short description
starts with "pysnc batch". Every check raises on failure; the script exits non-zero then, and
prints "pysnc check passed" when everything held.
"""

import os
import sys


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    url, ca_pem = sys.argv[1].rstrip("/"), sys.argv[2]
    os.environ["REQUESTS_CA_BUNDLE"] = ca_pem

    import pysnc

    client = pysnc.ServiceNowClient(url, ("admin", "snowbridge"))

    # A query over more rows than one page: pysnc pages by offset with ORDERBYsys_id and reads
    # X-Total-Count to know when to stop.
    gr = client.GlideRecord("incident", batch_size=5)
    gr.add_encoded_query("short_descriptionSTARTSWITHpysnc batch")
    gr.query()
    check(gr.get_row_count() == 23, f"row count {gr.get_row_count()} != 23")
    seen = []
    for record in gr:
        seen.append((record.get_value("sys_id"), record.get_value("number")))
        check(record.get_display_value("state") in ("New", "In Progress", "On Hold"), "state display value")
    check(len(seen) == 23, f"iterated {len(seen)} records, expected 23")
    check(len({s for s, _ in seen}) == 23, "a record came back twice")
    check([s for s, _ in seen] == sorted(s for s, _ in seen), "pages are in sys_id order")

    # Operators and OR conditions through the query builder.
    gr = client.GlideRecord("incident", batch_size=50)
    gr.add_query("short_description", "STARTSWITH", "pysnc batch")
    gr.add_query("impact", "1").add_or_condition("impact", "2")
    gr.query()
    impacts = {r.get_value("impact") for r in gr}
    check(impacts <= {"1", "2"} and len(impacts) > 0, f"impact filter: {impacts}")

    # Get by sys_id, and a miss.
    first_id, first_number = seen[0]
    one = client.GlideRecord("incident")
    check(one.get(first_id), "get by sys_id")
    check(one.get_value("number") == first_number, "get returns the record asked for")
    check(one.get_display_value("caller_id") not in (None, ""), "reference display value")
    check(not client.GlideRecord("incident").get("0123456789abcdef0123456789abcdef"), "get of a missing record")

    # Insert.
    new = client.GlideRecord("incident")
    new.initialize()
    new.short_description = "inserted by pysnc"
    new.impact = "1"
    new.urgency = "1"
    sys_id = new.insert()
    check(sys_id is not None and len(str(sys_id)) == 32, f"insert returned {sys_id!r}")
    check(str(new.get_value("number")).startswith("INC"), "insert numbered the record")
    check(new.get_value("priority") == "1", "priority computed from impact and urgency")
    check(new.get_display_value("priority") == "1 - Critical", "priority display value")

    # Update.
    new.short_description = "updated by pysnc"
    check(new.update() is not None, "update")
    again = client.GlideRecord("incident")
    check(again.get(str(sys_id)), "get after update")
    check(again.get_value("short_description") == "updated by pysnc", "the update was stored")

    # Attachment: add, list, read.
    location = again.add_attachment("hello.txt", b"hello from pysnc", "text/plain")
    check("/attachment/" in location, f"attachment Location {location!r}")
    attachments = again.get_attachments()
    check(len(attachments) == 1, f"{len(attachments)} attachments listed")
    names = []
    for attachment in attachments:
        names.append(attachment.file_name)
        check(attachment.read() == b"hello from pysnc", "attachment content")
    check(names == ["hello.txt"], f"attachment names {names}")

    # Delete.
    check(again.delete(), "delete")
    check(not client.GlideRecord("incident").get(str(sys_id)), "the deleted record is gone")

    print("pysnc check passed")


if __name__ == "__main__":
    main()
