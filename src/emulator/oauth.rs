//! The OAuth 2 provider: `POST /oauth_token.do` (grants `password`, `refresh_token`,
//! `authorization_code`, `client_credentials`, `urn:ietf:params:oauth:grant-type:jwt-bearer`),
//! `POST /oauth_revoke_token.do`, and the bookkeeping of refresh tokens, authorization codes,
//! pending consents and seen `jti`s. `/oauth_auth.do` and its consent page are in `authorize`.
//!
//! As on an instance, the token endpoint reads `application/x-www-form-urlencoded` bodies only
//! (never the query string), takes client credentials in the body or as HTTP Basic, and refuses
//! every failed grant alike: `401 {"error_description":"access_denied","error":"server_error"}`.
//! Why it refused is kept for tests ([`Control::oauth_refusals`](super::Control)).
//! Access tokens live in `AppState::tokens`, where Bearer authentication finds them.
//!
//! Hand-written rather than built on an OAuth server crate: the instance's quirks (one refusal
//! for every cause, form bodies only, the client-credentials property and application user)
//! are what the emulator is for, and the grants themselves are a few checks each.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::auth;
use super::auth_config::{OAuthApp, RefreshTokenReply};
use super::authorize;
use super::jwt;
use super::reply;
use super::schema::SYS_USER;
use super::state::{AppState, BearerToken, lock};
use super::store;

/// The grant type of JWT bearer assertions (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The provider's routes, merged into the instance's router.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/oauth_token.do", post(token))
        .route("/oauth_revoke_token.do", post(revoke))
        .route(
            "/oauth_auth.do",
            get(authorize::show).post(authorize::decide),
        )
}

/// A refresh token and what it grants.
#[derive(Clone, Debug)]
struct RefreshGrant {
    client_id: String,
    user: String,
    scopes: Vec<String>,
    expires: OffsetDateTime,
    /// Access tokens issued under it, revoked with it.
    access_tokens: Vec<String>,
}

/// An authorization code waiting for its exchange.
#[derive(Clone, Debug)]
pub struct CodeGrant {
    pub client_id: String,
    pub user: String,
    pub scopes: Vec<String>,
    /// The `redirect_uri` the authorize call carried (`None` when it named none).
    pub redirect_uri: Option<String>,
    /// The S256 `code_challenge`, if the authorize call carried one.
    pub code_challenge: Option<String>,
    pub expires: OffsetDateTime,
}

/// An authorize call shown its consent page, waiting for Allow or Deny.
#[derive(Clone, Debug)]
pub struct PendingConsent {
    /// The session that saw the page; only it can answer.
    pub session_id: String,
    pub grant: CodeGrant,
    /// Where Allow and Deny send the browser.
    pub redirect_to: String,
    pub state: String,
    pub expires: OffsetDateTime,
}

/// The provider's state. Access tokens are in `AppState::tokens`.
pub struct OAuthState {
    data_dir: PathBuf,
    /// Public keys of the key pairs made for verifier maps, by `kid`.
    made_keys: RwLock<HashMap<String, String>>,
    refresh: Mutex<HashMap<String, RefreshGrant>>,
    pub codes: Mutex<HashMap<String, CodeGrant>>,
    pub pending: Mutex<HashMap<String, PendingConsent>>,
    /// `jti`s seen, until their assertion could no longer be used anyway.
    seen_jti: Mutex<HashMap<String, OffsetDateTime>>,
    refusals: Mutex<Vec<String>>,
}

impl OAuthState {
    /// Loads the verifier maps' key pairs from `DATA/jwt/`, and with `make_keys` makes the
    /// missing ones (otherwise they are made when asked for, see [`OAuthState::key_paths`]).
    pub fn prepare(
        data_dir: PathBuf,
        apps: &[OAuthApp],
        make_keys: bool,
    ) -> std::io::Result<OAuthState> {
        let made = jwt::prepare_keys(&data_dir, apps, make_keys)?;
        Ok(OAuthState {
            data_dir,
            made_keys: RwLock::new(made),
            refresh: Mutex::default(),
            codes: Mutex::default(),
            pending: Mutex::default(),
            seen_jti: Mutex::default(),
            refusals: Mutex::default(),
        })
    }

    /// The private and public key files of `kid`, made first where they are missing.
    pub fn key_paths(
        &self,
        kid: &str,
        key_type: super::auth_config::JwtKeyType,
    ) -> std::io::Result<(PathBuf, PathBuf)> {
        let known = self
            .made_keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(kid);
        if !known {
            self.make_key(kid, key_type)?;
        }
        Ok(jwt::key_paths(&self.data_dir, kid))
    }

    /// Makes (or reloads) a key pair for `kid` and lets verifiers without a public key use it.
    fn make_key(&self, kid: &str, key_type: super::auth_config::JwtKeyType) -> std::io::Result<()> {
        let public = jwt::load_or_make(&self.data_dir, kid, key_type)?;
        self.made_keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(kid.to_string(), public);
        Ok(())
    }

    /// Why grants were refused, oldest first.
    pub fn refusals(&self) -> Vec<String> {
        lock(&self.refusals).clone()
    }

    fn note_refusal(&self, why: &str) {
        tracing::debug!(target: "snowbridge::emulator", why, "token request refused");
        lock(&self.refusals).push(why.to_string());
    }
}

/// A random token: 48 bytes, base64url (what an instance's tokens look like in length).
pub fn new_token() -> String {
    let bytes: [u8; 48] = rand::random();
    B64URL.encode(bytes)
}

/// Why a grant was refused (kept for tests; the client sees the one refusal).
#[derive(Debug)]
struct Refused(String);

fn refused<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(why.into()))
}

/// The token endpoint's refusal, the same whatever the cause.
pub fn refusal() -> Response {
    reply::json(
        StatusCode::UNAUTHORIZED,
        &json!({"error_description": "access_denied", "error": "server_error"}),
    )
}

/// `POST /oauth_token.do`.
async fn token(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    match grant(&state, &headers, &body).await {
        Ok(reply) => reply::json(StatusCode::OK, &json!(reply)),
        Err(Refused(why)) => {
            state.oauth.note_refusal(&why);
            refusal()
        }
    }
}

/// The body's parameters: form-encoded only, each at most once.
fn form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, Refused> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return refused(format!(
            "the body is {content_type:?}, not application/x-www-form-urlencoded"
        ));
    }
    let mut params = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        if params
            .insert(name.to_string(), value.into_owned())
            .is_some()
        {
            return refused(format!("the parameter {name} is repeated"));
        }
    }
    Ok(params)
}

/// `client_id` and `client_secret` from HTTP Basic, if the request carries it.
fn basic_client(headers: &HeaderMap) -> Result<Option<(String, String)>, Refused> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or("").trim();
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return refused("an Authorization header that is not Basic");
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return refused("an Authorization header that is not Basic");
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    match decoded.as_deref().and_then(|d| d.split_once(':')) {
        Some((id, secret)) => Ok(Some((id.to_string(), secret.to_string()))),
        None => refused("unreadable Basic credentials"),
    }
}

/// The registered application with `client_id`.
pub fn registered_app(state: &AppState, client_id: &str) -> Option<OAuthApp> {
    state
        .config()
        .oauth
        .apps
        .iter()
        .find(|a| a.client_id == client_id)
        .cloned()
}

/// The registered app the request authenticates as: a confidential client by its secret, a
/// public one by its id alone (PKCE then proves the rest).
fn client(
    state: &AppState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<OAuthApp, Refused> {
    let basic = basic_client(headers)?;
    let body_id = params.get("client_id").filter(|s| !s.is_empty());
    let body_secret = params.get("client_secret").filter(|s| !s.is_empty());
    let client_id = match (&basic, body_id) {
        (Some((a, _)), Some(b)) if a != b => {
            return refused("client_id differs between Basic and the body");
        }
        (Some((id, _)), _) => id.clone(),
        (None, Some(id)) => id.clone(),
        (None, None) => return refused("no client_id"),
    };
    let basic_secret = basic.map(|(_, s)| s).filter(|s| !s.is_empty());
    let secret = match (basic_secret, body_secret) {
        (Some(a), Some(b)) if &a != b => {
            return refused("client_secret differs between Basic and the body");
        }
        (Some(s), _) => Some(s),
        (None, Some(s)) => Some(s.clone()),
        (None, None) => None,
    };
    let Some(app) = registered_app(state, &client_id) else {
        return refused(format!("no application has client_id {client_id}"));
    };
    match (&app.client_secret, secret) {
        (Some(expected), Some(given)) if *expected == given => Ok(app),
        (Some(_), Some(_)) => refused(format!("wrong client_secret for {client_id}")),
        (Some(_), None) => refused(format!("no client_secret for {client_id}")),
        (None, None) => Ok(app),
        (None, Some(_)) => refused(format!("a client_secret for the public client {client_id}")),
    }
}

/// The scopes a grant gives: those asked for that the app holds, or all the app holds.
pub fn granted_scopes(held: &[String], asked: Option<&str>) -> Result<Vec<String>, String> {
    let asked: Vec<&str> = asked.unwrap_or("").split_whitespace().collect();
    if asked.is_empty() {
        return Ok(held.to_vec());
    }
    let granted: Vec<String> = asked
        .iter()
        .filter(|s| held.iter().any(|h| h == *s))
        .map(|s| s.to_string())
        .collect();
    if granted.is_empty() {
        return Err(format!(
            "scope {:?} is none of the app's ({})",
            asked.join(" "),
            held.join(" ")
        ));
    }
    Ok(granted)
}

fn require<'a>(params: &'a HashMap<String, String>, name: &str) -> Result<&'a str, Refused> {
    match params.get(name).map(String::as_str) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => refused(format!("no {name}")),
    }
}

fn confidential(app: &OAuthApp, grant: &str) -> Result<(), Refused> {
    if app.is_public() {
        return refused(format!(
            "the public client {} cannot use the {grant} grant",
            app.client_id
        ));
    }
    Ok(())
}

async fn grant(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TokenReply, Refused> {
    let params = form(headers, body)?;
    let grant_type = require(&params, "grant_type")?.to_string();
    let app = client(state, headers, &params)?;
    let asked = params.get("scope").map(String::as_str);
    let scopes = |held: &[String]| granted_scopes(held, asked).map_err(Refused);
    match grant_type.as_str() {
        "password" => {
            confidential(&app, "password")?;
            let user_name = require(&params, "username")?;
            let password = require(&params, "password")?;
            let record = auth::load_user(state, user_name)
                .await
                .map_err(|_| Refused("the user table could not be read".into()))?;
            let Some(record) = record.filter(|r| auth::password_ok(state, r, password)) else {
                return refused(format!("wrong password for {user_name}, or no such user"));
            };
            let user = record.get("user_name").cloned().unwrap_or_default();
            Ok(issue(state, &app, &user, scopes(&app.scopes)?, true))
        }
        "refresh_token" => refresh(state, &app, require(&params, "refresh_token")?, asked).await,
        "authorization_code" => {
            let code = require(&params, "code")?;
            exchange_code(state, &app, code, &params).await
        }
        "client_credentials" => {
            confidential(&app, "client_credentials")?;
            if !state.config().properties.client_credentials_grant_enabled {
                return refused(
                    "glide.oauth.inbound.client.credential.grant_type.enabled is false",
                );
            }
            let Some(user) = app.application_user.clone() else {
                return refused(format!(
                    "{} has no OAuth Application User for client_credentials",
                    app.client_id
                ));
            };
            active_user(state, "user_name", &user).await?;
            Ok(issue(state, &app, &user, scopes(&app.scopes)?, false))
        }
        JWT_BEARER => {
            confidential(&app, "jwt-bearer")?;
            let assertion = require(&params, "assertion")?;
            let verified = {
                let made = state
                    .oauth
                    .made_keys
                    .read()
                    .unwrap_or_else(|e| e.into_inner());
                jwt::verify(assertion, &app, &made, state.now()).map_err(Refused)?
            };
            if let Some(jti) = &verified.jti {
                let now = state.now();
                let mut seen = lock(&state.oauth.seen_jti);
                seen.retain(|_, until| *until >= now);
                if seen.contains_key(jti) {
                    return refused(format!("the assertion's jti {jti:?} was seen before"));
                }
                seen.insert(jti.clone(), verified.usable_until);
            }
            let field = app.jwt_user_field.column();
            let user = active_user(state, field, &verified.sub).await?;
            Ok(issue(state, &app, &user, scopes(&app.scopes)?, false))
        }
        other => refused(format!("unsupported grant_type {other:?}")),
    }
}

/// The user name of the active user whose `field` is `value`.
async fn active_user(state: &Arc<AppState>, field: &str, value: &str) -> Result<String, Refused> {
    let (field_owned, value_owned) = (field.to_string(), value.to_string());
    let record = state
        .store
        .run(move |conn| store::find_by(conn, &SYS_USER, &field_owned, &value_owned))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .filter(|r| r.get("active").map(String::as_str) == Some("true"));
    match record.and_then(|r| r.get("user_name").cloned()) {
        Some(user) => Ok(user),
        None => refused(format!("no active user with {field} {value:?}")),
    }
}

async fn refresh(
    state: &Arc<AppState>,
    app: &OAuthApp,
    refresh_token: &str,
    asked: Option<&str>,
) -> Result<TokenReply, Refused> {
    let now = state.now();
    let grant = lock(&state.oauth.refresh).get(refresh_token).cloned();
    let Some(grant) = grant else {
        return refused("an unknown or revoked refresh token");
    };
    if grant.client_id != app.client_id {
        return refused("a refresh token of another client");
    }
    if now >= grant.expires {
        return refused("an expired refresh token");
    }
    active_user(state, "user_name", &grant.user).await?;
    let scopes = granted_scopes(&grant.scopes, asked).map_err(Refused)?;
    let access = new_access_token(state, app, &grant.user, &scopes);
    if let Some(grant) = lock(&state.oauth.refresh).get_mut(refresh_token) {
        grant.access_tokens.push(access.clone());
    }
    let mut reply = TokenReply::new(app, access, &scopes);
    if state.config().oauth.refresh_token_reply == RefreshTokenReply::Repeat {
        reply.refresh_token = Some(refresh_token.to_string());
    }
    Ok(reply)
}

async fn exchange_code(
    state: &Arc<AppState>,
    app: &OAuthApp,
    code: &str,
    params: &HashMap<String, String>,
) -> Result<TokenReply, Refused> {
    // Taken out at once: a code is good for one exchange, whatever its outcome.
    let grant = lock(&state.oauth.codes).remove(code);
    let Some(grant) = grant else {
        return refused("an unknown or already used authorization code");
    };
    if grant.client_id != app.client_id {
        return refused("an authorization code of another client");
    }
    if state.now() >= grant.expires {
        return refused("an expired authorization code");
    }
    let redirect_uri = params.get("redirect_uri").filter(|s| !s.is_empty());
    if redirect_uri != grant.redirect_uri.as_ref() {
        return refused(format!(
            "redirect_uri {redirect_uri:?} differs from the authorize call's {:?}",
            grant.redirect_uri
        ));
    }
    match (&grant.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !verifier_ok(verifier) {
                return refused("a code_verifier that is not 43-128 unreserved characters");
            }
            if s256(verifier) != *challenge {
                return refused("the code_verifier does not match the code_challenge");
            }
        }
        (Some(_), None) => return refused("no code_verifier for a PKCE code"),
        // Public clients got no code without a challenge; confidential ones proved their secret.
        (None, _) => {}
    }
    active_user(state, "user_name", &grant.user).await?;
    Ok(issue(state, app, &grant.user, grant.scopes, true))
}

/// RFC 7636: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn verifier_ok(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
}

/// `BASE64URL(SHA256(verifier))`, the S256 code challenge.
pub fn s256(verifier: &str) -> String {
    B64URL.encode(Sha256::digest(verifier.as_bytes()))
}

fn new_access_token(state: &AppState, app: &OAuthApp, user: &str, scopes: &[String]) -> String {
    let access = new_token();
    let lifespan = time::Duration::seconds(seconds(app.access_token_lifespan_secs));
    lock(&state.tokens).insert(
        access.clone(),
        BearerToken {
            user: user.to_string(),
            scopes: scopes.to_vec(),
            expires: state.now() + lifespan,
        },
    );
    access
}

fn seconds(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX / 2)
}

/// The token endpoint's success reply.
#[derive(Debug, Serialize)]
struct TokenReply {
    access_token: String,
    /// Absent where the grant gives none (client credentials, JWT, a refresh by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    scope: String,
    token_type: &'static str,
    /// One less than the lifespan, as instances answer (1799 for 1800).
    expires_in: u64,
}

impl TokenReply {
    fn new(app: &OAuthApp, access_token: String, scopes: &[String]) -> TokenReply {
        TokenReply {
            access_token,
            refresh_token: None,
            scope: scopes.join(" "),
            token_type: "Bearer",
            expires_in: app.access_token_lifespan_secs.saturating_sub(1).max(1),
        }
    }
}

/// Issues an access token, and a refresh token where the grant gives one.
fn issue(
    state: &AppState,
    app: &OAuthApp,
    user: &str,
    scopes: Vec<String>,
    with_refresh: bool,
) -> TokenReply {
    let access = new_access_token(state, app, user, &scopes);
    let mut reply = TokenReply::new(app, access.clone(), &scopes);
    if with_refresh {
        let refresh_token = new_token();
        let lifespan = time::Duration::seconds(seconds(app.refresh_token_lifespan_secs));
        lock(&state.oauth.refresh).insert(
            refresh_token.clone(),
            RefreshGrant {
                client_id: app.client_id.clone(),
                user: user.to_string(),
                scopes,
                expires: state.now() + lifespan,
                access_tokens: vec![access],
            },
        );
        reply.refresh_token = Some(refresh_token);
    }
    reply
}

/// Revokes an access or refresh token; a refresh token takes its access tokens with it
/// (RFC 7009). `true` when the token was live.
pub fn revoke_token(state: &AppState, token: &str) -> bool {
    if let Some(grant) = lock(&state.oauth.refresh).remove(token) {
        let mut tokens = lock(&state.tokens);
        for access in grant.access_tokens {
            tokens.remove(&access);
        }
        return true;
    }
    lock(&state.tokens).remove(token).is_some()
}

/// `POST /oauth_revoke_token.do?token=...`: no authentication; `200` whether or not the token
/// was live (RFC 7009), `400` without one.
async fn revoke(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let token = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .filter(|t| !t.is_empty());
    match token {
        Some(token) => {
            revoke_token(&state, &token);
            reply::raw(StatusCode::OK, reply::JSON_TYPE, "")
        }
        None => reply::json(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_request", "error_description": "token is required"}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_asked_for_must_be_held() {
        let held = vec!["useraccount".to_string(), "incident_read".to_string()];
        assert_eq!(granted_scopes(&held, None).unwrap(), held);
        assert_eq!(
            granted_scopes(&held, Some("incident_read other")).unwrap(),
            ["incident_read"]
        );
        assert!(granted_scopes(&held, Some("incident_write")).is_err());
    }

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(verifier_ok("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!verifier_ok("short"));
        assert!(!verifier_ok(&"a".repeat(42)));
        assert!(!verifier_ok(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn only_form_bodies_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=UTF-8"
                .parse()
                .unwrap(),
        );
        let params = form(&headers, b"grant_type=password&username=a%2Bb").unwrap();
        assert_eq!(params["username"], "a+b");
        assert!(form(&headers, b"a=1&a=2").is_err());
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(form(&headers, b"{\"grant_type\":\"password\"}").is_err());
    }
}
