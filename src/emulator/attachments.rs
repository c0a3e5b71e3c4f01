//! Attachments: the Attachment API (`/api/now/[v1/]attachment...`: raw and multipart upload,
//! list, metadata, download, delete) and the storage both it and the form's upload dialog use.
//!
//! Uploading or deleting needs write access to the record; itil users are refused outright when
//! `itil_rest_attachments_refused` is on, and refused reads when
//! `itil_rest_attachment_reads_refused` is (the form's dialog and list are subject to neither).
//! Files over `attachment_max_size_mb` are refused by the API and the form alike.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use rusqlite::Connection;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::auth::{self, Principal, Token};
use super::clock::glide_datetime;
use super::ctx::Ctx;
use super::query::{EncodedQuery, SqlQuery, SqlValue};
use super::reply;
use super::rules::{self, Denied};
use super::schema::{SYS_ATTACHMENT, table};
use super::seed::new_sys_id;
use super::state::AppState;
use super::store::{self, Record};
use super::table_api::{Params, check_version, denied, link_header};

type Reply = Result<Response, Response>;

/// Stores `data` as an attachment of `table_name`/`table_sys_id`; returns its record.
#[allow(clippy::too_many_arguments)]
pub fn create(
    conn: &Connection,
    now: OffsetDateTime,
    user: &str,
    table_name: &str,
    table_sys_id: &str,
    file_name: &str,
    content_type: &str,
    data: &[u8],
) -> rusqlite::Result<Record> {
    let stamp = glide_datetime(now);
    let sys_id = new_sys_id(&mut rand::rng());
    let size = data.len().to_string();
    let hash = hex::encode(Sha256::digest(data));
    let record: Record = [
        ("sys_id", sys_id.as_str()),
        ("file_name", file_name),
        ("content_type", content_type),
        ("size_bytes", &size),
        ("size_compressed", &size),
        ("compressed", "false"),
        ("hash", &hash),
        ("state", "available"),
        ("table_name", table_name),
        ("table_sys_id", table_sys_id),
        ("chunk_size_bytes", "700000"),
        ("sys_tags", ""),
        ("sys_created_on", &stamp),
        ("sys_created_by", user),
        ("sys_updated_on", &stamp),
        ("sys_updated_by", user),
        ("sys_mod_count", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let tx = conn.unchecked_transaction()?;
    store::insert(&tx, &SYS_ATTACHMENT, &record)?;
    store::put_attachment_data(&tx, &sys_id, data)?;
    tx.commit()?;
    Ok(record)
}

/// Attachments of record `table_sys_id`, in the order they were added.
pub fn of_record(conn: &Connection, table_sys_id: &str) -> rusqlite::Result<Vec<Record>> {
    let query = SqlQuery {
        where_sql: "table_sys_id = ?".into(),
        order_sql: "rowid ASC".into(),
        params: vec![SqlValue::Text(table_sys_id.to_string())],
    };
    store::select(conn, &SYS_ATTACHMENT, &query, None, 0)
}

/// An attachment as the API shows it: every field a string, plus `download_link`.
pub fn render(base: &str, record: &Record) -> Value {
    let mut out: Map<String, Value> = SYS_ATTACHMENT
        .columns
        .iter()
        .map(|c| {
            let value = record.get(c.name).cloned().unwrap_or_default();
            (c.name.to_string(), Value::String(value))
        })
        .collect();
    let id = record.get("sys_id").map(String::as_str).unwrap_or("");
    out.insert(
        "download_link".into(),
        json!(format!("{base}/api/now/attachment/{id}/file")),
    );
    Value::Object(out)
}

async fn principal(
    state: &Arc<AppState>,
    ctx: &Ctx,
    headers: &HeaderMap,
    write: bool,
) -> Result<Principal, Response> {
    let principal = auth::api_principal(state, ctx, headers, Token::Required, None).await?;
    let scopes: &[&str] = if write {
        &["attachment_write", "table_read_write"]
    } else {
        &[
            "attachment_read",
            "attachment_write",
            "table_read",
            "table_read_write",
        ]
    };
    auth::require_scope(state, &principal, scopes)?;
    if !write && state.config().itil_rest_attachment_reads_refused && !principal.is_admin() {
        return Err(reply::acl_denied("Read"));
    }
    Ok(principal)
}

/// Refuses itil users when the switch says so, then checks write access to the record.
async fn check_write(
    state: &Arc<AppState>,
    principal: &Principal,
    table_name: &str,
    table_sys_id: &str,
) -> Result<(), Response> {
    if state.config().itil_rest_attachments_refused && !principal.is_admin() {
        return Err(reply::acl_denied("Insert"));
    }
    let Some(table) = table(table_name).filter(|t| t.name != "sys_attachment") else {
        return Err(reply::envelope(
            StatusCode::BAD_REQUEST,
            &format!("Invalid table name {table_name}"),
            None,
        ));
    };
    if !rules::can_write(principal, table) {
        return Err(reply::acl_denied("Insert"));
    }
    let id = table_sys_id.to_string();
    let exists = state
        .store
        .run(move |conn| store::get(conn, table, &id))
        .await
        .map_err(|e| reply::internal(&e))?
        .map_err(|e| reply::internal(&e.to_string()))?
        .is_some();
    if exists {
        Ok(())
    } else {
        Err(reply::envelope(
            StatusCode::BAD_REQUEST,
            &format!("Invalid table_sys_id {table_sys_id} for table {table_name}"),
            None,
        ))
    }
}

/// A file on its way into the store.
struct Upload {
    table_name: String,
    table_sys_id: String,
    file_name: String,
    content_type: String,
    data: Bytes,
}

/// The refusal of a file over `com.glide.attachment.max_size`, as the form and the API word it.
pub fn too_large(state: &AppState, file_name: &str, size: usize) -> Option<String> {
    let limit = state.config().attachment_max_size_mb;
    (size as u64 > state.config().attachment_max_bytes()).then(|| {
        format!("Failed to create the attachment {file_name}: it exceeds the maximum attachment size of {limit} MB")
    })
}

async fn store_upload(
    state: &Arc<AppState>,
    ctx: &Ctx,
    principal: &Principal,
    upload: Upload,
) -> Reply {
    if let Some(message) = too_large(state, &upload.file_name, upload.data.len()) {
        return Err(reply::envelope(
            StatusCode::BAD_REQUEST,
            &message,
            Some("com.glide.attachment.max_size"),
        ));
    }
    let now = state.now();
    let user = principal.user.clone();
    let record = state
        .store
        .run(move |conn| {
            let u = upload;
            create(
                conn,
                now,
                &user,
                &u.table_name,
                &u.table_sys_id,
                &u.file_name,
                &u.content_type,
                &u.data,
            )
        })
        .await
        .map_err(|e| reply::internal(&e))?
        .map_err(|e| reply::internal(&e.to_string()))?;
    let id = record.get("sys_id").cloned().unwrap_or_default();
    let mut response = reply::json(
        StatusCode::CREATED,
        &json!({"result": render(&ctx.base, &record)}),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("{}/api/now/v1/attachment/{id}", ctx.base)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

fn missing(parameter: &str) -> Response {
    reply::envelope(
        StatusCode::BAD_REQUEST,
        &format!("Missing required parameter: {parameter}"),
        None,
    )
}

/// `POST /api/now/attachment/file?table_name=&table_sys_id=&file_name=` with the raw body.
pub async fn upload_raw(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Reply {
    let principal = principal(&state, &ctx, &headers, true).await?;
    let params = Params::parse(query.as_deref());
    let get = |name: &str| {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .map(String::from)
            .ok_or_else(|| missing(name))
    };
    let (table_name, table_sys_id, file_name) =
        (get("table_name")?, get("table_sys_id")?, get("file_name")?);
    check_write(&state, &principal, &table_name, &table_sys_id).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let upload = Upload {
        table_name,
        table_sys_id,
        file_name,
        content_type,
        data: body,
    };
    store_upload(&state, &ctx, &principal, upload).await
}

/// `POST /api/now/attachment/upload`: multipart; `table_name` and `table_sys_id` must come
/// before the file part.
pub async fn upload_multipart(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    req: Request,
) -> Reply {
    let headers = req.headers().clone();
    let principal = principal(&state, &ctx, &headers, true).await?;
    let mut multipart = Multipart::from_request(req, &state).await.map_err(|e| {
        reply::envelope(
            StatusCode::BAD_REQUEST,
            "Invalid multipart request",
            Some(&e.body_text()),
        )
    })?;
    let mut table_name: Option<String> = None;
    let mut table_sys_id: Option<String> = None;
    loop {
        let field = multipart.next_field().await.map_err(|e| {
            reply::envelope(
                StatusCode::BAD_REQUEST,
                "Invalid multipart request",
                Some(&e.body_text()),
            )
        })?;
        let Some(field) = field else {
            return Err(reply::envelope(
                StatusCode::BAD_REQUEST,
                "Failed to create the attachment. File part might be missing in the request.",
                None,
            ));
        };
        if let Some(file_name) = field.file_name().map(String::from) {
            let (Some(t), Some(id)) = (table_name.clone(), table_sys_id.clone()) else {
                return Err(reply::envelope(
                    StatusCode::BAD_REQUEST,
                    "Failed to create the attachment. table_name and table_sys_id must precede the file part.",
                    None,
                ));
            };
            check_write(&state, &principal, &t, &id).await?;
            let content_type = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string();
            let data = field.bytes().await.map_err(|e| {
                reply::envelope(
                    StatusCode::BAD_REQUEST,
                    "Invalid multipart request",
                    Some(&e.body_text()),
                )
            })?;
            let upload = Upload {
                table_name: t,
                table_sys_id: id,
                file_name,
                content_type,
                data,
            };
            return store_upload(&state, &ctx, &principal, upload).await;
        }
        let name = field.name().unwrap_or("").to_string();
        let value = field.text().await.map_err(|e| {
            reply::envelope(
                StatusCode::BAD_REQUEST,
                "Invalid multipart request",
                Some(&e.body_text()),
            )
        })?;
        match name.as_str() {
            "table_name" => table_name = Some(value),
            "table_sys_id" => table_sys_id = Some(value),
            _ => {}
        }
    }
}

/// `GET /api/now/attachment?sysparm_query=...`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    RawQuery(query): RawQuery,
) -> Reply {
    let principal = principal(&state, &ctx, &headers, false).await?;
    let params = Params::parse(query.as_deref());
    let limit = params
        .get("sysparm_limit")
        .and_then(|l| l.trim().parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(state.config().default_limit);
    let offset = params
        .get("sysparm_offset")
        .and_then(|o| o.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let sql = EncodedQuery::parse(params.get("sysparm_query").unwrap_or(""))
        .for_user(&principal.sys_id, &principal.user)
        .to_sql(&SYS_ATTACHMENT);
    let (rows, total) = state
        .store
        .run(move |conn| -> rusqlite::Result<_> {
            Ok((
                store::select(conn, &SYS_ATTACHMENT, &sql, Some(limit), offset)?,
                store::count(conn, &SYS_ATTACHMENT, &sql)?,
            ))
        })
        .await
        .map_err(|e| reply::internal(&e))?
        .map_err(|e| reply::internal(&e.to_string()))?;
    let result: Vec<Value> = rows.iter().map(|r| render(&ctx.base, r)).collect();
    let returned = result.len();
    let mut response = reply::json(StatusCode::OK, &json!({ "result": result }));
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        h.insert("x-total-count", v);
    }
    if !params.flag("sysparm_suppress_pagination_header")
        && let Some(link) = link_header(
            &ctx.base,
            uri.path(),
            &params,
            offset,
            limit,
            Some(total),
            returned,
        )
        && let Ok(v) = HeaderValue::from_str(&link)
    {
        h.insert(header::LINK, v);
    }
    Ok(response)
}

async fn load(state: &Arc<AppState>, sys_id: String) -> Result<Record, Response> {
    state
        .store
        .run(move |conn| store::get(conn, &SYS_ATTACHMENT, &sys_id))
        .await
        .map_err(|e| reply::internal(&e))?
        .map_err(|e| reply::internal(&e.to_string()))?
        .ok_or_else(|| denied(Denied::NotFound))
}

/// `GET /api/now/attachment/{sys_id}`.
pub async fn meta(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(sys_id): Path<String>,
) -> Reply {
    principal(&state, &ctx, &headers, false).await?;
    let record = load(&state, sys_id).await?;
    Ok(reply::json(
        StatusCode::OK,
        &json!({"result": render(&ctx.base, &record)}),
    ))
}

/// `GET /api/now/attachment/{sys_id}/file`: the bytes, with their Content-Type.
pub async fn file(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(sys_id): Path<String>,
) -> Reply {
    principal(&state, &ctx, &headers, false).await?;
    download(&state, &ctx, sys_id).await
}

/// The attachment's bytes as a reply (shared with the UI's `sys_attachment.do`).
pub async fn download(state: &Arc<AppState>, ctx: &Ctx, sys_id: String) -> Reply {
    let record = load(state, sys_id.clone()).await?;
    let data = state
        .store
        .run(move |conn| store::attachment_data(conn, &sys_id))
        .await
        .map_err(|e| reply::internal(&e))?
        .map_err(|e| reply::internal(&e.to_string()))?
        .unwrap_or_default();
    let content_type = record
        .get("content_type")
        .filter(|c| !c.is_empty())
        .cloned()
        .unwrap_or_else(|| "application/octet-stream".into());
    let mut response = reply::raw(StatusCode::OK, &content_type, data);
    let meta = render(&ctx.base, &record).to_string();
    if let Ok(v) = HeaderValue::from_str(&meta) {
        response.headers_mut().insert("x-attachment-metadata", v);
    }
    Ok(response)
}

/// `DELETE /api/now/attachment/{sys_id}`: `204`.
pub async fn remove(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(sys_id): Path<String>,
) -> Reply {
    let principal = principal(&state, &ctx, &headers, true).await?;
    let record = load(&state, sys_id.clone()).await?;
    let table_name = record.get("table_name").cloned().unwrap_or_default();
    if state.config().itil_rest_attachments_refused && !principal.is_admin() {
        return Err(reply::acl_denied("Delete"));
    }
    if !table(&table_name).is_some_and(|t| rules::can_write(&principal, t)) {
        return Err(reply::acl_denied("Delete"));
    }
    state
        .store
        .run(move |conn| -> rusqlite::Result<()> {
            store::delete(conn, &SYS_ATTACHMENT, &sys_id)?;
            store::delete_attachment_data(conn, &sys_id)
        })
        .await
        .map_err(|e| reply::internal(&e))?
        .map_err(|e| reply::internal(&e.to_string()))?;
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// Versioned routes (`/api/now/v1/attachment...`).
pub mod versioned {
    use super::*;

    pub async fn upload_raw(
        state: State<Arc<AppState>>,
        ctx: Extension<Ctx>,
        headers: HeaderMap,
        Path(version): Path<String>,
        query: RawQuery,
        body: Bytes,
    ) -> Reply {
        check_version(&version)?;
        super::upload_raw(state, ctx, headers, query, body).await
    }

    pub async fn upload_multipart(
        state: State<Arc<AppState>>,
        ctx: Extension<Ctx>,
        Path(version): Path<String>,
        req: Request,
    ) -> Reply {
        check_version(&version)?;
        super::upload_multipart(state, ctx, req).await
    }

    pub async fn list(
        state: State<Arc<AppState>>,
        ctx: Extension<Ctx>,
        headers: HeaderMap,
        Path(version): Path<String>,
        uri: axum::extract::OriginalUri,
        query: RawQuery,
    ) -> Reply {
        check_version(&version)?;
        super::list(state, ctx, headers, uri, query).await
    }

    pub async fn meta(
        state: State<Arc<AppState>>,
        ctx: Extension<Ctx>,
        headers: HeaderMap,
        Path((version, id)): Path<(String, String)>,
    ) -> Reply {
        check_version(&version)?;
        super::meta(state, ctx, headers, Path(id)).await
    }

    pub async fn file(
        state: State<Arc<AppState>>,
        ctx: Extension<Ctx>,
        headers: HeaderMap,
        Path((version, id)): Path<(String, String)>,
    ) -> Reply {
        check_version(&version)?;
        super::file(state, ctx, headers, Path(id)).await
    }

    pub async fn remove(
        state: State<Arc<AppState>>,
        ctx: Extension<Ctx>,
        headers: HeaderMap,
        Path((version, id)): Path<(String, String)>,
    ) -> Reply {
        check_version(&version)?;
        super::remove(state, ctx, headers, Path(id)).await
    }
}
