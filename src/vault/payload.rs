//! The sealed file's plaintext: the one place where secrets are serialized with their values.
//!
//! [`Secret`], [`Cookie`] and [`SessionRecord`] have no `Serialize` of their own, so nothing
//! outside this module can print or export a secret by serializing a public type. The layout is
//! [`FORMAT`] 1 exactly as earlier versions wrote it (field for field, `KeptCookie`'s cookie
//! flattened beside `set_at`), so existing vault files keep opening; format 2 adds `tokens`,
//! written only when there are tokens.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use super::record::{KeptCookie, Obtained, SessionRecord, Tokens};
use crate::cookie::{Cookie, SameSite};
use crate::secret::Secret;

/// A secret written with its value: private to the vault's payload.
#[derive(Clone)]
struct Plain(Secret);

impl Serialize for Plain {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.expose())
    }
}

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Secret::deserialize(d).map(Plain)
    }
}

#[derive(Serialize, Deserialize)]
struct RecordPayload {
    format: u32,
    instance: String,
    url: String,
    user: Option<String>,
    obtained: Obtained,
    #[serde(with = "time::serde::rfc3339")]
    obtained_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_validated: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    expired_at: Option<OffsetDateTime>,
    user_token: Option<Plain>,
    user_agent: Option<String>,
    cookies: Vec<CookiePayload>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tokens: Option<TokensPayload>,
}

#[derive(Serialize, Deserialize)]
struct TokensPayload {
    access_token: Plain,
    refresh_token: Option<Plain>,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    issued_at: OffsetDateTime,
    grant: String,
    scope: Option<String>,
    jti: Option<String>,
}

impl From<&Tokens> for TokensPayload {
    fn from(t: &Tokens) -> Self {
        TokensPayload {
            access_token: Plain(t.access_token.clone()),
            refresh_token: t.refresh_token.clone().map(Plain),
            expires_at: t.expires_at,
            issued_at: t.issued_at,
            grant: t.grant.clone(),
            scope: t.scope.clone(),
            jti: t.jti.clone(),
        }
    }
}

impl From<TokensPayload> for Tokens {
    fn from(t: TokensPayload) -> Self {
        Tokens {
            access_token: t.access_token.0,
            refresh_token: t.refresh_token.map(|r| r.0),
            expires_at: t.expires_at,
            issued_at: t.issued_at,
            grant: t.grant,
            scope: t.scope,
            jti: t.jti,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct CookiePayload {
    name: String,
    value: Plain,
    domain: String,
    host_only: bool,
    path: String,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
    #[serde(with = "time::serde::rfc3339::option")]
    expires: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    set_at: OffsetDateTime,
}

impl From<&SessionRecord> for RecordPayload {
    fn from(r: &SessionRecord) -> Self {
        RecordPayload {
            format: r.format,
            instance: r.instance.clone(),
            url: r.url.clone(),
            user: r.user.clone(),
            obtained: r.obtained.clone(),
            obtained_at: r.obtained_at,
            last_validated: r.last_validated,
            expired_at: r.expired_at,
            user_token: r.user_token.clone().map(Plain),
            user_agent: r.user_agent.clone(),
            cookies: r
                .cookies
                .iter()
                .map(|k| CookiePayload {
                    name: k.cookie.name.clone(),
                    value: Plain(k.cookie.value.clone()),
                    domain: k.cookie.domain.clone(),
                    host_only: k.cookie.host_only,
                    path: k.cookie.path.clone(),
                    secure: k.cookie.secure,
                    http_only: k.cookie.http_only,
                    same_site: k.cookie.same_site,
                    expires: k.cookie.expires,
                    set_at: k.set_at,
                })
                .collect(),
            tokens: r.tokens.as_ref().map(TokensPayload::from),
        }
    }
}

impl From<RecordPayload> for SessionRecord {
    fn from(p: RecordPayload) -> Self {
        SessionRecord {
            format: p.format,
            instance: p.instance,
            url: p.url,
            user: p.user,
            obtained: p.obtained,
            obtained_at: p.obtained_at,
            last_validated: p.last_validated,
            expired_at: p.expired_at,
            user_token: p.user_token.map(|t| t.0),
            user_agent: p.user_agent,
            cookies: p
                .cookies
                .into_iter()
                .map(|c| KeptCookie {
                    cookie: Cookie {
                        name: c.name,
                        value: c.value.0,
                        domain: c.domain,
                        host_only: c.host_only,
                        path: c.path,
                        secure: c.secure,
                        http_only: c.http_only,
                        same_site: c.same_site,
                        expires: c.expires,
                    },
                    set_at: c.set_at,
                })
                .collect(),
            tokens: p.tokens.map(Tokens::from),
        }
    }
}

/// The record as the sealed file's plaintext (JSON), values included.
pub(super) fn to_plaintext(record: &SessionRecord) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&RecordPayload::from(record))
}

/// The record from the sealed file's plaintext.
pub(super) fn from_plaintext(plain: &[u8]) -> serde_json::Result<SessionRecord> {
    serde_json::from_slice::<RecordPayload>(plain).map(SessionRecord::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A format-1 plaintext as snowbridge 0.1 wrote it (serde's derives on the public types).
    const FORMAT_1: &str = r#"{"format":1,"instance":"dev","url":"https://acme.service-now.com","user":"itil.user","obtained":{"kind":"chrome-import","browser":"chromium","profile":"Default"},"obtained_at":"2026-11-20T09:30:00Z","last_validated":null,"expired_at":null,"user_token":"TOKEN-1","user_agent":null,"cookies":[{"name":"JSESSIONID","value":"SESSION-1","domain":"acme.service-now.com","host_only":true,"path":"/","secure":true,"http_only":true,"same_site":"None","expires":null,"set_at":"2026-11-20T09:30:00Z"}]}"#;

    #[test]
    fn the_format_1_layout_reads_and_writes_back_unchanged() {
        let record = from_plaintext(FORMAT_1.as_bytes()).unwrap();
        assert_eq!(record.user_token.as_ref().unwrap().expose(), "TOKEN-1");
        let cookie = &record.cookies[0].cookie;
        assert_eq!(cookie.value.expose(), "SESSION-1");
        assert_eq!(cookie.same_site, Some(SameSite::None));
        assert_eq!(
            record.obtained,
            Obtained::ChromeImport {
                browser: "chromium".into(),
                profile: "Default".into()
            }
        );
        let written = to_plaintext(&record).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&written).unwrap(),
            serde_json::from_str::<serde_json::Value>(FORMAT_1).unwrap()
        );
    }

    #[test]
    fn tokens_are_kept_with_their_expiry_and_grant_in_format_2() {
        let mut record = from_plaintext(FORMAT_1.as_bytes()).unwrap();
        let at = time::macros::datetime!(2026-11-20 09:30:00 UTC);
        record.set_tokens(Tokens {
            access_token: Secret::new("ACCESS-1"),
            refresh_token: Some(Secret::new("REFRESH-1")),
            expires_at: at + time::Duration::seconds(1799),
            issued_at: at,
            grant: "password".into(),
            scope: Some("useraccount".into()),
            jti: None,
        });
        assert_eq!(record.format, 2);
        let back = from_plaintext(&to_plaintext(&record).unwrap()).unwrap();
        assert_eq!(back, record);
        let tokens = back.tokens.unwrap();
        assert_eq!(tokens.refresh_token.as_ref().unwrap().expose(), "REFRESH-1");
        assert_eq!(tokens.lifetime(), time::Duration::seconds(1799));
    }
}
