//! The Aggregate API: `GET /api/now/[v1/]stats/{table}` with `sysparm_count`,
//! `sysparm_avg_fields` / `sum` / `min` / `max`, `sysparm_group_by`, `sysparm_having`,
//! `sysparm_order_by`, `sysparm_query` (or field=value pairs) and `sysparm_display_value` for
//! the groups, which may be made by dot-walked fields (`caller_id.department`).
//!
//! As documented, it needs read access to every record of the table: a user whom an ACL limits
//! to some rows (callers and their incidents) gets `403`. Without `sysparm_group_by` the reply
//! is `{"result":{"stats":{...}}}`; with it, one `{"stats":{...},"groupby_fields":[...]}` per
//! group. Counts and aggregates are strings (averages with four decimals), as instances send them.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rusqlite::types::Value as SqlCell;
use rusqlite::{Connection, params_from_iter};
use serde_json::{Map, Value, json};

use super::auth::{self, Token};
use super::ctx::Ctx;
use super::query::{EncodedQuery, Op, SqlValue, Term, column_sql, sort_expr, value_expr};
use super::render::{Lookup, Show};
use super::reply;
use super::rules::{self, Readable};
use super::schema::{Column, Kind, Table};
use super::state::AppState;
use super::store::ident;
use super::table_api::{Params, check_version, lookup};

type Reply = Result<Response, Response>;

/// An aggregate function over a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Aggregate {
    Avg,
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn key(self) -> &'static str {
        match self {
            Aggregate::Avg => "avg",
            Aggregate::Sum => "sum",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
        }
    }

    fn parse(name: &str) -> Option<Aggregate> {
        Some(match name.to_ascii_lowercase().as_str() {
            "avg" => Aggregate::Avg,
            "sum" => Aggregate::Sum,
            "min" => Aggregate::Min,
            "max" => Aggregate::Max,
            _ => return None,
        })
    }

    /// The SQL over `column` (empty values are no values, as NULLs are on instances).
    fn sql(self, column: &Column) -> String {
        let value = format!("NULLIF({}, '')", column_sql(0, column.name));
        let numeric = matches!(
            column.kind,
            Kind::Integer | Kind::Choice { numeric: true, .. }
        );
        match self {
            Aggregate::Avg => format!("AVG(CAST({value} AS REAL))"),
            Aggregate::Sum => format!("SUM(CAST({value} AS REAL))"),
            Aggregate::Min if numeric => format!("MIN(CAST({value} AS INTEGER))"),
            Aggregate::Max if numeric => format!("MAX(CAST({value} AS INTEGER))"),
            Aggregate::Min => format!("MIN({value})"),
            Aggregate::Max => format!("MAX({value})"),
        }
    }
}

/// A field the groups are made by: one of the table's, or one reached through references
/// (`caller_id.department`), as instances group by dot-walked fields.
struct GroupField {
    /// As asked: the `field` of each group's `groupby_fields` entry.
    path: String,
    /// The field at the end of the walk, whose display value a group shows.
    column: &'static Column,
    /// Its value on the row `t0`, in SQL.
    value: String,
}

/// What one request asks for, checked against the table.
struct Ask {
    count: bool,
    aggregates: Vec<(Aggregate, &'static Column)>,
    group_by: Vec<GroupField>,
    having: Vec<(String, &'static str, f64)>,
    order: Vec<String>,
}

/// The fields of a comma list that the table has (unknown names are left out, as instances do).
fn fields(table: &'static Table, list: Option<&str>) -> Vec<&'static Column> {
    list.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter_map(|name| table.column(name))
        .collect()
}

fn ask(table: &'static Table, params: &Params) -> Ask {
    let mut aggregates = Vec::new();
    for aggregate in [
        Aggregate::Avg,
        Aggregate::Sum,
        Aggregate::Min,
        Aggregate::Max,
    ] {
        let name = format!("sysparm_{}_fields", aggregate.key());
        for column in fields(table, params.get(&name)) {
            aggregates.push((aggregate, column));
        }
    }
    // Unknown fields are left out, as instances do.
    let group_by: Vec<GroupField> = params
        .get("sysparm_group_by")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter_map(|path| {
            let (value, column) = value_expr(table, 0, path)?;
            Some(GroupField {
                path: path.to_owned(),
                column,
                value,
            })
        })
        .collect();
    // `aggregate^field^operator^value`, comma-separated: `count^priority^>^3`.
    let mut having = Vec::new();
    for condition in params.get("sysparm_having").unwrap_or("").split(',') {
        let parts: Vec<&str> = condition.split('^').map(str::trim).collect();
        let [function, field, operator, value] = parts[..] else {
            continue;
        };
        let Some(operator) = ["=", "!=", ">", ">=", "<", "<="]
            .into_iter()
            .find(|o| *o == operator)
        else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let expr = if function.eq_ignore_ascii_case("count") {
            "COUNT(*)".to_string()
        } else {
            match (Aggregate::parse(function), table.column(field)) {
                (Some(aggregate), Some(column)) => aggregate.sql(column),
                _ => continue,
            }
        };
        having.push((expr, operator, value));
    }
    // `field`, `COUNT`, `AVG^field`, each optionally followed by `^DESC`.
    let mut order = Vec::new();
    for key in params.get("sysparm_order_by").unwrap_or("").split(',') {
        let mut parts: Vec<&str> = key.split('^').map(str::trim).collect();
        let desc = parts.last().is_some_and(|p| p.eq_ignore_ascii_case("desc"));
        if desc {
            parts.pop();
        }
        let direction = if desc { "DESC" } else { "ASC" };
        let expr = match parts[..] {
            [count] if count.eq_ignore_ascii_case("count") => Some("COUNT(*)".to_string()),
            [function, field] => match (Aggregate::parse(function), table.column(field)) {
                (Some(aggregate), Some(column)) => Some(aggregate.sql(column)),
                _ => None,
            },
            [field] if group_by.iter().any(|g| g.path == field) => sort_expr(table, 0, field),
            _ => None,
        };
        if let Some(expr) = expr {
            order.push(format!("{expr} {direction}"));
        }
    }
    if order.is_empty() {
        order = group_by
            .iter()
            .filter_map(|g| sort_expr(table, 0, &g.path))
            .map(|e| format!("{e} ASC"))
            .collect();
    }
    Ask {
        count: params.flag("sysparm_count"),
        aggregates,
        group_by,
        having,
        order,
    }
}

/// `sysparm_query`, and the field=value pairs the API takes beside it (choices by label too).
fn query(table: &'static Table, params: &Params) -> EncodedQuery {
    let mut query = EncodedQuery::parse(params.get("sysparm_query").unwrap_or(""));
    for (name, value) in &params.0 {
        if name.starts_with("sysparm_") {
            continue;
        }
        let Some(column) = table.column(name) else {
            continue;
        };
        let value = column
            .choices()
            .and_then(|choices| {
                choices
                    .iter()
                    .find(|c| c.label.eq_ignore_ascii_case(value))
                    .map(|c| c.value.to_string())
            })
            .unwrap_or_else(|| value.clone());
        let term = vec![Term {
            field: column.name.to_string(),
            op: Op::Eq,
            value,
        }];
        if query.groups.is_empty() {
            query.groups.push(Vec::new());
        }
        for group in &mut query.groups {
            group.push(term.clone());
        }
    }
    query
}

/// A cell of an aggregate as the API writes it.
fn cell_text(aggregate: Option<Aggregate>, cell: &SqlCell) -> String {
    match (aggregate, cell) {
        (_, SqlCell::Null) => String::new(),
        (Some(Aggregate::Avg), SqlCell::Real(x)) => format!("{x:.4}"),
        (_, SqlCell::Real(x)) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", *x as i64),
        (_, SqlCell::Real(x)) => format!("{x:.4}"),
        (_, SqlCell::Integer(n)) => n.to_string(),
        (_, SqlCell::Text(s)) => s.clone(),
        (_, SqlCell::Blob(_)) => String::new(),
    }
}

fn run(
    conn: &Connection,
    table: &'static Table,
    ask: &Ask,
    query: &EncodedQuery,
    show: Show,
) -> rusqlite::Result<Value> {
    let sql = query.to_sql(table);
    let mut select: Vec<String> = ask.group_by.iter().map(|g| g.value.clone()).collect();
    select.push("COUNT(*)".to_string());
    select.extend(ask.aggregates.iter().map(|(a, c)| a.sql(c)));
    let mut text = format!(
        "SELECT {} FROM {} AS t0 WHERE {}",
        select.join(", "),
        ident(table.source),
        sql.where_sql
    );
    let mut params = sql.params.clone();
    if !ask.group_by.is_empty() {
        let groups: Vec<String> = ask.group_by.iter().map(|g| g.value.clone()).collect();
        text.push_str(&format!(" GROUP BY {}", groups.join(", ")));
    }
    if !ask.having.is_empty() {
        let conditions: Vec<String> = ask
            .having
            .iter()
            .map(|(expr, op, value)| {
                params.push(SqlValue::Real(*value));
                format!("{expr} {op} ?")
            })
            .collect();
        text.push_str(&format!(" HAVING {}", conditions.join(" AND ")));
    }
    if !ask.group_by.is_empty() && !ask.order.is_empty() {
        text.push_str(&format!(" ORDER BY {}", ask.order.join(", ")));
    }
    let mut stmt = conn.prepare(&text)?;
    let groups = ask.group_by.len();
    let rows: Vec<Vec<SqlCell>> = stmt
        .query_map(params_from_iter(params.iter()), |row| {
            (0..groups + 1 + ask.aggregates.len())
                .map(|i| row.get::<_, SqlCell>(i))
                .collect()
        })?
        .collect::<rusqlite::Result<_>>()?;
    let lookup = Lookup::new(conn);
    let stats_of = |row: &[SqlCell]| {
        let mut stats = Map::new();
        if ask.count {
            stats.insert("count".into(), json!(cell_text(None, &row[groups])));
        }
        for (i, (aggregate, column)) in ask.aggregates.iter().enumerate() {
            let entry = stats
                .entry(aggregate.key())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(fields) = entry {
                fields.insert(
                    column.name.to_string(),
                    json!(cell_text(Some(*aggregate), &row[groups + 1 + i])),
                );
            }
        }
        Value::Object(stats)
    };
    if ask.group_by.is_empty() {
        let empty = vec![SqlCell::Integer(0); 1 + ask.aggregates.len()];
        let row = rows.first().unwrap_or(&empty);
        return Ok(json!({"result": {"stats": stats_of(row)}}));
    }
    let mut result = Vec::new();
    for row in &rows {
        let mut fields = Vec::new();
        for (group, cell) in ask.group_by.iter().zip(row) {
            let raw = cell_text(None, cell);
            let (column, field) = (group.column, group.path.as_str());
            let entry = match show {
                Show::Values => json!({"value": raw, "field": field}),
                Show::DisplayValues => lookup.with_display(
                    column,
                    &raw,
                    None,
                    |display| json!({"value": display, "field": field}),
                ),
                Show::Both => lookup.with_display(
                    column,
                    &raw,
                    None,
                    |display| json!({"display_value": display, "value": raw, "field": field}),
                ),
            };
            fields.push(entry);
        }
        result.push(json!({"stats": stats_of(row), "groupby_fields": fields}));
    }
    Ok(json!({ "result": result }))
}

/// `GET /api/now/stats/{table}`.
pub async fn aggregate(
    State(state): State<Arc<AppState>>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Reply {
    let principal = auth::api_principal(&state, &ctx, &headers, Token::Required, None).await?;
    auth::require_table_scope(&state, &ctx, &principal, &name)?;
    let table = lookup(&name)?;
    if rules::readable(&principal, table) != Readable::All {
        return Err(reply::acl_denied("Read"));
    }
    let params = Params::parse(raw.as_deref());
    let ask = ask(table, &params);
    let query = query(table, &params).for_user(&principal.sys_id, &principal.user);
    let show = Show::parse(params.get("sysparm_display_value"));
    let body = state
        .store
        .run(move |conn| run(conn, table, &ask, &query, show))
        .await
        .map_err(|e| reply::internal(&e))?
        .map_err(|e| reply::internal(&e.to_string()))?;
    Ok(reply::json(StatusCode::OK, &body))
}

/// `GET /api/now/{version}/stats/{table}`.
pub mod versioned {
    use super::*;

    pub async fn aggregate(
        state: State<Arc<AppState>>,
        ctx: Extension<Ctx>,
        headers: HeaderMap,
        Path((version, name)): Path<(String, String)>,
        query: RawQuery,
    ) -> Reply {
        check_version(&version)?;
        super::aggregate(state, ctx, headers, Path(name), query).await
    }
}
