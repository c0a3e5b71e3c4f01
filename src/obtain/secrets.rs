//! Where the secrets of the ways in come from: the environment (`SNOWBRIDGE_PASSWORD`,
//! `SNOWBRIDGE_CLIENT_SECRET`, `SNOWBRIDGE_API_KEY`, `SNOWBRIDGE_KEY_PASSPHRASE`), then the OS
//! keyring (`snowbridge secret INSTANCE KIND`), or what a caller passes in for one connection
//! ([`Given`], typed at a prompt by a person). Never the instance file, never the command line,
//! and never a prompt from here: the library asks no one.

use std::collections::HashMap;

use crate::error::{Error, ErrorKind, NextStep, Result};
use crate::instance::Instance;
use crate::keyring::{self, Lookup};
use crate::secret::Secret;

pub use crate::secret::SecretKind as Kind;

/// Where a secret was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// Given by the caller for this connection (typed by a person).
    Given,
    /// Its environment variable.
    Environment,
    /// The OS keyring.
    Keyring,
}

/// Secrets a caller hands in for one connection (a person typed them), used before the
/// environment and the keyring. The password is taken out once a grant has used it.
#[derive(Debug, Default, Clone)]
pub struct Given(HashMap<Kind, Secret>);

impl Given {
    /// Adds `secret` as the `kind`.
    pub fn with(mut self, kind: Kind, secret: Secret) -> Given {
        self.0.insert(kind, secret);
        self
    }

    /// The `kind`, if given.
    pub fn get(&self, kind: Kind) -> Option<&Secret> {
        self.0.get(&kind)
    }

    /// Takes the `kind` out (a password, once its grant has used it).
    pub fn take(&mut self, kind: Kind) -> Option<Secret> {
        self.0.remove(&kind)
    }
}

/// The keyring entry of `kind` on `instance`. The password's is the one `snowbridge password`
/// has always used (it names the user); the others are per instance.
fn account(instance: &Instance, kind: Kind) -> Result<String> {
    match kind {
        Kind::Password => {
            let user = instance.username.as_deref().ok_or_else(|| {
                Error::usage(format!(
                    "which user? {} names no username",
                    instance.source.display()
                ))
                .with_hint("add username = \"...\" to the instance file")
            })?;
            Ok(format!("password:{}:{user}", instance.name))
        }
        other => Ok(format!("{other}:{}", instance.name)),
    }
}

/// The `kind` for `instance` without asking anyone: given, else the environment, else the
/// keyring (unless `SNOWBRIDGE_KEYRING=off`).
pub fn find(instance: &Instance, kind: Kind, given: &Given) -> Option<(Secret, Source)> {
    if let Some(secret) = given.get(kind) {
        return Some((secret.clone(), Source::Given));
    }
    if let Ok(value) = std::env::var(kind.env())
        && !value.is_empty()
    {
        return Some((Secret::from(value), Source::Environment));
    }
    if !keyring::enabled() {
        return None;
    }
    let account = account(instance, kind).ok()?;
    match keyring::get(&account, keyring::DEFAULT_TIMEOUT) {
        Lookup::Found(secret) => Some((secret, Source::Keyring)),
        Lookup::Missing => None,
        Lookup::Unavailable(why) => {
            tracing::info!(%why, kind = kind.as_str(), "no secret from the keyring");
            None
        }
    }
}

/// The `kind` for `instance`, or login required naming the ways to give it.
pub fn require(instance: &Instance, kind: Kind, given: &Given) -> Result<(Secret, Source)> {
    find(instance, kind, given).ok_or_else(|| missing(instance, kind))
}

/// The error for a secret that is nowhere at hand.
pub fn missing(instance: &Instance, kind: Kind) -> Error {
    let name = &instance.name;
    Error::new(
        ErrorKind::LoginRequired,
        format!(
            "{name} (auth = \"{}\") needs {} and none is at hand: {} is not set{}",
            instance.auth,
            kind.describe(),
            kind.env(),
            if keyring::enabled() {
                " and the OS keyring holds none"
            } else {
                " and the OS keyring is off (SNOWBRIDGE_KEYRING=off)"
            }
        ),
    )
    .with_steps([
        NextStep::give_secret(name, kind),
        NextStep::log_in_with_prompts(name),
    ])
}

/// Where a secret came from, for messages ("from SNOWBRIDGE_CLIENT_SECRET").
pub fn describe_source(kind: Kind, source: Source) -> String {
    match source {
        Source::Given => "as typed".to_owned(),
        Source::Environment => format!("from {}", kind.env()),
        Source::Keyring => "from the OS keyring".to_owned(),
    }
}

/// Stores `secret` as the `kind` of `instance` in the OS keyring.
pub fn store(instance: &Instance, kind: Kind, secret: &Secret) -> Result<()> {
    refuse_when_keyring_off(kind)?;
    keyring::set(&account(instance, kind)?, secret, keyring::DEFAULT_TIMEOUT).map_err(|why| {
        Error::new(
            ErrorKind::Internal,
            format!("cannot store {}: {why}", kind.describe()),
        )
        .with_hint(format!(
            "where no keyring exists, set {} in the job's environment instead",
            kind.env()
        ))
    })
}

/// Removes the stored `kind` of `instance`; true when there was one.
pub fn forget(instance: &Instance, kind: Kind) -> Result<bool> {
    refuse_when_keyring_off(kind)?;
    keyring::delete(&account(instance, kind)?, keyring::DEFAULT_TIMEOUT).map_err(|why| {
        Error::new(
            ErrorKind::Internal,
            format!("cannot remove {}: {why}", kind.describe()),
        )
    })
}

fn refuse_when_keyring_off(kind: Kind) -> Result<()> {
    if keyring::enabled() {
        return Ok(());
    }
    // Exit 1, as `password` with the keyring off: the command line is right, the set-up is not.
    Err(
        Error::bad_input("the OS keyring is off (SNOWBRIDGE_KEYRING=off): nothing is stored there")
            .with_hint(format!(
                "set {} in the job's environment instead, or unset SNOWBRIDGE_KEYRING",
                kind.env()
            )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_from_their_names() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
            assert!(kind.env().starts_with("SNOWBRIDGE_"));
        }
        assert_eq!(Kind::parse("token"), None);
    }
}
