//! Stage 1: obtaining a session.
//!
//! [`connect`] is the non-interactive way in that scripts and cron jobs use: the stored session
//! if it still works, else the other sources the instance file allows; never a prompt, never a
//! browser. The ways in that need a person or a browser live in the submodules; [`chrome`] reads
//! cookies from the user's own Chrome profile.
//!
//! The other ways in ([`auth_for`]): Basic and API keys with secrets from [`secrets`], tokens
//! from the token endpoint ([`token`], [`jwt`]), client certificates ([`mtls`]). For those,
//! [`connect`] runs the grant itself when the secrets are at hand without a person, and
//! [`sign_in`] takes secrets a person typed.
//!
//! `oauth-pkce` gets its tokens from a person at the browser once ([`pkce::authorize`], run by
//! `connect --login`); from then on its sessions refresh like the password grant's, and
//! [`connect`] refreshes them (or says to run `connect --login`).

#[cfg(feature = "chrome-import")]
#[cfg_attr(docsrs, doc(cfg(feature = "chrome-import")))]
pub mod chrome;
pub mod jwt;
#[cfg(feature = "browser")]
#[cfg_attr(docsrs, doc(cfg(feature = "browser")))]
pub mod login;
pub mod mtls;
pub mod password;
#[cfg(feature = "browser")]
#[cfg_attr(docsrs, doc(cfg(feature = "browser")))]
pub mod pkce;
pub mod secrets;
pub mod token;

use std::sync::Arc;

pub use secrets::Given;

use crate::error::{Error, ErrorKind, NextStep, Result};
use crate::instance::{AuthMethod, Instance};
use crate::session::{Auth, Session, Validity};
use crate::vault::{Obtained, SessionRecord, Stored, Vault};

/// Where a session came from: what [`connect`] found, or the login that made it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Connected {
    /// The stored session; `checked` is false when the validation window skipped the round trip.
    Stored {
        /// Whether the instance was asked.
        checked: bool,
    },
    /// Cookies imported from the user's Chrome profile, as the instance file allows.
    #[cfg(feature = "chrome-import")]
    Imported(Box<chrome::Report>),
    /// Credentials of a method other than the browser, proved with a call; how, in words
    /// ("client_credentials grant", "stored token", "Basic").
    Credentials(String),
    /// A browser login just now (`auth = "browser"`), proved with a REST call.
    LoggedIn,
    /// The authorization code flow just now (`auth = "oauth-pkce"`), its tokens proved.
    Authorized,
}

/// Makes sure a valid session exists for `instance`, without a person: the stored session,
/// validated (or trusted within the validation window); else, when the instance file names a
/// Chrome profile, the cookies imported from it. Fails with login required, naming the command
/// to run, when none can be had.
pub async fn connect(instance: &Instance, vault: Arc<Vault>) -> Result<(Session, Connected)> {
    if instance.auth != AuthMethod::Browser {
        return sign_in(instance, vault, Given::default()).await;
    }
    let why = match stored(instance, vault.clone()).await {
        Ok(found) => return Ok(found),
        Err(e) if e.is_login_required() => e,
        Err(e) => return Err(e),
    };
    let Some(source) = &instance.import_chrome else {
        return Err(why);
    };
    #[cfg(not(feature = "chrome-import"))]
    {
        let _ = source;
        Err(Error::login_required(
            &instance.name,
            format!(
                "{}; the instance file names a Chrome profile to import from, but this build \
                 has no Chrome import (the `chrome-import` feature)",
                why.message()
            ),
        ))
    }
    #[cfg(feature = "chrome-import")]
    {
        let source = chrome::Source::try_from(source)?;
        match import_chrome(instance, vault, &source, false).await {
            Ok((session, report)) => Ok((session, Connected::Imported(Box::new(report)))),
            Err(e) => Err(Error::login_required(
                &instance.name,
                format!(
                    "{}; importing from {} did not help either: {}",
                    why.message(),
                    source.browser,
                    e.message()
                ),
            )),
        }
    }
}

/// Refuses a browser login for the `auth` methods that do not get in through one, rather than
/// failing later in a misleading way.
pub fn supported(instance: &Instance) -> Result<()> {
    if instance.auth == AuthMethod::Browser {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Usage,
        format!(
            "{}: auth = \"{}\" does not log in through the browser",
            instance.source.display(),
            instance.auth
        ),
    )
    .with_steps(if instance.auth == AuthMethod::OauthPkce {
        // The authorization code flow runs in the browser, as a login of its own.
        vec![NextStep::LogIn {
            instance: instance.name.clone(),
        }]
    } else {
        vec![
            NextStep::Connect {
                instance: instance.name.clone(),
            },
            NextStep::FixInstanceFile {
                file: instance.source.clone(),
                key: "auth".into(),
            },
        ]
    }))
}

/// How a session of `instance` authenticates, with the secrets `given` or at hand without a
/// person. Basic and API keys need their secret now (login required naming how to give it);
/// token methods look theirs up when a grant runs; a certificate is loaded now.
pub fn auth_for(instance: &Instance, given: &Given) -> Result<Auth> {
    use secrets::Kind;
    match instance.auth {
        AuthMethod::Browser => Ok(Auth::Cookies),
        AuthMethod::Basic => {
            let user = instance.username.clone().ok_or_else(|| {
                Error::bad_input(format!(
                    "{}: auth = \"basic\" needs username = \"...\"",
                    instance.source.display()
                ))
            })?;
            let (password, _) = secrets::require(instance, Kind::Password, given)?;
            Ok(Auth::Basic { user, password })
        }
        AuthMethod::ApiKey => Ok(Auth::ApiKey(
            secrets::require(instance, Kind::ApiKey, given)?.0,
        )),
        AuthMethod::OauthPassword
        | AuthMethod::OauthPkce
        | AuthMethod::OauthClientCredentials
        | AuthMethod::Jwt => Ok(Auth::Bearer(Arc::new(token::Renewer::new(
            instance,
            given.clone(),
        )?))),
        AuthMethod::Mtls => Ok(Auth::Certificate(mtls::certificate(instance, given)?)),
    }
}

/// What a method other than the browser stores before its first call: who, and how.
pub fn fresh_record(instance: &Instance) -> SessionRecord {
    let mut record = SessionRecord::new(
        &instance.name,
        &instance.url,
        Obtained::Credentials {
            method: instance.auth.as_str().to_owned(),
        },
        Vec::new(),
    );
    record.user = match instance.auth {
        AuthMethod::Jwt => instance
            .oauth
            .as_ref()
            .and_then(|o| o.jwt_subject.clone())
            .or_else(|| instance.username.clone()),
        AuthMethod::OauthClientCredentials | AuthMethod::ApiKey | AuthMethod::Mtls => None,
        _ => instance.username.clone(),
    };
    record
}

/// A session of a method other than the browser, proved with one authenticated call: the
/// stored tokens where they still work, else the method's grant with the secrets `given` (typed
/// by a person) or at hand. Secrets given always run a new grant with them (a person typed a
/// password or client secret to sign in anew, not to be told the old token still works). What
/// is proved is stored; a failure leaves the vault as it was.
pub async fn sign_in(
    instance: &Instance,
    vault: Arc<Vault>,
    given: Given,
) -> Result<(Session, Connected)> {
    let fresh = fresh_record(instance);
    let stored = match vault.inspect(&instance.name)? {
        Stored::Session(record) => Some(*record).filter(|r| r.obtained == fresh.obtained),
        Stored::Nothing => None,
        Stored::Unreadable(why) => {
            passing_over(&why);
            None
        }
    };
    let mut record = stored.unwrap_or(fresh);
    let for_grant = match instance.auth {
        AuthMethod::OauthPassword => [secrets::Kind::Password, secrets::Kind::ClientSecret]
            .iter()
            .any(|&k| given.get(k).is_some()),
        AuthMethod::OauthClientCredentials | AuthMethod::Jwt => {
            given.get(secrets::Kind::ClientSecret).is_some()
        }
        _ => false,
    };
    let before = record.tokens.as_ref().map(|t| t.issued_at);
    let auth = auth_for(instance, &given)?;
    if for_grant && let Auth::Bearer(renew) = &auth {
        // Run here, not left to the session: it would take a token another process stored.
        let granted = renew.renew(record.tokens.as_ref()).await?;
        record.set_tokens(granted);
    }
    let session = Session::with_auth(instance, vault.clone(), record, auth)?;
    session.prove().await?;
    let kept = session.record().clone();
    let tokens = session.tokens();
    // Proved: it replaces what was stored, a file that cannot be read included.
    vault.update_or_replace(&instance.name, |slot| {
        match slot {
            Some(stored) if stored.obtained == kept.obtained => {
                // Tokens granted here are newer than the stored ones; a renewal by another
                // process meanwhile is newer still.
                if let Some(tokens) = &tokens
                    && stored
                        .tokens
                        .as_ref()
                        .is_none_or(|s| s.issued_at < tokens.issued_at)
                {
                    stored.set_tokens(tokens.clone());
                }
            }
            _ => {
                let mut record = kept.clone();
                record.tokens = None;
                if let Some(tokens) = &tokens {
                    record.set_tokens(tokens.clone());
                }
                *slot = Some(record);
            }
        }
        Ok(())
    })?;
    session.save()?;
    let how = match (&tokens, session.auth()) {
        (Some(t), _) if Some(t.issued_at) != before => format!("{} grant", t.grant),
        (Some(_), _) => "stored token".to_owned(),
        (None, Auth::Basic { .. }) => "Basic".to_owned(),
        (None, Auth::ApiKey(_)) => "API key".to_owned(),
        (None, Auth::Certificate(c)) => format!("client certificate {}", c.file.display()),
        (None, _) => instance.auth.as_str().to_owned(),
    };
    Ok((session, Connected::Credentials(how)))
}

/// Tells the person that the stored session of a method that needs no person cannot be read
/// and that a new one is being obtained without it: the new session replaces the file once the
/// instance accepts it, as a new login would.
pub(crate) fn passing_over(why: &Error) {
    tracing::warn!(
        target: crate::NOTICE_TARGET,
        "{}; obtaining a new session from the credentials, which replaces it once the instance accepts them",
        why.message()
    );
}

/// Stores what `session` (a token method's, just proved) holds as the session of its instance,
/// replacing what was stored: for flows that obtain tokens themselves (`oauth-pkce`'s
/// authorization code). Its tokens as they stand now, a renewal during the proof included.
pub fn keep_tokens(vault: &Vault, session: &Session) -> Result<()> {
    let mut record = session.record().clone();
    if let Some(tokens) = session.tokens() {
        record.set_tokens(tokens);
    }
    vault.store(&record)?;
    session.save()
}

async fn stored(instance: &Instance, vault: Arc<Vault>) -> Result<(Session, Connected)> {
    let Some(record) = vault.load(&instance.name)? else {
        return Err(Error::login_required(
            &instance.name,
            format!("no stored session for {}", instance.name),
        ));
    };
    let session = Session::from_record(instance, vault, record)?;
    match session.validate(false).await {
        Validity::Valid { checked } => Ok((session, Connected::Stored { checked })),
        Validity::Forbidden(_) => Ok((session, Connected::Stored { checked: true })),
        Validity::Expired(why) => {
            session.save()?;
            Err(Error::login_required(&instance.name, why))
        }
        Validity::Unreachable(why) => Err(Error::new(ErrorKind::Unreachable, why)),
    }
}

/// Imports the session from a Chrome profile, proves it with a REST call, and only then stores
/// it in the vault (replacing what was there). `interactive` allows keyring unlock prompts.
#[cfg(feature = "chrome-import")]
#[cfg_attr(docsrs, doc(cfg(feature = "chrome-import")))]
pub async fn import_chrome(
    instance: &Instance,
    vault: Arc<Vault>,
    source: &chrome::Source,
    interactive: bool,
) -> Result<(Session, chrome::Report)> {
    let import = chrome::import(source, &instance.url, interactive).await?;
    if import.cookies.is_empty() {
        return Err(
            Error::new(ErrorKind::LoginRequired, import.report.to_string()).with_steps([
                NextStep::LogInToBrowserProfile {
                    url: instance.base().to_owned(),
                },
                NextStep::LogIn {
                    instance: instance.name.clone(),
                },
            ]),
        );
    }
    let profile = import
        .profile
        .as_ref()
        .map(|p| p.dir.clone())
        .unwrap_or_else(|| source.profile.clone().unwrap_or_default());
    let mut record = SessionRecord::new(
        &instance.name,
        &instance.url,
        Obtained::ChromeImport {
            browser: source.browser.to_string(),
            profile,
        },
        import.cookies,
    );
    record.user = instance.username.clone();
    record.user_agent = import.user_agent;
    let session = Session::from_record(instance, vault.clone(), record)?;
    match session.validate(true).await {
        Validity::Valid { .. } | Validity::Forbidden(_) => {}
        Validity::Expired(why) => {
            return Err(Error::new(
                ErrorKind::LoginRequired,
                format!(
                    "the cookies in the profile no longer work: {why} ({})",
                    import.report
                ),
            )
            .with_steps([
                NextStep::LogInToBrowserProfile {
                    url: instance.base().to_owned(),
                },
                NextStep::LogIn {
                    instance: instance.name.clone(),
                },
            ]));
        }
        Validity::Unreachable(why) => return Err(Error::new(ErrorKind::Unreachable, why)),
    }
    // The new session is in hand: only now does it replace what the vault held.
    vault.store(session.record())?;
    session.save()?;
    Ok((session, import.report))
}
