//! The instance's rules for reading and writing records, shared by the Table API, JSONv2, the
//! Batch and Aggregate APIs and the incident form: who may read, write and delete which table
//! (the schema's access roles), how incoming values are read (display values for references and
//! choices, read-only fields ignored, strings cut to their length), dictionary defaults, the
//! resolution data policy, the web-service state ACL, and the fields business rules derive
//! (number, priority, active, resolved/closed stamps, the system fields).
//!
//! Works on a store connection; knows nothing of HTTP. Callers map [`Denied`] to their replies.
//! A write through a parent table (`task`) applies the rules of the record's own class.

use rusqlite::Connection;
use serde_json::Value;
use time::OffsetDateTime;

use super::auth::Principal;
use super::clock::glide_datetime;
use super::schema::{
    INCIDENT, Kind, STATE_CLOSED, STATE_RESOLVED, SYS_ATTACHMENT, Table, priority_for, table,
};
use super::seed::new_sys_id;
use super::store::{self, Record};

/// Where a write comes from: web services are subject to the state ACL, the form is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    WebService,
    Form,
}

/// A UI action on the incident form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Save,
    Resolve,
    Close,
}

/// Why a write was refused.
#[derive(Debug)]
pub enum Denied {
    NotFound,
    /// An ACL refused the operation ("Insert", "Update", "Delete").
    Acl(&'static str),
    /// The resolution data policy: these mandatory fields (labels) are missing.
    DataPolicy(Vec<&'static str>),
    /// Closing needs itil_admin or admin.
    CloseNeedsRole,
    Store(String),
}

impl From<rusqlite::Error> for Denied {
    fn from(e: rusqlite::Error) -> Self {
        Denied::Store(e.to_string())
    }
}

impl Denied {
    /// The instance's message for this refusal (and the detail/reason beside it).
    pub fn message(&self) -> (String, Option<String>) {
        match self {
            Denied::NotFound => (
                "No Record found".into(),
                Some("Record doesn't exist or ACL restricts the record retrieval".into()),
            ),
            Denied::Acl(op) => (
                "Operation Failed".into(),
                Some(format!(
                    "ACL Exception {op} Failed due to security constraints"
                )),
            ),
            Denied::DataPolicy(labels) => {
                let message = data_policy_message(labels);
                (message.clone(), Some(message))
            }
            Denied::CloseNeedsRole => (
                "Operation Failed".into(),
                Some("ACL Exception Update Failed due to security constraints".into()),
            ),
            Denied::Store(e) => ("Internal Server Error".into(), Some(e.clone())),
        }
    }
}

/// "Data Policy Exception: The following fields are mandatory: Resolution code, ...".
pub fn data_policy_message(labels: &[&str]) -> String {
    format!(
        "Data Policy Exception: The following fields are mandatory: {}",
        labels.join(", ")
    )
}

/// Does `principal` hold one of `roles` (`*`: anyone logged in; admin: always)?
fn holds_any(principal: &Principal, roles: &[&str]) -> bool {
    roles.iter().any(|r| *r == "*" || principal.has_role(r))
}

/// May `principal` create or change records of `table`?
pub fn can_write(principal: &Principal, table: &Table) -> bool {
    !table.read_only && holds_any(principal, table.access.write)
}

/// May `principal` delete records of `table`?
pub fn can_delete(principal: &Principal, table: &Table) -> bool {
    !table.read_only && holds_any(principal, table.access.delete)
}

/// Which records of a table a principal may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readable {
    All,
    /// Only those whose field names them (callers see the incidents they reported).
    Own(&'static str, String),
    Nothing,
}

impl Readable {
    /// May a record holding `value` in the restricting field be read?
    pub fn allows(&self, value: Option<&str>) -> bool {
        match self {
            Readable::All => true,
            Readable::Own(_, me) => value == Some(me.as_str()),
            Readable::Nothing => false,
        }
    }

    /// The field each row must be checked on, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Readable::Own(field, _) => Some(field),
            _ => None,
        }
    }
}

/// Which records of `table` `principal` may read. Like instances, the APIs apply this after
/// `sysparm_limit`, so a page may hold fewer rows than asked (or none).
pub fn readable(principal: &Principal, table: &Table) -> Readable {
    if holds_any(principal, table.access.read) {
        Readable::All
    } else if let Some(field) = table.access.read_own {
        Readable::Own(field, principal.sys_id.clone())
    } else {
        Readable::Nothing
    }
}

/// May `principal` read `record` of `table`?
pub fn can_read(principal: &Principal, table: &Table, record: &Record) -> bool {
    let rule = readable(principal, table);
    let value = rule.field().and_then(|f| record.get(f)).map(String::as_str);
    rule.allows(value)
}

/// A JSON value as the string an instance stores (`{"value":..}` objects give their value).
pub fn json_to_wire(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Object(map) => map.get("value").and_then(json_to_wire),
        Value::Array(_) => None,
    }
}

/// Fields a client may not set (system fields, and those business rules compute).
pub fn read_only(table: &Table, field: &str, inserting: bool) -> bool {
    let system = matches!(
        field,
        "sys_created_on"
            | "sys_created_by"
            | "sys_updated_on"
            | "sys_updated_by"
            | "sys_mod_count"
            | "sys_class_name"
    );
    let insert_only = matches!(field, "sys_id" | "number");
    let derived = (table.priority_lookup && field == "priority")
        || (!table.inactive_states.is_empty() && field == "active");
    system || derived || (insert_only && !inserting)
}

/// Reads incoming `fields` for `table`: unknown and read-only fields dropped, references given by
/// name (or user name, number, display value) resolved to sys_ids, choices given by label turned
/// into values, strings cut to the field's length.
pub fn incoming(
    conn: &Connection,
    table: &Table,
    fields: impl IntoIterator<Item = (String, String)>,
    inserting: bool,
) -> Result<Record, Denied> {
    let mut out = Record::new();
    for (name, value) in fields {
        let Some(column) = table.column(&name) else {
            continue;
        };
        if read_only(table, column.name, inserting) {
            continue;
        }
        let value = match column.kind {
            Kind::Reference(target) if !value.is_empty() => resolve_reference(conn, target, value)?,
            Kind::Choice { choices, .. } => {
                if choices.iter().any(|c| c.value == value) {
                    value
                } else {
                    choices
                        .iter()
                        .find(|c| c.label == value)
                        .map(|c| c.value.to_string())
                        .unwrap_or(value)
                }
            }
            _ => value,
        };
        let value = match column.kind {
            Kind::String | Kind::Choice { numeric: false, .. }
                if value.chars().count() > column.max_length =>
            {
                value.chars().take(column.max_length).collect()
            }
            _ => value,
        };
        out.insert(column.name.to_string(), value);
    }
    Ok(out)
}

fn resolve_reference(conn: &Connection, target: &str, value: String) -> Result<String, Denied> {
    let Some(target) = table(target) else {
        return Ok(value);
    };
    if store::get(conn, target, &value)?.is_some() {
        return Ok(value);
    }
    for field in [target.display, "user_name", "name", "number"] {
        if field != "sys_id"
            && target.column(field).is_some()
            && let Some(record) = store::find_by(conn, target, field, &value)?
        {
            return Ok(record.get("sys_id").cloned().unwrap_or(value));
        }
    }
    Ok(value)
}

/// Labels of the resolution fields `record` lacks (empty when the data policy is satisfied): a
/// resolution code that is an active choice, and notes.
pub fn missing_resolution_fields(record: &Record) -> Vec<&'static str> {
    let mut missing = Vec::new();
    let code = record.get("close_code").map(String::as_str).unwrap_or("");
    let valid = INCIDENT
        .column("close_code")
        .and_then(|c| c.choices())
        .is_some_and(|choices| choices.iter().any(|c| c.value == code && !c.inactive));
    if !valid {
        missing.push(label("close_code"));
    }
    let notes = record.get("close_notes").map(String::as_str).unwrap_or("");
    if notes.trim().is_empty() {
        missing.push(label("close_notes"));
    }
    missing
}

fn label(field: &str) -> &'static str {
    INCIDENT.column(field).map_or("", |c| c.label)
}

fn is_resolution(state: &str) -> bool {
    state == STATE_RESOLVED || state == STATE_CLOSED
}

/// Settings the rules read from the emulator's configuration.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub web_service_state_acl: bool,
}

/// Checks the incident rules for moving from `before` (None on insert) to `after`.
fn check_incident(
    principal: &Principal,
    before: Option<&Record>,
    after: &Record,
    channel: Channel,
    policy: Policy,
) -> Result<(), Denied> {
    let old_state = before.and_then(|r| r.get("state")).map(String::as_str);
    let new_state = after.get("state").map(String::as_str).unwrap_or("");
    if is_resolution(new_state) {
        let missing = missing_resolution_fields(after);
        if !missing.is_empty() {
            return Err(Denied::DataPolicy(missing));
        }
    }
    let moving = Some(new_state) != old_state && is_resolution(new_state);
    if moving {
        let privileged = principal.has_role("itil_admin");
        if channel == Channel::WebService && policy.web_service_state_acl && !privileged {
            return Err(Denied::Acl("Update"));
        }
        if new_state == STATE_CLOSED && !privileged {
            return Err(match channel {
                Channel::WebService => Denied::Acl("Update"),
                Channel::Form => Denied::CloseNeedsRole,
            });
        }
    }
    Ok(())
}

/// Business rules (listed in the seeded `sys_script` rows): priority from impact and urgency,
/// active from state, who resolved and closed a record and when.
fn derive(
    table: &Table,
    record: &mut Record,
    before: Option<&Record>,
    principal: &Principal,
    now: &str,
) {
    if table.priority_lookup {
        let impact = record.get("impact").cloned().unwrap_or_default();
        let urgency = record.get("urgency").cloned().unwrap_or_default();
        record.insert(
            "priority".into(),
            priority_for(&impact, &urgency).to_string(),
        );
    }
    if table.inactive_states.is_empty() {
        return;
    }
    let state = record.get("state").cloned().unwrap_or_default();
    let inactive = table.inactive_states.contains(&state.as_str());
    record.insert("active".into(), (!inactive).to_string());
    let old_state = before.and_then(|r| r.get("state")).cloned();
    if old_state.as_deref() == Some(state.as_str()) {
        return;
    }
    let empty = |r: &Record, k: &str| r.get(k).is_none_or(|v| v.is_empty());
    let stamp = |record: &mut Record, at: &str, by: &str| {
        record.insert(at.into(), now.to_string());
        record.insert(by.into(), principal.sys_id.clone());
    };
    if table.name == INCIDENT.name {
        if state == STATE_RESOLVED || (state == STATE_CLOSED && empty(record, "resolved_at")) {
            stamp(record, "resolved_at", "resolved_by");
        }
        if state == STATE_CLOSED {
            stamp(record, "closed_at", "closed_by");
        }
    } else if inactive && empty(record, "closed_at") && table.column("closed_at").is_some() {
        stamp(record, "closed_at", "closed_by");
    }
}

/// The value of a dictionary default for a new record.
fn default_value(default: &str, principal: &Principal, stamp: &str) -> String {
    match default {
        "javascript:gs.nowDateTime()" => stamp.to_string(),
        "javascript:gs.getUserID()" => principal.sys_id.clone(),
        literal => literal.to_string(),
    }
}

/// Inserts a record of `table` built from `fields` (already read with [`incoming`]).
pub fn insert(
    conn: &Connection,
    now: OffsetDateTime,
    principal: &Principal,
    table: &'static Table,
    fields: Record,
    channel: Channel,
    policy: Policy,
) -> Result<Record, Denied> {
    if !can_write(principal, table) {
        return Err(Denied::Acl("Insert"));
    }
    let stamp = glide_datetime(now);
    let mut record = fields;
    // A sys_id the client chose is kept, as instances keep one (a 32-hex id not yet taken).
    let wanted_id = record
        .remove("sys_id")
        .filter(|id| id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()));
    let sys_id = match wanted_id {
        Some(id) if !store::sys_id_taken(conn, table, &id)? => id,
        _ => new_sys_id(&mut rand::rng()),
    };
    record.insert("sys_id".into(), sys_id);
    for column in table.columns {
        if let Some(default) = column.default
            && !record.contains_key(column.name)
        {
            record.insert(
                column.name.to_string(),
                default_value(default, principal, &stamp),
            );
        }
    }
    for (field, value) in [
        ("sys_created_on", stamp.clone()),
        ("sys_created_by", principal.user.clone()),
        ("sys_updated_on", stamp.clone()),
        ("sys_updated_by", principal.user.clone()),
        ("sys_mod_count", "0".into()),
        ("sys_class_name", table.name.to_string()),
    ] {
        if table.column(field).is_some() {
            record.insert(field.to_string(), value);
        }
    }
    if table.name == INCIDENT.name {
        check_incident(principal, None, &record, channel, policy)?;
    }
    derive(table, &mut record, None, principal, &stamp);
    if let Some(numbering) = table.number
        && record.get("number").is_none_or(|n| n.is_empty())
    {
        let n = store::next_counter(conn, table.name, numbering.start)?;
        record.insert("number".into(), numbering.format(n));
    }
    store::insert(conn, table, &record)?;
    Ok(record)
}

/// Updates record `sys_id` of `table` (or of a table extending it) with `changes` (read with
/// [`incoming`]) and the form `action`, under the rules of the record's own class.
#[allow(clippy::too_many_arguments)]
pub fn update(
    conn: &Connection,
    now: OffsetDateTime,
    principal: &Principal,
    table: &'static Table,
    sys_id: &str,
    changes: Record,
    action: Action,
    channel: Channel,
    policy: Policy,
) -> Result<Record, Denied> {
    let class = store::class_of(conn, table, sys_id)?.ok_or(Denied::NotFound)?;
    let before = store::get(conn, class, sys_id)?.ok_or(Denied::NotFound)?;
    if !can_write(principal, class) {
        return Err(Denied::Acl("Update"));
    }
    let mut after = before.clone();
    after.extend(changes);
    match action {
        Action::Save => {}
        Action::Resolve => {
            after.insert("state".into(), STATE_RESOLVED.into());
        }
        Action::Close => {
            after.insert("state".into(), STATE_CLOSED.into());
        }
    }
    let stamp = glide_datetime(now);
    if class.name == INCIDENT.name {
        check_incident(principal, Some(&before), &after, channel, policy)?;
    }
    derive(class, &mut after, Some(&before), principal, &stamp);
    after.insert("sys_id".into(), sys_id.to_string());
    if after != before {
        let count: u64 = before
            .get("sys_mod_count")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        after.insert("sys_mod_count".into(), (count + 1).to_string());
        after.insert("sys_updated_on".into(), stamp);
        after.insert("sys_updated_by".into(), principal.user.clone());
        store::update(conn, class, sys_id, &after)?;
    }
    Ok(after)
}

/// Deletes record `sys_id` of `table` (or of a table extending it), and, as instances do, its
/// attachments.
pub fn delete(
    conn: &Connection,
    principal: &Principal,
    table: &'static Table,
    sys_id: &str,
) -> Result<Record, Denied> {
    let class = store::class_of(conn, table, sys_id)?.ok_or(Denied::NotFound)?;
    let before = store::get(conn, class, sys_id)?.ok_or(Denied::NotFound)?;
    if !can_delete(principal, class) {
        return Err(Denied::Acl("Delete"));
    }
    store::delete(conn, class, sys_id)?;
    let attachments = super::query::EncodedQuery::parse(&format!("table_sys_id={sys_id}"))
        .to_sql(&SYS_ATTACHMENT);
    for id in store::select_ids(conn, &SYS_ATTACHMENT, &attachments, None)? {
        store::delete(conn, &SYS_ATTACHMENT, &id)?;
        store::delete_attachment_data(conn, &id)?;
    }
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::super::auth::Via;
    use super::super::schema::SYS_USER;
    use super::super::seed;
    use super::super::store::Store;
    use super::*;

    fn setup() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("r.db")).unwrap();
        store.with(|c| seed::seed(c, 1, 5, OffsetDateTime::now_utc()).unwrap());
        (dir, store)
    }

    fn who(conn: &Connection, user: &str) -> Principal {
        let r = store::find_by(conn, &SYS_USER, "user_name", user)
            .unwrap()
            .unwrap();
        Principal {
            user: user.into(),
            sys_id: r["sys_id"].clone(),
            name: r["name"].clone(),
            roles: r["roles"]
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            via: Via::Basic,
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const POLICY: Policy = Policy {
        web_service_state_acl: true,
    };

    #[test]
    fn insert_numbers_and_derives() {
        let (_d, store) = setup();
        store.with(|conn| {
            let itil = who(conn, "itil.user");
            let input = incoming(
                conn,
                &INCIDENT,
                fields(&[
                    ("short_description", "x"),
                    ("impact", "1 - High"),
                    ("urgency", "1"),
                    ("caller_id", "ada.quinn"),
                    ("priority", "5"),
                    ("sys_created_by", "evil"),
                    ("bogus", "1"),
                ]),
                true,
            )
            .unwrap();
            let r = insert(
                conn,
                OffsetDateTime::now_utc(),
                &itil,
                &INCIDENT,
                input,
                Channel::WebService,
                POLICY,
            )
            .unwrap();
            assert_eq!(r["number"], "INC0010006");
            assert_eq!(r["priority"], "1");
            assert_eq!(r["impact"], "1");
            assert_eq!(r["state"], "1");
            assert_eq!(r["active"], "true");
            assert_eq!(r["sys_created_by"], "itil.user");
            assert_eq!(r["caller_id"], who(conn, "ada.quinn").sys_id);
            assert!(!r.contains_key("bogus"));
        });
    }

    #[test]
    fn resolving_through_web_services_policy_then_acl() {
        let (_d, store) = setup();
        store.with(|conn| {
            let itil = who(conn, "itil.user");
            let new = insert(
                conn,
                OffsetDateTime::now_utc(),
                &itil,
                &INCIDENT,
                Record::new(),
                Channel::WebService,
                POLICY,
            )
            .unwrap();
            let id = new["sys_id"].clone();
            let now = OffsetDateTime::now_utc();
            let state6 = incoming(conn, &INCIDENT, fields(&[("state", "6")]), false).unwrap();
            match update(
                conn,
                now,
                &itil,
                &INCIDENT,
                &id,
                state6,
                Action::Save,
                Channel::WebService,
                POLICY,
            ) {
                Err(Denied::DataPolicy(missing)) => {
                    assert_eq!(missing, ["Resolution code", "Resolution notes"])
                }
                other => panic!("{other:?}"),
            }
            let full = incoming(
                conn,
                &INCIDENT,
                fields(&[
                    ("state", "6"),
                    ("close_code", "Duplicate"),
                    ("close_notes", "dup"),
                ]),
                false,
            )
            .unwrap();
            assert!(matches!(
                update(
                    conn,
                    now,
                    &itil,
                    &INCIDENT,
                    &id,
                    full.clone(),
                    Action::Save,
                    Channel::WebService,
                    POLICY
                ),
                Err(Denied::Acl("Update"))
            ));
            // The form is not a web service: itil may resolve there.
            let r = update(
                conn,
                now,
                &itil,
                &INCIDENT,
                &id,
                full.clone(),
                Action::Resolve,
                Channel::Form,
                POLICY,
            )
            .unwrap();
            assert_eq!(r["state"], "6");
            assert_eq!(r["resolved_by"], itil.sys_id);
            assert_eq!(r["active"], "false");
            assert_eq!(r["sys_mod_count"], "1");
            // Closing needs itil_admin, even in the form.
            assert!(matches!(
                update(
                    conn,
                    now,
                    &itil,
                    &INCIDENT,
                    &id,
                    Record::new(),
                    Action::Close,
                    Channel::Form,
                    POLICY
                ),
                Err(Denied::CloseNeedsRole)
            ));
            let boss = who(conn, "itil.admin");
            let r = update(
                conn,
                now,
                &boss,
                &INCIDENT,
                &id,
                Record::new(),
                Action::Close,
                Channel::WebService,
                POLICY,
            )
            .unwrap();
            assert_eq!(r["state"], "7");
            assert_eq!(r["closed_by"], boss.sys_id);
        });
    }

    #[test]
    fn the_state_acl_can_be_switched_off_but_not_for_closing() {
        let (_d, store) = setup();
        store.with(|conn| {
            let itil = who(conn, "itil.user");
            let off = Policy {
                web_service_state_acl: false,
            };
            let now = OffsetDateTime::now_utc();
            let id = insert(
                conn,
                now,
                &itil,
                &INCIDENT,
                Record::new(),
                Channel::WebService,
                off,
            )
            .unwrap()["sys_id"]
                .clone();
            let resolve = incoming(
                conn,
                &INCIDENT,
                fields(&[
                    ("state", "Resolved"),
                    ("close_code", "Duplicate"),
                    ("close_notes", "n"),
                ]),
                false,
            )
            .unwrap();
            assert_eq!(
                update(
                    conn,
                    now,
                    &itil,
                    &INCIDENT,
                    &id,
                    resolve,
                    Action::Save,
                    Channel::WebService,
                    off
                )
                .unwrap()["state"],
                "6"
            );
            let close = incoming(conn, &INCIDENT, fields(&[("state", "7")]), false).unwrap();
            assert!(matches!(
                update(
                    conn,
                    now,
                    &itil,
                    &INCIDENT,
                    &id,
                    close,
                    Action::Save,
                    Channel::WebService,
                    off
                ),
                Err(Denied::Acl("Update"))
            ));
        });
    }

    #[test]
    fn delete_needs_admin_and_takes_attachments() {
        let (_d, store) = setup();
        store.with(|conn| {
            let itil = who(conn, "itil.user");
            let admin = who(conn, "admin");
            let now = OffsetDateTime::now_utc();
            let id = insert(
                conn,
                now,
                &itil,
                &INCIDENT,
                Record::new(),
                Channel::WebService,
                POLICY,
            )
            .unwrap()["sys_id"]
                .clone();
            let mut att = Record::new();
            att.insert("sys_id".into(), "a".repeat(32));
            att.insert("table_sys_id".into(), id.clone());
            store::insert(conn, &SYS_ATTACHMENT, &att).unwrap();
            store::put_attachment_data(conn, &"a".repeat(32), b"x").unwrap();
            assert!(matches!(
                delete(conn, &itil, &INCIDENT, &id),
                Err(Denied::Acl("Delete"))
            ));
            delete(conn, &admin, &INCIDENT, &id).unwrap();
            assert!(
                store::get(conn, &SYS_ATTACHMENT, &"a".repeat(32))
                    .unwrap()
                    .is_none()
            );
            assert!(matches!(
                delete(conn, &admin, &INCIDENT, &id),
                Err(Denied::NotFound)
            ));
        });
    }
}
