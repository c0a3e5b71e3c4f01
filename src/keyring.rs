//! The OS keyring (Secret Service, Keychain, Credential Manager), time-boxed.
//!
//! Every call runs on a thread of its own with a deadline: a locked keyring waiting on an unlock
//! prompt, or a D-Bus that never answers, costs a scheduled job a few seconds, never its run.

use std::sync::mpsc;
use std::time::Duration;

use crate::secret::Secret;

/// The service name every snowbridge entry is filed under.
pub const SERVICE: &str = "snowbridge";

/// How long a keyring call may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// What became of a keyring lookup.
#[derive(Debug)]
pub enum Lookup {
    /// The entry exists.
    Found(Secret),
    /// The keyring answered: no such entry.
    Missing,
    /// The keyring did not answer, or refused; why, in words.
    Unavailable(String),
}

fn timeboxed<T: Send + 'static>(
    timeout: Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    // The keyring crates may block on D-Bus and may start a runtime of their own: keep them off
    // the caller's thread (and off any async runtime's).
    std::thread::Builder::new()
        .name("keyring".into())
        .spawn(move || {
            let _ = tx.send(call());
        })
        .ok()?;
    crate::blocking::wait(|| rx.recv_timeout(timeout).ok())
}

fn no_answer(timeout: Duration) -> String {
    format!(
        "the OS keyring did not answer within {}s",
        timeout.as_secs()
    )
}

/// Reads the entry `account`.
pub fn get(account: &str, timeout: Duration) -> Lookup {
    let account = account.to_owned();
    match timeboxed(timeout, move || {
        keyring::Entry::new(SERVICE, &account).and_then(|e| e.get_password())
    }) {
        None => Lookup::Unavailable(no_answer(timeout)),
        Some(Ok(value)) => Lookup::Found(Secret::from(value)),
        Some(Err(keyring::Error::NoEntry)) => Lookup::Missing,
        Some(Err(e)) => Lookup::Unavailable(format!("the OS keyring refused: {e}")),
    }
}

/// Writes the entry `account`.
pub fn set(account: &str, value: &Secret, timeout: Duration) -> Result<(), String> {
    let account = account.to_owned();
    let value = value.clone();
    match timeboxed(timeout, move || {
        keyring::Entry::new(SERVICE, &account).and_then(|e| e.set_password(value.expose()))
    }) {
        None => Err(no_answer(timeout)),
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(format!("the OS keyring refused: {e}")),
    }
}

/// Deletes the entry `account`; `Ok(false)` when there was none.
pub fn delete(account: &str, timeout: Duration) -> Result<bool, String> {
    let account = account.to_owned();
    match timeboxed(timeout, move || {
        keyring::Entry::new(SERVICE, &account).and_then(|e| e.delete_credential())
    }) {
        None => Err(no_answer(timeout)),
        Some(Ok(())) => Ok(true),
        Some(Err(keyring::Error::NoEntry)) => Ok(false),
        Some(Err(e)) => Err(format!("the OS keyring refused: {e}")),
    }
}

/// True unless `SNOWBRIDGE_KEYRING=off` (or 0, false, no) turns the keyring off.
pub fn enabled() -> bool {
    !std::env::var("SNOWBRIDGE_KEYRING")
        .map(|v| matches!(v.as_str(), "off" | "0" | "false" | "no"))
        .unwrap_or(false)
}
