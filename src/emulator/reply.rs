//! Building replies the way an instance sends them: the JSON error envelope, JSON and HTML
//! bodies with ServiceNow's content types, redirects, and Set-Cookie lines.
//!
//! Stateless helpers; which cookies a reply carries is decided in `ctx`.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

pub const JSON_TYPE: &str = "application/json;charset=UTF-8";
pub const HTML_TYPE: &str = "text/html;charset=UTF-8";

/// A JSON reply.
pub fn json(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    raw(status, JSON_TYPE, bytes)
}

/// A JSON reply whose text is already written.
pub fn json_text(status: StatusCode, body: String) -> Response {
    raw(status, JSON_TYPE, body)
}

/// A reply with `content_type` and `body`.
pub fn raw(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// The error envelope: `{"error":{"message":..,"detail":..},"status":"failure"}`.
pub fn envelope(status: StatusCode, message: &str, detail: Option<&str>) -> Response {
    json(
        status,
        &json!({"error": {"message": message, "detail": detail}, "status": "failure"}),
    )
}

/// `401` for a request without usable credentials, exactly as an instance sends it.
pub fn not_authenticated() -> Response {
    let mut response = envelope(
        StatusCode::UNAUTHORIZED,
        "User Not Authenticated",
        Some("Required to provide Auth information"),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("BASIC realm=\"Service-now\""),
    );
    response
}

/// `403` from an access control rule.
pub fn acl_denied(operation: &str) -> Response {
    envelope(
        StatusCode::FORBIDDEN,
        "Operation Failed",
        Some(&format!(
            "ACL Exception {operation} Failed due to security constraints"
        )),
    )
}

/// `500` for the emulator's own failures (a store error), in the envelope.
pub fn internal(detail: &str) -> Response {
    envelope(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal Server Error",
        Some(detail),
    )
}

/// An HTML page.
pub fn html(status: StatusCode, page: String) -> Response {
    raw(status, HTML_TYPE, page)
}

/// `302` to `location`.
pub fn redirect(location: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::FOUND;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// One Set-Cookie value. Over TLS every cookie is `Secure; SameSite=None` as on real instances;
/// over plain HTTP both are left out, because browsers drop `SameSite=None` without `Secure`.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age: Option<i64>,
    http_only: bool,
    tls: bool,
) -> String {
    let mut line = format!("{name}={value}");
    if let Some(age) = max_age {
        line.push_str(&format!("; Max-Age={age}"));
        if age == 0 {
            line.push_str("; Expires=Thu, 01 Jan 1970 00:00:10 GMT");
        }
    }
    line.push_str("; Path=/");
    if http_only {
        line.push_str("; HttpOnly");
    }
    if tls {
        line.push_str("; SameSite=None; Secure");
    }
    line
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text for a single-quoted JavaScript string inside a `<script>` element.
pub fn js_str(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '<' => out.push_str("\\x3c"),
            '>' => out.push_str("\\x3e"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ => out.push(c),
        }
    }
    out
}

/// The reason phrase of a status, for envelopes of injected failures.
pub fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_attributes_follow_the_transport() {
        assert_eq!(
            set_cookie("JSESSIONID", "AB", None, true, true),
            "JSESSIONID=AB; Path=/; HttpOnly; SameSite=None; Secure"
        );
        assert_eq!(
            set_cookie("glide_session_store", "X", Some(1800), true, false),
            "glide_session_store=X; Max-Age=1800; Path=/; HttpOnly"
        );
        assert!(set_cookie("glide_user", "", Some(0), true, false).contains("Max-Age=0; Expires="));
    }

    #[test]
    fn escaping() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(js_str("it's </script>"), "it\\'s \\x3c/script\\x3e");
    }
}
