//! Entry points for the fuzz targets in `fuzz/`: compiled only with the `fuzzing` feature (off
//! by default) and hidden from the docs; not an API for users.
//!
//! Each runs one private parser of outside input the way the connector runs it ([`envelope`]:
//! the error envelope, crate-private otherwise). Parsers that are public already are called by
//! the targets directly: `Link` ([`crate::api::link`]), instance files
//! ([`crate::instance::Instance::parse`]), vault files ([`crate::vault::Vault::load`]), Chrome's
//! decryption ([`crate::obtain::chrome::Keys`]) and the cookie exports ([`crate::cookie::export`]).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use time::OffsetDateTime;

use crate::api::Record;
use crate::cookie::Cookie;
use crate::obtain::chrome::{Keys, Report};

/// The error envelope as the session reads error replies: the complaint in a body, the refusal
/// it means, the error a reply becomes.
pub mod envelope {
    pub use crate::session::envelope::{Complaint, complaint, error_for, refusal};
}

/// The wait a `Retry-After` header with these bytes asks for, as the session reads it; `None`
/// for bytes no HTTP client would hand over as a header value, or an unreadable one.
pub fn retry_after(value: &[u8]) -> Option<Duration> {
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_bytes(value).ok()?);
    crate::session::retry_after(&headers)
}

/// A JSONv2 `getRecords` reply: the records and the page's last key (the next page starts after
/// it), or the error the connector reports.
pub fn jsonv2_records(body: &[u8]) -> crate::Result<(Vec<Record>, Option<String>)> {
    crate::api::jsonv2::read_records_reply(body)
}

/// A JSONv2 `getKeys` reply: the sys_ids, or `None` when the connector would fail.
pub fn jsonv2_keys(body: &[u8]) -> Option<Vec<String>> {
    crate::api::jsonv2::read_keys_reply(body)
}

/// A Table API body read as a page of records and as one record (the connector reads a body as
/// one or the other, by the call it made).
pub fn table_replies(body: &[u8]) -> (Option<Vec<Record>>, Option<Record>) {
    crate::api::table::read_replies(body)
}

/// A list reply (`{"result":[...]}`) split into its rows as the records reader splits a reply
/// arriving in pieces cut at `cuts`: the rows' JSON text (each sys_id once) and whether the array
/// was there, or why the body was refused.
pub fn split_rows(body: &[u8], cuts: &[usize]) -> Result<(Vec<String>, bool), String> {
    crate::api::stream::split_rows(body, cuts, "result")
}

/// One row of Chrome's `cookies` table, as the database reader hands it on.
#[derive(Debug, Clone, Default)]
pub struct ChromeRow {
    /// `host_key`.
    pub host_key: String,
    /// `name`.
    pub name: String,
    /// `value`, the plaintext column.
    pub value: Vec<u8>,
    /// `encrypted_value`, prefix (`v10`...) included.
    pub encrypted: Vec<u8>,
    /// `path`.
    pub path: String,
    /// `expires_utc`: microseconds since 1601-01-01 UTC.
    pub expires_utc: i64,
    /// `is_secure`.
    pub secure: bool,
    /// `is_httponly`.
    pub http_only: bool,
    /// `has_expires && is_persistent`.
    pub persistent: bool,
    /// `samesite`: -1 unspecified, 0 None, 1 Lax, 2 Strict; anything else as stored.
    pub samesite: i64,
    /// A non-empty `top_frame_site_key`.
    pub partitioned: bool,
}

/// Rows to cookies for a request to `url` at `now`, as an import does after reading the
/// database: the cookies and the report.
pub fn chrome_cookies(
    rows: Vec<ChromeRow>,
    url: &url::Url,
    now: OffsetDateTime,
    meta_version: u32,
    keys: &Keys,
) -> (Vec<Cookie>, Report) {
    let rows = rows
        .into_iter()
        .map(|r| crate::obtain::chrome::Row {
            host_key: r.host_key,
            name: r.name,
            value: r.value.into(),
            encrypted: r.encrypted.into(),
            path: r.path,
            expires_utc: r.expires_utc,
            secure: r.secure,
            http_only: r.http_only,
            persistent: r.persistent,
            samesite: r.samesite,
            partitioned: r.partitioned,
            damaged: None,
        })
        .collect();
    crate::obtain::chrome::cookies_from_rows(rows, url, now, meta_version, keys)
}
