//! The emulator's SQLite store: one SQL table per emulated table (every column TEXT, as
//! ServiceNow's wire values are strings), a view per table with children (its rows and theirs,
//! each with `sys_class_name`), attachment bytes, number counters.
//!
//! Plain storage: no access rules, no business rules (those live in `rules`), no HTTP.
//! Async handlers reach it through [`Store::run`], which moves the work onto the blocking pool.
//! Reads go through a table's `source` (itself, or its view); writes go to the SQL table of the
//! record's own class, which callers find with [`class_of`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::query::{SqlQuery, SqlValue};
use super::schema::{Column, Kind, Table, schema, table};

/// One record: field name → wire value.
pub type Record = BTreeMap<String, String>;

/// The database behind a mutex: SQLite work is short and serialised.
pub struct Store {
    conn: Mutex<Connection>,
}

/// `name` as an SQL identifier (names come from the schema, which allows only plain ones; the
/// quotes are for those that are SQL words, such as `group`, `order` and `when`).
pub fn ident(name: &str) -> String {
    format!("\"{name}\"")
}

impl Store {
    /// Opens (creating if needed) the database at `path`; `true` when it holds no data yet. A
    /// database seeded from another schema (an older emulator) is refused with a reason.
    pub fn open(path: &Path) -> Result<(Store, bool), String> {
        let open = || -> rusqlite::Result<(Connection, Option<String>, Option<String>)> {
            let conn = Connection::open(path)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            // A cache big enough that seeding 100,000 incidents never spills pages mid-transaction.
            conn.pragma_update(None, "cache_size", -262_144)?;
            conn.pragma_update(None, "temp_store", "MEMORY")?;
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);",
            )?;
            let meta = |key: &str| -> rusqlite::Result<Option<String>> {
                conn.query_row("SELECT value FROM meta WHERE key = ?", [key], |r| r.get(0))
                    .optional()
            };
            let seeded = meta("seeded")?;
            let fingerprint = meta("schema")?;
            Ok((conn, seeded, fingerprint))
        };
        let (conn, seeded, fingerprint) = open().map_err(|e| e.to_string())?;
        if seeded.is_some() && fingerprint.as_deref() != Some(stamp().as_str()) {
            return Err(
                "it was seeded by an older emulator (other tables or another storage layout)"
                    .to_owned(),
            );
        }
        create_tables(&conn).map_err(|e| e.to_string())?;
        Ok((
            Store {
                conn: Mutex::new(conn),
            },
            seeded.is_none(),
        ))
    }

    /// Runs `f` on the connection, on this thread.
    pub fn with<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut conn)
    }

    /// Runs `f` on the connection on tokio's blocking pool.
    pub async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Connection) -> R + Send + 'static,
    ) -> Result<R, String> {
        let store = Arc::clone(self);
        tokio::task::spawn_blocking(move || store.with(f))
            .await
            .map_err(|e| format!("store task failed: {e}"))
    }
}

fn create_tables(conn: &Connection) -> rusqlite::Result<()> {
    // One transaction for the lot: one commit rather than one per table.
    let mut sql = String::from(
        "BEGIN;
         CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY NOT NULL, next INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS attachment_data (sys_id TEXT PRIMARY KEY NOT NULL, data BLOB NOT NULL);\n",
    );
    let tables = &schema().tables;
    for table in tables {
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|c| match c.name {
                "sys_id" => "sys_id TEXT PRIMARY KEY NOT NULL".to_string(),
                "sys_class_name" => {
                    format!(
                        "sys_class_name TEXT NOT NULL DEFAULT '{}' COLLATE NOCASE",
                        table.name
                    )
                }
                name => format!(
                    "{} TEXT NOT NULL DEFAULT ''{}",
                    ident(name),
                    collation(c.kind)
                ),
            })
            .collect();
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {} ({});\n",
            ident(table.name),
            columns.join(", ")
        ));
    }
    for table in tables.iter().filter(|t| t.has_children()) {
        // Every descendant holds the parent's fields, so one column list serves every arm.
        let list = column_list(table);
        let arms: Vec<String> = table
            .classes
            .iter()
            .map(|class| format!("SELECT {list} FROM {}", ident(class)))
            .collect();
        sql.push_str(&format!(
            "CREATE VIEW IF NOT EXISTS {} AS {};\n",
            ident(table.source),
            arms.join(" UNION ALL ")
        ));
    }
    sql.push_str("COMMIT;");
    conn.execute_batch(&sql)
}

/// How a column compares and sorts. Instances' databases compare text case-insensitively
/// (`number=inc0010001` finds INC0010001, ORDERBY ignores case), so text columns fold case;
/// sys_ids, and references holding them, stay exact.
fn collation(kind: Kind) -> &'static str {
    match kind {
        Kind::SysId | Kind::Reference(_) => "",
        _ => " COLLATE NOCASE",
    }
}

/// What a database's `meta.schema` must say to be used as it is: the schema file's fingerprint
/// and the layout of its tables (version 2: text columns fold case).
fn stamp() -> String {
    format!("{}; layout 2", schema().fingerprint)
}

/// Creates the secondary indexes (after a bulk seed, which is faster than before it).
pub fn create_indexes(conn: &Connection) -> rusqlite::Result<()> {
    let mut sql = String::new();
    for table in &schema().tables {
        for column in table.indexes {
            sql.push_str(&format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({});\n",
                ident(&format!("idx_{}_{column}", table.name)),
                ident(table.name),
                ident(column)
            ));
        }
    }
    conn.execute_batch(&sql)
}

/// Marks the database as seeded from this schema.
pub fn mark_seeded(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('seeded', '1'), ('schema', ?)",
        [stamp().as_str()],
    )?;
    Ok(())
}

/// A count from a request as an SQL integer (huge values saturate rather than wrap).
fn sql_int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn column_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|c| ident(c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table's columns as read from its source under the alias `t0`.
fn select_list(columns: &[&Column]) -> String {
    if columns.is_empty() {
        return "t0.sys_id".to_string();
    }
    columns
        .iter()
        .map(|c| format!("t0.{}", ident(c.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn row_to_record(table: &Table, row: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    let mut record = Record::new();
    for (i, column) in table.columns.iter().enumerate() {
        let value: String = row.get(i)?;
        record.insert(column.name.to_string(), value);
    }
    Ok(record)
}

fn all_columns(table: &'static Table) -> Vec<&'static Column> {
    table.columns.iter().collect()
}

/// Rows matching `query`, in its order, `limit` rows from `offset`.
pub fn select(
    conn: &Connection,
    table: &'static Table,
    query: &SqlQuery,
    limit: Option<usize>,
    offset: usize,
) -> rusqlite::Result<Vec<Record>> {
    let sql = format!(
        "SELECT {} FROM {} AS t0 WHERE {} ORDER BY {} LIMIT ? OFFSET ?",
        select_list(&all_columns(table)),
        ident(table.source),
        query.where_sql,
        query.order_sql
    );
    let mut params = query.params.clone();
    params.push(SqlValue::Int(limit.map_or(-1, sql_int)));
    params.push(SqlValue::Int(sql_int(offset)));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(params.iter()), |row| {
        row_to_record(table, row)
    })?;
    rows.collect()
}

/// Streams rows matching `query` (only `columns`, in that order) into `each`, `limit` rows
/// from `offset`; returns how many. The cells are reused between rows: no per-row allocation.
pub fn select_cells(
    conn: &Connection,
    table: &Table,
    columns: &[&Column],
    query: &SqlQuery,
    limit: Option<usize>,
    offset: usize,
    mut each: impl FnMut(&[String]),
) -> rusqlite::Result<usize> {
    let sql = format!(
        "SELECT {} FROM {} AS t0 WHERE {} ORDER BY {} LIMIT ? OFFSET ?",
        select_list(columns),
        ident(table.source),
        query.where_sql,
        query.order_sql
    );
    let mut params = query.params.clone();
    params.push(SqlValue::Int(limit.map_or(-1, sql_int)));
    params.push(SqlValue::Int(sql_int(offset)));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params.iter()))?;
    let mut cells = vec![String::new(); columns.len()];
    let mut count = 0;
    while let Some(row) = rows.next()? {
        for (i, cell) in cells.iter_mut().enumerate() {
            cell.clear();
            if let ValueRef::Text(bytes) = row.get_ref(i)? {
                cell.push_str(&String::from_utf8_lossy(bytes));
            }
        }
        each(&cells);
        count += 1;
    }
    Ok(count)
}

/// The sys_ids of rows matching `query`, in its order.
pub fn select_ids(
    conn: &Connection,
    table: &Table,
    query: &SqlQuery,
    limit: Option<usize>,
) -> rusqlite::Result<Vec<String>> {
    let sql = format!(
        "SELECT t0.sys_id FROM {} AS t0 WHERE {} ORDER BY {} LIMIT ?",
        ident(table.source),
        query.where_sql,
        query.order_sql
    );
    let mut params = query.params.clone();
    params.push(SqlValue::Int(limit.map_or(-1, sql_int)));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(params.iter()), |row| row.get(0))?;
    rows.collect()
}

/// How many rows match `query`.
pub fn count(conn: &Connection, table: &Table, query: &SqlQuery) -> rusqlite::Result<usize> {
    let sql = format!(
        "SELECT COUNT(*) FROM {} AS t0 WHERE {}",
        ident(table.source),
        query.where_sql
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let n: i64 = stmt.query_row(params_from_iter(query.params.iter()), |r| r.get(0))?;
    Ok(n.max(0) as usize)
}

/// The record with `sys_id` (of `table` or a table that extends it).
pub fn get(
    conn: &Connection,
    table: &'static Table,
    sys_id: &str,
) -> rusqlite::Result<Option<Record>> {
    find_by(conn, table, "sys_id", sys_id)
}

/// The first record whose `field` (a schema column) equals `value`.
pub fn find_by(
    conn: &Connection,
    table: &'static Table,
    field: &str,
    value: &str,
) -> rusqlite::Result<Option<Record>> {
    let Some(column) = table.column(field) else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT {} FROM {} AS t0 WHERE t0.{} = ? ORDER BY t0.sys_id LIMIT 1",
        select_list(&all_columns(table)),
        ident(table.source),
        ident(column.name)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_row([value], |row| row_to_record(table, row))
        .optional()
}

/// The table the record `sys_id` belongs to (its `sys_class_name`), when `table` or one of its
/// descendants holds it.
pub fn class_of(
    conn: &Connection,
    table: &'static Table,
    sys_id: &str,
) -> rusqlite::Result<Option<&'static Table>> {
    if !table.has_children() {
        let sql = format!("SELECT 1 FROM {} WHERE sys_id = ?", ident(table.name));
        let found: Option<i64> = conn
            .prepare_cached(&sql)?
            .query_row([sys_id], |r| r.get(0))
            .optional()?;
        return Ok(found.map(|_| table));
    }
    let sql = format!(
        "SELECT sys_class_name FROM {} WHERE sys_id = ?",
        ident(table.source)
    );
    let class: Option<String> = conn
        .prepare_cached(&sql)?
        .query_row([sys_id], |r| r.get(0))
        .optional()?;
    Ok(class.as_deref().and_then(super::schema::table))
}

/// Every record of `table` (small tables only: users).
pub fn all(conn: &Connection, table: &'static Table) -> rusqlite::Result<Vec<Record>> {
    let sql = format!(
        "SELECT {} FROM {} AS t0 ORDER BY t0.sys_id",
        select_list(&all_columns(table)),
        ident(table.source)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], |row| row_to_record(table, row))?;
    rows.collect()
}

/// Inserts `record` as a record of `table` (its class); columns it lacks are stored empty,
/// fields the table lacks are ignored.
pub fn insert(conn: &Connection, table: &Table, record: &Record) -> rusqlite::Result<()> {
    let marks = vec!["?"; table.columns.len()].join(", ");
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({marks})",
        ident(table.name),
        column_list(table)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let values = table.columns.iter().map(|c| match c.name {
        "sys_class_name" => table.name,
        name => record.get(name).map(String::as_str).unwrap_or(""),
    });
    stmt.execute(params_from_iter(values))?;
    Ok(())
}

/// Inserts many rows of `table` at once; each row holds a value for each of `columns`, in order
/// (the table's other columns are stored empty).
pub fn insert_rows(
    conn: &Connection,
    table: &Table,
    columns: &[&str],
    rows: &[Vec<String>],
) -> rusqlite::Result<()> {
    // Several rows per statement: far fewer statement executions for bulk seeding.
    const PER_STATEMENT: usize = 64;
    let width = columns.len();
    let list = columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let one = format!("({})", vec!["?"; width].join(", "));
    for chunk in rows.chunks(PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO {} ({list}) VALUES {}",
            ident(table.name),
            vec![one.as_str(); chunk.len()].join(", ")
        );
        let values = chunk
            .iter()
            .flat_map(|row| (0..width).map(move |i| row.get(i).map(String::as_str).unwrap_or("")));
        conn.prepare_cached(&sql)?
            .execute(params_from_iter(values))?;
    }
    Ok(())
}

/// Writes `changes` (schema columns only) into the record `sys_id` of class `table`; false when
/// it does not exist.
pub fn update(
    conn: &Connection,
    table: &Table,
    sys_id: &str,
    changes: &Record,
) -> rusqlite::Result<bool> {
    let columns: Vec<&str> = changes
        .keys()
        .filter_map(|k| table.column(k))
        .filter(|c| c.name != "sys_id" && c.name != "sys_class_name")
        .map(|c| c.name)
        .collect();
    if columns.is_empty() {
        let sql = format!("SELECT 1 FROM {} WHERE sys_id = ?", ident(table.name));
        let found: Option<i64> = conn
            .prepare_cached(&sql)?
            .query_row([sys_id], |r| r.get(0))
            .optional()?;
        return Ok(found.is_some());
    }
    let sets: Vec<String> = columns
        .iter()
        .map(|c| format!("{} = ?", ident(c)))
        .collect();
    let sql = format!(
        "UPDATE {} SET {} WHERE sys_id = ?",
        ident(table.name),
        sets.join(", ")
    );
    let mut values: Vec<&str> = columns
        .iter()
        .map(|c| changes.get(*c).map(String::as_str).unwrap_or(""))
        .collect();
    values.push(sys_id);
    let n = conn
        .prepare_cached(&sql)?
        .execute(params_from_iter(values))?;
    Ok(n > 0)
}

/// Deletes the record `sys_id` of class `table`; false when it did not exist.
pub fn delete(conn: &Connection, table: &Table, sys_id: &str) -> rusqlite::Result<bool> {
    let sql = format!("DELETE FROM {} WHERE sys_id = ?", ident(table.name));
    let n = conn.prepare_cached(&sql)?.execute([sys_id])?;
    Ok(n > 0)
}

/// Is `sys_id` taken anywhere in the hierarchy `table` belongs to?
pub fn sys_id_taken(conn: &Connection, of: &'static Table, sys_id: &str) -> rusqlite::Result<bool> {
    let mut root = of;
    while let Some(parent) = root.parent.and_then(table) {
        root = parent;
    }
    Ok(class_of(conn, root, sys_id)?.is_some())
}

/// Takes the next value of counter `name`, starting at `first`.
pub fn next_counter(conn: &Connection, name: &str, first: i64) -> rusqlite::Result<i64> {
    let current: Option<i64> = conn
        .query_row("SELECT next FROM counters WHERE name = ?", [name], |r| {
            r.get(0)
        })
        .optional()?;
    let value = current.unwrap_or(first);
    conn.execute(
        "INSERT OR REPLACE INTO counters (name, next) VALUES (?, ?)",
        params![name, value + 1],
    )?;
    Ok(value)
}

/// Sets counter `name` so the next value taken is `next`.
pub fn set_counter(conn: &Connection, name: &str, next: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO counters (name, next) VALUES (?, ?)",
        params![name, next],
    )?;
    Ok(())
}

/// Stores an attachment's bytes.
pub fn put_attachment_data(conn: &Connection, sys_id: &str, data: &[u8]) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO attachment_data (sys_id, data) VALUES (?, ?)",
        params![sys_id, data],
    )?;
    Ok(())
}

/// An attachment's bytes.
pub fn attachment_data(conn: &Connection, sys_id: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row(
        "SELECT data FROM attachment_data WHERE sys_id = ?",
        [sys_id],
        |r| r.get(0),
    )
    .optional()
}

/// Removes an attachment's bytes.
pub fn delete_attachment_data(conn: &Connection, sys_id: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM attachment_data WHERE sys_id = ?", [sys_id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::query::EncodedQuery;
    use super::super::schema::INCIDENT;
    use super::*;

    fn record(pairs: &[(&str, &str)]) -> Record {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn insert_query_update_delete() {
        let dir = tempfile::tempdir().unwrap();
        let (store, new) = Store::open(&dir.path().join("t.db")).unwrap();
        assert!(new);
        store.with(|conn| {
            for (id, n, state) in [("b", "INC2", "2"), ("a", "INC1", "10"), ("c", "INC3", "1")] {
                insert(
                    conn,
                    &INCIDENT,
                    &record(&[
                        ("sys_id", id),
                        ("number", n),
                        ("state", state),
                        ("nosuch", "x"),
                    ]),
                )
                .unwrap();
            }
            let q = EncodedQuery::parse("state>1^ORDERBYDESCstate").to_sql(&INCIDENT);
            let rows = select(conn, &INCIDENT, &q, None, 0).unwrap();
            let ids: Vec<&str> = rows.iter().map(|r| r["sys_id"].as_str()).collect();
            assert_eq!(ids, ["a", "b"], "10 sorts above 2 as a number");
            assert_eq!(count(conn, &INCIDENT, &q).unwrap(), 2);
            assert_eq!(rows[0]["short_description"], "");

            let q = EncodedQuery::parse("ORDERBYsys_id^sys_id>a").to_sql(&INCIDENT);
            assert_eq!(select_ids(conn, &INCIDENT, &q, Some(1)).unwrap(), ["b"]);

            assert!(update(conn, &INCIDENT, "c", &record(&[("state", "6")])).unwrap());
            assert_eq!(get(conn, &INCIDENT, "c").unwrap().unwrap()["state"], "6");
            assert!(!update(conn, &INCIDENT, "zz", &record(&[("state", "6")])).unwrap());
            assert!(delete(conn, &INCIDENT, "c").unwrap());
            assert!(get(conn, &INCIDENT, "c").unwrap().is_none());
            assert_eq!(
                find_by(conn, &INCIDENT, "number", "INC1").unwrap().unwrap()["sys_id"],
                "a"
            );

            assert_eq!(next_counter(conn, "incident", 10001).unwrap(), 10001);
            assert_eq!(next_counter(conn, "incident", 10001).unwrap(), 10002);
            mark_seeded(conn).unwrap();
        });
        drop(store);
        let (_, new) = Store::open(&dir.path().join("t.db")).unwrap();
        assert!(!new, "a seeded database is not seeded again");
    }
}
