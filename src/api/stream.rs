//! List replies read as they arrive: a page's body (`{"result":[...]}`, JSONv2's
//! `{"records":[...]}`) is parsed on a blocking thread straight from the response's byte stream,
//! one record at a time, so no page is ever held whole; each record is handed on as the JSON text
//! the instance sent ([`RawRecord`]), taken apart only by those who need its fields.
//!
//! [`drive`] runs a reader's pages against a writer: the next page is requested as soon as the
//! previous one is parsed, while its records are still being written (at most [`AHEAD`] records
//! wait), and one page at a time once the instance rate-limits the session.

use std::io::{self, BufReader, Read};

use futures_util::TryStreamExt;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use tokio::sync::{Notify, mpsc};

use super::{Record, SysIds};
use crate::error::{Error, ErrorKind, Result};
use crate::instance::Instance;
use crate::session::Session;

/// The most records parsed and not yet written: how far reading runs ahead of writing (about
/// one default page; a few MB even with every field's display value).
pub const AHEAD: usize = 1000;

/// One record as the instance sent it: its JSON text (an object), not yet taken apart.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct RawRecord(Box<RawValue>);

impl RawRecord {
    /// The record's JSON text, exactly as the instance sent it.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// The record's fields. Errors: [`ErrorKind::Instance`] when the text is not a JSON object.
    pub fn parse(&self) -> Result<Record> {
        serde_json::from_str(self.0.get()).map_err(|e| {
            Error::new(
                ErrorKind::Instance,
                format!("a record is not a JSON object ({e})"),
            )
        })
    }

    /// The record's sys_id (plain, or the `value` of `{value, display_value}`), when it has one;
    /// and whether JSONv2 marked it `"__status":"failure"`.
    fn key(&self) -> (Option<String>, bool) {
        #[derive(Deserialize)]
        struct Key {
            sys_id: Option<serde_json::Value>,
            #[serde(rename = "__status")]
            status: Option<serde_json::Value>,
        }
        let Ok(key) = serde_json::from_str::<Key>(self.0.get()) else {
            return (None, false);
        };
        let id = match key.sys_id {
            Some(serde_json::Value::String(s)) => Some(s),
            Some(serde_json::Value::Object(mut o)) => match o.remove("value") {
                Some(serde_json::Value::String(s)) => Some(s),
                _ => None,
            },
            _ => None,
        };
        let failed = key.status.as_ref().and_then(|s| s.as_str()) == Some("failure");
        (id, failed)
    }
}

/// Where a page's kept records go.
#[derive(Debug)]
pub(crate) enum Out {
    /// To a writer, as they are parsed.
    Channel(mpsc::Sender<RawRecord>),
    /// Into a page, for callers that want pages.
    Collect(Vec<RawRecord>),
}

/// Which of a page's rows are passed on.
#[derive(Debug)]
pub(crate) enum Filter {
    /// Key order: rows past `after` (every row when `None`), each once.
    After(Option<String>),
    /// Offset order: rows whose sys_id is not in the set of those passed on before.
    Unseen(SysIds),
}

/// One page being read: what to keep, where it goes, and what the page turned out to hold.
#[derive(Debug)]
pub(crate) struct Page {
    pub filter: Filter,
    /// Pass on at most this many rows (then stop reading).
    pub remaining: u64,
    pub out: Out,
    /// Rows the reply listed (up to where reading stopped).
    pub listed: usize,
    /// Rows passed on.
    pub kept: u64,
    /// Whether any row with a sys_id was new.
    pub advanced: bool,
    /// The largest sys_id passed on.
    pub max_id: Option<String>,
    /// JSONv2: the first record marked `"__status":"failure"`, which ends the read.
    pub failed: Option<RawRecord>,
    /// JSONv2's whole-call failure: `_error` and `reason`.
    pub refused: Option<(String, Option<String>)>,
    /// Whether the reply held the array at all.
    pub found: bool,
    /// Reading stopped early: the limit was reached, or the writer is gone.
    stopped: bool,
}

impl Page {
    pub fn new(filter: Filter, remaining: u64, out: Out) -> Page {
        Page {
            filter,
            remaining,
            out,
            listed: 0,
            kept: 0,
            advanced: false,
            max_id: None,
            failed: None,
            refused: None,
            found: false,
            stopped: false,
        }
    }

    /// Takes one row; `false` to stop reading.
    fn take(&mut self, row: RawRecord, here: &mut SysIds) -> bool {
        self.listed += 1;
        let (id, failed) = row.key();
        if failed {
            self.failed = Some(row);
            return false;
        }
        let keep = match (&id, &mut self.filter) {
            (None, _) => true,
            (Some(id), Filter::After(after)) => {
                let past = after.as_deref().is_none_or(|a| id.as_str() > a);
                past && here.insert(id)
            }
            (Some(id), Filter::Unseen(seen)) => seen.insert(id),
        };
        if !keep {
            return true;
        }
        if let Some(id) = id {
            self.advanced = true;
            if self.max_id.as_deref().is_none_or(|m| id.as_str() > m) {
                self.max_id = Some(id);
            }
        }
        let sent = match &mut self.out {
            Out::Channel(tx) => tx.blocking_send(row).is_ok(),
            Out::Collect(rows) => {
                rows.push(row);
                true
            }
        };
        if !sent {
            return false;
        }
        self.kept += 1;
        self.kept < self.remaining
    }
}

/// Reads the list reply `response` into `page`, `array` naming the member that holds the rows
/// (`result`, `records`). The body is parsed on a blocking thread as it arrives.
///
/// Errors: [`ErrorKind::Unreachable`] when the body is cut off or is not a JSON object (with
/// its first bytes); rows passed on before the fault stay passed on.
pub(crate) async fn read(
    instance: &Instance,
    response: reqwest::Response,
    array: &'static str,
    page: Page,
) -> Result<Page> {
    let path = response.url().path().to_owned();
    let body = response.bytes_stream().map_err(io::Error::other);
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(body));
    let parsed = tokio::task::spawn_blocking(move || {
        let mut page = page;
        let mut head = Head::new(reader);
        let result = parse(
            BufReader::with_capacity(1 << 16, &mut head),
            array,
            &mut page,
        );
        if result.as_ref().is_err_and(|e| e.is_syntax() || e.is_data()) {
            // Enough of what came instead for the error message.
            head.read_to_keep();
        }
        (page, result, head.seen)
    })
    .await;
    let (page, result, head) =
        parsed.map_err(|e| Error::internal(format!("reading a page: {e}")))?;
    match result {
        Ok(()) => Ok(page),
        // Stopped on purpose (the limit, the writer gone, a failed record): not a fault.
        Err(_) if page.stopped || page.failed.is_some() => Ok(page),
        Err(e) if e.is_io() || e.is_eof() => Err(Error::new(
            ErrorKind::Unreachable,
            format!("{}: the reply to {path} was cut off ({e})", instance.base()),
        )),
        Err(e) => Err(Error::new(
            ErrorKind::Unreachable,
            format!(
                "{} answered {path} with something that is not the expected JSON ({e}): {}",
                instance.base(),
                super::envelope::snippet(&head)
            ),
        )),
    }
}

fn parse(reader: impl Read, array: &'static str, page: &mut Page) -> serde_json::Result<()> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    Top { array, page }.deserialize(&mut de)?;
    // Only whitespace may follow.
    de.end()
}

/// The first bytes of a body, kept for an error message.
struct Head<R> {
    inner: R,
    seen: Vec<u8>,
}

impl<R> Head<R> {
    const KEEP: usize = 512;

    fn new(inner: R) -> Head<R> {
        Head {
            inner,
            seen: Vec::new(),
        }
    }
}

impl<R: Read> Head<R> {
    /// Reads on until [`Head::KEEP`] bytes are kept, the body ends or fails.
    fn read_to_keep(&mut self) {
        let mut buf = [0u8; 512];
        while self.seen.len() < Self::KEEP {
            match self.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

impl<R: Read> Read for Head<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.seen.len() < Self::KEEP {
            let take = n.min(Self::KEEP - self.seen.len());
            self.seen.extend_from_slice(&buf[..take]);
        }
        Ok(n)
    }
}

/// The reply's object: the rows' array, JSONv2's `_error` and `reason`, the rest skipped.
struct Top<'p> {
    array: &'static str,
    page: &'p mut Page,
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "an object with `{}`", self.array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let mut error = None;
        let mut reason = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.array {
                self.page.found = true;
                map.next_value_seed(Rows(&mut *self.page))?;
                if self.page.stopped || self.page.failed.is_some() {
                    return Err(de::Error::custom("stopped"));
                }
            } else if key == "_error" {
                error = map.next_value::<Option<String>>()?;
            } else if key == "reason" {
                reason = map.next_value::<Option<String>>()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if let Some(error) = error {
            self.page.refused = Some((error, reason));
        }
        Ok(())
    }
}

/// The rows' array: each row passed to [`Page::take`] as it is parsed.
struct Rows<'p>(&'p mut Page);

impl<'de> DeserializeSeed<'de> for Rows<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Rows<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        // Rows listed twice in one page go once (keyset paging's own check).
        let mut here = SysIds::default();
        while let Some(row) = seq.next_element::<Box<RawValue>>()? {
            if !self.0.take(RawRecord(row), &mut here) {
                self.0.stopped = self.0.failed.is_none();
                // Leaving the array unread ends the parse with an error `read` passes over.
                return Err(de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// Runs `step` (which reads one page into the sender it is given and says whether more follow)
/// until the end, handing every record to `each` as it comes. The next page is requested while
/// the previous one's records are still being written ([`AHEAD`] at most); once `session` has
/// been rate-limited, only when every record read so far is written. Returns how many records
/// `each` took. An error of `each` ends the run and wins over one of `step`.
pub(crate) async fn drive(
    session: &Session,
    mut step: impl AsyncFnMut(mpsc::Sender<RawRecord>) -> Result<bool>,
    mut each: impl FnMut(RawRecord) -> Result<()>,
) -> Result<u64> {
    let (tx, rx) = mpsc::channel::<RawRecord>(AHEAD);
    let notify = Notify::new();
    let drained = &notify;
    let reading = async move {
        loop {
            // Rate-limited: no request while records of the last page wait to be written.
            while session.rate_limited() && !tx.is_closed() && tx.capacity() < tx.max_capacity() {
                drained.notified().await;
            }
            if tx.is_closed() || !step(tx.clone()).await? {
                return Ok::<(), Error>(());
            }
        }
    };
    let writing = async move {
        let mut rx = rx;
        let mut written = 0u64;
        let result = loop {
            let Some(row) = rx.recv().await else {
                break Ok(written);
            };
            if let Err(e) = each(row) {
                break Err(e);
            }
            written += 1;
            if rx.is_empty() {
                drained.notify_one();
            }
        };
        // Closed before the reader is told, so a row being handed over fails rather than waits.
        drop(rx);
        drained.notify_one();
        result
    };
    let (read, written) = tokio::join!(reading, writing);
    let written = written?;
    read?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance() -> Instance {
        Instance::parse(
            "dev",
            std::path::Path::new("dev.toml"),
            "url = \"https://dev.service-now.com\"\n",
        )
        .unwrap()
    }

    /// A reply whose body arrives in `chunk`-byte pieces, cut anywhere (inside strings too).
    fn reply(body: &str, chunk: usize) -> reqwest::Response {
        let pieces: Vec<io::Result<bytes::Bytes>> = body
            .as_bytes()
            .chunks(chunk)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(pieces));
        reqwest::Response::from(http::Response::new(body))
    }

    fn collected(page: &Page) -> Vec<&str> {
        match &page.out {
            Out::Collect(rows) => rows.iter().map(RawRecord::json).collect(),
            Out::Channel(_) => Vec::new(),
        }
    }

    const BODY: &str = r#"{"result":[{"sys_id":"a","n":"x \"]}"},{"sys_id":{"value":"c","display_value":"c"}},{"sys_id":"b"},{"sys_id":"b"},{"n":"no id"}],"extra":[1,{"k":2}]}"#;

    #[tokio::test]
    async fn rows_are_passed_on_as_sent_whatever_the_chunking() {
        for chunk in [1, 3, 7, 64, 4096] {
            let page = Page::new(Filter::After(None), u64::MAX, Out::Collect(Vec::new()));
            let page = read(&instance(), reply(BODY, chunk), "result", page)
                .await
                .unwrap();
            assert_eq!(
                collected(&page),
                [
                    r#"{"sys_id":"a","n":"x \"]}"}"#,
                    r#"{"sys_id":{"value":"c","display_value":"c"}}"#,
                    r#"{"sys_id":"b"}"#,
                    r#"{"n":"no id"}"#
                ],
                "chunks of {chunk}"
            );
            assert!(page.found);
            assert_eq!((page.listed, page.kept), (5, 4));
            assert_eq!(page.max_id.as_deref(), Some("c"));
        }
    }

    #[tokio::test]
    async fn keys_already_read_and_seen_ids_are_left_out() {
        let after = Page::new(
            Filter::After(Some("a".into())),
            u64::MAX,
            Out::Collect(Vec::new()),
        );
        let page = read(&instance(), reply(BODY, 5), "result", after)
            .await
            .unwrap();
        assert_eq!(collected(&page).len(), 3, "a is at the key, b once");
        let mut seen = SysIds::default();
        seen.insert("c");
        let unseen = Page::new(Filter::Unseen(seen), u64::MAX, Out::Collect(Vec::new()));
        let page = read(&instance(), reply(BODY, 5), "result", unseen)
            .await
            .unwrap();
        assert_eq!(
            collected(&page),
            [
                r#"{"sys_id":"a","n":"x \"]}"}"#,
                r#"{"sys_id":"b"}"#,
                r#"{"n":"no id"}"#
            ]
        );
    }

    #[tokio::test]
    async fn reading_stops_at_the_limit() {
        let page = Page::new(Filter::After(None), 2, Out::Collect(Vec::new()));
        let page = read(&instance(), reply(BODY, 9), "result", page)
            .await
            .unwrap();
        assert_eq!(page.kept, 2);
        assert_eq!(collected(&page).len(), 2);
    }

    #[tokio::test]
    async fn a_cut_off_or_foreign_body_is_an_error_saying_what_came() {
        let page = || Page::new(Filter::After(None), u64::MAX, Out::Collect(Vec::new()));
        let cut = read(&instance(), reply(&BODY[..40], 8), "result", page())
            .await
            .unwrap_err();
        assert_eq!(cut.kind(), ErrorKind::Unreachable);
        assert!(cut.to_string().contains("cut off"), "{cut}");
        let html = read(
            &instance(),
            reply("<html><body>Your instance is hibernating</body></html>", 8),
            "result",
            page(),
        )
        .await
        .unwrap_err();
        assert_eq!(html.kind(), ErrorKind::Unreachable);
        assert!(html.to_string().contains("hibernating"), "{html}");
    }

    #[tokio::test]
    async fn jsonv2_failures_are_read() {
        let page = || Page::new(Filter::After(None), u64::MAX, Out::Collect(Vec::new()));
        let refused = read(
            &instance(),
            reply(r#"{"_error":"Invalid table","reason":null}"#, 4),
            "records",
            page(),
        )
        .await
        .unwrap();
        assert!(!refused.found);
        assert_eq!(refused.refused, Some(("Invalid table".into(), None)));
        let failed = read(
            &instance(),
            reply(
                r#"{"records":[{"sys_id":"a"},{"sys_id":"b","__status":"failure"},{"sys_id":"c"}]}"#,
                4,
            ),
            "records",
            page(),
        )
        .await
        .unwrap();
        assert_eq!(collected(&failed), [r#"{"sys_id":"a"}"#]);
        assert!(failed.failed.is_some());
    }
}
