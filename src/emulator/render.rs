//! Records as the APIs show them: the Table API's value / display value / both forms with
//! reference links, and JSONv2's flat strings with optional `dv_<field>` display values.
//!
//! Pure functions over records and a map of the users references point at.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::schema::{Column, Kind, Table, choice_label};
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
pub fn display_of(column: &Column, raw: &str, users: &Users) -> String {
    match column.kind {
        Kind::Choice { choices, .. } => choice_label(choices, raw).unwrap_or(raw).to_string(),
        Kind::Reference("sys_user") => users
            .get(raw)
            .and_then(|u| u.get("name"))
            .cloned()
            .unwrap_or_default(),
        _ => raw.to_string(),
    }
}

/// How the Table API renders records for one request.
pub struct TableView<'a> {
    pub table: &'a Table,
    pub display: Show,
    pub exclude_links: bool,
    /// `scheme://host` for reference links.
    pub base: &'a str,
    /// `sysparm_fields`, if given (may name dot-walked fields such as `caller_id.name`).
    pub fields: Option<Vec<String>>,
    pub users: &'a Users,
}

impl TableView<'_> {
    pub fn render(&self, record: &Record) -> Value {
        let mut out = Map::new();
        match &self.fields {
            None => {
                for column in self.table.columns {
                    out.insert(column.name.to_string(), self.field(column, record));
                }
            }
            Some(fields) => {
                for field in fields {
                    if let Some(column) = self.table.column(field) {
                        out.insert(column.name.to_string(), self.field(column, record));
                    } else if let Some(value) = self.dot_walk(field, record) {
                        out.insert(field.clone(), value);
                    }
                }
            }
        }
        Value::Object(out)
    }

    fn field(&self, column: &Column, record: &Record) -> Value {
        let raw = record.get(column.name).map(String::as_str).unwrap_or("");
        let display = display_of(column, raw, self.users);
        if let Kind::Reference(target) = column.kind
            && !raw.is_empty()
        {
            let link = format!("{}/api/now/table/{target}/{raw}", self.base);
            return match (self.display, self.exclude_links) {
                (Show::Values, true) => json!(raw),
                (Show::Values, false) => json!({"link": link, "value": raw}),
                (Show::DisplayValues, true) => json!(display),
                (Show::DisplayValues, false) => json!({"link": link, "display_value": display}),
                (Show::Both, true) => json!({"display_value": display, "value": raw}),
                (Show::Both, false) => {
                    json!({"display_value": display, "link": link, "value": raw})
                }
            };
        }
        match self.display {
            Show::Values => json!(raw),
            Show::DisplayValues => json!(display),
            Show::Both => json!({"display_value": display, "value": raw}),
        }
    }

    /// `reference.field` through a sys_user reference.
    fn dot_walk(&self, field: &str, record: &Record) -> Option<Value> {
        let (reference, inner) = field.split_once('.')?;
        let column = self.table.column(reference)?;
        let Kind::Reference("sys_user") = column.kind else {
            return None;
        };
        let user_table = super::schema::table("sys_user")?;
        let inner_column = user_table.column(inner)?;
        let target = record.get(column.name).and_then(|id| self.users.get(id));
        let raw = target
            .and_then(|u| u.get(inner_column.name))
            .map(String::as_str)
            .unwrap_or("");
        let view = TableView {
            table: user_table,
            display: self.display,
            exclude_links: self.exclude_links,
            base: self.base,
            fields: None,
            users: self.users,
        };
        let mut single = Record::new();
        single.insert(inner_column.name.to_string(), raw.to_string());
        Some(view.field(inner_column, &single))
    }
}

/// A record as JSONv2 returns it: every field a string; `All` adds `dv_<field>`.
pub fn jsonv2(table: &Table, record: &Record, display: Show, users: &Users) -> Map<String, Value> {
    let mut out = Map::new();
    for column in table.columns {
        let raw = record.get(column.name).map(String::as_str).unwrap_or("");
        let shown = display_of(column, raw, users);
        match display {
            Show::Values => {
                out.insert(column.name.to_string(), json!(raw));
            }
            Show::DisplayValues => {
                out.insert(column.name.to_string(), json!(shown));
            }
            Show::Both => {
                out.insert(column.name.to_string(), json!(raw));
                out.insert(format!("dv_{}", column.name), json!(shown));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::schema::INCIDENT;
    use super::*;

    fn fixture() -> (Record, Users) {
        let mut user = Record::new();
        user.insert("sys_id".into(), "u1".into());
        user.insert("name".into(), "Ada Quinn".into());
        user.insert("email".into(), "ada@example.com".into());
        let mut inc = Record::new();
        inc.insert("state".into(), "2".into());
        inc.insert("caller_id".into(), "u1".into());
        inc.insert("assigned_to".into(), String::new());
        (inc, users_by_id(vec![user]))
    }

    fn view<'a>(
        display: Show,
        exclude: bool,
        users: &'a Users,
        fields: Option<Vec<String>>,
    ) -> TableView<'a> {
        TableView {
            table: &INCIDENT,
            display,
            exclude_links: exclude,
            base: "https://x",
            fields,
            users,
        }
    }

    #[test]
    fn table_api_forms() {
        let (inc, users) = fixture();
        let v = view(Show::Values, false, &users, None).render(&inc);
        assert_eq!(v["state"], "2");
        assert_eq!(
            v["caller_id"],
            json!({"link": "https://x/api/now/table/sys_user/u1", "value": "u1"})
        );
        assert_eq!(v["assigned_to"], "");
        let v = view(Show::DisplayValues, true, &users, None).render(&inc);
        assert_eq!(v["state"], "In Progress");
        assert_eq!(v["caller_id"], "Ada Quinn");
        let v = view(Show::Both, true, &users, None).render(&inc);
        assert_eq!(
            v["state"],
            json!({"display_value": "In Progress", "value": "2"})
        );
        assert_eq!(
            v["caller_id"],
            json!({"display_value": "Ada Quinn", "value": "u1"})
        );
        assert_eq!(v["assigned_to"], json!({"display_value": "", "value": ""}));
    }

    #[test]
    fn fields_and_dot_walk() {
        let (inc, users) = fixture();
        let fields = Some(vec![
            "state".to_string(),
            "caller_id.email".to_string(),
            "nope".to_string(),
        ]);
        let v = view(Show::Values, true, &users, fields).render(&inc);
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["caller_id.email", "state"]);
        assert_eq!(v["caller_id.email"], "ada@example.com");
    }

    #[test]
    fn jsonv2_all_adds_dv() {
        let (inc, users) = fixture();
        let r = jsonv2(&INCIDENT, &inc, Show::Both, &users);
        assert_eq!(r["state"], "2");
        assert_eq!(r["dv_state"], "In Progress");
        assert_eq!(r["dv_caller_id"], "Ada Quinn");
        let r = jsonv2(&INCIDENT, &inc, Show::Values, &users);
        assert!(!r.contains_key("dv_state"));
    }
}
