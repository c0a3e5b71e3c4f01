//! Is the session still good? One cheap authenticated call, skipped when a call succeeded
//! within the instance's validation window. The call goes through [`Session::send`], so an HTML
//! page in place of the reply's JSON (a login page, a hibernating instance) is never `Valid`.

use time::OffsetDateTime;

use super::{Call, Session};
use crate::error::ErrorKind;

/// What the instance said of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validity {
    /// The session works. `checked` is false when a recent success made the round trip needless.
    Valid {
        /// Whether the instance was asked this time.
        checked: bool,
    },
    /// The instance no longer accepts it: a person must log in.
    Expired(String),
    /// The session works, but the instance refused the check (ACL, scope).
    Forbidden(String),
    /// The instance could not be reached, is hibernating, or answered something that is not
    /// ServiceNow's API (an HTML page of a proxy's, say); the message says which.
    Unreachable(String),
}

impl Validity {
    /// True for [`Validity::Valid`] and [`Validity::Forbidden`]: the session itself is alive.
    pub fn is_alive(&self) -> bool {
        matches!(self, Validity::Valid { .. } | Validity::Forbidden(_))
    }
}

impl Session {
    /// Asks the instance whether the session works, unless a call succeeded within the
    /// instance's `validate_every` window and the instance has not said it expired since.
    pub async fn validate(&self, force: bool) -> Validity {
        let window =
            time::Duration::try_from(self.instance.validate_every).unwrap_or(time::Duration::ZERO);
        let fresh = self
            .last_validated()
            .is_some_and(|at| OffsetDateTime::now_utc() - at < window);
        let dead = self
            .base
            .expired_at
            .is_some_and(|dead| self.base.last_validated.is_none_or(|ok| ok <= dead));
        if fresh && !dead && !force {
            return Validity::Valid { checked: false };
        }
        match self.prove().await {
            Ok(None) => Validity::Valid { checked: true },
            Ok(Some(refused)) => Validity::Forbidden(refused),
            Err(e) => match e.kind() {
                ErrorKind::LoginRequired | ErrorKind::Credentials => {
                    Validity::Expired(e.message().to_owned())
                }
                _ => Validity::Unreachable(e.message().to_owned()),
            },
        }
    }

    /// One cheap authenticated call (a token method gets its token first): `Ok` when the
    /// instance took the credentials, even if it refused the call itself (ACL, auth scope:
    /// it knew who we are to refuse us; the refusal's message is returned); the error of the
    /// refusal otherwise.
    pub async fn prove(&self) -> crate::error::Result<Option<String>> {
        let mut target = String::from(
            "/api/now/table/sys_user?sysparm_limit=1&sysparm_fields=sys_id&sysparm_exclude_reference_link=true",
        );
        if let Some(user) = &self.base.user {
            target.push_str("&sysparm_query=user_name%3D");
            target.push_str(
                &url::form_urlencoded::byte_serialize(user.as_bytes()).collect::<String>(),
            );
        }
        match self.send(&Call::get(target)).await {
            Ok(_) => Ok(None),
            Err(e) if e.kind() == ErrorKind::Forbidden => {
                // The instance knew who we are to refuse us: the session is alive.
                self.mark_alive();
                Ok(Some(e.message().to_owned()))
            }
            Err(e) => Err(e),
        }
    }
}
