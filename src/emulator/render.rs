//! Records as the APIs show them: the Table API's value / display value / both forms with
//! reference links and dot-walked fields, and JSONv2's flat strings with optional `dv_<field>`
//! display values.
//!
//! Writes JSON text straight into a `String` from positional rows (the columns a view asks the
//! store for), so pages of 10,000 records stay cheap even in debug builds. The records that
//! references name are read through a [`Lookup`], once per request each.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use rusqlite::Connection;

use super::schema::{Column, Kind, Table, choice_label, table};
use super::store::{self, Record};

/// `sysparm_display_value` / JSONv2 `displayvalue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Show {
    /// `false`: the stored values.
    Values,
    /// `true`: display values (choice labels, referenced names).
    DisplayValues,
    /// `all`: both.
    Both,
}

impl Show {
    /// Reads the parameter: `true`, `false` (default) or `all`, case-insensitively.
    pub fn parse(value: Option<&str>) -> Show {
        match value.map(str::to_ascii_lowercase).as_deref() {
            Some("true") => Show::DisplayValues,
            Some("all") => Show::Both,
            _ => Show::Values,
        }
    }
}

/// Users by sys_id, for the incident form's reference fields (which all name users).
pub type Users = HashMap<String, Record>;

pub fn users_by_id(users: Vec<Record>) -> Users {
    users
        .into_iter()
        .filter_map(|u| Some((u.get("sys_id")?.clone(), u)))
        .collect()
}

/// The display value of `raw` in `column` of an incident form (references name users).
pub fn display_of<'a>(column: &Column, raw: &'a str, users: &'a Users) -> &'a str {
    match column.kind {
        Kind::Choice { choices, .. } => choice_label(choices, raw).unwrap_or(raw),
        Kind::Reference(_) => users
            .get(raw)
            .and_then(|u| u.get("name"))
            .map(String::as_str)
            .unwrap_or(""),
        _ => raw,
    }
}

/// Records read so far, by sys_id (`None`: looked for and not found).
type Found = HashMap<String, Option<Rc<Record>>>;

/// The records references name, read from the store on first use and kept for the request.
pub struct Lookup<'c> {
    conn: &'c Connection,
    cache: RefCell<HashMap<&'static str, Found>>,
}

impl<'c> Lookup<'c> {
    pub fn new(conn: &'c Connection) -> Lookup<'c> {
        Lookup {
            conn,
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// The record `sys_id` of `table` (or a table extending it), if there is one.
    pub fn record(&self, table: &'static Table, sys_id: &str) -> Option<Rc<Record>> {
        if sys_id.is_empty() {
            return None;
        }
        if let Some(hit) = self
            .cache
            .borrow()
            .get(table.name)
            .and_then(|records| records.get(sys_id))
        {
            return hit.clone();
        }
        let found = match store::get(self.conn, table, sys_id) {
            Ok(found) => found.map(Rc::new),
            Err(e) => {
                // A display value is not worth failing the page for; the value itself is shown.
                tracing::debug!(target: "snowbridge::emulator", error = %e, "reference lookup");
                None
            }
        };
        self.cache
            .borrow_mut()
            .entry(table.name)
            .or_default()
            .insert(sys_id.to_string(), found.clone());
        found
    }

    /// Calls `f` with the display value of `raw` in `column`: a choice's label, a referenced
    /// record's display field, a class's label. `class` is the row's `sys_class_name` when a
    /// parent table is read, whose own choice list for the field is the one shown.
    pub fn with_display<R>(
        &self,
        column: &Column,
        raw: &str,
        class: Option<&str>,
        f: impl FnOnce(&str) -> R,
    ) -> R {
        match column.kind {
            Kind::Choice { choices, .. } => {
                let choices = class
                    .and_then(table)
                    .and_then(|t| t.column(column.name))
                    .and_then(Column::choices)
                    .unwrap_or(choices);
                f(choice_label(choices, raw).unwrap_or(raw))
            }
            Kind::Reference(target) => {
                let record = table(target).and_then(|t| Some((t, self.record(t, raw)?)));
                match record {
                    Some((t, record)) => f(record.get(t.display).map(String::as_str).unwrap_or("")),
                    None => f(""),
                }
            }
            Kind::ClassName => f(table(raw).map_or(raw, |t| t.label)),
            _ => f(raw),
        }
    }
}

/// Appends `s` as a JSON string literal.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    // An index loop rather than iterator adapters: this runs for every cell of every page, and
    // must stay fast in unoptimised builds too.
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x20 || b == b'"' || b == b'\\' {
            // Escaped bytes are ASCII, so these slice bounds are character boundaries.
            out.push_str(&s[start..i]);
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                _ => out.push_str(&format!("\\u{b:04x}")),
            }
            start = i + 1;
        }
        i += 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends `"key":` (keys are schema names, or names the client asked for).
fn push_key(out: &mut String, key: &str) {
    push_json_str(out, key);
    out.push(':');
}

/// One output field of a Table API view.
enum Field {
    /// A column of the table; `at` is its position in the selected cells.
    Column { column: &'static Column, at: usize },
    /// `reference.field[.field...]`: the reference at position `at`, then each step's field of
    /// the record the previous step names; the last step's field is shown.
    Walk {
        key: String,
        at: usize,
        steps: Vec<(&'static Table, &'static Column)>,
    },
}

/// The steps of a dot-walked `path` from `table`: every step but the last must be a reference.
fn walk_steps(
    table: &'static Table,
    path: &str,
) -> Option<(&'static Column, Vec<(&'static Table, &'static Column)>)> {
    let mut names = path.split('.');
    let first = table.column(names.next()?)?;
    let mut steps = Vec::new();
    let mut current = first;
    for name in names {
        let Kind::Reference(target) = current.kind else {
            return None;
        };
        let target = super::schema::table(target)?;
        current = target.column(name)?;
        steps.push((target, current));
    }
    (!steps.is_empty()).then_some((first, steps))
}

/// How the Table API renders the records of one request.
pub struct TableView<'a> {
    pub show: Show,
    pub exclude_links: bool,
    /// `scheme://host` for reference links.
    pub base: &'a str,
    lookup: &'a Lookup<'a>,
    fields: Vec<Field>,
    columns: Vec<&'static Column>,
    /// Where the row's `sys_class_name` sits, when a table with children is read.
    class_at: Option<usize>,
}

impl<'a> TableView<'a> {
    /// A view of `table`; `requested` is `sysparm_fields` (unknown names are left out, as on
    /// instances; `reference.field` walks references, as deep as asked).
    pub fn new(
        table: &'static Table,
        show: Show,
        exclude_links: bool,
        base: &'a str,
        requested: Option<&[String]>,
        lookup: &'a Lookup<'a>,
    ) -> TableView<'a> {
        let mut view = TableView {
            show,
            exclude_links,
            base,
            lookup,
            fields: Vec::new(),
            columns: Vec::new(),
            class_at: None,
        };
        match requested {
            None => {
                for column in table.columns {
                    let at = view.require(column);
                    view.fields.push(Field::Column { column, at });
                }
            }
            Some(names) => {
                for name in names {
                    if let Some(column) = table.column(name) {
                        let at = view.require(column);
                        view.fields.push(Field::Column { column, at });
                    } else if let Some((first, steps)) = walk_steps(table, name) {
                        let at = view.require(first);
                        view.fields.push(Field::Walk {
                            key: name.clone(),
                            at,
                            steps,
                        });
                    }
                }
            }
        }
        if table.has_children()
            && table
                .columns
                .iter()
                .any(|c| matches!(c.kind, Kind::Choice { .. }))
            && let Some(class) = table.column("sys_class_name")
        {
            view.class_at = Some(view.require(class));
        }
        view
    }

    /// Makes sure `column` is selected (for a check the caller makes on each row, not shown);
    /// returns its position in the cells.
    pub fn require(&mut self, column: &'static Column) -> usize {
        match self.columns.iter().position(|c| c.name == column.name) {
            Some(at) => at,
            None => {
                self.columns.push(column);
                self.columns.len() - 1
            }
        }
    }

    /// The columns to select from the store, in the order [`TableView::write`] expects.
    pub fn columns(&self) -> &[&'static Column] {
        &self.columns
    }

    /// Appends one record (its `cells`, aligned with [`TableView::columns`]) as a JSON object.
    pub fn write(&self, out: &mut String, cells: &[String]) {
        let class = self
            .class_at
            .and_then(|at| cells.get(at))
            .map(String::as_str);
        out.push('{');
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match field {
                Field::Column { column, at } => {
                    push_key(out, column.name);
                    let raw = cells.get(*at).map(String::as_str).unwrap_or("");
                    self.write_value(out, column, raw, class);
                }
                Field::Walk { key, at, steps } => {
                    push_key(out, key);
                    let mut id = cells.get(*at).cloned().unwrap_or_default();
                    let mut raw = String::new();
                    for (i, (target, column)) in steps.iter().enumerate() {
                        // A step that names nothing leaves the field empty, as on instances.
                        let Some(record) = self.lookup.record(target, &id) else {
                            break;
                        };
                        let value = record.get(column.name).cloned().unwrap_or_default();
                        if i + 1 == steps.len() {
                            raw = value;
                        } else {
                            id = value;
                        }
                    }
                    match steps.last() {
                        Some((_, column)) => self.write_value(out, column, &raw, None),
                        None => push_json_str(out, ""),
                    }
                }
            }
        }
        out.push('}');
    }

    /// Appends `record` as a JSON object.
    pub fn write_record(&self, out: &mut String, record: &Record) {
        let cells: Vec<String> = self
            .columns
            .iter()
            .map(|c| record.get(c.name).cloned().unwrap_or_default())
            .collect();
        self.write(out, &cells);
    }

    fn write_value(&self, out: &mut String, column: &Column, raw: &str, class: Option<&str>) {
        let pair = |out: &mut String, first: (&str, &str), second: (&str, &str)| {
            out.push('{');
            push_key(out, first.0);
            push_json_str(out, first.1);
            out.push(',');
            push_key(out, second.0);
            push_json_str(out, second.1);
        };
        if let Kind::Reference(target) = column.kind
            && !raw.is_empty()
        {
            if (self.show, self.exclude_links) == (Show::Values, true) {
                return push_json_str(out, raw);
            }
            if (self.show, self.exclude_links) == (Show::Values, false) {
                let link = format!("{}/api/now/table/{target}/{raw}", self.base);
                pair(out, ("link", &link), ("value", raw));
                return out.push('}');
            }
            self.lookup.with_display(column, raw, class, |display| {
                let link = format!("{}/api/now/table/{target}/{raw}", self.base);
                match (self.show, self.exclude_links) {
                    (Show::DisplayValues, true) => push_json_str(out, display),
                    (Show::DisplayValues, false) => {
                        pair(out, ("display_value", display), ("link", &link));
                        out.push('}');
                    }
                    (Show::Both, true) => {
                        pair(out, ("display_value", display), ("value", raw));
                        out.push('}');
                    }
                    _ => {
                        pair(out, ("display_value", display), ("link", &link));
                        out.push(',');
                        push_key(out, "value");
                        push_json_str(out, raw);
                        out.push('}');
                    }
                }
            });
            return;
        }
        match self.show {
            Show::Values => push_json_str(out, raw),
            Show::DisplayValues => self
                .lookup
                .with_display(column, raw, class, |display| push_json_str(out, display)),
            Show::Both => self.lookup.with_display(column, raw, class, |display| {
                pair(out, ("display_value", display), ("value", raw));
                out.push('}');
            }),
        }
    }
}

/// Appends one JSONv2 record (`cells` aligned with `table.columns`): every field a string;
/// `Both` adds `dv_<field>`.
pub fn write_jsonv2(
    out: &mut String,
    table: &Table,
    cells: &[String],
    show: Show,
    lookup: &Lookup<'_>,
) {
    let class_at = table
        .has_children()
        .then(|| {
            table
                .columns
                .iter()
                .position(|c| c.name == "sys_class_name")
        })
        .flatten();
    let class = class_at.and_then(|at| cells.get(at)).map(String::as_str);
    out.push('{');
    for (i, column) in table.columns.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let raw = cells.get(i).map(String::as_str).unwrap_or("");
        push_key(out, column.name);
        match show {
            Show::Values => push_json_str(out, raw),
            Show::DisplayValues => {
                lookup.with_display(column, raw, class, |shown| push_json_str(out, shown))
            }
            Show::Both => {
                push_json_str(out, raw);
                out.push(',');
                push_key(out, &format!("dv_{}", column.name));
                lookup.with_display(column, raw, class, |shown| push_json_str(out, shown));
            }
        }
    }
    out.push('}');
}

/// A record as a JSONv2 object value.
pub fn jsonv2_value(
    table: &Table,
    record: &Record,
    show: Show,
    lookup: &Lookup<'_>,
) -> serde_json::Value {
    let cells: Vec<String> = table
        .columns
        .iter()
        .map(|c| record.get(c.name).cloned().unwrap_or_default())
        .collect();
    let mut out = String::new();
    write_jsonv2(&mut out, table, &cells, show, lookup);
    serde_json::from_str(&out).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::super::schema::{INCIDENT, SYS_USER};
    use super::super::store::Store;
    use super::*;
    use serde_json::{Value, json};

    fn record(pairs: &[(&str, &str)]) -> Record {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A store holding two users (one the other's manager) and the incident the tests render.
    fn fixture() -> (tempfile::TempDir, Store, Record) {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("r.db")).unwrap();
        store.with(|conn| {
            store::insert(
                conn,
                &SYS_USER,
                &record(&[
                    ("sys_id", "boss"),
                    ("name", "Ian Adler"),
                    ("email", "ian@example.com"),
                ]),
            )
            .unwrap();
            store::insert(
                conn,
                &SYS_USER,
                &record(&[
                    ("sys_id", "u1"),
                    ("name", "Ada \"Q\" Quinn"),
                    ("email", "ada@example.com"),
                    ("manager", "boss"),
                ]),
            )
            .unwrap();
        });
        let inc = record(&[
            ("state", "2"),
            ("caller_id", "u1"),
            ("assigned_to", ""),
            ("description", "line\n\t\"quoted\" \\ \u{1}"),
            ("sys_class_name", "incident"),
        ]);
        (dir, store, inc)
    }

    fn render(
        store: &Store,
        table: &'static Table,
        show: Show,
        exclude: bool,
        fields: Option<Vec<String>>,
        record: &Record,
    ) -> Value {
        store.with(|conn| {
            let lookup = Lookup::new(conn);
            let view = TableView::new(
                table,
                show,
                exclude,
                "https://x",
                fields.as_deref(),
                &lookup,
            );
            let mut out = String::new();
            view.write_record(&mut out, record);
            serde_json::from_str(&out).unwrap()
        })
    }

    #[test]
    fn table_api_forms() {
        let (_d, store, inc) = fixture();
        let render = |show, exclude| render(&store, &INCIDENT, show, exclude, None, &inc);
        let v = render(Show::Values, false);
        assert_eq!(v["state"], "2");
        assert_eq!(
            v["caller_id"],
            json!({"link": "https://x/api/now/table/sys_user/u1", "value": "u1"})
        );
        assert_eq!(v["assigned_to"], "");
        assert_eq!(v["description"], "line\n\t\"quoted\" \\ \u{1}");
        let v = render(Show::DisplayValues, true);
        assert_eq!(v["state"], "In Progress");
        assert_eq!(v["caller_id"], "Ada \"Q\" Quinn");
        assert_eq!(v["sys_class_name"], "Incident");
        let v = render(Show::DisplayValues, false);
        assert_eq!(
            v["caller_id"],
            json!({"display_value": "Ada \"Q\" Quinn", "link": "https://x/api/now/table/sys_user/u1"})
        );
        let v = render(Show::Both, true);
        assert_eq!(
            v["state"],
            json!({"display_value": "In Progress", "value": "2"})
        );
        assert_eq!(
            v["caller_id"],
            json!({"display_value": "Ada \"Q\" Quinn", "value": "u1"})
        );
        assert_eq!(v["assigned_to"], json!({"display_value": "", "value": ""}));
        let v = render(Show::Both, false);
        assert_eq!(
            v["caller_id"],
            json!({"display_value": "Ada \"Q\" Quinn", "link": "https://x/api/now/table/sys_user/u1", "value": "u1"})
        );
        assert_eq!(v.as_object().unwrap().len(), INCIDENT.columns.len());
    }

    #[test]
    fn fields_and_dot_walks_keep_the_requested_order() {
        let (_d, store, inc) = fixture();
        let fields: Vec<String> = [
            "state",
            "caller_id.email",
            "nope",
            "caller_id.manager.name",
            "number.name",
        ]
        .map(String::from)
        .to_vec();
        store.with(|conn| {
            let lookup = Lookup::new(conn);
            let mut view = TableView::new(
                &INCIDENT,
                Show::Values,
                true,
                "https://x",
                Some(&fields),
                &lookup,
            );
            let names: Vec<&str> = view.columns().iter().map(|c| c.name).collect();
            assert_eq!(
                names,
                ["state", "caller_id"],
                "only what the fields need is selected"
            );
            let mut out = String::new();
            view.write_record(&mut out, &inc);
            assert_eq!(
                out,
                r#"{"state":"2","caller_id.email":"ada@example.com","caller_id.manager.name":"Ian Adler"}"#
            );
            let at = view.require(INCIDENT.column("active").unwrap());
            assert_eq!(at, 2);
            assert_eq!(view.require(INCIDENT.column("state").unwrap()), 0);
            let mut out = String::new();
            view.write_record(&mut out, &inc);
            assert!(!out.contains("active"), "required columns are not shown");
        });
        // A walk through an empty reference is an empty field; with `all`, a pair.
        let mut nobody = inc.clone();
        nobody.insert("caller_id".into(), String::new());
        let v = render(
            &store,
            &INCIDENT,
            Show::Both,
            true,
            Some(vec!["caller_id.manager".into()]),
            &nobody,
        );
        assert_eq!(
            v,
            json!({"caller_id.manager": {"display_value": "", "value": ""}})
        );
        let v = render(
            &store,
            &INCIDENT,
            Show::Both,
            true,
            Some(vec!["caller_id.manager".into()]),
            &inc,
        );
        assert_eq!(
            v,
            json!({"caller_id.manager": {"display_value": "Ian Adler", "value": "boss"}})
        );
    }

    #[test]
    fn a_parent_table_shows_each_row_with_its_own_class_choices() {
        let (_d, store, inc) = fixture();
        let task = table("task").unwrap();
        let mut resolved = inc.clone();
        resolved.insert("state".into(), "6".into());
        let v = render(&store, task, Show::DisplayValues, true, None, &resolved);
        assert_eq!(v["state"], "Resolved", "incident's list, not task's");
        assert_eq!(v["sys_class_name"], "Incident");
        assert!(v.get("caller_id").is_none(), "task has no caller");
        let mut own = resolved.clone();
        own.insert("sys_class_name".into(), "task".into());
        own.insert("state".into(), "3".into());
        let v = render(&store, task, Show::DisplayValues, true, None, &own);
        assert_eq!(v["state"], "Closed Complete");
    }

    #[test]
    fn jsonv2_all_adds_dv() {
        let (_d, store, inc) = fixture();
        store.with(|conn| {
            let lookup = Lookup::new(conn);
            let r = jsonv2_value(&INCIDENT, &inc, Show::Both, &lookup);
            assert_eq!(r["state"], "2");
            assert_eq!(r["dv_state"], "In Progress");
            assert_eq!(r["dv_caller_id"], "Ada \"Q\" Quinn");
            let r = jsonv2_value(&INCIDENT, &inc, Show::Values, &lookup);
            assert!(r.get("dv_state").is_none());
            assert_eq!(r["caller_id"], "u1");
        });
    }
}
