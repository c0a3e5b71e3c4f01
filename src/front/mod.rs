//! The front door: one [`Snowbridge`] that finds the folders, the instance files and the vault,
//! and hands out [`Connection`]s, on which the Table API, the JSONv2 processor, attachments,
//! resolving incidents (REST first, the browser where the instance file allows) and raw calls
//! are a method away.
//!
//! ```no_run
//! # async fn run() -> snowbridge::Result<()> {
//! let sb = snowbridge::Snowbridge::from_env()?;
//! let dev = sb.connect("dev").await?;
//! let mut open = dev.records("incident", snowbridge::Query::new("active=true"));
//! while let Some(incident) = open.try_next().await? {
//!     println!("{}", incident.field("number").unwrap_or_default());
//! }
//! # Ok(()) }
//! ```
//!
//! What it decides and nothing below it does: which instance file a name means, where the vault
//! and the login profiles live, when to ask the caller's [`Prompter`], and when a refusal of the
//! REST API is worked around in the browser (the instance file's `fallback`). It never prompts
//! or prints by itself, and it never opens a browser in [`Snowbridge::connect`].

mod connection;
mod work;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use connection::{Connection, Records};
pub use work::{AttachReport, IncidentState, Resolution, Resolved, Via};

use crate::error::{Error, Result};
// Without the browser only the docs' links name these.
#[cfg_attr(not(feature = "browser"), allow(unused_imports))]
use crate::error::{ErrorKind, NextStep};
use crate::instance::{AuthMethod, Catalog, Instance};
use crate::obtain::{self, Connected, Given, secrets};
use crate::paths::Dirs;
use crate::prompt::{self, Consent, NoPerson, Prompter, SecretRequest};
use crate::secret::{Secret, SecretKind};
use crate::vault::{KeyPolicy, Vault};

/// The longest a login may wait for a person: a week, the browser's longest wait.
#[cfg(feature = "browser")]
const MAX_LOGIN_WAIT: Duration = crate::browser::MAX_WAIT;
#[cfg(not(feature = "browser"))]
const MAX_LOGIN_WAIT: Duration = Duration::from_secs(7 * 86_400);

/// The front door: the folders, the instance files, the vault and the caller's [`Prompter`],
/// found once and shared by every [`Connection`] it hands out. Cheap to clone.
///
/// [`Snowbridge::from_env`] finds everything as the `snowbridge` command does;
/// [`Snowbridge::builder`] names folders, a prompter, the browser and the timeouts explicitly.
#[derive(Clone)]
pub struct Snowbridge {
    inner: Arc<Inner>,
}

struct Inner {
    dirs: Dirs,
    /// Instance-file folders given to the builder, used instead of the usual two.
    instance_dirs: Option<Vec<(crate::instance::Origin, PathBuf)>>,
    catalog: OnceLock<Catalog>,
    vault: Arc<Vault>,
    settings: Settings,
}

/// What a derived front door ([`Snowbridge::with_prompter`]) may change.
#[derive(Clone)]
struct Settings {
    prompter: Arc<dyn Prompter>,
    #[cfg(feature = "browser")]
    browser: crate::browser::Options,
    // Only browser work (a login, a fallback's pages) waits on these.
    #[cfg_attr(not(feature = "browser"), allow(dead_code))]
    login_timeout: Duration,
    #[cfg_attr(not(feature = "browser"), allow(dead_code))]
    page_timeout: Duration,
}

impl std::fmt::Debug for Snowbridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snowbridge")
            .field("dirs", &self.inner.dirs)
            .finish_non_exhaustive()
    }
}

impl Snowbridge {
    /// The front door as the `snowbridge` command finds it: the configuration and data folders
    /// from `SNOWBRIDGE_CONFIG_DIR` / `SNOWBRIDGE_DATA_DIR`, else the platform's (on Linux
    /// `~/.config/snowbridge`, `~/.local/share/snowbridge`); the vault's key in the OS keyring
    /// unless `SNOWBRIDGE_KEYRING=off`; nobody to prompt ([`NoPerson`]).
    ///
    /// Errors: [`ErrorKind::Internal`] when no home folder can be found and neither variable is
    /// set. Instance files are read on first use, so a broken one fails only the name it holds.
    pub fn from_env() -> Result<Snowbridge> {
        Snowbridge::builder().build()
    }

    /// A builder, to name the folders, the prompter, the browser or the timeouts.
    pub fn builder() -> SnowbridgeBuilder {
        SnowbridgeBuilder::default()
    }

    /// The folders in use.
    pub fn dirs(&self) -> &Dirs {
        &self.inner.dirs
    }

    /// The instance files, read on first use: the project's bundled ones and the user's
    /// (`<config>/instances/NAME.toml`), the user's winning on a clash.
    ///
    /// Errors: a folder that exists but cannot be listed.
    pub fn catalog(&self) -> Result<&Catalog> {
        if let Some(catalog) = self.inner.catalog.get() {
            return Ok(catalog);
        }
        let catalog = match &self.inner.instance_dirs {
            Some(folders) => Catalog::load_from(folders)?,
            None => Catalog::load(&self.inner.dirs)?,
        };
        Ok(self.inner.catalog.get_or_init(|| catalog))
    }

    /// The instance called `name`.
    ///
    /// Errors: [`ErrorKind::Usage`] for a name no file holds (with "did you mean" where one is
    /// close); the file's own error ([`ErrorKind::BadInput`], naming the file and key) for one
    /// that does not parse.
    pub fn instance(&self, name: &str) -> Result<Instance> {
        self.catalog()?.get(name)
    }

    /// The session vault (one sealed file per instance under `<data>/sessions`).
    pub fn vault(&self) -> &Arc<Vault> {
        &self.inner.vault
    }

    /// The prompter questions go to.
    pub fn prompter(&self) -> &Arc<dyn Prompter> {
        &self.inner.settings.prompter
    }

    /// The same front door with `prompter` answering questions instead (the vault, folders and
    /// other settings are shared).
    pub fn with_prompter(&self, prompter: impl Prompter + 'static) -> Snowbridge {
        self.derive(|s| s.prompter = Arc::new(prompter))
    }

    /// The same front door with another browser for logins and fallbacks (see
    /// [`SnowbridgeBuilder::browser`]).
    #[cfg(feature = "browser")]
    #[cfg_attr(docsrs, doc(cfg(feature = "browser")))]
    pub fn with_browser(&self, options: crate::browser::Options) -> Snowbridge {
        self.derive(|s| s.browser = options)
    }

    fn derive(&self, change: impl FnOnce(&mut Settings)) -> Snowbridge {
        let inner = &self.inner;
        let mut settings = inner.settings.clone();
        change(&mut settings);
        Snowbridge {
            inner: Arc::new(Inner {
                dirs: inner.dirs.clone(),
                instance_dirs: inner.instance_dirs.clone(),
                // Read again on first use: a catalogue holds its files' errors, which do not clone.
                catalog: OnceLock::new(),
                vault: inner.vault.clone(),
                settings,
            }),
        }
    }

    /// A valid session for the instance `name`, as `snowbridge connect NAME` makes sure of one:
    ///
    /// - `auth = "browser"`: the stored session, checked with the instance (or trusted within
    ///   the file's `validate_every` window); else, where the file names a Chrome profile
    ///   (`import_chrome`), the cookies imported from it and proved.
    /// - the token, key and certificate methods: the stored tokens where they still work, else
    ///   the method's grant with the secrets at hand (the environment, the OS keyring) or, where
    ///   a [`Prompter`] answers, typed by a person; proved with one call.
    ///
    /// It never opens a browser; it asks the prompter only for a secret at hand nowhere else.
    ///
    /// Errors: [`ErrorKind::LoginRequired`] with [`NextStep::LogIn`] (or the secret to give)
    /// when no session can be had this way; [`ErrorKind::Unreachable`] when the instance does
    /// not answer; the instance file's errors.
    pub async fn connect(&self, name: &str) -> Result<Connection> {
        let instance = self.instance(name)?;
        self.warm_key().await?;
        let (session, how) = if instance.auth == AuthMethod::Browser {
            obtain::connect(&instance, self.inner.vault.clone()).await?
        } else {
            let given = self.secrets_for(&instance, false).await?;
            obtain::sign_in(&instance, self.inner.vault.clone(), given.given).await?
        };
        let connection = Connection::new(self.clone(), session, how);
        connection.save().await?;
        Ok(connection)
    }

    /// The stored session of `name` as it stands, without a round trip: checked by the first
    /// call made with it (a token method runs its grant then). What the `snowbridge` commands
    /// that do work (`records`, `attach`, `resolve`, `api`) use; [`Snowbridge::connect`] is the
    /// one that proves a session first.
    ///
    /// Errors: [`ErrorKind::LoginRequired`] with [`NextStep::LogIn`] for a browser instance with
    /// no stored session; an unreadable session file; a secret a Basic or API-key instance needs
    /// that is at hand nowhere.
    pub async fn open(&self, name: &str) -> Result<Connection> {
        let instance = self.instance(name)?;
        let vault = self.inner.vault.clone();
        let session = blocking(move || crate::session::Session::open(&instance, vault)).await?;
        Ok(Connection::new(
            self.clone(),
            session,
            Connected::Stored { checked: false },
        ))
    }

    /// Logs in to `name` with a person where one is needed, as `snowbridge connect NAME --login`
    /// does, and stores the session:
    ///
    /// - `auth = "browser"`: Chrome on the instance's login page, in the instance's own login
    ///   profile (`<data>/profiles/NAME`). Headless (asked for, or no display), snowbridge fills
    ///   the form itself and needs the user's password: from `SNOWBRIDGE_PASSWORD`, the OS
    ///   keyring, else the [`Prompter`]. With a window, a person logs in there (single sign-on,
    ///   multi-factor). One-time codes come from `options` first, then the prompter.
    /// - `auth = "oauth-pkce"`: the authorization code flow with PKCE in the same browser.
    /// - the other methods: the secrets at hand nowhere else are asked of the prompter, and the
    ///   method's grant proves them.
    ///
    /// A secret the person typed and the instance accepted is kept in the OS keyring where the
    /// prompter consents ([`Consent::KeepSecret`]); not the password of `oauth-password`, which
    /// is used once.
    ///
    /// Errors: [`ErrorKind::LoginRequired`] with the steps that would have made it possible (a
    /// secret, a user name, a window, a one-time code); [`ErrorKind::Cancelled`] when the window
    /// was closed; [`ErrorKind::Browser`] when Chrome or chromedriver fail;
    /// [`ErrorKind::Usage`] for a build without the `browser` feature asked for a browser login.
    pub async fn login(&self, name: &str, options: Login) -> Result<Connection> {
        let instance = self.instance(name)?;
        self.warm_key().await?;
        match instance.auth {
            AuthMethod::Browser | AuthMethod::OauthPkce => {
                self.browser_login(&instance, options).await
            }
            _ => {
                let asked = self.secrets_for(&instance, true).await?;
                let (session, how) =
                    obtain::sign_in(&instance, self.inner.vault.clone(), asked.given.clone())
                        .await?;
                for kind in asked.typed {
                    // oauth-password's password is used once; only its tokens are kept.
                    let once =
                        kind == SecretKind::Password && instance.auth == AuthMethod::OauthPassword;
                    if let (false, Some(secret)) = (once, asked.given.get(kind)) {
                        self.offer_to_keep(&instance, kind, secret.clone()).await;
                    }
                }
                let connection = Connection::new(self.clone(), session, how);
                connection.save().await?;
                Ok(connection)
            }
        }
    }

    /// Imports the session of `name` from a Chrome (Chromium, Edge, Brave) profile, proves it
    /// with one REST call, and only then stores it, replacing what was stored. Returns the
    /// connection and the import's report (cookies found, imported, left out and why).
    ///
    /// A keyring that is locked is unlocked only where the [`Prompter`] is a person's (its
    /// [`Prompter::consent`] is not asked: an unlock prompt is the desktop's own).
    ///
    /// Errors: [`ErrorKind::BadInput`] for a browser, profile or folder that does not exist;
    /// [`ErrorKind::LoginRequired`] when the profile holds no working session for the instance.
    #[cfg(feature = "chrome-import")]
    #[cfg_attr(docsrs, doc(cfg(feature = "chrome-import")))]
    pub async fn import_chrome(
        &self,
        name: &str,
        source: &obtain::chrome::Source,
        interactive: bool,
    ) -> Result<(Connection, obtain::chrome::Report)> {
        let instance = self.instance(name)?;
        self.warm_key().await?;
        let (session, report) =
            obtain::import_chrome(&instance, self.inner.vault.clone(), source, interactive).await?;
        let connection =
            Connection::new(self.clone(), session, Connected::Stored { checked: true });
        connection.save().await?;
        Ok((connection, report))
    }

    /// The vault's key, found (or made) off the runtime's threads: the OS keyring may take
    /// seconds to answer, and the first load would otherwise wait on it in place.
    async fn warm_key(&self) -> Result<()> {
        let vault = self.inner.vault.clone();
        blocking(move || vault.key().map(|_| ())).await
    }

    /// The secrets `instance`'s method needs besides its file that are at hand nowhere, asked
    /// of the prompter. Without `ask` one the prompter does not give is left to the grant,
    /// which says what is missing (the connect rule: only a given prompter is asked).
    async fn secrets_for(&self, instance: &Instance, ask: bool) -> Result<Asked> {
        let mut asked = Asked::default();
        for kind in needed(instance) {
            let (found_instance, lookup) = (instance.clone(), kind);
            let at_hand = blocking(move || {
                Ok(secrets::find(&found_instance, lookup, &Given::default()).map(|(s, _)| s))
            })
            .await?;
            let secret = match at_hand {
                // Left for the grant to find again: its messages then say where it came from.
                Some(_) => continue,
                None => {
                    let request = SecretRequest {
                        instance: instance.name.clone(),
                        kind,
                        user: instance.username.clone(),
                    };
                    match prompt::ask(&self.inner.settings.prompter, move |p| p.secret(&request))
                        .await
                    {
                        Some(secret) if !secret.is_empty() => {
                            asked.typed.push(kind);
                            secret
                        }
                        _ if ask => {
                            return Err(secrets::missing(instance, kind)
                                .with_note("and nobody answered when asked for it"));
                        }
                        // The grant reports what is missing, in its own words.
                        _ => continue,
                    }
                }
            };
            asked.given = asked.given.with(kind, secret);
        }
        Ok(asked)
    }

    /// Asks the prompter whether to keep `secret` in the OS keyring, and keeps it if so. A
    /// failure to keep it is a notice, not an error: the login itself worked.
    async fn offer_to_keep(&self, instance: &Instance, kind: SecretKind, secret: Secret) {
        if !crate::keyring::enabled() {
            return;
        }
        let question = Consent::KeepSecret {
            instance: instance.name.clone(),
            kind,
            user: instance.username.clone(),
        };
        if !prompt::ask(&self.inner.settings.prompter, move |p| p.consent(&question)).await {
            return;
        }
        let instance = instance.clone();
        let kept = blocking(move || secrets::store(&instance, kind, &secret)).await;
        let prompter = self.inner.settings.prompter.clone();
        let said = match kept {
            Ok(()) => "Kept in the OS keyring.".to_owned(),
            Err(e) => {
                tracing::warn!(target: crate::NOTICE_TARGET, "not kept: {}", e.message());
                return;
            }
        };
        prompt::ask(&prompter, move |p| p.tell(&said)).await;
    }

    #[cfg(not(feature = "browser"))]
    async fn browser_login(&self, instance: &Instance, _options: Login) -> Result<Connection> {
        Err(Error::usage(format!(
            "{}: auth = \"{}\" logs in through the browser, and this build has no browser (the \
             `browser` feature)",
            instance.name, instance.auth
        )))
    }

    #[cfg(feature = "browser")]
    async fn browser_login(&self, instance: &Instance, options: Login) -> Result<Connection> {
        let (login, prompted) = self.login_options(instance, &options).await?;
        let user = login.credentials.as_ref().map(|(user, _)| user.clone());
        let vault = self.inner.vault.clone();
        let (session, how) = if instance.auth == AuthMethod::OauthPkce {
            let session = obtain::pkce::authorize(instance, vault, login).await?;
            (session, Connected::Authorized)
        } else {
            let session = obtain::login::login(instance, vault, login).await?;
            (session, Connected::LoggedIn)
        };
        if let (Some(secret), Some(user)) = (prompted, user) {
            let mut named = instance.clone();
            named.username = Some(user);
            self.offer_to_keep(&named, SecretKind::Password, secret)
                .await;
        }
        let connection = Connection::new(self.clone(), session, how);
        connection.save().await?;
        Ok(connection)
    }

    /// The browser login's options, with the credentials to fill the form with where they are
    /// at hand (and a password the prompter gave, to offer keeping). Without a window snowbridge
    /// must fill the form itself: what it lacks for that is said now, before a browser starts.
    #[cfg(feature = "browser")]
    async fn login_options(
        &self,
        instance: &Instance,
        options: &Login,
    ) -> Result<(obtain::login::LoginOptions, Option<Secret>)> {
        let browser = crate::browser::Options {
            profile_dir: self.inner.dirs.login_profile(&instance.name),
            ..self.inner.settings.browser.clone()
        };
        let user = options.user.clone().or(instance.username.clone());
        let headless = browser.runs_headless();
        let mut prompted = None;
        let credentials = match &user {
            Some(user) => {
                let (name, who) = (instance.name.clone(), user.clone());
                let found = blocking(move || Ok(obtain::password::find(&name, &who))).await?;
                match found {
                    Ok((secret, _)) => Some((user.clone(), secret)),
                    Err(missing) if headless => {
                        let request = SecretRequest {
                            instance: instance.name.clone(),
                            kind: SecretKind::Password,
                            user: Some(user.clone()),
                        };
                        match prompt::ask(&self.inner.settings.prompter, move |p| {
                            p.secret(&request)
                        })
                        .await
                        {
                            Some(secret) if !secret.is_empty() => {
                                prompted = Some(secret.clone());
                                Some((user.clone(), secret))
                            }
                            _ => return Err(no_password(instance, &browser, user, &missing)),
                        }
                    }
                    // A window: the person types it there.
                    Err(_) => None,
                }
            }
            None if headless => {
                return Err(Error::new(
                    ErrorKind::LoginRequired,
                    format!(
                        "a login without a window ({}) needs a user name and its password to fill \
                         in the login form, and no user name is given",
                        why_headless(&browser)
                    ),
                )
                .with_steps([
                    NextStep::NameUser {
                        instance: instance.name.clone(),
                        file: instance.source.clone(),
                    },
                    NextStep::give_secret(&instance.name, SecretKind::Password),
                ]));
            }
            None => None,
        };
        let login = obtain::login::LoginOptions {
            browser,
            credentials,
            mfa_code: options.one_time_code.clone(),
            remember_me: options.remember_me,
            timeout: options.timeout.unwrap_or(self.inner.settings.login_timeout),
            prompter: self.inner.settings.prompter.clone(),
            diagnostics: self.inner.dirs.diagnostics(),
        };
        Ok((login, prompted))
    }

    /// The browser options for a fallback, on a fresh profile folder of its own.
    #[cfg(feature = "browser")]
    pub(crate) fn fallback_options(
        &self,
        profile: &std::path::Path,
    ) -> crate::fallback::FallbackOptions {
        crate::fallback::FallbackOptions {
            browser: crate::browser::Options {
                profile_dir: profile.to_path_buf(),
                ..self.inner.settings.browser.clone()
            },
            diagnostics: self.inner.dirs.diagnostics(),
            timeout: self.inner.settings.page_timeout,
        }
    }
}

/// Secrets found for a sign-in, and which of them a person typed.
#[derive(Default)]
struct Asked {
    given: Given,
    typed: Vec<SecretKind>,
}

/// The secrets `auth` needs from a person or a store, besides the instance file.
fn needed(instance: &Instance) -> Vec<SecretKind> {
    match instance.auth {
        AuthMethod::Basic => vec![SecretKind::Password],
        AuthMethod::ApiKey => vec![SecretKind::ApiKey],
        AuthMethod::OauthPassword => vec![SecretKind::Password, SecretKind::ClientSecret],
        AuthMethod::OauthClientCredentials | AuthMethod::Jwt => vec![SecretKind::ClientSecret],
        AuthMethod::Mtls => {
            let encrypted = instance.mtls.as_ref().is_some_and(|m| {
                std::fs::read_to_string(&m.key)
                    .is_ok_and(|k| k.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
            });
            if encrypted {
                vec![SecretKind::KeyPassphrase]
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

/// Why the login runs without a window, in words.
#[cfg(feature = "browser")]
fn why_headless(browser: &crate::browser::Options) -> &'static str {
    if browser.headless == Some(true) {
        "headless, as asked"
    } else {
        "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    }
}

/// The error for a headless login with no password at hand: what is missing and each way to
/// give it.
#[cfg(feature = "browser")]
fn no_password(
    instance: &Instance,
    browser: &crate::browser::Options,
    user: &str,
    missing: &obtain::password::Missing,
) -> Error {
    let name = &instance.name;
    Error::new(
        ErrorKind::LoginRequired,
        format!(
            "a login without a window ({}) fills in the login form itself and needs the password \
             of {user} on {name}, which is not at hand: {missing}; no browser was started",
            why_headless(browser)
        ),
    )
    .with_steps([
        NextStep::give_secret(name, SecretKind::Password),
        NextStep::log_in_with_prompts(name),
    ])
}

/// Runs `work` on a blocking thread: keyring calls, file locks and vault writes must not hold
/// up the caller's runtime threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::internal(format!("a background task failed: {e}")))?
}

/// How to log in ([`Snowbridge::login`]): who, a one-time code known up front, "Remember me",
/// and how long to wait for a person.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Login {
    /// The user to log in as; `None` for the instance file's `username`.
    pub user: Option<String>,
    /// The one-time code of a multi-factor login, when known up front; later codes come from
    /// the [`Prompter`].
    pub one_time_code: Option<Secret>,
    /// Tick "Remember me" when snowbridge fills the form, so the session can outlive its idle
    /// timeout (the instance's 15-day remember-me cookies). Default: true.
    pub remember_me: bool,
    /// How long to wait for the login to finish; `None` for the front door's
    /// ([`SnowbridgeBuilder::login_timeout`], 5 minutes by default). At most a week.
    pub timeout: Option<Duration>,
}

impl Default for Login {
    fn default() -> Self {
        Login {
            user: None,
            one_time_code: None,
            remember_me: true,
            timeout: None,
        }
    }
}

impl Login {
    /// Logs in as `user` rather than the instance file's `username`.
    pub fn user(mut self, user: impl Into<String>) -> Login {
        self.user = Some(user.into());
        self
    }

    /// The current one-time code, known up front.
    pub fn one_time_code(mut self, code: Secret) -> Login {
        self.one_time_code = Some(code);
        self
    }

    /// Whether to tick "Remember me".
    pub fn remember_me(mut self, remember: bool) -> Login {
        self.remember_me = remember;
        self
    }

    /// How long to wait for the login, at most a week (longer is read as a week).
    pub fn timeout(mut self, timeout: Duration) -> Login {
        self.timeout = Some(timeout.min(MAX_LOGIN_WAIT));
        self
    }
}

/// Builds a [`Snowbridge`] with explicit folders, a prompter, the browser and timeouts; what is
/// not named is found as [`Snowbridge::from_env`] finds it.
#[derive(Default)]
pub struct SnowbridgeBuilder {
    config_dir: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    instance_dirs: Option<Vec<(crate::instance::Origin, PathBuf)>>,
    prompter: Option<Arc<dyn Prompter>>,
    keyring: Option<bool>,
    #[cfg(feature = "browser")]
    browser: Option<crate::browser::Options>,
    login_timeout: Option<Duration>,
    page_timeout: Option<Duration>,
}

impl std::fmt::Debug for SnowbridgeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnowbridgeBuilder")
            .field("config_dir", &self.config_dir)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl SnowbridgeBuilder {
    /// The configuration folder (instance files in `instances/`), instead of
    /// `SNOWBRIDGE_CONFIG_DIR` or the platform's.
    pub fn config_dir(mut self, dir: impl Into<PathBuf>) -> SnowbridgeBuilder {
        self.config_dir = Some(dir.into());
        self
    }

    /// The data folder (sessions, the key file, login profiles, diagnostics), instead of
    /// `SNOWBRIDGE_DATA_DIR` or the platform's.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> SnowbridgeBuilder {
        self.data_dir = Some(dir.into());
        self
    }

    /// Reads instance files from `dir` only (every `*.toml` in it), instead of the project's
    /// bundled ones and `<config>/instances`.
    pub fn instances_dir(mut self, dir: impl Into<PathBuf>) -> SnowbridgeBuilder {
        self.instance_dirs = Some(vec![(crate::instance::Origin::User, dir.into())]);
        self
    }

    /// Who answers questions (passwords, one-time codes, consent); [`NoPerson`] by default.
    pub fn prompter(mut self, prompter: impl Prompter + 'static) -> SnowbridgeBuilder {
        self.prompter = Some(Arc::new(prompter));
        self
    }

    /// Whether the vault's key lives in the OS keyring (else a file readable by the user only,
    /// `<data>/vault.key`). Default: the keyring, unless `SNOWBRIDGE_KEYRING=off`.
    pub fn keyring(mut self, use_keyring: bool) -> SnowbridgeBuilder {
        self.keyring = Some(use_keyring);
        self
    }

    /// The browser for logins and fallbacks: Chrome and chromedriver to run (else
    /// `SNOWBRIDGE_CHROME` / `SNOWBRIDGE_CHROMEDRIVER`, else the usual places), a WebDriver
    /// already running, headless or not (default: a window where a display exists). The
    /// `profile_dir` of `options` is not used: logins use the instance's own login profile,
    /// fallbacks a fresh folder each time.
    #[cfg(feature = "browser")]
    #[cfg_attr(docsrs, doc(cfg(feature = "browser")))]
    pub fn browser(mut self, options: crate::browser::Options) -> SnowbridgeBuilder {
        self.browser = Some(options);
        self
    }

    /// How long a login waits for a person (or the instance) by default: 5 minutes unless
    /// set; at most a week.
    pub fn login_timeout(mut self, timeout: Duration) -> SnowbridgeBuilder {
        self.login_timeout = Some(timeout.min(MAX_LOGIN_WAIT));
        self
    }

    /// How long one page may take in a browser fallback: 60 seconds unless set.
    pub fn page_timeout(mut self, timeout: Duration) -> SnowbridgeBuilder {
        self.page_timeout = Some(timeout);
        self
    }

    /// The front door.
    ///
    /// Errors: [`ErrorKind::Internal`] when a folder is not named and cannot be found (no home
    /// folder).
    pub fn build(self) -> Result<Snowbridge> {
        let dirs = match (self.config_dir, self.data_dir) {
            (Some(config), Some(data)) => Dirs::new(config, data),
            (config, data) => {
                let found = Dirs::from_env()?;
                Dirs::new(config.unwrap_or(found.config), data.unwrap_or(found.data))
            }
        };
        let mut policy = KeyPolicy::for_data_dir(&dirs.data);
        if let Some(use_keyring) = self.keyring {
            policy.use_keyring = use_keyring;
        }
        let vault = Arc::new(Vault::with_policy(dirs.sessions(), policy));
        Ok(Snowbridge {
            inner: Arc::new(Inner {
                instance_dirs: self.instance_dirs,
                catalog: OnceLock::new(),
                vault,
                settings: Settings {
                    prompter: self.prompter.unwrap_or_else(|| Arc::new(NoPerson)),
                    #[cfg(feature = "browser")]
                    browser: self.browser.unwrap_or_default(),
                    login_timeout: self.login_timeout.unwrap_or(Duration::from_secs(300)),
                    page_timeout: self.page_timeout.unwrap_or(Duration::from_secs(60)),
                },
                dirs,
            }),
        })
    }
}
