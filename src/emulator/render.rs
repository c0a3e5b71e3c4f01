//! Records as the APIs show them: the Table API's value / display value / both forms with
//! reference links, and JSONv2's flat strings with optional `dv_<field>` display values.
//!
//! Writes JSON text straight into a `String` from positional rows (the columns a view asks the
//! store for), so pages of 10,000 records stay cheap even in debug builds. Pure functions over
//! rows and a map of the users references point at; no I/O.

use std::collections::HashMap;

use super::schema::{Column, Kind, Table, choice_label, table};
use super::store::Record;

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

/// Users by sys_id, for reference display values and dot-walked fields.
pub type Users = HashMap<String, Record>;

pub fn users_by_id(users: Vec<Record>) -> Users {
    users
        .into_iter()
        .filter_map(|u| Some((u.get("sys_id")?.clone(), u)))
        .collect()
}

/// The display value of `raw` in `column`.
pub fn display_of<'a>(column: &Column, raw: &'a str, users: &'a Users) -> &'a str {
    match column.kind {
        Kind::Choice { choices, .. } => choice_label(choices, raw).unwrap_or(raw),
        Kind::Reference("sys_user") => users
            .get(raw)
            .and_then(|u| u.get("name"))
            .map(String::as_str)
            .unwrap_or(""),
        _ => raw,
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
    /// `reference.field` through a sys_user reference at position `at`.
    Walk {
        key: String,
        at: usize,
        target: &'static Column,
    },
}

/// How the Table API renders the records of one request.
pub struct TableView<'a> {
    pub show: Show,
    pub exclude_links: bool,
    /// `scheme://host` for reference links.
    pub base: &'a str,
    pub users: &'a Users,
    fields: Vec<Field>,
    columns: Vec<&'static Column>,
}

impl<'a> TableView<'a> {
    /// A view of `table`; `requested` is `sysparm_fields` (unknown names are left out, as on
    /// instances; `reference.field` walks a sys_user reference).
    pub fn new(
        table: &'static Table,
        show: Show,
        exclude_links: bool,
        base: &'a str,
        requested: Option<&[String]>,
        users: &'a Users,
    ) -> TableView<'a> {
        let mut columns: Vec<&'static Column> = Vec::new();
        let mut position =
            |column: &'static Column| match columns.iter().position(|c| c.name == column.name) {
                Some(at) => at,
                None => {
                    columns.push(column);
                    columns.len() - 1
                }
            };
        let mut fields = Vec::new();
        match requested {
            None => {
                for column in table.columns {
                    fields.push(Field::Column {
                        column,
                        at: position(column),
                    });
                }
            }
            Some(names) => {
                for name in names {
                    if let Some(column) = table.column(name) {
                        fields.push(Field::Column {
                            column,
                            at: position(column),
                        });
                    } else if let Some((reference, inner)) = name.split_once('.')
                        && let Some(column) = table.column(reference)
                        && column.kind == Kind::Reference("sys_user")
                        && let Some(target) = table_column("sys_user", inner)
                    {
                        fields.push(Field::Walk {
                            key: name.clone(),
                            at: position(column),
                            target,
                        });
                    }
                }
            }
        }
        TableView {
            show,
            exclude_links,
            base,
            users,
            fields,
            columns,
        }
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
        out.push('{');
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match field {
                Field::Column { column, at } => {
                    push_key(out, column.name);
                    let raw = cells.get(*at).map(String::as_str).unwrap_or("");
                    self.write_value(out, column, raw);
                }
                Field::Walk { key, at, target } => {
                    push_key(out, key);
                    let id = cells.get(*at).map(String::as_str).unwrap_or("");
                    let raw = self
                        .users
                        .get(id)
                        .and_then(|u| u.get(target.name))
                        .map(String::as_str)
                        .unwrap_or("");
                    self.write_value(out, target, raw);
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

    fn write_value(&self, out: &mut String, column: &Column, raw: &str) {
        let display = display_of(column, raw, self.users);
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
            let link = format!("{}/api/now/table/{target}/{raw}", self.base);
            match (self.show, self.exclude_links) {
                (Show::Values, true) => push_json_str(out, raw),
                (Show::DisplayValues, true) => push_json_str(out, display),
                (Show::Values, false) => {
                    pair(out, ("link", &link), ("value", raw));
                    out.push('}');
                }
                (Show::DisplayValues, false) => {
                    pair(out, ("display_value", display), ("link", &link));
                    out.push('}');
                }
                (Show::Both, true) => {
                    pair(out, ("display_value", display), ("value", raw));
                    out.push('}');
                }
                (Show::Both, false) => {
                    pair(out, ("display_value", display), ("link", &link));
                    out.push(',');
                    push_key(out, "value");
                    push_json_str(out, raw);
                    out.push('}');
                }
            }
            return;
        }
        match self.show {
            Show::Values => push_json_str(out, raw),
            Show::DisplayValues => push_json_str(out, display),
            Show::Both => {
                pair(out, ("display_value", display), ("value", raw));
                out.push('}');
            }
        }
    }
}

fn table_column(table_name: &str, column: &str) -> Option<&'static Column> {
    table(table_name)?.column(column)
}

/// Appends one JSONv2 record (`cells` aligned with `table.columns`): every field a string;
/// `Both` adds `dv_<field>`.
pub fn write_jsonv2(out: &mut String, table: &Table, cells: &[String], show: Show, users: &Users) {
    out.push('{');
    for (i, column) in table.columns.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let raw = cells.get(i).map(String::as_str).unwrap_or("");
        let shown = display_of(column, raw, users);
        push_key(out, column.name);
        match show {
            Show::Values => push_json_str(out, raw),
            Show::DisplayValues => push_json_str(out, shown),
            Show::Both => {
                push_json_str(out, raw);
                out.push(',');
                push_key(out, &format!("dv_{}", column.name));
                push_json_str(out, shown);
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
    users: &Users,
) -> serde_json::Value {
    let cells: Vec<String> = table
        .columns
        .iter()
        .map(|c| record.get(c.name).cloned().unwrap_or_default())
        .collect();
    let mut out = String::new();
    write_jsonv2(&mut out, table, &cells, show, users);
    serde_json::from_str(&out).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::super::schema::INCIDENT;
    use super::*;
    use serde_json::{Value, json};

    fn fixture() -> (Record, Users) {
        let mut user = Record::new();
        user.insert("sys_id".into(), "u1".into());
        user.insert("name".into(), "Ada \"Q\" Quinn".into());
        user.insert("email".into(), "ada@example.com".into());
        let mut inc = Record::new();
        inc.insert("state".into(), "2".into());
        inc.insert("caller_id".into(), "u1".into());
        inc.insert("assigned_to".into(), String::new());
        inc.insert("description".into(), "line\n\t\"quoted\" \\ \u{1}".into());
        (inc, users_by_id(vec![user]))
    }

    fn render(
        show: Show,
        exclude: bool,
        users: &Users,
        fields: Option<Vec<String>>,
        record: &Record,
    ) -> Value {
        let view = TableView::new(
            &INCIDENT,
            show,
            exclude,
            "https://x",
            fields.as_deref(),
            users,
        );
        let mut out = String::new();
        view.write_record(&mut out, record);
        serde_json::from_str(&out).unwrap()
    }

    #[test]
    fn table_api_forms() {
        let (inc, users) = fixture();
        let v = render(Show::Values, false, &users, None, &inc);
        assert_eq!(v["state"], "2");
        assert_eq!(
            v["caller_id"],
            json!({"link": "https://x/api/now/table/sys_user/u1", "value": "u1"})
        );
        assert_eq!(v["assigned_to"], "");
        assert_eq!(v["description"], "line\n\t\"quoted\" \\ \u{1}");
        let v = render(Show::DisplayValues, true, &users, None, &inc);
        assert_eq!(v["state"], "In Progress");
        assert_eq!(v["caller_id"], "Ada \"Q\" Quinn");
        let v = render(Show::DisplayValues, false, &users, None, &inc);
        assert_eq!(
            v["caller_id"],
            json!({"display_value": "Ada \"Q\" Quinn", "link": "https://x/api/now/table/sys_user/u1"})
        );
        let v = render(Show::Both, true, &users, None, &inc);
        assert_eq!(
            v["state"],
            json!({"display_value": "In Progress", "value": "2"})
        );
        assert_eq!(
            v["caller_id"],
            json!({"display_value": "Ada \"Q\" Quinn", "value": "u1"})
        );
        assert_eq!(v["assigned_to"], json!({"display_value": "", "value": ""}));
        let v = render(Show::Both, false, &users, None, &inc);
        assert_eq!(
            v["caller_id"],
            json!({"display_value": "Ada \"Q\" Quinn", "link": "https://x/api/now/table/sys_user/u1", "value": "u1"})
        );
        assert_eq!(v.as_object().unwrap().len(), INCIDENT.columns.len());
    }

    #[test]
    fn fields_and_dot_walk_keep_the_requested_order() {
        let (inc, users) = fixture();
        let fields = Some(vec![
            "state".to_string(),
            "caller_id.email".to_string(),
            "nope".to_string(),
        ]);
        let view = TableView::new(
            &INCIDENT,
            Show::Values,
            true,
            "https://x",
            fields.as_deref(),
            &users,
        );
        let names: Vec<&str> = view.columns().iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            ["state", "caller_id"],
            "only what the fields need is selected"
        );
        let mut out = String::new();
        view.write_record(&mut out, &inc);
        assert_eq!(out, r#"{"state":"2","caller_id.email":"ada@example.com"}"#);
        let mut view = view;
        let at = view.require(INCIDENT.column("active").unwrap());
        assert_eq!(at, 2);
        assert_eq!(view.require(INCIDENT.column("state").unwrap()), 0);
        let mut out = String::new();
        view.write_record(&mut out, &inc);
        assert_eq!(
            out, r#"{"state":"2","caller_id.email":"ada@example.com"}"#,
            "required columns are not shown"
        );
    }

    #[test]
    fn jsonv2_all_adds_dv() {
        let (inc, users) = fixture();
        let r = jsonv2_value(&INCIDENT, &inc, Show::Both, &users);
        assert_eq!(r["state"], "2");
        assert_eq!(r["dv_state"], "In Progress");
        assert_eq!(r["dv_caller_id"], "Ada \"Q\" Quinn");
        let r = jsonv2_value(&INCIDENT, &inc, Show::Values, &users);
        assert!(r.get("dv_state").is_none());
        assert_eq!(r["caller_id"], "u1");
    }
}
