//! A [`Connection`]: one instance's session as the front door hands it out, with the APIs a
//! method away. Reads stream ([`Records`]), writes take anything `Serialize`, and what the
//! session learns (rotated cookies, a new CSRF token, renewed tokens) is saved to the vault off
//! the caller's runtime threads.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Snowbridge, blocking};
use crate::api::table::Pages;
use crate::api::{JsonV2, Query, Record, Table};
use crate::error::Result;
use crate::instance::Instance;
use crate::obtain::Connected;
use crate::session::{Call, Session};

/// A session with one instance, from [`Snowbridge::connect`], [`Snowbridge::open`] or
/// [`Snowbridge::login`].
///
/// Dropping it saves what the session learned in the background (a vault write under a file
/// lock, on a blocking thread); [`Connection::close`] saves and waits, and reports a failure.
pub struct Connection {
    sb: Snowbridge,
    /// `None` only while being dropped.
    session: Option<Arc<Session>>,
    how: Connected,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("instance", &self.instance().name)
            .field("how", &self.how)
            .finish_non_exhaustive()
    }
}

impl Connection {
    pub(super) fn new(sb: Snowbridge, session: Session, how: Connected) -> Connection {
        Connection {
            sb,
            session: Some(Arc::new(session)),
            how,
        }
    }

    /// The HTTP session underneath: cookies, tokens, [`Session::send`] for any call.
    pub fn session(&self) -> &Session {
        // Set from construction until drop.
        match &self.session {
            Some(session) => session,
            None => unreachable!("a connection holds its session until it is dropped"),
        }
    }

    /// The instance, as its file describes it.
    pub fn instance(&self) -> &Instance {
        self.session().instance()
    }

    /// Where the session came from: the stored one (checked or trusted), a Chrome import,
    /// a method's grant, a login.
    pub fn how(&self) -> &Connected {
        &self.how
    }

    /// The front door this connection came from.
    pub fn snowbridge(&self) -> &Snowbridge {
        &self.sb
    }

    /// The records of `table` matching `query`, as a [`futures_util::Stream`] of
    /// `Result<Record>` (also readable with [`Records::try_next`]). Pages are fetched as the
    /// stream is read, `query.page_size` rows at a time, so memory holds one page whatever the
    /// count (plus the sys_ids read so far when the query orders the rows itself). Each record
    /// comes once even where the instance lists a row twice; see [`crate::api::table`] for the
    /// order and how the end is found.
    ///
    /// Errors (as items of the stream, after which it ends): those of [`Session::send`], and
    /// [`crate::ErrorKind::Instance`] when the instance's paging would not progress.
    pub fn records(&self, table: &str, query: Query) -> Records<'_> {
        Records::new(Table::new(self.session(), table).pages(query))
    }

    /// One record of `table` by sys_id, or by number (`INC0010001`) for tables that number
    /// their records.
    ///
    /// Errors: [`crate::ErrorKind::NotFound`] when no record has that number or sys_id.
    pub async fn get(&self, table: &str, record: &str) -> Result<Record> {
        crate::api::incident::find(self.session(), table, record).await
    }

    /// Inserts a record into `table` with `fields` (any `Serialize` value that is a JSON object:
    /// a struct, a map, `serde_json::json!({...})`); returns the record as stored.
    ///
    /// Errors: [`crate::ErrorKind::BadInput`] when `fields` does not serialize to a JSON
    /// object; the instance's refusal ([`crate::ErrorKind::Forbidden`] for an ACL or a data
    /// policy, with its message).
    pub async fn insert<T: Serialize + ?Sized>(&self, table: &str, fields: &T) -> Result<Record> {
        let fields = crate::api::fields_object(fields)?;
        Table::new(self.session(), table).insert(&fields).await
    }

    /// Updates the record `sys_id` of `table` with `fields` (PATCH: only the fields given);
    /// returns the record as stored. Errors as for [`Connection::insert`].
    pub async fn update<T: Serialize + ?Sized>(
        &self,
        table: &str,
        sys_id: &str,
        fields: &T,
    ) -> Result<Record> {
        let fields = crate::api::fields_object(fields)?;
        Table::new(self.session(), table)
            .update(sys_id, &fields)
            .await
    }

    /// Deletes the record `sys_id` of `table`.
    pub async fn delete(&self, table: &str, sys_id: &str) -> Result<()> {
        Table::new(self.session(), table).delete(sys_id).await
    }

    /// The JSONv2 processor (`/TABLE.do?JSONv2`) on `table`: what the legacy scripts and pysnc
    /// speak, for instances where the Table API is closed.
    pub fn jsonv2(&self, table: &str) -> JsonV2<'_> {
        JsonV2::new(self.session(), table)
    }

    /// A raw call ([`Call`]: method, a path on the instance or an absolute URL on it, headers,
    /// body) with the session's authentication, CSRF token, retries and expiry handling; the
    /// response of a successful (2xx) call. Errors are [`Error`](crate::Error)s of the right kind, as for
    /// every other call.
    pub async fn send(&self, call: &Call) -> Result<reqwest::Response> {
        self.session().send(call).await
    }

    /// A raw call whose JSON reply is parsed into `T`.
    ///
    /// Errors: as [`Connection::send`]; [`crate::ErrorKind::Instance`] for a reply that is not
    /// `T` as JSON.
    pub async fn send_json<T: DeserializeOwned>(&self, call: &Call) -> Result<T> {
        self.session().send_json(call).await
    }

    /// Saves what the session learned (rotated cookies, a new CSRF token, a validation) into
    /// the vault under its lock, on a blocking thread; does nothing when nothing changed.
    ///
    /// Errors: the vault's (a lock held past its patience, a folder that cannot be written).
    pub async fn save(&self) -> Result<()> {
        let session = self.session.clone();
        blocking(move || match session {
            Some(session) if session.is_dirty() => session.save(),
            _ => Ok(()),
        })
        .await
    }

    /// Saves ([`Connection::save`]) and ends the connection here; the session stays stored for
    /// the next process. [`Session::end_on_instance`] ends it on the instance too.
    pub async fn close(mut self) -> Result<()> {
        let saved = self.save().await;
        if let Some(session) = self.session.take() {
            // Whatever is left to do when the session drops runs off the runtime too.
            let _ = blocking(move || {
                drop(session);
                Ok(())
            })
            .await;
        }
        saved
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        // The session's own Drop saves under the vault's file lock: off the runtime's threads
        // where there is a runtime; a task the runtime drops unstarted drops the session in
        // place, which saves it there.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if session.is_dirty() => {
                runtime.spawn_blocking(move || drop(session));
            }
            _ => drop(session),
        }
    }
}

type PageFuture<'c> =
    Pin<Box<dyn Future<Output = (Pages<'c>, Result<Option<Vec<Record>>>)> + Send + 'c>>;

/// The records of a Table API read ([`Connection::records`]): a [`futures_util::Stream`] of
/// `Result<Record>`, one page in memory at a time.
pub struct Records<'c> {
    /// The pager, while no page is being fetched.
    pages: Option<Pages<'c>>,
    /// The page being fetched.
    fetching: Option<PageFuture<'c>>,
    /// What is left of the current page.
    page: VecDeque<Record>,
    total: Option<u64>,
    done: bool,
}

impl std::fmt::Debug for Records<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("buffered", &self.page.len())
            .field("total", &self.total)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<'c> Records<'c> {
    fn new(pages: Pages<'c>) -> Records<'c> {
        Records {
            pages: Some(pages),
            fetching: None,
            page: VecDeque::new(),
            total: None,
            done: false,
        }
    }

    /// The next record, `None` at the end: the stream read without `futures` in scope.
    ///
    /// Errors: as [`Connection::records`]; after an error the stream is at its end.
    pub async fn try_next(&mut self) -> Result<Option<Record>> {
        std::future::poll_fn(|cx| self.poll_next_record(cx))
            .await
            .transpose()
    }

    /// Passes each record to `each`, in order, until the end; returns how many there were.
    ///
    /// Errors: as [`Records::try_next`]; the records before an error have been passed on.
    pub async fn for_each(mut self, mut each: impl FnMut(Record)) -> Result<u64> {
        let mut count = 0;
        while let Some(record) = self.try_next().await? {
            each(record);
            count += 1;
        }
        Ok(count)
    }

    /// The instance's count of matching records (`X-Total-Count`, before ACLs filter rows, so
    /// it may exceed what comes), known once the first page is in.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    fn poll_next_record(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Record>>> {
        loop {
            if let Some(record) = self.page.pop_front() {
                return Poll::Ready(Some(Ok(record)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            if self.fetching.is_none() {
                let Some(mut pages) = self.pages.take() else {
                    self.done = true;
                    return Poll::Ready(None);
                };
                self.fetching = Some(Box::pin(async move {
                    let page = pages.next().await;
                    (pages, page)
                }));
            }
            let Some(fetching) = self.fetching.as_mut() else {
                continue;
            };
            let (pages, page) = match fetching.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(done) => done,
            };
            self.fetching = None;
            if self.total.is_none() {
                self.total = pages.total();
            }
            self.pages = Some(pages);
            match page {
                Ok(Some(rows)) => self.page = rows.into(),
                Ok(None) => self.done = true,
                Err(e) => {
                    self.done = true;
                    self.pages = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

impl futures_util::Stream for Records<'_> {
    type Item = Result<Record>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Records holds no self-references (the pager moves into and out of its future).
        self.get_mut().poll_next_record(cx)
    }
}
