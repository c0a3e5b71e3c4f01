//! How a session proves who it is, one way per `auth` method: the browser's cookies (plus
//! `X-UserToken`), HTTP Basic, an `x-sn-apikey` header, a Bearer token that is renewed before
//! it expires, or a client certificate presented in the TLS handshake.
//!
//! Getting credentials (secrets, grants, keys) is stage 1's work ([`crate::obtain`]); this module
//! only holds them and knows when a Bearer token is due for renewal. A Bearer session renews
//! through the [`Renew`] its obtainer hands it.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::error::Result;
use crate::secret::Secret;
use crate::vault::Tokens;

/// The future a [`Renew`] returns.
pub type Renewal<'a> = Pin<Box<dyn Future<Output = Result<Tokens>> + Send + 'a>>;

/// Gets fresh tokens for a Bearer session: a refresh (password grant, authorization code) or the
/// grant run again (client credentials, JWT bearer). Implemented per method in `obtain::token`.
pub trait Renew: Send + Sync {
    /// New tokens replacing `current` (the tokens in hand, whose refresh token a refresh uses).
    /// Errors are the library's, with the message and exit code of the refusal.
    fn renew<'a>(&'a self, current: Option<&'a Tokens>) -> Renewal<'a>;

    /// The grant this renewer runs, for messages (`refresh_token`, `client_credentials`, ...).
    fn grant(&self) -> &str;
}

/// A client certificate and what to say about it.
#[derive(Clone)]
pub struct Certificate {
    /// The certificate chain and its key, for the TLS handshake.
    pub identity: reqwest::Identity,
    /// The certificate file (from the instance file's `[mtls] cert`).
    pub file: PathBuf,
}

/// How requests authenticate.
#[derive(Clone)]
#[non_exhaustive]
pub enum Auth {
    /// Browser session cookies, with the CSRF token (`X-UserToken`) on REST calls.
    Cookies,
    /// HTTP Basic (RFC 7617).
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: Secret,
    },
    /// An API key, sent as the header `x-sn-apikey`.
    ApiKey(Secret),
    /// OAuth 2 Bearer tokens (RFC 6750), renewed through the renewer.
    Bearer(Arc<dyn Renew>),
    /// A client certificate, presented during the TLS handshake; no header.
    Certificate(Certificate),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Cookies => f.write_str("Cookies"),
            Auth::Basic { user, .. } => write!(f, "Basic({user})"),
            Auth::ApiKey(_) => f.write_str("ApiKey(***)"),
            Auth::Bearer(r) => write!(f, "Bearer({})", r.grant()),
            Auth::Certificate(c) => write!(f, "Certificate({})", c.file.display()),
        }
    }
}

/// How long before its expiry a Bearer token is renewed: a tenth of its lifetime, at most 60
/// seconds (so a 30-minute token is renewed a minute early, a 5-second one half a second early).
/// The request then never leaves with a token known to be about to expire.
pub fn renewal_margin(lifetime: Duration) -> Duration {
    let tenth: Duration = lifetime / 10;
    tenth.clamp(Duration::ZERO, Duration::seconds(60))
}

/// True when `tokens` should be renewed before a request goes out at `now`.
pub fn due(tokens: &Tokens, now: OffsetDateTime) -> bool {
    now + renewal_margin(tokens.lifetime()) >= tokens.expires_at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(lifetime: i64) -> Tokens {
        let at = time::macros::datetime!(2026-11-20 09:30:00 UTC);
        Tokens {
            access_token: Secret::new("a"),
            refresh_token: None,
            expires_at: at + Duration::seconds(lifetime),
            issued_at: at,
            grant: "password".into(),
            scope: None,
            jti: None,
        }
    }

    #[test]
    fn tokens_are_due_a_tenth_of_their_life_early_at_most_a_minute() {
        assert_eq!(
            renewal_margin(Duration::seconds(1799)),
            Duration::seconds(60)
        );
        assert_eq!(
            renewal_margin(Duration::seconds(5)),
            Duration::milliseconds(500)
        );
        let t = tokens(1799);
        assert!(!due(&t, t.expires_at - Duration::seconds(61)));
        assert!(due(&t, t.expires_at - Duration::seconds(59)));
        let t = tokens(4);
        assert!(!due(&t, t.issued_at + Duration::seconds(3)));
        assert!(due(&t, t.issued_at + Duration::milliseconds(3700)));
    }
}
