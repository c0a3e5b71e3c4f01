//! A `snowbridge` process the test watches while it runs: its output goes to files the test can
//! read at any moment, it is waited on with a deadline (a hang fails the test instead of
//! stalling it), and it is killed if the test ends first.

use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often a running child is looked at.
const POLL: Duration = Duration::from_millis(100);

/// A running command with its stdout and stderr in files.
pub struct Child {
    child: std::process::Child,
    stdout: PathBuf,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Child {
    /// Starts `command` with stdin closed (no terminal: nobody can be prompted) and its output
    /// captured.
    pub fn spawn(mut command: Command) -> Child {
        let dir = tempfile::tempdir().unwrap();
        let stdout = dir.path().join("stdout");
        let stderr = dir.path().join("stderr");
        let child = command
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start snowbridge");
        Child {
            child,
            stdout,
            stderr,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it has printed on stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// What it has printed on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Its exit status, if it has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits until stderr holds `text`; panics if the process ends first or `within` passes.
    pub fn wait_for_stderr(&mut self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if self.stderr().contains(text) {
                return;
            }
            if let Some(status) = self.exited() {
                panic!(
                    "snowbridge ended ({status}) before saying {text:?}:\nstdout: {}\nstderr: {}",
                    self.stdout(),
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "snowbridge did not say {text:?} within {within:?}; stderr so far: {}",
                self.stderr()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Waits for the process to end; kills it and panics if it is still running after `within`.
    pub fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "snowbridge was still running after {within:?} (it hung):\nstdout: {}\nstderr: {}",
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `command` to completion within `within` (a hang fails the test); returns the status,
/// stdout and stderr.
pub fn run_within(command: Command, within: Duration) -> (ExitStatus, String, String) {
    let mut child = Child::spawn(command);
    let status = child.wait(within);
    (status, child.stdout(), child.stderr())
}
