//! `GET /oauth_auth.do`: the authorization code flow's browser side. The request is checked
//! (client, redirect URI, `state`, PKCE for public clients), a logged-out browser is sent
//! through the login (and the IdP for sso.user) and back, and a logged-in one sees a consent
//! page. `POST /oauth_auth.do` is that page's form: Allow redirects to
//! `<redirect_uri>?code=...&state=...`, Deny to `<redirect_uri>?error=access_denied&state=...`.
//!
//! Consent page ids (this emulator's; real ones are unverified): form `oauth_consent_form`,
//! buttons `oauth_allow` and `oauth_deny` (both `name="action"`, values `allow` / `deny`),
//! hidden `sysparm_ck` and `oauth_request`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::Response;
use url::Url;

use super::auth;
use super::ctx::Ctx;
use super::oauth::{CodeGrant, PendingConsent, granted_scopes, new_token, registered_app};
use super::reply::{self, esc};
use super::sessions::random_hex;
use super::state::{AppState, lock};
use super::table_api::Params;
use super::ui::pages;

/// The text an instance shows for an authorize call without `state`.
pub const MISSING_STATE: &str = "Missing State parameter in request.";

/// How long a consent page can be answered.
const CONSENT_LIFESPAN_SECS: i64 = 600;

/// An error page that redirects nowhere (the redirect URI is not trusted, or there is no state
/// to carry back).
fn error_page(message: &str) -> Response {
    let body = format!(
        "<main><h1>OAuth authorization</h1>\
         <div id=\"output_messages\" class=\"outputmsg_container\">\
         <div class=\"outputmsg outputmsg_error notification notification-error\">\
         <span id=\"oauth_error\" class=\"outputmsg_text\">{}</span></div></div></main>",
        esc(message)
    );
    reply::html(
        StatusCode::BAD_REQUEST,
        pages::page("OAuth error", None, "", &body),
    )
}

/// `target` with `pairs` added to its query.
fn with_query(target: &str, pairs: &[(&str, &str)]) -> String {
    match Url::parse(target) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in pairs {
                    query.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => target.to_string(),
    }
}

/// `GET /oauth_auth.do`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let params = Params::parse(uri.query());
    let client_id = params.get("client_id").unwrap_or("");
    let Some(app) = registered_app(&state, client_id) else {
        return error_page(&format!("Invalid client_id: {client_id}"));
    };
    // A redirect URI the app did not register is never redirected to.
    let redirect_uri = params
        .get("redirect_uri")
        .filter(|r| !r.is_empty())
        .map(String::from);
    let redirect_to = match &redirect_uri {
        Some(uri) if app.redirect_uris.contains(uri) => uri.clone(),
        Some(uri) => return error_page(&format!("Invalid redirect_uri: {uri}")),
        None if app.redirect_uris.len() == 1 => app.redirect_uris[0].clone(),
        None => return error_page("The request has no redirect_uri"),
    };
    let Some(oauth_state) = params.get("state").filter(|s| !s.is_empty()) else {
        return error_page(MISSING_STATE);
    };
    let fail = |error: &str| {
        reply::redirect(&with_query(
            &redirect_to,
            &[("error", error), ("state", oauth_state)],
        ))
    };
    if params.get("response_type") != Some("code") {
        return fail("unsupported_response_type");
    }
    let code_challenge = params
        .get("code_challenge")
        .filter(|c| !c.is_empty())
        .map(String::from);
    if code_challenge.is_some() && params.get("code_challenge_method") != Some("S256") {
        return fail("invalid_request");
    }
    if app.is_public() && code_challenge.is_none() {
        return fail("invalid_request");
    }
    let scopes = match granted_scopes(&app.scopes, params.get("scope")) {
        Ok(scopes) => scopes,
        Err(_) => return fail("invalid_scope"),
    };

    let principal = match auth::session_principal(&state, &ctx).await {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let (Some(principal), Some(session)) = (principal, ctx.session(&state)) else {
        // Through the login (or the IdP) and back here.
        let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("sysparm_goto_url", target)
            .finish();
        return reply::redirect(&format!("/login.do?{query}"));
    };

    let now = state.now();
    let request_id = random_hex(16);
    {
        let mut pending = lock(&state.oauth.pending);
        pending.retain(|_, p| p.expires > now);
        pending.insert(
            request_id.clone(),
            PendingConsent {
                session_id: session.id.clone(),
                grant: CodeGrant {
                    client_id: app.client_id.clone(),
                    user: principal.user.clone(),
                    scopes: scopes.clone(),
                    redirect_uri,
                    code_challenge,
                    // Set when Allow issues the code.
                    expires: now,
                },
                redirect_to,
                state: oauth_state.to_string(),
                expires: now + time::Duration::seconds(CONSENT_LIFESPAN_SECS),
            },
        );
    }
    let app_name = if app.name.is_empty() {
        app.client_id.clone()
    } else {
        app.name.clone()
    };
    let body = format!(
        "<main><h1 id=\"oauth_consent_title\">{name} would like to connect</h1>\
         <p id=\"oauth_consent_text\"><b>{name}</b> asks to access this instance as \
         <b id=\"oauth_consent_user\">{user}</b> with the scopes \
         <span id=\"oauth_consent_scopes\">{scopes}</span>.</p>\
         <form id=\"oauth_consent_form\" method=\"post\" action=\"/oauth_auth.do\">\
         <input type=\"hidden\" name=\"sysparm_ck\" value=\"{ck}\">\
         <input type=\"hidden\" name=\"oauth_request\" value=\"{request_id}\">\
         <button type=\"submit\" id=\"oauth_allow\" name=\"action\" value=\"allow\">Allow</button>\
         <button type=\"submit\" id=\"oauth_deny\" name=\"action\" value=\"deny\">Deny</button>\
         </form></main>",
        name = esc(&app_name),
        user = esc(&principal.user),
        scopes = esc(&scopes.join(" ")),
        ck = esc(&session.g_ck),
    );
    reply::html(
        StatusCode::OK,
        pages::page("Authorize", Some(&session.g_ck), "", &body),
    )
}

/// `POST /oauth_auth.do`: Allow or Deny on the consent page.
pub async fn decide(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(session) = ctx.session(&state).filter(|s| s.logged_in()) else {
        return reply::redirect("/login.do");
    };
    if field("sysparm_ck") != Some(session.g_ck.as_str()) {
        return reply::redirect("/security_interceptor.do");
    }
    let now = state.now();
    let pending = {
        let mut all = lock(&state.oauth.pending);
        match field("oauth_request").and_then(|id| all.remove(id)) {
            Some(p) if p.session_id == session.id && p.expires > now => Some(p),
            _ => None,
        }
    };
    let Some(pending) = pending else {
        return error_page("This authorization request is unknown or has expired");
    };
    match field("action") {
        Some("allow") => {
            let code = new_token();
            let lifespan = state.config().oauth.authorization_code_lifespan_secs;
            let grant = CodeGrant {
                expires: now + time::Duration::seconds(i64::try_from(lifespan).unwrap_or(60)),
                ..pending.grant
            };
            let mut codes = lock(&state.oauth.codes);
            codes.retain(|_, c| c.expires > now);
            codes.insert(code.clone(), grant);
            drop(codes);
            reply::redirect(&with_query(
                &pending.redirect_to,
                &[("code", &code), ("state", &pending.state)],
            ))
        }
        Some("deny") => reply::redirect(&with_query(
            &pending.redirect_to,
            &[("error", "access_denied"), ("state", &pending.state)],
        )),
        _ => error_page("Neither Allow nor Deny was pressed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_registered_query() {
        assert_eq!(
            with_query(
                "http://127.0.0.1:8400/callback",
                &[("code", "a b"), ("state", "s&1")]
            ),
            "http://127.0.0.1:8400/callback?code=a+b&state=s%261"
        );
        assert_eq!(
            with_query("https://app.example/cb?x=1", &[("error", "access_denied")]),
            "https://app.example/cb?x=1&error=access_denied"
        );
    }
}
