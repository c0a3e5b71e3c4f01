//! The JSONv2 processor (`/<table>.do?JSONv2`): every action, paging by `ORDERBYsys_id` and
//! `sys_id>LAST` (the processor has no offset), and per-record failures surfaced as errors.
//!
//! Paging ends on an empty page only: the record count applies before ACLs filter rows, so a
//! short page proves nothing, and with no offset there is no stepping past a page the ACLs
//! emptied. Each page must move the key forward; one that does not is an error, not a loop.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::stream::{self, Filter, Out, Page, RawRecord};
use super::{Record, enc};
use crate::error::{Error, ErrorKind, Result};
use crate::session::{Body, Call, Session};

/// The processor's largest page.
pub const MAX_RECORD_COUNT: usize = 10_000;

#[derive(Debug, Deserialize)]
struct Records {
    records: Vec<Record>,
}

#[derive(Debug, Deserialize)]
struct Keys {
    records: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Reply<T> {
    Failed {
        #[serde(rename = "_error")]
        error: String,
        reason: Option<String>,
    },
    Ok(T),
}

/// A record the processor refused, as it said.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RecordError {
    /// The message.
    pub message: Option<String>,
    /// The reason.
    pub reason: Option<String>,
}

/// One table through JSONv2.
#[derive(Debug)]
pub struct JsonV2<'s> {
    session: &'s Session,
    table: String,
}

impl<'s> JsonV2<'s> {
    /// The table called `table`.
    pub fn new(session: &'s Session, table: &str) -> JsonV2<'s> {
        JsonV2 {
            session,
            table: table.to_owned(),
        }
    }

    fn target(&self, action: &str, params: &[(&str, &str)]) -> String {
        let mut t = format!("/{}.do?JSONv2&sysparm_action={action}", enc(&self.table));
        for (k, v) in params {
            t.push('&');
            t.push_str(k);
            t.push('=');
            t.push_str(&enc(v));
        }
        t
    }

    async fn call<T: serde::de::DeserializeOwned>(&self, call: Call) -> Result<T> {
        match self.session.send_json::<Reply<T>>(&call).await? {
            Reply::Ok(v) => Ok(v),
            Reply::Failed { error, reason } => Err(self.refused(&error, reason)),
        }
    }

    /// The processor's whole-call failure (`{"_error": ..., "reason": ...}`).
    fn refused(&self, error: &str, reason: Option<String>) -> Error {
        Error::new(
            ErrorKind::Instance,
            format!(
                "{} refused the JSONv2 call on {}: {error}{}",
                self.session.instance().name,
                self.table,
                reason.map(|r| format!(" ({r})")).unwrap_or_default()
            ),
        )
    }

    /// A page of `listed` rows that does not move the key past `last`.
    fn stuck(&self, listed: usize, last: Option<&str>) -> Error {
        Error::new(
            ErrorKind::Instance,
            format!(
                "{} is not paging through {} over JSONv2: a page of {listed} rows holds none past sys_id {} (or none with a sys_id); stopped rather than read it again",
                self.session.instance().name,
                self.table,
                last.unwrap_or("(start)")
            ),
        )
    }

    /// Every record matching `query`, a page of `page_size` at a time, passed to `each`, in
    /// sys_id order.
    ///
    /// Errors: [`ErrorKind::Usage`] for a query ordered by anything but sys_id; the call's.
    pub async fn for_each_record(
        &self,
        query: &str,
        page_size: usize,
        mut each: impl FnMut(Vec<Record>) -> Result<()>,
    ) -> Result<u64> {
        unordered(query)?;
        let page = page_size.clamp(1, MAX_RECORD_COUNT).to_string();
        let mut last: Option<String> = None;
        let mut total = 0u64;
        loop {
            let q = keyed(query, last.as_deref());
            let target = self.target(
                "getRecords",
                &[("sysparm_query", &q), ("sysparm_record_count", &page)],
            );
            let Records { records } = self.call(Call::get(target)).await?;
            if records.is_empty() {
                return Ok(total);
            }
            surface_failures(&records)?;
            let listed = records.len();
            // Rows at or before the key were passed on already; a row listed twice goes once.
            let (records, _) = super::past_key(records, last.as_deref());
            let Some(max) = records
                .iter()
                .filter_map(Record::sys_id)
                .max()
                .map(str::to_owned)
            else {
                return Err(self.stuck(listed, last.as_deref()));
            };
            total += records.len() as u64;
            last = Some(max);
            each(records)?;
        }
    }

    /// Every record matching `query` (at most `limit`), `page_size` per request (at most
    /// [`MAX_RECORD_COUNT`]), with `displayvalue` as `display_value` says (`All` adds
    /// `dv_<field>` beside each field),
    /// handed to `each` as it is parsed from the reply: no page is held whole, and the next page
    /// is requested while the previous one's records are still being taken (see
    /// [`stream`]). Paging and its end are [`JsonV2::for_each_record`]'s. Returns
    /// how many records `each` took.
    ///
    /// Errors: [`ErrorKind::Usage`] for a query ordered by anything but sys_id; the call's, the
    /// processor's whole-call failure and the first record marked
    /// `"__status":"failure"` ([`ErrorKind::Instance`], or [`ErrorKind::Forbidden`] for a
    /// refusal), a page that does not move the key forward, and the first of `each`. Records
    /// before a fault have been handed on.
    pub async fn for_each_raw(
        &self,
        query: &str,
        page_size: usize,
        display_value: super::DisplayValue,
        limit: Option<u64>,
        each: impl FnMut(RawRecord) -> Result<()>,
    ) -> Result<u64> {
        unordered(query)?;
        let page_size = page_size.clamp(1, MAX_RECORD_COUNT) as u64;
        let mut remaining = limit.unwrap_or(u64::MAX);
        let mut last: Option<String> = None;
        let mut done = false;
        stream::drive(
            self.session,
            async |tx| {
                if done || remaining == 0 {
                    return Ok(false);
                }
                let q = keyed(query, last.as_deref());
                let page = page_size.min(remaining).to_string();
                let target = self.target(
                    "getRecords",
                    &[
                        ("sysparm_query", &q),
                        ("sysparm_record_count", &page),
                        ("displayvalue", display_value.as_str()),
                    ],
                );
                let response = self.session.send(&Call::get(target)).await?;
                let read = stream::read(
                    self.session.instance(),
                    response,
                    "records",
                    Page::new(Filter::After(last.clone()), remaining, Out::Channel(tx)),
                )
                .await?;
                remaining -= read.kept.min(remaining);
                if let Some((error, reason)) = read.refused {
                    return Err(self.refused(&error, reason));
                }
                if let Some(failed) = read.failed {
                    surface_failures(&[failed.parse()?])?;
                }
                if read.listed == 0 {
                    done = true;
                    return Ok(false);
                }
                match read.max_id {
                    Some(max) => last = Some(max),
                    None => return Err(self.stuck(read.listed, last.as_deref())),
                }
                Ok(true)
            },
            each,
        )
        .await
    }

    /// All records matching `query` (use [`JsonV2::for_each_record`] for large tables).
    pub async fn get_records(&self, query: &str) -> Result<Vec<Record>> {
        let mut all = Vec::new();
        self.for_each_record(query, MAX_RECORD_COUNT, |page| {
            all.extend(page);
            Ok(())
        })
        .await?;
        Ok(all)
    }

    /// The sys_ids matching `query`.
    pub async fn get_keys(&self, query: &str) -> Result<Vec<String>> {
        let target = self.target("getKeys", &[("sysparm_query", query)]);
        Ok(self.call::<Keys>(Call::get(target)).await?.records)
    }

    /// One record by sys_id; `None` when there is none.
    pub async fn get(&self, sys_id: &str) -> Result<Option<Record>> {
        let target = self.target("get", &[("sysparm_sys_id", sys_id)]);
        let Records { records } = self.call(Call::get(target)).await?;
        surface_failures(&records)?;
        Ok(records.into_iter().next())
    }

    async fn write(
        &self,
        action: &str,
        params: &[(&str, &str)],
        body: serde_json::Value,
    ) -> Result<Vec<Record>> {
        let call = Call::new(Method::POST, self.target(action, params)).body(Body::Json(body));
        let Records { records } = self.call(call).await?;
        surface_failures(&records)?;
        Ok(records)
    }

    /// Inserts one record with `fields` (any `Serialize` value that is a JSON object); returns
    /// it as stored.
    ///
    /// Errors: [`ErrorKind::BadInput`] when `fields` is not an object; the instance's refusal.
    pub async fn insert<T: Serialize + ?Sized>(&self, fields: &T) -> Result<Record> {
        self.write("insert", &[], super::fields_object(fields)?)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::new(ErrorKind::Instance, "the insert returned no record"))
    }

    /// Inserts several records (each a `Serialize` value that is a JSON object) in one call;
    /// returns them as stored.
    pub async fn insert_multiple<T: Serialize>(&self, records: &[T]) -> Result<Vec<Record>> {
        let records = records
            .iter()
            .map(super::fields_object)
            .collect::<Result<Vec<_>>>()?;
        self.write(
            "insertMultiple",
            &[],
            serde_json::json!({ "records": records }),
        )
        .await
    }

    /// Updates the records matching `query` with `fields` (a `Serialize` JSON object).
    pub async fn update<T: Serialize + ?Sized>(
        &self,
        query: &str,
        fields: &T,
    ) -> Result<Vec<Record>> {
        self.write(
            "update",
            &[("sysparm_query", query)],
            super::fields_object(fields)?,
        )
        .await
    }

    /// Deletes one record.
    pub async fn delete_record(&self, sys_id: &str) -> Result<()> {
        self.write(
            "deleteRecord",
            &[("sysparm_sys_id", sys_id)],
            serde_json::json!({ "sysparm_sys_id": sys_id }),
        )
        .await
        .map(|_| ())
    }

    /// Deletes the records matching `query`.
    pub async fn delete_multiple(&self, query: &str) -> Result<()> {
        self.write(
            "deleteMultiple",
            &[("sysparm_query", query)],
            serde_json::json!({ "sysparm_query": query }),
        )
        .await
        .map(|_| ())
    }
}

/// Refuses a query that orders by anything but sys_id: JSONv2 pages by `sys_id>LAST` in sys_id
/// order (the processor has no offset), so another order would skip every row it sorts after a
/// page's largest sys_id, silently.
///
/// Errors: [`ErrorKind::Usage`] naming the ORDERBY term and the Table API as the way to read in
/// that order.
fn unordered(query: &str) -> Result<()> {
    match query
        .split('^')
        .find(|term| term.starts_with("ORDERBY") && *term != "ORDERBYsys_id")
    {
        None => Ok(()),
        Some(term) => Err(Error::usage(format!(
            "JSONv2 reads in sys_id order, a page past the last sys_id at a time (the processor has no offset), so it cannot read in the order `{term}` asks for"
        ))
        .with_hint("read through the Table API for that order (leave out --api jsonv2), or leave the ORDERBY out of the query")),
    }
}

/// `query` keyed for paging: past `last` when there is one, in sys_id order.
fn keyed(query: &str, last: Option<&str>) -> String {
    match last {
        None if query.is_empty() => "ORDERBYsys_id".to_owned(),
        None => format!("{query}^ORDERBYsys_id"),
        Some(l) if query.is_empty() => format!("sys_id>{l}^ORDERBYsys_id"),
        Some(l) => format!("{query}^sys_id>{l}^ORDERBYsys_id"),
    }
}

/// Turns the first record carrying `"__status":"failure"` into an error with its message.
fn surface_failures(records: &[Record]) -> Result<()> {
    for r in records {
        if r.0.get("__status").and_then(|s| s.as_str()) == Some("failure") {
            let detail: Option<RecordError> =
                r.0.get("__error")
                    .and_then(|e| serde_json::from_value(e.clone()).ok());
            let (message, reason) = detail
                .map(|d| (d.message.unwrap_or_default(), d.reason.unwrap_or_default()))
                .unwrap_or_default();
            let text = format!(
                "the instance refused record {}: {message}{}",
                r.sys_id().unwrap_or("(new)"),
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({reason})")
                }
            );
            let said = crate::session::envelope::Complaint {
                message: message.clone(),
                detail: Some(reason),
            };
            return Err(match crate::session::envelope::refusal(&said) {
                crate::error::Refusal::Other => Error::new(ErrorKind::Instance, text),
                why => Error::forbidden(why, text),
            });
        }
    }
    Ok(())
}

/// A `getRecords`/`get` reply's body read as [`JsonV2`] reads it (the envelope, then per-record
/// failures, then the page's last key), for the fuzz target in `fuzz/`.
#[cfg(feature = "fuzzing")]
pub(crate) fn read_records_reply(body: &[u8]) -> Result<(Vec<Record>, Option<String>)> {
    let records = match serde_json::from_slice::<Reply<Records>>(body) {
        Ok(Reply::Ok(Records { records })) => records,
        Ok(Reply::Failed { error, reason }) => {
            return Err(Error::new(
                ErrorKind::Instance,
                format!(
                    "{error}{}",
                    reason.map(|r| format!(" ({r})")).unwrap_or_default()
                ),
            ));
        }
        Err(e) => return Err(Error::new(ErrorKind::Unreachable, e.to_string())),
    };
    surface_failures(&records)?;
    let last = records
        .iter()
        .filter_map(Record::sys_id)
        .max()
        .map(str::to_owned);
    Ok((records, last))
}

/// A `getKeys` reply's body read as [`JsonV2::get_keys`] reads it, for the fuzz target.
#[cfg(feature = "fuzzing")]
pub(crate) fn read_keys_reply(body: &[u8]) -> Option<Vec<String>> {
    match serde_json::from_slice::<Reply<Keys>>(body).ok()? {
        Reply::Ok(Keys { records }) => Some(records),
        Reply::Failed { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_other_than_sys_id_is_refused_not_paged_past() {
        assert!(unordered("").is_ok());
        assert!(unordered("active=true").is_ok());
        assert!(unordered("active=true^ORDERBYsys_id").is_ok());
        for query in [
            "ORDERBYnumber",
            "active=true^ORDERBYDESCsys_id",
            "ORDERBYpriority^a=1",
        ] {
            let e = unordered(query).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Usage, "{query}");
            assert!(e.message().contains("ORDERBY"), "{e}");
            assert!(e.hint().unwrap().contains("Table API"), "{e}");
        }
    }

    #[test]
    fn per_record_failures_become_errors() {
        let records: Records = serde_json::from_str(
            r#"{"records":[{"sys_id":"a"},{"sys_id":"b","__status":"failure","__error":{"message":"Operation Failed","reason":"ACL Exception Update Failed due to security constraints"}}]}"#,
        )
        .unwrap();
        let err = surface_failures(&records.records).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Forbidden);
        assert!(err.to_string().contains("record b"), "{err}");
    }

    #[test]
    fn whole_call_failures_are_recognised() {
        let r: Reply<Records> =
            serde_json::from_str(r#"{"_error":"Invalid table","reason":null}"#).unwrap();
        assert!(matches!(r, Reply::Failed { .. }));
        let r: Reply<Records> = serde_json::from_str(r#"{"records":[]}"#).unwrap();
        assert!(matches!(r, Reply::Ok(_)));
    }
}
