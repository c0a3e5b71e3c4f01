//! Stage 1: obtaining a session.
//!
//! [`connect`] is the non-interactive way in that scripts and cron jobs use: the stored session
//! if it still works, else the other sources the instance file allows; never a prompt, never a
//! browser. The ways in that need a person or a browser live in the submodules; [`chrome`] reads
//! cookies from the user's own Chrome profile.

pub mod chrome;
pub mod login;
pub mod password;

use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::instance::{AuthMethod, Instance};
use crate::session::{Session, Validity};
use crate::vault::{Obtained, SessionRecord, Vault};

/// Where the session that [`connect`] returns came from.
#[derive(Debug)]
pub enum Connected {
    /// The stored session; `checked` is false when the validation window skipped the round trip.
    Stored {
        /// Whether the instance was asked.
        checked: bool,
    },
    /// Cookies imported from the user's Chrome profile, as the instance file allows.
    Imported(Box<chrome::Report>),
}

/// Makes sure a valid session exists for `instance`, without a person: the stored session,
/// validated (or trusted within the validation window); else, when the instance file names a
/// Chrome profile, the cookies imported from it. Fails with login required, naming the command
/// to run, when none can be had.
pub async fn connect(instance: &Instance, vault: Arc<Vault>) -> Result<(Session, Connected)> {
    supported(instance)?;
    let why = match stored(instance, vault.clone()).await {
        Ok(found) => return Ok(found),
        Err(e) if e.is_login_required() => e,
        Err(e) => return Err(e),
    };
    let Some(source) = &instance.import_chrome else {
        return Err(why);
    };
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

/// Refuses the `auth` methods this version cannot use yet, rather than failing later in a
/// misleading way.
pub fn supported(instance: &Instance) -> Result<()> {
    if instance.auth == AuthMethod::Browser {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Usage,
        format!(
            "{}: auth = \"{}\" is not supported by this version of snowbridge; only browser sessions are",
            instance.source.display(),
            instance.auth
        ),
    )
    .with_hint("use auth = \"browser\" (a browser login, or cookies imported from Chrome)"))
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
pub async fn import_chrome(
    instance: &Instance,
    vault: Arc<Vault>,
    source: &chrome::Source,
    interactive: bool,
) -> Result<(Session, chrome::Report)> {
    let import = chrome::import(source, &instance.url, interactive).await?;
    if import.cookies.is_empty() {
        return Err(
            Error::new(ErrorKind::LoginRequired, import.report.to_string()).with_hint(format!(
                "log in to {} in that browser profile, or run `snowbridge connect {} --login`",
                instance.base(),
                instance.name
            )),
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
            .with_hint(format!(
                "log in to {} in that browser again, or run `snowbridge connect {} --login`",
                instance.base(),
                instance.name
            )));
        }
        Validity::Unreachable(why) => return Err(Error::new(ErrorKind::Unreachable, why)),
    }
    // The new session is in hand: only now does it replace what the vault held.
    vault.store(session.record())?;
    session.save()?;
    Ok((session, import.report))
}
