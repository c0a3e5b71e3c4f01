//! `sys_choice`: the choice lists of the emulated tables as instances publish them (one row per
//! table, element and value; readable by any logged-in user, written by nobody), so clients can
//! read the valid values (`name=incident^element=close_code^inactive=false`) the way they would
//! on a real instance.
//!
//! The rows are generated from the choice columns of [`super::schema`], the same lists the
//! data policy and the form check against, and are rewritten each time the emulator starts: they
//! are never a second list to keep in step.

use rusqlite::Connection;
use sha2::{Digest, Sha256};

use super::schema::{Column, Kind, TABLES, Table};
use super::store::{self, Record};

const fn col(name: &'static str, label: &'static str, kind: Kind) -> Column {
    Column { name, label, kind }
}

const COLUMNS: &[Column] = &[
    col("sys_id", "Sys ID", Kind::SysId),
    col("name", "Table", Kind::String),
    col("element", "Element", Kind::String),
    col("value", "Value", Kind::String),
    col("label", "Label", Kind::String),
    col("sequence", "Sequence", Kind::Integer),
    col("inactive", "Inactive", Kind::Boolean),
    col("language", "Language", Kind::String),
    col("sys_created_on", "Created", Kind::DateTime),
    col("sys_created_by", "Created by", Kind::String),
    col("sys_updated_on", "Updated", Kind::DateTime),
    col("sys_updated_by", "Updated by", Kind::String),
    col("sys_mod_count", "Updates", Kind::Integer),
];

pub static SYS_CHOICE: Table = Table {
    name: "sys_choice",
    columns: COLUMNS,
    indexes: &["name"],
};

/// One row per value of every choice column of the emulated tables, in list order.
pub fn rows() -> Vec<Record> {
    let mut rows = Vec::new();
    for table in TABLES.iter().filter(|t| t.name != SYS_CHOICE.name) {
        for column in table.columns {
            let Kind::Choice { choices, .. } = column.kind else {
                continue;
            };
            for (i, (value, label)) in choices.iter().enumerate() {
                let key = format!("{}.{}.{value}", table.name, column.name);
                let sys_id = hex::encode(&Sha256::digest(key.as_bytes())[..16]);
                let fields = [
                    ("sys_id", sys_id),
                    ("name", table.name.to_owned()),
                    ("element", column.name.to_owned()),
                    ("value", (*value).to_owned()),
                    ("label", (*label).to_owned()),
                    ("sequence", ((i + 1) * 10).to_string()),
                    ("inactive", "false".to_owned()),
                    ("language", "en".to_owned()),
                    ("sys_created_by", "system".to_owned()),
                    ("sys_updated_by", "system".to_owned()),
                    ("sys_mod_count", "0".to_owned()),
                ];
                rows.push(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
            }
        }
    }
    rows
}

/// Replaces the table's rows with [`rows`] (a database kept from an older run gets them too).
pub fn install(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM sys_choice", [])?;
    for row in rows() {
        store::insert(&tx, &SYS_CHOICE, &row)?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::super::schema::{CLOSE_CODE_CHOICES, INCIDENT};
    use super::*;

    #[test]
    fn every_choice_the_rules_check_is_a_row() {
        let rows = rows();
        let close_codes: Vec<&str> = rows
            .iter()
            .filter(|r| r["name"] == "incident" && r["element"] == "close_code")
            .map(|r| r["value"].as_str())
            .collect();
        let expected: Vec<&str> = CLOSE_CODE_CHOICES.iter().map(|(v, _)| *v).collect();
        assert_eq!(close_codes, expected);
        for column in INCIDENT.columns {
            if let Kind::Choice { choices, .. } = column.kind {
                let n = rows.iter().filter(|r| r["element"] == column.name).count();
                assert_eq!(n, choices.len(), "{}", column.name);
            }
        }
        let mut ids: Vec<&str> = rows.iter().map(|r| r["sys_id"].as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), rows.len(), "sys_ids are unique");
        assert!(ids.iter().all(|id| id.len() == 32));
    }
}
