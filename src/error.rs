//! The library's one error type.
//!
//! Callers ask an [`Error`] what went wrong through its [`ErrorKind`] rather than matching on
//! internals; the CLI maps kinds to the documented exit codes. Every error carries a message a
//! person can act on and, where there is one, the next thing to do (`hint`). This module knows
//! nothing of HTTP, files or browsers: the stages build errors through the constructors here.

use std::fmt;

/// What went wrong, in the terms a caller (and the CLI's exit code) cares about.
///
/// The rule behind the exit codes: 2 when the command line itself is wrong (it names a command,
/// flag or instance that does not exist, gives a value of the wrong form, or flags that do not
/// go together), whatever the files, the sessions and the instance hold; 1 for everything else
/// that failed, files and records that do not exist included; 4 and 5 as below. New kinds may
/// be added: match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No valid session, and none can be had without a person (exit 4).
    LoginRequired,
    /// The instance refused: ACL, data policy or OAuth scope (exit 5).
    Forbidden,
    /// The command line itself was wrong: an unknown instance, a bad flag value, flags that do
    /// not go together (exit 2).
    Usage,
    /// Input from outside was unusable: an instance file, a file named on the command line,
    /// stdin, a session file, a cookie database (exit 1).
    BadInput,
    /// What was named does not exist where it was looked for: a record, an API path (exit 1).
    NotFound,
    /// The instance could not be reached, or answered something that is not ServiceNow (exit 1).
    Unreachable,
    /// The instance answered with an error that is none of the above (exit 1).
    Instance,
    /// The record is not where the command could take it without undoing or rewriting what
    /// is already there (an incident resolved with another code, closed, canceled) (exit 1).
    Conflict,
    /// The browser or its driver failed (exit 1).
    Browser,
    /// A person cancelled (closed the login window, answered no) (exit 1).
    Cancelled,
    /// The instance refused credentials that no login can fix: a client secret, an API key, a
    /// JWT signing key or a client certificate that the configuration (or a stored secret) must
    /// change (exit 1).
    Credentials,
    /// Anything else: I/O on our own files, a bug (exit 1).
    Internal,
}

impl ErrorKind {
    /// The process exit code the CLI uses for this kind, as documented in the README.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::LoginRequired => 4,
            ErrorKind::Forbidden => 5,
            ErrorKind::Usage => 2,
            _ => 1,
        }
    }

    /// The kind's name in snake case (`login_required`, `not_found`, ...), as the CLI's JSON
    /// errors carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::LoginRequired => "login_required",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Usage => "usage",
            ErrorKind::BadInput => "bad_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Instance => "instance",
            ErrorKind::Browser => "browser",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Credentials => "credentials",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an instance refused an operation (the [`ErrorKind::Forbidden`] cases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// An access control rule: the user may not do this through this path.
    Acl,
    /// A data policy: these fields (by label) are mandatory.
    DataPolicy(Vec<String>),
    /// The OAuth token lacks the API's scope.
    Scope,
    /// A refusal the instance did not explain.
    Other,
}

/// The library's error: a kind, a message, an optional hint and an optional cause.
pub struct Error {
    kind: ErrorKind,
    message: String,
    hint: Option<String>,
    refusal: Option<Refusal>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            hint: None,
            refusal: None,
            source: None,
        }
    }

    /// Adds what the user should do next ("run `snowbridge connect dev --login`").
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Appends a note to the message ("page saved in ...").
    pub fn with_note(mut self, note: &str) -> Self {
        self.message = format!("{} ({note})", self.message);
        self
    }

    /// Adds the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The instance refused, for `why`.
    pub fn forbidden(why: Refusal, message: impl Into<String>) -> Self {
        let mut e = Error::new(ErrorKind::Forbidden, message);
        e.refusal = Some(why);
        e
    }

    /// Login required for `instance`, with the command that fixes it.
    pub fn login_required(instance: &str, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::LoginRequired, message).with_hint(format!(
            "run `snowbridge connect {instance} --login` to log in again"
        ))
    }

    /// No session stored for `instance` yet (never logged in, or logged out): login required,
    /// naming the command that makes one.
    pub fn no_session(instance: &str) -> Self {
        Error::new(
            ErrorKind::LoginRequired,
            format!("no session stored for {instance}"),
        )
        .with_hint(format!("run `snowbridge connect {instance} --login`"))
    }

    /// Shorthand for [`ErrorKind::BadInput`].
    pub fn bad_input(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::BadInput, message)
    }

    /// Shorthand for [`ErrorKind::Usage`].
    pub fn usage(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Usage, message)
    }

    /// Shorthand for [`ErrorKind::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    /// An I/O failure on `path`, saying what was being done.
    pub fn io(doing: &str, path: &std::path::Path, err: std::io::Error) -> Self {
        Error::new(
            ErrorKind::Internal,
            format!("{doing} {}: {err}", path.display()),
        )
        .with_source(err)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the hint.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What the user should do next, when known.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// True when a person must log in again.
    pub fn is_login_required(&self) -> bool {
        self.kind == ErrorKind::LoginRequired
    }

    /// Why the instance refused, for [`ErrorKind::Forbidden`] errors.
    pub fn refusal(&self) -> Option<&Refusal> {
        self.refusal.as_ref()
    }

    /// True when the instance refused the operation (ACL, data policy, scope).
    pub fn is_forbidden(&self) -> bool {
        self.kind == ErrorKind::Forbidden
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(hint) = &self.hint {
            d.field("hint", hint);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_documented_table() {
        assert_eq!(ErrorKind::LoginRequired.exit_code(), 4);
        assert_eq!(ErrorKind::Forbidden.exit_code(), 5);
        assert_eq!(ErrorKind::Usage.exit_code(), 2);
        assert_eq!(ErrorKind::BadInput.exit_code(), 1);
        assert_eq!(ErrorKind::Unreachable.exit_code(), 1);
        assert_eq!(ErrorKind::NotFound.exit_code(), 1);
        assert_eq!(ErrorKind::NotFound.as_str(), "not_found");
    }

    #[test]
    fn login_required_names_the_command_to_run() {
        let e = Error::login_required("dev", "the session expired");
        assert!(e.is_login_required());
        assert!(e.to_string().contains("snowbridge connect dev --login"));
    }
}
