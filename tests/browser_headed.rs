//! Where a display exists the browser opens a real window (the interactive login needs one).
//!
//! The test starts a virtual X display (Xvfb) and re-runs itself as a child with `DISPLAY` set,
//! so the launch decides by the environment as it does for a person at their desk.
#![cfg(target_os = "linux")]

mod browser_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use browser_support::{Server, require_browser};
use snowbridge::browser::{Browser, Options};

const CHILD: &str = "SNOWBRIDGE_TEST_HEADED_CHILD";

/// In the child, with `DISPLAY` set: the browser must come up headed and work.
async fn open_a_window() {
    let server = Server::start().await;
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::launch(&Options::new(profile.path()))
        .await
        .unwrap();
    assert!(
        !browser.is_headless(),
        "a display was set: expected a window"
    );

    let pid = browser.chrome_pid().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(!cmdline.contains("--headless"), "{cmdline}");

    browser
        .client()
        .goto(&server.url("localhost", "/headed"))
        .await
        .unwrap();
    let ua = browser.user_agent().await.unwrap();
    assert!(!ua.contains("HeadlessChrome"), "{ua}");
    assert_eq!(server.last("localhost", "/headed").user_agent, ua);
    browser.close().await.unwrap();
}

/// Kills the virtual display when the test ends, however it ends.
struct Display(std::process::Child);

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_display_means_a_real_window() {
    if std::env::var_os(CHILD).is_some() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(open_a_window());
        return;
    }
    require_browser();
    // Xvfb picks a free display number and writes it to the given descriptor (its stdout).
    let xvfb = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x1024x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("this test needs Xvfb for a display ({e}): apt-get install xvfb")
        });
    let mut display = Display(xvfb);
    let stdout = display.0.stdout.take().unwrap();
    let mut number = String::new();
    BufReader::new(stdout).read_line(&mut number).unwrap();
    let number = number.trim().to_string();
    assert!(!number.is_empty(), "Xvfb did not report its display");

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_display_means_a_real_window",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("DISPLAY", format!(":{number}"))
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the headed browser child did not finish");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = child.wait_with_output().unwrap();
    assert!(
        status.success(),
        "the headed browser failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    drop(display);
}
