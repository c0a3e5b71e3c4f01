//! ServiceNow encoded queries (`sysparm_query`): parsing, and translation into SQL over the
//! emulated tables.
//!
//! Faithful to the instance's quirk: a term that cannot be understood (unknown field, unknown
//! operator, a `javascript:` value other than the caller's id or name, a non-number compared as
//! a number) is dropped silently, so a query of nothing but bad terms returns the whole table.
//! Field names are only ever interpolated into SQL after being checked against the schema; values
//! always travel as bound parameters.
//!
//! The SQL reads the table's source under the alias `t0`; a dot-walked field
//! (`assigned_to.manager.name`) becomes a sub-select per step (`t1`, `t2`...). A reference sorts
//! by the display value of the record it names, as lists on instances do.

use super::schema::{Column, Kind, Table, table};
use super::store::ident;

/// A comparison operator of an encoded-query term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Like,
    NotLike,
    StartsWith,
    EndsWith,
    In,
    NotIn,
    Lt,
    Le,
    Gt,
    Ge,
    IsEmpty,
    IsNotEmpty,
    /// `sys_class_nameINSTANCEOFtask`: the class or any class that extends it.
    InstanceOf,
}

/// Operators in the order they must be tried: longer spellings before their prefixes.
const OPERATORS: &[(&str, Op)] = &[
    ("INSTANCEOF", Op::InstanceOf),
    ("ISNOTEMPTY", Op::IsNotEmpty),
    ("ISEMPTY", Op::IsEmpty),
    ("NOT LIKE", Op::NotLike),
    ("NOTLIKE", Op::NotLike),
    ("NOT IN", Op::NotIn),
    ("STARTSWITH", Op::StartsWith),
    ("ENDSWITH", Op::EndsWith),
    ("LIKE", Op::Like),
    ("IN", Op::In),
    ("!=", Op::Ne),
    ("<=", Op::Le),
    (">=", Op::Ge),
    ("=", Op::Eq),
    ("<", Op::Lt),
    (">", Op::Gt),
];

/// One condition: `field` `op` `value`. `field` may walk references (`caller_id.manager.name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub field: String,
    pub op: Op,
    pub value: String,
}

/// A sort key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderBy {
    pub field: String,
    pub desc: bool,
}

/// A parsed encoded query: groups joined by `^NQ` (OR), each an AND of clauses, each clause an
/// OR of terms (`a^ORb`), plus the sort keys in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodedQuery {
    pub groups: Vec<Vec<Vec<Term>>>,
    pub order: Vec<OrderBy>,
}

impl EncodedQuery {
    /// Parses `text` syntactically. Never fails: what cannot be parsed is left out.
    pub fn parse(text: &str) -> EncodedQuery {
        let mut query = EncodedQuery::default();
        let mut group: Vec<Vec<Term>> = Vec::new();
        for token in split_terms(text) {
            let token = token.as_str();
            if token.is_empty() || token == "EQ" {
                continue;
            }
            if let Some(field) = token.strip_prefix("ORDERBYDESC") {
                push_order(&mut query.order, field, true);
            } else if let Some(field) = token.strip_prefix("ORDERBY") {
                push_order(&mut query.order, field, false);
            } else if let Some(rest) = token.strip_prefix("NQ") {
                if !group.is_empty() {
                    query.groups.push(std::mem::take(&mut group));
                }
                if let Some(term) = parse_term(rest) {
                    group.push(vec![term]);
                }
            } else if let Some(rest) = token.strip_prefix("OR") {
                if let Some(term) = parse_term(rest) {
                    match group.last_mut() {
                        Some(clause) => clause.push(term),
                        None => group.push(vec![term]),
                    }
                }
            } else if let Some(term) = parse_term(token) {
                group.push(vec![term]);
            }
        }
        if !group.is_empty() {
            query.groups.push(group);
        }
        query
    }

    /// Substitutes the dynamic values instances evaluate for the caller
    /// (`javascript:gs.getUserID()`, `javascript:gs.getUserName()`); other `javascript:`
    /// values stay, and are dropped as invalid by [`EncodedQuery::to_sql`].
    pub fn for_user(mut self, user_sys_id: &str, user_name: &str) -> Self {
        for term in self.groups.iter_mut().flatten().flatten() {
            let value = term.value.trim().trim_end_matches(';').replace(' ', "");
            match value.as_str() {
                "javascript:gs.getUserID()" => term.value = user_sys_id.to_string(),
                "javascript:gs.getUserName()" => term.value = user_name.to_string(),
                _ => {}
            }
        }
        self
    }

    /// The WHERE and ORDER BY parts for `table` (read as `t0`), with terms the table cannot
    /// answer dropped.
    pub fn to_sql(&self, table: &Table) -> SqlQuery {
        let mut params = Vec::new();
        let mut groups_sql = Vec::new();
        for group in &self.groups {
            let mut clauses_sql = Vec::new();
            for clause in group {
                let terms: Vec<String> = clause
                    .iter()
                    .filter_map(|term| term_sql(table, 0, term, &mut params))
                    .collect();
                match terms.len() {
                    0 => {}
                    1 => clauses_sql.extend(terms),
                    _ => clauses_sql.push(format!("({})", terms.join(" OR "))),
                }
            }
            if !clauses_sql.is_empty() {
                groups_sql.push(format!("({})", clauses_sql.join(" AND ")));
            } else {
                // A group whose every term was dropped matches everything.
                groups_sql.push("1=1".to_string());
            }
        }
        let where_sql = if groups_sql.is_empty() {
            "1=1".to_string()
        } else {
            groups_sql.join(" OR ")
        };
        let mut order: Vec<String> = self
            .order
            .iter()
            .filter_map(|o| {
                let expr = sort_expr(table, 0, &o.field)?;
                Some(format!("{expr} {}", if o.desc { "DESC" } else { "ASC" }))
            })
            .collect();
        // Rows come in primary-key order when nothing else decides, as from a clustered InnoDB
        // table: no ORDERBY means sys_id order, and sys_id breaks ties between equal keys.
        order.push("t0.sys_id ASC".to_string());
        SqlQuery {
            where_sql,
            order_sql: order.join(", "),
            params,
        }
    }
}

/// `t<depth>."name"`.
pub fn column_sql(depth: usize, name: &str) -> String {
    format!("t{depth}.{}", ident(name))
}

/// The expression `path` sorts by on `table` (read as `t<depth>`): numbers as numbers, a
/// reference by its record's display value, a dot-walked field through a sub-select per step.
pub fn sort_expr(table: &Table, depth: usize, path: &str) -> Option<String> {
    let (name, rest) = match path.split_once('.') {
        Some((name, rest)) => (name, Some(rest)),
        None => (path, None),
    };
    let column = table.column(name)?;
    let here = column_sql(depth, column.name);
    let walk = |target: &Table, rest: &str| -> Option<String> {
        let inner = sort_expr(target, depth + 1, rest)?;
        Some(format!(
            "(SELECT {inner} FROM {} AS t{d} WHERE t{d}.sys_id = {here})",
            ident(target.source),
            d = depth + 1
        ))
    };
    match (column.kind, rest) {
        (Kind::Reference(target), Some(rest)) => walk(table_by_name(target)?, rest),
        (_, Some(_)) => None,
        (Kind::Reference(target), None) => {
            let target = table_by_name(target)?;
            if target.display == "sys_id" {
                Some(here)
            } else {
                walk(target, target.display)
            }
        }
        (kind, None) if is_numeric(kind) => Some(format!("CAST({here} AS INTEGER)")),
        (_, None) => Some(here),
    }
}

/// The stored value of `path` on `table` (read as `t<depth>`) and the field it ends on: a field
/// of the table, or one reached through references (`caller_id.department`), a sub-select per
/// step. `None` when a step names no field, or walks through a field that is not a reference.
pub fn value_expr(table: &Table, depth: usize, path: &str) -> Option<(String, &'static Column)> {
    let (name, rest) = match path.split_once('.') {
        Some((name, rest)) => (name, Some(rest)),
        None => (path, None),
    };
    let column = table.column(name)?;
    let here = column_sql(depth, column.name);
    match (column.kind, rest) {
        (_, None) => Some((here, column)),
        (Kind::Reference(target), Some(rest)) => {
            let target = table_by_name(target)?;
            let (inner, end) = value_expr(target, depth + 1, rest)?;
            Some((
                format!(
                    "(SELECT {inner} FROM {} AS t{d} WHERE t{d}.sys_id = {here})",
                    ident(target.source),
                    d = depth + 1
                ),
                end,
            ))
        }
        (_, Some(_)) => None,
    }
}

/// A bound SQL parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Text(String),
    Int(i64),
    Real(f64),
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            SqlValue::Text(s) => s.to_sql(),
            SqlValue::Int(i) => i.to_sql(),
            SqlValue::Real(x) => x.to_sql(),
        }
    }
}

/// What [`EncodedQuery::to_sql`] produces.
#[derive(Clone, Debug)]
pub struct SqlQuery {
    pub where_sql: String,
    pub order_sql: String,
    pub params: Vec<SqlValue>,
}

/// Splits on `^`, where `^^` stands for a literal caret.
fn split_terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '^' {
            if chars.peek() == Some(&'^') {
                chars.next();
                current.push('^');
            } else {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    out.push(current);
    out
}

fn push_order(order: &mut Vec<OrderBy>, field: &str, desc: bool) {
    let field = field.trim();
    if is_field_name(field) {
        order.push(OrderBy {
            field: field.to_string(),
            desc,
        });
    }
}

fn is_field_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
}

/// `field` `OP` `value`; field names are lower case, operators upper case or symbols.
fn parse_term(token: &str) -> Option<Term> {
    let split = token
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'))
        .unwrap_or(token.len());
    let (field, rest) = token.split_at(split);
    if field.is_empty() {
        return None;
    }
    let (op, value) = OPERATORS
        .iter()
        .find_map(|(spelling, op)| rest.strip_prefix(spelling).map(|v| (*op, v)))?;
    if matches!(op, Op::IsEmpty | Op::IsNotEmpty) && !value.is_empty() {
        return None;
    }
    Some(Term {
        field: field.to_string(),
        op,
        value: value.to_string(),
    })
}

fn is_numeric(kind: Kind) -> bool {
    matches!(kind, Kind::Integer | Kind::Choice { numeric: true, .. })
}

/// The SQL for one term on `table` (read as `t<depth>`), or `None` when the instance would
/// ignore it.
fn term_sql(
    table: &Table,
    depth: usize,
    term: &Term,
    params: &mut Vec<SqlValue>,
) -> Option<String> {
    if term.value.starts_with("javascript:") {
        return None;
    }
    if let Some((reference, field)) = term.field.split_once('.') {
        // Dot-walking through a reference: a sub-select on the referenced table.
        let column = table.column(reference)?;
        let Kind::Reference(target) = column.kind else {
            return None;
        };
        let target = table_by_name(target)?;
        let inner = term_sql(
            target,
            depth + 1,
            &Term {
                field: field.to_string(),
                op: term.op,
                value: term.value.clone(),
            },
            params,
        )?;
        return Some(format!(
            "{} IN (SELECT t{d}.sys_id FROM {} AS t{d} WHERE {inner})",
            column_sql(depth, column.name),
            ident(target.source),
            d = depth + 1
        ));
    }
    let column = table.column(&term.field)?;
    condition_sql(depth, column, term.op, &term.value, params)
}

/// `column` `op` `value` on `t<depth>`, or `None` when the value cannot be compared.
fn condition_sql(
    depth: usize,
    column: &Column,
    op: Op,
    value: &str,
    params: &mut Vec<SqlValue>,
) -> Option<String> {
    let name = column_sql(depth, column.name);
    let numeric = is_numeric(column.kind);
    if let Kind::Reference(target) = column.kind
        && matches!(op, Op::Eq | Op::Ne | Op::In | Op::NotIn)
    {
        return Some(reference_sql(depth, &name, target, op, value, params));
    }
    let sql = match op {
        Op::Eq | Op::Ne => {
            let op = if op == Op::Eq { "=" } else { "!=" };
            params.push(SqlValue::Text(value.to_string()));
            format!("{name} {op} ?")
        }
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let op = match op {
                Op::Lt => "<",
                Op::Le => "<=",
                Op::Gt => ">",
                _ => ">=",
            };
            if numeric {
                let n: i64 = value.trim().parse().ok()?;
                params.push(SqlValue::Int(n));
                format!("({name} != '' AND CAST({name} AS INTEGER) {op} ?)")
            } else {
                params.push(SqlValue::Text(value.to_string()));
                format!("{name} {op} ?")
            }
        }
        Op::Like | Op::NotLike | Op::StartsWith | Op::EndsWith => {
            let escaped = escape_like(value);
            let (pattern, not) = match op {
                Op::Like => (format!("%{escaped}%"), ""),
                Op::NotLike => (format!("%{escaped}%"), "NOT "),
                Op::StartsWith => (format!("{escaped}%"), ""),
                _ => (format!("%{escaped}"), ""),
            };
            params.push(SqlValue::Text(pattern));
            format!("{name} {not}LIKE ? ESCAPE '\\'")
        }
        Op::In | Op::NotIn => {
            let values: Vec<&str> = value.split(',').map(str::trim).collect();
            let marks = vec!["?"; values.len()].join(", ");
            params.extend(values.iter().map(|v| SqlValue::Text(v.to_string())));
            let not = if op == Op::NotIn { "NOT " } else { "" };
            format!("{name} {not}IN ({marks})")
        }
        Op::IsEmpty => format!("{name} = ''"),
        Op::IsNotEmpty => format!("{name} != ''"),
        Op::InstanceOf => {
            if column.kind != Kind::ClassName {
                return None;
            }
            let classes = table_by_name(value.trim())?.classes;
            let marks = vec!["?"; classes.len()].join(", ");
            params.extend(classes.iter().map(|c| SqlValue::Text(c.to_string())));
            format!("{name} IN ({marks})")
        }
    };
    Some(sql)
}

/// A reference compared with `=`, `!=`, `IN` or `NOT IN`: each value matches the sys_id it
/// names, or, as on instances, the records whose display value it is (`caller_id=Ada Quinn`),
/// under the column's collation.
fn reference_sql(
    depth: usize,
    name: &str,
    target: &str,
    op: Op,
    value: &str,
    params: &mut Vec<SqlValue>,
) -> String {
    let values: Vec<&str> = match op {
        Op::In | Op::NotIn => value.split(',').map(str::trim).collect(),
        _ => vec![value],
    };
    let marks = vec!["?"; values.len()].join(", ");
    params.extend(values.iter().map(|v| SqlValue::Text(v.to_string())));
    let mut sql = format!("{name} IN ({marks})");
    if let Some(target) = table_by_name(target).filter(|t| t.display != "sys_id") {
        params.extend(values.iter().map(|v| SqlValue::Text(v.to_string())));
        sql = format!(
            "({sql} OR {name} IN (SELECT t{d}.sys_id FROM {} AS t{d} WHERE {} IN ({marks})))",
            ident(target.source),
            column_sql(depth + 1, target.display),
            d = depth + 1
        );
    }
    match op {
        Op::Ne | Op::NotIn => format!("NOT {sql}"),
        _ => sql,
    }
}

fn table_by_name(name: &str) -> Option<&'static Table> {
    table(name)
}

fn escape_like(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::schema::INCIDENT;
    use super::*;

    fn term(field: &str, op: Op, value: &str) -> Term {
        Term {
            field: field.into(),
            op,
            value: value.into(),
        }
    }

    #[test]
    fn and_or_and_order() {
        let q =
            EncodedQuery::parse("active=true^state=1^ORstate=2^ORDERBYDESCnumber^ORDERBYsys_id");
        assert_eq!(
            q.groups,
            vec![vec![
                vec![term("active", Op::Eq, "true")],
                vec![term("state", Op::Eq, "1"), term("state", Op::Eq, "2")],
            ]]
        );
        assert_eq!(
            q.order,
            vec![
                OrderBy {
                    field: "number".into(),
                    desc: true
                },
                OrderBy {
                    field: "sys_id".into(),
                    desc: false
                }
            ]
        );
    }

    #[test]
    fn every_operator() {
        let cases = [
            ("a=1", Op::Eq, "1"),
            ("a!=1", Op::Ne, "1"),
            ("aLIKEfoo bar", Op::Like, "foo bar"),
            ("aNOT LIKEx", Op::NotLike, "x"),
            ("aSTARTSWITHx", Op::StartsWith, "x"),
            ("aENDSWITHx", Op::EndsWith, "x"),
            ("aIN1,2,3", Op::In, "1,2,3"),
            ("aNOT IN1,2", Op::NotIn, "1,2"),
            ("a<5", Op::Lt, "5"),
            ("a<=5", Op::Le, "5"),
            ("a>5", Op::Gt, "5"),
            ("a>=5", Op::Ge, "5"),
            ("aISEMPTY", Op::IsEmpty, ""),
            ("aISNOTEMPTY", Op::IsNotEmpty, ""),
            ("a=x=y", Op::Eq, "x=y"),
        ];
        for (text, op, value) in cases {
            let q = EncodedQuery::parse(text);
            assert_eq!(q.groups, vec![vec![vec![term("a", op, value)]]], "{text}");
        }
    }

    #[test]
    fn nonsense_terms_are_dropped() {
        let q = EncodedQuery::parse("^^state=1^garbage^Bogus=1^stateFROB2^ORDERBY^EQ");
        // "^^" is a literal caret, so the first token is "^state=1", which names no field.
        assert!(q.groups.is_empty(), "{q:?}");
        assert!(q.order.is_empty());
        let q = EncodedQuery::parse("stateISEMPTYx");
        assert!(q.groups.is_empty());
    }

    #[test]
    fn caret_escape_and_nq() {
        let q = EncodedQuery::parse("short_descriptionLIKEa^^b^NQstate=2^priority=1");
        assert_eq!(q.groups.len(), 2);
        assert_eq!(
            q.groups[0],
            vec![vec![term("short_description", Op::Like, "a^b")]]
        );
        assert_eq!(
            q.groups[1],
            vec![
                vec![term("state", Op::Eq, "2")],
                vec![term("priority", Op::Eq, "1")]
            ]
        );
    }

    #[test]
    fn leading_or_starts_a_clause() {
        let q = EncodedQuery::parse("ORstate=1");
        assert_eq!(q.groups, vec![vec![vec![term("state", Op::Eq, "1")]]]);
    }

    #[test]
    fn sql_drops_unknown_fields_and_binds_values() {
        let q = EncodedQuery::parse("nosuch=1^state=2^ORnosuch=3^short_descriptionLIKE50%_off");
        let sql = q.to_sql(&INCIDENT);
        assert_eq!(
            sql.where_sql,
            "(t0.\"state\" = ? AND t0.\"short_description\" LIKE ? ESCAPE '\\')"
        );
        assert_eq!(
            sql.params,
            vec![
                SqlValue::Text("2".into()),
                SqlValue::Text("%50\\%\\_off%".into())
            ]
        );
    }

    #[test]
    fn all_bad_terms_match_everything() {
        let sql = EncodedQuery::parse("foo=1^bar=2").to_sql(&INCIDENT);
        assert_eq!(sql.where_sql, "1=1");
        let sql = EncodedQuery::parse("").to_sql(&INCIDENT);
        assert_eq!(sql.where_sql, "1=1");
    }

    #[test]
    fn numeric_fields_compare_as_numbers() {
        let sql = EncodedQuery::parse("priority<3^ORDERBYstate").to_sql(&INCIDENT);
        assert_eq!(
            sql.where_sql,
            "((t0.\"priority\" != '' AND CAST(t0.\"priority\" AS INTEGER) < ?))"
        );
        assert_eq!(sql.params, vec![SqlValue::Int(3)]);
        assert_eq!(
            sql.order_sql,
            "CAST(t0.\"state\" AS INTEGER) ASC, t0.sys_id ASC"
        );
        // A non-number compared as a number is dropped, like any invalid term.
        let sql = EncodedQuery::parse("priority<abc").to_sql(&INCIDENT);
        assert_eq!(sql.where_sql, "1=1");
    }

    #[test]
    fn dot_walk_is_a_subselect() {
        let sql = EncodedQuery::parse("caller_id.user_nameSTARTSWITHada").to_sql(&INCIDENT);
        assert_eq!(
            sql.where_sql,
            "(t0.\"caller_id\" IN (SELECT t1.sys_id FROM \"sys_user\" AS t1 WHERE t1.\"user_name\" LIKE ? ESCAPE '\\'))"
        );
        // Walking a field that is not a reference is ignored.
        let sql = EncodedQuery::parse("number.name=x").to_sql(&INCIDENT);
        assert_eq!(sql.where_sql, "1=1");
        // Two steps: each a sub-select with its own alias, so a field of the same name on
        // both sides (sys_user.manager is a sys_user) cannot be confused.
        let sql = EncodedQuery::parse("assigned_to.manager.name=Ian Adler").to_sql(&INCIDENT);
        assert_eq!(
            sql.where_sql,
            "(t0.\"assigned_to\" IN (SELECT t1.sys_id FROM \"sys_user\" AS t1 WHERE t1.\"manager\" IN (SELECT t2.sys_id FROM \"sys_user\" AS t2 WHERE t2.\"name\" = ?)))"
        );
        // A reference into a hierarchy reads the parent's view.
        let sql = EncodedQuery::parse("cmdb_ci.name=VPN").to_sql(&INCIDENT);
        assert!(
            sql.where_sql.contains("FROM \"cmdb_ci__tree\" AS t1"),
            "{}",
            sql.where_sql
        );
    }

    #[test]
    fn references_sort_by_display_value_and_classes_by_instanceof() {
        let sql =
            EncodedQuery::parse("ORDERBYcaller_id^ORDERBYDESCcaller_id.email").to_sql(&INCIDENT);
        assert_eq!(
            sql.order_sql,
            "(SELECT t1.\"name\" FROM \"sys_user\" AS t1 WHERE t1.sys_id = t0.\"caller_id\") ASC, \
             (SELECT t1.\"email\" FROM \"sys_user\" AS t1 WHERE t1.sys_id = t0.\"caller_id\") DESC, \
             t0.sys_id ASC"
        );
        let task = table("task").unwrap();
        let sql = EncodedQuery::parse("sys_class_nameINSTANCEOFtask").to_sql(task);
        assert_eq!(sql.where_sql, "(t0.\"sys_class_name\" IN (?, ?, ?, ?, ?))");
        // INSTANCEOF needs a class field and a table that exists.
        let sql =
            EncodedQuery::parse("sys_class_nameINSTANCEOFnope^numberINSTANCEOFtask").to_sql(task);
        assert_eq!(sql.where_sql, "1=1");
    }

    #[test]
    fn in_lists_and_javascript_values() {
        let sql = EncodedQuery::parse("stateIN1, 2,3^numberNOT ININC1").to_sql(&INCIDENT);
        assert_eq!(
            sql.where_sql,
            "(t0.\"state\" IN (?, ?, ?) AND t0.\"number\" NOT IN (?))"
        );
        let sql = EncodedQuery::parse("opened_at>javascript:gs.daysAgo(3)").to_sql(&INCIDENT);
        assert_eq!(sql.where_sql, "1=1");
    }

    #[test]
    fn dynamic_user_values() {
        let q = EncodedQuery::parse("caller_id=javascript:gs.getUserID()^ORopened_by=javascript: gs.getUserID();^sys_created_by=javascript:gs.getUserName()^short_description=javascript:gs.now()")
            .for_user("abc", "itil.user");
        let values: Vec<&str> = q.groups[0]
            .iter()
            .flatten()
            .map(|t| t.value.as_str())
            .collect();
        assert_eq!(values, ["abc", "abc", "itil.user", "javascript:gs.now()"]);
    }
}
