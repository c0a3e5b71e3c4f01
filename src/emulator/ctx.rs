//! The per-request context and the instance's outer layer.
//!
//! The layer runs around every request to the instance host: while hibernating it answers
//! every path with the hibernation page and nothing else (no cookies, no instance headers: the
//! instance itself is asleep); it answers over-long URLs with `414`, injects faults on the API paths, resolves the session from `JSESSIONID` (re-creating
//! one from the remember-me cookies when it died), and afterwards stamps the reply the way every
//! instance reply is stamped: session cookies (`glide_session_store` on every reply),
//! `X-Is-Logged-In`, `Server`, `X-Transaction-ID`, and a request-log entry.
//! Handlers see the session through [`Ctx`]; they never write session cookies themselves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;

use super::mtls::ClientCertificate;
use super::reply;
use super::server::ConnInfo;
use super::sessions::{Kind, Session, random_hex};
use super::state::{AppState, RequestInfo, lock};

/// Longest path-and-query accepted; longer gets `414` (instances stop at about 8 KB).
pub const MAX_URL: usize = 8 * 1024;

/// What the reply does with the remember-me cookies.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Remember {
    Keep,
    Set(String, String),
    Clear,
}

struct Inner {
    cookies: HashMap<String, String>,
    session: Option<String>,
    new_session: Option<Kind>,
    remember: Remember,
    user: Option<String>,
}

/// The request's view of its session, shared between the layer and the handler.
#[derive(Clone)]
pub struct Ctx {
    inner: Arc<Mutex<Inner>>,
    /// Served over TLS.
    pub tls: bool,
    /// `scheme://host[:port]` as the client addressed the instance, for absolute links.
    pub base: String,
    /// The request's method (auth scopes differ by method).
    pub method: Method,
    /// The verdict on the connection's client certificate, when one was presented (an
    /// untrusted one never gets this far: `mtls::layer` answers it).
    pub client_certificate: Option<ClientCertificate>,
    /// The API key of a REST call (`/api/...`): the `x-sn-apikey` header, or a query parameter
    /// of that name. Other paths take no API key.
    pub api_key: Option<String>,
}

impl Ctx {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// The same request context (session, cookies, certificate, key) for a request made with
    /// `method`: a Batch API item runs in its batch's session, with its own method.
    pub fn with_method(&self, method: Method) -> Ctx {
        Ctx {
            method,
            ..self.clone()
        }
    }

    /// A request cookie.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.lock().cookies.get(name).cloned()
    }

    /// The live session serving this request, as it is now.
    pub fn session(&self, state: &AppState) -> Option<Session> {
        let id = self.lock().session.clone()?;
        state.sessions.get(&id)
    }

    /// The session, creating an anonymous one when there is none.
    pub fn ensure_session(&self, state: &AppState) -> Session {
        if let Some(session) = self.session(state) {
            return session;
        }
        self.start_session(state, Kind::Anonymous, None)
    }

    /// Replaces the request's session with a new one (a new JSESSIONID: no session fixation).
    pub fn start_session(&self, state: &AppState, kind: Kind, user: Option<String>) -> Session {
        let old = self.lock().session.take();
        if let Some(old) = old {
            state.sessions.remove(&old);
        }
        let session = state
            .sessions
            .create(kind, user.clone(), state.now(), state.timeouts());
        state.note_store_value(&session.store_value);
        let mut inner = self.lock();
        inner.session = Some(session.id.clone());
        inner.new_session = Some(kind);
        if user.is_some() {
            inner.user = user;
        }
        session
    }

    /// Ends the request's session (logout).
    pub fn end_session(&self, state: &AppState) {
        let old = self.lock().session.take();
        if let Some(old) = old {
            state.sessions.remove(&old);
        }
    }

    /// The reply sets remember-me cookies for `user` (persistent).
    pub fn remember(&self, user_token: String, session_token: String) {
        self.lock().remember = Remember::Set(user_token, session_token);
    }

    /// The reply clears the remember-me cookies (empty, `Max-Age=0`).
    pub fn forget(&self) {
        self.lock().remember = Remember::Clear;
    }

    /// Names the user this request ran as, for the request log.
    pub fn set_user(&self, user: &str) {
        self.lock().user = Some(user.to_string());
    }
}

/// Is this request an API call (REST or JSONv2), where faults and rate limits apply?
pub fn is_api(path: &str, query: Option<&str>) -> bool {
    path.starts_with("/api/") || (path.ends_with(".do") && query.is_some_and(is_jsonv2_query))
}

/// Does the query string ask for the JSONv2 processor (`?JSONv2` or `&JSONv2=`)?
pub fn is_jsonv2_query(query: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair.split('=').next() == Some("JSONv2"))
}

fn parse_cookies(headers: &HeaderMap) -> HashMap<String, String> {
    let mut cookies = HashMap::new();
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=') {
                cookies
                    .entry(name.trim().to_string())
                    .or_insert_with(|| value.trim().to_string());
            }
        }
    }
    cookies
}

/// `scheme://host` for links: the Host the client used when it is one of ours.
fn base_for(state: &AppState, headers: &HeaderMap, tls: bool) -> String {
    let port = state.instance_url.port().unwrap_or(0);
    let scheme = if tls { "https" } else { "http" };
    let ours = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| ours.iter().any(|o| o == h));
    match host {
        Some(host) => format!("{scheme}://{host}"),
        None => format!("{scheme}://127.0.0.1:{port}"),
    }
}

/// The instance's outer layer (see the module doc).
pub async fn instance_layer(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let method = req.method().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let conn = req.extensions().get::<ConnInfo>().cloned();
    let tls = conn.as_ref().is_some_and(|c| c.tls);
    let api = is_api(req.uri().path(), req.uri().query());

    if state.config().hibernating {
        state.log_request(RequestInfo {
            method,
            path_and_query,
            status: 200,
            user: None,
        });
        return reply::html(StatusCode::OK, super::ui::pages::hibernating().to_owned());
    }

    if path_and_query.len() > MAX_URL {
        let response = reply::html(
            StatusCode::URI_TOO_LONG,
            "<html><body><h1>414 Request-URI Too Long</h1></body></html>".to_string(),
        );
        state.log_request(RequestInfo {
            method,
            path_and_query: truncate(&path_and_query),
            status: 414,
            user: None,
        });
        return stamp_plain(response);
    }

    if api {
        let faults = state.config().faults;
        if state.take_drop() || chance(faults.drop_rate) {
            state.log_request(RequestInfo {
                method,
                path_and_query,
                status: 0,
                user: None,
            });
            if let Some(conn) = conn {
                conn.kill.cancel();
                // The connection task drops this future with the connection: no reply is sent.
                std::future::pending::<()>().await;
            }
            return reply::envelope(StatusCode::SERVICE_UNAVAILABLE, "Connection dropped", None);
        }
        if faults.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
        }
    }

    let cookies = parse_cookies(req.headers());
    let base = base_for(&state, req.headers(), tls);
    let api_key = if req.uri().path().starts_with("/api/") {
        let header = req.headers().get("x-sn-apikey");
        header
            .map(|v| v.to_str().unwrap_or("").to_string())
            .or_else(|| {
                url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                    .find(|(k, _)| k == "x-sn-apikey")
                    .map(|(_, v)| v.into_owned())
            })
    } else {
        None
    };
    let now = state.now();
    let session = cookies
        .get("JSESSIONID")
        .and_then(|id| state.sessions.touch(id, now, state.timeouts()));
    let ctx = Ctx {
        inner: Arc::new(Mutex::new(Inner {
            cookies,
            session: session.as_ref().map(|s| s.id.clone()),
            new_session: None,
            remember: Remember::Keep,
            user: session
                .as_ref()
                .filter(|s| s.logged_in())
                .and_then(|s| s.user.clone()),
        })),
        tls,
        base,
        method: req.method().clone(),
        client_certificate: req.extensions().get::<ClientCertificate>().cloned(),
        api_key,
    };
    if session.as_ref().is_none_or(|s| !s.logged_in()) {
        // Remember me: a dead or missing session comes back transparently for the cookie's user.
        let user_token = ctx.cookie("glide_user").filter(|v| !v.is_empty());
        let session_token = ctx.cookie("glide_user_session").filter(|v| !v.is_empty());
        if let (Some(u), Some(s)) = (user_token, session_token)
            && let Some(user) = state.sessions.remembered(&u, &s, now)
        {
            ctx.start_session(&state, Kind::Ui, Some(user));
        }
    }

    let response = if api {
        let error_rate = state.config().faults.error_rate;
        match state
            .take_fail()
            .or_else(|| chance(error_rate).then_some(503))
        {
            Some(code) => {
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                reply::envelope(status, reply::reason(status), Some("Injected fault"))
            }
            None => {
                req.extensions_mut().insert(ctx.clone());
                let response = next.run(req).await;
                if state.take_lost_reply(&method, &path_and_query) {
                    let status = response.status().as_u16();
                    let response = finish(
                        &state,
                        &ctx,
                        response,
                        method.clone(),
                        path_and_query.clone(),
                    );
                    if let Some(conn) = conn {
                        tracing::debug!(target: "snowbridge::emulator", status, "losing the reply");
                        conn.kill.cancel();
                        // As for a dropped connection: no reply is sent.
                        std::future::pending::<()>().await;
                    }
                    return response;
                }
                response
            }
        }
    } else {
        req.extensions_mut().insert(ctx.clone());
        next.run(req).await
    };
    finish(&state, &ctx, response, method, path_and_query)
}

/// True with probability `p` (0 or NaN never, 1 or more always).
fn chance(p: f64) -> bool {
    p > 0.0 && rand::rng().random_bool(p.min(1.0))
}

fn truncate(path: &str) -> String {
    let mut end = 200.min(path.len());
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &path[..end])
}

fn stamp_plain(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::SERVER, HeaderValue::from_static("ServiceNow"));
    headers.insert("x-is-logged-in", HeaderValue::from_static("false"));
    response
}

/// Stamps the reply: session cookies, the instance's headers, and the request log.
fn finish(
    state: &AppState,
    ctx: &Ctx,
    mut response: Response,
    method: String,
    path_and_query: String,
) -> Response {
    let session = ctx.ensure_session(state);
    let (cookie_lines, user) = {
        let config = state.config();
        let inner = ctx.lock();
        let tls = ctx.tls;
        let mut lines = Vec::new();
        if let Some(kind) = inner.new_session {
            lines.push(reply::set_cookie(
                "JSESSIONID",
                &session.id,
                None,
                true,
                tls,
            ));
            lines.push(reply::set_cookie(
                "glide_user_route",
                &format!("glide.{}", random_hex(16)),
                Some(2_147_483_647),
                true,
                tls,
            ));
            if kind == Kind::Ui {
                lines.push(reply::set_cookie(
                    "glide_user_activity",
                    &random_hex(24),
                    None,
                    true,
                    tls,
                ));
                lines.push(reply::set_cookie(
                    "glide_node_id_for_js",
                    &state.node_id,
                    None,
                    false,
                    tls,
                ));
                lines.push(reply::set_cookie("glide_language", "en", None, false, tls));
            }
        }
        let pool = format!("BIGipServerpool_{}", config.instance_name);
        if !inner.cookies.contains_key(&pool) {
            lines.push(reply::set_cookie(
                &pool,
                &state.pool_cookie,
                None,
                false,
                tls,
            ));
        }
        match &inner.remember {
            Remember::Keep => {}
            Remember::Set(u, s) => {
                let age = i64::from(config.remember_me_days()) * 86_400;
                lines.push(reply::set_cookie("glide_user", u, Some(age), true, tls));
                lines.push(reply::set_cookie(
                    "glide_user_session",
                    s,
                    Some(age),
                    true,
                    tls,
                ));
            }
            Remember::Clear => {
                lines.push(reply::set_cookie("glide_user", "", Some(0), true, tls));
                lines.push(reply::set_cookie(
                    "glide_user_session",
                    "",
                    Some(0),
                    true,
                    tls,
                ));
            }
        }
        let store_value = if config.rotate_session_store {
            let value = random_hex(16).to_ascii_uppercase();
            state
                .sessions
                .update(&session.id, |s| s.store_value = value.clone());
            state.note_store_value(&value);
            value
        } else {
            session.store_value.clone()
        };
        let age = i64::try_from(config.ui_session_timeout_secs).unwrap_or(i64::MAX);
        lines.push(reply::set_cookie(
            "glide_session_store",
            &store_value,
            Some(age),
            true,
            tls,
        ));
        (lines, inner.user.clone())
    };
    let logged_in = ctx.session(state).is_some_and(|s| s.logged_in());
    let headers = response.headers_mut();
    for line in cookie_lines {
        if let Ok(value) = HeaderValue::from_str(&line) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    headers.insert(
        "x-is-logged-in",
        HeaderValue::from_static(if logged_in { "true" } else { "false" }),
    );
    headers.insert(header::SERVER, HeaderValue::from_static("ServiceNow"));
    // The instance's clock, as instances send theirs: the virtual one, so a client can tell a
    // clock that disagrees with its own (an assertion expired there but not here).
    if let Ok(value) = HeaderValue::from_str(&http_date(state.now())) {
        headers.insert(header::DATE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&random_hex(16)) {
        headers.insert("x-transaction-id", value);
    }
    if ctx.tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache,no-store,must-revalidate,max-age=-1"),
    );
    state.log_request(RequestInfo {
        method,
        path_and_query,
        status: response.status().as_u16(),
        user,
    });
    response
}

/// `at` as an HTTP date (RFC 9110 IMF-fixdate).
fn http_date(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths() {
        assert!(is_api("/api/now/table/incident", None));
        assert!(is_api(
            "/incident.do",
            Some("JSONv2&sysparm_action=getKeys")
        ));
        assert!(is_api("/incident.do", Some("sysparm_action=get&JSONv2=")));
        assert!(!is_api("/incident.do", Some("sys_id=abc")));
        assert!(!is_api("/login.do", None));
    }

    #[test]
    fn cookie_header_parsing() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; JSESSIONID=XYZ"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=2=3"));
        let cookies = parse_cookies(&headers);
        assert_eq!(cookies["JSESSIONID"], "XYZ");
        assert_eq!(cookies["b"], "2=3");
    }
}
