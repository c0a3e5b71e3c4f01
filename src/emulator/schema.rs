//! The emulated tables, read from `tables.toml` (compiled in): names, labels, parents, fields
//! with their kinds, labels, choice lists, defaults and lengths, access, business-rule flags, and
//! the rows a new instance is seeded with.
//!
//! Pure data: the store builds SQLite tables from it, the query layer checks field names against
//! it, the renderers take labels and display values from it, `seed` writes its rows and the
//! `sys_db_object` / `sys_dictionary` / `sys_choice` rows generated from it. No I/O here.
//!
//! A child table holds its ancestors' fields (flattened, with the child's overrides). Each table
//! is stored in its own SQLite table; a table with children is read through a view over its own
//! rows and every descendant's (`source`), so a query on `task` returns incidents and problems
//! with their `sys_class_name`.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The schema file, compiled in.
const SOURCE: &str = include_str!("tables.toml");

/// A column's kind decides how it sorts, compares and displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The record's 32-hex id.
    SysId,
    String,
    /// Compared and sorted as a number.
    Integer,
    /// "true" / "false".
    Boolean,
    /// `YYYY-MM-DD HH:MM:SS` (UTC): sorts as text.
    DateTime,
    /// Value from a choice list; `numeric` choices sort as numbers.
    Choice {
        choices: &'static [Choice],
        numeric: bool,
    },
    /// The sys_id of a record in another table.
    Reference(&'static str),
    /// The table a record belongs to (`sys_class_name`); displays as that table's label.
    ClassName,
}

/// One entry of a choice list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    /// Kept for old records, no longer offered (`sys_choice.inactive`).
    pub inactive: bool,
}

/// A field of a table, as that table sees it (inherited fields carry the child's overrides).
#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    /// The dictionary's internal type (`string`, `integer`, `reference`, `GUID`...).
    pub internal_type: &'static str,
    pub mandatory: bool,
    /// The dictionary default; `javascript:gs.nowDateTime()` and `javascript:gs.getUserID()`
    /// are evaluated on insert.
    pub default: Option<&'static str>,
    /// Longer strings are cut to this many characters on write, as instances do.
    pub max_length: usize,
    /// The table whose dictionary defines the field.
    pub defined_on: &'static str,
    /// The table whose `sys_choice` rows hold this field's choices (the defining table, or a
    /// child that overrides them).
    pub choices_from: &'static str,
}

impl Column {
    /// The choice list, for choice fields.
    pub fn choices(&self) -> Option<&'static [Choice]> {
        match self.kind {
            Kind::Choice { choices, .. } => Some(choices),
            _ => None,
        }
    }
}

/// An auto-number: `INC0010001` is prefix `INC`, seven digits, starting at 10001.
#[derive(Clone, Copy, Debug)]
pub struct Numbering {
    pub prefix: &'static str,
    pub start: i64,
}

impl Numbering {
    pub fn format(&self, n: i64) -> String {
        format!("{}{n:07}", self.prefix)
    }
}

/// Who may do what to a table's records (admin passes every check).
#[derive(Clone, Copy, Debug)]
pub struct Access {
    /// Roles that read every row; `*` is any logged-in user.
    pub read: &'static [&'static str],
    /// A reference field: users without the read roles may read the rows that name them there.
    pub read_own: Option<&'static str>,
    pub write: &'static [&'static str],
    pub delete: &'static [&'static str],
}

#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub label: &'static str,
    pub parent: Option<&'static str>,
    /// Other tables may extend it (`sys_db_object.is_extendable`).
    pub extensible: bool,
    /// Every field, inherited ones first, the system fields last.
    pub columns: &'static [Column],
    /// Secondary indexes the store creates (the sys_id primary key always exists).
    pub indexes: &'static [&'static str],
    /// The field a reference to this table displays.
    pub display: &'static str,
    pub number: Option<Numbering>,
    pub access: Access,
    /// No writes through the Table API or JSONv2 (generated tables, attachments).
    pub read_only: bool,
    /// States in which a record is no longer active (the `task active state` rule).
    pub inactive_states: &'static [&'static str],
    /// Priority follows impact and urgency (the `Calculate priority` rule).
    pub priority_lookup: bool,
    /// This table and every table that extends it, at any depth.
    pub classes: &'static [&'static str],
    /// What to read this table's records from: its own SQLite table, or for a table with
    /// children the view over its rows and theirs.
    pub source: &'static str,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns_static().iter().find(|c| c.name == name)
    }

    fn columns_static(&self) -> &'static [Column] {
        self.columns
    }

    /// Is `other` this table or one of its descendants?
    pub fn contains_class(&self, other: &str) -> bool {
        self.classes.contains(&other)
    }

    /// The fields this table's own dictionary defines (not inherited).
    pub fn own_columns(&self) -> impl Iterator<Item = &'static Column> + '_ {
        self.columns_static()
            .iter()
            .filter(move |c| c.defined_on == self.name)
    }

    /// Does the table have children (and so a view over their rows)?
    pub fn has_children(&self) -> bool {
        self.classes.len() > 1
    }
}

/// A row the schema seeds, with its values as written (references by name, dates relative).
#[derive(Debug)]
pub struct SeedRow {
    pub table: &'static Table,
    pub values: Vec<(String, String)>,
}

/// Every table, in the file's order (parents before children), and the seeded rows.
#[derive(Debug)]
pub struct Schema {
    pub tables: Vec<&'static Table>,
    by_name: HashMap<&'static str, &'static Table>,
    pub rows: Vec<SeedRow>,
    /// SHA-256 of the schema file: a database seeded from another schema is refused.
    pub fingerprint: String,
}

impl Schema {
    pub fn table(&self, name: &str) -> Option<&'static Table> {
        self.by_name.get(name).copied()
    }
}

// The file is compiled in and checked by `the_built_in_schema_is_valid`; an invalid one is a
// build of this crate that cannot run, not bad input.
static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    parse(SOURCE).unwrap_or_else(|e| panic!("src/emulator/tables.toml is invalid: {e}"))
});

/// The built-in schema (parsed on first use, kept for the life of the process).
pub fn schema() -> &'static Schema {
    &SCHEMA
}

/// The table called `name`, if the emulator has it.
pub fn table(name: &str) -> Option<&'static Table> {
    schema().table(name)
}

fn built_in(name: &str) -> &'static Table {
    table(name).unwrap_or_else(|| panic!("the built-in schema has no table {name}"))
}

/// Tables the emulator's own code names.
pub static INCIDENT: LazyLock<&'static Table> = LazyLock::new(|| built_in("incident"));
pub static SYS_USER: LazyLock<&'static Table> = LazyLock::new(|| built_in("sys_user"));
pub static SYS_ATTACHMENT: LazyLock<&'static Table> = LazyLock::new(|| built_in("sys_attachment"));

/// Incident states the resolve/close rules care about.
pub const STATE_RESOLVED: &str = "6";
pub const STATE_CLOSED: &str = "7";

/// The label of `value` in `choices`, if it is one (inactive choices still display).
pub fn choice_label(choices: &[Choice], value: &str) -> Option<&'static str> {
    choices.iter().find(|c| c.value == value).map(|c| c.label)
}

/// The priority ServiceNow's default lookup gives an impact/urgency pair.
pub fn priority_for(impact: &str, urgency: &str) -> &'static str {
    let i: u8 = impact.parse().unwrap_or(3).clamp(1, 3);
    let u: u8 = urgency.parse().unwrap_or(3).clamp(1, 3);
    match i + u {
        2 => "1",
        3 => "2",
        4 => "3",
        5 => "4",
        _ => "5",
    }
}

// ---------------------------------------------------------------------------------------------
// The file's shape

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    choices: BTreeMap<String, ChoiceList>,
    table: Vec<TableDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChoiceList {
    active: Vec<(String, String)>,
    #[serde(default)]
    inactive: Vec<(String, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableDef {
    name: String,
    label: String,
    extends: Option<String>,
    #[serde(default)]
    extensible: bool,
    display: Option<String>,
    number: Option<NumberDef>,
    access: Option<AccessDef>,
    #[serde(default)]
    read_only: bool,
    inactive_states: Option<Vec<String>>,
    #[serde(default)]
    priority_lookup: bool,
    #[serde(default)]
    indexes: Vec<String>,
    #[serde(default)]
    overrides: BTreeMap<String, OverrideDef>,
    #[serde(default)]
    fields: Vec<FieldDef>,
    #[serde(default)]
    rows: Vec<BTreeMap<String, toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NumberDef {
    prefix: String,
    start: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessDef {
    read: Option<Vec<String>>,
    read_own: Option<String>,
    write: Option<Vec<String>>,
    delete: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideDef {
    label: Option<String>,
    choices: Option<String>,
    default: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldDef {
    name: String,
    label: String,
    #[serde(rename = "type")]
    internal_type: String,
    reference: Option<String>,
    choices: Option<String>,
    #[serde(default)]
    mandatory: bool,
    default: Option<String>,
    max_length: Option<usize>,
}

// ---------------------------------------------------------------------------------------------
// Building the schema. Everything is built once per process and kept for its life, so tables,
// columns and names are `&'static` like compiled-in data (hence the leaks).

fn leak(s: &str) -> &'static str {
    s.to_owned().leak()
}

fn leak_list(items: &[String]) -> &'static [&'static str] {
    items.iter().map(|s| leak(s)).collect::<Vec<_>>().leak()
}

/// Field and table names go into SQL (quoted), so they must be plain identifiers.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The internal types the dictionary may name, with their default lengths.
fn default_length(internal_type: &str) -> Option<usize> {
    Some(match internal_type {
        "GUID" | "reference" => 32,
        "string" | "integer" | "boolean" | "glide_date_time" => 40,
        "sys_class_name" => 80,
        _ => return None,
    })
}

const SYSTEM_TRAILER: [(&str, &str, &str); 5] = [
    ("sys_created_on", "Created", "glide_date_time"),
    ("sys_created_by", "Created by", "string"),
    ("sys_updated_on", "Updated", "glide_date_time"),
    ("sys_updated_by", "Updated by", "string"),
    ("sys_mod_count", "Updates", "integer"),
];

/// Is `name` one of the fields every table ends with (`sys_class_name` and the system fields)?
pub fn is_trailer(name: &str) -> bool {
    name == "sys_class_name" || SYSTEM_TRAILER.iter().any(|(n, _, _)| *n == name)
}

struct Builder<'a> {
    choices: HashMap<&'a str, &'static [Choice]>,
    built: HashMap<&'static str, &'static Table>,
    order: Vec<&'static Table>,
}

fn parse(text: &str) -> Result<Schema, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut builder = Builder {
        choices: HashMap::new(),
        built: HashMap::new(),
        order: Vec::new(),
    };
    for (name, list) in &file.choices {
        let mut choices = Vec::new();
        for ((value, label), inactive) in list
            .active
            .iter()
            .map(|c| (c, false))
            .chain(list.inactive.iter().map(|c| (c, true)))
        {
            choices.push(Choice {
                value: leak(value),
                label: leak(label),
                inactive,
            });
        }
        builder.choices.insert(name, choices.leak());
    }
    // Parents come before their children in the file; `classes` is filled in once all exist.
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    for def in &file.table {
        if let Some(parent) = &def.extends {
            children
                .entry(parent.clone())
                .or_default()
                .push(def.name.clone());
        }
    }
    let mut rows = Vec::new();
    for def in &file.table {
        let table = builder.table(def, &children)?;
        for row in &def.rows {
            let mut values = Vec::new();
            for (field, value) in row {
                if table.column(field).is_none() {
                    return Err(format!("a row of {} sets unknown field {field}", def.name));
                }
                let wire = match value {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(n) => n.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(format!(
                            "a row of {} sets {field} to {other}: use a string",
                            def.name
                        ));
                    }
                };
                values.push((field.clone(), wire));
            }
            rows.push(SeedRow { table, values });
        }
    }
    let schema = Schema {
        by_name: builder.built.clone(),
        tables: builder.order,
        rows,
        fingerprint: hex::encode(Sha256::digest(text.as_bytes())),
    };
    check_references(&schema)?;
    Ok(schema)
}

impl Builder<'_> {
    fn choice_list(&self, table: &str, name: &str) -> Result<&'static [Choice], String> {
        self.choices
            .get(name)
            .copied()
            .ok_or_else(|| format!("{table}: no choice list {name}"))
    }

    fn table(
        &mut self,
        def: &TableDef,
        children: &HashMap<String, Vec<String>>,
    ) -> Result<&'static Table, String> {
        let name = def.name.as_str();
        if !is_identifier(name) || self.built.contains_key(name) {
            return Err(format!("bad or repeated table name {name:?}"));
        }
        let parent =
            match &def.extends {
                Some(p) => Some(*self.built.get(p.as_str()).ok_or_else(|| {
                    format!("{name} extends {p}, which is not defined before it")
                })?),
                None => None,
            };
        if parent.is_some_and(|p| !p.extensible) {
            return Err(format!("{name} extends a table that is not extensible"));
        }
        let name: &'static str = leak(name);
        let mut own = Vec::new();
        for field in &def.fields {
            own.push(self.column(name, field)?);
        }
        let columns: Vec<Column> = match parent {
            Some(parent) => {
                let mut head = Vec::new();
                let mut trailer = Vec::new();
                for inherited in parent.columns {
                    let column =
                        self.overridden(name, inherited, def.overrides.get(inherited.name))?;
                    if is_trailer(column.name) {
                        trailer.push(column);
                    } else {
                        head.push(column);
                    }
                }
                head.extend(own);
                head.extend(trailer);
                head
            }
            None => {
                let mut columns = vec![system_column(name, "sys_id", "Sys ID", "GUID")];
                columns.extend(own);
                if def.extensible {
                    columns.push(system_column(
                        name,
                        "sys_class_name",
                        "Class",
                        "sys_class_name",
                    ));
                }
                for (field, label, internal_type) in SYSTEM_TRAILER {
                    columns.push(system_column(name, field, label, internal_type));
                }
                columns
            }
        };
        for key in def.overrides.keys() {
            if parent.is_none_or(|p| p.column(key).is_none()) {
                return Err(format!("{name} overrides {key}, which it does not inherit"));
            }
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(repeated) = columns.iter().find(|c| !seen.insert(c.name)) {
            return Err(format!("{name} has the field {} twice", repeated.name));
        }
        let columns: &'static [Column] = columns.leak();
        let has = |field: &str| columns.iter().any(|c| c.name == field);

        let display = match (&def.display, parent) {
            (Some(d), _) => d.as_str(),
            (None, Some(p)) => p.display,
            (None, None) if has("name") => "name",
            (None, None) if has("number") => "number",
            (None, None) => "sys_id",
        };
        if !has(display) {
            return Err(format!("{name} displays {display}, which it does not have"));
        }
        let inherited = parent.map(|p| p.access);
        let roles = |given: &Option<Vec<String>>, from: Option<&'static [&'static str]>| {
            given
                .as_ref()
                .map(|r| leak_list(r))
                .or(from)
                .unwrap_or(&["admin"])
        };
        let access_def = def.access.as_ref();
        let access = Access {
            read: roles(
                &access_def.and_then(|a| a.read.clone()),
                inherited.map(|a| a.read),
            ),
            read_own: match access_def.and_then(|a| a.read_own.as_deref()) {
                Some(field) => Some(leak(field)),
                None => inherited.and_then(|a| a.read_own),
            },
            write: roles(
                &access_def.and_then(|a| a.write.clone()),
                inherited.map(|a| a.write),
            ),
            delete: roles(
                &access_def.and_then(|a| a.delete.clone()),
                inherited.map(|a| a.delete),
            ),
        };
        if let Some(field) = access.read_own
            && !columns
                .iter()
                .any(|c| c.name == field && matches!(c.kind, Kind::Reference("sys_user")))
        {
            return Err(format!(
                "{name}: read_own names {field}, not a user reference"
            ));
        }
        for index in &def.indexes {
            if !has(index) {
                return Err(format!("{name} indexes {index}, which it does not have"));
            }
        }
        let mut classes = vec![name];
        let mut pending: Vec<&str> = vec![name];
        while let Some(next) = pending.pop() {
            for child in children.get(next).into_iter().flatten() {
                classes.push(leak(child));
                pending.push(child);
            }
        }
        let source = if classes.len() > 1 {
            leak(&format!("{name}__tree"))
        } else {
            name
        };
        let table: &'static Table = Box::leak(Box::new(Table {
            name,
            label: leak(&def.label),
            parent: parent.map(|p| p.name),
            extensible: def.extensible,
            columns,
            indexes: leak_list(&def.indexes),
            display: leak(display),
            number: def.number.as_ref().map(|n| Numbering {
                prefix: leak(&n.prefix),
                start: n.start,
            }),
            access,
            read_only: def.read_only,
            inactive_states: match (&def.inactive_states, parent) {
                (Some(states), _) => leak_list(states),
                (None, Some(p)) => p.inactive_states,
                (None, None) => &[],
            },
            priority_lookup: def.priority_lookup,
            classes: classes.leak(),
            source,
        }));
        if table.number.is_some() && !has("number") {
            return Err(format!("{name} is numbered but has no number field"));
        }
        self.built.insert(name, table);
        self.order.push(table);
        Ok(table)
    }

    fn column(&self, table: &'static str, def: &FieldDef) -> Result<Column, String> {
        if !is_identifier(&def.name) || is_trailer(&def.name) || def.name == "sys_id" {
            return Err(format!("{table}: bad field name {:?}", def.name));
        }
        let max_length = match (def.max_length, default_length(&def.internal_type)) {
            (_, None) => {
                return Err(format!(
                    "{table}.{}: unknown type {}",
                    def.name, def.internal_type
                ));
            }
            (Some(n), _) => n,
            (None, Some(n)) => n,
        };
        let kind = match (def.internal_type.as_str(), &def.reference, &def.choices) {
            ("reference", Some(target), None) => Kind::Reference(leak(target)),
            ("string", None, Some(list)) => Kind::Choice {
                choices: self.choice_list(table, list)?,
                numeric: false,
            },
            ("integer", None, Some(list)) => Kind::Choice {
                choices: self.choice_list(table, list)?,
                numeric: true,
            },
            ("string", None, None) => Kind::String,
            ("integer", None, None) => Kind::Integer,
            ("boolean", None, None) => Kind::Boolean,
            ("glide_date_time", None, None) => Kind::DateTime,
            (other, _, _) => {
                return Err(format!(
                    "{table}.{}: type {other} with that reference/choices is not supported",
                    def.name
                ));
            }
        };
        Ok(Column {
            name: leak(&def.name),
            label: leak(&def.label),
            kind,
            internal_type: leak(&def.internal_type),
            mandatory: def.mandatory,
            default: def.default.as_deref().map(leak),
            max_length,
            defined_on: table,
            choices_from: table,
        })
    }

    /// An inherited column as `table` sees it.
    fn overridden(
        &self,
        table: &'static str,
        inherited: &'static Column,
        change: Option<&OverrideDef>,
    ) -> Result<Column, String> {
        let mut column = Column {
            name: inherited.name,
            label: inherited.label,
            kind: inherited.kind,
            internal_type: inherited.internal_type,
            mandatory: inherited.mandatory,
            default: inherited.default,
            max_length: inherited.max_length,
            defined_on: inherited.defined_on,
            choices_from: inherited.choices_from,
        };
        let Some(change) = change else {
            return Ok(column);
        };
        if let Some(label) = &change.label {
            column.label = leak(label);
        }
        if let Some(default) = &change.default {
            column.default = Some(leak(default));
        }
        if let Some(list) = &change.choices {
            let Kind::Choice { numeric, .. } = inherited.kind else {
                return Err(format!(
                    "{table} overrides the choices of {}, which has none",
                    inherited.name
                ));
            };
            column.kind = Kind::Choice {
                choices: self.choice_list(table, list)?,
                numeric,
            };
            column.choices_from = table;
        }
        Ok(column)
    }
}

fn system_column(
    table: &'static str,
    name: &'static str,
    label: &'static str,
    internal_type: &'static str,
) -> Column {
    let kind = match internal_type {
        "GUID" => Kind::SysId,
        "glide_date_time" => Kind::DateTime,
        "integer" => Kind::Integer,
        "sys_class_name" => Kind::ClassName,
        _ => Kind::String,
    };
    Column {
        name,
        label,
        kind,
        internal_type,
        mandatory: false,
        default: None,
        max_length: default_length(internal_type).unwrap_or(40),
        defined_on: table,
        choices_from: table,
    }
}

/// Every reference points at a table that exists.
fn check_references(schema: &Schema) -> Result<(), String> {
    for table in &schema.tables {
        for column in table.columns {
            if let Kind::Reference(target) = column.kind
                && schema.table(target).is_none()
            {
                return Err(format!(
                    "{}.{} refers to {target}, which is not defined",
                    table.name, column.name
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_schema_is_valid() {
        let schema = parse(SOURCE).unwrap();
        for name in [
            "task",
            "incident",
            "problem",
            "change_request",
            "sc_req_item",
            "sys_user",
            "sys_user_group",
            "sys_user_grmember",
            "cmn_department",
            "cmn_location",
            "cmdb_ci",
            "cmdb_ci_computer",
            "cmdb_ci_service",
            "kb_knowledge",
            "syslog",
            "sys_metadata",
            "sys_script",
            "sys_db_object",
            "sys_dictionary",
            "sys_choice",
            "sys_attachment",
        ] {
            assert!(schema.table(name).is_some(), "{name}");
        }
        assert!(schema.table("no_such_table").is_none());
    }

    #[test]
    fn children_inherit_and_override() {
        let incident = table("incident").unwrap();
        let names: Vec<&str> = incident.columns.iter().map(|c| c.name).collect();
        assert_eq!(names[0], "sys_id");
        assert_eq!(names.last(), Some(&"sys_mod_count"));
        assert!(names.contains(&"assignment_group"), "inherited from task");
        assert!(names.contains(&"sys_class_name"));
        let at = |n: &str| names.iter().position(|x| *x == n).unwrap();
        assert!(
            at("parent") < at("caller_id"),
            "the parent's fields come first"
        );
        assert!(
            at("caller_id") < at("sys_class_name"),
            "the trailer comes last"
        );

        let state = incident.column("state").unwrap();
        assert_eq!(state.defined_on, "task");
        assert_eq!(state.choices_from, "incident");
        assert_eq!(
            choice_label(state.choices().unwrap(), "6"),
            Some("Resolved")
        );
        let task_state = table("task").unwrap().column("state").unwrap();
        assert_eq!(choice_label(task_state.choices().unwrap(), "6"), None);
        assert_eq!(
            incident.column("close_notes").unwrap().label,
            "Resolution notes"
        );
        assert_eq!(
            table("task").unwrap().column("close_notes").unwrap().label,
            "Close notes"
        );
        assert_eq!(
            incident.column("close_code").unwrap().label,
            "Resolution code"
        );
        assert!(
            incident.column("known_error").is_none(),
            "a sibling's field"
        );
    }

    #[test]
    fn hierarchies_read_through_their_views() {
        let task = table("task").unwrap();
        for class in [
            "task",
            "incident",
            "problem",
            "change_request",
            "sc_req_item",
        ] {
            assert!(task.contains_class(class), "{class}");
        }
        assert_eq!(task.source, "task__tree");
        let incident = table("incident").unwrap();
        assert_eq!(incident.source, "incident");
        assert_eq!(incident.classes, ["incident"]);
        let ci = table("cmdb_ci").unwrap();
        assert!(
            ci.contains_class("cmdb_ci_computer"),
            "through cmdb_ci_hardware"
        );
        assert!(ci.contains_class("cmdb_ci_service"));
        assert_eq!(incident.access.read_own, Some("caller_id"));
        assert_eq!(table("problem").unwrap().access.read, ["itil"], "inherited");
        assert_eq!(incident.number.unwrap().format(10001), "INC0010001");
    }

    #[test]
    fn bad_schemas_are_refused_with_a_reason() {
        let cases = [
            (
                "[choices]\n[[table]]\nname = \"a\"\nlabel = \"A\"\nextends = \"b\"\n",
                "not defined before",
            ),
            (
                "[choices]\n[[table]]\nname = \"a\"\nlabel = \"A\"\nfields = [{ name = \"x\", label = \"X\", type = \"reference\", reference = \"zz\" }]\n",
                "zz",
            ),
            (
                "[choices]\n[[table]]\nname = \"a\"\nlabel = \"A\"\nfields = [{ name = \"x\", label = \"X\", type = \"string\", choices = \"nope\" }]\n",
                "no choice list nope",
            ),
            (
                "[choices]\n[[table]]\nname = \"a\"\nlabel = \"A\"\nrows = [{ y = \"1\" }]\n",
                "unknown field y",
            ),
            (
                "[choices]\n[[table]]\nname = \"a\"\nlabel = \"A\"\nfields = [{ name = \"select\", label = \"X\", type = \"blob\" }]\n",
                "unknown type blob",
            ),
            (
                "[choices]\n[[table]]\nname = \"A-b\"\nlabel = \"A\"\n",
                "bad or repeated",
            ),
        ];
        for (text, reason) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.contains(reason), "{e}");
        }
    }

    #[test]
    fn priority_matrix() {
        assert_eq!(priority_for("1", "1"), "1");
        assert_eq!(priority_for("1", "2"), "2");
        assert_eq!(priority_for("2", "2"), "3");
        assert_eq!(priority_for("3", "2"), "4");
        assert_eq!(priority_for("3", "3"), "5");
    }
}
