//! The Table API: records streamed page by page, ordered by sys_id so no row repeats or goes
//! missing, in memory bounded by one page whatever the count.
//!
//! Paging is by key (`sys_id>LAST^ORDERBYsys_id`) rather than by offset, so rows inserted or
//! deleted meanwhile cannot shift a page. The end is where the instance's `Link` header stops
//! offering `next`: a short page proves nothing, because ACLs filter rows after the limit.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Record, enc, links};
use crate::error::Result;
use crate::session::{Body, Call, Session};

/// `sysparm_display_value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DisplayValue {
    /// Raw values.
    #[default]
    False,
    /// Display values.
    True,
    /// Both, as `{value, display_value}`.
    All,
}

impl DisplayValue {
    fn as_str(self) -> &'static str {
        match self {
            DisplayValue::False => "false",
            DisplayValue::True => "true",
            DisplayValue::All => "all",
        }
    }
}

/// What to read from a table.
#[derive(Debug, Clone)]
pub struct Query {
    /// An encoded query (`active=true^priority=1`).
    pub query: String,
    /// The fields to return (all when empty); `sys_id` is always added.
    pub fields: Vec<String>,
    /// Raw or display values.
    pub display_value: DisplayValue,
    /// Leave out the `link` of reference fields.
    pub exclude_reference_link: bool,
    /// Stop after this many records.
    pub limit: Option<u64>,
    /// Records per request.
    pub page_size: usize,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            query: String::new(),
            fields: Vec::new(),
            display_value: DisplayValue::False,
            exclude_reference_link: true,
            limit: None,
            page_size: 1000,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListReply {
    result: Vec<Record>,
}

#[derive(Debug, Deserialize, Serialize)]
struct OneReply {
    result: Record,
}

/// A table on the instance.
#[derive(Debug)]
pub struct Table<'s> {
    session: &'s Session,
    name: String,
}

impl<'s> Table<'s> {
    /// The table called `name`.
    pub fn new(session: &'s Session, name: &str) -> Table<'s> {
        Table {
            session,
            name: name.to_owned(),
        }
    }

    /// Reads the records matching `query`, a page at a time.
    pub fn pages(&self, query: Query) -> Pages<'s> {
        let (filter, ordered) = split_order(&query.query);
        Pages {
            session: self.session,
            table: self.name.clone(),
            keyset: !ordered && !filter.contains("^NQ"),
            filter,
            order: ordered.then(|| query.query.clone()),
            query,
            last: None,
            offset: 0,
            delivered: 0,
            total: None,
            done: false,
            next_link: None,
        }
    }

    /// One record by sys_id.
    pub async fn get(&self, sys_id: &str) -> Result<Record> {
        let target = format!("/api/now/table/{}/{}", enc(&self.name), enc(sys_id));
        Ok(self
            .session
            .send_json::<OneReply>(&Call::get(target))
            .await?
            .result)
    }

    /// Records whose `field` equals `value` (at most `limit`).
    pub async fn find(&self, field: &str, value: &str, limit: usize) -> Result<Vec<Record>> {
        let target = format!(
            "/api/now/table/{}?sysparm_query={}&sysparm_limit={limit}&sysparm_exclude_reference_link=true",
            enc(&self.name),
            enc(&format!("{field}={value}"))
        );
        Ok(self
            .session
            .send_json::<ListReply>(&Call::get(target))
            .await?
            .result)
    }

    /// Inserts a record; returns it as stored.
    pub async fn insert(&self, fields: &serde_json::Value) -> Result<Record> {
        let call = Call::new(Method::POST, format!("/api/now/table/{}", enc(&self.name)))
            .body(Body::Json(fields.clone()));
        Ok(self.session.send_json::<OneReply>(&call).await?.result)
    }

    /// Updates a record (PATCH); returns it as stored.
    pub async fn update(&self, sys_id: &str, fields: &serde_json::Value) -> Result<Record> {
        let call = Call::new(
            Method::PATCH,
            format!("/api/now/table/{}/{}", enc(&self.name), enc(sys_id)),
        )
        .body(Body::Json(fields.clone()));
        Ok(self.session.send_json::<OneReply>(&call).await?.result)
    }

    /// Deletes a record.
    pub async fn delete(&self, sys_id: &str) -> Result<()> {
        let call = Call::new(
            Method::DELETE,
            format!("/api/now/table/{}/{}", enc(&self.name), enc(sys_id)),
        );
        self.session.send(&call).await.map(|_| ())
    }
}

/// Splits the ORDERBY terms off an encoded query; true when there were any.
fn split_order(query: &str) -> (String, bool) {
    let mut ordered = false;
    let kept: Vec<&str> = query
        .split('^')
        .filter(|term| {
            let is_order = term.starts_with("ORDERBY");
            ordered |= is_order;
            !is_order && !term.is_empty()
        })
        .collect();
    (kept.join("^"), ordered)
}

/// Pages of a table read; see [`Table::pages`].
#[derive(Debug)]
pub struct Pages<'s> {
    session: &'s Session,
    table: String,
    query: Query,
    filter: String,
    order: Option<String>,
    keyset: bool,
    last: Option<String>,
    offset: u64,
    delivered: u64,
    total: Option<u64>,
    done: bool,
    next_link: Option<String>,
}

impl Pages<'_> {
    /// The instance's count of matching records, known after the first page.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    fn target(&self, page: usize) -> String {
        let mut query = match (&self.order, &self.last) {
            (Some(ordered), _) => format!("{ordered}^ORDERBYsys_id"),
            (None, Some(last)) if self.filter.is_empty() => format!("sys_id>{last}^ORDERBYsys_id"),
            (None, Some(last)) => format!("{}^sys_id>{last}^ORDERBYsys_id", self.filter),
            (None, None) if self.filter.is_empty() => "ORDERBYsys_id".to_owned(),
            (None, None) => format!("{}^ORDERBYsys_id", self.filter),
        };
        if query.starts_with('^') {
            query.remove(0);
        }
        let mut target = format!(
            "/api/now/table/{}?sysparm_query={}&sysparm_limit={page}&sysparm_offset={}&sysparm_display_value={}&sysparm_exclude_reference_link={}",
            enc(&self.table),
            enc(&query),
            self.offset,
            self.query.display_value.as_str(),
            self.query.exclude_reference_link
        );
        if !self.query.fields.is_empty() {
            let mut fields = self.query.fields.clone();
            if !fields.iter().any(|f| f == "sys_id") {
                fields.push("sys_id".into());
            }
            target.push_str("&sysparm_fields=");
            target.push_str(&enc(&fields.join(",")));
        }
        target
    }

    /// The next page, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Vec<Record>>> {
        if self.done {
            return Ok(None);
        }
        let remaining = self
            .query
            .limit
            .map(|l| l.saturating_sub(self.delivered))
            .unwrap_or(u64::MAX);
        if remaining == 0 {
            self.done = true;
            return Ok(None);
        }
        let page = (self.query.page_size.max(1) as u64).min(remaining) as usize;
        let target = match (&self.next_link, self.keyset) {
            (Some(link), false) => link.clone(),
            _ => self.target(page),
        };
        let response = self.session.send(&Call::get(target)).await?;
        let headers = response.headers().clone();
        let reply: ListReply =
            super::envelope::parse_json(self.session.instance(), response).await?;
        if self.total.is_none() {
            self.total = headers
                .get("x-total-count")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
        }
        let link = headers
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| links(v).remove("next"));
        let had_link_header = headers.contains_key(reqwest::header::LINK);
        let mut rows = reply.result;
        rows.truncate(page);
        self.delivered += rows.len() as u64;

        let more = if had_link_header {
            link.is_some()
        } else {
            !rows.is_empty()
        };
        if !more {
            self.done = true;
        } else if self.keyset {
            match rows.iter().filter_map(Record::sys_id).max() {
                Some(last) => {
                    self.last = Some(last.to_owned());
                    self.offset = 0;
                }
                // Every row of this page was filtered out after the limit: step past it.
                None => self.offset += page as u64,
            }
        } else {
            self.next_link = link;
        }
        Ok(Some(rows))
    }
}

/// A list reply's body (`{"result":[...]}`) and a single-record reply's (`{"result":{...}}`)
/// read as [`Pages::next`] and [`Table::get`] read them, for the fuzz target in `fuzz/`.
#[cfg(feature = "fuzzing")]
pub(crate) fn read_replies(body: &[u8]) -> (Option<Vec<Record>>, Option<Record>) {
    (
        serde_json::from_slice::<ListReply>(body)
            .ok()
            .map(|r| r.result),
        serde_json::from_slice::<OneReply>(body)
            .ok()
            .map(|r| r.result),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_terms_are_split_off() {
        assert_eq!(
            split_order("active=true^ORDERBYnumber"),
            ("active=true".into(), true)
        );
        assert_eq!(split_order("a=1^ORb=2"), ("a=1^ORb=2".into(), false));
        assert_eq!(split_order(""), (String::new(), false));
    }
}
