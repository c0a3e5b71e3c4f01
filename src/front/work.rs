//! Work that may need the browser: attaching files and resolving incidents, REST first and, where
//! the instance refuses this user through the API (an ACL) and its file says `fallback = "auto"`,
//! the record form in a browser holding the same session. The policy is written here once; the
//! command line and library callers both come through it, and learn which path did the work
//! ([`Via`]).

use std::path::Path;

use super::Connection;
use crate::api::attachment::{Attached, LocalFile, file_names};
use crate::api::incident::{self, Change, CloseCodes, Incident, Plan};
use crate::api::{Attachments, Record};
use crate::error::{Error, ErrorKind, NextStep, Refusal, Result};
use crate::instance::Fallback;

pub use crate::api::incident::Resolution;

/// Which path did the work.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Via {
    /// The REST API (Table API, Attachment API).
    Rest,
    /// The record form in the browser, because the REST API refused.
    Browser {
        /// The REST API's refusal, as the instance worded it.
        refusal: String,
    },
}

impl Via {
    /// `"rest"` or `"browser"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Via::Rest => "rest",
            Via::Browser { .. } => "browser",
        }
    }
}

/// An incident's state (`incident.state`), as the instance stores it: a number in text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IncidentState {
    /// `1`: New.
    New,
    /// `2`: In Progress.
    InProgress,
    /// `3`: On Hold.
    OnHold,
    /// `6`: Resolved.
    Resolved,
    /// `7`: Closed.
    Closed,
    /// `8`: Canceled.
    Canceled,
    /// A value of the instance's own (a custom state).
    Other(String),
}

impl IncidentState {
    /// The state stored as `value` (`"6"`): the wire doc's values, else [`IncidentState::Other`].
    pub fn from_value(value: &str) -> IncidentState {
        use incident::state;
        match value {
            state::NEW => IncidentState::New,
            state::IN_PROGRESS => IncidentState::InProgress,
            state::ON_HOLD => IncidentState::OnHold,
            state::RESOLVED => IncidentState::Resolved,
            state::CLOSED => IncidentState::Closed,
            state::CANCELED => IncidentState::Canceled,
            other => IncidentState::Other(other.to_owned()),
        }
    }

    /// The value the instance stores (`"6"`).
    pub fn value(&self) -> &str {
        use incident::state;
        match self {
            IncidentState::New => state::NEW,
            IncidentState::InProgress => state::IN_PROGRESS,
            IncidentState::OnHold => state::ON_HOLD,
            IncidentState::Resolved => state::RESOLVED,
            IncidentState::Closed => state::CLOSED,
            IncidentState::Canceled => state::CANCELED,
            IncidentState::Other(value) => value,
        }
    }

    /// The label instances show ("Resolved"), or the raw value of another state.
    pub fn label(&self) -> &str {
        incident::state::label(self.value())
    }

    /// True for states a resolve leaves alone: Resolved, Closed, Canceled.
    pub fn is_done(&self) -> bool {
        matches!(
            self,
            IncidentState::Resolved | IncidentState::Closed | IncidentState::Canceled
        )
    }
}

impl std::fmt::Display for IncidentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// What [`Connection::attach`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AttachReport {
    /// The record's sys_id.
    pub sys_id: String,
    /// Each file with the attachment the instance holds for it, in the order given.
    pub attached: Vec<Attached>,
    /// Which path attached them (the browser takes over from the first file REST refused).
    pub via: Via,
}

/// What [`Connection::resolve`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Resolved {
    /// The incident's number, when the instance returned it.
    pub number: Option<String>,
    /// Its sys_id.
    pub sys_id: String,
    /// The state it is in now.
    pub state: Option<IncidentState>,
    /// Which path made the change; `None` when it already was where asked and nothing was sent.
    pub via: Option<Via>,
    /// What was left as it stood, or not checked ("INC0010001 keeps the resolution notes it
    /// has; the notes given differ and were not written").
    pub remarks: Vec<String>,
}

impl Resolved {
    /// True when something was changed.
    pub fn changed(&self) -> bool {
        self.via.is_some()
    }

    /// Its number, or its sys_id where the number is unknown.
    pub fn name(&self) -> &str {
        self.number.as_deref().unwrap_or(&self.sys_id)
    }
}

/// May this refusal be worked around through the UI? An ACL (or an unexplained 403) may be;
/// a data policy is missing input, and a missing OAuth scope is the token's.
fn ui_can_help(e: &Error) -> bool {
    e.kind() == ErrorKind::Forbidden && matches!(e.refusal(), Some(Refusal::Acl | Refusal::Other))
}

/// `e`, a refusal the browser could have worked around, where it may not: why not and how.
fn no_fallback(connection: &Connection, e: Error) -> Error {
    let instance = connection.instance();
    if instance.fallback == Fallback::Never {
        return e
            .with_hint(
                "the instance file says fallback = \"never\"; set it to \"auto\" to let the \
                 browser do what the API refuses",
            )
            .with_step(NextStep::FixInstanceFile {
                file: instance.source.clone(),
                key: "fallback".into(),
            });
    }
    e.with_hint(
        "the browser could do it through the record form, but this build has no browser (the \
         `browser` feature)",
    )
}

/// Whether the browser may take over from a refusal.
fn may_fall_back(connection: &Connection) -> bool {
    cfg!(feature = "browser") && connection.instance().fallback == Fallback::Auto
}

/// A fresh profile folder for a fallback's browser, removed when dropped.
#[cfg(feature = "browser")]
fn fallback_profile() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("snowbridge-fallback-")
        .tempdir()
        .map_err(|e| Error::internal(format!("cannot make a browser profile folder: {e}")))
}

impl Connection {
    /// Attaches `files` to the record `record` (a sys_id, or a number such as `INC0010001`) of
    /// `table`: the Attachment API first; from the first file it refuses (an ACL: itil users on
    /// many instances), where the instance file says `fallback = "auto"`, the record form's
    /// attachment dialog in a headless-or-not browser holding this session. Every file is read
    /// (and hashed) before anything is sent, and an upload is judged by what the record holds
    /// afterwards (new sys_id, same SHA-256), never by a reply that may have been lost.
    ///
    /// Errors: [`ErrorKind::BadInput`] for a file that cannot be read (nothing is sent);
    /// [`ErrorKind::NotFound`] for no such record; the refusal itself where the browser may
    /// not help (with [`NextStep::FixInstanceFile`] for `fallback = "never"`); the browser's
    /// errors. Where some files were attached before a failure, the message says which, and
    /// which were not tried.
    pub async fn attach(
        &self,
        table: &str,
        record: &str,
        files: &[impl AsRef<Path>],
    ) -> Result<AttachReport> {
        let mut local = Vec::with_capacity(files.len());
        for path in files {
            local.push(LocalFile::read(path.as_ref()).await?);
        }
        let mut attached = Vec::new();
        let result = self
            .attach_files(table, record, &local, &mut attached)
            .await;
        let saved = self.save().await;
        let (sys_id, via) = result.map_err(|e| partial(e, &local, &attached))?;
        saved?;
        Ok(AttachReport {
            sys_id,
            attached,
            via,
        })
    }

    /// Attaches `files` in order, pushing each onto `attached` once the instance holds it.
    async fn attach_files(
        &self,
        table: &str,
        record: &str,
        files: &[LocalFile],
        attached: &mut Vec<Attached>,
    ) -> Result<(String, Via)> {
        let session = self.session();
        let found = incident::find(session, table, record).await?;
        let sys_id = found
            .sys_id()
            .ok_or_else(|| {
                Error::new(ErrorKind::Instance, "the record came back without a sys_id")
            })?
            .to_owned();
        let api = Attachments::new(session);
        // What the record holds before: an upload whose reply is lost is judged against it.
        let mut held = match api.held(table, &sys_id).await {
            Ok(held) => held,
            Err(e) if e.is_login_required() => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the record's attachments; a lost reply will count as a failure");
                None
            }
        };
        for (i, file) in files.iter().enumerate() {
            match api.upload_judged(table, &sys_id, file, &mut held).await {
                Ok(attachment) => attached.push(Attached {
                    file: file.clone(),
                    attachment,
                }),
                Err(e) if ui_can_help(&e) && may_fall_back(self) => {
                    tracing::info!(error = %e, "the Attachment API refused; using the browser");
                    self.attach_in_browser(table, &sys_id, &files[i..], attached)
                        .await?;
                    let refusal = e.message().to_owned();
                    return Ok((sys_id, Via::Browser { refusal }));
                }
                Err(e) if ui_can_help(&e) => return Err(no_fallback(self, e)),
                Err(e) => return Err(e),
            }
        }
        Ok((sys_id, Via::Rest))
    }

    #[cfg(feature = "browser")]
    async fn attach_in_browser(
        &self,
        table: &str,
        sys_id: &str,
        files: &[LocalFile],
        attached: &mut Vec<Attached>,
    ) -> Result<()> {
        let profile = fallback_profile()?;
        let options = self.snowbridge().fallback_options(profile.path());
        let logged_in = browser_session(self.session(), &options).await?;
        let session = logged_in.as_ref().map_or(self.session(), |(s, _)| s);
        crate::fallback::attach(session, table, sys_id, files, &options, attached).await
    }

    #[cfg(not(feature = "browser"))]
    async fn attach_in_browser(
        &self,
        _table: &str,
        _sys_id: &str,
        _files: &[LocalFile],
        _attached: &mut Vec<Attached>,
    ) -> Result<()> {
        Err(Error::internal("this build has no browser"))
    }

    /// Resolves (or closes) the incident `record` (a sys_id, or a number such as
    /// `INC0010001`): reads it, checks the code against the instance's own choices, decides from
    /// where it stands what may change (never backwards, never a resolution rewritten), then the
    /// Table API; where the state change is refused by an ACL (itil users on many instances)
    /// and the instance file says `fallback = "auto"`, the form's "Resolve Incident" (and
    /// "Close Incident") UI actions in a browser holding this session. Rerunning is safe: an
    /// incident already where asked, with the code asked for, is left as it is
    /// ([`Resolved::via`] is `None`).
    ///
    /// Errors: [`ErrorKind::NotFound`] for no such incident; [`ErrorKind::Usage`] for a code
    /// the instance does not offer (naming its codes, with [`NextStep::UseResolutionCode`]
    /// where one is close); [`ErrorKind::Conflict`] for an incident resolved, closed or
    /// canceled otherwise; [`ErrorKind::Forbidden`] for a data policy (missing input, never
    /// worked around) or a refusal the browser may not work around; the browser's errors.
    pub async fn resolve(&self, record: &str, wanted: &Resolution) -> Result<Resolved> {
        let result = self.resolve_incident(record, wanted).await;
        let saved = self.save().await;
        let resolved = result?;
        saved?;
        Ok(resolved)
    }

    async fn resolve_incident(&self, record: &str, asked: &Resolution) -> Result<Resolved> {
        let session = self.session();
        let found = Incident::from_record(&incident::find(session, "incident", record).await?)?;
        let mut remarks = Vec::new();
        // The code is checked against the instance's own choices before anything is sent; the
        // one the incident already holds needs no check.
        let mut wanted = asked.clone();
        if wanted.code != found.close_code {
            match incident::close_codes(session, &found.sys_id).await {
                CloseCodes::Known { choices, source } => {
                    wanted.code =
                        incident::check_code(&self.instance().name, &wanted.code, &choices, source)?
                            .value
                            .clone();
                }
                CloseCodes::Unknown(why) => remarks.push(format!(
                    "the resolution code was not checked before sending: {why}; the instance judges it"
                )),
            }
        }
        let plan = incident::plan(&found, &wanted)?;
        let writes = matches!(plan, Plan::Change(change) if change.writes_resolution());
        if !writes && wanted.notes != found.close_notes {
            remarks.push(format!(
                "{} keeps the resolution notes it has; the notes given differ and were not written",
                found.name()
            ));
        }
        let done = |state: Option<&str>, via: Option<Via>, remarks: Vec<String>| Resolved {
            number: found.number.clone(),
            sys_id: found.sys_id.clone(),
            state: state.map(IncidentState::from_value),
            via,
            remarks,
        };
        let change = match plan {
            Plan::Unchanged => return Ok(done(Some(&found.state), None, remarks)),
            Plan::Change(change) => change,
        };
        match incident::apply(session, &found.sys_id, change, &wanted.code, &wanted.notes).await {
            Ok(updated) => Ok(done(updated.field("state"), Some(Via::Rest), remarks)),
            Err(e) if ui_can_help(&e) && may_fall_back(self) => {
                tracing::info!(error = %e, "the Table API refused the state change; using the browser");
                let updated = self.resolve_in_browser(&found, change, &wanted).await?;
                let via = Via::Browser {
                    refusal: e.message().to_owned(),
                };
                Ok(done(updated.field("state"), Some(via), remarks))
            }
            Err(e) if ui_can_help(&e) => Err(no_fallback(self, e)),
            Err(e) => Err(e),
        }
    }

    #[cfg(feature = "browser")]
    async fn resolve_in_browser(
        &self,
        found: &Incident,
        change: Change,
        wanted: &Resolution,
    ) -> Result<Record> {
        let profile = fallback_profile()?;
        let options = self.snowbridge().fallback_options(profile.path());
        let logged_in = browser_session(self.session(), &options).await?;
        let session = logged_in.as_ref().map_or(self.session(), |(s, _)| s);
        crate::fallback::resolve(
            session,
            found,
            change,
            &wanted.code,
            &wanted.notes,
            &options,
        )
        .await
    }

    #[cfg(not(feature = "browser"))]
    async fn resolve_in_browser(
        &self,
        _found: &Incident,
        _change: Change,
        _wanted: &Resolution,
    ) -> Result<Record> {
        Err(Error::internal("this build has no browser"))
    }
}

/// The UI needs a browser session. A Basic or password-grant session has the user's password:
/// a headless form login gives one, kept in a vault of its own for this run (the instance's
/// stored tokens stay as they are). The other methods have no password: the refusal stands,
/// saying why (exit 5). `None`: the session is a browser session already.
#[cfg(feature = "browser")]
async fn browser_session(
    session: &crate::session::Session,
    options: &crate::fallback::FallbackOptions,
) -> Result<Option<(crate::session::Session, tempfile::TempDir)>> {
    let instance = session.instance();
    let no_browser = |why: &str| {
        Error::forbidden(
            Refusal::Other,
            format!(
                "{} refused this through the API, and the UI fallback needs a browser session: \
                 auth = \"{}\" {why}",
                instance.name, instance.auth
            ),
        )
        .with_hint(format!(
            "use an instance file with auth = \"browser\" (or basic/oauth-password with the \
             password at hand) for work only the UI can do on {}",
            instance.base()
        ))
    };
    let credentials = match (session.auth(), instance.auth) {
        (crate::session::Auth::Cookies, _) => return Ok(None),
        (crate::session::Auth::Basic { user, password }, _) => (user.clone(), password.clone()),
        (_, crate::instance::AuthMethod::OauthPassword) => {
            let password = crate::obtain::secrets::find(
                instance,
                crate::secret::SecretKind::Password,
                &crate::obtain::Given::default(),
            );
            match (instance.username.clone(), password) {
                (Some(user), Some((password, _))) => (user, password),
                _ => {
                    return Err(no_browser(
                        "keeps no password, and none is at hand without a person \
                         (SNOWBRIDGE_PASSWORD or the OS keyring)",
                    ));
                }
            }
        }
        _ => {
            return Err(no_browser(
                "has no user password to log in through the form with",
            ));
        }
    };
    let place = tempfile::Builder::new()
        .prefix("snowbridge-fallback-login-")
        .tempdir()
        .map_err(|e| Error::internal(format!("cannot make a folder for the form login: {e}")))?;
    let vault = std::sync::Arc::new(
        crate::vault::Vault::with_policy(
            place.path().join("sessions"),
            crate::vault::KeyPolicy {
                file: place.path().join("vault.key"),
                use_keyring: false,
                keyring_timeout: std::time::Duration::from_secs(1),
            },
        )
        .on_notice(|_| {}),
    );
    let mut as_browser = instance.clone();
    as_browser.auth = crate::instance::AuthMethod::Browser;
    let mut browser = options.browser.clone();
    browser.headless = Some(true);
    browser.profile_dir = place.path().join("profile");
    tracing::info!("logging in through the form for the UI fallback");
    let login = crate::obtain::login::LoginOptions {
        browser,
        credentials: Some(credentials),
        mfa_code: None,
        remember_me: false,
        timeout: options.timeout,
        // Nobody at the keyboard: a fallback's form login runs unattended.
        prompter: std::sync::Arc::new(crate::prompt::NoPerson),
        diagnostics: options.diagnostics.clone(),
    };
    let logged_in = crate::obtain::login::login(&as_browser, vault, login).await?;
    Ok(Some((logged_in, place)))
}

/// `e`, saying which files were attached before it and which were not tried.
fn partial(e: Error, files: &[LocalFile], attached: &[Attached]) -> Error {
    if files.len() < 2 {
        return e;
    }
    let done = file_names(attached.iter().map(|a| &a.file));
    let left = file_names(files.iter().skip(attached.len() + 1));
    let failed = files
        .get(attached.len())
        .map(|f| file_names(std::iter::once(f)));
    let mut note = match failed {
        Some(failed) => format!("failed on {failed}"),
        None => String::new(),
    };
    note.push_str(&format!(
        "; attached before it: {}",
        if done.is_empty() { "none" } else { &done }
    ));
    if !left.is_empty() {
        note.push_str(&format!("; not tried: {left}"));
    }
    e.with_note(&note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_from_their_values() {
        for state in [
            IncidentState::New,
            IncidentState::InProgress,
            IncidentState::OnHold,
            IncidentState::Resolved,
            IncidentState::Closed,
            IncidentState::Canceled,
        ] {
            assert_eq!(IncidentState::from_value(state.value()), state);
        }
        assert_eq!(IncidentState::from_value("6").label(), "Resolved");
        let custom = IncidentState::from_value("101");
        assert_eq!(custom, IncidentState::Other("101".into()));
        assert_eq!(custom.label(), "101");
        assert!(!custom.is_done());
    }

    #[test]
    fn a_refusal_the_ui_may_work_around_is_an_acl_or_unexplained() {
        assert!(ui_can_help(&Error::forbidden(Refusal::Acl, "no")));
        assert!(ui_can_help(&Error::forbidden(Refusal::Other, "no")));
        assert!(!ui_can_help(&Error::forbidden(
            Refusal::DataPolicy(vec!["Resolution notes".into()]),
            "no"
        )));
        assert!(!ui_can_help(&Error::forbidden(Refusal::Scope, "no")));
        assert!(!ui_can_help(&Error::new(ErrorKind::Instance, "no")));
    }
}
