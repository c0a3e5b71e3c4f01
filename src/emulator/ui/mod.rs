//! The classic UI: every `*.do` page (and JSONv2, which shares the `*.do` paths) is dispatched
//! from here. Pages that need a logged-in session send anyone else (`302`) to `login.do`,
//! keeping the target in `sysparm_goto_url` so the login returns there.
//!
//! Element ids and classes automation can key on (stable, and documented in the emulator's
//! module doc): login `user_name`, `user_password`, `remember_me`, `sysverb_login`,
//! `sysparm_ck`, `sys_action`, `use_external_login`; MFA `txtResponse`,
//! `sysverb_validate_mfa_code`; shell iframe `gsft_main`, `logout`; messages
//! `.outputmsg_error` / `.outputmsg_info` with text in `.outputmsg_text`; the form as described
//! in `form`.

mod form;
mod login;
pub mod pages;

use std::sync::Arc;

use axum::Extension;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::auth::{self, Principal};
use super::ctx::{Ctx, is_jsonv2_query};
use super::jsonv2;
use super::reply;
use super::sessions::Flash;
use super::sso;
use super::state::AppState;
use super::table_api::{Params, no_such_resource};

/// Largest urlencoded form accepted.
const FORM_LIMIT: usize = 4 * 1024 * 1024;

/// The fallback of the instance router: `*.do` pages, JSONv2, and unknown paths.
pub async fn dispatch(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    req: Request,
) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/api/") {
        return no_such_resource();
    }
    if path == "/" {
        return reply::redirect("/navpage.do");
    }
    let Some(page) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix(".do"))
        .filter(|p| !p.contains('/'))
        .map(String::from)
    else {
        return reply::html(
            StatusCode::NOT_FOUND,
            pages::not_found(None, "Page not found"),
        );
    };
    if req.uri().query().is_some_and(is_jsonv2_query) {
        return jsonv2::handle(state, ctx, page, req).await;
    }
    let params = Params::parse(req.uri().query());
    let method = req.method().clone();
    match (method.clone(), page.as_str()) {
        (Method::GET, "login") => return login::show(&state, &ctx, &params),
        (Method::POST, "login") => return login::submit(&state, &ctx, read_form(req).await).await,
        (Method::GET, "login_with_sso") => {
            return sso::start(
                &state,
                &ctx,
                params.get("sysparm_goto_url").and_then(safe_goto),
            );
        }
        (Method::GET, "multi_factor_auth_view") => return login::mfa_show(&state, &ctx),
        (Method::POST, "validate_multifactor_auth_code") => {
            return login::mfa_submit(&state, &ctx, read_form(req).await);
        }
        (Method::GET, "login_redirect") => return login::after_login(&state, &ctx, &params),
        (Method::GET | Method::POST, "logout") => return login::logout(&state, &ctx),
        (Method::GET, "logout_success") => return reply::html(StatusCode::OK, pages::logged_out()),
        (Method::GET, "session_timeout") => return reply::redirect("/login.do"),
        (Method::GET, "security_interceptor") => {
            return reply::html(StatusCode::OK, pages::security_interceptor());
        }
        (Method::POST, "navpage") => return sso::consume(&state, &ctx, read_form(req).await).await,
        _ => {}
    }

    let principal = match auth::session_principal(&state, &ctx).await {
        Ok(Some(principal)) => principal,
        Ok(None) => return to_login(&req, method),
        Err(response) => return response,
    };
    let Some(session) = ctx.session(&state) else {
        return to_login(&req, method);
    };
    let g_ck = session.g_ck.clone();
    match (method, page.as_str()) {
        (Method::GET, "navpage") => shell(&principal, &g_ck, "/home.do"),
        (Method::GET, "nav_to") => {
            let target = params
                .get("uri")
                .map(|u| format!("/{}", u.trim_start_matches('/')))
                .and_then(|u| safe_goto(&u))
                .unwrap_or_else(|| "/home.do".to_string());
            shell(&principal, &g_ck, &target)
        }
        (Method::GET, "home") => reply::html(
            StatusCode::OK,
            pages::home(&g_ck, &principal.name, &take_flash(&state, &ctx)),
        ),
        (Method::GET, "incident_list") => form::list(&state, &principal, &g_ck, &params).await,
        (Method::POST, "sys_attachment") => {
            form::upload(&state, &ctx, &principal, &g_ck, req).await
        }
        (Method::GET, "sys_attachment") => form::download(&state, &ctx, &params).await,
        (Method::GET, name) if let Some(table) = form::form_table(name) => {
            form::show(&state, &ctx, &principal, &g_ck, &params, table).await
        }
        (Method::POST, name) if let Some(table) = form::form_table(name) => {
            let fields = read_form(req).await;
            form::submit(&state, &ctx, &principal, &g_ck, table, fields).await
        }
        (_, other) => reply::html(
            StatusCode::NOT_FOUND,
            pages::not_found(
                Some(&g_ck),
                &format!("The page {other}.do is not available"),
            ),
        ),
    }
}

fn shell(principal: &Principal, g_ck: &str, src: &str) -> Response {
    reply::html(
        StatusCode::OK,
        pages::shell(g_ck, &principal.user, &principal.name, src),
    )
}

/// `302` to the login page, keeping a GET's target.
fn to_login(req: &Request, method: Method) -> Response {
    if method != Method::GET {
        return reply::redirect("/login.do");
    }
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("sysparm_goto_url", &target)
        .finish();
    reply::redirect(&format!("/login.do?{query}"))
}

/// A same-site path to return to after login, or `None` for anything that could leave the site.
pub fn safe_goto(target: &str) -> Option<String> {
    let ok = target.starts_with('/')
        && !target.starts_with("//")
        && !target.contains('\\')
        && !target.chars().any(|c| c.is_control())
        && !target.starts_with("/login");
    ok.then(|| target.to_string())
}

/// The urlencoded body of a form post, as ordered pairs (empty when unreadable).
async fn read_form(req: Request) -> Vec<(String, String)> {
    match to_bytes(req.into_body(), FORM_LIMIT).await {
        Ok(bytes) => url::form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Takes the session's one-time messages.
fn take_flash(state: &AppState, ctx: &Ctx) -> Vec<Flash> {
    ctx.session(state)
        .and_then(|s| {
            state
                .sessions
                .update(&s.id, |s| std::mem::take(&mut s.flash))
        })
        .unwrap_or_default()
}

/// Leaves a one-time message for the next page.
fn flash(state: &AppState, ctx: &Ctx, error: bool, text: String) {
    if let Some(session) = ctx.session(state) {
        state
            .sessions
            .update(&session.id, |s| s.flash.push(Flash { error, text }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goto_stays_on_site() {
        assert_eq!(
            safe_goto("/incident.do?sys_id=1").as_deref(),
            Some("/incident.do?sys_id=1")
        );
        for bad in [
            "//evil.example/x",
            "https://evil.example",
            "/\\evil",
            "incident.do",
            "/login.do",
        ] {
            assert!(safe_goto(bad).is_none(), "{bad}");
        }
    }
}
