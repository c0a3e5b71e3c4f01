"""Help-desk scripts of the kinds people write against a real instance, run with the official
Python client (pysnc, unchanged from PyPI) against the emulator.

Usage: pysnc_helpdesk.py URL CA_PEM SCRIPT FACTS_JSON

URL is the emulator's https base URL, CA_PEM its CA certificate (trusted through
REQUESTS_CA_BUNDLE, as a user would); SCRIPT names one of the scripts below; FACTS_JSON holds what the
caller read from the emulator's store to compare with. Every check exits non-zero with a message
on failure; the script prints "SCRIPT ok" when everything held.
"""

import collections
import json
import os
import sys


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def client_for(url, user):
    import pysnc

    return pysnc.ServiceNowClient(url, (user, "snowbridge"))


def problem_with_its_incidents(url, facts):
    """A problem manager's morning: the problem, then every incident linked to it, with who
    reported each and where to reach them."""
    client = client_for(url, "itil.user")
    problem = client.GlideRecord("problem")
    check(problem.get("number", facts["problem"]), "the problem by its number")
    check(problem.get_display_value("state") == "Root Cause Analysis", f"state {problem.get_display_value('state')!r}")
    check(problem.get_display_value("assignment_group") == "Network", "assignment group display value")
    check(problem.get_display_value("cmdb_ci") == "VPN", "configuration item display value")
    check(problem.get_value("sys_class_name") == "problem", "sys_class_name")

    incidents = client.GlideRecord("incident", batch_size=10)
    incidents.add_query("problem_id", problem.sys_id)
    incidents.fields = ["number", "state", "caller_id", "caller_id.email", "caller_id.department.name", "assignment_group"]
    incidents.order_by("number")
    incidents.query()
    numbers = []
    for incident in incidents:
        numbers.append(incident.get_value("number"))
        email = incident.get_value("caller_id.email")
        check(email.endswith("@example.com"), f"dot-walked caller email {email!r}")
        check(incident.caller_id.email == email, "element access walks the reference too")
        check(incident.get_display_value("caller_id.department.name") != "", "two-step walk")
        check(incident.get_display_value("assignment_group") == "Network", "group of a VPN incident")
    check(numbers == facts["incidents"], f"linked incidents {numbers} != {facts['incidents']}")
    check(incidents.get_row_count() == len(facts["incidents"]), "row count")

    # The same through the parent table: tasks that name the problem as their problem.
    tasks = client.GlideRecord("task")
    tasks.add_query("sys_class_name", "incident")
    tasks.add_query("number", "IN", ",".join(facts["incidents"]))
    tasks.query()
    check(tasks.get_row_count() == len(facts["incidents"]), "the incidents read through task")
    for task in tasks:
        check(task.get_display_value("sys_class_name") == "Incident", "class display value")


def users_by_department(url, facts):
    """A report of who works where and to whom they report, dot-walking department and manager."""
    client = client_for(url, "itil.user")
    users = client.GlideRecord("sys_user", batch_size=5)
    users.add_active_query()
    users.fields = "user_name,name,email,department.name,manager,manager.name,manager.email,location.city"
    users.order_by("user_name")
    users.query()
    report = collections.defaultdict(dict)
    for user in users:
        department = user.get_value("department.name")
        manager = user.get_display_value("manager")
        if manager:
            check(user.get_value("manager.email").endswith("@example.com"), "manager's email")
            check(user.get_value("manager.name") == manager, "manager.name is the display value")
        report[department][user.get_value("user_name")] = manager or ""
    check(dict(report) == facts["departments"], f"report {dict(report)} != {facts['departments']}")

    # The IT department alone, by querying through the reference.
    it = client.GlideRecord("sys_user")
    it.add_query("department.name", "IT")
    it.add_query("manager.name", "Ian Adler")
    it.fields = "user_name"
    it.query()
    names = sorted(u.get_value("user_name") for u in it)
    check(names == facts["reports_to_ian"], f"{names} != {facts['reports_to_ian']}")


def group_members(url, facts):
    """Who is in a group, and which groups a person is in."""
    client = client_for(url, "itil.user")
    group = client.GlideRecord("sys_user_group")
    check(group.get("name", "Service Desk"), "the group by name")
    check(group.get_display_value("manager") == "Ian Adler", "group manager")
    members = client.GlideRecord("sys_user_grmember")
    members.add_query("group", group.sys_id)
    members.fields = ["user", "user.user_name", "user.email", "group.name"]
    members.query()
    names = sorted(m.get_value("user.user_name") for m in members)
    check(names == facts["members"], f"members {names} != {facts['members']}")
    for member in members:
        check(member.get_value("group.name") == "Service Desk", "group.name")
        check(member.get_display_value("user") != "", "user display value")

    groups = client.GlideRecord("sys_user_grmember")
    groups.add_query("user.user_name", "itil.user")
    groups.fields = "group.name"
    groups.query()
    names = sorted(g.get_value("group.name") for g in groups)
    check(names == facts["groups_of_itil_user"], f"groups {names}")


def ci_lookup(url, facts):
    """Find a configuration item by name, then the computers assigned to a person."""
    client = client_for(url, "itil.user")
    ci = client.GlideRecord("cmdb_ci")
    check(ci.get("name", "LT-0201"), "the CI by name, on cmdb_ci")
    check(ci.get_value("sys_class_name") == "cmdb_ci_computer", "a computer's class")
    check(ci.get_display_value("assigned_to") == "Ada Quinn", "assigned to")
    check(ci.get_display_value("install_status") == "Installed", "status display value")
    check(ci.get_element("ram") is None, "cmdb_ci has no RAM field")

    computers = client.GlideRecord("cmdb_ci_computer")
    computers.add_query("assigned_to.user_name", "ada.quinn")
    computers.fields = "name,os,ram,form_factor,warranty_expiration,sys_class_name"
    computers.query()
    check(computers.get_row_count() == 1, "one computer for Ada")
    computers.next()
    check(computers.get_value("ram") == "16384", f"ram {computers.get_value('ram')!r}")
    check(computers.get_display_value("form_factor") == "Laptop", "form factor label")
    check(computers.get_value("name") == "LT-0201", "the same CI from its own table")

    expired = client.GlideRecord("cmdb_ci_computer")
    expired.add_query("warranty_expiration", "<", facts["now"])
    expired.fields = "name"
    expired.query()
    names = sorted(c.get_value("name") for c in expired)
    check(names == facts["expired"], f"out of warranty {names} != {facts['expired']}")

    hardware = client.GlideRecord("cmdb_ci")
    hardware.add_query("sys_class_name", "INSTANCEOF", "cmdb_ci_hardware")
    hardware.query()
    check(hardware.get_row_count() == facts["hardware"], "INSTANCEOF counts the branch")


def syslog_in_batches(url, facts):
    """Read the whole system log, a page at a time, and summarise it by level."""
    client = client_for(url, "admin")
    log = client.GlideRecord("syslog", batch_size=250)
    log.add_query("sys_created_on", ">=", facts["since"])
    log.order_by("sys_created_on")
    log.fields = "level,source,message,sys_created_on"
    log.query()
    total = log.get_row_count()
    check(total >= 1000 and total == facts["rows"], f"row count {total}")
    seen = set()
    levels = collections.Counter()
    previous = ""
    for row in log:
        seen.add(row.get_value("sys_id"))
        levels[row.get_display_value("level")] += 1
        created = row.get_value("sys_created_on")
        check(created >= previous, "in the order asked")
        previous = created
    check(len(seen) == total, f"read {len(seen)} distinct rows of {total}")
    check(set(levels) == {"Information", "Warning", "Error"}, f"levels {dict(levels)}")
    check(levels["Information"] > levels["Error"], "mostly information")

    # An itil user is not allowed the log: the count says 1,500, the pages hold nothing.
    denied = client_for(url, "itil.user").GlideRecord("syslog", batch_size=250)
    denied.query()
    check(denied.get_row_count() == facts["rows"], "the count is before the ACL")
    check(sum(1 for _ in denied) == 0, "no row is readable")


def update_and_delete_many(url, facts):
    """An outage: log a dozen incidents, route them all to one group at once, then clean up."""
    client = client_for(url, "itil.user")
    for i in range(12):
        incident = client.GlideRecord("incident")
        incident.initialize()
        incident.short_description = f"Outage batch {i:02d}"
        incident.caller_id = "Ben Ortiz"
        check(incident.insert() is not None, "insert")
    network = client.GlideRecord("sys_user_group")
    check(network.get("name", "Network"), "the Network group")

    outage = client.GlideRecord("incident", batch_size=5)
    outage.add_query("short_description", "STARTSWITH", "Outage batch")
    outage.query()
    check(outage.get_row_count() == 12, "the outage's incidents")
    for incident in outage:
        incident.assignment_group = network.sys_id
        incident.urgency = "1"
    check(outage.update_multiple(), "update_multiple went through the batch API")

    again = client.GlideRecord("incident", batch_size=50)
    again.add_query("short_description", "STARTSWITH", "Outage batch")
    again.query()
    for incident in again:
        check(incident.get_display_value("assignment_group") == "Network", "routed")
        check(incident.get_value("priority") == "3", "priority follows the new urgency")
        check(incident.get_value("sys_mod_count") == "1", "one update each")
        check(incident.get_display_value("caller_id") == "Ben Ortiz", "reference given by name")

    # Deleting needs admin: the itil user's batch is refused item by item.
    check(not again.delete_multiple(), "itil cannot delete")
    still = client.GlideRecord("incident")
    still.add_query("short_description", "STARTSWITH", "Outage batch")
    still.query()
    check(still.get_row_count() == 12, "nothing went")

    admin = client_for(url, "admin").GlideRecord("incident")
    admin.add_query("short_description", "STARTSWITH", "Outage batch")
    check(admin.delete_multiple(), "admin deletes them all")
    gone = client.GlideRecord("incident")
    gone.add_query("short_description", "STARTSWITH", "Outage batch")
    gone.query()
    check(gone.get_row_count() == 0, "all deleted")


def attachments_on_a_problem(url, facts):
    """Attach a log and a list of affected users to a problem, then read them back."""
    from pysnc.exceptions import RoleException

    itil = client_for(url, "itil.user").GlideRecord("problem")
    check(itil.get("number", facts["problem"]), "the problem")
    try:
        itil.add_attachment("refused.txt", b"no", "text/plain")
        check(False, "itil users are refused the Attachment API by default")
    except RoleException:
        pass

    problem = client_for(url, "admin").GlideRecord("problem")
    check(problem.get("number", facts["problem"]), "the problem, as admin")
    log = b"2024-05-01 10:00:01 sync failed: certificate changed\n" * 40
    location = problem.add_attachment("mail-sync.log", log, "text/plain")
    check("/attachment/" in location, f"Location {location!r}")
    csv = "user_name,device\nada.quinn,iPhone 15\nben.ortiz,Pixel 8\n".encode()
    problem.add_attachment("affected.csv", csv, "text/csv")

    attachments = problem.get_attachments()
    found = {}
    for attachment in attachments:
        found[attachment.file_name] = (attachment.content_type, attachment.read())
        check(attachment.table_name == "problem", "attached to the problem table")
    check(found == {"mail-sync.log": ("text/plain", log), "affected.csv": ("text/csv", csv)}, f"attachments {sorted(found)}")
    lines = [a.readlines() for a in problem.get_attachments() if a.file_name == "affected.csv"]
    check(lines and lines[0][1] == "ada.quinn,iPhone 15", "read as lines")


SCRIPTS = {
    "problem_with_its_incidents": problem_with_its_incidents,
    "users_by_department": users_by_department,
    "group_members": group_members,
    "ci_lookup": ci_lookup,
    "syslog_in_batches": syslog_in_batches,
    "update_and_delete_many": update_and_delete_many,
    "attachments_on_a_problem": attachments_on_a_problem,
}


def main():
    if len(sys.argv) != 5 or sys.argv[3] not in SCRIPTS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    url, ca_pem, name, facts = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    os.environ["REQUESTS_CA_BUNDLE"] = ca_pem
    SCRIPTS[name](url, facts)
    print(f"{name} ok")


if __name__ == "__main__":
    main()
