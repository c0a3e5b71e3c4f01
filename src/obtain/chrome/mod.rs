//! Importing a session from the user's own Chrome (or Chromium, Edge, Brave) profile.
//!
//! Owns the whole read: finding the profile ([`list`], [`Source`]), copying and reading its
//! cookie database, fetching the OS key (Secret Service or KWallet, the macOS keychain, Windows
//! DPAPI) only when a matching cookie needs it, decrypting, and choosing exactly the cookies a
//! request to the instance URL would carry. It returns plain [`Cookie`]s and a [`Report`]; it
//! never stores, sends or prints cookie values, and never writes to the browser's files.

mod database;
mod decrypt;
mod keyring;
mod locate;
mod report;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::cookie::{Cookie, SameSite};
use crate::error::{Error, Result};
use crate::secret::Secret;

// Crate-wide for the fuzz entry points (`crate::fuzzing`), which build rows directly.
pub(crate) use database::Row;
use database::Snapshot;
pub use decrypt::{Keys, Reason};
pub use locate::{Browser, FoundProfile, list, profiles_in};
pub use report::{Report, Skipped};

/// Which profile to import from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The browser.
    pub browser: Browser,
    /// A profile folder (`Default`, `Profile 1`) or the name the person gave it; `None` for the
    /// profile the browser last used, else `Default`.
    pub profile: Option<String>,
    /// A user-data folder other than the browser's usual ones.
    pub user_data_dir: Option<PathBuf>,
}

impl Source {
    /// The default profile of `browser` in its usual place.
    pub fn new(browser: Browser) -> Source {
        Source {
            browser,
            profile: None,
            user_data_dir: None,
        }
    }
}

impl TryFrom<&crate::instance::ChromeSource> for Source {
    type Error = Error;

    fn try_from(s: &crate::instance::ChromeSource) -> Result<Source> {
        Ok(Source {
            browser: s.browser.parse()?,
            profile: s.profile.clone(),
            user_data_dir: s.user_data_dir.clone(),
        })
    }
}

/// The cookies imported for one URL, with what happened to the rest.
#[derive(Debug)]
pub struct Import {
    /// The cookies a request to the URL would carry, longest path first.
    pub cookies: Vec<Cookie>,
    /// What was found, imported and skipped, and why.
    pub report: Report,
    /// The cookie database read (the live file; a private copy was what was opened).
    pub database: PathBuf,
    /// The profile read, when found through [`import`].
    pub profile: Option<FoundProfile>,
    /// The browser's User-Agent, when known (not read from profiles yet: always `None`).
    pub user_agent: Option<String>,
}

/// Imports the cookies for `url` from the profile `source` names.
///
/// Keys are fetched only for the schemes the matching cookies use, each keyring call time-boxed;
/// with `interactive` false no unlock prompt is ever waited for. A profile with no cookies for
/// the URL gives an empty import whose report says why, not an error.
pub async fn import(source: &Source, url: &url::Url, interactive: bool) -> Result<Import> {
    let host_keys = host_keys(url)?;
    let profile = locate::resolve(
        source.browser,
        source.profile.as_deref(),
        source.user_data_dir.as_deref(),
        &locate::Env::from_process(),
        locate::Os::current(),
    )?;
    let database = profile.cookies.clone().ok_or_else(|| {
        Error::bad_input(format!(
            "the {} profile {profile} in {} has no cookie database yet",
            source.browser,
            profile.user_data_dir.display()
        ))
        .with_hint("open the instance in that browser profile first, then import again")
    })?;
    tracing::debug!(browser = %source.browser, profile = %profile, database = %database.display(), "reading Chrome cookies");
    let db = database.clone();
    let (meta_version, rows) = tokio::task::spawn_blocking(move || -> Result<_> {
        let snapshot = Snapshot::take(&db)?;
        Ok((snapshot.meta_version, snapshot.rows_for(&host_keys)?))
    })
    .await
    .map_err(|e| Error::internal(format!("reading the cookie database failed: {e}")))??;

    let mut report = Report::new(url, database.clone(), meta_version);
    let pending = select(rows, url, OffsetDateTime::now_utc(), &mut report);
    let schemes: BTreeSet<[u8; 3]> = pending.iter().filter_map(Pending::scheme).collect();
    let keys = keyring::keys(
        source.browser,
        &profile.user_data_dir,
        &schemes,
        interactive,
        &mut report.notes,
    )
    .await;
    let cookies = decrypt_all(pending, &keys, meta_version, &mut report);
    tracing::debug!(%report, "Chrome import done");
    Ok(Import {
        cookies,
        report,
        database,
        profile: Some(profile),
        user_agent: None,
    })
}

/// Imports the cookies for `url` from the cookie database `db` with `keys`: the testable core
/// of [`import`], touching no keyring.
pub fn import_from_file(db: &Path, keys: &Keys, url: &url::Url) -> Result<Import> {
    let host_keys = host_keys(url)?;
    let snapshot = Snapshot::take(db)?;
    let rows = snapshot.rows_for(&host_keys)?;
    let mut report = Report::new(url, db.to_path_buf(), snapshot.meta_version);
    let pending = select(rows, url, OffsetDateTime::now_utc(), &mut report);
    let cookies = decrypt_all(pending, keys, snapshot.meta_version, &mut report);
    Ok(Import {
        cookies,
        report,
        database: db.to_path_buf(),
        profile: None,
        user_agent: None,
    })
}

/// The row-to-cookie step of an import (selection by the cookie rules, expiry, decryption) on
/// rows given directly, for the fuzz target in `fuzz/`.
#[cfg(feature = "fuzzing")]
pub(crate) fn cookies_from_rows(
    rows: Vec<Row>,
    url: &url::Url,
    now: OffsetDateTime,
    meta_version: u32,
    keys: &Keys,
) -> (Vec<Cookie>, Report) {
    let mut report = Report::new(url, PathBuf::new(), meta_version);
    let pending = select(rows, url, now, &mut report);
    let cookies = decrypt_all(pending, keys, meta_version, &mut report);
    (cookies, report)
}

/// The `host_key`s that could hold cookies for the URL's host: the host itself and each parent
/// domain, with and without the leading dot. Which of them apply is decided later, by the
/// cookie rules.
fn host_keys(url: &url::Url) -> Result<Vec<String>> {
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => return Ok(vec![ip.to_string()]),
        Some(url::Host::Ipv6(ip)) => return Ok(vec![ip.to_string(), format!("[{ip}]")]),
        None => {
            return Err(Error::bad_input(format!(
                "{url} has no host to import cookies for"
            )));
        }
    };
    let mut keys = Vec::new();
    let mut rest = host.as_str();
    loop {
        keys.push(rest.to_string());
        keys.push(format!(".{rest}"));
        match rest.split_once('.') {
            Some((_, parent)) if !parent.is_empty() => rest = parent,
            _ => break,
        }
    }
    Ok(keys)
}

/// A matching, live cookie waiting for its value.
struct Pending {
    cookie: Cookie,
    host_key: String,
    encrypted: Zeroizing<Vec<u8>>,
    plain: Zeroizing<Vec<u8>>,
}

impl Pending {
    /// The scheme prefix of an encrypted value (`v10`, `v11`...), `None` for a plaintext one.
    fn scheme(&self) -> Option<[u8; 3]> {
        self.encrypted
            .get(..3)
            .and_then(|p| p.try_into().ok())
            .or_else(|| (!self.encrypted.is_empty()).then_some(*b"raw"))
    }
}

/// Keeps the rows a request to `url` would carry that are unexpired and unpartitioned; counts
/// the rest in `report`.
fn select(
    rows: Vec<Row>,
    url: &url::Url,
    now: OffsetDateTime,
    report: &mut Report,
) -> Vec<Pending> {
    report.candidates = rows.len();
    let mut pending = Vec::new();
    for row in rows {
        let mut cookie = Cookie {
            name: row.name,
            value: Secret::default(),
            domain: row
                .host_key
                .trim_start_matches('.')
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase(),
            host_only: !row.host_key.starts_with('.'),
            path: row.path,
            secure: row.secure,
            http_only: row.http_only,
            same_site: match row.samesite {
                0 => Some(SameSite::None),
                1 => Some(SameSite::Lax),
                2 => Some(SameSite::Strict),
                _ => None,
            },
            expires: None,
        };
        if !cookie.matches_url(url) {
            continue;
        }
        report.found += 1;
        if let Some(why) = row.damaged {
            report.undecryptable.push(Skipped {
                name: cookie.name,
                host_key: row.host_key,
                reason: Reason::Malformed(why),
            });
            continue;
        }
        if row.persistent && row.expires_utc != 0 {
            match chrome_time(row.expires_utc) {
                Some(at) => cookie.expires = Some(at),
                None => {
                    report.undecryptable.push(Skipped {
                        name: cookie.name,
                        host_key: row.host_key,
                        reason: Reason::BadExpiry,
                    });
                    continue;
                }
            }
        }
        if row.partitioned {
            report.partitioned.push(cookie.name);
        } else if cookie.is_expired_at(now) {
            report.expired.push(cookie.name);
        } else {
            pending.push(Pending {
                cookie,
                host_key: row.host_key,
                encrypted: row.encrypted,
                plain: row.value,
            });
        }
    }
    pending
}

/// Decrypts each pending cookie; one that fails is reported and the rest go on.
fn decrypt_all(
    pending: Vec<Pending>,
    keys: &Keys,
    meta_version: u32,
    report: &mut Report,
) -> Vec<Cookie> {
    let host_hashed = meta_version >= 24;
    let mut cookies = Vec::with_capacity(pending.len());
    for p in pending {
        let value = if p.encrypted.is_empty() {
            std::str::from_utf8(&p.plain)
                .map(Secret::new)
                .map_err(|_| Reason::Malformed("the plaintext value is not text".into()))
        } else {
            keys.decrypt(&p.host_key, &p.encrypted, host_hashed)
        };
        match value {
            Ok(value) => cookies.push(Cookie { value, ..p.cookie }),
            Err(reason) => report.undecryptable.push(Skipped {
                name: p.cookie.name,
                host_key: p.host_key,
                reason,
            }),
        }
    }
    // Browsers send longer paths first; rows came oldest first, and the sort is stable.
    cookies.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
    report.imported = cookies.len();
    cookies
}

/// Microseconds since 1601-01-01 UTC (Chrome's clock), checked all the way.
fn chrome_time(micros: i64) -> Option<OffsetDateTime> {
    const UNIX_EPOCH_IN_CHROME_MICROS: i64 = 11_644_473_600_000_000;
    let unix_micros = micros.checked_sub(UNIX_EPOCH_IN_CHROME_MICROS)?;
    let nanos = i128::from(unix_micros).checked_mul(1000)?;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_cover_the_host_and_its_parents_with_and_without_dots() {
        let url = url::Url::parse("https://Acme.Service-Now.com/x").unwrap();
        assert_eq!(
            host_keys(&url).unwrap(),
            [
                "acme.service-now.com",
                ".acme.service-now.com",
                "service-now.com",
                ".service-now.com",
                "com",
                ".com"
            ]
        );
        let ip = url::Url::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(host_keys(&ip).unwrap(), ["127.0.0.1"]);
    }

    #[test]
    fn the_import_future_can_be_spawned() {
        fn assert_send<T: Send>(_: &T) {}
        let source = Source::new(Browser::Chrome);
        let url = url::Url::parse("https://acme.example/").unwrap();
        assert_send(&import(&source, &url, false));
    }

    #[test]
    fn chrome_times_convert_with_checked_arithmetic() {
        // 13_000_000_000_000_000 µs after 1601 is 2012-12-15T01:46:40Z.
        let t = chrome_time(13_000_000_000_000_000).unwrap();
        assert_eq!(t.unix_timestamp(), 1_355_526_400);
        assert_eq!(chrome_time(i64::MIN), None);
        assert_eq!(chrome_time(i64::MAX), None);
    }
}
