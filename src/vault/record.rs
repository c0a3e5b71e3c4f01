//! What the vault keeps for one instance: plain data. It has no `Serialize`: only the vault's
//! writer (`payload`) turns it into bytes, and only inside the sealed file.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::cookie::Cookie;
use crate::secret::Secret;

/// The newest version of [`SessionRecord`]'s layout this snowbridge reads; a newer file is
/// refused, not misread. Version 2 added [`Tokens`]; a record without tokens is still written as
/// version 1, so older snowbridges keep reading browser sessions.
pub const FORMAT: u32 = 2;

/// The layout of a record without tokens.
const COOKIES_ONLY: u32 = 1;

/// How a session was obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Obtained {
    /// A browser login that snowbridge filled in itself (stored credentials).
    BrowserAutomated,
    /// A browser login finished by a person (SSO, MFA).
    BrowserInteractive,
    /// Cookies imported from the user's own browser profile.
    ChromeImport {
        /// chrome, chromium, edge or brave.
        browser: String,
        /// The profile folder.
        profile: String,
    },
    /// The login form posted over HTTP (used by tests before the browser login existed).
    FormLogin,
    /// Basic, OAuth or certificate authentication.
    Credentials {
        /// The instance file's `auth` value.
        method: String,
    },
}

impl Obtained {
    /// A short description for `status`.
    pub fn describe(&self) -> String {
        match self {
            Obtained::BrowserAutomated => "browser login (automated)".into(),
            Obtained::BrowserInteractive => "browser login (interactive)".into(),
            Obtained::ChromeImport { browser, profile } => {
                format!("imported from {browser} profile {profile:?}")
            }
            Obtained::FormLogin => "login form".into(),
            Obtained::Credentials { method } => format!("signed in with {method}"),
        }
    }
}

/// OAuth tokens a token method obtained (RFC 6749 section 5.1), kept sealed like cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// The access token, sent as `Authorization: Bearer`.
    pub access_token: Secret,
    /// The refresh token, where the grant gave one (password, authorization code).
    pub refresh_token: Option<Secret>,
    /// When the access token expires: the time it was received plus the reply's `expires_in`.
    pub expires_at: OffsetDateTime,
    /// When the access token was received.
    pub issued_at: OffsetDateTime,
    /// The grant that made the access token (`password`, `refresh_token`, `client_credentials`,
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer`, `authorization_code`).
    pub grant: String,
    /// The scopes the reply named (space separated), when it named any.
    pub scope: Option<String>,
    /// For the JWT bearer grant: the `jti` of the assertion it was exchanged for, so that a
    /// `jwt_command` printing the same assertion again is caught before the instance refuses it.
    pub jti: Option<String>,
}

impl Tokens {
    /// The access token's lifetime as the instance gave it.
    pub fn lifetime(&self) -> time::Duration {
        self.expires_at - self.issued_at
    }
}

/// A cookie with the time this side last saw the instance set it, so concurrent writers can
/// tell which of two values is newer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptCookie {
    /// The cookie.
    pub cookie: Cookie,
    /// When the instance set it (as received).
    pub set_at: OffsetDateTime,
}

/// Everything the vault holds for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Layout version ([`FORMAT`]).
    pub format: u32,
    /// The instance's name.
    pub instance: String,
    /// The instance URL the cookies belong to.
    pub url: String,
    /// The user, when known.
    pub user: Option<String>,
    /// How the session was obtained.
    pub obtained: Obtained,
    /// When it was obtained.
    pub obtained_at: OffsetDateTime,
    /// When an authenticated call last succeeded.
    pub last_validated: Option<OffsetDateTime>,
    /// When the instance last said the session is dead (`None` while it is believed alive).
    pub expired_at: Option<OffsetDateTime>,
    /// The CSRF token (`g_ck`) REST calls carry.
    pub user_token: Option<Secret>,
    /// The browser's User-Agent, reused so instances that check it see the same one.
    pub user_agent: Option<String>,
    /// The cookies.
    pub cookies: Vec<KeptCookie>,
    /// The OAuth tokens of a token method (`None` for browser sessions and for Basic, API key
    /// and certificate sessions, which need none).
    pub tokens: Option<Tokens>,
}

impl SessionRecord {
    /// A fresh record for cookies just obtained.
    pub fn new(instance: &str, url: &url::Url, obtained: Obtained, cookies: Vec<Cookie>) -> Self {
        let now = OffsetDateTime::now_utc();
        SessionRecord {
            format: COOKIES_ONLY,
            instance: instance.to_owned(),
            url: url.as_str().trim_end_matches('/').to_owned(),
            user: None,
            obtained,
            obtained_at: now,
            last_validated: None,
            expired_at: None,
            user_token: None,
            user_agent: None,
            cookies: cookies
                .into_iter()
                .map(|cookie| KeptCookie {
                    cookie,
                    set_at: now,
                })
                .collect(),
            tokens: None,
        }
    }

    /// Keeps `tokens` (replacing any), in the layout that holds them.
    pub fn set_tokens(&mut self, tokens: Tokens) {
        self.tokens = Some(tokens);
        self.format = self.format.max(FORMAT);
    }

    /// The cookies alone.
    pub fn cookies(&self) -> impl Iterator<Item = &Cookie> {
        self.cookies.iter().map(|k| &k.cookie)
    }

    /// Drops cookies whose expiry has passed.
    pub fn prune_expired(&mut self, now: OffsetDateTime) {
        self.cookies.retain(|k| !k.cookie.is_expired_at(now));
    }

    /// The latest expiry among persistent cookies that can bring the session back
    /// (`glide_user_session`), when remember-me was used.
    pub fn remember_me_until(&self) -> Option<OffsetDateTime> {
        self.cookies()
            .filter(|c| c.name == "glide_user_session" && !c.value.is_empty())
            .filter_map(|c| c.expires)
            .max()
    }
}
