//! The interactive browser login, `snowbridge connect dev --login --headed` with no password,
//! under a virtual display: the test plays the person through its own chromedriver attached to
//! the very Chrome snowbridge opened (`goog:chromeOptions.debuggerAddress`), typing and clicking
//! in the window. A person logging in, single sign-on through the identity provider, a closed
//! window, and Ctrl-C while waiting.
#![cfg(target_os = "linux")]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::child::Child;
use common::person::{Display, Person, assert_browser_gone, wait_for_chrome_on};
use common::{Home, emulator};
use snowbridge::emulator::Emulator;
use snowbridge::vault::Obtained;

/// How long the CLI waits for the person (`--timeout`), and how long the test waits for the CLI.
const LOGIN_TIMEOUT: &str = "90";
const WITHIN: Duration = Duration::from_secs(120);
/// The CLI's instruction to the person, on stderr.
const INSTRUCTION: &str = "in the browser window";

/// An interactive login in progress: the display, the home, the running CLI.
struct Waiting {
    emu: Emulator,
    home: Home,
    cli: Child,
    profile: PathBuf,
    _display: Display,
}

/// Starts `snowbridge connect dev --login --headed` on a virtual display and waits until it has
/// told the person what to do.
fn start_interactive_login() -> Waiting {
    common::require_browser();
    let display = Display::start();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let mut command = home.command(&[
        "connect",
        "dev",
        "--login",
        "--headed",
        "--timeout",
        LOGIN_TIMEOUT,
    ]);
    command.env("DISPLAY", display.name());
    let mut cli = Child::spawn(command);
    cli.wait_for_stderr(INSTRUCTION, WITHIN);
    let profile = home.dirs.login_profile("dev");
    Waiting {
        emu,
        home,
        cli,
        profile,
        _display: display,
    }
}

impl Waiting {
    /// The CLI must still be waiting for the person.
    fn assert_still_waiting(&mut self) {
        assert!(
            self.cli.exited().is_none(),
            "snowbridge ended before the person logged in: {}",
            self.cli.stderr()
        );
    }

    /// Waits for the CLI to finish; returns its exit code.
    fn finish(&mut self) -> Option<i32> {
        tokio::task::block_in_place(|| self.cli.wait(WITHIN)).code()
    }

    /// `snowbridge api` with the stored session.
    fn rest_works(&self) {
        let out = self
            .home
            .run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]);
        assert!(
            out.status.success(),
            "REST after the login failed: {}",
            common::stderr(&out)
        );
        let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(reply["result"].as_array().map(Vec::len), Some(1), "{reply}");
    }

    /// The stored session's JSESSIONID belongs to a live session of `user` on the emulator.
    fn stored_session_is_of(&self, user: &str) {
        let record = self
            .home
            .vault()
            .load("dev")
            .unwrap()
            .expect("a stored session");
        assert_eq!(record.user.as_deref(), Some(user));
        assert_eq!(record.obtained, Obtained::BrowserInteractive);
        let id = record
            .cookies()
            .find(|c| c.name == "JSESSIONID")
            .map(|c| c.value.expose().to_owned())
            .expect("JSESSIONID stored");
        let live = self.emu.control().sessions();
        let session = live
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("the stored JSESSIONID is no live session: {live:?}"));
        assert_eq!(session.user, user);
        assert_eq!(
            record.user_token.as_ref().map(|t| t.expose()),
            Some(session.user_token.as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_logs_in_at_the_window_and_the_cli_saves_the_session() {
    let mut login = start_interactive_login();
    let person = Person::attach(&login.profile, WITHIN).await;
    login.assert_still_waiting();
    person.log_in("itil.user", "snowbridge").await;

    assert_eq!(login.finish(), Some(0), "{}", login.cli.stderr());
    assert!(
        login.cli.stdout().contains("logged in as itil.user"),
        "{}",
        login.cli.stdout()
    );
    login.stored_session_is_of("itil.user");
    login.rest_works();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_sign_on_through_the_identity_provider_keeps_only_the_instances_cookies() {
    let mut login = start_interactive_login();
    let person = Person::attach(&login.profile, WITHIN).await;
    login.assert_still_waiting();
    person.click("use_external_login").await;
    // The identity provider is another site: host `localhost` on the emulator's port.
    let idp = format!("localhost:{}", login.emu.port());
    let deadline = std::time::Instant::now() + WITHIN;
    while person.host().await != idp {
        assert!(
            std::time::Instant::now() < deadline,
            "the browser never reached the identity provider at {idp}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    login.assert_still_waiting();
    person.type_into("idp_username", "sso.user").await;
    person.type_into("idp_password", "snowbridge").await;
    person.click("idp_login").await;

    assert_eq!(login.finish(), Some(0), "{}", login.cli.stderr());
    let log = login.emu.control().request_log();
    assert!(
        log.iter()
            .any(|r| r.method == "POST" && r.path_and_query.starts_with("/idp/sso")),
        "the person signed in at the identity provider: {log:?}"
    );
    login.stored_session_is_of("sso.user");
    let record = login.home.vault().load("dev").unwrap().unwrap();
    let foreign: Vec<String> = record
        .cookies()
        .filter(|c| c.domain != "127.0.0.1" || c.name == "idp_session")
        .map(|c| format!("{} on {}", c.name, c.domain))
        .collect();
    assert!(
        foreign.is_empty(),
        "the vault holds only the instance's cookies, not the identity provider's: {foreign:?}"
    );
    login.rest_works();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_window_cancels_the_login_and_leaves_no_browser() {
    let mut login = start_interactive_login();
    let group = wait_for_chrome_on(&login.profile, WITHIN);
    let person = Person::attach(&login.profile, WITHIN).await;
    login.assert_still_waiting();
    person.close_window().await;

    assert_eq!(login.finish(), Some(1), "{}", login.cli.stderr());
    assert!(
        login.cli.stderr().contains("login cancelled"),
        "{}",
        login.cli.stderr()
    );
    assert!(
        login.home.vault().load("dev").unwrap().is_none(),
        "nothing stored"
    );
    tokio::task::block_in_place(|| assert_browser_gone(group, &login.profile));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_waiting_ends_snowbridge_and_its_browser() {
    let mut login = start_interactive_login();
    let group = wait_for_chrome_on(&login.profile, WITHIN);
    login.assert_still_waiting();
    // SAFETY: kill(2) on the child this test started and has not reaped.
    let sent = unsafe { libc::kill(login.cli.pid() as i32, libc::SIGINT) };
    assert_eq!(sent, 0, "SIGINT could not be sent");

    assert_eq!(login.finish(), Some(130), "{}", login.cli.stderr());
    assert!(
        login.home.vault().load("dev").unwrap().is_none(),
        "nothing stored"
    );
    tokio::task::block_in_place(|| assert_browser_gone(group, &login.profile));
}
