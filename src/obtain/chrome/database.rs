//! Reading a cookie database safely: a private copy, opened read-only, one bound query.
//!
//! [`Snapshot::take`] opens the live `Cookies` file read-only as immutable (no lock taken, nothing
//! written, only the pages the query needs read) when nothing of a transaction sits beside it;
//! otherwise it copies the file and its `-journal`/`-wal`/`-shm` companions into a private 0700
//! temporary folder and opens the copy. Either way the browser is never disturbed and a
//! half-written transaction is rolled back in the copy, not read. [`Snapshot::rows_for`] returns
//! the raw rows whose `host_key` could apply to a host. Schema variants are read from
//! `PRAGMA table_info`. This module decides nothing about cookies and decrypts nothing.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Why a cookie file could not be read, in words that say what to do.
fn unreadable(db: &Path, what: &str) -> Error {
    Error::bad_input(format!(
        "cannot read the cookie database {}: {what}",
        db.display()
    ))
}

/// A private, read-only copy of a cookie database.
pub(crate) struct Snapshot {
    conn: Connection,
    /// The live file the copy was taken from, for messages.
    source: PathBuf,
    /// `meta.version`: 24 and later prefix values with SHA-256(host_key).
    pub meta_version: u32,
    select: String,
    // Dropped last: removes the copy on disk, when one was made.
    _dir: Option<tempfile::TempDir>,
}

/// One row of the `cookies` table, as stored.
#[derive(Debug)]
pub(crate) struct Row {
    pub host_key: String,
    pub name: String,
    /// The plaintext `value` column (used when `encrypted_value` is empty).
    pub value: Zeroizing<Vec<u8>>,
    pub encrypted: Zeroizing<Vec<u8>>,
    pub path: String,
    /// Microseconds since 1601-01-01 UTC; 0 for a session cookie.
    pub expires_utc: i64,
    pub secure: bool,
    pub http_only: bool,
    /// False when the schema or the row says the cookie has no expiry.
    pub persistent: bool,
    /// -1 unspecified, 0 None, 1 Lax, 2 Strict.
    pub samesite: i64,
    /// A non-empty `top_frame_site_key`: a partitioned (CHIPS) cookie.
    pub partitioned: bool,
    /// Which column holds a value Chrome would not write, when one does: the row is reported
    /// as damaged, not imported.
    pub damaged: Option<String>,
}

impl Snapshot {
    /// Opens `db` in place (read-only, immutable), or copies it (with its journal files)
    /// privately and opens the copy.
    pub(crate) fn take(db: &Path) -> Result<Snapshot> {
        let (conn, dir) = match in_place(db)? {
            Some(conn) => (conn, None),
            None => {
                let dir = private_dir()?;
                let copy = dir.path().join("Cookies");
                copy_file(db, &copy).map_err(|e| copy_error(db, &e))?;
                for suffix in COMPANIONS {
                    let from = with_suffix(db, suffix);
                    match copy_file(&from, &with_suffix(&copy, suffix)) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(copy_error(&from, &e)),
                    }
                }
                (open(&copy, db)?, Some(dir))
            }
        };
        let columns = columns(&conn).map_err(|e| sqlite_error(db, &e))?;
        if columns.is_empty() {
            return Err(unreadable(
                db,
                "it has no `cookies` table, so it is not a Chromium cookie database",
            ));
        }
        for required in ["host_key", "name", "path", "expires_utc"] {
            if !columns.iter().any(|c| c == required) {
                return Err(unreadable(
                    db,
                    &format!("its `cookies` table has no `{required}` column"),
                ));
            }
        }
        let meta_version = meta_version(&conn).map_err(|e| sqlite_error(db, &e))?;
        Ok(Snapshot {
            conn,
            source: db.to_path_buf(),
            meta_version,
            select: select_sql(&columns),
            _dir: dir,
        })
    }

    /// The rows whose `host_key` is one of `host_keys`, oldest first.
    pub(crate) fn rows_for(&self, host_keys: &[String]) -> Result<Vec<Row>> {
        let read = || -> rusqlite::Result<Vec<Row>> {
            let hosts = serde_json::to_string(host_keys)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            let mut stmt = self.conn.prepare(&self.select)?;
            let rows = stmt.query_map([hosts], |r| Ok(read_row(r)))?;
            rows.collect()
        };
        read().map_err(|e| sqlite_error(&self.source, &e))
    }
}

/// The columns [`select_sql`] reads, in order, by the names current schemas give them.
const COLUMNS: [&str; 12] = [
    "host_key",
    "name",
    "value",
    "encrypted_value",
    "path",
    "expires_utc",
    "is_secure",
    "is_httponly",
    "has_expires",
    "is_persistent",
    "samesite",
    "top_frame_site_key",
];

/// One row, read leniently: SQLite lets any column hold any type, and one row of the wrong
/// shape must cost only itself, so a value Chrome would not write is noted in `damaged`
/// (the first such column) and the row is reported, not imported.
fn read_row(r: &rusqlite::Row<'_>) -> Row {
    use rusqlite::types::ValueRef;
    let mut damaged: Option<String> = None;
    let mut note = |i: usize, what: &str| {
        damaged.get_or_insert_with(|| format!("its `{}` column {what}", COLUMNS[i]));
    };
    let value = |i: usize| r.get_ref(i).unwrap_or(ValueRef::Null);
    let mut text = |i: usize| match value(i) {
        ValueRef::Text(t) | ValueRef::Blob(t) => match std::str::from_utf8(t) {
            Ok(t) => t.to_owned(),
            Err(_) => {
                note(i, "is not UTF-8 text");
                String::from_utf8_lossy(t).into_owned()
            }
        },
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Null => {
            note(i, "is empty (NULL)");
            String::new()
        }
    };
    let host_key = text(0);
    let name = text(1);
    let path = text(4);
    let bytes = |i: usize| match value(i) {
        ValueRef::Text(t) | ValueRef::Blob(t) => t.to_vec(),
        _ => Vec::new(),
    };
    let plain = Zeroizing::new(bytes(2));
    let encrypted = Zeroizing::new(bytes(3));
    let mut number = |i: usize, default: i64| {
        let parsed = match value(i) {
            ValueRef::Integer(n) => Some(n),
            ValueRef::Null => Some(default),
            // Text affinity can leave digits as text; anything else is not Chrome's.
            ValueRef::Text(t) => std::str::from_utf8(t)
                .ok()
                .and_then(|t| t.trim().parse().ok()),
            ValueRef::Real(_) | ValueRef::Blob(_) => None,
        };
        parsed.unwrap_or_else(|| {
            note(i, "is not a whole number");
            default
        })
    };
    let expires_utc = number(5, 0);
    let secure = number(6, 0) != 0;
    let http_only = number(7, 0) != 0;
    let persistent = number(8, 0) != 0 && number(9, 0) != 0;
    let samesite = number(10, -1);
    let partitioned = !matches!(value(11), ValueRef::Null)
        && !matches!(value(11), ValueRef::Text(t) | ValueRef::Blob(t) if t.is_empty());
    Row {
        host_key,
        name,
        value: plain,
        encrypted,
        path,
        expires_utc,
        secure,
        http_only,
        persistent,
        samesite,
        partitioned,
        damaged,
    }
}

/// The SELECT for this schema. Only column names from the fixed lists below (or constant
/// stand-ins for missing columns) go into the text; the hosts are bound as one JSON parameter.
fn select_sql(columns: &[String]) -> String {
    let pick = |names: &[&'static str], missing: &'static str| -> &'static str {
        names
            .iter()
            .copied()
            .find(|n| columns.iter().any(|c| c == n))
            .unwrap_or(missing)
    };
    let value = if pick(&["value"], "").is_empty() {
        "x''"
    } else {
        "CAST(value AS BLOB)"
    };
    // Chrome has returned encrypted_value typed TEXT; the cast reads the bytes either way.
    let encrypted = if pick(&["encrypted_value"], "").is_empty() {
        "x''"
    } else {
        "CAST(encrypted_value AS BLOB)"
    };
    let secure = pick(&["is_secure", "secure"], "0");
    let http_only = pick(&["is_httponly", "httponly"], "0");
    let has_expires = pick(&["has_expires"], "1");
    let persistent = pick(&["is_persistent", "persistent"], "1");
    let samesite = pick(&["samesite"], "-1");
    let top_frame = pick(&["top_frame_site_key"], "''");
    let order = pick(&["creation_utc"], "rowid");
    format!(
        "SELECT host_key, name, {value}, {encrypted}, path, expires_utc, {secure}, {http_only}, \
         {has_expires}, {persistent}, {samesite}, {top_frame} FROM cookies \
         WHERE host_key IN (SELECT value FROM json_each(?1)) ORDER BY {order}"
    )
}

fn columns(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('cookies')")?;
    let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
    names.collect()
}

/// `meta.version` as a number; databases without it predate the host hash (version 0).
fn meta_version(conn: &Connection) -> rusqlite::Result<u32> {
    let has_meta: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
        [],
        |r| r.get(0),
    )?;
    if !has_meta {
        return Ok(0);
    }
    let mut stmt = conn.prepare("SELECT value FROM meta WHERE key = ?1")?;
    let mut rows = stmt.query(["version"])?;
    let Some(row) = rows.next()? else {
        return Ok(0);
    };
    Ok(match row.get::<_, rusqlite::types::Value>(0)? {
        rusqlite::types::Value::Integer(n) => u32::try_from(n).unwrap_or(0),
        rusqlite::types::Value::Text(t) => t.trim().parse().unwrap_or(0),
        _ => 0,
    })
}

/// Opens the copy read-only. A copy taken mid-transaction carries a hot journal that SQLite must
/// roll back before reading, which a read-only handle refuses; the copy is ours alone, so it is
/// then opened read-write to let SQLite restore the last committed state.
/// The files SQLite keeps beside a database while (or after) writing it.
const COMPANIONS: [&str; 3] = ["-journal", "-wal", "-shm"];

/// `db` opened where it lies, read-only and as immutable, when it can be read alone: no journal
/// or WAL file with anything in it beside it, and not a WAL-mode database (those go through the
/// copy on disk, where SQLite can finish or roll back what the files hold). SQLite then takes no
/// lock and writes nothing (the browser is not disturbed), and reads only the pages the query
/// needs through the `host_key` index: a few kilobytes of a many-megabyte file, where reading it
/// whole was most of an import's time.
fn in_place(db: &Path) -> Result<Option<Connection>> {
    for suffix in COMPANIONS {
        if std::fs::metadata(with_suffix(db, suffix)).is_ok_and(|m| m.len() > 0) {
            return Ok(None);
        }
    }
    let mut file = std::fs::File::open(db).map_err(|e| copy_error(db, &e))?;
    let len = file.metadata().map_err(|e| copy_error(db, &e))?.len();
    if len < 100 {
        // Shorter than SQLite's header: whatever it is, the copy's path says what is wrong.
        return Ok(None);
    }
    let mut header = [0u8; 20];
    // The header's write and read versions (bytes 18 and 19) are 2 in WAL mode.
    if std::io::Read::read_exact(&mut file, &mut header).is_ok() && header[18..20] == [2, 2] {
        return Ok(None);
    }
    // A URI names the file whatever its characters (spaces, `?`, `#`, a drive letter).
    let Some(absolute) = std::path::absolute(db).ok() else {
        return Ok(None);
    };
    let Ok(mut uri) = url::Url::from_file_path(&absolute) else {
        return Ok(None);
    };
    uri.set_query(Some("mode=ro&immutable=1"));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    match Connection::open_with_flags(uri.as_str(), flags) {
        Ok(conn) => Ok(Some(conn)),
        // Not openable in place (a lock the OS enforces): the copy's path, and its messages.
        Err(_) => Ok(None),
    }
}

fn open(copy: &Path, source: &Path) -> Result<Connection> {
    let read_only = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn =
        Connection::open_with_flags(copy, read_only).map_err(|e| sqlite_error(source, &e))?;
    match columns(&conn) {
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::ReadOnly) => {
            drop(conn);
            let read_write = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(copy, read_write)
                .map_err(|e| sqlite_error(source, &e))?;
            columns(&conn).map_err(|e| sqlite_error(source, &e))?;
            Ok(conn)
        }
        Err(e) => Err(sqlite_error(source, &e)),
        Ok(_) => Ok(conn),
    }
}

fn sqlite_error(db: &Path, err: &rusqlite::Error) -> Error {
    let what = match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            "it is not an SQLite database (truncated, damaged, or not a cookie file)".to_string()
        }
        Some(ErrorCode::DatabaseCorrupt) => {
            "it is damaged or truncated (copied while the browser was rewriting it?)".to_string()
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "it is locked by another process".to_string()
        }
        _ => err.to_string(),
    };
    unreadable(db, &what).with_hint(
        "close the browser (or wait a few seconds) and try again; if it keeps failing, the \
         profile's cookie file is damaged and logging in through the browser is the way on",
    )
}

/// A failed copy of the live file: the browser's exclusive lock (Windows), a missing file, or
/// a permission problem.
fn copy_error(path: &Path, err: &std::io::Error) -> Error {
    describe_copy_error(path, err.kind(), err.raw_os_error(), cfg!(windows), err)
}

fn describe_copy_error(
    path: &Path,
    kind: std::io::ErrorKind,
    os_code: Option<i32>,
    windows: bool,
    err: &dyn std::fmt::Display,
) -> Error {
    // ERROR_SHARING_VIOLATION (32) and ERROR_LOCK_VIOLATION (33).
    if windows && matches!(os_code, Some(32 | 33)) {
        return unreadable(
            path,
            "the browser holds it open exclusively (Chrome 114 and later lock it on Windows \
             while running)",
        )
        .with_hint("close the browser completely (check the system tray) and try again");
    }
    match kind {
        std::io::ErrorKind::NotFound => unreadable(path, "it does not exist")
            .with_hint("the profile has no cookies yet: open the instance in that browser first"),
        std::io::ErrorKind::PermissionDenied => {
            unreadable(path, "permission denied (another user's profile?)")
        }
        _ => unreadable(path, &format!("copying it failed: {err}"))
            .with_hint("close the browser or retry in a moment"),
    }
}

/// A 0700 temporary folder only this user can enter.
fn private_dir() -> Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("snowbridge-chrome-")
        .tempdir()
        .map_err(|e| Error::io("creating a temporary folder in", &std::env::temp_dir(), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io("restricting", dir.path(), e))?;
    }
    Ok(dir)
}

/// Copies `from` to a new owner-only file `to`.
fn copy_file(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut src = std::fs::File::open(from)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut dst = options.open(to)?;
    std::io::copy(&mut src, &mut dst)?;
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_schemas_select_their_own_column_names_and_defaults() {
        let cols: Vec<String> = ["host_key", "name", "value", "path", "expires_utc", "secure"]
            .map(String::from)
            .to_vec();
        let sql = select_sql(&cols);
        assert!(sql.contains(", secure,"), "{sql}");
        assert!(sql.contains("x''"), "no encrypted_value column: {sql}");
        assert!(
            sql.contains("-1, ''"),
            "samesite and top_frame defaults: {sql}"
        );
        assert!(sql.ends_with("ORDER BY rowid"), "{sql}");
    }

    #[test]
    fn a_windows_sharing_violation_says_to_close_the_browser() {
        let e = describe_copy_error(
            Path::new("C:/x/Network/Cookies"),
            std::io::ErrorKind::Other,
            Some(32),
            true,
            &"sharing violation",
        );
        assert!(e.message().contains("exclusively"), "{e}");
        assert!(e.message().contains("Network/Cookies"), "{e}");
        assert!(e.hint().unwrap().contains("close the browser"));
    }

    #[test]
    fn the_copy_lives_in_a_private_folder_and_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("Cookies");
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE meta(key TEXT, value TEXT); INSERT INTO meta VALUES('version','24');
             CREATE TABLE cookies(host_key TEXT, name TEXT, value TEXT, path TEXT, expires_utc INTEGER);",
        )
        .unwrap();
        drop(conn);
        // A journal with something in it: the copy on disk, where SQLite can roll it back.
        std::fs::write(tmp.path().join("Cookies-journal"), b"").unwrap();
        assert!(
            Snapshot::take(&db).unwrap()._dir.is_none(),
            "an empty journal is no transaction"
        );
        std::fs::write(tmp.path().join("Cookies-journal"), b"\0\0\0\0").unwrap();
        let snap = Snapshot::take(&db).unwrap();
        assert_eq!(snap.meta_version, 24);
        let dir = snap._dir.as_ref().unwrap().path().to_path_buf();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
            let mode = std::fs::metadata(dir.join("Cookies"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        drop(snap);
        assert!(!dir.exists());
    }

    #[test]
    fn a_database_alone_is_read_in_place_untouched_and_despite_the_browsers_lock() {
        let tmp = tempfile::tempdir().unwrap();
        // A folder name a URI must escape (and Windows allows), as profiles have ("Profile 1").
        let dir = tmp.path().join("Profile 1 #%");
        std::fs::create_dir(&dir).unwrap();
        let db = dir.join("Cookies");
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE meta(key TEXT, value TEXT); INSERT INTO meta VALUES('version','24');
             CREATE TABLE cookies(host_key TEXT, name TEXT, value TEXT, path TEXT, expires_utc INTEGER);
             INSERT INTO cookies VALUES('.acme.test','a','1','/',0), ('other.test','b','2','/',0);",
        )
        .unwrap();
        // Chrome holds its database in exclusive locking mode while it runs.
        conn.execute_batch("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; SELECT 1 FROM meta;")
            .unwrap();
        let before = std::fs::read(&db).unwrap();
        let snap = Snapshot::take(&db).unwrap();
        assert!(snap._dir.is_none(), "no copy on disk");
        let rows = snap.rows_for(&[".acme.test".to_string()]).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].name.as_str(), &rows[0].value[..]),
            ("a", &b"1"[..])
        );
        drop(snap);
        assert_eq!(std::fs::read(&db).unwrap(), before, "the database changed");
        conn.execute_batch("COMMIT").unwrap();
        drop(conn);

        // Not a database at all, or nothing: the same errors as through the copy.
        std::fs::write(&db, "not sqlite, only text; ".repeat(10)).unwrap();
        let e = Snapshot::take(&db).err().unwrap();
        assert!(e.message().contains("not an SQLite database"), "{e}");
        std::fs::write(&db, b"").unwrap();
        let e = Snapshot::take(&db).err().unwrap();
        assert!(e.message().contains("no `cookies` table"), "{e}");
    }
}
