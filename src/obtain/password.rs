//! Where a user's password comes from: `SNOWBRIDGE_PASSWORD`, the OS keyring (stored by
//! `snowbridge password NAME`), or a prompt on the terminal. Never a file, never the command
//! line, never a prompt in a run with no terminal.

use std::io::IsTerminal;

use crate::error::{Error, ErrorKind, Result};
use crate::keyring::{self, Lookup};
use crate::secret::Secret;

/// The environment variable that can carry the password.
pub const ENV: &str = "SNOWBRIDGE_PASSWORD";

/// Where a password was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `SNOWBRIDGE_PASSWORD`.
    Environment,
    /// The OS keyring.
    Keyring,
    /// Typed at a prompt.
    Prompt,
}

fn account(instance: &str, user: &str) -> String {
    format!("password:{instance}:{user}")
}

/// True when a person can be asked: stdin and stderr are terminals.
pub fn can_prompt() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// The password of `user` on `instance`, without asking anyone.
pub fn stored(instance: &str, user: &str) -> Option<(Secret, Source)> {
    if let Ok(value) = std::env::var(ENV)
        && !value.is_empty()
    {
        return Some((Secret::from(value), Source::Environment));
    }
    if !keyring::enabled() {
        return None;
    }
    match keyring::get(&account(instance, user), keyring::DEFAULT_TIMEOUT) {
        Lookup::Found(secret) => Some((secret, Source::Keyring)),
        Lookup::Missing => None,
        Lookup::Unavailable(why) => {
            tracing::info!(%why, "no password from the keyring");
            None
        }
    }
}

/// Asks on the terminal (no echo) for a secret of `instance`.
pub fn prompt(question: &str, instance: &str) -> Result<Secret> {
    if !can_prompt() {
        return Err(Error::new(
            ErrorKind::LoginRequired,
            "a password is needed and there is no terminal to ask on",
        )
        .with_hint(format!(
            "store it with `snowbridge password {instance}`, or set {ENV} for this run"
        )));
    }
    rpassword::prompt_password(question)
        .map(Secret::from)
        .map_err(|e| Error::new(ErrorKind::Cancelled, format!("no password was read: {e}")))
}

/// Stores the password of `user` on `instance` in the OS keyring.
pub fn store(instance: &str, user: &str, password: &Secret) -> Result<()> {
    keyring::set(&account(instance, user), password, keyring::DEFAULT_TIMEOUT).map_err(|why| {
        Error::new(
            ErrorKind::Internal,
            format!("cannot store the password: {why}"),
        )
        .with_hint(format!(
            "where no keyring exists, set {ENV} in the job's environment instead"
        ))
    })
}

/// Removes the stored password; true when there was one.
pub fn forget(instance: &str, user: &str) -> Result<bool> {
    keyring::delete(&account(instance, user), keyring::DEFAULT_TIMEOUT).map_err(|why| {
        Error::new(
            ErrorKind::Internal,
            format!("cannot remove the password: {why}"),
        )
    })
}
