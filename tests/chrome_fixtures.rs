//! The Windows (AES-256-GCM), macOS (1003 PBKDF2 iterations) and old-Linux-schema cases, on
//! databases written by an independent implementation: `tests/gen_chrome_fixtures.py` (Python's
//! sqlite3 and the `cryptography` package). Each fixture's `expected.json` says what must be
//! imported and what must be skipped, and why.

mod chrome_support;

use std::path::{Path, PathBuf};

use chrome_support::{ExpectedCookie, assert_same_cookies};
use serde::Deserialize;
use snowbridge::obtain::chrome::{Keys, Reason, import_from_file};
use snowbridge::secret::SecretBytes;

#[derive(Deserialize)]
struct Expected {
    url: String,
    keys: FixtureKeys,
    expected: Vec<ExpectedCookie>,
    skipped: Vec<ExpectedSkip>,
    expired: Vec<String>,
    partitioned: Vec<String>,
}

#[derive(Deserialize)]
struct FixtureKeys {
    windows_aes_key_hex: Option<String>,
    macos_keychain_password: Option<String>,
    linux_keyring_passwords: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct ExpectedSkip {
    name: String,
    reason: String,
}

fn fixture(name: &str) -> (PathBuf, Expected) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/chrome")
        .join(name);
    let text = std::fs::read_to_string(dir.join("expected.json")).unwrap_or_else(|e| {
        panic!("{name}: {e}; regenerate with `python3 tests/gen_chrome_fixtures.py`")
    });
    (dir.join("Cookies"), serde_json::from_str(&text).unwrap())
}

fn keys_for(k: &FixtureKeys) -> Keys {
    if let Some(hex_key) = &k.windows_aes_key_hex {
        Keys::windows(Ok(SecretBytes::new(hex::decode(hex_key).unwrap())))
    } else if let Some(password) = &k.macos_keychain_password {
        Keys::macos(Ok(SecretBytes::new(password.as_bytes().to_vec())))
    } else {
        let passwords = k.linux_keyring_passwords.clone().unwrap_or_default();
        Keys::linux(Ok(passwords
            .into_iter()
            .map(|p| SecretBytes::new(p.into_bytes()))
            .collect()))
    }
}

fn check(name: &str) {
    let (db, want) = fixture(name);
    let url = url::Url::parse(&want.url).unwrap();
    let got = import_from_file(&db, &keys_for(&want.keys), &url).unwrap();
    let report = &got.report;

    assert_same_cookies(
        got.cookies,
        want.expected.iter().map(ExpectedCookie::cookie).collect(),
    );
    let mut skipped: Vec<(String, String)> = report
        .undecryptable
        .iter()
        .map(|s| {
            let kind = match &s.reason {
                Reason::AppBound => "app-bound",
                Reason::WrongKey { .. } => "wrong-key",
                other => panic!(
                    "{name}: {} skipped for an unexpected reason: {other}",
                    s.name
                ),
            };
            (s.name.clone(), kind.to_string())
        })
        .collect();
    skipped.sort();
    let mut want_skipped: Vec<(String, String)> = want
        .skipped
        .iter()
        .map(|s| (s.name.clone(), s.reason.clone()))
        .collect();
    want_skipped.sort();
    assert_eq!(skipped, want_skipped, "{name}: {report}");
    assert_eq!(report.expired, want.expired, "{name}");
    assert_eq!(report.partitioned, want.partitioned, "{name}");
    assert_eq!(report.imported, want.expected.len());
    assert_eq!(
        report.found,
        want.expected.len() + want.skipped.len() + want.expired.len() + want.partitioned.len(),
        "{name}: only cookies a request to the URL carries are found"
    );

    let text = report.to_string();
    if want.skipped.iter().any(|s| s.reason == "app-bound") {
        assert!(
            text.contains("app-bound encryption (Chrome 127+ on Windows)"),
            "{text}"
        );
        assert!(
            text.contains("log in through the browser instead"),
            "{text}"
        );
    }
    assert!(report.wrong_key(), "{name}: the report says wrong key");
    assert!(text.contains("wrong key"), "{text}");
}

#[test]
fn windows_aes_gcm_values_decrypt_and_v20_is_explained() {
    check("windows");
}

#[test]
fn macos_values_decrypt_with_1003_iterations() {
    check("macos");
}

#[test]
fn an_old_linux_schema_without_host_hash_reads() {
    check("linux-old");
}

#[test]
fn the_wrong_key_imports_nothing_and_says_so() {
    let (db, want) = fixture("macos");
    let url = url::Url::parse(&want.url).unwrap();
    let wrong = Keys::macos(Ok(SecretBytes::new(b"not the password".to_vec())));
    let got = import_from_file(&db, &wrong, &url).unwrap();
    assert!(got.cookies.is_empty());
    assert!(got.report.wrong_key());
    for s in &got.report.undecryptable {
        assert!(
            matches!(s.reason, Reason::WrongKey { .. } | Reason::AppBound),
            "{}: {}",
            s.name,
            s.reason
        );
    }
    assert!(got.report.undecryptable.len() >= want.expected.len());
}
