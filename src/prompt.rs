//! Asking a person: the one way the library reaches whoever is at the keyboard.
//!
//! The library never reads a terminal and never prints. Where a way in needs something only a
//! person can give (a password that is stored nowhere, the current one-time code of a
//! multi-factor login, a yes to keeping a typed secret in the OS keyring), it asks the caller's
//! [`Prompter`]. The default, [`NoPerson`], answers every question with "nobody here", which is
//! the rule of [`Snowbridge::connect`](crate::Snowbridge::connect): the run then fails with an
//! error whose [`NextStep`](crate::error::NextStep)s say what would have been needed.
//!
//! A prompter's methods may block (reading a terminal, waiting on a dialog): the library calls
//! them on a blocking thread ([`tokio::task::spawn_blocking`]), never on the runtime's own.

use std::sync::Arc;

use crate::secret::{Secret, SecretKind};

/// What a [`Prompter`] is asked for when a secret is at hand nowhere else (not given up front,
/// not in its environment variable, not in the OS keyring).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SecretRequest {
    /// The instance's name (its file's name, `dev`).
    pub instance: String,
    /// Which secret: the user's password, a client secret, an API key, a key's passphrase.
    pub kind: SecretKind,
    /// The user the password belongs to, for [`SecretKind::Password`].
    pub user: Option<String>,
}

impl SecretRequest {
    /// The question in words, ready to show: `Password for itil.user on dev: `,
    /// `The client secret for dev: `.
    pub fn question(&self) -> String {
        match (&self.kind, &self.user) {
            (SecretKind::Password, Some(user)) => {
                format!("Password for {user} on {}: ", self.instance)
            }
            (kind, _) => {
                let what = kind.describe();
                let mut chars = what.chars();
                let capital: String = match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect(),
                    None => String::new(),
                };
                format!("{capital} for {}: ", self.instance)
            }
        }
    }
}

/// A one-time code asked for during a multi-factor login.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CodeRequest {
    /// The instance's name.
    pub instance: String,
    /// The user logging in.
    pub user: String,
    /// How many codes the instance has refused so far in this login (0 for the first ask; at
    /// most three codes are sent in all).
    pub refused: u32,
}

impl CodeRequest {
    /// The question in words: `One-time code for itil.user on dev: `.
    pub fn question(&self) -> String {
        format!("One-time code for {} on {}: ", self.user, self.instance)
    }
}

/// A yes-or-no question to the person.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Consent {
    /// Keep a secret the person just typed (and the instance just accepted) in the OS keyring,
    /// for the next login. Only asked where the keyring is on (`SNOWBRIDGE_KEYRING` is not
    /// `off`).
    KeepSecret {
        /// The instance's name.
        instance: String,
        /// Which secret.
        kind: SecretKind,
        /// The user a password belongs to.
        user: Option<String>,
    },
}

impl Consent {
    /// The question in words: `Keep the password in the OS keyring for the next login?`.
    pub fn question(&self) -> String {
        match self {
            Consent::KeepSecret { kind, .. } => {
                format!(
                    "Keep {} in the OS keyring for the next login?",
                    kind.describe()
                )
            }
        }
    }
}

/// Whoever is at the keyboard, as the caller knows them: a terminal, a dialog, nobody.
///
/// Every method has a default that answers "nobody here" (`None`, `false`) or, for
/// [`tell`](Prompter::tell), reports through `tracing`; implement what your program can ask.
/// Methods may block; the library calls them off its async runtime's threads.
pub trait Prompter: Send + Sync {
    /// A secret (a password, a client secret, an API key, a key's passphrase) that is at hand
    /// nowhere else; `None` when nobody can answer, or the person declined. An empty answer is
    /// refused by the caller as a usage error.
    fn secret(&self, request: &SecretRequest) -> Option<Secret> {
        let _ = request;
        None
    }

    /// The current one-time code of a multi-factor login; asked again (up to three codes in all)
    /// after a code the instance refused. `None` when nobody can answer.
    fn one_time_code(&self, request: &CodeRequest) -> Option<Secret> {
        let _ = request;
        None
    }

    /// A yes-or-no question; `false` when nobody can answer.
    fn consent(&self, question: &Consent) -> bool {
        let _ = question;
        false
    }

    /// Something the person needs to know now ("log in in the browser window"). The default
    /// reports it as an `INFO` event under [`NOTICE_TARGET`](crate::NOTICE_TARGET).
    fn tell(&self, message: &str) {
        tracing::info!(target: crate::NOTICE_TARGET, "{message}");
    }
}

/// The default [`Prompter`]: nobody is at the keyboard, so every question goes unanswered.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPerson;

impl Prompter for NoPerson {}

/// Asks `prompter` through `ask` on a blocking thread: a prompter may read a terminal, and the
/// caller's runtime threads must not wait on a person.
pub(crate) async fn ask<T: Default + Send + 'static>(
    prompter: &Arc<dyn Prompter>,
    ask: impl FnOnce(&dyn Prompter) -> T + Send + 'static,
) -> T {
    let prompter = prompter.clone();
    // A panic in the caller's prompter is the caller's bug; it reads as "no answer" here.
    tokio::task::spawn_blocking(move || ask(prompter.as_ref()))
        .await
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_name_the_secret_and_the_instance() {
        let password = SecretRequest {
            instance: "dev".into(),
            kind: SecretKind::Password,
            user: Some("itil.user".into()),
        };
        assert_eq!(password.question(), "Password for itil.user on dev: ");
        let client = SecretRequest {
            instance: "dev".into(),
            kind: SecretKind::ClientSecret,
            user: None,
        };
        assert_eq!(client.question(), "The client secret for dev: ");
        let keep = Consent::KeepSecret {
            instance: "dev".into(),
            kind: SecretKind::Password,
            user: None,
        };
        assert_eq!(
            keep.question(),
            "Keep the password in the OS keyring for the next login?"
        );
    }

    #[tokio::test]
    async fn nobody_answers_by_default() {
        let nobody: Arc<dyn Prompter> = Arc::new(NoPerson);
        let code = ask(&nobody, |p| {
            p.one_time_code(&CodeRequest {
                instance: "dev".into(),
                user: "u".into(),
                refused: 0,
            })
        })
        .await;
        assert!(code.is_none());
        let yes = ask(&nobody, |p| {
            p.consent(&Consent::KeepSecret {
                instance: "dev".into(),
                kind: SecretKind::ApiKey,
                user: None,
            })
        })
        .await;
        assert!(!yes);
    }
}
