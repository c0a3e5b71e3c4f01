//! Stage 1: obtaining a session.
//!
//! [`connect`] is the non-interactive way in that scripts and cron jobs use: the stored session
//! if it still works, else the other sources the instance file allows; never a prompt, never a
//! browser. The ways in that need a person or a browser live in the submodules; [`chrome`] reads
//! cookies from the user's own Chrome profile.

pub mod chrome;
pub mod password;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::session::{Session, Validity};
use crate::vault::Vault;

/// Where the session that [`connect`] returns came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connected {
    /// The stored session; `checked` is false when the validation window skipped the round trip.
    Stored {
        /// Whether the instance was asked.
        checked: bool,
    },
}

/// Makes sure a valid session exists for `instance`, without a person: the stored session,
/// validated (or trusted within the validation window). Fails with login required, naming the
/// command to run, when none can be had.
pub async fn connect(instance: &Instance, vault: Arc<Vault>) -> Result<(Session, Connected)> {
    let stored = vault.load(&instance.name)?;
    let Some(record) = stored else {
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
        Validity::Unreachable(why) => Err(Error::new(crate::ErrorKind::Unreachable, why)),
    }
}
