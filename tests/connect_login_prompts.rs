//! `connect --login` through the real CLI fails fast and says exactly what is missing: a `url`
//! whose `login.do` is no ServiceNow login page (a 404 at the identity provider's host, another
//! site's page) is named at once, without a browser; with no display and no password it says
//! what to give, without starting Chrome; at a terminal (a pty, as a person has) a wrong
//! one-time code is asked for again, naming the user and instance; and with
//! `SNOWBRIDGE_KEYRING=off` the password typed is not offered to the keyring.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::child::run_within;
use common::spy::Spy;
use common::{Home, emulator, procs};

/// Generous for a browser on a busy machine, and well under the login's own 300 s timeout: a
/// run that waited that out fails here as a hang.
const WITHIN: Duration = Duration::from_secs(120);

/// Points the instance `dev` of `home` at `url`.
fn point_at(home: &Home, url: &str) {
    std::fs::write(
        home.dirs.user_instances().join("dev.toml"),
        format!(
            "url = \"{}\"\nauth = \"browser\"\nusername = \"itil.user\"\n",
            url.trim_end_matches('/')
        ),
    )
    .unwrap();
}

/// A web server that is not ServiceNow: every path answers `200` with an intranet page.
struct Intranet {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Intranet {
    fn start() -> Intranet {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let app = axum::Router::new().fallback(|| async {
                    axum::response::Html(
                        "<!DOCTYPE html><html><head><title>Acme intranet</title></head>\
                         <body><h1>Welcome to the Acme intranet</h1></body></html>",
                    )
                });
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Intranet {
            url,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Intranet {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `connect dev --login --headless` with the password in the environment and the spy as
/// chromedriver; returns exit code and stderr.
fn headless_login(home: &Home, spy: &Spy) -> (Option<i32>, String) {
    let chromedriver = spy.path();
    let mut command = home.command(&[
        "connect",
        "dev",
        "--login",
        "--headless",
        "--chromedriver",
        &chromedriver,
    ]);
    command.env("SNOWBRIDGE_PASSWORD", "snowbridge");
    let (status, _, err) = run_within(command, WITHIN);
    (status.code(), err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_whose_login_page_is_not_servicenows_fails_at_once_naming_the_page() {
    let spy = Spy::new();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);

    // The identity provider's address where the instance's belongs: its login.do is a 404.
    point_at(&home, emu.idp_url().as_str());
    let (code, err) = headless_login(&home, &spy);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("/login.do is not a ServiceNow login page: it answered HTTP 404 Not Found with a page titled \"Not found\""),
        "{err}"
    );
    assert!(
        err.contains("not the identity provider's"),
        "the fix is named: {err}"
    );

    // Another site altogether: a 200 page without a login form.
    let intranet = Intranet::start();
    point_at(&home, &intranet.url);
    let (code, err) = headless_login(&home, &spy);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("answered HTTP 200 OK with a page titled \"Acme intranet\" and no login form"),
        "{err}"
    );

    assert_eq!(spy.starts(), 0, "no browser was started to wait for a form");

    // The instance's own login page still passes the look.
    point_at(&home, emu.url().as_str());
    let (code, err) = headless_login(&home, &spy);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(spy.starts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_display_and_no_password_it_says_what_is_missing_without_starting_chrome() {
    let spy = Spy::new();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let profile = home.dirs.login_profile("dev");
    let from = emu.control().request_log().len();
    let chromedriver = spy.path();
    // No DISPLAY, no SNOWBRIDGE_PASSWORD, the keyring off, stdin not a terminal (Home's command
    // and run_within see to all four); no --headless.
    let mut child = common::child::Child::spawn(home.command(&[
        "connect",
        "dev",
        "--login",
        "--chromedriver",
        &chromedriver,
    ]));
    // Watched while it runs: no process may ever use the login profile.
    let deadline = std::time::Instant::now() + WITHIN;
    let mut browsers = Vec::new();
    let status = loop {
        browsers.extend(procs::using_profile(&profile));
        if let Some(status) = child.exited() {
            break status;
        }
        assert!(browsers.is_empty(), "a browser was started: {browsers:?}");
        assert!(
            std::time::Instant::now() < deadline,
            "still running after {WITHIN:?}: {}",
            child.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = child.stderr();
    assert_eq!(status.code(), Some(4), "{err}");
    assert!(
        err.contains("no display (DISPLAY and WAYLAND_DISPLAY are unset)"),
        "{err}"
    );
    assert!(
        err.contains("needs the password of itil.user on dev"),
        "the user is known; only the password is missing: {err}"
    );
    assert!(
        err.contains("SNOWBRIDGE_PASSWORD is not set, and the OS keyring is off"),
        "{err}"
    );
    for way in ["SNOWBRIDGE_PASSWORD=...", "--login` at a terminal"] {
        assert!(err.contains(way), "{way} is offered: {err}");
    }
    // SNOWBRIDGE_KEYRING=off: storing it there is no way, so it is not offered.
    assert!(!err.contains("`snowbridge password dev`"), "{err}");
    assert!(!err.contains("username and password"), "{err}");
    assert_eq!(spy.starts(), 0, "chromedriver was never started");
    assert!(browsers.is_empty(), "{browsers:?}");
    assert_eq!(
        emu.control().request_log().len(),
        from,
        "nothing was asked of the instance"
    );
}

/// Spawns `snowbridge args...` in `home` on a pseudo-terminal.
fn at_terminal(mut command: std::process::Command) -> rexpect::session::PtySession {
    command.env("TERM", "dumb");
    rexpect::session::spawn_command(command, Some(WITHIN.as_millis() as u64))
        .expect("start snowbridge on a pty")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_one_time_code_at_a_terminal_is_asked_for_again() {
    common::require_browser();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let mut command = home.command(&[
        "connect",
        "dev",
        "--login",
        "--headless",
        "--user",
        "mfa.user",
    ]);
    command.env("SNOWBRIDGE_PASSWORD", "snowbridge");
    let mut person = at_terminal(command);

    person
        .exp_string("One-time code for mfa.user on dev: ")
        .expect("asked for the code, naming the user and instance");
    person.send_line("000000").unwrap();
    let said = person
        .exp_string("One-time code for mfa.user on dev: ")
        .expect("asked again after a wrong code");
    assert!(
        said.contains("dev did not accept the code (Your 6-digit verification code is incorrect.); 2 tries left."),
        "the instance's message and the tries left are shown: {said}"
    );
    assert!(emu.control().sessions().is_empty(), "not logged in yet");
    person.send_line("123456").unwrap();
    person
        .exp_string("logged in as mfa.user")
        .expect("the right code logs in");
    person.exp_eof().unwrap();
    assert!(
        emu.control()
            .sessions()
            .iter()
            .any(|s| s.user == "mfa.user"),
        "{:?}",
        emu.control().sessions()
    );
    assert!(
        home.vault().load("dev").unwrap().is_some(),
        "the session is stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_keyring_off_the_typed_password_is_not_offered_to_it() {
    common::require_browser();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    // Home's command sets SNOWBRIDGE_KEYRING=off and leaves SNOWBRIDGE_PASSWORD out.
    let mut person = at_terminal(home.command(&["connect", "dev", "--login", "--headless"]));
    person
        .exp_string("Password for itil.user on dev: ")
        .expect("asked for the password");
    person.send_line("snowbridge").unwrap();
    let said = person
        .exp_string("logged in as itil.user")
        .expect("logged in");
    let rest = person
        .exp_eof()
        .expect("it ends without waiting for an answer");
    for text in [&said, &rest] {
        assert!(!text.contains("Keep this password"), "{text}");
    }
}

/// Writes `dev.toml` of `home` for `auth` with `extra` lines, against `emu`.
fn token_method(home: &Home, emu: &snowbridge::emulator::Emulator, auth: &str, extra: &str) {
    std::fs::write(
        home.dirs.user_instances().join("dev.toml"),
        format!(
            "url = \"{}\"\nauth = \"{auth}\"\n{extra}",
            emu.url().as_str().trim_end_matches('/')
        ),
    )
    .unwrap();
}

/// Client-credential grants the emulator granted.
fn grants(emu: &snowbridge::emulator::Emulator) -> usize {
    emu.control()
        .request_log()
        .iter()
        .filter(|r| r.path_and_query == "/oauth_token.do" && r.status == 200)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_login_asks_for_the_methods_own_secret_and_uses_what_is_typed() {
    const INTEGRATION: &str = "5c1d2e3f4a5b46c7d8e9f0a1b2c3d4e5";
    const JWT_APP: &str = "9f8e7d6c5b4a43928170f6e5d4c3b2a1";
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let secrets = [
        "SNOWBRIDGE_CLIENT_SECRET",
        "SNOWBRIDGE_API_KEY",
        "SNOWBRIDGE_KEY_PASSPHRASE",
    ];
    let command = |args: &[&str]| {
        let mut command = home.command(args);
        for name in secrets {
            command.env_remove(name);
        }
        command
    };
    let (key, _) = emu
        .control()
        .jwt_key_paths("snowbridge-es256")
        .unwrap()
        .unwrap();
    let cc = format!("[oauth]\nclient_id = \"{INTEGRATION}\"\n");
    let jwt = format!(
        "[oauth]\nclient_id = \"{JWT_APP}\"\njwt_key = {:?}\njwt_kid = \"snowbridge-es256\"\njwt_subject = \"itil.user\"\n",
        key.display().to_string()
    );
    // No secret at hand and no terminal (the keyring is off): the method's own secret is named,
    // with its variable.
    for (auth, extra, env, kind) in [
        (
            "oauth-client-credentials",
            cc.as_str(),
            "SNOWBRIDGE_CLIENT_SECRET",
            "the client secret",
        ),
        ("api-key", "", "SNOWBRIDGE_API_KEY", "the API key"),
        (
            "jwt",
            jwt.as_str(),
            "SNOWBRIDGE_CLIENT_SECRET",
            "the client secret",
        ),
    ] {
        token_method(&home, &emu, auth, extra);
        let (status, _, err) = run_within(command(&["connect", "dev", "--login"]), WITHIN);
        assert_eq!(status.code(), Some(4), "{auth}: {err}");
        assert!(err.contains(env), "{auth}: {err}");
        assert!(err.contains(&format!("needs {kind}")), "{auth}: {err}");
        assert!(err.contains("nobody answered when asked"), "{auth}: {err}");
        assert!(!err.contains("SNOWBRIDGE_PASSWORD"), "{auth}: {err}");
        assert!(!err.contains("snowbridge password"), "{auth}: {err}");
    }

    // A valid token is stored; at a terminal the typed client secret is what the grant uses.
    token_method(&home, &emu, "oauth-client-credentials", &cc);
    let mut connect = command(&["connect", "dev"]);
    connect.env("SNOWBRIDGE_CLIENT_SECRET", "integration-secret");
    let (status, _, err) = run_within(connect, WITHIN);
    assert_eq!(status.code(), Some(0), "{err}");
    let mut person = at_terminal(command(&["connect", "dev", "--login"]));
    person
        .exp_string("The client secret for dev: ")
        .expect("asked for the client secret");
    person.send_line("not-the-secret").unwrap();
    let said = person.exp_eof().unwrap();
    assert!(
        said.contains("refused the client_credentials grant"),
        "the typed secret was sent, not the stored token used: {said}"
    );
    let before = grants(&emu);
    let mut person = at_terminal(command(&["connect", "dev", "--login"]));
    person
        .exp_string("The client secret for dev: ")
        .expect("asked for the client secret");
    person.send_line("integration-secret").unwrap();
    person
        .exp_string("signed in (client_credentials grant)")
        .expect("a new grant with the typed secret");
    person.exp_eof().unwrap();
    assert_eq!(grants(&emu), before + 1);
}
