//! The library's one error type.
//!
//! Callers ask an [`Error`] what went wrong through its [`ErrorKind`] rather than matching on
//! internals; the CLI maps kinds to the documented exit codes. Every error carries a message a
//! person can act on and, where there is one, what to do next: [`NextStep`]s a caller can act on
//! or render in its own words (the CLI names its commands and flags), and a `hint` in words for
//! anything else. The library's own text names no command and no flag. This module knows nothing
//! of HTTP, files or browsers: the stages build errors through the constructors here.

use std::fmt;
use std::path::PathBuf;

use crate::secret::SecretKind;

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
#[non_exhaustive]
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

/// What a person (or the program on their behalf) can do about an error: structured, so a
/// caller can act on it or say it in its own words. [`NextStep::describe`] says it in the
/// library's words (no command, no flag); the CLI renders each as the command or flag to use.
/// An error may offer several, as alternatives, the likeliest first ([`Error::next_steps`]).
///
/// New steps may be added: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NextStep {
    /// Log in to `instance` again, with a person: at the browser for `auth = "browser"` and
    /// `oauth-pkce`, else typing the method's secrets
    /// ([`Snowbridge::login`](crate::Snowbridge::login); the CLI's `connect NAME --login`).
    LogIn {
        /// The instance's name.
        instance: String,
    },
    /// The same, where a person can be asked (a prompter that answers): for a secret or a
    /// one-time code that is not at hand otherwise.
    LogInWithPrompts {
        /// The instance's name.
        instance: String,
    },
    /// Log in to `instance` in a browser window (not headless), where a display is available:
    /// a single sign-on page only a person can finish.
    LogInWithWindow {
        /// The instance's name.
        instance: String,
    },
    /// Connect to `instance` without a person: the method's grant runs by itself
    /// ([`Snowbridge::connect`](crate::Snowbridge::connect)).
    Connect {
        /// The instance's name.
        instance: String,
    },
    /// Give a secret: keep it in the OS keyring, or set its environment variable for the run.
    GiveSecret {
        /// The instance's name.
        instance: String,
        /// Which secret.
        kind: SecretKind,
        /// Whether the OS keyring is on (`SNOWBRIDGE_KEYRING` is not `off`): only then is
        /// keeping it there a way.
        keyring: bool,
    },
    /// Name the user to log in as (in the login options, or `username` in the instance file).
    NameUser {
        /// The instance's name.
        instance: String,
        /// The instance file.
        file: PathBuf,
    },
    /// Give the current one-time code of a multi-factor login: up front, or to a person asked
    /// through the [`Prompter`](crate::Prompter).
    GiveOneTimeCode {
        /// The instance's name.
        instance: String,
    },
    /// Try again, allowing the login more time.
    AllowMoreTime,
    /// Run the browser headless (no window): there is no display.
    RunHeadless,
    /// Name the Chrome profile to import from: a profile folder or a profile's name.
    NameChromeProfile,
    /// Name another browser, or the user-data folder (the one holding `Local State`) to import
    /// from.
    NameChromeUserData,
    /// Log in to `url` in the browser profile the cookies are imported from.
    LogInToBrowserProfile {
        /// The instance's address.
        url: String,
    },
    /// Check (or fix) the key `key` in the instance file `file`.
    FixInstanceFile {
        /// The instance file.
        file: PathBuf,
        /// The key (`url`, `auth`, `fallback`, ...).
        key: String,
    },
    /// Add an instance file `NAME.toml` to `dir` (the user's instance folder).
    AddInstanceFile {
        /// The instance's name.
        name: String,
        /// Where the user's instance files live.
        dir: PathBuf,
    },
    /// Use the resolution code `code`: the close one to a mistyped code (`guessed`), or the one
    /// the incident already holds.
    UseResolutionCode {
        /// The code (a `close_code` value).
        code: String,
        /// True for a guess at what was meant; false for the code the incident holds.
        guessed: bool,
    },
    /// Check the set-up (Chrome, chromedriver, the network, the instance file) of `instance`.
    CheckSetup {
        /// The instance's name.
        instance: String,
    },
}

impl NextStep {
    /// [`NextStep::GiveSecret`] for `kind` on `instance`, with the keyring as it is set now.
    pub(crate) fn give_secret(instance: &str, kind: SecretKind) -> NextStep {
        NextStep::GiveSecret {
            instance: instance.to_owned(),
            kind,
            keyring: crate::keyring::enabled(),
        }
    }

    /// [`NextStep::LogInWithPrompts`] for `instance`.
    pub(crate) fn log_in_with_prompts(instance: &str) -> NextStep {
        NextStep::LogInWithPrompts {
            instance: instance.to_owned(),
        }
    }

    /// The step in the library's words, naming no command or flag.
    pub fn describe(&self) -> String {
        match self {
            NextStep::LogIn { instance } => format!("log in to {instance}"),
            NextStep::LogInWithPrompts { instance } => {
                format!("log in to {instance} where a person can be asked")
            }
            NextStep::LogInWithWindow { instance } => format!(
                "log in to {instance} in a browser window (not headless) where a display is available"
            ),
            NextStep::Connect { instance } => {
                format!(
                    "connect to {instance} without a person (the method's grant runs by itself)"
                )
            }
            NextStep::GiveSecret { kind, keyring, .. } => {
                if *keyring {
                    format!(
                        "keep {} in the OS keyring, or set {} for the run",
                        kind.describe(),
                        kind.env()
                    )
                } else {
                    format!("set {} in the job's environment", kind.env())
                }
            }
            NextStep::NameUser { file, .. } => format!(
                "name the user (in the login options, or username = \"...\" in {})",
                file.display()
            ),
            NextStep::GiveOneTimeCode { .. } => {
                "give the current one-time code (up front, or when a person is asked)".to_owned()
            }
            NextStep::AllowMoreTime => "try again, allowing more time".to_owned(),
            NextStep::RunHeadless => "run the browser headless".to_owned(),
            NextStep::NameChromeProfile => {
                "name a profile by its folder name or its name from the list".to_owned()
            }
            NextStep::NameChromeUserData => {
                "name another browser, or the folder that holds `Local State`".to_owned()
            }
            NextStep::LogInToBrowserProfile { url } => {
                format!("log in to {url} in that browser profile")
            }
            NextStep::FixInstanceFile { file, key } => {
                format!("check `{key}` in {}", file.display())
            }
            NextStep::AddInstanceFile { name, dir } => {
                format!(
                    "add one by writing {}",
                    dir.join(format!("{name}.toml")).display()
                )
            }
            NextStep::UseResolutionCode {
                code,
                guessed: true,
            } => format!("did you mean the code {code:?}?"),
            NextStep::UseResolutionCode { code, .. } => {
                format!("to accept it as it stands, use the code {code:?}")
            }
            NextStep::CheckSetup { .. } => {
                "check the set-up (Chrome, chromedriver, the network, the instance file)".to_owned()
            }
        }
    }
}

impl fmt::Display for NextStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// The library's error: a kind, a message, what to do next (steps and a hint), an optional
/// refusal and an optional cause.
pub struct Error {
    kind: ErrorKind,
    message: String,
    hint: Option<String>,
    steps: Vec<NextStep>,
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
            steps: Vec::new(),
            refusal: None,
            source: None,
        }
    }

    /// Adds advice in words that no [`NextStep`] says ("shorten the query"); it must name no
    /// command or flag.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a step the person can take, after those already there (alternatives, the likeliest
    /// first).
    pub fn with_step(mut self, step: NextStep) -> Self {
        if !self.steps.contains(&step) {
            self.steps.push(step);
        }
        self
    }

    /// Replaces the steps with `steps`.
    pub fn with_steps(mut self, steps: impl IntoIterator<Item = NextStep>) -> Self {
        self.steps.clear();
        for step in steps {
            self = self.with_step(step);
        }
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

    /// Login required for `instance`, with [`NextStep::LogIn`].
    pub fn login_required(instance: &str, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::LoginRequired, message).with_step(NextStep::LogIn {
            instance: instance.to_owned(),
        })
    }

    /// No session stored for `instance` yet (never logged in, or logged out): login required,
    /// with [`NextStep::LogIn`].
    pub fn no_session(instance: &str) -> Self {
        Error::login_required(instance, format!("no session stored for {instance}"))
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

    /// Advice in words beside the [`next_steps`](Error::next_steps) ("shorten the query"), when
    /// there is some. [`advice`](Error::advice) gives both together.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// What the person can do next, as alternatives, the likeliest first; empty when the
    /// library knows of nothing.
    pub fn next_steps(&self) -> &[NextStep] {
        &self.steps
    }

    /// The likeliest next step, when there is one.
    pub fn next_step(&self) -> Option<&NextStep> {
        self.steps.first()
    }

    /// The hint and the next steps in the library's words: `HINT; STEP, or STEP`; `None` when
    /// there is neither. A caller with words of its own renders them itself with
    /// [`advice_with`](Error::advice_with).
    pub fn advice(&self) -> Option<String> {
        self.advice_with(NextStep::describe)
    }

    /// The hint and the next steps, each step said by `say`: `HINT; STEP, or STEP`.
    pub fn advice_with(&self, say: impl Fn(&NextStep) -> String) -> Option<String> {
        let steps: Vec<String> = self.steps.iter().map(say).collect();
        match (&self.hint, steps.is_empty()) {
            (None, true) => None,
            (Some(hint), true) => Some(hint.clone()),
            (None, false) => Some(steps.join(", or ")),
            (Some(hint), false) => Some(format!("{hint}; {}", steps.join(", or "))),
        }
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
        if let Some(advice) = self.advice() {
            write!(f, "\n  hint: {advice}")?;
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
        if !self.steps.is_empty() {
            d.field("steps", &self.steps);
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
    fn login_required_says_to_log_in_again_without_naming_a_command() {
        let e = Error::login_required("dev", "the session expired");
        assert!(e.is_login_required());
        assert_eq!(
            e.next_step(),
            Some(&NextStep::LogIn {
                instance: "dev".into()
            })
        );
        let text = e.to_string();
        assert!(text.contains("log in to dev"), "{text}");
        assert!(
            !text.contains("snowbridge") && !text.contains("--"),
            "{text}"
        );
    }

    #[test]
    fn advice_puts_the_hint_first_then_the_steps_as_alternatives() {
        let e = Error::new(ErrorKind::LoginRequired, "refused")
            .with_hint("check the password")
            .with_step(NextStep::GiveSecret {
                instance: "dev".into(),
                kind: SecretKind::Password,
                keyring: false,
            })
            .with_step(NextStep::LogIn {
                instance: "dev".into(),
            });
        assert_eq!(
            e.advice().as_deref(),
            Some(
                "check the password; set SNOWBRIDGE_PASSWORD in the job's environment, or log in to dev"
            )
        );
        let said = e.advice_with(|s| format!("<{}>", matches!(s, NextStep::LogIn { .. })));
        assert_eq!(
            said.as_deref(),
            Some("check the password; <false>, or <true>")
        );
        assert_eq!(Error::internal("x").advice(), None);
    }
}
