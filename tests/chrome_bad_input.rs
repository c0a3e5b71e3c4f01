//! Cookie databases and profiles that are not as they should be: each gives a clear error or a
//! report, never a panic, and one bad cookie never costs the others.

mod chrome_support;

use std::path::Path;

use chrome_support::{Row, chrome_time, create_db, insert, linux_encrypt};
use snowbridge::ErrorKind;
use snowbridge::obtain::chrome::{Browser, Keys, Reason, Source, import, import_from_file};
use snowbridge::secret::SecretBytes;

const HOST: &str = "acme.service-now.com";

fn url() -> url::Url {
    url::Url::parse(&format!("https://{HOST}/")).unwrap()
}

fn peanuts(name: &str, value: &str) -> Row {
    Row::new(HOST, name, linux_encrypt("v10", b"peanuts", HOST, value))
}

fn basic_keys() -> Keys {
    Keys::linux(Err("no keyring in this test".into()))
}

fn values(import: &snowbridge::obtain::chrome::Import) -> Vec<(String, String)> {
    let mut v: Vec<_> = import
        .cookies
        .iter()
        .map(|c| (c.name.clone(), c.value.expose().to_string()))
        .collect();
    v.sort();
    v
}

/// Enough rows on other hosts that the table spans many pages.
fn filler(conn: &rusqlite::Connection, from: i64) {
    conn.execute_batch("BEGIN").unwrap();
    for i in 0..1500 {
        let host = format!("filler{i}.example.org");
        let value = format!("filler-{i}-{}", "x".repeat(40));
        insert(
            conn,
            from + i,
            &Row::new(&host, "f", linux_encrypt("v10", b"peanuts", &host, &value)),
        );
    }
    conn.execute_batch("COMMIT").unwrap();
}

#[test]
fn a_live_database_held_in_an_exclusive_write_transaction_reads_as_last_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("Cookies");
    create_db(&db, &[peanuts("glide_session_store", "committed-1")]);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        insert(&conn, 1, &peanuts("JSESSIONID", "committed-2"));
        filler(&conn, 10);
    }

    // Another connection takes the file exclusively and rewrites every row without committing,
    // with a cache so small that the uncommitted pages spill into the database file itself.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let live = db.clone();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&live).unwrap();
        conn.execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE; PRAGMA cache_size = 2; PRAGMA cache_spill = ON;
             PRAGMA synchronous = OFF;
             BEGIN EXCLUSIVE;",
        )
        .unwrap();
        let uncommitted = linux_encrypt("v10", b"peanuts", HOST, "uncommitted");
        conn.execute(
            "UPDATE cookies SET encrypted_value = ?1 || randomblob(64)",
            [&uncommitted],
        )
        .unwrap();
        locked_tx.send(()).unwrap();
        done_rx.recv().unwrap();
        conn.execute_batch("ROLLBACK").unwrap();
    });
    locked_rx.recv().unwrap();

    let journal = tmp.path().join("Cookies-journal");
    assert!(
        std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0) > 0,
        "the writer holds a hot journal while its transaction is open"
    );
    let live_reader = rusqlite::Connection::open(&db).unwrap();
    live_reader.busy_timeout(std::time::Duration::ZERO).unwrap();
    assert!(
        live_reader
            .query_row("SELECT count(*) FROM cookies", [], |r| r.get::<_, i64>(0))
            .is_err(),
        "the live file is locked against readers"
    );

    let got = import_from_file(&db, &basic_keys(), &url());
    done_tx.send(()).unwrap();
    holder.join().unwrap();
    let got = got.unwrap();
    assert_eq!(
        values(&got),
        [
            ("JSESSIONID".to_string(), "committed-2".to_string()),
            ("glide_session_store".to_string(), "committed-1".to_string()),
        ],
        "{}",
        got.report
    );
}

#[test]
fn a_truncated_database_is_a_clear_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("Cookies");
    create_db(&db, &[peanuts("glide_session_store", "v")]);
    filler(&rusqlite::Connection::open(&db).unwrap(), 10);
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(len / 3)
        .unwrap();
    let err = import_from_file(&db, &basic_keys(), &url()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput);
    assert!(err.message().contains(&db.display().to_string()), "{err}");
    assert!(err.message().contains("truncated"), "{err}");
    assert!(err.hint().unwrap().contains("close the browser"), "{err}");
}

#[test]
fn a_file_that_is_no_database_or_no_cookie_database_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let garbage = tmp.path().join("Cookies");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    let err = import_from_file(&garbage, &basic_keys(), &url()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput);
    assert!(err.message().contains("not an SQLite database"), "{err}");

    let other = tmp.path().join("History");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE urls(id INTEGER)")
        .unwrap();
    let err = import_from_file(&other, &basic_keys(), &url()).unwrap_err();
    assert!(err.message().contains("no `cookies` table"), "{err}");

    let missing = tmp.path().join("nothing-here");
    let err = import_from_file(&missing, &basic_keys(), &url()).unwrap_err();
    assert!(err.message().contains("does not exist"), "{err}");
}

#[test]
fn an_encrypted_value_column_declared_text_still_decrypts() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("Cookies");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE meta(key TEXT, value TEXT); INSERT INTO meta VALUES('version', '24');
         CREATE TABLE cookies(creation_utc INTEGER, host_key TEXT, top_frame_site_key TEXT,
           name TEXT, value TEXT, encrypted_value TEXT, path TEXT, expires_utc INTEGER,
           is_secure INTEGER, is_httponly INTEGER, has_expires INTEGER, is_persistent INTEGER,
           samesite INTEGER);",
    )
    .unwrap();
    let encrypted = linux_encrypt("v10", b"peanuts", HOST, "typed-text");
    conn.execute(
        "INSERT INTO cookies VALUES(1, ?1, '', 'glide_session_store', '', CAST(?2 AS TEXT), '/',
           0, 1, 1, 0, 0, 1)",
        rusqlite::params![HOST, encrypted],
    )
    .unwrap();
    let stored_type: String = conn
        .query_row("SELECT typeof(encrypted_value) FROM cookies", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored_type, "text");
    drop(conn);

    let got = import_from_file(&db, &basic_keys(), &url()).unwrap();
    assert_eq!(
        values(&got),
        [("glide_session_store".to_string(), "typed-text".to_string())]
    );
}

#[test]
fn one_bad_cookie_never_costs_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("Cookies");
    let mut far_future = peanuts("too_far", "x");
    far_future.expires_utc = i64::MAX;
    let mut truncated = linux_encrypt("v10", b"peanuts", HOST, "damaged");
    truncated.truncate(truncated.len() - 5);
    create_db(
        &db,
        &[
            peanuts("first", "one"),
            Row::new(
                HOST,
                "keyring_value",
                linux_encrypt("v11", b"the real keyring password", HOST, "k"),
            ),
            Row::new(HOST, "damaged", truncated),
            far_future,
            Row::new(HOST, "app_bound", b"v20-whatever".to_vec()),
            Row {
                expires_utc: chrome_time(time::OffsetDateTime::now_utc() + time::Duration::days(1)),
                ..peanuts("last", "two")
            },
        ],
    );
    let wrong_keyring = Keys::linux(Ok(vec![SecretBytes::new(b"an old password".to_vec())]));
    let got = import_from_file(&db, &wrong_keyring, &url()).unwrap();
    assert_eq!(
        values(&got),
        [
            ("first".to_string(), "one".to_string()),
            ("last".to_string(), "two".to_string()),
        ]
    );
    let reasons: Vec<(&str, &Reason)> = got
        .report
        .undecryptable
        .iter()
        .map(|s| (s.name.as_str(), &s.reason))
        .collect();
    assert!(
        matches!(
            reasons[..],
            [
                ("too_far", Reason::BadExpiry),
                ("keyring_value", Reason::WrongKey { .. }),
                ("damaged", Reason::Malformed(_)),
                ("app_bound", Reason::AppBound),
            ]
        ),
        "{reasons:?}"
    );
    assert_eq!(got.report.found, 6);
    let text = got.report.to_string();
    assert!(text.contains("Imported 2 of 6"), "{text}");
    assert!(
        text.contains("keyring_value not decrypted: wrong key"),
        "{text}"
    );
}

fn profile_with_cookies(root: &Path, rows: &[Row]) {
    std::fs::create_dir_all(root.join("Default/Network")).unwrap();
    std::fs::write(
        root.join("Local State"),
        r#"{"profile":{"info_cache":{"Default":{"name":"Person 1"}}}}"#,
    )
    .unwrap();
    create_db(&root.join("Default/Network/Cookies"), rows);
}

#[tokio::test]
async fn a_profile_that_does_not_exist_lists_those_that_do() {
    let tmp = tempfile::tempdir().unwrap();
    profile_with_cookies(tmp.path(), &[peanuts("glide_session_store", "v")]);
    let source = Source {
        browser: Browser::Chrome,
        profile: Some("Work".into()),
        user_data_dir: Some(tmp.path().to_path_buf()),
    };
    let err = import(&source, &url(), false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput);
    assert!(err.message().contains("no profile \"Work\""), "{err}");
    assert!(err.message().contains("Default (\"Person 1\")"), "{err}");
    assert_eq!(
        err.next_step(),
        Some(&snowbridge::error::NextStep::NameChromeProfile),
        "{err}"
    );

    let by_name = Source {
        profile: Some("Person 1".into()),
        ..source
    };
    let got = import(&by_name, &url(), false).await.unwrap();
    assert_eq!(values(&got), [("glide_session_store".into(), "v".into())]);
}

#[tokio::test]
async fn an_instance_with_no_cookies_gives_a_report_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    profile_with_cookies(
        tmp.path(),
        &[
            peanuts("glide_session_store", "v"),
            Row::new(
                "evilservice-now.com",
                "lookalike",
                linux_encrypt("v10", b"peanuts", "evilservice-now.com", "x"),
            ),
        ],
    );
    let source = Source {
        browser: Browser::Chromium,
        profile: None,
        user_data_dir: Some(tmp.path().to_path_buf()),
    };
    let other = url::Url::parse("https://service-now.com/").unwrap();
    let got = import(&source, &other, false).await.unwrap();
    assert!(got.cookies.is_empty());
    assert_eq!(got.report.found, 0);
    let text = got.report.to_string();
    assert!(text.starts_with("No cookies for service-now.com"), "{text}");
    assert!(text.contains("30 seconds"), "{text}");
}

#[test]
fn a_row_with_a_column_of_the_wrong_type_costs_only_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("Cookies");
    create_db(
        &db,
        &[
            peanuts("first", "one"),
            peanuts("blob_name", "x"),
            peanuts("text_expiry", "x"),
            peanuts("text_flag", "x"),
            peanuts("last", "two"),
        ],
    );
    // Typed columns hold any value in SQLite: a damaged or foreign file can have these.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "UPDATE cookies SET name = X'FF00FE' WHERE name = 'blob_name';
         UPDATE cookies SET expires_utc = 'soon', has_expires = 1 WHERE name = 'text_expiry';
         UPDATE cookies SET is_secure = 'yes' WHERE name = 'text_flag';",
    )
    .unwrap();
    drop(conn);
    let got = import_from_file(&db, &basic_keys(), &url()).unwrap();
    assert_eq!(
        values(&got),
        [
            ("first".to_string(), "one".to_string()),
            ("last".to_string(), "two".to_string()),
        ]
    );
    let skipped: Vec<&Reason> = got.report.undecryptable.iter().map(|s| &s.reason).collect();
    assert_eq!(skipped.len(), 3, "{:?}", got.report);
    assert!(
        skipped.iter().all(|r| matches!(r, Reason::Malformed(_))),
        "{skipped:?}"
    );
    let text = got.report.to_string();
    assert!(text.contains("expires_utc"), "{text}");
    assert!(text.contains("is_secure"), "{text}");
}
