//! The JSON web service: `/<table>.do?JSONv2&sysparm_action=...` with the actions `getKeys`,
//! `getRecords`, `get`, `insert`, `insertMultiple`, `update`, `deleteRecord`, `deleteMultiple`.
//!
//! Replies `{"records":[...]}` with string values (`displayvalue=all` adds `dv_<field>`); a
//! record that failed carries `__status: failure` and `__error {message, reason}`; a call that
//! failed whole answers `{"_error": ..., "reason": null}`. Unverified on real instances and
//! chosen here: whole-call failures use status 400 (bad table, action or body); `deleteMultiple`
//! answers `{"records":[{"count":"N"}]}` (the SOAP twin returns a count). Writes go through
//! `rules`, like the Table API.

use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use rusqlite::Connection;
use serde_json::{Map, Value, json};

use super::auth::{self, Principal, Token};
use super::config::Jsonv2Unauthenticated;
use super::ctx::Ctx;
use super::query::{EncodedQuery, SqlQuery};
use super::render::{self, Lookup, Show};
use super::reply;
use super::rules::{self, Action, Channel, Denied, Policy};
use super::schema::{Table, table};
use super::state::AppState;
use super::store::{self, Record};
use super::table_api::Params;

/// Most records one JSONv2 call returns (`glide.json.return_limit`-like cap).
pub const RECORD_CAP: usize = 10_000;

/// Largest JSON body accepted.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

fn whole_failure(status: StatusCode, message: &str) -> Response {
    reply::json(status, &json!({"_error": message, "reason": null}))
}

fn failed_record(record: Value, denied: &Denied) -> Value {
    let mut record = match record {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let (message, reason) = denied.message();
    record.insert("__status".into(), json!("failure"));
    record.insert(
        "__error".into(),
        json!({"message": message, "reason": reason}),
    );
    Value::Object(record)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    GetKeys,
    GetRecords,
    Get,
    Insert,
    InsertMultiple,
    Update,
    DeleteRecord,
    DeleteMultiple,
}

impl Verb {
    fn parse(action: &str) -> Option<Verb> {
        Some(match action {
            "getKeys" => Verb::GetKeys,
            "getRecords" => Verb::GetRecords,
            "get" => Verb::Get,
            "insert" => Verb::Insert,
            "insertMultiple" => Verb::InsertMultiple,
            "update" => Verb::Update,
            "deleteRecord" => Verb::DeleteRecord,
            "deleteMultiple" => Verb::DeleteMultiple,
            _ => return None,
        })
    }

    fn writes(self) -> bool {
        !matches!(self, Verb::GetKeys | Verb::GetRecords | Verb::Get)
    }
}

/// Handles `/<table_name>.do?JSONv2...`.
pub async fn handle(state: Arc<AppState>, ctx: Ctx, table_name: String, req: Request) -> Response {
    match run(&state, &ctx, &table_name, req).await {
        Ok(response) | Err(response) => response,
    }
}

async fn run(
    state: &Arc<AppState>,
    ctx: &Ctx,
    table_name: &str,
    req: Request,
) -> Result<Response, Response> {
    let params = Params::parse(req.uri().query());
    let headers = req.headers().clone();
    let method = req.method().clone();

    let has_credentials = headers.contains_key(axum::http::header::AUTHORIZATION)
        || ctx.client_certificate.is_some()
        || ctx.session(state).is_some_and(|s| s.logged_in());
    if !has_credentials {
        return Err(match state.config().jsonv2_unauthenticated {
            Jsonv2Unauthenticated::Unauthorized => reply::not_authenticated(),
            Jsonv2Unauthenticated::LoginRedirect => reply::redirect("/login.do"),
        });
    }

    let body = if method == Method::POST {
        let bytes = to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| whole_failure(StatusCode::BAD_REQUEST, "Request body too large"))?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => map,
                _ => {
                    return Err(whole_failure(
                        StatusCode::BAD_REQUEST,
                        "Invalid JSON in the request body",
                    ));
                }
            }
        }
    } else {
        Map::new()
    };
    // Parameters may ride in the body; the body's take precedence.
    let param = |name: &str| -> Option<String> {
        body.get(name)
            .and_then(rules::json_to_wire)
            .or_else(|| params.get(name).map(String::from))
    };
    let action = param("sysparm_action").unwrap_or_default();
    let Some(verb) = Verb::parse(&action) else {
        return Err(whole_failure(
            StatusCode::BAD_REQUEST,
            &format!("Invalid or missing sysparm_action: {action}"),
        ));
    };
    let token = if verb.writes() {
        Token::Required
    } else {
        Token::NotRequired
    };
    let form_token = param("sysparm_ck");
    let principal = auth::api_principal(state, ctx, &headers, token, form_token.as_deref()).await?;
    auth::require_scope(state, &principal, &[])?;
    if verb.writes() && method != Method::POST {
        return Err(whole_failure(
            StatusCode::BAD_REQUEST,
            &format!("{action} requires an HTTP POST with a JSON body"),
        ));
    }
    let Some(table) = table(table_name) else {
        return Err(whole_failure(
            StatusCode::BAD_REQUEST,
            &format!("Invalid table {table_name}"),
        ));
    };

    let display = Show::parse(param("displayvalue").as_deref());
    let query_text = param("sysparm_query").unwrap_or_default();
    let sys_id = param("sysparm_sys_id").unwrap_or_default();
    let count = param("sysparm_record_count")
        .and_then(|c| c.trim().parse::<usize>().ok())
        .unwrap_or(RECORD_CAP)
        .min(RECORD_CAP);
    let fields: Vec<(String, String)> = body
        .iter()
        .filter(|(k, _)| !k.starts_with("sysparm_") && k.as_str() != "records")
        .filter_map(|(k, v)| Some((k.clone(), rules::json_to_wire(v)?)))
        .collect();
    let many: Vec<Vec<(String, String)>> = match body.get("records") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| match item {
                Value::Object(map) => Some(
                    map.iter()
                        .filter_map(|(k, v)| Some((k.clone(), rules::json_to_wire(v)?)))
                        .collect(),
                ),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if verb == Verb::Update && query_text.trim().is_empty() {
        return Err(whole_failure(
            StatusCode::BAD_REQUEST,
            "update requires sysparm_query",
        ));
    }
    if verb == Verb::DeleteMultiple && query_text.trim().is_empty() {
        return Err(whole_failure(
            StatusCode::BAD_REQUEST,
            "deleteMultiple requires sysparm_query",
        ));
    }

    let now = state.now();
    let policy = Policy {
        web_service_state_acl: state.config().itil_web_service_state_acl,
    };
    let job = Job {
        verb,
        table,
        display,
        query: EncodedQuery::parse(&query_text).for_user(&principal.sys_id, &principal.user),
        sys_id,
        count,
        fields,
        many,
        principal,
        now,
        policy,
    };
    let body = state
        .store
        .run(move |conn| job.execute(conn))
        .await
        .map_err(|e| reply::internal(&e))?
        .map_err(|e| whole_failure(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
    Ok(reply::json_text(StatusCode::OK, body))
}

struct Job {
    verb: Verb,
    table: &'static Table,
    display: Show,
    query: EncodedQuery,
    sys_id: String,
    count: usize,
    fields: Vec<(String, String)>,
    many: Vec<Vec<(String, String)>>,
    principal: Principal,
    now: time::OffsetDateTime,
    policy: Policy,
}

impl Job {
    /// The reply body, `{"records":[...]}`.
    fn execute(self, conn: &Connection) -> Result<String, String> {
        let lookup = Lookup::new(conn);
        let sql = self.query.to_sql(self.table);
        // The read ACL filters rows after the record count, as on instances.
        let readable = rules::readable(&self.principal, self.table);
        let check = readable
            .field()
            .and_then(|field| self.table.columns.iter().position(|c| c.name == field));
        let id_at = self
            .table
            .columns
            .iter()
            .position(|c| c.name == "sys_id")
            .unwrap_or(0);
        let may_read = |cells: &[String]| {
            readable.allows(check.and_then(|at| cells.get(at)).map(String::as_str))
        };
        if matches!(self.verb, Verb::GetRecords | Verb::GetKeys) {
            // Up to 10,000 records: written straight from the rows.
            let mut body = String::from("{\"records\":[");
            db(store::select_cells(
                conn,
                self.table,
                &self.table.columns.iter().collect::<Vec<_>>(),
                &sql,
                Some(self.count),
                0,
                |cells| {
                    if !may_read(cells) {
                        return;
                    }
                    if !body.ends_with('[') {
                        body.push(',');
                    }
                    if self.verb == Verb::GetKeys {
                        render::push_json_str(
                            &mut body,
                            cells.get(id_at).map_or("", String::as_str),
                        );
                    } else {
                        render::write_jsonv2(&mut body, self.table, cells, self.display, &lookup);
                    }
                },
            ))?;
            body.push_str("]}");
            return Ok(body);
        }
        let records = self.records(conn, &sql, &lookup)?;
        serde_json::to_string(&json!({ "records": records })).map_err(|e| e.to_string())
    }

    fn records(
        &self,
        conn: &Connection,
        sql: &SqlQuery,
        lookup: &Lookup<'_>,
    ) -> Result<Vec<Value>, String> {
        let show = |record: &Record| render::jsonv2_value(self.table, record, self.display, lookup);
        let sql = sql.clone();
        match self.verb {
            // Written straight from the rows in `execute`.
            Verb::GetKeys | Verb::GetRecords => Ok(Vec::new()),
            Verb::Get => Ok(db(store::get(conn, self.table, &self.sys_id))?
                .iter()
                .filter(|r| rules::can_read(&self.principal, self.table, r))
                .map(show)
                .collect()),
            Verb::Insert | Verb::InsertMultiple => {
                let batches = if self.many.is_empty() {
                    vec![self.fields.clone()]
                } else {
                    self.many.clone()
                };
                let mut out = Vec::new();
                for fields in batches {
                    out.push(self.insert_one(conn, fields, lookup)?);
                }
                Ok(out)
            }
            Verb::Update => {
                let ids = db(store::select_ids(conn, self.table, &sql, Some(self.count)))?;
                let mut out = Vec::new();
                for id in ids {
                    out.push(self.update_one(conn, &id, lookup)?);
                }
                Ok(out)
            }
            Verb::DeleteRecord => {
                let Some(record) = db(store::get(conn, self.table, &self.sys_id))? else {
                    return Ok(Vec::new());
                };
                Ok(vec![
                    match rules::delete(conn, &self.principal, self.table, &self.sys_id) {
                        Ok(_) => show(&record),
                        Err(Denied::Store(e)) => return Err(store_error(e)),
                        Err(denied) => failed_record(show(&record), &denied),
                    },
                ])
            }
            Verb::DeleteMultiple => {
                let ids = db(store::select_ids(conn, self.table, &sql, None))?;
                let mut deleted = 0usize;
                let mut failures = Vec::new();
                for id in ids {
                    match rules::delete(conn, &self.principal, self.table, &id) {
                        Ok(_) => deleted += 1,
                        Err(Denied::Store(e)) => return Err(store_error(e)),
                        Err(denied) => {
                            let mut record = Map::new();
                            record.insert("sys_id".into(), json!(id));
                            failures.push(failed_record(Value::Object(record), &denied));
                        }
                    }
                }
                let mut out = vec![json!({"count": deleted.to_string()})];
                out.extend(failures);
                Ok(out)
            }
        }
    }

    fn insert_one(
        &self,
        conn: &Connection,
        fields: Vec<(String, String)>,
        lookup: &Lookup<'_>,
    ) -> Result<Value, String> {
        let attempted: Map<String, Value> =
            fields.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let result = rules::incoming(conn, self.table, fields, true).and_then(|input| {
            rules::insert(
                conn,
                self.now,
                &self.principal,
                self.table,
                input,
                Channel::WebService,
                self.policy,
            )
        });
        match result {
            Ok(record) => Ok(render::jsonv2_value(
                self.table,
                &record,
                self.display,
                lookup,
            )),
            Err(Denied::Store(e)) => Err(store_error(e)),
            Err(denied) => Ok(failed_record(Value::Object(attempted), &denied)),
        }
    }

    fn update_one(
        &self,
        conn: &Connection,
        sys_id: &str,
        lookup: &Lookup<'_>,
    ) -> Result<Value, String> {
        let result =
            rules::incoming(conn, self.table, self.fields.clone(), false).and_then(|changes| {
                rules::update(
                    conn,
                    self.now,
                    &self.principal,
                    self.table,
                    sys_id,
                    changes,
                    Action::Save,
                    Channel::WebService,
                    self.policy,
                )
            });
        match result {
            Ok(record) => Ok(render::jsonv2_value(
                self.table,
                &record,
                self.display,
                lookup,
            )),
            Err(Denied::Store(e)) => Err(store_error(e)),
            Err(denied) => {
                let current = db(store::get(conn, self.table, sys_id))?.unwrap_or_default();
                Ok(failed_record(
                    render::jsonv2_value(self.table, &current, self.display, lookup),
                    &denied,
                ))
            }
        }
    }
}

fn store_error(e: String) -> String {
    e
}

fn db<T>(result: rusqlite::Result<T>) -> Result<T, String> {
    result.map_err(|e| e.to_string())
}
