//! Cookies the instance rotates reach the vault whatever ends the work: a session from each
//! source (a form login stored in the vault, the browser login through a real Chromium, the
//! import from a real Chromium profile) used across rotations in one process and then dropped;
//! `records | head -1` closing the pipe early; SIGTERM while a command waits. The emulator
//! issues a new `glide_session_store` on every reply (`rotate_session_store`), so the vault must
//! end up holding the last one issued.

mod common;

use std::time::Duration;

use common::browser_form::log_in;
use common::{Home, emulator, form_login, stored_session_store};
use snowbridge::browser::{Browser, Options};
use snowbridge::emulator::Emulator;
use snowbridge::obtain::chrome::{self, Source};
use snowbridge::obtain::login::{self, LoginOptions};
use snowbridge::secret::Secret;
use snowbridge::session::{Call, Session};

/// A process that hangs fails the test instead of stalling it.
const WITHIN: Duration = Duration::from_secs(120);

/// The last `glide_session_store` the emulator handed out.
fn last_issued(emu: &Emulator) -> String {
    emu.control()
        .issued_session_store()
        .last()
        .cloned()
        .expect("the emulator issued glide_session_store")
}

/// Two REST calls, each answered with a new `glide_session_store`; returns the value the
/// session holds after them.
async fn use_across_rotations(session: &Session, emu: &Emulator) -> String {
    let before = emu.control().issued_session_store().len();
    for _ in 0..2 {
        session
            .send(&Call::get("/api/now/table/incident?sysparm_limit=1"))
            .await
            .expect("a REST call with the session");
    }
    assert_eq!(
        emu.control().issued_session_store().len(),
        before + 2,
        "each call rotated the cookie"
    );
    let held = session
        .cookies()
        .into_iter()
        .find(|c| c.name == "glide_session_store")
        .map(|c| c.value.expose().to_owned())
        .expect("the session holds glide_session_store");
    assert_eq!(held, last_issued(emu), "the session took the rotated value");
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_form_login_saved_midway_keeps_the_rotations_after_the_save() {
    let emu = emulator(|c| c.rotate_session_store = true);
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);

    let session = Session::open(&home.instance(), home.vault()).unwrap();
    use_across_rotations(&session, &emu).await;
    session.save().unwrap();
    assert_eq!(stored_session_store(&home), Some(last_issued(&emu)));
    // Rotations after an explicit save are saved too, when the session is dropped.
    let held = use_across_rotations(&session, &emu).await;
    drop(session);
    assert_eq!(stored_session_store(&home), Some(held));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_login_keeps_the_rotations_that_follow_it() {
    common::require_browser();
    let emu = emulator(|c| c.rotate_session_store = true);
    let home = Home::new("dev", &emu);
    let options = LoginOptions {
        browser: Options {
            headless: Some(true),
            ..Options::new(home.dirs.login_profile("dev"))
        },
        credentials: Some(("itil.user".into(), Secret::new("snowbridge"))),
        mfa_code: None,
        remember_me: true,
        timeout: WITHIN,
        prompter: std::sync::Arc::new(snowbridge::NoPerson),
        diagnostics: home.dirs.diagnostics(),
    };
    let session = login::login(&home.instance(), home.vault(), options)
        .await
        .expect("the browser login");
    let held = use_across_rotations(&session, &emu).await;
    drop(session);
    assert_eq!(stored_session_store(&home), Some(held));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chrome_import_keeps_the_rotations_that_follow_it() {
    common::require_browser();
    let emu = emulator(|c| c.rotate_session_store = true);
    let home = Home::new("dev", &emu);
    let profile = tempfile::tempdir().unwrap();
    let dir = profile.path().join("chromium");
    let browser = Browser::launch(&Options {
        headless: Some(true),
        ..Options::new(&dir)
    })
    .await
    .expect("launch Chromium");
    log_in(&browser, &emu.url(), "itil.user", "snowbridge").await;
    browser.close().await.unwrap(); // Chrome writes its cookie database as it quits

    let source = Source {
        browser: chrome::Browser::Chromium,
        profile: None,
        user_data_dir: Some(dir),
    };
    let (session, _report) =
        snowbridge::obtain::import_chrome(&home.instance(), home.vault(), &source, false)
            .await
            .expect("the import");
    let held = use_across_rotations(&session, &emu).await;
    drop(session);
    assert_eq!(stored_session_store(&home), Some(held));
}

/// Ways a command ends that are not its own return: a closed pipe, a signal.
#[cfg(unix)]
mod ended_from_outside {
    use std::io::Read;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    use super::common::child::Child;
    use super::common::{Home, emulator, form_login, stored_session_store};
    use super::{WITHIN, last_issued};
    use snowbridge::emulator::RateLimit;

    #[test]
    fn records_into_head_leaves_the_rotated_cookie_in_the_vault() {
        // Far more output than a pipe and snowbridge's buffer hold: the writes after `head` exits
        // fail with EPIPE for certain.
        let emu = emulator(|c| {
            c.rotate_session_store = true;
            c.incidents = 1500;
        });
        let home = Home::new("dev", &emu);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        home.store_login(&runtime.block_on(form_login(&emu, "itil.user", false)));

        let mut records = home
            .command(&["records", "dev", "incident", "--page-size", "100"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start snowbridge");
        let head = std::process::Command::new("head")
            .arg("-1")
            .stdin(Stdio::from(records.stdout.take().unwrap()))
            .stdout(Stdio::piped())
            .spawn()
            .expect("start head");
        let first = head.wait_with_output().unwrap();
        let line: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
        assert!(line["sys_id"].is_string(), "head got a record: {line}");

        let deadline = Instant::now() + WITHIN;
        let status = loop {
            if let Some(status) = records.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = records.kill();
                panic!("snowbridge records kept running after head exited");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        records
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "a closed pipe is not an error: {stderr}"
        );
        assert!(stderr.is_empty(), "nothing to report: {stderr}");
        assert!(
            emu.control().issued_session_store().len() >= 2,
            "the pages rotated the cookie"
        );
        assert_eq!(stored_session_store(&home), Some(last_issued(&emu)));
    }

    #[test]
    fn sigterm_while_waiting_out_a_rate_limit_saves_the_rotated_cookie() {
        // Two calls a minute: the third is told to wait, and snowbridge waits as asked.
        let emu = emulator(|c| {
            c.rotate_session_store = true;
            c.rate_limit = Some(RateLimit {
                limit: 2,
                window_secs: 60,
            });
        });
        let home = Home::new("dev", &emu);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        home.store_login(&runtime.block_on(form_login(&emu, "itil.user", false)));

        let mut cli =
            Child::spawn(home.command(&["records", "dev", "incident", "--page-size", "1", "-v"]));
        // Logged once the 429 (and whatever cookie it carried) has been taken in.
        cli.wait_for_stderr("rate limited; waiting", WITHIN);
        // SAFETY: kill(2) on the child this test started and has not reaped.
        assert_eq!(unsafe { libc::kill(cli.pid() as i32, libc::SIGTERM) }, 0);
        let status = cli.wait(WITHIN);
        assert_eq!(status.code(), Some(143), "{}", cli.stderr());
        assert!(
            emu.control().issued_session_store().len() >= 2,
            "the calls rotated the cookie"
        );
        assert_eq!(stored_session_store(&home), Some(last_issued(&emu)));
    }
}
