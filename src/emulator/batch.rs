//! The Batch API: `POST /api/now/[v1/]batch` with `{"batch_request_id", "rest_requests":[{id,
//! method, url, headers:[{name,value}], body (base64), exclude_response_headers}]}`, answered
//! `{"batch_request_id", "serviced_requests":[{id, status_code, status_text, headers, body
//! (base64), execution_time}], "unserviced_requests":[]}` (the id echoed as a string, as pysnc
//! checks it).
//!
//! Each item runs in order through the same REST handlers as a request of its own, in the
//! batch's session and as the batch's user (the batch's credentials stand in for the item's),
//! so ACLs, data policies and auth scopes apply to each item. An item that cannot be run (no
//! id, method or URL, a body that is not base64, a path outside `/api/`, a nested batch) is
//! serviced with `400` and an `error_message`. Items are not written to the request log; the
//! batch is.

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::auth::{self, Token};
use super::ctx::Ctx;
use super::reply;
use super::state::AppState;
use super::table_api::check_version;

type Reply = Result<Response, Response>;

/// Largest reply body an item may give (the instance's 10 MB per item is configurable; the
/// emulator allows what the APIs themselves allow).
const ITEM_REPLY_LIMIT: usize = super::BODY_LIMIT;

/// Headers of the batch request every item carries too: they are how the item proves who it is.
const CARRIED: [HeaderName; 3] = [
    header::AUTHORIZATION,
    header::COOKIE,
    HeaderName::from_static("x-usertoken"),
];

/// One item, read from the request.
struct Item {
    id: String,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    exclude_response_headers: bool,
}

/// The item's id as given (a string, or a number written as one).
fn id_of(item: &Value) -> Option<String> {
    match item.get("id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads one item; `Err` is why it cannot be run.
fn read_item(item: &Value, id: String) -> Result<Item, String> {
    let method = item
        .get("method")
        .and_then(Value::as_str)
        .ok_or("rest_requests.method is required")?;
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("invalid method {method}"))?;
    let url = item
        .get("url")
        .and_then(Value::as_str)
        .ok_or("rest_requests.url is required")?
        .to_string();
    let path = url.split('?').next().unwrap_or("");
    if !path.starts_with("/api/") {
        return Err(format!("{url} is not a REST API path"));
    }
    if path.trim_end_matches('/').ends_with("/batch") {
        return Err("a batch cannot hold another batch".to_string());
    }
    let mut headers = Vec::new();
    for entry in item
        .get("headers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = entry.get("name").and_then(Value::as_str);
        let value = entry.get("value").and_then(Value::as_str);
        if let (Some(name), Some(value)) = (name, value) {
            headers.push((name.to_string(), value.to_string()));
        }
    }
    let body = match item.get("body").and_then(Value::as_str) {
        // Encoders wrap long base64 lines; whitespace is not part of the data.
        Some(text) => {
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|_| "rest_requests.body is not base64".to_string())?
        }
        None => Vec::new(),
    };
    Ok(Item {
        id,
        method,
        url,
        headers,
        body,
        exclude_response_headers: item
            .get("exclude_response_headers")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The serviced entry of an item that could not be run.
fn refused(id: String, message: &str) -> Value {
    let body = json!({"error": {"message": message, "detail": null}, "status": "failure"});
    json!({
        "id": id,
        "status_code": 400,
        "status_text": "Bad Request",
        "error_message": message,
        "headers": [],
        "body": base64(body.to_string().as_bytes()),
        "execution_time": 0,
    })
}

/// Runs `item` through the REST handlers as part of the batch `outer`.
async fn service(state: &Arc<AppState>, ctx: &Ctx, outer: &HeaderMap, item: Item) -> Value {
    let started = Instant::now();
    let mut request = Request::new(Body::from(item.body));
    *request.method_mut() = item.method.clone();
    match item.url.parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return refused(item.id, &format!("invalid url {}", item.url)),
    }
    let headers = request.headers_mut();
    for (name, value) in &item.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            continue;
        };
        // The length comes from the decoded body; credentials come from the batch.
        if name != header::CONTENT_LENGTH && !CARRIED.contains(&name) {
            headers.insert(name, value);
        }
    }
    for name in CARRIED {
        if let Some(value) = outer.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    request
        .extensions_mut()
        .insert(ctx.with_method(item.method.clone()));
    let response = match super::item_router(Arc::clone(state)).oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let reply_headers: Vec<Value> = if item.exclude_response_headers {
        Vec::new()
    } else {
        response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some(json!({"name": name.as_str(), "value": value.to_str().ok()?}))
            })
            .collect()
    };
    let body = to_bytes(response.into_body(), ITEM_REPLY_LIMIT)
        .await
        .unwrap_or_else(|_| Bytes::new());
    json!({
        "id": item.id,
        "status_code": status.as_u16(),
        "status_text": status.canonical_reason().unwrap_or(""),
        "headers": reply_headers,
        "body": base64(&body),
        "execution_time": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// `POST /api/now/batch`.
pub async fn batch(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    auth::api_principal(&state, &ctx, &headers, Token::Required, None).await?;
    let invalid = |detail: &str| {
        reply::envelope(
            StatusCode::BAD_REQUEST,
            "Exception while reading request",
            Some(detail),
        )
    };
    let request: Value =
        serde_json::from_slice(&body).map_err(|_| invalid("The payload is not valid JSON."))?;
    let Some(items) = request.get("rest_requests").and_then(Value::as_array) else {
        return Err(invalid("rest_requests is required and must be an array."));
    };
    let batch_id = match request.get("batch_request_id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let mut serviced = Vec::new();
    for item in items {
        let id = id_of(item).unwrap_or_default();
        serviced.push(match read_item(item, id.clone()) {
            Ok(item) => service(&state, &ctx, &headers, item).await,
            Err(why) => refused(id, &why),
        });
    }
    Ok(reply::json(
        StatusCode::OK,
        &json!({
            "batch_request_id": batch_id,
            "serviced_requests": serviced,
            "unserviced_requests": [],
        }),
    ))
}

/// `POST /api/now/{version}/batch`.
pub mod versioned {
    use super::*;

    pub async fn batch(
        state: State<Arc<AppState>>,
        ctx: Extension<Ctx>,
        headers: HeaderMap,
        Path(version): Path<String>,
        body: Bytes,
    ) -> Reply {
        check_version(&version)?;
        super::batch(state, ctx, headers, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_read_or_refused_with_a_reason() {
        let item = json!({
            "id": 7,
            "method": "patch",
            "url": "/api/now/table/incident/abc?sysparm_display_value=all",
            "headers": [{"name": "Content-Type", "value": "application/json"}],
            "body": "eyJh\nIjoxfQ==",
            "exclude_response_headers": true,
        });
        let read = read_item(&item, id_of(&item).unwrap()).unwrap();
        assert_eq!(read.id, "7");
        assert_eq!(read.method, Method::PATCH);
        assert_eq!(read.body, br#"{"a":1}"#);
        assert!(read.exclude_response_headers);
        for (item, why) in [
            (json!({"id": "1", "url": "/api/now/table/x"}), "method"),
            (json!({"id": "1", "method": "GET"}), "url"),
            (
                json!({"id": "1", "method": "GET", "url": "/login.do"}),
                "not a REST API",
            ),
            (
                json!({"id": "1", "method": "POST", "url": "/api/now/v1/batch"}),
                "another batch",
            ),
            (
                json!({"id": "1", "method": "POST", "url": "/api/now/table/x", "body": "%%%"}),
                "base64",
            ),
        ] {
            let e = read_item(&item, "1".into()).err().unwrap();
            assert!(e.contains(why), "{e}");
        }
    }
}
