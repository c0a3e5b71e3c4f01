//! The browser fallback through the real CLI: `attach` and `resolve` try REST first and, where
//! the instance refuses an itil user (the Attachment API, the state change to Resolved), do it
//! through the record form in a real Chromium; admins and itil admins stay on REST; a data-policy
//! refusal is missing input, reported without opening a browser.
//!
//! Whether a browser was started is told by a chromedriver stand-in (`common::spy`).
#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::child::run_within;
use common::spy::Spy;
use common::{Home, emulator, form_login};
use sha2::{Digest, Sha256};
use snowbridge::emulator::Emulator;

/// Browser starts plus page loads on a slow machine; a hang fails the test.
const WITHIN: Duration = Duration::from_secs(120);

/// Runs `snowbridge args... --headless --chromedriver SPY` to completion.
fn run(home: &Home, spy: &Spy, args: &[&str]) -> (Option<i32>, String, String) {
    let chromedriver = spy.path();
    let mut all = args.to_vec();
    all.extend_from_slice(&["--headless", "--chromedriver", &chromedriver]);
    let (status, out, err) = run_within(home.command(&all), WITHIN);
    (status.code(), out, err)
}

/// Puts incident `number` In Progress with no resolution, whatever the seed gave it; returns
/// its sys_id.
fn open_incident(emu: &Emulator, number: &str) -> String {
    let control = emu.control();
    let record = control.record("incident", number).unwrap();
    let sys_id = record["sys_id"].as_str().unwrap().to_owned();
    control
        .set_fields(
            "incident",
            &sys_id,
            [
                ("state", "2"),
                ("active", "true"),
                ("close_code", ""),
                ("close_notes", ""),
            ],
        )
        .unwrap();
    sys_id
}

fn field(emu: &Emulator, sys_id: &str, name: &str) -> String {
    let record = emu.control().record("incident", sys_id).unwrap();
    record[name].as_str().unwrap_or_default().to_owned()
}

/// A file to attach, with bytes that survive no careless re-encoding.
fn file(dir: &Path, name: &str) -> (PathBuf, Vec<u8>) {
    let mut content = "Triage notes: ünïcödé, CRLF\r\nand a NUL:\0 then binary: "
        .as_bytes()
        .to_vec();
    content.extend(0u8..=255);
    let path = dir.join(name);
    std::fs::write(&path, &content).unwrap();
    (path, content)
}

/// The attachment named `name` on `sys_id` holds exactly `content`.
fn assert_attached(emu: &Emulator, sys_id: &str, name: &str, content: &[u8]) {
    let listed = emu.control().attachments(sys_id);
    let found = listed
        .iter()
        .find(|a| a.file_name == name)
        .unwrap_or_else(|| panic!("{name} is not attached to {sys_id}: {listed:?}"));
    assert_eq!(found.table_name, "incident");
    assert_eq!(found.size_bytes, content.len() as u64);
    assert_eq!(found.hash, hex::encode(Sha256::digest(content)));
    assert_eq!(
        emu.control().attachment_content(&found.sys_id).as_deref(),
        Some(content),
        "the stored bytes are the file's"
    );
}

/// Requests for UI pages (the record form, the attachment upload) since `from` in the log.
fn ui_requests(emu: &Emulator, from: usize) -> Vec<String> {
    emu.control().request_log()[from..]
        .iter()
        .filter(|r| {
            r.path_and_query.starts_with("/incident.do")
                || r.path_and_query.starts_with("/sys_attachment.do")
        })
        .map(|r| format!("{} {} -> {}", r.method, r.path_and_query, r.status))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_itil_user_attaches_and_resolves_through_the_browser_with_the_browser_logins_session() {
    let spy = Spy::new();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let mut login = home.command(&["connect", "dev", "--login", "--headless"]);
    login.env("SNOWBRIDGE_PASSWORD", "snowbridge");
    let (status, out, err) = run_within(login, WITHIN);
    assert!(status.success(), "browser login failed: {out}\n{err}");

    // Attach: the Attachment API refuses itil users, the form's dialog does not.
    let first = open_incident(&emu, "INC0010001");
    let files = tempfile::tempdir().unwrap();
    let (path, content) = file(files.path(), "triage-notes.bin");
    let from = emu.control().request_log().len();
    let (code, out, err) = run(
        &home,
        &spy,
        &[
            "attach",
            "dev",
            "incident",
            "INC0010001",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("through the browser"), "{out}");
    assert_eq!(spy.starts(), 1, "one browser for the fallback");
    let log = emu.control().request_log();
    let refused = log[from..]
        .iter()
        .any(|r| r.path_and_query.starts_with("/api/now/attachment/file") && r.status == 403);
    assert!(refused, "REST was tried first and refused: {log:?}");
    let uploaded = log[from..].iter().any(|r| {
        r.method == "POST"
            && r.path_and_query.starts_with("/sys_attachment.do")
            && r.user.as_deref() == Some("itil.user")
    });
    assert!(uploaded, "the form uploaded the file as itil.user: {log:?}");
    assert_attached(&emu, &first, "triage-notes.bin", &content);

    // Resolve: the Table API refuses itil users the state change, the form's UI action does not.
    let second = open_incident(&emu, "INC0010002");
    let notes = "Restarted the mail relay; the caller confirmed delivery.";
    let (code, out, err) = run(
        &home,
        &spy,
        &[
            "resolve",
            "dev",
            "INC0010002",
            "--code",
            "Solution provided",
            "--notes",
            notes,
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("resolved through the browser"), "{out}");
    assert_eq!(spy.starts(), 2, "a browser for the resolve");
    assert_eq!(field(&emu, &second, "state"), "6");
    assert_eq!(field(&emu, &second, "close_code"), "Solution provided");
    assert_eq!(field(&emu, &second, "close_notes"), notes);
    assert_eq!(
        field(&emu, &second, "resolved_by"),
        emu.control().user_sys_id("itil.user").unwrap(),
        "resolved by the logged-in user"
    );

    // The session, with whatever the browser rotated handed back, still works over REST.
    let out = home.run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_attaches_and_resolves_through_rest_and_no_browser_starts() {
    let spy = Spy::new();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "admin", false).await);
    let first = open_incident(&emu, "INC0010001");
    let second = open_incident(&emu, "INC0010002");
    let files = tempfile::tempdir().unwrap();
    let (path, content) = file(files.path(), "admin-notes.bin");
    let from = emu.control().request_log().len();

    let (code, out, err) = run(
        &home,
        &spy,
        &[
            "attach",
            "dev",
            "incident",
            "INC0010001",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("through the REST Attachment API"), "{out}");
    assert_attached(&emu, &first, "admin-notes.bin", &content);

    let (code, out, err) = run(
        &home,
        &spy,
        &[
            "resolve",
            "dev",
            "INC0010002",
            "--code",
            "Workaround provided",
            "--notes",
            "Cleared the cache.",
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("resolved through the REST Table API"), "{out}");
    assert_eq!(field(&emu, &second, "state"), "6");
    assert_eq!(field(&emu, &second, "close_code"), "Workaround provided");

    assert_eq!(spy.starts(), 0, "no browser was started");
    assert_eq!(
        ui_requests(&emu, from),
        Vec::<String>::new(),
        "no UI page was asked for"
    );
}

/// Missing notes are the data policy's to refuse: reported with the field named once (the
/// instance repeats its text in the envelope's detail), and no browser opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_resolution_notes_are_reported_once_and_no_browser_opens() {
    let spy = Spy::new();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let sys_id = open_incident(&emu, "INC0010003");
    let from = emu.control().request_log().len();

    let (code, out, err) = run(
        &home,
        &spy,
        &[
            "resolve",
            "dev",
            "INC0010003",
            "--code",
            "Solution provided",
            "--notes",
            "",
        ],
    );
    assert_eq!(code, Some(5), "{out}\n{err}");
    assert!(
        err.contains("Resolution notes"),
        "the data policy is named: {err}"
    );
    assert_eq!(
        err.matches("Data Policy Exception").count(),
        1,
        "the instance's text is said once, not repeated in the hint: {err}"
    );
    assert!(
        err.contains("give the mandatory fields (Resolution notes)"),
        "{err}"
    );
    assert_eq!(spy.starts(), 0, "no browser for a data-policy refusal");
    assert_eq!(ui_requests(&emu, from), Vec::<String>::new());
    assert_eq!(
        field(&emu, &sys_id, "state"),
        "2",
        "the incident is untouched"
    );
}

/// Closing needs itil_admin: the form offers itil.user no "Close Incident", and that is seen
/// before "Resolve Incident" is pressed, so nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_as_an_itil_user_is_refused_before_anything_changes() {
    let spy = Spy::new();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let sys_id = open_incident(&emu, "INC0010004");
    let before = emu.control().record("incident", &sys_id).unwrap();

    let (code, out, err) = run(
        &home,
        &spy,
        &[
            "resolve",
            "dev",
            "INC0010004",
            "--code",
            "Solution provided",
            "--notes",
            "Replaced the toner.",
            "--close",
        ],
    );
    assert_eq!(code, Some(5), "{out}\n{err}");
    assert!(
        err.contains("does not offer Close Incident to itil.user"),
        "{err}"
    );
    assert!(
        err.contains("itil_admin"),
        "the role needed is named: {err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(spy.starts(), 1, "the form was looked at in a browser");
    assert_eq!(
        emu.control().record("incident", &sys_id).unwrap(),
        before,
        "not resolved, not touched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_itil_admin_closes_through_rest() {
    let spy = Spy::new();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.admin", false).await);
    let sys_id = open_incident(&emu, "INC0010005");
    let from = emu.control().request_log().len();

    let (code, out, err) = run(
        &home,
        &spy,
        &[
            "resolve",
            "dev",
            "INC0010005",
            "--code",
            "Known error",
            "--notes",
            "Tracked in the problem record.",
            "--close",
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("closed through the REST Table API"), "{out}");
    assert_eq!(field(&emu, &sys_id, "state"), "7");
    assert_eq!(field(&emu, &sys_id, "close_code"), "Known error");
    assert_eq!(spy.starts(), 0, "no browser was started");
    assert_eq!(ui_requests(&emu, from), Vec::<String>::new());
}

/// Over TLS with the emulator's own CA (named in the instance file): the fallback's Chrome
/// accepts the instance's verified certificate, and the session's Secure cookies go in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_fallback_browser_reaches_an_instance_with_its_own_ca() {
    let spy = Spy::new();
    let emu = emulator(|c| c.tls = true);
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let sys_id = open_incident(&emu, "INC0010006");

    let (code, out, err) = run(
        &home,
        &spy,
        &[
            "resolve",
            "dev",
            "INC0010006",
            "--code",
            "User error",
            "--notes",
            "Showed the caller the right menu.",
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("resolved through the browser"), "{out}");
    assert_eq!(spy.starts(), 1);
    assert_eq!(field(&emu, &sys_id, "state"), "6");
    assert_eq!(field(&emu, &sys_id, "close_code"), "User error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_itil_user_attaches_to_a_problem_through_its_form() {
    let spy = Spy::new();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let problem = emu.control().record("problem", "PRB0040003").unwrap();
    let sys_id = problem["sys_id"].as_str().unwrap().to_owned();
    let files = tempfile::tempdir().unwrap();
    let (path, content) = file(files.path(), "p.txt");
    let from = emu.control().request_log().len();
    let started = std::time::Instant::now();
    let (code, out, err) = run(
        &home,
        &spy,
        &[
            "attach",
            "dev",
            "problem",
            "PRB0040003",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("through the browser"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "no wait on a page that never comes: {:?}",
        started.elapsed()
    );
    let log = emu.control().request_log();
    assert!(
        log[from..].iter().any(|r| r.method == "GET"
            && r.path_and_query.starts_with("/problem.do?sys_id=")
            && r.status == 200),
        "the problem's own form was opened: {log:?}"
    );
    let listed = emu.control().attachments(&sys_id);
    let found = listed
        .iter()
        .find(|a| a.file_name == "p.txt")
        .unwrap_or_else(|| panic!("p.txt is not attached to {sys_id}: {listed:?}"));
    assert_eq!(found.table_name, "problem");
    assert_eq!(
        emu.control().attachment_content(&found.sys_id).as_deref(),
        Some(&content[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_is_not_the_form_is_reported_at_once_with_what_it_says() {
    common::require_browser();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let session = snowbridge::session::Session::open(&home.instance(), home.vault()).unwrap();
    let files = tempfile::tempdir().unwrap();
    let (path, _) = file(files.path(), "p.txt");
    let local = snowbridge::api::attachment::LocalFile::read(&path)
        .await
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let mut browser = snowbridge::browser::Options::new(profile.path());
    browser.headless = Some(true);
    let options = snowbridge::fallback::FallbackOptions {
        browser,
        diagnostics: home.dirs.diagnostics(),
        timeout: Duration::from_secs(60),
    };
    // A table the instance serves no form for (a custom table of another instance).
    let started = std::time::Instant::now();
    let mut attached = Vec::new();
    let e = snowbridge::fallback::attach(
        &session,
        "u_custom_table",
        "0123456789abcdef0123456789abcdef",
        &[local],
        &options,
        &mut attached,
    )
    .await
    .expect_err("there is no form to attach through");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "not waited out ({:?}): {e}",
        started.elapsed()
    );
    let said = e.to_string();
    assert!(
        said.contains("did not show the form of u_custom_table record"),
        "{said}"
    );
    assert!(
        said.contains("The page u_custom_table.do is not available"),
        "{said}"
    );
    assert!(said.contains("HTTP 404"), "{said}");
    assert!(!said.contains("timed out"), "{said}");
    assert!(attached.is_empty());

    // A hibernating developer instance answers the form's address with its page.
    let problem = emu.control().record("problem", "PRB0040003").unwrap();
    let sys_id = problem["sys_id"].as_str().unwrap().to_owned();
    emu.control().set_hibernating(true);
    let started = std::time::Instant::now();
    let local = snowbridge::api::attachment::LocalFile::read(&path)
        .await
        .unwrap();
    let e = snowbridge::fallback::attach(
        &session,
        "problem",
        &sys_id,
        &[local],
        &options,
        &mut attached,
    )
    .await
    .expect_err("a hibernating instance shows no form");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "not waited out ({:?}): {e}",
        started.elapsed()
    );
    assert_eq!(e.kind(), snowbridge::ErrorKind::Unreachable, "{e}");
    assert!(
        e.message()
            .contains("the instance is hibernating: wake it at https://developer.servicenow.com"),
        "{e}"
    );
    assert!(emu.control().attachments(&sys_id).is_empty());
}
