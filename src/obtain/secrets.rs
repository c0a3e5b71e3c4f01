//! Where the secrets of the ways in come from: the environment (`SNOWBRIDGE_PASSWORD`,
//! `SNOWBRIDGE_CLIENT_SECRET`, `SNOWBRIDGE_API_KEY`, `SNOWBRIDGE_KEY_PASSPHRASE`), then the OS
//! keyring (`snowbridge secret INSTANCE KIND`), or what a caller passes in for one connection
//! ([`Given`], typed at a prompt by a person). Never the instance file, never the command line,
//! and never a prompt from here: the library asks no one.

use std::collections::HashMap;

use crate::error::{Error, ErrorKind, Result};
use crate::instance::Instance;
use crate::keyring::{self, Lookup};
use crate::obtain::password;
use crate::secret::Secret;

/// A kind of secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The user's password (`basic`, `oauth-password`, a browser form login).
    Password,
    /// The OAuth application's client secret (RFC 6749 section 2.3.1).
    ClientSecret,
    /// An API key (`x-sn-apikey`).
    ApiKey,
    /// The passphrase of an encrypted client-certificate key (`mtls`).
    KeyPassphrase,
}

impl Kind {
    /// Every kind, in the order `snowbridge secret` lists them.
    pub const ALL: [Kind; 4] = [
        Kind::Password,
        Kind::ClientSecret,
        Kind::ApiKey,
        Kind::KeyPassphrase,
    ];

    /// The name on the command line: `password`, `client-secret`, `api-key`, `key-passphrase`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Password => "password",
            Kind::ClientSecret => "client-secret",
            Kind::ApiKey => "api-key",
            Kind::KeyPassphrase => "key-passphrase",
        }
    }

    /// The environment variable that can carry it.
    pub fn env(self) -> &'static str {
        match self {
            Kind::Password => password::ENV,
            Kind::ClientSecret => "SNOWBRIDGE_CLIENT_SECRET",
            Kind::ApiKey => "SNOWBRIDGE_API_KEY",
            Kind::KeyPassphrase => "SNOWBRIDGE_KEY_PASSPHRASE",
        }
    }

    /// In words, for messages ("the client secret").
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Password => "the password",
            Kind::ClientSecret => "the client secret",
            Kind::ApiKey => "the API key",
            Kind::KeyPassphrase => "the key's passphrase",
        }
    }

    /// Parses a command-line name.
    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a secret was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    .with_hint(if keyring::enabled() {
        format!(
            "store it with `snowbridge secret {name} {kind}`, set {} for the run, or run \
             `snowbridge connect {name} --login` at a terminal to type it",
            kind.env()
        )
    } else {
        format!(
            "set {} in the job's environment, or run `snowbridge connect {name} --login` at a \
             terminal to type it",
            kind.env()
        )
    })
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
