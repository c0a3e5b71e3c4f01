//! The OS keyring (Secret Service, Keychain, Credential Manager), time-boxed. Public: whether
//! it is on ([`enabled`]) and answers ([`probe`]); the entries themselves are read and written
//! by the vault and the secrets' lookup only.
//!
//! Every call runs on a thread of its own with a deadline: a locked keyring waiting on an unlock
//! prompt, or a D-Bus that never answers, costs a scheduled job a few seconds, never its run.

use std::sync::mpsc;
use std::time::Duration;

use crate::secret::Secret;

/// The service name every snowbridge entry is filed under.
pub(crate) const SERVICE: &str = "snowbridge";

/// How long a keyring call may take by default.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// What became of a keyring lookup.
#[derive(Debug)]
pub(crate) enum Lookup {
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
pub(crate) fn get(account: &str, timeout: Duration) -> Lookup {
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
pub(crate) fn set(account: &str, value: &Secret, timeout: Duration) -> Result<(), String> {
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
pub(crate) fn delete(account: &str, timeout: Duration) -> Result<bool, String> {
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

/// Whether the OS keyring answers: `Ok` when it does (a lookup of an entry that never exists
/// comes back "no such entry", which needs no unlock and so shows no prompt), else why not, in
/// words. Runs on a blocking thread, at most 3 seconds.
pub async fn probe() -> Result<(), String> {
    let lookup = tokio::task::spawn_blocking(|| get("doctor-reachability-probe", DEFAULT_TIMEOUT))
        .await
        .map_err(|e| format!("the keyring check did not finish: {e}"))?;
    match lookup {
        Lookup::Found(_) | Lookup::Missing => Ok(()),
        Lookup::Unavailable(why) => Err(why),
    }
}

/// True unless `SNOWBRIDGE_KEYRING=off` (or 0, false, no) turns the keyring off.
pub fn enabled() -> bool {
    !std::env::var("SNOWBRIDGE_KEYRING")
        .map(|v| matches!(v.as_str(), "off" | "0" | "false" | "no"))
        .unwrap_or(false)
}
