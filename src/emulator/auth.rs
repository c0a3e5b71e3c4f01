//! Authentication: who a request runs as.
//!
//! One place turns a request into a [`Principal`], trying in turn: a client certificate the
//! TLS layer judged valid (mapped: that user; unmapped: `401`), an API key (`x-sn-apikey`
//! header or query parameter, REST only), the `Authorization` header (Basic, which opens or
//! reuses an integration session, or a Bearer token from `/oauth_token.do`), then session
//! cookies (which must carry the session's `g_ck` as `X-UserToken` where a token is due). The
//! API handlers only ever see a `Principal`. Also auth scopes, which bind OAuth tokens and API
//! keys only, and the rate limit, which is counted per principal.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;

use super::auth_config::{AuthScopes, HttpMethod, ScopeRefusal};
use super::ctx::Ctx;
use super::mtls::ClientCertificate;
use super::reply;
use super::schema::SYS_USER;
use super::seed::SSO_USER;
use super::sessions::Kind;
use super::state::{AppState, lock};
use super::store::{self, Record};

/// How the principal proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// Session cookies (a browser login, or a session an earlier Basic call opened).
    Ui,
    Basic,
    Bearer {
        scopes: Vec<String>,
    },
    /// An API key, limited to its scopes.
    ApiKey {
        scopes: Vec<String>,
    },
    /// A client certificate mapped to a user; never scoped.
    Certificate,
}

/// The user a request runs as.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: String,
    pub sys_id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub via: Via,
}

impl Principal {
    /// Has `role` (admin passes every role check, as on instances).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role || r == "admin")
    }

    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }

    fn from_record(record: &Record, via: Via) -> Principal {
        let field = |k: &str| record.get(k).cloned().unwrap_or_default();
        Principal {
            user: field("user_name"),
            sys_id: field("sys_id"),
            name: field("name"),
            roles: field("roles")
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(String::from)
                .collect(),
            via,
        }
    }
}

/// The active user called `user_name`.
pub async fn load_user(state: &Arc<AppState>, user_name: &str) -> Result<Option<Record>, Response> {
    let name = user_name.to_string();
    let record = state
        .store
        .run(move |conn| store::find_by(conn, &SYS_USER, "user_name", &name))
        .await
        .map_err(|e| reply::internal(&e))?
        .map_err(|e| reply::internal(&e.to_string()))?;
    Ok(record.filter(|r| r.get("active").map(String::as_str) == Some("true")))
}

/// Does `password` open `user` on the instance? (sso.user has no local password.)
pub fn password_ok(state: &AppState, user: &Record, password: &str) -> bool {
    let is_sso = user.get("user_name").map(String::as_str) == Some(SSO_USER);
    !is_sso && password == state.config().password
}

/// The principal of the session serving this request, if it is logged in.
pub async fn session_principal(
    state: &Arc<AppState>,
    ctx: &Ctx,
) -> Result<Option<Principal>, Response> {
    let Some(session) = ctx.session(state).filter(|s| s.logged_in()) else {
        return Ok(None);
    };
    let Some(user) = session.user else {
        return Ok(None);
    };
    Ok(load_user(state, &user)
        .await?
        .map(|record| Principal::from_record(&record, Via::Ui)))
}

/// Whether a cookie-authenticated call must carry the session token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    Required,
    NotRequired,
}

/// Authenticates an API call (REST or JSONv2) and counts it against the rate limit.
///
/// `form_token` is a `sysparm_ck` the call carried in its query or body (JSONv2 accepts one in
/// place of `X-UserToken`). Errors are complete replies: `401` (with `X-UserToken-Response`
/// when a logged-in session lacked its token) or `429`.
pub async fn api_principal(
    state: &Arc<AppState>,
    ctx: &Ctx,
    headers: &HeaderMap,
    token: Token,
    form_token: Option<&str>,
) -> Result<Principal, Response> {
    let principal = authenticate(state, ctx, headers, token, form_token).await?;
    ctx.set_user(&principal.user);
    if let Err((wait, reset, limit)) = state.rate_check(&principal.user) {
        let mut response = reply::envelope(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit exceeded",
            Some(&format!(
                "Rate limit of {limit} requests for user {} exceeded; retry in {wait} seconds",
                principal.user
            )),
        );
        let h = response.headers_mut();
        for (name, value) in [
            (header::RETRY_AFTER.as_str(), wait.to_string()),
            ("x-ratelimit-limit", limit.to_string()),
            ("x-ratelimit-reset", reset.to_string()),
            ("x-ratelimit-rule", "emulator_user_rate_limit".to_string()),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                h.insert(name, value);
            }
        }
        return Err(response);
    }
    Ok(principal)
}

async fn authenticate(
    state: &Arc<AppState>,
    ctx: &Ctx,
    headers: &HeaderMap,
    token: Token,
    form_token: Option<&str>,
) -> Result<Principal, Response> {
    match &ctx.client_certificate {
        Some(ClientCertificate::Mapped(user)) => {
            return principal_of(state, ctx, user, Via::Certificate).await;
        }
        Some(ClientCertificate::Unmapped) => return Err(reply::not_authenticated()),
        Some(ClientCertificate::Untrusted) | None => {}
    }
    if let Some(key) = &ctx.api_key {
        let found = state
            .config()
            .api_keys
            .iter()
            .find(|k| k.key == *key)
            .cloned();
        let found = found.ok_or_else(reply::not_authenticated)?;
        let via = Via::ApiKey {
            scopes: found.scopes,
        };
        return principal_of(state, ctx, &found.user, via).await;
    }
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        let value = authorization.to_str().unwrap_or("").trim();
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return basic(state, ctx, rest.trim()).await;
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            return bearer(state, ctx, rest.trim()).await;
        }
        return Err(reply::not_authenticated());
    }
    let Some(session) = ctx.session(state).filter(|s| s.logged_in()) else {
        return Err(reply::not_authenticated());
    };
    let supplied = headers
        .get("x-usertoken")
        .and_then(|v| v.to_str().ok())
        .or(form_token);
    if token == Token::Required && supplied != Some(session.g_ck.as_str()) {
        let mut response = reply::not_authenticated();
        if let Ok(value) = HeaderValue::from_str(&session.g_ck) {
            response.headers_mut().insert("x-usertoken-response", value);
        }
        return Err(response);
    }
    let user = session.user.unwrap_or_default();
    match load_user(state, &user).await? {
        Some(record) => Ok(Principal::from_record(&record, Via::Ui)),
        None => Err(reply::not_authenticated()),
    }
}

async fn basic(state: &Arc<AppState>, ctx: &Ctx, encoded: &str) -> Result<Principal, Response> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(reply::not_authenticated)?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(reply::not_authenticated)?;
    let record = load_user(state, user)
        .await?
        .filter(|r| password_ok(state, r, password))
        .ok_or_else(reply::not_authenticated)?;
    let principal = Principal::from_record(&record, Via::Basic);
    open_integration_session(state, ctx, &principal.user);
    Ok(principal)
}

async fn bearer(state: &Arc<AppState>, ctx: &Ctx, token: &str) -> Result<Principal, Response> {
    let grant = lock(&state.tokens).get(token).cloned();
    let grant = grant
        .filter(|g| state.now() < g.expires)
        .ok_or_else(reply::not_authenticated)?;
    let record = load_user(state, &grant.user)
        .await?
        .ok_or_else(reply::not_authenticated)?;
    let principal = Principal::from_record(
        &record,
        Via::Bearer {
            scopes: grant.scopes.clone(),
        },
    );
    open_integration_session(state, ctx, &principal.user);
    Ok(principal)
}

/// The active `user` as a principal come `via` a certificate or API key, with an integration
/// session as a Basic call gets.
async fn principal_of(
    state: &Arc<AppState>,
    ctx: &Ctx,
    user: &str,
    via: Via,
) -> Result<Principal, Response> {
    let record = load_user(state, user)
        .await?
        .ok_or_else(reply::not_authenticated)?;
    let principal = Principal::from_record(&record, via);
    open_integration_session(state, ctx, &principal.user);
    Ok(principal)
}

/// Reuses the request's session when it is already this user's, else opens an integration
/// session (cookies like a real instance: JSESSIONID, and emptied remember-me cookies).
fn open_integration_session(state: &AppState, ctx: &Ctx, user: &str) {
    let current = ctx.session(state);
    if current.is_some_and(|s| s.logged_in() && s.user.as_deref() == Some(user)) {
        return;
    }
    ctx.start_session(state, Kind::Integration, Some(user.to_string()));
    ctx.forget();
}

/// Does the principal hold one of `accepted` (or `useraccount`)? Only OAuth tokens and API
/// keys are scoped; an empty `accepted` leaves `useraccount` alone.
pub fn holds_scope(principal: &Principal, accepted: &[&str]) -> bool {
    let (Via::Bearer { scopes } | Via::ApiKey { scopes }) = &principal.via else {
        return true;
    };
    scopes
        .iter()
        .any(|s| s == "useraccount" || accepted.contains(&s.as_str()))
}

/// `403` unless the principal holds one of the scopes an API operation accepts.
pub fn require_scope(
    state: &AppState,
    principal: &Principal,
    accepted: &[&str],
) -> Result<(), Response> {
    if holds_scope(principal, accepted) {
        return Ok(());
    }
    Err(scope_refusal(state.config().auth_scopes.refusal, accepted))
}

/// The envelope naming the missing scope.
fn scope_refusal(refusal: ScopeRefusal, accepted: &[&str]) -> Response {
    let missing = if accepted.is_empty() {
        "useraccount".to_string()
    } else {
        accepted.join(", ")
    };
    let named = format!("Missing required api access scope: {missing}");
    let (message, detail) = match refusal {
        ScopeRefusal::Detail => ("User Not Authorized".to_string(), named),
        ScopeRefusal::Message => (named, "User Not Authorized".to_string()),
    };
    reply::envelope(StatusCode::FORBIDDEN, &message, Some(&detail))
}

/// The scopes the Table API's policies accept for `method` on `table`: the table's own
/// policies, else the `"*"` ones; empty when no policy covers the call.
pub fn table_scopes(policies: &AuthScopes, table: &str, method: &Method) -> Vec<String> {
    let Some(method) = HttpMethod::of(method) else {
        return Vec::new();
    };
    let own = policies.table.iter().any(|p| p.table == table);
    let wanted = if own { table } else { "*" };
    let mut scopes: Vec<String> = Vec::new();
    for policy in policies.table.iter().filter(|p| p.table == wanted) {
        if policy.methods.is_empty() || policy.methods.contains(&method) {
            for scope in &policy.scopes {
                if !scopes.contains(scope) {
                    scopes.push(scope.clone());
                }
            }
        }
    }
    scopes
}

/// The Table API's scope check for a call of `ctx.method` on `table`.
pub fn require_table_scope(
    state: &AppState,
    ctx: &Ctx,
    principal: &Principal,
    table: &str,
) -> Result<(), Response> {
    let accepted = table_scopes(&state.config().auth_scopes, table, &ctx.method);
    if accepted.is_empty() {
        return Ok(());
    }
    let accepted: Vec<&str> = accepted.iter().map(String::as_str).collect();
    require_scope(state, principal, &accepted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[&str], via: Via) -> Principal {
        Principal {
            user: "u".into(),
            sys_id: "x".into(),
            name: "U".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            via,
        }
    }

    #[test]
    fn admin_passes_role_checks() {
        assert!(principal(&["admin"], Via::Ui).has_role("itil_admin"));
        assert!(principal(&["itil"], Via::Ui).has_role("itil"));
        assert!(!principal(&["itil"], Via::Ui).has_role("itil_admin"));
    }

    #[test]
    fn scopes_apply_to_tokens_and_api_keys_only() {
        let bearer = |scopes: &[&str]| Via::Bearer {
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        assert!(holds_scope(
            &principal(&["itil"], Via::Basic),
            &["incident_write"]
        ));
        assert!(holds_scope(
            &principal(&["itil"], Via::Certificate),
            &["incident_write"]
        ));
        let reader = principal(&["itil"], bearer(&["incident_read"]));
        assert!(holds_scope(&reader, &["incident_read", "incident_write"]));
        assert!(!holds_scope(&reader, &["incident_write"]));
        assert!(!holds_scope(&reader, &[]), "JSONv2 wants useraccount");
        let key = principal(
            &["itil"],
            Via::ApiKey {
                scopes: vec!["incident_read".into()],
            },
        );
        assert!(!holds_scope(&key, &["incident_write"]));
        let all = principal(&["itil"], bearer(&["useraccount"]));
        assert!(holds_scope(&all, &["incident_write"]));
    }

    #[test]
    fn table_policies_by_table_then_star() {
        let policies = AuthScopes::default();
        assert_eq!(
            table_scopes(&policies, "incident", &Method::GET),
            ["incident_read", "incident_write"]
        );
        assert_eq!(
            table_scopes(&policies, "incident", &Method::PATCH),
            ["incident_write"]
        );
        assert_eq!(
            table_scopes(&policies, "sys_user", &Method::POST),
            ["table_read_write"]
        );
        let none = AuthScopes {
            table: Vec::new(),
            ..AuthScopes::default()
        };
        assert!(table_scopes(&none, "incident", &Method::GET).is_empty());
    }
}
