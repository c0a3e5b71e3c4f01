//! The person at the terminal, as the library's [`Prompter`]: secrets and one-time codes read
//! without echo (rpassword), yes-or-no questions on stdin, instructions on stderr. Where stdin or
//! stderr is not a terminal nobody is asked: every question goes unanswered, as the library's
//! default would.

use std::io::{IsTerminal, Write};

use snowbridge::prompt::{CodeRequest, Consent, Prompter, SecretRequest};
use snowbridge::secret::Secret;
use snowbridge::{Error, ErrorKind, Result};

/// True when a person can be asked: stdin and stderr are terminals.
pub fn can_prompt() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks on the terminal (no echo) for a secret of `instance`, for the commands that store one
/// (`password`, `secret`): an error when there is no terminal to ask on.
pub fn read_secret(question: &str, instance: &str) -> Result<Secret> {
    if !can_prompt() {
        return Err(Error::new(
            ErrorKind::LoginRequired,
            "a secret is needed and there is no terminal to ask on",
        )
        .with_hint(format!(
            "store it with `snowbridge password {instance}` at a terminal, or set its variable \
             (SNOWBRIDGE_PASSWORD, ...) for this run"
        )));
    }
    rpassword::prompt_password(question)
        .map(Secret::from)
        .map_err(|e| Error::new(ErrorKind::Cancelled, format!("nothing was read: {e}")))
}

/// The terminal, when there is a person at it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Terminal;

impl Terminal {
    /// Reads a line without echo after showing `question`; `None` without a terminal, on a read
    /// error, or for an empty answer.
    fn hidden(question: &str) -> Option<Secret> {
        if !can_prompt() {
            return None;
        }
        rpassword::prompt_password(question)
            .ok()
            .map(Secret::from)
            .filter(|s| !s.is_empty())
    }
}

impl Prompter for Terminal {
    fn secret(&self, request: &SecretRequest) -> Option<Secret> {
        Terminal::hidden(&request.question())
    }

    fn one_time_code(&self, request: &CodeRequest) -> Option<Secret> {
        Terminal::hidden(&request.question())
    }

    fn consent(&self, question: &Consent) -> bool {
        if !can_prompt() {
            return false;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{} [y/N] ", question.question());
        let _ = err.flush();
        drop(err);
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).is_ok() && answer.trim().eq_ignore_ascii_case("y")
    }

    fn tell(&self, message: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{message}");
    }
}
