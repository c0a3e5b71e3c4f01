//! The Table API: `GET/POST /api/now/[v1|v2/]table/{table}` and
//! `GET/PUT/PATCH/DELETE /api/now/[v1|v2/]table/{table}/{sys_id}`.
//!
//! Lists page with `sysparm_limit`/`sysparm_offset`, answer `X-Total-Count` and a `Link` header
//! as instances send it: absolute URLs with the same parameters, percent-encoded except the
//! commas of `sysparm_fields`, and no header at all when every row fits in one page (or with
//! `sysparm_suppress_pagination_header=true`). They render per `sysparm_display_value`,
//! `sysparm_exclude_reference_link` and `sysparm_fields`. Writes go through `rules`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::auth::{self, Principal, Token};
use super::ctx::Ctx;
use super::query::EncodedQuery;
use super::render::{Lookup, Show, TableView};
use super::reply;
use super::rules::{self, Action, Channel, Denied, Policy};
use super::schema::{Table, table};
use super::state::AppState;
use super::store;

type Reply = Result<Response, Response>;

/// Query-string parameters in their order.
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Params {
        Params(
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// `/api/now/{version}/...`: only v1 and v2 exist.
pub fn check_version(version: &str) -> Result<(), Response> {
    if version == "v1" || version == "v2" {
        Ok(())
    } else {
        Err(no_such_resource())
    }
}

pub fn no_such_resource() -> Response {
    reply::envelope(
        StatusCode::BAD_REQUEST,
        "Requested URI does not represent any resource",
        None,
    )
}

/// An API path called with a method it does not take.
pub async fn method_not_supported() -> Response {
    reply::envelope(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not Supported",
        Some("The requested method is not supported by this resource"),
    )
}

pub fn invalid_table(name: &str) -> Response {
    reply::envelope(
        StatusCode::BAD_REQUEST,
        &format!("Invalid table {name}"),
        None,
    )
}

/// The reply for a refused write.
pub fn denied(denied: Denied) -> Response {
    let (message, detail) = denied.message();
    let status = match denied {
        Denied::NotFound => StatusCode::NOT_FOUND,
        Denied::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::FORBIDDEN,
    };
    reply::envelope(status, &message, detail.as_deref())
}

pub fn policy(state: &AppState) -> Policy {
    Policy {
        web_service_state_acl: state.config().itil_web_service_state_acl,
    }
}

async fn principal(
    state: &Arc<AppState>,
    ctx: &Ctx,
    headers: &HeaderMap,
    table_name: &str,
) -> Result<Principal, Response> {
    let principal = auth::api_principal(state, ctx, headers, Token::Required, None).await?;
    auth::require_table_scope(state, ctx, &principal, table_name)?;
    Ok(principal)
}

pub fn lookup(name: &str) -> Result<&'static Table, Response> {
    table(name).ok_or_else(|| invalid_table(name))
}

pub fn view_params(params: &Params) -> (Show, bool, Option<Vec<String>>) {
    let display = Show::parse(params.get("sysparm_display_value"));
    let exclude = params.flag("sysparm_exclude_reference_link");
    let fields = params.get("sysparm_fields").and_then(|f| {
        let list: Vec<String> = f
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        (!list.is_empty()).then_some(list)
    });
    (display, exclude, fields)
}

/// `GET /api/now/table/{table}`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Reply {
    let principal = principal(&state, &ctx, &headers, &name).await?;
    let table = lookup(&name)?;
    if table.name == "sys_choice" && state.config().sys_choice_admin_only && !principal.is_admin() {
        return Err(denied(Denied::Acl("Read")));
    }
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
    let no_count = params.flag("sysparm_no_count");
    let sql = EncodedQuery::parse(params.get("sysparm_query").unwrap_or(""))
        .for_user(&principal.sys_id, &principal.user)
        .to_sql(table);
    let (show, exclude_links, fields) = view_params(&params);
    let base = ctx.base.clone();
    let readable = rules::readable(&principal, table);
    let repeat_row = state.config().faults.repeat_row;
    // Query and render in one pass on the blocking pool: rows go straight into the JSON text.
    let (body, returned, total) = state
        .store
        .run(move |conn| -> rusqlite::Result<_> {
            let total = if no_count {
                None
            } else {
                Some(store::count(conn, table, &sql)?)
            };
            let lookup = Lookup::new(conn);
            let mut view = TableView::new(
                table,
                show,
                exclude_links,
                &base,
                fields.as_deref(),
                &lookup,
            );
            // The read ACL filters rows after the limit, as on instances (the count does not).
            let check = readable
                .field()
                .and_then(|field| Some(view.require(table.column(field)?)));
            let mut body = String::with_capacity(64 * 1024);
            body.push_str("{\"result\":[");
            // Where the first row's JSON sits, and where the second row's ends.
            let mut first_row: Option<std::ops::Range<usize>> = None;
            let mut second_end: Option<usize> = None;
            let returned = store::select_cells(
                conn,
                table,
                view.columns(),
                &sql,
                Some(limit),
                offset,
                |cells| {
                    let value = check.and_then(|at| cells.get(at)).map(String::as_str);
                    if !readable.allows(value) {
                        return;
                    }
                    if !body.ends_with('[') {
                        body.push(',');
                    }
                    let start = body.len();
                    view.write(&mut body, cells);
                    match first_row {
                        None => first_row = Some(start..body.len()),
                        Some(_) if second_end.is_none() => second_end = Some(body.len()),
                        Some(_) => {}
                    }
                },
            )?;
            if repeat_row && let (Some(first), Some(at)) = (first_row, second_end) {
                let again = format!(",{}", &body[first]);
                body.insert_str(at, &again);
            }
            body.push_str("]}");
            Ok((body, returned, total))
        })
        .await
        .map_err(|e| reply::internal(&e))?
        .map_err(|e| reply::internal(&e.to_string()))?;
    let mut response = reply::json_text(StatusCode::OK, body);
    let h = response.headers_mut();
    if let Some(total) = total
        && let Ok(v) = HeaderValue::from_str(&total.to_string())
    {
        h.insert("x-total-count", v);
    }
    if !params.flag("sysparm_suppress_pagination_header")
        && let Some(link) = link_header(
            &ctx.base,
            uri.path(),
            &params,
            offset,
            limit,
            total,
            returned,
        )
        && let Ok(v) = HeaderValue::from_str(&link)
    {
        h.insert(header::LINK, v);
    }
    Ok(response)
}

/// The `Link` header: first, prev, next, last, each the same absolute URL with another offset,
/// or `None` when every row fits in one page (offset 0, and the count, or without one the rows
/// listed before the ACLs, within the limit), as instances leave it out then.
///
/// Parameters keep their order (a missing offset and limit are added) and are percent-encoded,
/// except that `sysparm_fields` keeps its commas raw, as instances write it; `listed` counts
/// the rows the query gave before the read ACL filtered them.
pub fn link_header(
    base: &str,
    path: &str,
    params: &Params,
    offset: usize,
    limit: usize,
    total: Option<usize>,
    listed: usize,
) -> Option<String> {
    let fits = offset == 0
        && match total {
            Some(total) => total <= limit,
            None => listed < limit,
        };
    if fits {
        return None;
    }
    let url = |at: usize| {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (k, v) in &params.0 {
            let value = match k.as_str() {
                "sysparm_offset" => at.to_string(),
                "sysparm_limit" => limit.to_string(),
                _ => v.clone(),
            };
            pairs.push((k, value));
        }
        if !params.0.iter().any(|(k, _)| k == "sysparm_offset") {
            pairs.push(("sysparm_offset", at.to_string()));
        }
        if !params.0.iter().any(|(k, _)| k == "sysparm_limit") {
            pairs.push(("sysparm_limit", limit.to_string()));
        }
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                let value = encode(v);
                let value = if *k == "sysparm_fields" {
                    value.replace("%2C", ",")
                } else {
                    value
                };
                format!("{}={value}", encode(k))
            })
            .collect();
        format!("<{base}{path}?{}>", query.join("&"))
    };
    let mut links = vec![format!("{};rel=\"first\"", url(0))];
    if offset > 0 {
        links.push(format!(
            "{};rel=\"prev\"",
            url(offset.saturating_sub(limit))
        ));
    }
    let more = match total {
        Some(total) => offset.saturating_add(limit) < total,
        None => listed == limit,
    };
    if more {
        links.push(format!(
            "{};rel=\"next\"",
            url(offset.saturating_add(limit))
        ));
    }
    if let Some(total) = total {
        let last = if total == 0 {
            0
        } else {
            (total - 1) / limit * limit
        };
        links.push(format!("{};rel=\"last\"", url(last)));
    }
    Some(links.join(","))
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `GET /api/now/table/{table}/{sys_id}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path((name, sys_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Reply {
    let principal = principal(&state, &ctx, &headers, &name).await?;
    let table = lookup(&name)?;
    let params = Params::parse(query.as_deref());
    let base = ctx.base.clone();
    let body = state
        .store
        .run(move |conn| -> rusqlite::Result<_> {
            let record =
                store::get(conn, table, &sys_id)?.filter(|r| rules::can_read(&principal, table, r));
            Ok(record.map(|r| render_one(conn, &base, &params, table, &r)))
        })
        .await
        .map_err(|e| reply::internal(&e))?
        .map_err(|e| reply::internal(&e.to_string()))?
        .ok_or_else(|| denied(Denied::NotFound))?;
    Ok(reply::json_text(StatusCode::OK, body))
}

/// `{"result":{...}}` for one record, rendered as `params` ask.
pub fn render_one(
    conn: &rusqlite::Connection,
    base: &str,
    params: &Params,
    table: &'static Table,
    record: &store::Record,
) -> String {
    let lookup = Lookup::new(conn);
    let (show, exclude_links, fields) = view_params(params);
    let view = TableView::new(table, show, exclude_links, base, fields.as_deref(), &lookup);
    let mut body = String::from("{\"result\":");
    view.write_record(&mut body, record);
    body.push('}');
    body
}

/// The JSON object body of a write, as (field, wire value) pairs.
pub fn body_fields(body: &Bytes) -> Result<Vec<(String, String)>, Response> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        reply::envelope(
            StatusCode::BAD_REQUEST,
            "Exception while reading request",
            Some("The payload is not valid JSON."),
        )
    })?;
    let Value::Object(map) = value else {
        return Err(reply::envelope(
            StatusCode::BAD_REQUEST,
            "Exception while reading request",
            Some("The payload must be a JSON object."),
        ));
    };
    Ok(map
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), rules::json_to_wire(v)?)))
        .collect())
}

/// `POST /api/now/table/{table}`: `201` with `Location`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Reply {
    let principal = principal(&state, &ctx, &headers, &name).await?;
    let table = lookup(&name)?;
    let fields = body_fields(&body)?;
    let params = Params::parse(query.as_deref());
    let now = state.now();
    let policy = policy(&state);
    let base = ctx.base.clone();
    let (sys_id, body) = state
        .store
        .run(move |conn| -> Result<_, Denied> {
            let input = rules::incoming(conn, table, fields, true)?;
            let record = rules::insert(
                conn,
                now,
                &principal,
                table,
                input,
                Channel::WebService,
                policy,
            )?;
            let sys_id = record.get("sys_id").cloned().unwrap_or_default();
            Ok((sys_id, render_one(conn, &base, &params, table, &record)))
        })
        .await
        .map_err(|e| reply::internal(&e))?
        .map_err(denied)?;
    let mut response = reply::json_text(StatusCode::CREATED, body);
    let location = format!("{}/api/now/table/{}/{sys_id}", ctx.base, table.name);
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// `PATCH`/`PUT /api/now/table/{table}/{sys_id}`.
pub async fn modify(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path((name, sys_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Reply {
    let principal = principal(&state, &ctx, &headers, &name).await?;
    let table = lookup(&name)?;
    let fields = body_fields(&body)?;
    let params = Params::parse(query.as_deref());
    let now = state.now();
    let policy = policy(&state);
    let base = ctx.base.clone();
    let body = state
        .store
        .run(move |conn| -> Result<_, Denied> {
            let changes = rules::incoming(conn, table, fields, false)?;
            let record = rules::update(
                conn,
                now,
                &principal,
                table,
                &sys_id,
                changes,
                Action::Save,
                Channel::WebService,
                policy,
            )?;
            Ok(render_one(conn, &base, &params, table, &record))
        })
        .await
        .map_err(|e| reply::internal(&e))?
        .map_err(denied)?;
    Ok(reply::json_text(StatusCode::OK, body))
}

/// `DELETE /api/now/table/{table}/{sys_id}`: `204`.
pub async fn remove(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path((name, sys_id)): Path<(String, String)>,
) -> Reply {
    let principal = principal(&state, &ctx, &headers, &name).await?;
    let table = lookup(&name)?;
    state
        .store
        .run(move |conn| rules::delete(conn, &principal, table, &sys_id))
        .await
        .map_err(|e| reply::internal(&e))?
        .map_err(denied)?;
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// Versioned routes (`/api/now/v2/table/...`) check the version, then do the same.
pub mod versioned {
    use super::*;

    pub async fn list(
        state: State<Arc<AppState>>,
        ctx: Extension<Ctx>,
        headers: HeaderMap,
        Path((version, name)): Path<(String, String)>,
        uri: OriginalUri,
        query: RawQuery,
    ) -> Reply {
        check_version(&version)?;
        super::list(state, ctx, headers, Path(name), uri, query).await
    }

    pub async fn create(
        state: State<Arc<AppState>>,
        ctx: Extension<Ctx>,
        headers: HeaderMap,
        Path((version, name)): Path<(String, String)>,
        query: RawQuery,
        body: Bytes,
    ) -> Reply {
        check_version(&version)?;
        super::create(state, ctx, headers, Path(name), query, body).await
    }

    pub async fn get(
        state: State<Arc<AppState>>,
        ctx: Extension<Ctx>,
        headers: HeaderMap,
        Path((version, name, id)): Path<(String, String, String)>,
        query: RawQuery,
    ) -> Reply {
        check_version(&version)?;
        super::get(state, ctx, headers, Path((name, id)), query).await
    }

    pub async fn modify(
        state: State<Arc<AppState>>,
        ctx: Extension<Ctx>,
        headers: HeaderMap,
        Path((version, name, id)): Path<(String, String, String)>,
        query: RawQuery,
        body: Bytes,
    ) -> Reply {
        check_version(&version)?;
        super::modify(state, ctx, headers, Path((name, id)), query, body).await
    }

    pub async fn remove(
        state: State<Arc<AppState>>,
        ctx: Extension<Ctx>,
        headers: HeaderMap,
        Path((version, name, id)): Path<(String, String, String)>,
    ) -> Reply {
        check_version(&version)?;
        super::remove(state, ctx, headers, Path((name, id))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_pages() {
        let params = Params::parse(Some(
            "sysparm_query=active%3Dtrue%5EORDERBYnumber&sysparm_fields=number%2Cshort_description&sysparm_limit=10&sysparm_offset=10",
        ));
        let link = link_header(
            "http://h",
            "/api/now/table/incident",
            &params,
            10,
            10,
            Some(35),
            10,
        )
        .unwrap();
        let parts: Vec<&str> = link.split(">;").collect();
        assert_eq!(parts.len(), 5, "{link}");
        assert!(
            link.starts_with(
                "<http://h/api/now/table/incident?sysparm_query=active%3Dtrue%5EORDERBYnumber&sysparm_fields=number,short_description&sysparm_limit=10&sysparm_offset=0>;rel=\"first\","
            ),
            "{link}"
        );
        assert!(link.contains("sysparm_offset=0>;rel=\"prev\""));
        assert!(link.contains("sysparm_offset=20>;rel=\"next\""));
        assert!(link.contains("sysparm_offset=30>;rel=\"last\""));
    }

    #[test]
    fn huge_numbers_from_clients_do_not_overflow() {
        let params = Params::parse(None);
        let link = link_header(
            "http://h",
            "/p",
            &params,
            usize::MAX,
            usize::MAX,
            Some(5),
            0,
        )
        .unwrap();
        assert!(link.contains("rel=\"prev\"") && !link.contains("rel=\"next\""));
    }

    #[test]
    fn no_link_when_every_row_fits_in_one_page() {
        let params = Params::parse(None);
        assert_eq!(
            link_header("http://h", "/p", &params, 0, 10, Some(10), 10),
            None
        );
        assert_eq!(
            link_header("http://h", "/p", &params, 0, 10, Some(0), 0),
            None
        );
        assert_eq!(link_header("http://h", "/p", &params, 0, 10, None, 9), None);
        // Past the first page, the links stay, even when it is the last.
        let link = link_header("http://h", "/p", &params, 10, 10, Some(12), 2).unwrap();
        assert!(link.contains("sysparm_offset=10&sysparm_limit=10>;rel=\"last\""));
        assert!(!link.contains("next"));
        // Without a count, "next" is offered while pages come back full.
        let link = link_header("http://h", "/p", &params, 0, 10, None, 10).unwrap();
        assert!(link.contains("rel=\"next\"") && !link.contains("last"));
        let link = link_header("http://h", "/p", &params, 0, 10, Some(11), 10).unwrap();
        assert!(link.contains("rel=\"next\""));
    }
}
