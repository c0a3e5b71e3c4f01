//! The Table API: records streamed page by page, each record once. [`Pages::for_each`] parses
//! each reply as it arrives (memory bounded by the records waiting to be written, not by the
//! page), [`Pages::next`] hands over whole pages; both keep a set of sys_ids when the caller
//! orders the rows.
//!
//! Two ways to page, chosen by the query:
//! - no `ORDERBY` of the caller's: by key (`sys_id>LAST^ORDERBYsys_id`), so rows inserted or
//!   deleted meanwhile cannot shift a page;
//! - the caller's `ORDERBY` (or an `^NQ` query): by offset, following the instance's
//!   `Link: rel="next"` where it sends one, with `ORDERBYsys_id` added to break ties.
//!
//! Where the end is ([`Pages::next`]): the limit applies before ACLs filter rows, so a short page
//! proves nothing by itself. The reply's own word decides: a `Link` with `next` means more; a
//! `Link` without `next` means the end; no `Link` at all (instances leave it out when every row
//! fits in one page) defers to `X-Total-Count` (more while offset + limit < count); with neither,
//! only an empty page ends. Every loop is bound to progress: no URL is requested twice, and a
//! page whose rows are all ones already read is an error that says so, never a reason to ask
//! again. A row the instance lists twice (seen on ACL-filtered, offset-paged queries) is passed
//! on once.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use reqwest::Method;
use serde::{Deserialize, Serialize};

use url::Url;

use super::stream::{self, Filter, Out, Page, RawRecord};
use super::{Record, SysIds, enc, link};
use crate::error::{Error, ErrorKind, Result};
use crate::session::{Body, Call, Session};

/// What each field of a record holds (`sysparm_display_value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DisplayValue {
    /// `false`: the stored value (a reference's sys_id, a choice's value), a string per field.
    #[default]
    False,
    /// `true`: what the form shows (the caller's name, a choice's label), a string per field.
    True,
    /// `all`: both, each field as `{"value": ..., "display_value": ...}`.
    All,
}

impl DisplayValue {
    /// The parameter's value: `false`, `true`, `all`.
    pub fn as_str(self) -> &'static str {
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

impl Query {
    /// All records matching the encoded query `query` (`active=true^priority=1`; empty for
    /// all), every field, raw values, 1000 a page.
    pub fn new(query: impl Into<String>) -> Query {
        Query {
            query: query.into(),
            ..Query::default()
        }
    }

    /// Only these fields (`sys_id` is always added).
    pub fn fields<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Query {
        self.fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Raw values, display values, or both.
    pub fn display_value(mut self, mode: DisplayValue) -> Query {
        self.display_value = mode;
        self
    }

    /// At most `limit` records in all.
    pub fn limit(mut self, limit: u64) -> Query {
        self.limit = Some(limit);
        self
    }

    /// `size` records per request (at least 1; instances cap it, commonly at 10,000).
    pub fn page_size(mut self, size: usize) -> Query {
        self.page_size = size.max(1);
        self
    }
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

    /// Reads the records matching `query`, a page at a time (see the module doc for the order
    /// and the end).
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
            next_link: None,
            requested: HashSet::new(),
            seen: SysIds::default(),
            delivered: 0,
            total: Arc::default(),
            done: false,
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
    /// Keyset paging: the largest sys_id passed on so far.
    last: Option<String>,
    /// The offset of the next request we build (keyset: past `last`).
    offset: u64,
    /// Offset paging: the instance's `next` target and the URL of the page that named it,
    /// resolved (and refused if on another origin) when it is needed, so the page that named
    /// it is passed on first.
    next_link: Option<(Url, String)>,
    /// Every URL requested, so none is requested twice.
    requested: HashSet<String>,
    /// Offset paging: every sys_id passed on (keyset paging needs only `last`).
    seen: SysIds,
    delivered: u64,
    /// `X-Total-Count` of the first reply that sent one (matches before ACLs), shared with the
    /// writer of [`Pages::for_each`].
    total: Arc<OnceLock<u64>>,
    done: bool,
}

impl Pages<'_> {
    /// The instance's count of matching records, known after the first page.
    pub fn total(&self) -> Option<u64> {
        self.total.get().copied()
    }

    fn target(&self, page: u64) -> String {
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

    /// The next page, or `None` at the end. A page may be empty (every row of it filtered out
    /// by ACLs) while more follow.
    ///
    /// Errors: those of [`Session::send`]; [`ErrorKind::Instance`] when the instance's paging
    /// would not progress (a `next` link to a page already read, a page of rows already read)
    /// or names another origin; [`ErrorKind::Unreachable`] for a reply that is not the Table
    /// API's JSON.
    pub async fn next(&mut self) -> Result<Option<Vec<Record>>> {
        match self.step(Out::Collect(Vec::new())).await? {
            Some(Out::Collect(rows)) => rows
                .iter()
                .map(RawRecord::parse)
                .collect::<Result<Vec<_>>>()
                .map(Some),
            _ => Ok(None),
        }
    }

    /// Every remaining record, handed to `each` as it is parsed from the reply, with the
    /// instance's count of matches once known: no page is held whole, and the next page is
    /// requested while the previous one's records are still being taken (see
    /// [`stream`] for the bound, and the rate-limited case). Returns how
    /// many records `each` took.
    ///
    /// Errors: those of [`Pages::next`], and the first of `each` (which ends the read). Records
    /// before a fault have been handed on.
    pub async fn for_each(
        &mut self,
        mut each: impl FnMut(RawRecord, Option<u64>) -> Result<()>,
    ) -> Result<u64> {
        let session = self.session;
        let total = self.total.clone();
        stream::drive(
            session,
            async |tx| Ok(self.step(Out::Channel(tx)).await?.is_some()),
            move |row| each(row, total.get().copied()),
        )
        .await
    }

    /// Reads the next page into `out`; `None` at the end, when nothing was requested.
    async fn step(&mut self, out: Out) -> Result<Option<Out>> {
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
        let size = (self.query.page_size.max(1) as u64).min(remaining);
        let (url, offset, size) = match self.next_link.take() {
            Some((page, target)) => {
                let link = link::resolve(self.session.instance(), &page, &target)?;
                let offset = query_number(&link, "sysparm_offset").unwrap_or(self.offset);
                let size = query_number(&link, "sysparm_limit").unwrap_or(size);
                (link, offset, size)
            }
            None => (
                self.session.instance().join(&self.target(size))?,
                self.offset,
                size,
            ),
        };
        if !self.requested.insert(url.as_str().to_owned()) {
            return Err(self.stuck(&url, "its paging leads back to a page already read"));
        }
        let response = self.session.send(&Call::get(url.as_str())).await?;
        let headers = response.headers();
        let count = headers
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let has_link = headers.contains_key(reqwest::header::LINK);
        let next = link::next_target(headers);
        if let Some(count) = count {
            let _ = self.total.set(count);
        }
        let filter = if self.keyset {
            Filter::After(self.last.clone())
        } else {
            Filter::Unseen(std::mem::take(&mut self.seen))
        };
        let mut page = stream::read(
            self.session.instance(),
            response,
            "result",
            Page::new(filter, remaining, out),
        )
        .await?;
        if let Filter::Unseen(seen) = &mut page.filter {
            self.seen = std::mem::take(seen);
        }
        if !page.found {
            return Err(Error::new(
                ErrorKind::Unreachable,
                format!(
                    "{} answered {} with JSON that holds no `result`",
                    self.session.instance().base(),
                    url.path()
                ),
            ));
        }
        let listed = page.listed;
        if listed > 0 && !page.advanced {
            return Err(self.stuck(
                &url,
                "the page holds only rows already read (or rows without a sys_id)",
            ));
        }
        self.delivered += page.kept;

        let more = match (&next, has_link, count) {
            (Some(_), _, _) => true,
            (None, true, _) => false,
            (None, false, Some(count)) => offset.saturating_add(size) < count,
            (None, false, None) => listed > 0,
        };
        if !more {
            self.done = true;
        } else if self.keyset {
            match page.max_id.take() {
                Some(last) => {
                    self.last = Some(last);
                    self.offset = 0;
                }
                // Every row of this page was filtered out after the limit: step past it.
                None => self.offset = offset.saturating_add(size),
            }
        } else {
            self.offset = offset.saturating_add(size);
            self.next_link = next.map(|next| (url, next));
        }
        Ok(Some(page.out))
    }

    fn stuck(&self, url: &Url, why: &str) -> Error {
        let at = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        Error::new(
            ErrorKind::Instance,
            format!(
                "{} is not paging through {}: {why} ({at}); stopped rather than read it again",
                self.session.instance().name,
                self.table
            ),
        )
    }
}

/// A number in the query of `url` (`sysparm_offset`, `sysparm_limit`).
fn query_number(url: &Url, name: &str) -> Option<u64> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.trim().parse().ok())
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
