//! Paging and replies as real instances send them (servicenow-wire.md), through the real CLI:
//! `Link` with raw commas, no `Link` when the rows fit in one page, a row listed twice, a `Link`
//! to another origin, and HTML where the API's JSON belongs (a hibernating instance, a single
//! sign-on front door, a proxy's page).
//!
//! The emulator plays the instance; what it would never send (a page with no `Link` while more
//! rows follow, a `Link` to another host, a login page of somebody else's) comes from a small
//! server of the test's own ([`Fake`]). Every run has a deadline, so a paging loop that does not
//! end fails the test instead of stalling it.

mod common;

use std::collections::HashSet;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::child::run_within;
use common::{FormLogin, Home, emulator, form_login};
use serde_json::Value;
use snowbridge::cookie::Cookie;
use snowbridge::paths::Dirs;
use snowbridge::secret::Secret;

/// Long enough for a slow machine, short enough that a runaway loop fails soon.
const DEADLINE: Duration = Duration::from_secs(60);

fn run(home: &Home, args: &[&str]) -> (ExitStatus, String, String) {
    run_within(home.command(args), DEADLINE)
}

/// NDJSON lines as JSON values.
fn rows(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn field<'a>(rows: &'a [Value], name: &str) -> Vec<&'a str> {
    rows.iter()
        .map(|r| {
            r[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {r}"))
        })
        .collect()
}

fn assert_each_once(ids: &[&str], expected: usize, what: &str) {
    let unique: HashSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{what}: a row came twice: {ids:?}");
    assert_eq!(ids.len(), expected, "{what}");
}

/// The Table API requests the emulator answered, as sent.
fn table_requests(emu: &snowbridge::emulator::Emulator) -> Vec<String> {
    emu.control()
        .request_log()
        .into_iter()
        .filter(|r| r.path_and_query.starts_with("/api/now/table/incident"))
        .map(|r| r.path_and_query)
        .collect()
}

fn assert_no_repeats(requests: &[String]) {
    let unique: HashSet<&String> = requests.iter().collect();
    assert_eq!(
        unique.len(),
        requests.len(),
        "a page was asked for twice: {requests:#?}"
    );
}

async fn logged_in(
    incidents: usize,
    setup: impl FnOnce(&mut snowbridge::emulator::EmulatorConfig),
) -> (snowbridge::emulator::Emulator, Home) {
    let emu = emulator(|c| {
        c.incidents = incidents;
        setup(c);
    });
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "admin", false).await);
    (emu, home)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_ordered_by_number_over_several_pages_gives_every_row_once() {
    let (emu, home) = logged_in(30, |_| {}).await;
    let (status, out, err) = run(
        &home,
        &[
            "records",
            "dev",
            "incident",
            "--query",
            "ORDERBYnumber",
            "--fields",
            "number,short_description",
            "--page-size",
            "7",
        ],
    );
    assert!(status.success(), "{err}");
    let rows = rows(&out);
    assert_each_once(&field(&rows, "sys_id"), 30, "records");
    let numbers = field(&rows, "number");
    let mut sorted = numbers.clone();
    sorted.sort();
    assert_eq!(numbers, sorted, "in the order asked for");
    assert!(rows.iter().all(|r| r["short_description"].is_string()));
    let requests = table_requests(&emu);
    assert_no_repeats(&requests);
    assert_eq!(
        requests.len(),
        5,
        "five pages of at most seven: {requests:#?}"
    );
    assert!(
        requests[1..]
            .iter()
            .all(|r| r.contains("sysparm_fields=number,short_description,sys_id")),
        "the instance's Link, commas raw, was followed: {requests:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_paginate_over_several_pages_gives_every_row_once() {
    let (emu, home) = logged_in(30, |_| {}).await;
    let (status, out, err) = run(
        &home,
        &[
            "api",
            "dev",
            "/api/now/table/incident?sysparm_query=ORDERBYnumber&sysparm_fields=number,short_description&sysparm_limit=7",
            "--paginate",
        ],
    );
    assert!(status.success(), "{err}");
    let reply: Value = serde_json::from_str(&out).unwrap();
    let rows = reply["result"].as_array().unwrap();
    assert_each_once(&field(rows, "number"), 30, "api --paginate");
    let requests = table_requests(&emu);
    assert_no_repeats(&requests);
    assert_eq!(requests.len(), 5);
}

/// With every row in one page the instance sends no `Link`: the read ends after that page, in
/// either ordering (before the fix, the first page came back over and over).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_page_without_link_ends() {
    let (emu, home) = logged_in(30, |_| {}).await;
    for query in ["ORDERBYnumber", "", "ORDERBYDESCpriority"] {
        emu.control().clear_request_log();
        let (status, out, err) = run(&home, &["records", "dev", "incident", "--query", query]);
        assert!(status.success(), "{query}: {err}");
        assert_each_once(&field(&rows(&out), "sys_id"), 30, query);
        assert_eq!(
            table_requests(&emu).len(),
            1,
            "{query}: one page, one request"
        );
    }
}

/// Pages smaller than the table and no `Link` on any of them (a proxy that drops the header, an
/// instance that leaves it out): `X-Total-Count` says where the end is; without it, an empty
/// page does. Never a page twice, in either ordering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_smaller_than_the_table_without_link_end() {
    for (count, pages_read) in [(true, 5), (false, 6)] {
        let fake = Fake::start(Serve::Rows {
            count,
            next: Next::Nothing,
        });
        let home = fake.home();
        for query in ["ORDERBYnumber", ""] {
            fake.clear();
            let (status, out, err) = run(
                &home,
                &[
                    "records",
                    "fake",
                    "incident",
                    "--query",
                    query,
                    "--page-size",
                    "7",
                ],
            );
            assert!(status.success(), "count {count}, {query:?}: {err}");
            assert_each_once(&field(&rows(&out), "sys_id"), 30, query);
            let hits = fake.hits();
            assert_no_repeats(&hits);
            assert_eq!(
                hits.len(),
                pages_read,
                "count {count}, {query:?}: {hits:#?}"
            );
        }
        // `api --paginate` follows links only: no Link, one page.
        fake.clear();
        let (status, out, err) = run(
            &home,
            &[
                "api",
                "fake",
                "/api/now/table/incident?sysparm_limit=7",
                "--paginate",
            ],
        );
        assert!(status.success(), "{err}");
        let reply: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(reply["result"].as_array().unwrap().len(), 7);
        assert_eq!(fake.hits().len(), 1);
    }
}

/// A page that lists one row twice (the emulator's repeated-row fault): `records` prints it once,
/// keyed by sys_id or ordered by the caller, and `--limit` counts records, not listings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_listed_twice_is_printed_once() {
    let (emu, home) = logged_in(30, |c| c.faults.repeat_row = true).await;
    for query in ["", "ORDERBYnumber", "ORDERBYDESCnumber"] {
        emu.control().clear_request_log();
        let (status, out, err) = run(
            &home,
            &[
                "records",
                "dev",
                "incident",
                "--query",
                query,
                "--page-size",
                "7",
                "--fields",
                "number",
            ],
        );
        assert!(status.success(), "{query:?}: {err}");
        assert_each_once(&field(&rows(&out), "sys_id"), 30, query);
        assert_no_repeats(&table_requests(&emu));
    }
    let (status, out, err) = run(
        &home,
        &[
            "records",
            "dev",
            "incident",
            "--query",
            "ORDERBYnumber",
            "--page-size",
            "7",
            "--limit",
            "10",
        ],
    );
    assert!(status.success(), "{err}");
    assert_each_once(&field(&rows(&out), "sys_id"), 10, "--limit 10");
}

/// A `Link` to another origin (absolute, or scheme-relative `//host/...`) is refused before
/// anything is sent there; same-origin relative targets are resolved against the page's URL
/// and followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_to_another_origin_are_refused() {
    for next in [Next::Absolute, Next::SchemeRelative] {
        let fake = Fake::start(Serve::Rows { count: true, next });
        let home = fake.home();
        let foreign = format!("http://localhost:{}", fake.port);
        for args in [
            vec![
                "records",
                "fake",
                "incident",
                "--query",
                "ORDERBYnumber",
                "--page-size",
                "7",
            ],
            vec![
                "api",
                "fake",
                "/api/now/table/incident?sysparm_limit=7",
                "--paginate",
            ],
        ] {
            let (status, out, err) = run(&home, &args);
            assert_eq!(status.code(), Some(1), "{args:?}: {err}");
            assert!(
                err.contains("refused") && err.contains(&foreign),
                "{args:?}: {err}"
            );
            assert!(
                fake.foreign_hits().is_empty(),
                "{args:?}: the other host was called"
            );
            if args[0] == "records" {
                assert_eq!(
                    rows(&out).len(),
                    7,
                    "the page read is printed before the refusal"
                );
            }
        }
    }

    let fake = Fake::start(Serve::Rows {
        count: true,
        next: Next::Relative,
    });
    let home = fake.home();
    let (status, out, err) = run(
        &home,
        &[
            "records",
            "fake",
            "incident",
            "--query",
            "ORDERBYnumber",
            "--page-size",
            "7",
        ],
    );
    assert!(status.success(), "{err}");
    assert_each_once(&field(&rows(&out), "sys_id"), 30, "relative links");
    fake.clear();
    let (status, out, err) = run(
        &home,
        &[
            "api",
            "fake",
            "/api/now/table/incident?sysparm_limit=7",
            "--paginate",
        ],
    );
    assert!(status.success(), "{err}");
    let reply: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reply["result"].as_array().unwrap().len(), 30);
    assert_eq!(fake.hits().len(), 5);
}

/// A hibernating developer instance answers the API with its page (`200`): not a session.
/// `connect`, `status --json`, `api` and `records` exit 1 saying where to wake it; awake again,
/// the same session works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hibernating_instance_is_reported_as_such() {
    let (emu, home) = logged_in(5, |_| {}).await;
    emu.control().set_hibernating(true);
    let wake = "the instance is hibernating: wake it at https://developer.servicenow.com/";
    for args in [
        vec!["connect", "dev"],
        vec!["status", "dev", "--json"],
        vec!["api", "dev", "/api/now/table/incident?sysparm_limit=1"],
        vec!["records", "dev", "incident"],
    ] {
        let (status, out, err) = run(&home, &args);
        assert_eq!(status.code(), Some(1), "{args:?}: {out}{err}");
        if args[0] == "status" {
            let rows: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(rows[0]["state"], "unreachable", "{out}");
            assert!(rows[0]["detail"].as_str().unwrap().contains(wake), "{out}");
        } else {
            assert!(err.contains(wake), "{args:?}: {err}");
            assert!(!out.contains("<html"), "{args:?} printed the page: {out}");
        }
    }
    emu.control().set_hibernating(false);
    let (status, _, err) = run(
        &home,
        &["api", "dev", "/api/now/table/incident?sysparm_limit=1"],
    );
    assert!(status.success(), "awake again: {err}");
}

/// A single sign-on front door (or a TLS-inspecting proxy) that answers the API with its login
/// page (`200`): login required, exit 4, for every command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_page_on_the_api_means_login_required() {
    let fake = Fake::start(Serve::Page(SSO_LOGIN));
    let home = fake.home();
    for args in [
        vec!["connect", "fake"],
        vec!["status", "fake", "--json"],
        vec!["api", "fake", "/api/now/table/incident?sysparm_limit=1"],
        vec!["records", "fake", "incident"],
    ] {
        let (status, out, err) = run(&home, &args);
        assert_eq!(status.code(), Some(4), "{args:?}: {out}{err}");
        if args[0] == "status" {
            let rows: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(rows[0]["state"], "expired", "{out}");
        } else {
            assert!(err.contains("login page"), "{args:?}: {err}");
            assert!(
                err.contains("snowbridge connect fake --login"),
                "{args:?}: {err}"
            );
            assert!(!out.contains("<html"), "{args:?} printed the page: {out}");
        }
    }
}

/// Any other page on the API (a proxy's block page): not ServiceNow, named by its title, exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_page_on_the_api_is_not_servicenow() {
    let fake = Fake::start(Serve::Page(BLOCKED));
    let home = fake.home();
    for args in [
        vec!["connect", "fake"],
        vec!["api", "fake", "/api/now/table/incident?sysparm_limit=1"],
        vec!["records", "fake", "incident"],
    ] {
        let (status, out, err) = run(&home, &args);
        assert_eq!(status.code(), Some(1), "{args:?}: {out}{err}");
        assert!(err.contains("not ServiceNow"), "{args:?}: {err}");
        assert!(err.contains("\"Web Page Blocked\""), "{args:?}: {err}");
        assert!(!out.contains("<html"), "{args:?} printed the page: {out}");
    }
}

/// A page is a page whatever its label: a front door or proxy that serves its login page as
/// `text/plain`, `application/octet-stream` or with no `Content-Type` is still login required
/// (exit 4), and a block page so served is still "not ServiceNow" (exit 1); nothing is printed
/// as if it were the API's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_with_other_labels_are_still_pages() {
    for label in ["text/plain; charset=utf-8", "application/octet-stream", ""] {
        for (page, code, words) in [(SSO_LOGIN, 4, "login page"), (BLOCKED, 1, "not ServiceNow")] {
            let fake = Fake::start(Serve::PageAs(page, label));
            let home = fake.home();
            for args in [
                vec!["connect", "fake"],
                vec!["api", "fake", "/api/now/table/incident?sysparm_limit=1"],
                vec!["records", "fake", "incident"],
            ] {
                let (status, out, err) = run(&home, &args);
                assert_eq!(status.code(), Some(code), "{label}: {args:?}: {out}{err}");
                assert!(err.contains(words), "{label}: {args:?}: {err}");
                assert!(
                    !out.contains("<html"),
                    "{label}: {args:?} printed the page: {out}"
                );
            }
        }
    }
}

/// A call's path that a URL parser reads as another host (`//host/...`, `/\host/...`, or an
/// absolute URL in capitals) is refused before anything is sent: the session's cookies and token
/// go to the instance only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_paths_naming_another_host_are_refused() {
    let fake = Fake::start(Serve::Rows {
        count: true,
        next: Next::Nothing,
    });
    let home = fake.home();
    let foreign = format!("localhost:{}", fake.port);
    for target in [
        format!("//{foreign}/api/now/table/incident"),
        format!("/\\{foreign}/api/now/table/incident"),
        format!("\\\\{foreign}/api/now/table/incident"),
        format!("HTTP://{foreign}/api/now/table/incident"),
    ] {
        let (status, out, err) = run(&home, &["api", "fake", &target]);
        assert_eq!(status.code(), Some(2), "{target}: {out}{err}");
        assert!(err.contains("own instance only"), "{target}: {err}");
        assert!(
            fake.foreign_hits().is_empty(),
            "{target}: the other host was called"
        );
    }
    let (status, _, err) = run(
        &home,
        &["api", "fake", "api/now/table/incident?sysparm_limit=1"],
    );
    assert!(status.success(), "a plain path still works: {err}");
}

/// An instance whose pages do not move (offset and key ignored, the same rows each time while
/// its `Link` and count promise more): every paging loop stops with an error that says so
/// instead of reading forever. Table API through `records` in both orderings and through
/// `api --paginate`; JSONv2 through the library.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_that_does_not_advance_is_an_error() {
    let fake = Fake::start(Serve::Stuck);
    let home = fake.home();
    for args in [
        vec![
            "records",
            "fake",
            "incident",
            "--query",
            "ORDERBYnumber",
            "--page-size",
            "7",
        ],
        vec!["records", "fake", "incident", "--page-size", "7"],
        vec![
            "api",
            "fake",
            "/api/now/table/incident?sysparm_limit=7",
            "--paginate",
        ],
    ] {
        fake.clear();
        let (status, _, err) = run(&home, &args);
        assert_eq!(status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("read before") || err.contains("already read"),
            "{args:?}: {err}"
        );
        assert_eq!(fake.hits().len(), 2, "{args:?}: stopped at the second page");
    }

    fake.clear();
    let session = snowbridge::session::Session::open(&home.instance(), home.vault()).unwrap();
    let mut pages = 0;
    let read = tokio::time::timeout(
        DEADLINE,
        snowbridge::api::JsonV2::new(&session, "incident").for_each_record("", 7, |_| {
            pages += 1;
            Ok(())
        }),
    )
    .await
    .expect("JSONv2 paging ends");
    let err = read.unwrap_err();
    assert_eq!(err.kind(), snowbridge::ErrorKind::Instance, "{err}");
    assert!(err.to_string().contains("not paging"), "{err}");
    assert_eq!(pages, 1);
    assert_eq!(fake.hits().len(), 2);
}

/// A login page as an identity provider in front of an instance sends it.
const SSO_LOGIN: &str = r#"<!DOCTYPE html><html><head><title>Sign in to your account</title></head>
<body><form method="post" action="/common/login"><input type="email" name="loginfmt">
<input type="password" name="passwd"><input type="submit" value="Sign in"></form></body></html>"#;

/// A TLS-inspecting proxy's refusal page.
const BLOCKED: &str = r#"<html><head><title>Web Page Blocked</title></head><body>
<h1>Access to this site is blocked</h1><p>Category: Uncategorized. Contact your administrator.</p>
</body></html>"#;

/// Where the fake sends the `next` page.
#[derive(Clone, Copy, Debug)]
enum Next {
    /// No `Link` header at all.
    Nothing,
    /// `incident?...`, relative to the page's URL.
    Relative,
    /// `http://localhost:PORT/...`: another origin (same port, other host name).
    Absolute,
    /// `//localhost:PORT/...`: another origin, scheme-relative.
    SchemeRelative,
}

#[derive(Clone, Copy, Debug)]
enum Serve {
    /// Thirty incidents (sys_ids in number order), paged by `sysparm_offset` and
    /// `sysparm_limit`, filtered by a `sys_id>X` term; `count` adds `X-Total-Count`.
    Rows { count: bool, next: Next },
    /// This page on every path, `200 text/html`.
    Page(&'static str),
    /// This page on every path, `200` with this `Content-Type` (a front door or proxy that does
    /// not label its pages), or none when empty.
    PageAs(&'static str, &'static str),
    /// The first seven incidents whatever is asked (offset and key ignored), with
    /// `X-Total-Count` and a `Link` to the next offset on this origin; JSONv2 (`*.do`) likewise.
    Stuck,
}

/// A stand-in "instance" on 127.0.0.1 that records every request with the Host it named.
struct Fake {
    port: u16,
    hits: Arc<Mutex<Vec<(String, String)>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fake {
    fn start(serve: Serve) -> Fake {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = (serve, hits.clone(), port);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(answer).with_state(state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Fake {
            port,
            hits,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// A home with the instance `fake` at this server and a stored session (cookies and a token
    /// that must go nowhere else).
    fn home(&self) -> Home {
        let root = tempfile::tempdir().unwrap();
        let dirs = Dirs::new(root.path().join("config"), root.path().join("data"));
        std::fs::create_dir_all(dirs.user_instances()).unwrap();
        std::fs::write(
            dirs.user_instances().join("fake.toml"),
            format!(
                "url = \"http://127.0.0.1:{}\"\nauth = \"browser\"\n",
                self.port
            ),
        )
        .unwrap();
        let home = Home {
            root,
            dirs,
            name: "fake".into(),
        };
        home.store_login(&FormLogin {
            user: "admin".into(),
            cookies: vec![Cookie {
                name: "JSESSIONID".into(),
                value: Secret::new("F4KE5E55107"),
                domain: "127.0.0.1".into(),
                host_only: true,
                path: "/".into(),
                secure: false,
                http_only: true,
                same_site: None,
                expires: None,
            }],
            user_token: Some(Secret::new("fake-g-ck")),
        });
        home
    }

    fn clear(&self) {
        self.hits.lock().unwrap().clear();
    }

    /// The path and query of every request to this instance (Host 127.0.0.1).
    fn hits(&self) -> Vec<String> {
        let ours = format!("127.0.0.1:{}", self.port);
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(host, _)| *host == ours)
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// Requests that named any other host.
    fn foreign_hits(&self) -> Vec<(String, String)> {
        let ours = format!("127.0.0.1:{}", self.port);
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(host, _)| *host != ours)
            .cloned()
            .collect()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type FakeState = (Serve, Arc<Mutex<Vec<(String, String)>>>, u16);

async fn answer(
    axum::extract::State((serve, hits, port)): axum::extract::State<FakeState>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let host = request
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    hits.lock().unwrap().push((host.clone(), path_and_query));
    let ours = format!("127.0.0.1:{port}");
    let (count, next, stuck) = match serve {
        Serve::Page(page) => {
            return ([("content-type", "text/html; charset=utf-8")], page).into_response();
        }
        Serve::PageAs(page, "") => {
            let mut response = page.into_response();
            response.headers_mut().remove("content-type");
            return response;
        }
        Serve::PageAs(page, content_type) => {
            return ([("content-type", content_type)], page).into_response();
        }
        Serve::Rows { count, next } => (count, next, false),
        Serve::Stuck => (true, Next::Nothing, true),
    };
    if host != ours {
        return axum::Json(serde_json::json!({ "result": [] })).into_response();
    }
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let offset: usize = get("sysparm_offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let limit: usize = get("sysparm_limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let after = get("sysparm_query")
        .unwrap_or("")
        .split('^')
        .find_map(|term| term.strip_prefix("sys_id>"))
        .filter(|_| !stuck);
    let matching: Vec<Value> = (0..30u32)
        .map(|i| {
            serde_json::json!({
                "sys_id": format!("{:032x}", 0x1000 + i),
                "number": format!("INC{:07}", 10_001 + i),
                "short_description": format!("row {i}, with a comma"),
            })
        })
        .filter(|r| after.is_none_or(|a| r["sys_id"].as_str().unwrap_or("") > a))
        .collect();
    let total = matching.len();
    // Stuck: the first seven rows, whatever the offset, key or limit asked for.
    let (skip, take) = if stuck { (0, 7) } else { (offset, limit) };
    let page: Vec<Value> = matching.into_iter().skip(skip).take(take).collect();
    if request.uri().path().ends_with(".do") {
        return axum::Json(serde_json::json!({ "records": page })).into_response();
    }
    let mut response = axum::Json(serde_json::json!({ "result": page })).into_response();
    let headers = response.headers_mut();
    if count {
        headers.insert("x-total-count", total.into());
    }
    let step = if stuck { 7 } else { limit };
    if offset.saturating_add(step) < total {
        // The same query with the next offset, sysparm_fields' commas raw as instances write it.
        let query: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k != "sysparm_offset")
            .map(|(k, v)| {
                let v: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
                format!("{k}={}", v.replace("%2C", ","))
            })
            .chain([format!("sysparm_offset={}", offset + step)])
            .collect();
        let query = query.join("&");
        let target = match next {
            Next::Nothing if stuck => Some(format!("http://{ours}/api/now/table/incident?{query}")),
            Next::Nothing => None,
            Next::Relative => Some(format!("incident?{query}")),
            Next::Absolute => Some(format!(
                "http://localhost:{port}/api/now/table/incident?{query}"
            )),
            Next::SchemeRelative => {
                Some(format!("//localhost:{port}/api/now/table/incident?{query}"))
            }
        };
        if let Some(target) = target
            && let Ok(value) = format!("<{target}>;rel=\"next\"").parse()
        {
            headers.insert("link", value);
        }
    }
    response
}
