//! Chrome cookie rows to cookies, as an import does after reading the database: selection by
//! the cookie rules, expiry times (microseconds since 1601, any i64), and decryption with each
//! platform's keys. No row panics; every row is imported or accounted for in the report; an
//! imported cookie matches the URL, is live, and carries the row's attributes, its expiry as an
//! independent conversion gives it, and (for values sealed here with Chrome's v10 scheme, an
//! independent implementation) the value that was sealed.
#![no_main]

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use snowbridge::cookie::SameSite;
use snowbridge::fuzzing::{ChromeRow, chrome_cookies};
use snowbridge::obtain::chrome::Keys;
use snowbridge::secret::SecretBytes;
use time::OffsetDateTime;

const URLS: [&str; 4] = [
    "https://acme.service-now.com/",
    "https://acme.service-now.com/api/now/table/incident",
    "http://127.0.0.1:8765/",
    "http://[::1]:8765/",
];

#[derive(Debug, Arbitrary)]
enum HostKey {
    Host,
    DotHost,
    DotParent,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum PathIn {
    Root,
    Api,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum Value {
    /// `value` and `encrypted_value` as stored.
    Stored { plain: Vec<u8>, encrypted: Vec<u8> },
    /// A value sealed here as Chrome on Linux does with `--password-store=basic`.
    V10 { value: String },
}

#[derive(Debug, Arbitrary)]
struct RowIn {
    host: HostKey,
    name: String,
    value: Value,
    path: PathIn,
    expires_utc: i64,
    secure: bool,
    http_only: bool,
    persistent: bool,
    samesite: i64,
    partitioned: bool,
}

#[derive(Debug, Arbitrary)]
enum KeysIn {
    Linux(Option<Vec<Vec<u8>>>),
    Mac(Option<Vec<u8>>),
    Windows(Option<Vec<u8>>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    url: u8,
    now_offset: i32,
    meta_version: u32,
    keys: KeysIn,
    rows: Vec<RowIn>,
}

/// Chrome's v10 on Linux: AES-128-CBC, IV of 16 spaces, key PBKDF2-HMAC-SHA1("peanuts",
/// "saltysalt", 1 iteration); meta version 24+ puts SHA-256(host_key) before the value.
fn v10(host_key: &str, value: &str, hashed: bool) -> Vec<u8> {
    let mut key = [0u8; 16];
    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(b"peanuts", b"saltysalt", 1, &mut key);
    let mut plain = Vec::new();
    if hashed {
        plain.extend_from_slice(&Sha256::digest(host_key.as_bytes()));
    }
    plain.extend_from_slice(value.as_bytes());
    let sealed = cbc::Encryptor::<aes::Aes128>::new(&key.into(), &[b' '; 16].into())
        .encrypt_padded_vec_mut::<Pkcs7>(&plain);
    [b"v10".as_slice(), &sealed].concat()
}

/// Microseconds since 1601-01-01 UTC, converted without the code under test's helpers.
fn expected_expiry(micros: i64) -> Option<OffsetDateTime> {
    const EPOCH_GAP_SECS: i64 = 11_644_473_600;
    let secs = micros.div_euclid(1_000_000).checked_sub(EPOCH_GAP_SECS)?;
    let sub = micros.rem_euclid(1_000_000);
    OffsetDateTime::UNIX_EPOCH
        .checked_add(time::Duration::seconds(secs))?
        .checked_add(time::Duration::microseconds(sub))
}

fn keys(k: &KeysIn) -> Keys {
    let secret = |b: &Vec<u8>| SecretBytes::new(b.clone());
    match k {
        KeysIn::Linux(found) => Keys::linux(
            found
                .as_ref()
                .map(|ps| ps.iter().map(secret).collect())
                .ok_or_else(|| "no keyring".to_owned()),
        ),
        KeysIn::Mac(found) => {
            Keys::macos(found.as_ref().map(secret).ok_or_else(|| "locked".into()))
        }
        KeysIn::Windows(found) => {
            Keys::windows(found.as_ref().map(secret).ok_or_else(|| "no key".into()))
        }
    }
}

fuzz_target!(|input: Input| {
    let url = url::Url::parse(URLS[usize::from(input.url) % URLS.len()]).expect("a URL");
    let host = url
        .host_str()
        .expect("a host")
        .trim_matches(['[', ']'])
        .to_owned();
    let now = time::macros::datetime!(2026-06-01 0:00 UTC)
        + time::Duration::seconds(input.now_offset.into());
    let meta_version = match input.meta_version % 4 {
        0 => 0,
        1 => 23,
        2 => 24,
        _ => input.meta_version,
    };
    let keys = keys(&input.keys);
    let rows: Vec<(ChromeRow, Option<String>)> = input
        .rows
        .iter()
        .map(|r| {
            let host_key = match &r.host {
                HostKey::Host => host.clone(),
                HostKey::DotHost => format!(".{host}"),
                HostKey::DotParent => host
                    .split_once('.')
                    .map(|(_, parent)| format!(".{parent}"))
                    .unwrap_or_else(|| format!(".{host}")),
                HostKey::Other(s) => s.clone(),
            };
            let (value, encrypted, sealed) = match &r.value {
                Value::Stored { plain, encrypted } => (plain.clone(), encrypted.clone(), None),
                Value::V10 { value } => (
                    Vec::new(),
                    v10(&host_key, value, meta_version >= 24),
                    Some(value.clone()),
                ),
            };
            let row = ChromeRow {
                host_key,
                name: r.name.clone(),
                value,
                encrypted,
                path: match &r.path {
                    PathIn::Root => "/".to_owned(),
                    PathIn::Api => "/api".to_owned(),
                    PathIn::Other(s) => s.clone(),
                },
                expires_utc: r.expires_utc,
                secure: r.secure,
                http_only: r.http_only,
                persistent: r.persistent,
                samesite: r.samesite,
                partitioned: r.partitioned,
            };
            (row, sealed)
        })
        .collect();

    // All rows at once: every matching row is imported or accounted for.
    let all: Vec<ChromeRow> = rows.iter().map(|(r, _)| r.clone()).collect();
    let (cookies, report) = chrome_cookies(all, &url, now, meta_version, &keys);
    assert_eq!(
        report.found,
        report.imported
            + report.expired.len()
            + report.partitioned.len()
            + report.undecryptable.len(),
        "{report:?}"
    );
    assert_eq!(report.imported, cookies.len());
    assert_eq!(report.candidates, rows.len());
    for c in &cookies {
        assert!(c.matches_url(&url), "{c:?} does not go to {url}");
        assert!(!c.is_expired_at(now), "{c:?} is expired");
    }
    let _ = report.to_string();

    // One row at a time: the cookie carries the row's attributes.
    for (row, sealed) in rows {
        let (cookies, report) = chrome_cookies(vec![row.clone()], &url, now, meta_version, &keys);
        let Some(c) = cookies.first() else {
            continue;
        };
        assert_eq!(report.imported, 1);
        assert_eq!(c.name, row.name);
        assert_eq!(c.path, row.path);
        assert_eq!(c.secure, row.secure);
        assert_eq!(c.http_only, row.http_only);
        assert_eq!(c.host_only, !row.host_key.starts_with('.'));
        let want_same_site = match row.samesite {
            0 => Some(SameSite::None),
            1 => Some(SameSite::Lax),
            2 => Some(SameSite::Strict),
            _ => None,
        };
        assert_eq!(c.same_site, want_same_site);
        let want_expiry = if row.persistent && row.expires_utc != 0 {
            Some(expected_expiry(row.expires_utc).expect("an imported expiry is in range"))
        } else {
            None
        };
        assert_eq!(c.expires, want_expiry, "expires_utc {}", row.expires_utc);
        if let Some(sealed) = sealed {
            if matches!(input.keys, KeysIn::Linux(_)) {
                assert_eq!(c.value.expose(), sealed);
            }
        } else if row.encrypted.is_empty() {
            assert_eq!(c.value.expose().as_bytes(), row.value.as_slice());
        }
    }
});
