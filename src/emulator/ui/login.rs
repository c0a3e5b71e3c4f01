//! Logging in and out of the UI: `login.do` (form and post), the MFA step
//! (`multi_factor_auth_view.do` → `validate_multifactor_auth_code.do`), `login_redirect.do`
//! and `logout.do`.
//!
//! A successful login always gets a new JSESSIONID (no session fixation); "Remember me" grants
//! the `glide_user`/`glide_user_session` pair, otherwise both are cleared.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;

use super::{field, flash, pages, safe_goto, take_flash};
use crate::emulator::auth;
use crate::emulator::ctx::Ctx;
use crate::emulator::reply;
use crate::emulator::seed::{MFA_USER, SSO_USER};
use crate::emulator::sessions::{Flash, Kind, PendingMfa};
use crate::emulator::sso;
use crate::emulator::state::AppState;
use crate::emulator::table_api::Params;

const BAD_LOGIN: &str = "User ID or password invalid";

/// `GET /login.do`: the form, bound to the (anonymous) session's token.
pub fn show(state: &AppState, ctx: &Ctx, params: &Params) -> Response {
    let session = ctx.ensure_session(state);
    let goto = params.get("sysparm_goto_url").and_then(safe_goto);
    if state.config().login_in_iframe && params.get("sysparm_framed") != Some("true") {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("sysparm_framed", "true");
        if let Some(goto) = &goto {
            query.append_pair("sysparm_goto_url", goto);
        }
        return reply::html(
            StatusCode::OK,
            pages::login_frame(&format!("/login.do?{}", query.finish())),
        );
    }
    let flash = take_flash(state, ctx);
    reply::html(
        StatusCode::OK,
        pages::login(&session.g_ck, goto.as_deref(), &flash),
    )
}

fn login_again(state: &AppState, ctx: &Ctx, goto: Option<&str>, error: Option<&str>) -> Response {
    let session = ctx.ensure_session(state);
    let flash: Vec<Flash> = error
        .map(|text| Flash {
            error: true,
            text: text.to_string(),
        })
        .into_iter()
        .collect();
    reply::html(StatusCode::OK, pages::login(&session.g_ck, goto, &flash))
}

/// `POST /login.do`.
pub async fn submit(state: &Arc<AppState>, ctx: &Ctx, form: Vec<(String, String)>) -> Response {
    let goto = field(&form, "sysparm_goto_url").and_then(safe_goto);
    if field(&form, "sys_action") != Some("sysverb_login") {
        // Without the button's action the instance just shows the form again.
        return login_again(state, ctx, goto.as_deref(), None);
    }
    let token_ok = ctx
        .session(state)
        .is_some_and(|s| Some(s.g_ck.as_str()) == field(&form, "sysparm_ck"));
    if !token_ok {
        return reply::redirect("/security_interceptor.do");
    }
    let user_name = field(&form, "user_name").unwrap_or("").trim().to_string();
    if user_name == SSO_USER {
        return sso::start(state, ctx, goto);
    }
    let password = field(&form, "user_password").unwrap_or("");
    let record = match auth::load_user(state, &user_name).await {
        Ok(record) => record,
        Err(response) => return response,
    };
    let Some(record) = record.filter(|r| auth::password_ok(state, r, password)) else {
        return login_again(state, ctx, goto.as_deref(), Some(BAD_LOGIN));
    };
    let remember = field(&form, "remember_me").is_some_and(|v| !v.is_empty() && v != "false");
    let user = record.get("user_name").cloned().unwrap_or(user_name);
    if user == MFA_USER {
        if let Some(session) = ctx.session(state) {
            state.sessions.update(&session.id, |s| {
                s.pending_mfa = Some(PendingMfa {
                    user: user.clone(),
                    remember,
                    goto,
                })
            });
        }
        return reply::redirect("/multi_factor_auth_view.do");
    }
    complete_login(state, ctx, &user, remember, goto.as_deref())
}

/// Opens the UI session for `user` and sends the browser on through `login_redirect.do`.
pub fn complete_login(
    state: &AppState,
    ctx: &Ctx,
    user: &str,
    remember: bool,
    goto: Option<&str>,
) -> Response {
    ctx.start_session(state, Kind::Ui, Some(user.to_string()));
    if remember {
        let (user_token, session_token) =
            state
                .sessions
                .remember(user, state.now(), state.config().remember_me_days());
        ctx.remember(user_token, session_token);
    } else {
        ctx.forget();
    }
    match goto {
        Some(goto) => {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("sysparm_goto_url", goto)
                .finish();
            reply::redirect(&format!("/login_redirect.do?{query}"))
        }
        None => reply::redirect("/login_redirect.do"),
    }
}

/// `GET /multi_factor_auth_view.do`.
pub fn mfa_show(state: &AppState, ctx: &Ctx) -> Response {
    match ctx.session(state).filter(|s| s.pending_mfa.is_some()) {
        Some(session) => {
            let flash = take_flash(state, ctx);
            reply::html(StatusCode::OK, pages::mfa(&session.g_ck, &flash))
        }
        None => reply::redirect("/login.do"),
    }
}

/// `POST /validate_multifactor_auth_code.do`.
pub fn mfa_submit(state: &AppState, ctx: &Ctx, form: Vec<(String, String)>) -> Response {
    let Some(session) = ctx.session(state) else {
        return reply::redirect("/login.do");
    };
    let Some(pending) = session.pending_mfa.clone() else {
        return reply::redirect("/login.do");
    };
    if field(&form, "sysparm_ck") != Some(session.g_ck.as_str()) {
        return reply::redirect("/security_interceptor.do");
    }
    let code = field(&form, "txtResponse").unwrap_or("").trim();
    if code != state.config().mfa_code {
        // As instances do: the page again with the error, the password step kept, so the
        // person can try another code (lockouts after repeated failures are an opt-in script
        // action on instances, off by default, and not emulated).
        flash(
            state,
            ctx,
            true,
            "Your 6-digit verification code is incorrect.".to_string(),
        );
        return reply::redirect("/multi_factor_auth_view.do");
    }
    complete_login(
        state,
        ctx,
        &pending.user,
        pending.remember,
        pending.goto.as_deref(),
    )
}

/// `GET /login_redirect.do`: on to the target, or the landing page.
pub fn after_login(state: &AppState, ctx: &Ctx, params: &Params) -> Response {
    if !ctx.session(state).is_some_and(|s| s.logged_in()) {
        return reply::redirect("/login.do");
    }
    let target = params
        .get("sysparm_goto_url")
        .and_then(safe_goto)
        .unwrap_or_else(|| "/navpage.do".to_string());
    reply::redirect(&target)
}

/// `logout.do`: ends the session and any remember-me grant.
pub fn logout(state: &AppState, ctx: &Ctx) -> Response {
    if let Some(token) = ctx.cookie("glide_user").filter(|t| !t.is_empty()) {
        state.sessions.forget(&token);
    }
    ctx.end_session(state);
    ctx.forget();
    reply::redirect("/logout_success.do")
}
