//! `import-chrome`'s report through the real binary, on a Chromium-shaped profile made here:
//! a dry run says what it would do (not "Imported"), and `--json` gives the counts the README
//! promises (found, imported, expired, undecryptable) as numbers, with each cookie left out and
//! why. A dry run sends nothing, so the instance file points at an address nobody serves.

mod chrome_support;

use std::path::Path;
use std::process::{Command, Output};

use chrome_support::{Row, chrome_time, create_db, linux_encrypt};

const HOST: &str = "127.0.0.1";

/// `snowbridge args...` with its folders under `home` and the OS keyring off.
fn snowbridge(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_snowbridge"))
        .args(args)
        .env("SNOWBRIDGE_CONFIG_DIR", home.join("config"))
        .env("SNOWBRIDGE_DATA_DIR", home.join("data"))
        .env("SNOWBRIDGE_KEYRING", "off")
        .output()
        .expect("run snowbridge")
}

/// A profile `Default` holding two usable cookies for [`HOST`], one expired, and one sealed
/// with a keyring key (`v11`) that a run without the keyring cannot have.
fn profile(dir: &Path) {
    std::fs::create_dir_all(dir.join("Default/Network")).unwrap();
    std::fs::write(
        dir.join("Local State"),
        r#"{"profile":{"info_cache":{"Default":{"name":"Person 1"}}}}"#,
    )
    .unwrap();
    let basic = |name: &str, value: &str| {
        Row::new(HOST, name, linux_encrypt("v10", b"peanuts", HOST, value))
    };
    let expired = Row {
        expires_utc: chrome_time(time::OffsetDateTime::now_utc() - time::Duration::days(2)),
        ..basic("old_cookie", "x")
    };
    let locked = Row::new(
        HOST,
        "locked_cookie",
        linux_encrypt("v11", b"the keyring's", HOST, "y"),
    );
    create_db(
        &dir.join("Default/Network/Cookies"),
        &[
            basic("JSESSIONID", "a"),
            basic("glide_user_route", "b"),
            expired,
            locked,
        ],
    );
}

#[test]
fn a_dry_run_says_would_and_json_gives_the_counts_as_numbers() {
    let home = tempfile::tempdir().unwrap();
    let instances = home.path().join("config/instances");
    std::fs::create_dir_all(&instances).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        instances.join("dev.toml"),
        format!("url = \"http://{HOST}:{port}\"\n"),
    )
    .unwrap();
    let chrome = home.path().join("chromium");
    profile(&chrome);
    let args = [
        "import-chrome",
        "dev",
        "--browser",
        "chromium",
        "--user-data-dir",
        chrome.to_str().unwrap(),
        "--dry-run",
    ];

    let out = snowbridge(home.path(), &args);
    let (text, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(text.starts_with("Would import 2 of 4 cookies"), "{text}");
    assert!(text.contains("dry run: nothing stored"), "{text}");
    assert!(!text.contains("Imported"), "{text}");

    let out = snowbridge(home.path(), &[&["--json"][..], &args].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let report = &reply["report"];
    assert_eq!(reply["dry_run"], true, "{reply}");
    assert_eq!(report["found"], 4, "{reply}");
    assert_eq!(report["imported"], 2, "{reply}");
    assert_eq!(report["expired"], 1, "{reply}");
    assert_eq!(report["undecryptable"], 1, "{reply}");
    assert_eq!(report["partitioned"], 0, "{reply}");
    let skipped: Vec<(&str, &str)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["why"].as_str().unwrap()))
        .collect();
    assert_eq!(skipped.len(), 2, "{reply}");
    assert_eq!(skipped[0], ("old_cookie", "expired"), "{reply}");
    assert_eq!(skipped[1].0, "locked_cookie", "{reply}");
    assert!(
        report["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("Would import 2 of 4")),
        "{reply}"
    );
    let names: Vec<&str> = reply["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(names.len(), 2, "{reply}");
    assert!(
        !home.path().join("data/sessions/dev.vault").exists(),
        "a dry run stores nothing"
    );
}
