//! `auth = "oauth-pkce"`: the authorization code flow with PKCE in the managed Chrome, against
//! the emulator over TLS and against a minimal authorization server written here. Headless with
//! credentials (snowbridge fills the login form, one-time code included, and presses Allow), a
//! person at a headed Chrome under Xvfb (single sign-on, then Allow; Deny; a closed window;
//! a redirect with another state), a redirect without a code, a port in use; the tokens then
//! work through the CLI and the library, are renewed as they expire, and a revoked refresh token
//! is exit 4 naming the command. No refusal hangs, and no Chrome or listener outlives it.
#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use common::child::{Child, run_within};
use common::person::{Display, Person, chrome_on};
use common::{Home, stderr, stdout};
use serde_json::{Value, json};
use sha2::Digest;
use snowbridge::emulator::{Control, Emulator};
use snowbridge::obtain::login::LoginOptions;
use snowbridge::obtain::secrets::Kind;
use snowbridge::secret::Secret;
use snowbridge::session::{Call, Session};

/// The emulator's public (PKCE) application.
const PKCE: &str = "b7a0c9d4e5f6471a8b2c3d4e5f60718a";
const INCIDENT: &str = "/api/now/table/incident?sysparm_limit=1";
/// How long a CLI run may take before the test calls it a hang.
const WITHIN: Duration = Duration::from_secs(150);
/// The CLI's instruction to a person, on stderr.
const INSTRUCTION: &str = "in the browser window";

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The emulator over TLS, its PKCE application redirecting to `port` and issuing access tokens
/// that live `lifetime` seconds.
fn emulator(port: u16, lifetime: u64) -> Emulator {
    let emu = common::emulator(|c| {
        c.tls = true;
        c.incidents = 3;
    });
    assert!(emu.control().update_oauth_app(PKCE, |a| {
        a.redirect_uris = vec![format!("http://127.0.0.1:{port}/callback")];
        a.access_token_lifespan_secs = lifetime;
    }));
    emu
}

/// A home whose instance `dev` is `url` with `auth = "oauth-pkce"`, `client_id`, `port` and
/// `extra` lines before the [oauth] section.
fn home_at(url: &str, ca: Option<&Path>, client_id: &str, port: u16, extra: &str) -> Home {
    let root = tempfile::tempdir().unwrap();
    let dirs = snowbridge::paths::Dirs::new(root.path().join("config"), root.path().join("data"));
    std::fs::create_dir_all(dirs.user_instances()).unwrap();
    let ca = ca
        .map(|p| format!("ca_file = {:?}\n", p.display().to_string()))
        .unwrap_or_default();
    std::fs::write(
        dirs.user_instances().join("dev.toml"),
        format!(
            "url = \"{url}\"\n{ca}auth = \"oauth-pkce\"\n{extra}[oauth]\nclient_id = \"{client_id}\"\nredirect_port = {port}\n"
        ),
    )
    .unwrap();
    Home {
        root,
        dirs,
        name: "dev".into(),
    }
}

fn home(emu: &Emulator, port: u16, extra: &str) -> Home {
    home_at(
        emu.url().as_str().trim_end_matches('/'),
        emu.ca_pem_path().as_deref(),
        PKCE,
        port,
        extra,
    )
}

/// `snowbridge args` in `home` with only the secrets in `env`, stdin closed.
fn command(home: &Home, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = home.command(args);
    for kind in Kind::ALL {
        cmd.env_remove(kind.env());
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// Runs it to completion; a hang fails the test.
fn run(home: &Home, env: &[(&str, &str)], args: &[&str]) -> Output {
    let (status, out, err) = run_within(command(home, env, args), WITHIN);
    Output {
        status,
        stdout: out.into_bytes(),
        stderr: err.into_bytes(),
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// The rows of an `api` reply's `result`.
fn rows(out: &Output) -> Vec<Value> {
    assert_eq!(code(out), 0, "{}", stderr(out));
    let v: Value = serde_json::from_str(&stdout(out)).expect("JSON on stdout");
    v["result"].as_array().cloned().unwrap_or_default()
}

/// Waits (up to 30 s) until no Chrome runs on the login profile of `home`.
fn assert_no_chrome(home: &Home) {
    let profile = home.dirs.login_profile("dev");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = chrome_on(&profile);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Chrome outlived snowbridge: {left:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Nothing listens on `port` any more.
fn assert_port_free(port: u16) {
    TcpListener::bind(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("the callback listener outlived the login: {e}"));
}

fn requests(control: &Control, prefix: &str) -> Vec<(String, String, u16)> {
    control
        .request_log()
        .into_iter()
        .filter(|r| r.path_and_query.starts_with(prefix))
        .map(|r| (r.method, r.path_and_query, r.status))
        .collect()
}

/// API calls the instance answered 401: a token that had expired.
fn refused_api_calls(control: &Control) -> Vec<String> {
    requests(control, "/api/")
        .into_iter()
        .filter(|(_, _, status)| *status == 401)
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect()
}

/// Makes the stored access token look expired to the next process.
fn age_stored_token(home: &Home) {
    home.vault()
        .update("dev", |slot| {
            let tokens = slot.as_mut().unwrap().tokens.as_mut().unwrap();
            let now = time::OffsetDateTime::now_utc();
            tokens.expires_at = now - time::Duration::seconds(1);
            tokens.issued_at = tokens.expires_at - time::Duration::seconds(1799);
            Ok(())
        })
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_with_credentials_signs_in_renews_and_a_revoked_refresh_token_is_exit_4() {
    common::require_browser();
    let port = free_port();
    let emu = emulator(port, 3);
    let control = emu.control();
    let home = home(&emu, port, "username = \"itil.user\"\n");
    let password = [("SNOWBRIDGE_PASSWORD", "snowbridge")];

    // Plain connect never opens a browser: without tokens, exit 4 naming the command.
    let out = run(&home, &password, &["connect", "dev"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("snowbridge connect dev --login"),
        "{}",
        stderr(&out)
    );
    assert!(requests(&control, "/oauth_auth.do").is_empty());

    let out = run(
        &home,
        &password,
        &["connect", "dev", "--login", "--headless", "--timeout", "90"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("dev: signed in as itil.user (authorization_code grant)"),
        "{}",
        stdout(&out)
    );
    // snowbridge pressed Allow on the consent page, and the code was exchanged.
    let posted: Vec<_> = requests(&control, "/oauth_auth.do")
        .into_iter()
        .filter(|(m, _, _)| m == "POST")
        .collect();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(
        requests(&control, "/oauth_token.do")
            .iter()
            .any(|(_, _, s)| *s == 200)
    );
    let stored = home.vault().load("dev").unwrap().unwrap();
    assert_eq!(stored.user.as_deref(), Some("itil.user"));
    let tokens = stored.tokens.expect("tokens kept");
    assert_eq!(tokens.grant, "authorization_code");
    let refresh = tokens.refresh_token.clone().expect("a refresh token");
    assert_no_chrome(&home);
    assert_port_free(port);

    let out = run(&home, &[], &["status", "dev", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(status[0]["auth"], "oauth-pkce");
    assert_eq!(status[0]["token_grant"], "authorization_code", "{status}");
    assert!(status[0]["token_expires"].is_string(), "{status}");

    // The CLI's commands, with no password from here on.
    age_stored_token(&home);
    assert_eq!(rows(&run(&home, &[], &["api", "dev", INCIDENT])).len(), 1);
    assert_eq!(
        control.request_log().last().unwrap().user.as_deref(),
        Some("itil.user")
    );
    let renewed = home.vault().load("dev").unwrap().unwrap().tokens.unwrap();
    assert_eq!(renewed.grant, "refresh_token");
    assert_ne!(renewed.access_token, tokens.access_token);
    let out = run(
        &home,
        &[],
        &[
            "records", "dev", "incident", "--limit", "2", "--format", "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let listed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    let out = run(&home, &[], &["connect", "dev"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // Through the library: tokens of 3 s expire during the run, and no error reaches the caller.
    let session = Session::open(&home.instance(), home.vault()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while seen.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "only {} tokens in 60 s",
            seen.len()
        );
        let rows: Value = session
            .send_json(&Call::get(INCIDENT))
            .await
            .expect("no error reaches the caller while tokens expire");
        assert_eq!(rows["result"].as_array().map(Vec::len), Some(1));
        let issued = session.tokens().expect("a Bearer session").issued_at;
        if !seen.contains(&issued) {
            seen.push(issued);
        }
        // A script's pace between calls; the loop ends on the renewals, not on the time.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(refused_api_calls(&control), Vec::<String>::new());
    drop(session);

    // The UI fallback needs a browser session, which an oauth-pkce session is not.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("triage.txt");
    std::fs::write(&file, b"no fallback for tokens").unwrap();
    let file = file.display().to_string();
    let out = run(
        &home,
        &[],
        &["attach", "dev", "incident", "INC0010001", &file],
    );
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the UI fallback needs a browser session"),
        "{}",
        stderr(&out)
    );

    // The instance ends the refresh token early: exit 4 naming the command.
    assert!(control.revoke_token(refresh.expose()));
    age_stored_token(&home);
    let out = run(&home, &[], &["api", "dev", INCIDENT]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("no longer takes the stored refresh token"),
        "{said}"
    );
    assert!(said.contains("snowbridge connect dev --login"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_with_a_one_time_code_signs_in_as_the_multi_factor_user() {
    common::require_browser();
    let port = free_port();
    let emu = emulator(port, 1800);
    let control = emu.control();
    let home = home(&emu, port, "username = \"mfa.user\"\n");
    let code_given = control.config().mfa_code;
    let out = run(
        &home,
        &[("SNOWBRIDGE_PASSWORD", "snowbridge")],
        &[
            "connect",
            "dev",
            "--login",
            "--headless",
            "--mfa-code",
            &code_given,
            "--timeout",
            "90",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        requests(&control, "/validate_multifactor_auth_code.do")
            .iter()
            .any(|(m, _, _)| m == "POST"),
        "the one-time code was typed"
    );
    assert_eq!(rows(&run(&home, &[], &["api", "dev", INCIDENT])).len(), 1);
    assert_eq!(
        control.request_log().last().unwrap().user.as_deref(),
        Some("mfa.user")
    );
    assert_no_chrome(&home);
    assert_port_free(port);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_port_in_use_is_a_clear_error_before_any_browser_starts() {
    let holder = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = holder.local_addr().unwrap().port();
    let emu = emulator(port, 1800);
    let control = emu.control();
    let home = home(&emu, port, "username = \"itil.user\"\n");
    let out = run(
        &home,
        &[("SNOWBRIDGE_PASSWORD", "snowbridge")],
        &["connect", "dev", "--login", "--headless", "--timeout", "90"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("key `oauth.redirect_port`"), "{said}");
    assert!(
        said.contains(&format!("127.0.0.1:{port} is in use")),
        "{said}"
    );
    assert!(said.contains("no browser was started"), "{said}");
    assert!(requests(&control, "/oauth_auth.do").is_empty());
    assert!(chrome_on(&home.dirs.login_profile("dev")).is_empty());
    drop(holder);
}

/// `connect --login --headed` for a person at a virtual display, waiting for them.
struct AtTheWindow {
    emu: Emulator,
    home: Home,
    port: u16,
    cli: Child,
    person: Person,
    _display: Display,
}

impl AtTheWindow {
    async fn start() -> AtTheWindow {
        AtTheWindow::start_with_timeout("90").await
    }

    /// With `--timeout seconds`.
    async fn start_with_timeout(seconds: &str) -> AtTheWindow {
        common::require_browser();
        let display = Display::start();
        let port = free_port();
        let emu = emulator(port, 1800);
        // No username, no password: only the person can log in.
        let home = home(&emu, port, "");
        let mut cmd = command(
            &home,
            &[],
            &[
                "connect",
                "dev",
                "--login",
                "--headed",
                "--timeout",
                seconds,
            ],
        );
        cmd.env("DISPLAY", display.name());
        let mut cli = Child::spawn(cmd);
        cli.wait_for_stderr(INSTRUCTION, WITHIN);
        let person = Person::attach(&home.dirs.login_profile("dev"), WITHIN).await;
        AtTheWindow {
            emu,
            home,
            port,
            cli,
            person,
            _display: display,
        }
    }

    fn assert_still_waiting(&mut self) {
        assert!(
            self.cli.exited().is_none(),
            "snowbridge ended before the person was done: {}",
            self.cli.stderr()
        );
    }

    /// Waits for the CLI to end; its exit code.
    fn finish(&mut self) -> Option<i32> {
        tokio::task::block_in_place(|| self.cli.wait(WITHIN)).code()
    }

    /// Nothing stored, no Chrome, no listener.
    fn assert_refused_cleanly(&self) {
        assert!(
            self.home.vault().load("dev").unwrap().is_none(),
            "nothing stored"
        );
        tokio::task::block_in_place(|| assert_no_chrome(&self.home));
        assert_port_free(self.port);
        assert!(
            requests(&self.emu.control(), "/oauth_token.do").is_empty(),
            "no code was exchanged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_through_single_sign_on_and_presses_allow() {
    let mut at = AtTheWindow::start().await;
    // The instance sends a single-sign-on user to the identity provider, keeping where the
    // login was going (the authorization request) to come back to.
    at.person.type_into("user_name", "sso.user").await;
    at.person.click("sysverb_login").await;
    at.assert_still_waiting();
    at.person.type_into("idp_username", "sso.user").await;
    at.person.type_into("idp_password", "snowbridge").await;
    at.person.click("idp_login").await;
    // Back on the instance, its consent page.
    at.person.click("oauth_allow").await;

    assert_eq!(at.finish(), Some(0), "{}", at.cli.stderr());
    assert!(
        at.cli.stdout().contains("dev: signed in"),
        "{}",
        at.cli.stdout()
    );
    let control = at.emu.control();
    assert!(
        requests(&control, "/idp/sso")
            .iter()
            .any(|(m, _, _)| m == "POST"),
        "the person signed in at the identity provider"
    );
    let stored = at.home.vault().load("dev").unwrap().unwrap();
    assert_eq!(stored.tokens.unwrap().grant, "authorization_code");
    tokio::task::block_in_place(|| assert_no_chrome(&at.home));
    assert_port_free(at.port);
    assert_eq!(rows(&at.home.run(&["api", "dev", INCIDENT])).len(), 1);
    assert_eq!(
        control.request_log().last().unwrap().user.as_deref(),
        Some("sso.user"),
        "the token acts as the person who signed in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_that_lands_on_the_home_page_is_sent_back_to_the_authorization() {
    let mut at = AtTheWindow::start().await;
    // "Use external login" forgets where the login was going: the identity provider returns
    // the person to the instance's home page, not to the authorization request.
    at.person.click("use_external_login").await;
    at.person.type_into("idp_username", "sso.user").await;
    at.person.type_into("idp_password", "snowbridge").await;
    at.person.click("idp_login").await;
    at.person.click("oauth_allow").await;

    assert_eq!(at.finish(), Some(0), "{}", at.cli.stderr());
    let control = at.emu.control();
    assert!(
        requests(&control, "/navpage.do")
            .iter()
            .any(|(_, _, s)| *s == 200),
        "the login landed on the home page first"
    );
    // The home page named the user; the session is kept as theirs.
    let stored = at.home.vault().load("dev").unwrap().unwrap();
    assert_eq!(stored.user.as_deref(), Some("sso.user"));
    tokio::task::block_in_place(|| assert_no_chrome(&at.home));
    assert_eq!(rows(&at.home.run(&["api", "dev", INCIDENT])).len(), 1);
    assert_eq!(
        control.request_log().last().unwrap().user.as_deref(),
        Some("sso.user")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_on_the_consent_page_is_a_refusal() {
    let mut at = AtTheWindow::start().await;
    at.person.log_in("itil.user", "snowbridge").await;
    at.person.click("oauth_deny").await;
    assert_eq!(at.finish(), Some(1), "{}", at.cli.stderr());
    assert!(
        at.cli
            .stderr()
            .contains("the authorization was denied on dev's consent page"),
        "{}",
        at.cli.stderr()
    );
    at.assert_refused_cleanly();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_window_is_a_refusal() {
    let mut at = AtTheWindow::start().await;
    at.assert_still_waiting();
    at.person.close_window().await;
    assert_eq!(at.finish(), Some(1), "{}", at.cli.stderr());
    assert!(
        at.cli
            .stderr()
            .contains("authorization cancelled: the browser window was closed"),
        "{}",
        at.cli.stderr()
    );
    at.assert_refused_cleanly();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_with_another_state_is_refused_and_its_code_unused() {
    let mut at = AtTheWindow::start().await;
    at.person.log_in("itil.user", "snowbridge").await;
    // At the consent page, the browser is sent to the callback as another sign-in would.
    at.person
        .client()
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(fantoccini::Locator::Id("oauth_allow"))
        .await
        .unwrap();
    at.assert_still_waiting();
    at.person
        .client()
        .goto(&format!(
            "http://127.0.0.1:{}/callback?code=stolen&state=another",
            at.port
        ))
        .await
        .unwrap();
    assert_eq!(at.finish(), Some(1), "{}", at.cli.stderr());
    assert!(
        at.cli
            .stderr()
            .contains("carried a state other than the one this login sent"),
        "{}",
        at.cli.stderr()
    );
    at.assert_refused_cleanly();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_who_does_nothing_meets_the_timeout() {
    let mut at = AtTheWindow::start_with_timeout("5").await;
    assert_eq!(at.finish(), Some(4), "{}", at.cli.stderr());
    assert!(
        at.cli
            .stderr()
            .contains("the authorization on dev did not finish in time"),
        "{}",
        at.cli.stderr()
    );
    assert!(at.cli.stderr().contains("--timeout"), "{}", at.cli.stderr());
    at.assert_refused_cleanly();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_uri_the_application_does_not_list_is_the_instances_refusal() {
    common::require_browser();
    let port = free_port();
    let emu = emulator(port, 1800);
    // The instance file names another port than the application lists.
    let other = free_port();
    let home = home(&emu, other, "username = \"itil.user\"\n");
    let out = run(
        &home,
        &[("SNOWBRIDGE_PASSWORD", "snowbridge")],
        &["connect", "dev", "--login", "--headless", "--timeout", "90"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains(&format!(
            "dev refused the authorization request: Invalid redirect_uri: http://127.0.0.1:{other}/callback"
        )),
        "{said}"
    );
    assert!(said.contains("redirect_port"), "{said}");
    assert!(home.vault().load("dev").unwrap().is_none());
    assert_no_chrome(&home);
    assert_port_free(other);
}

/// What the minimal authorization server saw.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// The query of each authorize call.
    authorize: Vec<BTreeMap<String, String>>,
    token: Vec<TokenRequest>,
    /// The Authorization header of each API call.
    api: Vec<Option<String>>,
}

/// One request to the token endpoint.
#[derive(Debug, Clone)]
struct TokenRequest {
    query: Option<String>,
    content_type: Option<String>,
    authorization: Option<String>,
    form: BTreeMap<String, String>,
}

/// How its `/oauth_auth.do` answers.
#[derive(Clone, Copy)]
enum Answer {
    /// A code and the request's state, as Allow does.
    Code,
    /// The request's state and nothing else.
    NoCode,
}

struct Server {
    url: String,
    seen: Arc<Mutex<Seen>>,
}

/// A minimal authorization server on a random loopback port: a login page (so the CLI's look
/// at login.do passes), `/oauth_auth.do` redirecting to the request's redirect URI at once,
/// `/oauth_token.do`, and an API answering every path.
async fn server(answer: Answer) -> Server {
    #[derive(Clone)]
    struct Ctx {
        seen: Arc<Mutex<Seen>>,
        answer: Answer,
    }
    async fn login_page() -> Html<&'static str> {
        Html(
            "<html><head><title>Log in</title></head><body><form action=\"login.do\" method=\"post\">\
             <input id=\"user_name\" name=\"user_name\"><input id=\"user_password\" name=\"user_password\" type=\"password\">\
             <button id=\"sysverb_login\">Log in</button></form></body></html>",
        )
    }
    async fn authorize(State(ctx): State<Ctx>, RawQuery(query): RawQuery) -> Response {
        let pairs: BTreeMap<String, String> =
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        ctx.seen.lock().unwrap().authorize.push(pairs.clone());
        let mut to = url::Url::parse(&pairs["redirect_uri"]).unwrap();
        {
            let mut q = to.query_pairs_mut();
            if let Answer::Code = ctx.answer {
                q.append_pair("code", "code-1");
            }
            q.append_pair("state", &pairs["state"]);
        }
        Redirect::to(to.as_str()).into_response()
    }
    async fn token(
        State(ctx): State<Ctx>,
        RawQuery(query): RawQuery,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> Response {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        ctx.seen.lock().unwrap().token.push(TokenRequest {
            query,
            content_type: header("content-type"),
            authorization: header("authorization"),
            form: url::form_urlencoded::parse(&body).into_owned().collect(),
        });
        axum::Json(
            json!({"access_token": "access-1", "refresh_token": "refresh-1",
            "scope": "useraccount", "token_type": "Bearer", "expires_in": 1799}),
        )
        .into_response()
    }
    async fn api(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        ctx.seen.lock().unwrap().api.push(auth);
        axum::Json(json!({"result": []})).into_response()
    }
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let app = Router::new()
        .route("/login.do", get(login_page))
        .route("/oauth_auth.do", get(authorize))
        .route("/oauth_token.do", post(token))
        .fallback(api)
        .with_state(Ctx {
            seen: seen.clone(),
            answer,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server { url, seen }
}

fn pairs(list: &[(&str, &str)]) -> BTreeMap<String, String> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorize_url_and_the_code_exchange_carry_the_documented_parameters() {
    common::require_browser();
    let server = server(Answer::Code).await;
    let port = free_port();
    let home = home_at(
        &server.url,
        None,
        "cid-pkce",
        port,
        "username = \"svc.user\"\n",
    );
    // scopes go under [oauth]
    let file = home.dirs.user_instances().join("dev.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        format!("{text}scopes = [\"useraccount\", \"incident_read\"]\n"),
    )
    .unwrap();

    // Through the library, a public client: no secret at hand.
    let instance = home.instance();
    let options = LoginOptions {
        browser: snowbridge::browser::Options {
            headless: Some(true),
            ..snowbridge::browser::Options::new(home.dirs.login_profile("dev"))
        },
        credentials: Some(("svc.user".into(), Secret::new("pw"))),
        mfa_code: None,
        remember_me: false,
        timeout: Duration::from_secs(60),
        prompter: std::sync::Arc::new(snowbridge::NoPerson),
        diagnostics: home.dirs.diagnostics(),
    };
    let session = snowbridge::obtain::pkce::authorize(&instance, home.vault(), options)
        .await
        .unwrap();
    assert_eq!(session.tokens().unwrap().grant, "authorization_code");
    assert_port_free(port);
    tokio::task::block_in_place(|| assert_no_chrome(&home));

    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.authorize.len(), 1);
    let mut asked = seen.authorize[0].clone();
    let state = asked.remove("state").expect("state");
    let challenge = asked.remove("code_challenge").expect("code_challenge");
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    assert_eq!(
        asked,
        pairs(&[
            ("response_type", "code"),
            ("client_id", "cid-pkce"),
            ("redirect_uri", &redirect_uri),
            ("code_challenge_method", "S256"),
            ("scope", "useraccount incident_read"),
        ])
    );
    assert!(state.len() >= 22, "a random state: {state}");

    assert_eq!(seen.token.len(), 1);
    let sent = &seen.token[0];
    assert_eq!(sent.query, None, "no parameter in the query string");
    assert_eq!(
        sent.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(sent.authorization, None, "no HTTP Basic");
    let mut form = sent.form.clone();
    let verifier = form.remove("code_verifier").expect("code_verifier");
    assert_eq!(
        form,
        pairs(&[
            ("grant_type", "authorization_code"),
            ("code", "code-1"),
            ("redirect_uri", &redirect_uri),
            ("client_id", "cid-pkce"),
        ]),
        "no client_secret for a public client"
    );
    // RFC 7636: 43 to 128 unreserved characters; the challenge is their base64url SHA-256.
    assert!((43..=128).contains(&verifier.len()), "{verifier}");
    assert!(
        verifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
    );
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    assert_eq!(challenge, expected);
    assert!(
        seen.api
            .iter()
            .any(|a| a.as_deref() == Some("Bearer access-1")),
        "the REST call carried the access token: {:?}",
        seen.api
    );
    drop(session);

    // Through the CLI, a private client: the secret at hand goes in the body. A new state and
    // verifier for every authorization.
    let out = run(
        &home,
        &[
            ("SNOWBRIDGE_PASSWORD", "pw"),
            ("SNOWBRIDGE_CLIENT_SECRET", "s3cret"),
        ],
        &["connect", "dev", "--login", "--headless", "--timeout", "60"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let seen = server.seen.lock().unwrap().clone();
    assert_ne!(seen.authorize[1]["state"], state);
    let sent = &seen.token[1];
    assert_eq!(
        sent.authorization, None,
        "the secret in the body, not as HTTP Basic"
    );
    assert_eq!(
        sent.form.get("client_secret").map(String::as_str),
        Some("s3cret")
    );
    assert_ne!(sent.form["code_verifier"], verifier);
    assert_no_chrome(&home);
    assert_port_free(port);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_without_a_code_is_a_refusal() {
    common::require_browser();
    let server = server(Answer::NoCode).await;
    let port = free_port();
    let home = home_at(
        &server.url,
        None,
        "cid-pkce",
        port,
        "username = \"svc.user\"\n",
    );
    let out = run(
        &home,
        &[("SNOWBRIDGE_PASSWORD", "pw")],
        &["connect", "dev", "--login", "--headless", "--timeout", "60"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("redirected back without an authorization code"),
        "{}",
        stderr(&out)
    );
    assert!(server.seen.lock().unwrap().token.is_empty());
    assert!(home.vault().load("dev").unwrap().is_none());
    assert_no_chrome(&home);
    assert_port_free(port);
}
