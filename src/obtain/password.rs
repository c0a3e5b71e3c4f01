//! Where a user's password comes from: `SNOWBRIDGE_PASSWORD`, or the OS keyring. Never a file,
//! never the command line; a person is asked only through the caller's
//! [`Prompter`](crate::prompt::Prompter), never from here.

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
    /// Given by a person through the [`Prompter`](crate::prompt::Prompter).
    Prompt,
}

fn account(instance: &str, user: &str) -> String {
    format!("password:{instance}:{user}")
}

/// The password of `user` on `instance`, without asking anyone.
pub fn stored(instance: &str, user: &str) -> Option<(Secret, Source)> {
    find(instance, user).ok()
}

/// Why [`find`] found no password: what each place said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Missing {
    /// `SNOWBRIDGE_KEYRING=off` keeps the keyring out of it.
    KeyringOff,
    /// The keyring answered: no entry for the user.
    NotInKeyring,
    /// The keyring did not answer, or refused: why.
    KeyringUnavailable(String),
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{ENV} is not set, and ")?;
        match self {
            Missing::KeyringOff => f.write_str("the OS keyring is off (SNOWBRIDGE_KEYRING=off)"),
            Missing::NotInKeyring => f.write_str("the OS keyring holds none"),
            Missing::KeyringUnavailable(why) => write!(f, "the OS keyring did not answer ({why})"),
        }
    }
}

/// The password of `user` on `instance`, without asking anyone: `SNOWBRIDGE_PASSWORD`, then the
/// OS keyring (unless `SNOWBRIDGE_KEYRING=off`); else what each place said.
pub fn find(instance: &str, user: &str) -> Result<(Secret, Source), Missing> {
    if let Ok(value) = std::env::var(ENV)
        && !value.is_empty()
    {
        return Ok((Secret::from(value), Source::Environment));
    }
    if !keyring::enabled() {
        return Err(Missing::KeyringOff);
    }
    match keyring::get(&account(instance, user), keyring::DEFAULT_TIMEOUT) {
        Lookup::Found(secret) => Ok((secret, Source::Keyring)),
        Lookup::Missing => Err(Missing::NotInKeyring),
        Lookup::Unavailable(why) => {
            tracing::info!(%why, "no password from the keyring");
            Err(Missing::KeyringUnavailable(why))
        }
    }
}

/// True when a password may be kept in the OS keyring (`SNOWBRIDGE_KEYRING=off` says no).
pub fn can_keep() -> bool {
    keyring::enabled()
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
