//! The chromedriver process.
//!
//! Owns starting chromedriver on a free loopback port, waiting (by polling `GET /status` against
//! a deadline) until it is ready, its output (kept for error messages), and ending it: a blocking
//! `DELETE /session` so Chrome shuts down cleanly when there was no orderly close, then the kill.
//! It speaks only the bits of WebDriver needed for that; sessions belong to the caller.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use url::Url;

use super::reaper;
use super::wait::poll_until;
use crate::error::{Error, ErrorKind, Result};

/// How long chromedriver may take to answer `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often its `/status` is asked while starting: it answers some 80 ms after launch, and
/// every login and fallback waits for it (a loopback request costs next to nothing).
const READY_POLL: Duration = Duration::from_millis(10);
/// Attempts at a free port before giving up (another program may take the port we picked).
const PORT_ATTEMPTS: usize = 5;

/// A running chromedriver, killed (with its Chrome) when dropped.
pub(crate) struct Driver {
    // Field order is drop order: the guard kills the group before the child is reaped.
    guard: reaper::Guard,
    child: Child,
    addr: SocketAddr,
    url: Url,
    log: File,
    version: String,
}

impl Driver {
    /// Starts chromedriver at `path` on a free port and waits until it is ready.
    pub(crate) async fn start(path: &Path) -> Result<Driver> {
        let mut last_clash = String::new();
        for _ in 0..PORT_ATTEMPTS {
            match Driver::start_once(path).await? {
                Started::Ready(driver) => return Ok(*driver),
                Started::PortTaken(output) => last_clash = output,
            }
        }
        Err(Error::new(
            ErrorKind::Browser,
            format!(
                "chromedriver could not get a free port in {PORT_ATTEMPTS} attempts: {last_clash}"
            ),
        ))
    }

    async fn start_once(path: &Path) -> Result<Started> {
        let port = free_port()?;
        let log = tempfile::tempfile()
            .map_err(|e| failed("cannot create a file for chromedriver's output", e))?;
        let output = |log: &File| {
            log.try_clone()
                .map(Stdio::from)
                .map_err(|e| failed("cannot pass chromedriver its output file", e))
        };
        let mut command = Command::new(path);
        command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(output(&log)?)
            .stderr(output(&log)?);
        let mut child = reaper::spawn(command).map_err(|e| {
            failed(
                &format!("cannot start chromedriver ({})", path.display()),
                e,
            )
        })?;
        let guard = match reaper::Guard::new(&child) {
            Ok(guard) => guard,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let url = Url::parse(&format!("http://{addr}/"))
            .map_err(|e| Error::internal(format!("chromedriver's URL: {e}")))?;
        let mut driver = Driver {
            guard,
            child,
            addr,
            url,
            log,
            version: String::new(),
        };
        match driver.wait_ready().await {
            Ok(version) => {
                driver.version = version;
                tracing::debug!(port, version = %driver.version, "chromedriver is ready");
                Ok(Started::Ready(Box::new(driver)))
            }
            Err(Failure::Exited(output)) if port_clash(&output) => Ok(Started::PortTaken(output)),
            Err(Failure::Exited(output)) => Err(Error::new(
                ErrorKind::Browser,
                format!(
                    "chromedriver ({}) exited at start: {output}",
                    path.display()
                ),
            )),
            Err(Failure::NotReady) => Err(Error::new(
                ErrorKind::Browser,
                format!(
                    "chromedriver ({}) did not become ready within {}s: {}",
                    path.display(),
                    READY_TIMEOUT.as_secs(),
                    driver.output_tail()
                ),
            )),
            Err(Failure::Error(e)) => Err(e),
        }
    }

    /// Polls `/status` until it says ready (returning the driver's version) or the process exits.
    async fn wait_ready(&mut self) -> Result<String, Failure> {
        let status_url = format!("http://{}/status", self.addr);
        // Plain HTTP to loopback: no TLS trust to set up, so no system CA store read either.
        let http = crate::tls::trusting(
            crate::tls::client_builder()
                .no_proxy()
                .timeout(Duration::from_secs(2)),
            Vec::new(),
        )
        .map_err(|e| Failure::Error(Error::new(ErrorKind::Browser, e.to_string())))?
        .build()
        .map_err(|e| {
            Failure::Error(
                Error::new(
                    ErrorKind::Browser,
                    format!("cannot build an HTTP client: {e}"),
                )
                .with_source(e),
            )
        })?;
        let deadline = Instant::now() + READY_TIMEOUT;
        let outcome = poll_until(deadline, (READY_POLL, READY_POLL), || {
            let exited = self.child.try_wait();
            let http = &http;
            let status_url = &status_url;
            async move {
                match exited {
                    Ok(Some(_)) => return Err(Exited),
                    Ok(None) => {}
                    Err(_) => return Err(Exited),
                }
                // Not answering yet is the normal state while it starts.
                let Ok(reply) = http.get(status_url).send().await else {
                    return Ok(None);
                };
                let Ok(status) = reply.json::<StatusReply>().await else {
                    return Ok(None);
                };
                Ok(status.value.ready.then_some(status.value.build.version))
            }
        })
        .await;
        match outcome {
            Ok(Some(version)) => Ok(version),
            Ok(None) => Err(Failure::NotReady),
            Err(Exited) => Err(Failure::Exited(self.output_tail())),
        }
    }

    /// The base URL of its WebDriver endpoint, with a trailing slash.
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// chromedriver's process id (on Unix also its process group, which Chrome joins).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The version chromedriver reported.
    pub(crate) fn version(&self) -> &str {
        &self.version
    }

    /// The last part of what chromedriver printed, for error messages.
    pub(crate) fn output_tail(&mut self) -> String {
        const TAIL: u64 = 2000;
        let mut text = String::new();
        let len = self.log.seek(SeekFrom::End(0)).unwrap_or(0);
        if self
            .log
            .seek(SeekFrom::Start(len.saturating_sub(TAIL)))
            .is_ok()
        {
            let mut bytes = Vec::new();
            let _ = (&self.log).read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).trim().to_string();
        }
        if text.is_empty() {
            "(it printed nothing)".to_string()
        } else {
            text
        }
    }

    /// Ends `session_id` with a blocking `DELETE /session/{id}`, so Chrome quits cleanly (and
    /// writes its cookies) even when there was no orderly close. Bounded by `timeout`.
    pub(crate) fn end_session_blocking(&self, session_id: &str, timeout: Duration) {
        let request = format!(
            "DELETE /session/{session_id} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            self.addr
        );
        let attempt = || -> std::io::Result<()> {
            let mut stream = TcpStream::connect_timeout(&self.addr, timeout)?;
            stream.set_write_timeout(Some(timeout))?;
            stream.set_read_timeout(Some(timeout))?;
            stream.write_all(request.as_bytes())?;
            // chromedriver answers once Chrome is gone; the body does not matter.
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink);
            Ok(())
        };
        if let Err(e) = attempt() {
            tracing::debug!("could not end the WebDriver session on drop: {e}");
        }
    }

    /// Kills chromedriver and its Chrome now and reaps chromedriver.
    pub(crate) fn kill(&mut self) {
        self.guard.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.kill();
    }
}

enum Started {
    Ready(Box<Driver>),
    PortTaken(String),
}

enum Failure {
    Exited(String),
    NotReady,
    Error(Error),
}

struct Exited;

#[derive(Deserialize)]
struct StatusReply {
    value: Status,
}

#[derive(Deserialize)]
struct Status {
    ready: bool,
    #[serde(default)]
    build: Build,
}

#[derive(Deserialize, Default)]
struct Build {
    #[serde(default)]
    version: String,
}

/// A loopback port nobody listens on right now (bind to port 0, read it, release it).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| failed("cannot find a free port for chromedriver", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| failed("cannot find a free port for chromedriver", e))?
        .port();
    Ok(port)
}

/// Did chromedriver exit because its port was taken in the meantime?
fn port_clash(output: &str) -> bool {
    let output = output.to_ascii_lowercase();
    output.contains("port not available") || output.contains("address already in use")
}

fn failed(doing: &str, err: std::io::Error) -> Error {
    Error::new(ErrorKind::Browser, format!("{doing}: {err}")).with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chromedriver_port_clashes_are_recognised() {
        assert!(port_clash(
            "[1.2][SEVERE]: bind() failed: Address already in use (98)\n\
             IPv4 port not available. Exiting..."
        ));
        assert!(!port_clash(
            "error while loading shared libraries: libnss3.so"
        ));
    }

    #[test]
    fn free_ports_are_loopback_ports_that_can_be_bound() {
        let port = free_port().unwrap();
        assert_ne!(port, 0);
        TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}
