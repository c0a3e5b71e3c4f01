//! Help-desk scripts written as people write them for a real instance, run with pysnc (PyPI,
//! unchanged) against the emulator over TLS (tests/pysnc_helpdesk.py does the talking): a
//! problem with its incidents, users by department with dot-walked managers, a group's members,
//! a CI lookup, the system log read in batches, many records updated and deleted through pysnc's
//! Batch API calls, attachments on a problem. The facts each script compares with are read here
//! from the emulator's store. Needs the virtualenv that scripts/pysnc-check.sh creates.

#[path = "common/pysnc.rs"]
mod pysnc;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use snowbridge::emulator::{Control, Emulator, EmulatorConfig};

fn start(incidents: usize) -> Emulator {
    Emulator::start(EmulatorConfig {
        tls: true,
        incidents,
        ..EmulatorConfig::default()
    })
    .expect("the emulator starts")
}

fn text(value: &Value) -> String {
    value.as_str().map(String::from).unwrap_or_default()
}

/// A field of a record, raw.
fn field(control: &Control, table: &str, sys_id: &str, name: &str) -> String {
    control
        .record(table, sys_id)
        .map(|r| text(&r[name]))
        .unwrap_or_default()
}

/// `YYYY-MM-DD HH:MM:SS`, `days` from now.
fn glide_time(days: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

fn run(emu: &Emulator, script: &str, facts: Value) {
    pysnc::run(
        emu,
        "pysnc_helpdesk.py",
        &[script, &facts.to_string()],
        &format!("{script} ok"),
    );
}

#[test]
fn a_problem_with_its_incidents() {
    let emu = start(300);
    let control = emu.control();
    let problem = text(&control.record("problem", "PRB0040001").unwrap()["sys_id"]);
    let mut incidents: Vec<String> = control
        .sys_ids("incident", &format!("problem_id={problem}"))
        .iter()
        .map(|id| field(&control, "incident", id, "number"))
        .collect();
    incidents.sort();
    assert!(
        incidents.len() > 3,
        "300 incidents link several to the VPN problem"
    );
    run(
        &emu,
        "problem_with_its_incidents",
        json!({"problem": "PRB0040001", "incidents": incidents}),
    );
}

#[test]
fn users_by_department_with_their_managers() {
    let emu = start(5);
    let control = emu.control();
    let mut departments: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut reports_to_ian = Vec::new();
    for id in control.sys_ids("sys_user", "active=true") {
        let user = control.record("sys_user", &id).unwrap();
        let department = field(
            &control,
            "cmn_department",
            &text(&user["department"]),
            "name",
        );
        let manager = field(&control, "sys_user", &text(&user["manager"]), "name");
        if manager == "Ian Adler" && department == "IT" {
            reports_to_ian.push(text(&user["user_name"]));
        }
        departments
            .entry(department)
            .or_default()
            .insert(text(&user["user_name"]), manager);
    }
    reports_to_ian.sort();
    assert_eq!(departments.len(), 7, "every user has a department");
    run(
        &emu,
        "users_by_department",
        json!({"departments": departments, "reports_to_ian": reports_to_ian}),
    );
}

#[test]
fn a_groups_members() {
    let emu = start(5);
    let control = emu.control();
    let users_of = |query: &str, field_name: &str, table: &str, name: &str| -> Vec<String> {
        let mut found: Vec<String> = control
            .sys_ids("sys_user_grmember", query)
            .iter()
            .map(|id| {
                let target = field(&control, "sys_user_grmember", id, field_name);
                field(&control, table, &target, name)
            })
            .collect();
        found.sort();
        found
    };
    let members = users_of("group.name=Service Desk", "user", "sys_user", "user_name");
    let groups = users_of(
        "user.user_name=itil.user",
        "group",
        "sys_user_group",
        "name",
    );
    assert_eq!(members.len(), 4);
    run(
        &emu,
        "group_members",
        json!({"members": members, "groups_of_itil_user": groups}),
    );
}

#[test]
fn a_ci_lookup() {
    let emu = start(5);
    let control = emu.control();
    let now = glide_time(0);
    let mut expired: Vec<String> = control
        .sys_ids("cmdb_ci_computer", &format!("warranty_expiration<{now}"))
        .iter()
        .map(|id| field(&control, "cmdb_ci_computer", id, "name"))
        .collect();
    expired.sort();
    assert!(!expired.is_empty(), "a computer out of warranty");
    let hardware = control.count("cmdb_ci", "sys_class_nameINSTANCEOFcmdb_ci_hardware");
    run(
        &emu,
        "ci_lookup",
        json!({"now": now, "expired": expired, "hardware": hardware}),
    );
}

#[test]
fn a_thousand_syslog_rows_in_batches() {
    let emu = start(5);
    let control = emu.control();
    let since = glide_time(-8);
    let rows = control.count("syslog", &format!("sys_created_on>={since}"));
    assert!(rows >= 1000);
    control.clear_request_log();
    run(
        &emu,
        "syslog_in_batches",
        json!({"since": since, "rows": rows}),
    );
    let pages: BTreeSet<String> = control
        .request_log()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/now/table/syslog?") && r.status == 200)
        .filter(|r| r.user.as_deref() == Some("admin"))
        .filter_map(|r| {
            url::Url::parse(&format!("https://x{}", r.path_and_query))
                .ok()?
                .query_pairs()
                .find(|(k, _)| k == "sysparm_offset")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    let expected: BTreeSet<String> = (0..rows.div_ceil(250))
        .map(|page| (page * 250).to_string())
        .collect();
    assert_eq!(pages, expected, "read in pages of 250, each once");
}

#[test]
fn many_records_updated_and_deleted_through_the_batch_api() {
    let emu = start(5);
    let control = emu.control();
    control.clear_request_log();
    run(&emu, "update_and_delete_many", json!({}));
    let batches: Vec<(Option<String>, u16)> = control
        .request_log()
        .iter()
        .filter(|r| r.method == "POST" && r.path_and_query == "/api/now/v1/batch")
        .map(|r| (r.user.clone(), r.status))
        .collect();
    assert_eq!(
        batches,
        [
            (Some("itil.user".to_string()), 200),
            (Some("itil.user".to_string()), 200),
            (Some("admin".to_string()), 200),
        ],
        "update_multiple, the refused delete_multiple, the admin's delete_multiple"
    );
    assert!(
        !control.request_log().iter().any(|r| r.method == "PATCH"),
        "the updates went in the batch, not one by one"
    );
    assert_eq!(
        control.count("incident", "short_descriptionSTARTSWITHOutage batch"),
        0
    );
}

#[test]
fn attachments_on_a_problem() {
    let emu = start(5);
    let control = emu.control();
    let problem = text(&control.record("problem", "PRB0040002").unwrap()["sys_id"]);
    run(
        &emu,
        "attachments_on_a_problem",
        json!({"problem": "PRB0040002"}),
    );
    let attached: Vec<(String, String, String)> = control
        .attachments(&problem)
        .into_iter()
        .map(|a| (a.file_name, a.content_type, a.table_name))
        .collect();
    assert_eq!(
        attached,
        [
            (
                "mail-sync.log".into(),
                "text/plain".into(),
                "problem".into()
            ),
            ("affected.csv".into(), "text/csv".into(), "problem".into()),
        ]
    );
}
