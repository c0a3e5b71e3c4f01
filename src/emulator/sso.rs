//! Single sign-on, both ends: the instance sends the browser to the identity provider (on the
//! other host name, same listener) with a SAML-style request; the IdP logs the person in with
//! its own form and `idp_session` cookie and answers with an auto-submitting form that POSTs a
//! signed assertion (`SAMLResponse` + `RelayState`) to the instance's `/navpage.do`, which opens
//! the session and redirects to the landing page.
//!
//! The assertion is SAML-shaped XML signed with an HMAC key private to this emulator run (real
//! IdPs sign with XML-DSig; clients never look inside). The consumer does not rely on the
//! instance's cookies (a cross-site POST may not carry them); it checks the signature, the
//! expiry, and that the assertion answers a request the instance made and has not used.

use std::sync::Arc;

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::auth;
use super::ctx::Ctx;
use super::reply::{self, esc};
use super::sessions::{Flash, Kind, random_hex};
use super::state::{AppState, RequestInfo};
use super::ui::pages;
use super::ui::safe_goto;

type HmacSha256 = Hmac<Sha256>;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Seconds an assertion stays valid.
const ASSERTION_LIFETIME: i64 = 300;

fn idp_base(state: &AppState) -> String {
    state.idp_url.as_str().trim_end_matches('/').to_string()
}

fn instance_base(state: &AppState) -> String {
    state
        .instance_url
        .as_str()
        .trim_end_matches('/')
        .to_string()
}

/// Sends the browser to the IdP (`login_with_sso.do`, or `login.do` posted for sso.user).
pub fn start(state: &AppState, ctx: &Ctx, goto: Option<String>) -> Response {
    ctx.ensure_session(state);
    let request_id = state.sessions.start_sso(goto.clone(), state.now());
    let request = format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{request_id}\" Version=\"2.0\" \
         AssertionConsumerServiceURL=\"{}/navpage.do\"><saml:Issuer>{}</saml:Issuer></samlp:AuthnRequest>",
        instance_base(state),
        instance_base(state)
    );
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &B64.encode(request))
        .append_pair("RelayState", goto.as_deref().unwrap_or(""))
        .finish();
    reply::redirect(&format!("{}/idp/sso?{query}", idp_base(state)))
}

fn sign(key: &[u8], in_response_to: &str, user: &str, not_on_or_after: i64) -> String {
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return String::new();
    };
    mac.update(format!("{in_response_to}|{user}|{not_on_or_after}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn verify(
    key: &[u8],
    in_response_to: &str,
    user: &str,
    not_on_or_after: i64,
    signature: &str,
) -> bool {
    let Ok(expected) = hex::decode(signature) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return false;
    };
    mac.update(format!("{in_response_to}|{user}|{not_on_or_after}").as_bytes());
    mac.verify_slice(&expected).is_ok()
}

/// The text between `open` and `close` in `xml`.
fn between<'a>(xml: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = xml.find(open)? + open.len();
    let end = xml[start..].find(close)? + start;
    Some(&xml[start..end])
}

fn assertion(state: &AppState, in_response_to: &str, user: &str) -> String {
    let now = state.now();
    let expires = now.unix_timestamp() + ASSERTION_LIFETIME;
    let signature = sign(&state.saml_key, in_response_to, user, expires);
    format!(
        "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_{}\" InResponseTo=\"{}\" \
         Version=\"2.0\"><saml:Issuer>{}/idp</saml:Issuer><saml:Assertion><saml:Subject>\
         <saml:NameID>{}</saml:NameID></saml:Subject><saml:Conditions NotOnOrAfter=\"{expires}\"/>\
         </saml:Assertion><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
         <ds:SignatureValue>{signature}</ds:SignatureValue></ds:Signature></samlp:Response>",
        random_hex(16),
        esc(in_response_to),
        idp_base(state),
        esc(user)
    )
}

/// `POST /navpage.do` with `SAMLResponse`: the assertion consumer.
pub async fn consume(state: &Arc<AppState>, ctx: &Ctx, form: Vec<(String, String)>) -> Response {
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let Some(encoded) = get("SAMLResponse") else {
        // A plain POST to the shell: show it (or the login page) as a GET would.
        return reply::redirect("/navpage.do");
    };
    let failure = |why: &str| {
        let session = ctx.ensure_session(state);
        let flash = [Flash {
            error: true,
            text: format!("Single sign-on failed: {why}"),
        }];
        reply::html(StatusCode::OK, pages::login(&session.g_ck, None, &flash))
    };
    let Some(xml) = B64
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return failure("the assertion is not readable");
    };
    let fields = (
        between(&xml, "InResponseTo=\"", "\""),
        between(&xml, "<saml:NameID>", "</saml:NameID>"),
        between(&xml, "NotOnOrAfter=\"", "\"").and_then(|t| t.parse::<i64>().ok()),
        between(&xml, "<ds:SignatureValue>", "</ds:SignatureValue>"),
    );
    let (Some(request_id), Some(user), Some(expires), Some(signature)) = fields else {
        return failure("the assertion is incomplete");
    };
    if !verify(&state.saml_key, request_id, user, expires, signature) {
        return failure("the assertion's signature does not verify");
    }
    if state.now().unix_timestamp() >= expires {
        return failure("the assertion has expired");
    }
    let Some(pending) = state.sessions.finish_sso(request_id, state.now()) else {
        return failure("the assertion answers no open request");
    };
    let record = match auth::load_user(state, user).await {
        Ok(record) => record,
        Err(response) => return response,
    };
    let Some(record) = record else {
        return failure("the user is not known to the instance");
    };
    let user = record.get("user_name").cloned().unwrap_or_default();
    ctx.start_session(state, Kind::Ui, Some(user));
    ctx.forget();
    let target = get("RelayState")
        .and_then(|r| safe_goto(&r))
        .or(pending.goto)
        .unwrap_or_else(|| "/navpage.do".to_string());
    reply::redirect(&target)
}

/// The IdP site (served for requests whose Host is the IdP host).
pub fn idp_router(state: Arc<AppState>) -> Router {
    Router::new().fallback(idp).with_state(state)
}

fn idp_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:sans-serif;margin:40px}}label{{display:block;margin-top:8px}}</style>\
         </head><body>{body}</body></html>",
        esc(title)
    )
}

fn idp_login_form(saml_request: &str, relay_state: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p id=\"idp_error\" class=\"idp-error\">{}</p>", esc(e)))
        .unwrap_or_default();
    idp_page(
        "Sign in | Identity Provider",
        &format!(
            "<h1>Identity Provider</h1>{error}<form id=\"idp_login_form\" method=\"post\" action=\"/idp/sso\">\
             <input type=\"hidden\" name=\"SAMLRequest\" value=\"{}\">\
             <input type=\"hidden\" name=\"RelayState\" value=\"{}\">\
             <label for=\"idp_username\">Username</label>\
             <input type=\"text\" id=\"idp_username\" name=\"idp_username\" autocomplete=\"username\" autofocus>\
             <label for=\"idp_password\">Password</label>\
             <input type=\"password\" id=\"idp_password\" name=\"idp_password\" autocomplete=\"current-password\">\
             <p><button type=\"submit\" id=\"idp_login\">Sign in</button></p></form>",
            esc(saml_request),
            esc(relay_state)
        ),
    )
}

fn auto_post(state: &AppState, user: &str, request_id: &str, relay_state: &str) -> String {
    let response = B64.encode(assertion(state, request_id, user));
    idp_page(
        "Signing in",
        &format!(
            "<form id=\"saml_post\" method=\"post\" action=\"{}/navpage.do\">\
             <input type=\"hidden\" name=\"SAMLResponse\" value=\"{}\">\
             <input type=\"hidden\" name=\"RelayState\" value=\"{}\">\
             <noscript><button type=\"submit\">Continue</button></noscript></form>\
             <script>document.getElementById('saml_post').submit();</script>",
            esc(&instance_base(state)),
            esc(&response),
            esc(relay_state)
        ),
    )
}

fn request_id(saml_request: &str) -> Option<String> {
    let xml = String::from_utf8(B64.decode(saml_request.trim()).ok()?).ok()?;
    let id = between(&xml, " ID=\"", "\"")?;
    (!id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    .then(|| id.to_string())
}

fn idp_cookie(req: &Request) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == "idp_session")
        .map(|(_, value)| value.to_string())
}

async fn idp(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let method = req.method().clone();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let tls = req
        .extensions()
        .get::<super::server::ConnInfo>()
        .is_some_and(|c| c.tls);
    let (response, user) = idp_inner(&state, req, tls).await;
    state.log_request(RequestInfo {
        method: method.to_string(),
        path_and_query,
        status: response.status().as_u16(),
        user,
    });
    response
}

async fn idp_inner(state: &Arc<AppState>, req: Request, tls: bool) -> (Response, Option<String>) {
    if req.uri().path() != "/idp/sso" {
        return (
            reply::html(
                StatusCode::NOT_FOUND,
                idp_page("Not found", "<h1>Not found</h1>"),
            ),
            None,
        );
    }
    let cookie_user = idp_cookie(&req).and_then(|t| state.sessions.idp_user(&t, state.now()));
    let method = req.method().clone();
    let pairs: Vec<(String, String)> = if method == Method::POST {
        match to_bytes(req.into_body(), 1024 * 1024).await {
            Ok(bytes) => url::form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            Err(_) => Vec::new(),
        }
    } else {
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    };
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let saml_request = get("SAMLRequest");
    let relay_state = get("RelayState");
    let Some(id) = request_id(&saml_request) else {
        return (
            reply::html(
                StatusCode::BAD_REQUEST,
                idp_page("Bad request", "<h1>No valid SAMLRequest</h1>"),
            ),
            None,
        );
    };
    if method == Method::GET {
        return match cookie_user {
            Some(user) => (
                reply::html(StatusCode::OK, auto_post(state, &user, &id, &relay_state)),
                Some(user),
            ),
            None => (
                reply::html(
                    StatusCode::OK,
                    idp_login_form(&saml_request, &relay_state, None),
                ),
                None,
            ),
        };
    }
    let user_name = get("idp_username");
    let password = get("idp_password");
    let known = match auth::load_user(state, user_name.trim()).await {
        Ok(record) => record,
        Err(response) => return (response, None),
    };
    let ok = known.is_some() && password == state.config().password;
    if !ok {
        return (
            reply::html(
                StatusCode::OK,
                idp_login_form(
                    &saml_request,
                    &relay_state,
                    Some("Invalid username or password"),
                ),
            ),
            None,
        );
    }
    let user = user_name.trim().to_string();
    let token = state.sessions.idp_login(&user, state.now());
    let mut response = reply::html(StatusCode::OK, auto_post(state, &user, &id, &relay_state));
    let cookie = reply::set_cookie("idp_session", &token, None, true, tls);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    (response, Some(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_every_field() {
        let key = [7u8; 32];
        let sig = sign(&key, "SNB1", "sso.user", 100);
        assert!(verify(&key, "SNB1", "sso.user", 100, &sig));
        assert!(!verify(&key, "SNB2", "sso.user", 100, &sig));
        assert!(!verify(&key, "SNB1", "admin", 100, &sig));
        assert!(!verify(&key, "SNB1", "sso.user", 101, &sig));
        assert!(!verify(&[8u8; 32], "SNB1", "sso.user", 100, &sig));
    }

    #[test]
    fn xml_fields() {
        let xml = "<a InResponseTo=\"SNB1\"><saml:NameID>u</saml:NameID></a>";
        assert_eq!(between(xml, "InResponseTo=\"", "\""), Some("SNB1"));
        assert_eq!(between(xml, "<saml:NameID>", "</saml:NameID>"), Some("u"));
        let request = B64.encode("<samlp:AuthnRequest ID=\"SNBabc\" Version=\"2.0\"/>");
        assert_eq!(request_id(&request).as_deref(), Some("SNBabc"));
        assert!(request_id(&B64.encode("<x ID=\"a b\"/>")).is_none());
    }
}
