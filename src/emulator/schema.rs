//! The emulated tables: their columns, labels, kinds and choice lists (`incident`, `sys_user`,
//! `sys_attachment`; `sys_choice`, generated from these lists, lives in `choices`).
//!
//! Pure data: the store builds SQLite tables from it, the query layer checks field names against
//! it, the renderers take labels and display values from it. No I/O here.

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
        choices: &'static [(&'static str, &'static str)],
        numeric: bool,
    },
    /// The sys_id of a record in another table.
    Reference(&'static str),
}

#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
}

#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
    /// Secondary indexes the store creates (the sys_id primary key always exists).
    pub indexes: &'static [&'static str],
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

pub const STATE_CHOICES: &[(&str, &str)] = &[
    ("1", "New"),
    ("2", "In Progress"),
    ("3", "On Hold"),
    ("6", "Resolved"),
    ("7", "Closed"),
    ("8", "Canceled"),
];
pub const IMPACT_CHOICES: &[(&str, &str)] =
    &[("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low")];
pub const PRIORITY_CHOICES: &[(&str, &str)] = &[
    ("1", "1 - Critical"),
    ("2", "2 - High"),
    ("3", "3 - Moderate"),
    ("4", "4 - Low"),
    ("5", "5 - Planning"),
];
pub const CATEGORY_CHOICES: &[(&str, &str)] = &[
    ("inquiry", "Inquiry / Help"),
    ("software", "Software"),
    ("hardware", "Hardware"),
    ("network", "Network"),
    ("database", "Database"),
];
/// Resolution codes: value and label are the same on recent releases.
pub const CLOSE_CODE_CHOICES: &[(&str, &str)] = &[
    ("Solution provided", "Solution provided"),
    ("Resolved by caller", "Resolved by caller"),
    ("Workaround provided", "Workaround provided"),
    ("Duplicate", "Duplicate"),
    ("User error", "User error"),
    ("Known error", "Known error"),
];

/// Incident states the resolve/close rules care about.
pub const STATE_RESOLVED: &str = "6";
pub const STATE_CLOSED: &str = "7";
pub const STATE_CANCELED: &str = "8";

const fn col(name: &'static str, label: &'static str, kind: Kind) -> Column {
    Column { name, label, kind }
}

/// A table's own columns followed by the system columns every table has.
macro_rules! columns {
    ($($column:expr),* $(,)?) => {
        &[
            $($column,)*
            col("sys_created_on", "Created", Kind::DateTime),
            col("sys_created_by", "Created by", Kind::String),
            col("sys_updated_on", "Updated", Kind::DateTime),
            col("sys_updated_by", "Updated by", Kind::String),
            col("sys_mod_count", "Updates", Kind::Integer),
        ]
    };
}

const INCIDENT_COLUMNS: &[Column] = columns![
    col("sys_id", "Sys ID", Kind::SysId),
    col("number", "Number", Kind::String),
    col("short_description", "Short description", Kind::String),
    col("description", "Description", Kind::String),
    col(
        "state",
        "State",
        Kind::Choice {
            choices: STATE_CHOICES,
            numeric: true,
        },
    ),
    col(
        "impact",
        "Impact",
        Kind::Choice {
            choices: IMPACT_CHOICES,
            numeric: true,
        },
    ),
    col(
        "urgency",
        "Urgency",
        Kind::Choice {
            choices: IMPACT_CHOICES,
            numeric: true,
        },
    ),
    col(
        "priority",
        "Priority",
        Kind::Choice {
            choices: PRIORITY_CHOICES,
            numeric: true,
        },
    ),
    col(
        "category",
        "Category",
        Kind::Choice {
            choices: CATEGORY_CHOICES,
            numeric: false,
        },
    ),
    col("caller_id", "Caller", Kind::Reference("sys_user")),
    col("assigned_to", "Assigned to", Kind::Reference("sys_user")),
    col("opened_at", "Opened", Kind::DateTime),
    col("opened_by", "Opened by", Kind::Reference("sys_user")),
    col("active", "Active", Kind::Boolean),
    col(
        "close_code",
        "Resolution code",
        Kind::Choice {
            choices: CLOSE_CODE_CHOICES,
            numeric: false,
        },
    ),
    col("close_notes", "Resolution notes", Kind::String),
    col("resolved_at", "Resolved", Kind::DateTime),
    col("resolved_by", "Resolved by", Kind::Reference("sys_user")),
    col("closed_at", "Closed", Kind::DateTime),
    col("closed_by", "Closed by", Kind::Reference("sys_user")),
];

const USER_COLUMNS: &[Column] = columns![
    col("sys_id", "Sys ID", Kind::SysId),
    col("user_name", "User ID", Kind::String),
    col("name", "Name", Kind::String),
    col("first_name", "First name", Kind::String),
    col("last_name", "Last name", Kind::String),
    col("email", "Email", Kind::String),
    col("title", "Title", Kind::String),
    col("roles", "Roles", Kind::String),
    col("active", "Active", Kind::Boolean),
];

const ATTACHMENT_COLUMNS: &[Column] = columns![
    col("sys_id", "Sys ID", Kind::SysId),
    col("file_name", "File name", Kind::String),
    col("content_type", "Content type", Kind::String),
    col("size_bytes", "Size bytes", Kind::Integer),
    col("size_compressed", "Size compressed", Kind::Integer),
    col("compressed", "Compressed", Kind::Boolean),
    col("hash", "Hash", Kind::String),
    col("state", "State", Kind::String),
    col("table_name", "Table name", Kind::String),
    col("table_sys_id", "Table sys ID", Kind::String),
    col("chunk_size_bytes", "Chunk size bytes", Kind::String),
    col("sys_tags", "Tags", Kind::String),
];

pub static INCIDENT: Table = Table {
    name: "incident",
    columns: INCIDENT_COLUMNS,
    indexes: &[
        "number",
        "state",
        "caller_id",
        "assigned_to",
        "sys_updated_on",
    ],
};

pub static SYS_USER: Table = Table {
    name: "sys_user",
    columns: USER_COLUMNS,
    indexes: &["user_name", "name"],
};

pub static SYS_ATTACHMENT: Table = Table {
    name: "sys_attachment",
    columns: ATTACHMENT_COLUMNS,
    indexes: &["table_sys_id"],
};

pub static TABLES: [&Table; 4] = [
    &INCIDENT,
    &SYS_USER,
    &SYS_ATTACHMENT,
    &super::choices::SYS_CHOICE,
];

/// The table called `name`, if the emulator has it.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().copied().find(|t| t.name == name)
}

/// The label of `value` in `choices`, if it is one.
pub fn choice_label(choices: &[(&str, &'static str)], value: &str) -> Option<&'static str> {
    choices.iter().find(|(v, _)| *v == value).map(|(_, l)| *l)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_hold_their_columns_in_order() {
        let names: Vec<&str> = INCIDENT.columns.iter().map(|c| c.name).collect();
        assert_eq!(names[0], "sys_id");
        assert!(names.contains(&"close_code"));
        assert_eq!(names.last(), Some(&"sys_mod_count"));
        assert_eq!(
            INCIDENT.column("close_code").unwrap().label,
            "Resolution code"
        );
        assert!(table("sys_user").unwrap().column("user_name").is_some());
        assert!(table("change_request").is_none());
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
