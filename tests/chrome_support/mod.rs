//! Shared parts of the `chrome_*` integration tests: a real Chromium driven through a real
//! chromedriver, a tiny cookie-setting HTTP server, and a builder for Chromium-shaped cookie
//! databases. Each test binary uses only some of them.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::response::IntoResponse;
use sha2::{Digest, Sha256};
use snowbridge::cookie::{Cookie, SameSite};
use snowbridge::secret::Secret;
use time::OffsetDateTime;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Fails the test, saying how to install what is missing.
pub fn require(path: &str, install: &str) -> PathBuf {
    let found = if path.contains('/') {
        Some(PathBuf::from(path)).filter(|p| p.exists())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(path))
                .find(|p| p.is_file())
        })
    };
    found.unwrap_or_else(|| panic!("this test needs {path}: install it with `{install}`"))
}

/// How long to rest between two polls of a condition.
const POLL: Duration = Duration::from_millis(50);

/// Polls `condition` until it holds, failing the test once `limit` has passed.
pub fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(POLL);
    }
}

/// [`wait_until`] for async tests: rests on the runtime's timer between polls.
pub async fn wait_until_async(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// A cookie the test server sets, and what snowbridge should import for it.
#[derive(Debug, Clone)]
pub struct SetCookie {
    pub name: &'static str,
    pub value: String,
    /// The Domain attribute, if any (a domain cookie).
    pub domain: Option<&'static str>,
    pub path: &'static str,
    pub http_only: bool,
    pub secure: bool,
    pub same_site: Option<SameSite>,
    /// Expires attribute; `None` for a session cookie.
    pub expires: Option<OffsetDateTime>,
}

impl SetCookie {
    pub fn new(name: &'static str) -> SetCookie {
        SetCookie {
            name,
            value: format!("{name}-{}", uuid::Uuid::new_v4().simple()),
            domain: None,
            path: "/",
            http_only: false,
            secure: false,
            same_site: None,
            expires: None,
        }
    }

    /// The `Set-Cookie` header value.
    pub fn header(&self) -> String {
        let mut h = format!("{}={}; Path={}", self.name, self.value, self.path);
        if let Some(domain) = self.domain {
            h.push_str(&format!("; Domain={domain}"));
        }
        if let Some(at) = self.expires {
            let fmt = time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            );
            h.push_str(&format!("; Expires={}", at.format(&fmt).unwrap()));
        }
        if self.http_only {
            h.push_str("; HttpOnly");
        }
        if self.secure {
            h.push_str("; Secure");
        }
        match self.same_site {
            Some(SameSite::Strict) => h.push_str("; SameSite=Strict"),
            Some(SameSite::Lax) => h.push_str("; SameSite=Lax"),
            Some(SameSite::None) => h.push_str("; SameSite=None"),
            None => {}
        }
        h
    }

    /// The cookie a browser that got this header from `host` holds.
    pub fn expected(&self, host: &str) -> Cookie {
        Cookie {
            name: self.name.to_string(),
            value: Secret::new(self.value.clone()),
            domain: self.domain.unwrap_or(host).to_string(),
            host_only: self.domain.is_none(),
            path: self.path.to_string(),
            secure: self.secure,
            http_only: self.http_only,
            same_site: self.same_site,
            expires: self.expires,
        }
    }
}

/// An expiry `days` from now, whole seconds (as an Expires attribute carries it).
pub fn in_days(days: i64) -> OffsetDateTime {
    (OffsetDateTime::now_utc() + time::Duration::days(days))
        .replace_nanosecond(0)
        .unwrap()
}

/// Serves `GET /set/{n}` answering with the n-th batch of cookies, on 127.0.0.1 at a random
/// port. Returns the port.
pub async fn serve_cookies(batches: Vec<Vec<SetCookie>>) -> u16 {
    let batches = std::sync::Arc::new(batches);
    let app = axum::Router::new().route(
        "/set/{n}",
        axum::routing::get(move |axum::extract::Path(n): axum::extract::Path<usize>| {
            let batches = batches.clone();
            async move {
                let mut headers = axum::http::HeaderMap::new();
                headers.insert(CONTENT_TYPE, "text/html".parse().unwrap());
                for c in batches.get(n).into_iter().flatten() {
                    headers.append(SET_COOKIE, c.header().parse().unwrap());
                }
                (headers, "<html><title>cookies set</title></html>").into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// Kills and reaps a child process when dropped.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real headless Chromium with its own user-data folder, driven through chromedriver.
pub struct Chromium {
    pub client: fantoccini::Client,
    pub user_data_dir: PathBuf,
    _driver: Reaped,
}

impl Chromium {
    /// Starts chromedriver on a free port and a Chromium session with the brief's flags plus
    /// `extra` (the password store, host mapping).
    pub async fn launch(user_data_dir: &Path, extra: &[String]) -> Chromium {
        require(CHROMIUM, "apt-get install chromium");
        require(CHROMEDRIVER, "apt-get install chromium-driver");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Reaped(driver);
        wait_until_async("chromedriver to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            format!("--user-data-dir={}", user_data_dir.display()),
        ];
        args.extend(extra.iter().cloned());
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": CHROMIUM, "args": args }),
        );
        // rustls has two providers in this build (ring, aws-lc): it needs a default named.
        snowbridge::tls::install_default();
        let client = fantoccini::ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("start a Chromium session");
        Chromium {
            client,
            user_data_dir: user_data_dir.to_path_buf(),
            _driver: driver,
        }
    }

    /// Loads `url` and waits for its page.
    pub async fn visit(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
        assert_eq!(self.client.title().await.unwrap(), "cookies set");
    }

    /// Ends the session (Chromium quits cleanly and writes its cookies) and waits until no
    /// process uses the user-data folder any more.
    pub async fn quit(self) {
        self.client.close().await.expect("close the session");
        let dir = self.user_data_dir.clone();
        wait_until_async("Chromium to exit", Duration::from_secs(30), || {
            processes_using(&dir).is_empty()
        })
        .await;
    }
}

#[path = "../common/procs.rs"]
mod procs;

/// Live processes whose command line names `--user-data-dir=<dir>`.
pub fn processes_using(dir: &Path) -> Vec<u32> {
    procs::using_profile(dir)
        .into_iter()
        .map(|p| p.pid)
        .collect()
}

/// Asserts `got` equals `want` cookie for cookie (in any order), attribute for attribute.
/// Expiry times may differ by under two seconds: Chrome stores an Expires date shifted by the
/// difference between its clock and the server's whole-second `Date` header.
pub fn assert_same_cookies(got: Vec<Cookie>, want: Vec<Cookie>) {
    let (mut got, want) = (sorted(got), sorted(want));
    assert_eq!(
        got.iter().map(|c| &c.name).collect::<Vec<_>>(),
        want.iter().map(|c| &c.name).collect::<Vec<_>>()
    );
    for (g, w) in got.iter_mut().zip(&want) {
        if let (Some(ge), Some(we)) = (g.expires, w.expires) {
            assert!(
                (ge - we).abs() < time::Duration::seconds(2),
                "{}: expires {ge}, the server said {we}",
                g.name
            );
            g.expires = w.expires;
        }
    }
    assert_eq!(got, want);
}

/// A cookie as the Python generators write it in their expected.json files.
#[derive(Debug, serde::Deserialize)]
pub struct ExpectedCookie {
    pub name: String,
    pub value: String,
    pub domain: String,
    pub host_only: bool,
    pub path: String,
    pub secure: bool,
    pub http_only: bool,
    pub same_site: Option<String>,
    pub expires_unix: Option<i64>,
}

impl ExpectedCookie {
    pub fn cookie(&self) -> Cookie {
        Cookie {
            name: self.name.clone(),
            value: Secret::new(self.value.clone()),
            domain: self.domain.clone(),
            host_only: self.host_only,
            path: self.path.clone(),
            secure: self.secure,
            http_only: self.http_only,
            same_site: self.same_site.as_deref().map(|s| match s {
                "None" => SameSite::None,
                "Lax" => SameSite::Lax,
                "Strict" => SameSite::Strict,
                other => panic!("unknown SameSite {other}"),
            }),
            expires: self
                .expires_unix
                .map(|t| OffsetDateTime::from_unix_timestamp(t).unwrap()),
        }
    }
}

/// Sorts cookies by name, path and domain, for comparisons.
pub fn sorted(mut cookies: Vec<Cookie>) -> Vec<Cookie> {
    cookies.sort_by(|a, b| (&a.name, &a.path, &a.domain).cmp(&(&b.name, &b.path, &b.domain)));
    cookies
}

/// The encrypted values' three-byte prefixes in a cookie database, by cookie name.
pub fn stored_prefixes(db: &Path) -> Vec<(String, String)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT name, substr(CAST(encrypted_value AS BLOB), 1, 3), value FROM cookies ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| {
        let prefix: Vec<u8> = r.get(1)?;
        let plain: String = r.get(2)?;
        assert!(plain.is_empty(), "Chromium stored a plaintext value");
        Ok((r.get(0)?, String::from_utf8_lossy(&prefix).into_owned()))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The table Chromium 156 creates (meta version 24).
pub const CHROMIUM_156_SCHEMA: &str = "
CREATE TABLE meta(key LONGVARCHAR NOT NULL UNIQUE PRIMARY KEY, value LONGVARCHAR);
CREATE TABLE cookies(creation_utc INTEGER NOT NULL,host_key TEXT NOT NULL,top_frame_site_key TEXT NOT NULL,name TEXT NOT NULL,value TEXT NOT NULL,encrypted_value BLOB NOT NULL,path TEXT NOT NULL,expires_utc INTEGER NOT NULL,is_secure INTEGER NOT NULL,is_httponly INTEGER NOT NULL,last_access_utc INTEGER NOT NULL,has_expires INTEGER NOT NULL,is_persistent INTEGER NOT NULL,priority INTEGER NOT NULL,samesite INTEGER NOT NULL,source_scheme INTEGER NOT NULL,source_port INTEGER NOT NULL,last_update_utc INTEGER NOT NULL,source_type INTEGER NOT NULL,has_cross_site_ancestor INTEGER NOT NULL);
CREATE UNIQUE INDEX cookies_unique_index ON cookies(host_key, top_frame_site_key, has_cross_site_ancestor, name, path, source_scheme, source_port);
INSERT INTO meta VALUES('mmap_status','-1'),('version','24'),('last_compatible_version','24');
";

/// A row for [`insert`].
#[derive(Debug, Clone)]
pub struct Row {
    pub host_key: String,
    pub name: String,
    pub encrypted: Vec<u8>,
    pub path: String,
    /// Chrome time (µs since 1601); 0 for a session cookie.
    pub expires_utc: i64,
    pub secure: bool,
    pub http_only: bool,
    pub samesite: i64,
    pub top_frame_site_key: String,
}

impl Row {
    pub fn new(host_key: &str, name: &str, encrypted: Vec<u8>) -> Row {
        Row {
            host_key: host_key.into(),
            name: name.into(),
            encrypted,
            path: "/".into(),
            expires_utc: 0,
            secure: false,
            http_only: false,
            samesite: -1,
            top_frame_site_key: String::new(),
        }
    }
}

/// Chrome time for `at`.
pub fn chrome_time(at: OffsetDateTime) -> i64 {
    at.unix_timestamp() * 1_000_000 + 11_644_473_600_000_000
}

/// Creates a Chromium 156 cookie database at `path` holding `rows`.
pub fn create_db(path: &Path, rows: &[Row]) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(CHROMIUM_156_SCHEMA).unwrap();
    for (i, r) in rows.iter().enumerate() {
        insert(&conn, i as i64, r);
    }
}

pub fn insert(conn: &rusqlite::Connection, i: i64, r: &Row) {
    let persistent = i64::from(r.expires_utc != 0);
    conn.execute(
        "INSERT INTO cookies VALUES(?1, ?2, ?3, ?4, '', ?5, ?6, ?7, ?8, ?9, ?1, ?10, ?10, 1, ?11, 1, 80, ?1, 0, 0)",
        rusqlite::params![
            13_400_000_000_000_000i64 + i,
            r.host_key,
            r.top_frame_site_key,
            r.name,
            r.encrypted,
            r.path,
            r.expires_utc,
            r.secure,
            r.http_only,
            persistent,
            r.samesite,
        ],
    )
    .unwrap();
}

/// Encrypts `value` for `host_key` as Chromium on Linux does with `password` (meta 24).
pub fn linux_encrypt(prefix: &str, password: &[u8], host_key: &str, value: &str) -> Vec<u8> {
    let mut key = [0u8; 16];
    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, b"saltysalt", 1, &mut key);
    let plain = [
        Sha256::digest(host_key.as_bytes()).as_slice(),
        value.as_bytes(),
    ]
    .concat();
    let mut buf = vec![0u8; plain.len() + 16];
    let ct = cbc::Encryptor::<aes::Aes128>::new(&key.into(), &[b' '; 16].into())
        .encrypt_padded_b2b_mut::<Pkcs7>(&plain, &mut buf)
        .unwrap()
        .to_vec();
    [prefix.as_bytes(), &ct].concat()
}
