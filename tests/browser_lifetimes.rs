//! chromedriver and Chrome end with snowbridge however it ends: an orderly close, a drop, a
//! panic, Ctrl-C or SIGTERM, or being killed outright. Also how launching fails and recovers.
//!
//! The signal tests re-run this test binary as a child (the same test, with an environment
//! variable set) that opens a browser and waits; the parent signals it and then checks /proc.
#![cfg(target_os = "linux")]

mod browser_support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use browser_support::{
    Server, absolute, assert_all_gone, live_processes, options, require_browser,
};
use snowbridge::ErrorKind;
use snowbridge::browser::{self, Browser, Options};

/// Set in a child run: the profile folder it should open a browser on.
const CHILD_PROFILE: &str = "SNOWBRIDGE_TEST_CHILD_PROFILE";
/// Set in a child run that should install the Ctrl-C cleanup.
const CHILD_HANDLER: &str = "SNOWBRIDGE_TEST_CHILD_HANDLER";
/// Set in a child run that should call `kill_all` once its browser is open.
const CHILD_KILL_ALL: &str = "SNOWBRIDGE_TEST_CHILD_KILL_ALL";
/// What the child prints, with chromedriver's pid, once the browser is open.
const READY: &str = "SNOWBRIDGE-CHILD-READY";
/// What the child prints after `kill_all`.
const KILLED: &str = "SNOWBRIDGE-CHILD-KILLED-ALL";

/// The persistent cookies Chrome wrote to the profile's cookie database (it writes them when it
/// shuts down cleanly, or within 30 s).
fn cookies_on_disk(profile: &Path) -> Vec<(String, String)> {
    let db = ["Default/Cookies", "Default/Network/Cookies"]
        .iter()
        .map(|p| profile.join(p))
        .find(|p| p.exists())
        .expect("Chrome wrote no cookie database");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT host_key, name FROM cookies ORDER BY name")
        .unwrap();
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_everything_after_chrome_has_saved_its_cookies() {
    require_browser();
    let server = Server::start().await;
    let profile = tempfile::tempdir().unwrap();
    let profile_dir = absolute(profile.path());
    let browser = Browser::launch(&options(profile.path())).await.unwrap();
    let pgid = browser.driver_pid().unwrap();
    browser
        .client()
        .goto(&server.url("localhost", "/set-local"))
        .await
        .unwrap();
    assert!(!live_processes(pgid, &profile_dir).is_empty());

    browser.close().await.unwrap();

    assert_all_gone(pgid, &profile_dir);
    assert!(
        cookies_on_disk(&profile_dir).contains(&("localhost".into(), "pref".into())),
        "the persistent cookie was not saved: {:?}",
        cookies_on_disk(&profile_dir)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_browser_still_shuts_chrome_down_cleanly() {
    require_browser();
    let server = Server::start().await;
    let profile = tempfile::tempdir().unwrap();
    let profile_dir = absolute(profile.path());
    let browser = Browser::launch(&options(profile.path())).await.unwrap();
    let pgid = browser.driver_pid().unwrap();
    browser
        .client()
        .goto(&server.url("localhost", "/set-local"))
        .await
        .unwrap();
    assert!(!live_processes(pgid, &profile_dir).is_empty());

    drop(browser);

    assert_all_gone(pgid, &profile_dir);
    assert!(cookies_on_disk(&profile_dir).contains(&("localhost".into(), "pref".into())));
}

#[test]
fn a_panic_with_a_browser_open_ends_chromedriver_and_chrome() {
    require_browser();
    let profile = tempfile::tempdir().unwrap();
    let profile_dir = absolute(profile.path());
    let (report, reported) = mpsc::channel();
    let path = profile_dir.clone();
    let outcome = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let browser = Browser::launch(&options(&path)).await.unwrap();
            let pgid = browser.driver_pid().unwrap();
            report
                .send((pgid, live_processes(pgid, &path).len()))
                .unwrap();
            panic!("a bug while the browser is open (this panic is the test)");
        })
    })
    .join();
    assert!(outcome.is_err(), "the browser thread should have panicked");
    let (pgid, alive_before) = reported.recv().unwrap();
    assert!(alive_before > 0);
    assert_all_gone(pgid, &profile_dir);
}

/// In a child run: opens a browser, says so, and waits to be signalled. Never returns.
fn hold_a_browser_open(profile: PathBuf) -> ! {
    if std::env::var_os(CHILD_HANDLER).is_some() {
        browser::install_signal_cleanup().unwrap();
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let browser = Browser::launch(&options(&profile)).await.unwrap();
        println!("\n{READY} {}", browser.driver_pid().unwrap());
        if std::env::var_os(CHILD_KILL_ALL).is_some() {
            browser::kill_all();
            println!("\n{KILLED}");
        }
        std::future::pending::<()>().await;
    });
    unreachable!("pending() never completes")
}

/// A child run of one of these tests, holding a browser open.
struct ChildRun {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    pgid: u32,
    profile: tempfile::TempDir,
}

impl ChildRun {
    /// Runs `test` as a child with `env` set, and waits until its browser is open.
    fn start(test: &str, env: &[&str]) -> ChildRun {
        require_browser();
        let profile = tempfile::tempdir().unwrap();
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD_PROFILE, absolute(profile.path()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for var in env {
            command.env(var, "1");
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (line_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut run = ChildRun {
            child,
            lines,
            pgid: 0,
            profile,
        };
        let ready = run.expect_line(READY);
        run.pgid = ready.trim().parse().unwrap();
        // A child told to kill_all does so right after READY: its browser may already be gone.
        if !env.contains(&CHILD_KILL_ALL) {
            assert!(
                !live_processes(run.pgid, &run.profile_dir()).is_empty(),
                "the child's browser is not running"
            );
        }
        run
    }

    fn profile_dir(&self) -> PathBuf {
        absolute(self.profile.path())
    }

    /// Waits (up to 120 s) for a line holding `marker`; returns what follows it.
    fn expect_line(&mut self, marker: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                // libtest may have printed "test name ... " on the same line first.
                Ok(line) => {
                    if let Some((_, rest)) = line.split_once(marker) {
                        return rest.to_string();
                    }
                }
                Err(e) => {
                    let _ = self.child.kill();
                    panic!("the child never printed {marker} ({e})");
                }
            }
        }
    }

    /// Sends `signal` and waits (up to 30 s) for the child to exit.
    fn signal(&mut self, signal: i32) -> ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("the child did not exit on signal {signal}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ctrl_c_ends_chromedriver_and_chrome_and_exits_130() {
    if let Some(profile) = std::env::var_os(CHILD_PROFILE) {
        hold_a_browser_open(profile.into());
    }
    let mut run = ChildRun::start(
        "ctrl_c_ends_chromedriver_and_chrome_and_exits_130",
        &[CHILD_HANDLER],
    );
    let status = run.signal(libc::SIGINT);
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_all_gone(run.pgid, &run.profile_dir());
}

#[test]
fn sigterm_ends_chromedriver_and_chrome_and_exits_143() {
    if let Some(profile) = std::env::var_os(CHILD_PROFILE) {
        hold_a_browser_open(profile.into());
    }
    let mut run = ChildRun::start(
        "sigterm_ends_chromedriver_and_chrome_and_exits_143",
        &[CHILD_HANDLER],
    );
    let status = run.signal(libc::SIGTERM);
    assert_eq!(status.code(), Some(143), "{status:?}");
    assert_all_gone(run.pgid, &run.profile_dir());
}

#[test]
fn killing_snowbridge_outright_still_ends_chromedriver_and_chrome() {
    if let Some(profile) = std::env::var_os(CHILD_PROFILE) {
        hold_a_browser_open(profile.into());
    }
    // No handler can run on SIGKILL: the parent-death signal and the watchdog must do it.
    let mut run = ChildRun::start(
        "killing_snowbridge_outright_still_ends_chromedriver_and_chrome",
        &[],
    );
    let status = run.signal(libc::SIGKILL);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_all_gone(run.pgid, &run.profile_dir());
}

#[test]
fn kill_all_ends_every_browser_while_snowbridge_lives_on() {
    if let Some(profile) = std::env::var_os(CHILD_PROFILE) {
        hold_a_browser_open(profile.into());
    }
    // In a child: kill_all is process-wide and would end the other tests' browsers here.
    let mut run = ChildRun::start(
        "kill_all_ends_every_browser_while_snowbridge_lives_on",
        &[CHILD_KILL_ALL],
    );
    run.expect_line(KILLED);
    assert_all_gone(run.pgid, &run.profile_dir());
    assert!(
        run.child.try_wait().unwrap().is_none(),
        "the child itself lives on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_lock_left_by_a_crashed_chrome_does_not_block_the_launch() {
    require_browser();
    let server = Server::start().await;
    let profile = tempfile::tempdir().unwrap();
    // What a Chrome that crashed in another container (another host name) leaves behind:
    // Chrome alone refuses to start on this profile.
    std::os::unix::fs::symlink(
        "a-container-long-gone-4242",
        profile.path().join("SingletonLock"),
    )
    .unwrap();
    let browser = Browser::launch(&options(profile.path())).await.unwrap();
    browser
        .client()
        .goto(&server.url("localhost", "/after-crash"))
        .await
        .unwrap();
    server.last("localhost", "/after-crash");
    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_in_use_by_another_browser_is_refused_without_harming_it() {
    require_browser();
    let server = Server::start().await;
    let profile = tempfile::tempdir().unwrap();
    let first = Browser::launch(&options(profile.path())).await.unwrap();

    let err = Browser::launch(&options(profile.path())).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Browser);
    assert!(err.message().contains("in use"), "{err}");

    first
        .client()
        .goto(&server.url("localhost", "/still-here"))
        .await
        .unwrap();
    server.last("localhost", "/still-here");
    first.close().await.unwrap();
}

#[tokio::test]
async fn a_missing_chromedriver_says_how_to_install_it() {
    let profile = tempfile::tempdir().unwrap();
    let options = Options {
        chromedriver: Some("/nonexistent/chromedriver".into()),
        ..options(profile.path())
    };
    let err = Browser::launch(&options).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Browser);
    assert!(err.message().contains("/nonexistent/chromedriver"), "{err}");
    let hint = err.hint().unwrap();
    assert!(
        hint.contains("apt-get install chromium chromium-driver"),
        "{hint}"
    );
    assert!(hint.contains(browser::CHROMEDRIVER_ENV), "{hint}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outside_webdriver_is_used_and_left_running() {
    require_browser();
    let server = Server::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let chromedriver = browser::find_chromedriver(None).unwrap();
    /// Ends the outside chromedriver even when an assertion fails.
    struct Outside(std::process::Child);
    impl Drop for Outside {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut outside = Outside(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url: url::Url = format!("http://127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }

    let profile = tempfile::tempdir().unwrap();
    let options = Options {
        webdriver_url: Some(url),
        ..options(profile.path())
    };
    let browser = Browser::launch(&options).await.unwrap();
    assert_eq!(browser.driver_pid(), None);
    browser
        .client()
        .goto(&server.url("localhost", "/set-local"))
        .await
        .unwrap();
    let names: Vec<String> = browser
        .all_cookies()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert!(names.contains(&"sid".to_string()), "{names:?}");
    browser.close().await.unwrap();

    assert!(
        outside.0.try_wait().unwrap().is_none(),
        "an outside chromedriver is not ours to end"
    );
}
