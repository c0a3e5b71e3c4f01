//! Shared by the browser tests: a tiny cookie-setting web server, browser options for tests,
//! and a look at /proc for processes that should be gone.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{COOKIE, HOST, SET_COOKIE, USER_AGENT};
use axum::response::{Html, IntoResponse, Response};
use snowbridge::browser::{self, Options};

/// Host names Chrome is told to resolve to 127.0.0.1: a registrable domain, so that domain
/// cookies exist (localhost and IP addresses only ever get host-only cookies).
pub const DOMAIN: &str = "example.test";
pub const APP_HOST: &str = "app.example.test";
pub const OTHER_HOST: &str = "other.example.test";

/// Fails the test with how to install what is missing.
pub fn require_browser() {
    for found in [browser::find_chromedriver(None), browser::find_chrome(None)] {
        if let Err(e) = found {
            panic!(
                "these tests drive a real Chromium through chromedriver: {e}\n  fix: {}",
                e.hint()
                    .unwrap_or("apt-get install chromium chromium-driver")
            );
        }
    }
}

/// Headless options on `profile`, resolving *.example.test to the test server.
pub fn options(profile: &Path) -> Options {
    Options {
        headless: Some(true),
        extra_args: vec![format!("--host-resolver-rules=MAP *.{DOMAIN} 127.0.0.1")],
        ..Options::new(profile)
    }
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub host: String,
    pub path: String,
    pub cookies: BTreeMap<String, String>,
    pub user_agent: String,
}

/// A web server on 127.0.0.1 that sets known cookies and records what browsers send.
pub struct Server {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// The cookies `/set-local` sets, as `Set-Cookie` values.
pub const LOCAL_COOKIES: &[&str] = &[
    "sid=S1-session; Path=/; HttpOnly; SameSite=Strict",
    "pref=P1-persistent; Path=/; Max-Age=3600; SameSite=Lax",
    "tok=T1-secure; Path=/api; Secure; HttpOnly; SameSite=None",
    "plain=X1; Path=/",
];

/// The cookies `/set-domain` sets (visited as app.example.test).
pub const DOMAIN_COOKIES: &[&str] = &[
    "glide=G1-domain; Domain=example.test; Path=/; HttpOnly; Max-Age=7200; SameSite=Lax",
    "node=N1-host; Path=/",
];

impl Server {
    pub async fn start() -> Server {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().fallback(record).with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server { addr, seen }
    }

    /// `http://<host>:<port><path>`.
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.addr.port())
    }

    /// The last request for `path` on `host`.
    pub fn last(&self, host: &str, path: &str) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|s| s.host == host && s.path == path)
            .cloned()
            .unwrap_or_else(|| panic!("the server never saw {host}{path}"))
    }
}

async fn record(State(seen): State<Arc<Mutex<Vec<Seen>>>>, request: Request) -> Response {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let host = header(HOST);
    let host = host
        .rsplit_once(':')
        .map_or(host.clone(), |(h, _)| h.to_string());
    let cookies = header(COOKIE)
        .split("; ")
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let path = request.uri().path().to_string();
    seen.lock().unwrap().push(Seen {
        host,
        path: path.clone(),
        cookies,
        user_agent: header(USER_AGENT),
    });
    let page = Html(format!(
        "<html><head><title>snowbridge test</title></head>\
         <body><p id=\"marker\">marker {path}</p></body></html>"
    ));
    let set: &[&str] = match path.as_str() {
        "/set-local" => LOCAL_COOKIES,
        "/set-domain" => DOMAIN_COOKIES,
        _ => &[],
    };
    let mut response = page.into_response();
    for cookie in set {
        response
            .headers_mut()
            .append(SET_COOKIE, cookie.parse().unwrap());
    }
    response
}

#[cfg(target_os = "linux")]
#[path = "../common/procs.rs"]
mod procs;

/// Live (not zombie) processes in process group `pgid` or naming `profile` on their command
/// line, as "pid: command line".
#[cfg(target_os = "linux")]
pub fn live_processes(pgid: u32, profile: &Path) -> Vec<String> {
    let needle = format!("--user-data-dir={}", profile.display());
    procs::processes()
        .into_iter()
        .filter(|p| p.group == pgid || p.cmdline.contains(&needle))
        .map(|p| {
            format!(
                "{}: {}",
                p.pid,
                p.cmdline.chars().take(160).collect::<String>()
            )
        })
        .collect()
}

/// Waits (polling /proc, up to 30 s) until no process of `pgid` or `profile` is left; panics
/// naming the survivors otherwise.
#[cfg(target_os = "linux")]
pub fn assert_all_gone(pgid: u32, profile: &Path) {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = live_processes(pgid, profile);
        if left.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("processes outlived the browser:\n{}", left.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The profile folder's absolute path, as the browser passes it to Chrome.
pub fn absolute(profile: &Path) -> PathBuf {
    std::path::absolute(profile).unwrap()
}
