//! The test playing the person at an interactive login: a virtual display (Xvfb) for the headed
//! Chrome that `snowbridge connect --login` opens, a chromedriver of the test's own attached to
//! that same Chrome through its DevTools port (`goog:chromeOptions.debuggerAddress`, read from the
//! profile's `DevToolsActivePort`), which types and clicks like a person would, and a look at
//! /proc for the browser processes a profile folder runs.
//!
//! Linux only (Xvfb, /proc). Every wait polls a condition against a deadline.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

const POLL: Duration = Duration::from_millis(100);

/// A virtual X display, ended when dropped.
pub struct Display {
    xvfb: std::process::Child,
    number: String,
}

impl Display {
    /// Starts Xvfb on a display number it picks itself (reported through `-displayfd`).
    pub fn start() -> Display {
        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x1024x24",
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("this test needs Xvfb for a display ({e}): apt-get install xvfb")
            });
        let stdout = xvfb.stdout.take().unwrap();
        let mut number = String::new();
        // Xvfb writes the number once the display accepts clients.
        BufReader::new(stdout).read_line(&mut number).unwrap();
        let number = number.trim().to_owned();
        assert!(!number.is_empty(), "Xvfb did not report its display");
        Display { xvfb, number }
    }

    /// The value for `DISPLAY`.
    pub fn name(&self) -> String {
        format!(":{}", self.number)
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}

/// The DevTools port of the Chrome running on `profile`, once it has written `DevToolsActivePort`.
pub fn devtools_port(profile: &Path, within: Duration) -> u16 {
    let file = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + within;
    loop {
        let port = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<u16>().ok());
        if let Some(port) = port {
            return port;
        }
        assert!(
            Instant::now() < deadline,
            "no Chrome wrote {} within {within:?}",
            file.display()
        );
        std::thread::sleep(POLL);
    }
}

/// The test's own chromedriver, attached to a Chrome someone else started.
pub struct Person {
    driver: std::process::Child,
    client: Client,
}

impl Person {
    /// Attaches to the Chrome running on `profile` (waits up to `within` for it).
    pub async fn attach(profile: &Path, within: Duration) -> Person {
        let port = devtools_port(profile, within);
        let (driver, url) = start_chromedriver().await;
        let mut caps = fantoccini::wd::Capabilities::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "debuggerAddress": format!("127.0.0.1:{port}") }),
        );
        // rustls has two providers in this build (ring, aws-lc): it needs a default named.
        snowbridge::tls::install_default();
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot attach to the login Chrome at port {port}: {e}"));
        Person { driver, client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Waits for an element by id, then types `text` into it.
    pub async fn type_into(&self, id: &str, text: &str) {
        self.element(id).await.send_keys(text).await.unwrap();
    }

    /// Waits for an element by id, then clicks it.
    pub async fn click(&self, id: &str) {
        self.element(id).await.click().await.unwrap();
    }

    async fn element(&self, id: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id} did not appear: {e}"))
    }

    /// The page's host (with port) once the page is fully loaded; empty while it navigates.
    pub async fn host(&self) -> String {
        let found = self
            .client
            .execute(
                "return document.readyState === 'complete' ? location.host : null",
                vec![],
            )
            .await;
        match found {
            Ok(serde_json::Value::String(host)) => host,
            _ => String::new(),
        }
    }

    /// Logs in on the instance's login form, as a person would: user name, password, Log in.
    pub async fn log_in(&self, user: &str, password: &str) {
        self.type_into("user_name", user).await;
        self.type_into("user_password", password).await;
        self.click("sysverb_login").await;
    }

    /// Closes the window, as a person clicking its X would.
    pub async fn close_window(&self) {
        self.client.close_window().await.unwrap();
    }
}

impl Drop for Person {
    fn drop(&mut self) {
        // The session was attached: ending chromedriver leaves the Chrome to its owner.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Starts chromedriver on a free loopback port and waits until it is ready.
async fn start_chromedriver() -> (std::process::Child, String) {
    let path = snowbridge::browser::find_chromedriver(None).unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for _ in 0..5 {
        let port = TcpListener::bind(("127.0.0.1", 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut driver = Command::new(&path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if driver.try_wait().unwrap().is_some() {
                break; // port taken in the meantime: try another
            }
            let ready = match http.get(format!("{url}/status")).send().await {
                Ok(reply) => reply
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                return (driver, url);
            }
            tokio::time::sleep(POLL).await;
        }
        let _ = driver.kill();
        let _ = driver.wait();
    }
    panic!("the test's chromedriver did not start");
}

pub use super::procs::{Proc, processes};

/// The processes running Chrome on `profile`.
pub fn chrome_on(profile: &Path) -> Vec<Proc> {
    let needle = format!("--user-data-dir={}", profile.display());
    processes()
        .into_iter()
        .filter(|p| p.cmdline.contains(&needle))
        .collect()
}

/// Waits until a Chrome runs on `profile`; returns its process group (chromedriver's, which
/// snowbridge started it in).
pub fn wait_for_chrome_on(profile: &Path, within: Duration) -> u32 {
    let deadline = Instant::now() + within;
    loop {
        if let Some(chrome) = chrome_on(profile).first() {
            return chrome.group;
        }
        assert!(
            Instant::now() < deadline,
            "no Chrome on {} within {within:?}",
            profile.display()
        );
        std::thread::sleep(POLL);
    }
}

/// Waits (up to 30 s) until no process is left in process group `group` or running on
/// `profile`; panics naming the survivors otherwise.
pub fn assert_browser_gone(group: u32, profile: &Path) {
    let needle = format!("--user-data-dir={}", profile.display());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left: Vec<Proc> = processes()
            .into_iter()
            .filter(|p| p.group == group || p.cmdline.contains(&needle))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "browser processes outlived snowbridge:\n{left:#?}"
        );
        std::thread::sleep(POLL);
    }
}
