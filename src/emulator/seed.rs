//! Seeds a new database: the schema's rows (users, groups, departments, locations, tasks, CIs,
//! knowledge, business rules), N incidents and a system log with plausible, varied fields, and the
//! `sys_db_object`, `sys_dictionary` and `sys_choice` rows that describe the schema.
//!
//! Deterministic for a given seed (ids, fields and ages; timestamps are relative to the
//! emulator's clock). Only ever runs on a database that has never been seeded.

use std::collections::HashMap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::clock::glide_datetime;
use super::schema::{INCIDENT, Kind, SYS_USER, Table, priority_for, schema, table};
use super::store::{self, Record};

/// The user that cannot log in with a password on the instance (only through the IdP).
pub const SSO_USER: &str = "sso.user";
/// The user that must enter a one-time code after the password.
pub const MFA_USER: &str = "mfa.user";

/// How many system log rows a new instance holds.
pub const SYSLOG_ROWS: usize = 1_500;

/// The user names of the seeded users, in the schema's order.
pub fn user_names() -> Vec<&'static str> {
    schema()
        .rows
        .iter()
        .filter(|row| row.table.name == "sys_user")
        .filter_map(|row| {
            row.values
                .iter()
                .find(|(k, _)| k == "user_name")
                .map(|(_, v)| v.as_str())
        })
        .collect()
}

/// A random 32-hex sys_id.
pub fn new_sys_id(rng: &mut impl Rng) -> String {
    let bytes: [u8; 16] = rng.random();
    hex::encode(bytes)
}

/// A sys_id that depends only on the seed and `what`, so rows keep their ids whatever else
/// the seed generates.
fn derived_id(seed: u64, what: &str) -> String {
    let digest = Sha256::digest(format!("{seed}/{what}").as_bytes());
    hex::encode(&digest[..16])
}

/// `now`, `now-3d`, `now+2h`, `now-30m` relative to `now`; anything else as written.
fn relative_time(value: &str, now: OffsetDateTime) -> Option<String> {
    let rest = value.strip_prefix("now")?;
    if rest.is_empty() {
        return Some(glide_datetime(now));
    }
    let (later, rest) = match rest.split_at_checked(1)? {
        ("+", r) => (true, r),
        ("-", r) => (false, r),
        _ => return None,
    };
    let (number, unit) = rest.split_at_checked(rest.len().checked_sub(1)?)?;
    let n: i64 = number.parse().ok()?;
    let delta = match unit {
        "d" => time::Duration::days(n),
        "h" => time::Duration::hours(n),
        "m" => time::Duration::minutes(n),
        _ => return None,
    };
    Some(glide_datetime(if later {
        now + delta
    } else {
        now - delta
    }))
}

/// The names a seeded row can be referred to by: its display value, user name, name, number.
fn keys_of(table: &Table, values: &[(String, String)]) -> Vec<String> {
    values
        .iter()
        .filter(|(k, _)| {
            *k == table.display || matches!(k.as_str(), "user_name" | "name" | "number")
        })
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Seeded rows by table and key, for references given by name.
struct Index {
    by_key: HashMap<(&'static str, String), String>,
    ids: HashMap<String, &'static str>,
}

impl Index {
    /// The sys_id `value` names in `target` (or a table extending it).
    fn resolve(&self, target: &Table, value: &str) -> Option<String> {
        if self
            .ids
            .get(value)
            .is_some_and(|class| target.contains_class(class))
        {
            return Some(value.to_string());
        }
        target
            .classes
            .iter()
            .find_map(|class| self.by_key.get(&(*class, value.to_string())).cloned())
    }
}

/// Seeds the schema's rows, `incidents` incidents and the system log, then marks the database
/// seeded. Fails (with a reason) only when the schema's rows name records that do not exist.
pub fn seed(
    conn: &mut Connection,
    seed: u64,
    incidents: usize,
    now: OffsetDateTime,
) -> Result<(), String> {
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    let ids = seed_schema_rows(&tx, seed, now)?;
    let db = |e: rusqlite::Error| e.to_string();
    let mut rng = SmallRng::seed_from_u64(seed);
    seed_incidents(&tx, &mut rng, incidents, now, &ids).map_err(db)?;
    seed_syslog(&tx, &mut rng, now, &ids).map_err(db)?;
    seed_dictionary(&tx, seed).map_err(db)?;
    store::create_indexes(&tx).map_err(db)?;
    store::mark_seeded(&tx).map_err(db)?;
    tx.commit().map_err(db)
}

/// What the generated rows refer to: seeded rows by table and key.
struct Seeded {
    by_key: HashMap<(&'static str, String), String>,
    /// Users (sys_id, user name, has roles, the computer assigned to them).
    users: Vec<SeededUser>,
}

struct SeededUser {
    sys_id: String,
    user_name: String,
    agent: bool,
    computer: Option<String>,
}

impl Seeded {
    fn id(&self, table: &'static str, key: &str) -> String {
        self.by_key
            .get(&(table, key.to_string()))
            .cloned()
            .unwrap_or_default()
    }
}

fn seed_schema_rows(conn: &Connection, seed: u64, now: OffsetDateTime) -> Result<Seeded, String> {
    let schema = schema();
    let created = glide_datetime(now - time::Duration::days(400));
    let mut index = Index {
        by_key: HashMap::new(),
        ids: HashMap::new(),
    };
    let mut row_ids = Vec::new();
    let mut per_table: HashMap<&str, usize> = HashMap::new();
    for row in &schema.rows {
        let n = per_table.entry(row.table.name).or_default();
        let explicit = row.values.iter().find(|(k, _)| k == "sys_id");
        let sys_id = match explicit {
            Some((_, id)) => id.clone(),
            None => derived_id(seed, &format!("{}/{n}", row.table.name)),
        };
        *n += 1;
        for key in keys_of(row.table, &row.values) {
            index.by_key.insert((row.table.name, key), sys_id.clone());
        }
        index.ids.insert(sys_id.clone(), row.table.name);
        row_ids.push(sys_id);
    }
    let admin = index
        .resolve(&SYS_USER, "admin")
        .ok_or("the schema seeds no admin user")?;
    let mut numbers: HashMap<&str, i64> = HashMap::new();
    let mut users = Vec::new();
    for (row, sys_id) in schema.rows.iter().zip(row_ids) {
        let table = row.table;
        let given: HashMap<&str, &str> = row
            .values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut record = Record::new();
        for column in table.columns {
            let value = match given.get(column.name) {
                Some(v) => v.to_string(),
                None => match column.default {
                    Some("javascript:gs.nowDateTime()") => given
                        .get("opened_at")
                        .map_or(created.clone(), |v| v.to_string()),
                    Some("javascript:gs.getUserID()") => admin.clone(),
                    Some(literal) => literal.to_string(),
                    None => continue,
                },
            };
            let value = match column.kind {
                Kind::Reference(target) if !value.is_empty() => {
                    let target = table_named(target)?;
                    index.resolve(target, &value).ok_or_else(|| {
                        format!(
                            "a {} row's {} names {value:?}, which no {} row is",
                            table.name, column.name, target.name
                        )
                    })?
                }
                Kind::DateTime => relative_time(&value, now).unwrap_or(value),
                _ => value,
            };
            record.insert(column.name.to_string(), value);
        }
        let stamp = record
            .get("opened_at")
            .cloned()
            .unwrap_or_else(|| created.clone());
        for (field, value) in [
            ("sys_id", sys_id.clone()),
            ("sys_created_on", stamp.clone()),
            ("sys_created_by", "system".to_string()),
            ("sys_updated_on", stamp),
            ("sys_updated_by", "system".to_string()),
            ("sys_mod_count", "0".to_string()),
        ] {
            record.insert(field.to_string(), value);
        }
        if let Some(numbering) = table.number {
            let number = record
                .get("number")
                .and_then(|n| n.strip_prefix(numbering.prefix))
                .and_then(|n| n.parse::<i64>().ok());
            let next = numbers.entry(table.name).or_insert(numbering.start);
            match number {
                Some(n) => *next = (*next).max(n + 1),
                None => {
                    record.insert("number".into(), numbering.format(*next));
                    *next += 1;
                }
            }
        }
        if table.name == "sys_user" {
            users.push(SeededUser {
                sys_id: sys_id.clone(),
                user_name: record.get("user_name").cloned().unwrap_or_default(),
                agent: record.get("roles").is_some_and(|r| !r.is_empty()),
                computer: None,
            });
        }
        store::insert(conn, table, &record).map_err(|e| e.to_string())?;
    }
    // Computers by the user they are assigned to: a caller's hardware incidents name theirs.
    for row in schema
        .rows
        .iter()
        .filter(|r| r.table.name == "cmdb_ci_computer")
    {
        let assigned = row.values.iter().find(|(k, _)| k == "assigned_to");
        let name = row.values.iter().find(|(k, _)| k == "name");
        if let (Some((_, user)), Some((_, name))) = (assigned, name)
            && let Some(user) = users.iter_mut().find(|u| u.user_name == *user)
        {
            user.computer = index
                .by_key
                .get(&("cmdb_ci_computer", name.clone()))
                .cloned();
        }
    }
    for (table_name, next) in numbers {
        store::set_counter(conn, table_name, next).map_err(|e| e.to_string())?;
    }
    Ok(Seeded {
        by_key: index.by_key,
        users,
    })
}

fn table_named(name: &str) -> Result<&'static Table, String> {
    table(name).ok_or_else(|| format!("no table {name}"))
}

/// What an incident about a subject names as its configuration item.
#[derive(Clone, Copy)]
enum Ci {
    None,
    /// A CI of this name (a service, a printer...).
    Named(&'static str),
    /// The computer assigned to the caller.
    CallersComputer,
}

/// Category, subject, configuration item, and the problem such incidents are often linked to.
const SUBJECTS: &[(&str, &str, Ci, Option<&str>)] = &[
    (
        "software",
        "Email not syncing on mobile",
        Ci::Named("Email"),
        Some("PRB0040002"),
    ),
    (
        "software",
        "Outlook crashes when opening attachments",
        Ci::Named("Email"),
        None,
    ),
    (
        "software",
        "Cannot install the approved PDF editor",
        Ci::CallersComputer,
        None,
    ),
    (
        "software",
        "Spreadsheet macros disabled after update",
        Ci::CallersComputer,
        None,
    ),
    (
        "software",
        "CRM shows a blank page after login",
        Ci::Named("CRM"),
        None,
    ),
    (
        "hardware",
        "Laptop battery drains in an hour",
        Ci::CallersComputer,
        None,
    ),
    (
        "hardware",
        "Docking station does not detect monitors",
        Ci::CallersComputer,
        None,
    ),
    (
        "hardware",
        "Printer on floor 3 jams on every job",
        Ci::Named("PRN-FLOOR3"),
        Some("PRB0040003"),
    ),
    (
        "hardware",
        "Keyboard keys unresponsive",
        Ci::CallersComputer,
        None,
    ),
    (
        "network",
        "VPN disconnects every hour",
        Ci::Named("VPN"),
        Some("PRB0040001"),
    ),
    (
        "network",
        "Wi-Fi drops in meeting room B",
        Ci::Named("AP-ROOM-B"),
        Some("PRB0040005"),
    ),
    (
        "network",
        "Cannot reach the file share",
        Ci::Named("File Share"),
        None,
    ),
    (
        "network",
        "Slow network in the branch office",
        Ci::None,
        None,
    ),
    (
        "database",
        "Reporting database query times out",
        Ci::Named("Reporting"),
        Some("PRB0040004"),
    ),
    (
        "database",
        "Nightly export job failed",
        Ci::Named("Reporting"),
        None,
    ),
    ("inquiry", "How do I request a new monitor?", Ci::None, None),
    (
        "inquiry",
        "Password reset for the HR portal",
        Ci::Named("HR Portal"),
        None,
    ),
    (
        "inquiry",
        "Access to the finance shared mailbox",
        Ci::Named("Email"),
        None,
    ),
    (
        "inquiry",
        "Question about the travel expense tool",
        Ci::None,
        None,
    ),
];

/// The group incidents of a category are assigned to.
fn group_for(category: &str) -> &'static str {
    match category {
        "software" => "Software",
        "hardware" => "Hardware",
        "network" => "Network",
        "database" => "Database",
        _ => "Service Desk",
    }
}

const NOTES: &[&str] = &[
    "Cleared the local cache and restarted the client.",
    "Replaced the faulty part; user confirmed it works.",
    "Caller confirmed the issue went away after a reboot.",
    "Applied the documented workaround from the knowledge base.",
    "Same problem as an open incident; linked and closed.",
    "Reset the account and walked the caller through login.",
];

const CHANNELS: &[&str] = &[
    "email",
    "phone",
    "self-service",
    "self-service",
    "chat",
    "walk-in",
];

/// The fields [`incident`] returns, in its order (the others are stored empty).
const INCIDENT_FIELDS: [&str; 29] = [
    "sys_id",
    "number",
    "short_description",
    "description",
    "state",
    "impact",
    "urgency",
    "priority",
    "category",
    "contact_type",
    "caller_id",
    "assignment_group",
    "assigned_to",
    "cmdb_ci",
    "problem_id",
    "opened_at",
    "opened_by",
    "active",
    "close_code",
    "close_notes",
    "resolved_at",
    "resolved_by",
    "closed_at",
    "closed_by",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
];

fn seed_incidents(
    conn: &Connection,
    rng: &mut SmallRng,
    incidents: usize,
    now: OffsetDateTime,
    seeded: &Seeded,
) -> rusqlite::Result<()> {
    let agents: Vec<&SeededUser> = seeded.users.iter().filter(|u| u.agent).collect();
    let callers: Vec<&SeededUser> = seeded.users.iter().collect();
    let close_codes: Vec<&str> = INCIDENT
        .column("close_code")
        .and_then(|c| c.choices())
        .unwrap_or(&[])
        .iter()
        .filter(|c| !c.inactive)
        .map(|c| c.value)
        .collect();
    // What each subject names, looked up once rather than per incident.
    let named = |table: &'static str, key: &str| seeded.by_key.get(&(table, key.to_string()));
    let subjects: Vec<Subject> = SUBJECTS
        .iter()
        .map(|(category, text, ci, problem)| Subject {
            category,
            text,
            group: seeded.id("sys_user_group", group_for(category)),
            ci: match ci {
                Ci::None => Some(String::new()),
                Ci::Named(name) => Some(
                    named("cmdb_ci_service", name)
                        .or_else(|| named("cmdb_ci", name))
                        .cloned()
                        .unwrap_or_default(),
                ),
                Ci::CallersComputer => None,
            },
            problem: problem.map(|number| seeded.id("problem", number)),
        })
        .collect();
    let context = IncidentContext {
        agents: &agents,
        callers: &callers,
        close_codes: &close_codes,
        subjects: &subjects,
        now,
    };
    // Rows are positional and inserted in batches: seeding 100,000 incidents must take seconds,
    // not minutes, even in a debug build.
    let mut batch: Vec<Vec<String>> = Vec::with_capacity(1024);
    for i in 0..incidents {
        batch.push(incident(rng, i, &context).into());
        if batch.len() == 1024 {
            store::insert_rows(conn, &INCIDENT, &INCIDENT_FIELDS, &batch)?;
            batch.clear();
        }
    }
    store::insert_rows(conn, &INCIDENT, &INCIDENT_FIELDS, &batch)?;
    let start = INCIDENT.number.map_or(10_001, |n| n.start);
    store::set_counter(conn, INCIDENT.name, start + incidents as i64)
}

struct IncidentContext<'a> {
    agents: &'a [&'a SeededUser],
    callers: &'a [&'a SeededUser],
    close_codes: &'a [&'a str],
    subjects: &'a [Subject],
    now: OffsetDateTime,
}

/// A subject of [`SUBJECTS`] with the sys_ids it names.
struct Subject {
    category: &'static str,
    text: &'static str,
    group: String,
    /// `None`: the caller's computer.
    ci: Option<String>,
    problem: Option<String>,
}

fn incident(rng: &mut SmallRng, i: usize, context: &IncidentContext<'_>) -> [String; 29] {
    let topic = &context.subjects[rng.random_range(0..context.subjects.len())];
    let (category, subject) = (topic.category, topic.text);
    let state = match rng.random_range(0..100) {
        0..35 => "1",
        35..65 => "2",
        65..75 => "3",
        75..87 => "6",
        87..97 => "7",
        _ => "8",
    };
    let impact = ["1", "2", "2", "3", "3", "3"][rng.random_range(0..6)];
    let urgency = ["1", "2", "2", "3", "3", "3"][rng.random_range(0..6)];
    let caller = context.callers[rng.random_range(0..context.callers.len())];
    let agent = context.agents[rng.random_range(0..context.agents.len())];
    let opener = context.agents[rng.random_range(0..context.agents.len())];
    let channel = CHANNELS[rng.random_range(0..CHANNELS.len())];
    let linked = topic.problem.is_some() && rng.random_range(0..3) < 2;
    let age_minutes = rng.random_range(10..365 * 24 * 60);
    let opened = context.now - time::Duration::minutes(age_minutes);
    let updated = opened + time::Duration::minutes(rng.random_range(0..age_minutes.max(1)));
    let opened_s = glide_datetime(opened);
    let updated_s = glide_datetime(updated);
    let resolution = matches!(state, "6" | "7");
    let (code, notes) = if resolution && !context.close_codes.is_empty() {
        (
            context.close_codes[rng.random_range(0..context.close_codes.len())],
            NOTES[rng.random_range(0..NOTES.len())],
        )
    } else {
        ("", "")
    };
    let ci = match &topic.ci {
        Some(ci) => ci.clone(),
        None => caller.computer.clone().unwrap_or_default(),
    };
    let problem_id = match &topic.problem {
        Some(id) if linked => id.clone(),
        _ => String::new(),
    };
    let when = |yes: bool, value: &String| if yes { value.clone() } else { String::new() };
    [
        new_sys_id(rng),
        format!("INC{:07}", 10_001 + i),
        subject.to_string(),
        format!("{subject}. Reported by the caller; details gathered by the service desk."),
        state.to_string(),
        impact.to_string(),
        urgency.to_string(),
        priority_for(impact, urgency).to_string(),
        category.to_string(),
        channel.to_string(),
        caller.sys_id.clone(),
        topic.group.clone(),
        when(state != "1", &agent.sys_id),
        ci,
        problem_id,
        opened_s.clone(),
        opener.sys_id.clone(),
        if matches!(state, "6" | "7" | "8") {
            "false"
        } else {
            "true"
        }
        .to_string(),
        code.to_string(),
        notes.to_string(),
        when(resolution, &updated_s),
        when(resolution, &agent.sys_id),
        when(state == "7", &updated_s),
        when(state == "7", &agent.sys_id),
        opened_s,
        opener.user_name.clone(),
        updated_s,
        agent.user_name.clone(),
        rng.random_range(0..12).to_string(),
    ]
}

/// Level, source and message shapes of the system log (`{n}` becomes a number).
const LOG_LINES: &[(&str, &str, &str)] = &[
    ("0", "SMTPSender", "Sent {n} emails in 0.{n} seconds"),
    (
        "0",
        "Scheduler",
        "Job 'SLA breach notifications' completed in {n} ms",
    ),
    ("0", "*** Script", "Incident INC00{n} assigned to its group"),
    (
        "0",
        "REST",
        "Inbound GET /api/now/table/incident answered in {n} ms",
    ),
    (
        "0",
        "Discovery",
        "Discovered {n} configuration items on 10.20.0.0/16",
    ),
    (
        "0",
        "Scheduler",
        "Job 'Autoclose resolved incidents' closed {n} incidents",
    ),
    (
        "1",
        "LDAP",
        "Connection to ldap.corp.example.com timed out after {n} ms, retrying",
    ),
    (
        "1",
        "Security",
        "Failed login for user ben.ortiz from 10.40.3.{n}",
    ),
    (
        "1",
        "Email",
        "Inbound email {n} had no matching watermark; created a new incident",
    ),
    (
        "2",
        "Evaluator",
        "org.mozilla.javascript.EcmaError: \"gr\" is not defined (sys_script line {n})",
    ),
    (
        "2",
        "Email",
        "Could not deliver notification {n}: mailbox unavailable",
    ),
];

fn seed_syslog(
    conn: &Connection,
    rng: &mut SmallRng,
    now: OffsetDateTime,
    seeded: &Seeded,
) -> rusqlite::Result<()> {
    let Some(syslog) = table("syslog") else {
        return Ok(());
    };
    const FIELDS: [&str; 9] = [
        "sys_id",
        "level",
        "source",
        "message",
        "sys_created_on",
        "sys_created_by",
        "sys_updated_on",
        "sys_updated_by",
        "sys_mod_count",
    ];
    let names: Vec<&str> = seeded.users.iter().map(|u| u.user_name.as_str()).collect();
    let mut rows = Vec::with_capacity(SYSLOG_ROWS);
    for _ in 0..SYSLOG_ROWS {
        // Mostly information, some warnings, a few errors: weight the lines accordingly.
        let line = match rng.random_range(0..100) {
            0..70 => rng.random_range(0..6),
            70..90 => rng.random_range(6..9),
            _ => rng.random_range(9..LOG_LINES.len()),
        };
        let (level, source, shape) = LOG_LINES[line];
        let at = glide_datetime(now - time::Duration::seconds(rng.random_range(0..7 * 24 * 3600)));
        let by = if source == "REST" {
            names[rng.random_range(0..names.len())].to_string()
        } else {
            "system".to_string()
        };
        rows.push(vec![
            new_sys_id(rng),
            level.to_string(),
            source.to_string(),
            shape.replace("{n}", &rng.random_range(10..9999).to_string()),
            at.clone(),
            by.clone(),
            at,
            by,
            "0".to_string(),
        ]);
    }
    store::insert_rows(conn, syslog, &FIELDS, &rows)
}

/// The rows of `sys_db_object`, `sys_dictionary` and `sys_choice` that describe the schema.
fn seed_dictionary(conn: &Connection, seed: u64) -> rusqlite::Result<()> {
    let (Some(objects), Some(dictionary), Some(choices)) = (
        table("sys_db_object"),
        table("sys_dictionary"),
        table("sys_choice"),
    ) else {
        return Ok(());
    };
    // Positional rows, inserted in batches like the incidents: the fields each table gets, then
    // the system fields every generated row shares.
    const SYSTEM: [&str; 7] = [
        "sys_created_on",
        "sys_created_by",
        "sys_updated_on",
        "sys_updated_by",
        "sys_mod_count",
        "sys_scope",
        "sys_package",
    ];
    const OBJECT: [&str; 8] = [
        "sys_id",
        "name",
        "label",
        "super_class",
        "is_extendable",
        "number_ref",
        "sys_name",
        "sys_update_name",
    ];
    const ENTRY: [&str; 15] = [
        "sys_id",
        "name",
        "element",
        "column_label",
        "internal_type",
        "reference",
        "max_length",
        "mandatory",
        "read_only",
        "display",
        "default_value",
        "choice",
        "active",
        "sys_name",
        "sys_update_name",
    ];
    const CHOICE: [&str; 8] = [
        "sys_id", "name", "element", "language", "value", "label", "sequence", "inactive",
    ];
    let with_system = |fields: &[&'static str]| -> Vec<&'static str> {
        let mut all = fields.to_vec();
        all.extend(SYSTEM);
        all
    };
    let stamped = |mut row: Vec<String>| -> Vec<String> {
        let created = "2020-01-01 00:00:00";
        for value in [
            created, "system", created, "system", "0", "global", "global",
        ] {
            row.push(value.to_string());
        }
        row
    };
    let object_id = |name: &str| derived_id(seed, &format!("sys_db_object/{name}"));
    let (mut object_rows, mut entry_rows, mut choice_rows) = (Vec::new(), Vec::new(), Vec::new());
    for table in &schema().tables {
        object_rows.push(stamped(vec![
            object_id(table.name),
            table.name.to_string(),
            table.label.to_string(),
            table.parent.map(object_id).unwrap_or_default(),
            table.extensible.to_string(),
            table
                .number
                .map(|n| n.prefix.to_string())
                .unwrap_or_default(),
            table.label.to_string(),
            format!("sys_db_object_{}", table.name),
        ]));
        // The collection entry (no element) stands for the table itself, as on instances.
        entry_rows.push(stamped(vec![
            derived_id(seed, &format!("sys_dictionary/{}", table.name)),
            table.name.to_string(),
            String::new(),
            table.label.to_string(),
            "collection".to_string(),
            String::new(),
            "40".to_string(),
            "false".to_string(),
            "false".to_string(),
            "false".to_string(),
            String::new(),
            "0".to_string(),
            "true".to_string(),
            table.label.to_string(),
            format!("sys_dictionary_{}_null", table.name),
        ]));
        for column in table.own_columns() {
            let reference = match column.kind {
                Kind::Reference(target) => target,
                _ => "",
            };
            entry_rows.push(stamped(vec![
                derived_id(
                    seed,
                    &format!("sys_dictionary/{}/{}", table.name, column.name),
                ),
                table.name.to_string(),
                column.name.to_string(),
                column.label.to_string(),
                column.internal_type.to_string(),
                reference.to_string(),
                column.max_length.to_string(),
                column.mandatory.to_string(),
                column.name.starts_with("sys_").to_string(),
                (table.display == column.name).to_string(),
                column.default.unwrap_or("").to_string(),
                if column.choices().is_some() { "1" } else { "0" }.to_string(),
                "true".to_string(),
                column.label.to_string(),
                format!("sys_dictionary_{}_{}", table.name, column.name),
            ]));
        }
        for column in table
            .columns
            .iter()
            .filter(|c| c.choices_from == table.name)
        {
            for (i, choice) in column.choices().unwrap_or(&[]).iter().enumerate() {
                choice_rows.push(stamped(vec![
                    derived_id(
                        seed,
                        &format!("sys_choice/{}/{}/{}", table.name, column.name, choice.value),
                    ),
                    table.name.to_string(),
                    column.name.to_string(),
                    "en".to_string(),
                    choice.value.to_string(),
                    choice.label.to_string(),
                    (i + 1).to_string(),
                    choice.inactive.to_string(),
                ]));
            }
        }
    }
    store::insert_rows(conn, objects, &with_system(&OBJECT), &object_rows)?;
    store::insert_rows(conn, dictionary, &with_system(&ENTRY), &entry_rows)?;
    // sys_choice is no application file: it has no scope or package.
    let choice_fields = with_system(&CHOICE);
    let width = choice_fields.len() - 2;
    let choice_rows: Vec<Vec<String>> = choice_rows
        .into_iter()
        .map(|mut row| {
            row.truncate(width);
            row
        })
        .collect();
    store::insert_rows(conn, choices, &choice_fields[..width], &choice_rows)
}

#[cfg(test)]
mod tests {
    use super::super::query::EncodedQuery;
    use super::super::store::Store;
    use super::*;

    #[test]
    fn seeding_is_deterministic_and_plausible() {
        let now = OffsetDateTime::now_utc();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let dir = tempfile::tempdir().unwrap();
            let (store, _) = Store::open(&dir.path().join("s.db")).unwrap();
            store.with(|conn| seed(conn, 7, 200, now).unwrap());
            let rows = store.with(|conn| {
                let q = EncodedQuery::parse("ORDERBYnumber").to_sql(&INCIDENT);
                store::select(conn, &INCIDENT, &q, None, 0).unwrap()
            });
            assert_eq!(rows.len(), 200);
            assert_eq!(rows[0]["number"], "INC0010001");
            assert_eq!(rows[199]["number"], "INC0010200");
            let categories = INCIDENT.column("category").unwrap().choices().unwrap();
            for row in &rows {
                assert_eq!(row["sys_id"].len(), 32);
                assert_eq!(row["sys_class_name"], "incident");
                assert!(categories.iter().any(|c| c.value == row["category"]));
                assert!(!row["assignment_group"].is_empty());
                if matches!(row["state"].as_str(), "6" | "7") {
                    assert!(!row["close_code"].is_empty() && !row["close_notes"].is_empty());
                }
                assert_eq!(
                    row["priority"],
                    priority_for(&row["impact"], &row["urgency"])
                );
            }
            let states: std::collections::BTreeSet<&str> =
                rows.iter().map(|r| r["state"].as_str()).collect();
            assert!(states.len() >= 5, "{states:?}");
            assert!(rows.iter().any(|r| !r["problem_id"].is_empty()));
            assert!(rows.iter().any(|r| !r["cmdb_ci"].is_empty()));
            ids.push(rows.iter().map(|r| r["sys_id"].clone()).collect::<Vec<_>>());
            let next = store.with(|conn| store::next_counter(conn, "incident", 0).unwrap());
            assert_eq!(next, 10_201);
            let next = store.with(|conn| store::next_counter(conn, "problem", 0).unwrap());
            assert_eq!(next, 40_006, "after the seeded problems");
            let syslog = table("syslog").unwrap();
            let logged = store.with(|conn| {
                store::count(conn, syslog, &EncodedQuery::default().to_sql(syslog)).unwrap()
            });
            assert_eq!(logged, SYSLOG_ROWS);
        }
        assert_eq!(ids[0], ids[1]);
    }

    #[test]
    fn seeded_rows_refer_by_name_and_the_admin_keeps_its_id() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("s.db")).unwrap();
        store.with(|conn| seed(conn, 7, 0, OffsetDateTime::now_utc()).unwrap());
        store.with(|conn| {
            let admin = store::find_by(conn, &SYS_USER, "user_name", "admin")
                .unwrap()
                .unwrap();
            assert_eq!(admin["sys_id"], "6816f79cc0a8016401c5a33be04be441");
            let ivy = store::find_by(conn, &SYS_USER, "user_name", "itil.user")
                .unwrap()
                .unwrap();
            let ian = store::find_by(conn, &SYS_USER, "user_name", "itil.admin")
                .unwrap()
                .unwrap();
            assert_eq!(ivy["manager"], ian["sys_id"]);
            let it = store::find_by(conn, table("cmn_department").unwrap(), "name", "IT")
                .unwrap()
                .unwrap();
            assert_eq!(ivy["department"], it["sys_id"]);
            let vpn = store::find_by(conn, table("cmdb_ci").unwrap(), "name", "VPN")
                .unwrap()
                .unwrap();
            assert_eq!(
                vpn["sys_class_name"], "cmdb_ci_service",
                "read through cmdb_ci"
            );
            let problem = store::find_by(conn, table("problem").unwrap(), "number", "PRB0040001")
                .unwrap()
                .unwrap();
            assert_eq!(problem["cmdb_ci"], vpn["sys_id"]);
            assert!(!problem["opened_at"].is_empty() && !problem["opened_at"].starts_with("now"));
        });
        assert!(user_names().contains(&"sso.user"));
        assert_eq!(user_names().len(), 13);
    }

    #[test]
    fn relative_times() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(relative_time("now", now).unwrap(), "2023-11-14 22:13:20");
        assert_eq!(relative_time("now-1d", now).unwrap(), "2023-11-13 22:13:20");
        assert_eq!(relative_time("now+2h", now).unwrap(), "2023-11-15 00:13:20");
        assert_eq!(
            relative_time("now-30m", now).unwrap(),
            "2023-11-14 21:43:20"
        );
        assert_eq!(relative_time("now-xd", now), None);
        assert_eq!(relative_time("2024-01-01 00:00:00", now), None);
    }
}
