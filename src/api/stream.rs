//! List replies read as they arrive: a page's body (`{"result":[...]}`, JSONv2's
//! `{"records":[...]}`) is split into its records as its bytes come in, on a blocking thread,
//! and each record is checked and read (its sys_id) from its own slice, so no page is ever held
//! whole; each is handed on as the JSON text the instance sent ([`RawRecord`]), taken apart only
//! by those who need its fields.
//!
//! The splitting is hand-written because serde_json's reader path reads byte by byte through
//! `io::Read` (it took over half of an export's CPU); only the record boundaries are found here,
//! every byte is still parsed by serde_json, from slices.
//!
//! `drive` runs a reader's pages against a writer: the next page is requested as soon as the
//! previous one is parsed, while its records are still being written (at most [`AHEAD`] records
//! wait), and one page at a time once the instance rate-limits the session.

use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::{Notify, mpsc};

use super::{Record, SysIds};
use crate::error::{Error, ErrorKind, Result};
use crate::instance::Instance;
use crate::session::Session;

/// The most records parsed and not yet written: how far reading runs ahead of writing (about
/// one default page; a few MB even with every field's display value).
pub const AHEAD: usize = 1024;

/// Records go to the writer in batches of this many: one hand-over between threads per batch,
/// not per record.
const BATCH: usize = 64;

/// One record as the instance sent it: its JSON text (an object), not yet taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord(Box<str>);

impl<'de> Deserialize<'de> for RawRecord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        Ok(RawRecord(raw.get().into()))
    }
}

impl RawRecord {
    /// The record's JSON text, exactly as the instance sent it.
    pub fn json(&self) -> &str {
        &self.0
    }

    /// The record's fields. Errors: [`ErrorKind::Instance`] when the text is not a JSON object.
    pub fn parse(&self) -> Result<Record> {
        serde_json::from_str(&self.0).map_err(|e| {
            Error::new(
                ErrorKind::Instance,
                format!("a record is not a JSON object ({e})"),
            )
        })
    }
}

/// What paging needs of a record, read in the one pass that also checks its JSON: its sys_id
/// (plain, or the `value` of `{value, display_value}`) and JSONv2's failure mark.
#[derive(Deserialize)]
struct Key {
    sys_id: Option<serde_json::Value>,
    #[serde(rename = "__status")]
    status: Option<serde_json::Value>,
}

impl Key {
    fn read(json: &[u8]) -> serde_json::Result<(Option<String>, bool)> {
        let key: Key = serde_json::from_slice(json)?;
        let id = match key.sys_id {
            Some(serde_json::Value::String(s)) => Some(s),
            Some(serde_json::Value::Object(mut o)) => match o.remove("value") {
                Some(serde_json::Value::String(s)) => Some(s),
                _ => None,
            },
            _ => None,
        };
        let failed = key.status.as_ref().and_then(|s| s.as_str()) == Some("failure");
        Ok((id, failed))
    }
}

/// Where a page's kept records go.
#[derive(Debug)]
pub(crate) enum Out {
    /// To a writer, as they are parsed, in batches.
    Channel(mpsc::Sender<Vec<RawRecord>>),
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
    /// Rows listed twice in this page go once (keyset paging's own check).
    here: SysIds,
    /// Kept rows not yet handed to the writer.
    batch: Vec<RawRecord>,
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
            here: SysIds::default(),
            batch: Vec::new(),
        }
    }

    /// Takes one row, checked as JSON; `Ok(false)` to stop reading (the limit reached, the
    /// writer gone, a failed record).
    fn take(&mut self, json: &[u8]) -> serde_json::Result<bool> {
        self.listed += 1;
        let (id, failed) = Key::read(json)?;
        // serde_json does not check the UTF-8 of strings it skips: checked here, once.
        let row = || -> serde_json::Result<RawRecord> {
            match std::str::from_utf8(json) {
                Ok(text) => Ok(RawRecord(text.into())),
                Err(e) => Err(serde::de::Error::custom(format!(
                    "a record is not UTF-8 ({e})"
                ))),
            }
        };
        if failed {
            self.failed = Some(row()?);
            return Ok(false);
        }
        let keep = match (&id, &mut self.filter) {
            (None, _) => true,
            (Some(id), Filter::After(after)) => {
                let past = after.as_deref().is_none_or(|a| id.as_str() > a);
                past && self.here.insert(id)
            }
            (Some(id), Filter::Unseen(seen)) => seen.insert(id),
        };
        if !keep {
            return Ok(true);
        }
        if let Some(id) = id {
            self.advanced = true;
            if self.max_id.as_deref().is_none_or(|m| id.as_str() > m) {
                self.max_id = Some(id);
            }
        }
        let row = row()?;
        let sent = match &mut self.out {
            Out::Channel(_) => {
                self.batch.push(row);
                self.batch.len() < BATCH || self.flush()
            }
            Out::Collect(rows) => {
                rows.push(row);
                true
            }
        };
        if !sent {
            return Ok(false);
        }
        self.kept += 1;
        Ok(self.kept < self.remaining)
    }

    /// Hands the batch to the writer; `false` when the writer is gone.
    fn flush(&mut self) -> bool {
        match &self.out {
            Out::Channel(tx) if !self.batch.is_empty() => {
                tx.blocking_send(std::mem::take(&mut self.batch)).is_ok()
            }
            _ => true,
        }
    }

    /// Reads the reply's envelope (everything but the rows): JSONv2's `_error` and `reason`,
    /// and whether the rows' array was there.
    fn envelope(&mut self, text: &[u8], array: &str) -> serde_json::Result<()> {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(text)?;
        self.found |= map.get(array).is_some_and(serde_json::Value::is_array);
        // Rows the splitter did not see: the member's name written with escapes
        // (`"res\u0075lt"`), which only a full parse reads as the name. Taken as any others.
        if let Some(serde_json::Value::Array(rows)) = map.get(array) {
            for row in rows {
                if !self.take(&serde_json::to_vec(row)?)? {
                    break;
                }
            }
        }
        if let Some(serde_json::Value::String(error)) = map.get("_error") {
            let reason = map.get("reason").and_then(|r| r.as_str()).map(String::from);
            self.refused = Some((error.clone(), reason));
        }
        Ok(())
    }
}

/// Reads the list reply `response` into `page`, `array` naming the member that holds the rows
/// (`result`, `records`), on a blocking thread as the body arrives.
///
/// Errors: [`ErrorKind::Unreachable`] when the body is cut off or is not the JSON expected
/// (with its first bytes); rows passed on before the fault stay passed on.
pub(crate) async fn read(
    instance: &Instance,
    response: reqwest::Response,
    array: &'static str,
    page: Page,
) -> Result<Page> {
    let path = response.url().path().to_owned();
    let handle = tokio::runtime::Handle::current();
    let mut body = response.bytes_stream();
    let read = tokio::task::spawn_blocking(move || {
        let mut page = page;
        let mut split = Split::new(array.as_bytes());
        let outcome = loop {
            match handle.block_on(body.next()) {
                None => break split.end(&mut page, array),
                Some(Err(e)) => break Fault::Cut(e.to_string()),
                Some(Ok(chunk)) => match split.feed(&chunk, &mut page) {
                    Ok(true) => {}
                    Ok(false) => break Fault::None,
                    Err(fault) => break fault,
                },
            }
        };
        // What was kept goes on, whatever ended the read (a writer gone takes nothing).
        page.flush();
        if let Fault::Json(_) = outcome {
            // Enough of what came instead for the error message.
            while split.head.len() < Split::HEAD {
                let Some(Ok(chunk)) = handle.block_on(body.next()) else {
                    break;
                };
                let take = chunk.len().min(Split::HEAD - split.head.len());
                split.head.extend_from_slice(&chunk[..take]);
            }
        }
        (page, outcome, split.head)
    })
    .await;
    let (page, outcome, head) =
        read.map_err(|e| Error::internal(format!("reading a page: {e}")))?;
    match outcome {
        Fault::None => Ok(page),
        Fault::Cut(why) => Err(Error::new(
            ErrorKind::Unreachable,
            format!(
                "{}: the reply to {path} was cut off ({why})",
                instance.base()
            ),
        )),
        Fault::Json(why) => Err(Error::new(
            ErrorKind::Unreachable,
            format!(
                "{} answered {path} with something that is not the expected JSON ({why}): {}",
                instance.base(),
                crate::session::envelope::snippet(&head)
            ),
        )),
    }
}

/// How a read ended.
enum Fault {
    /// Whole, or stopped on purpose.
    None,
    /// The body ended early, or the connection failed.
    Cut(String),
    /// The body is not the JSON expected.
    Json(String),
}

/// The body's bytes sorted as they arrive: each row of the rows' array into a buffer of its own
/// (handed to [`Page::take`] when whole), everything else into the envelope, so `{"result":[]}`
/// (or JSONv2's error object) is what the envelope holds at the end.
struct Split {
    /// The rows' member name, as bytes.
    array: &'static [u8],
    /// The first bytes of the body, for error messages.
    head: Vec<u8>,
    envelope: Vec<u8>,
    row: Vec<u8>,
    /// Nesting of objects and arrays, the rows' array counted.
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// At depth 1: the last string seen (a member name, once its `:` follows), where the
    /// string being read began in the envelope, and whether the member being read is the rows'
    /// array.
    last_string: Vec<u8>,
    string_start: usize,
    member_is_rows: bool,
    /// Inside the rows' array (which sits at depth 2), and whether a row is being collected.
    in_rows: bool,
    in_row: bool,
    /// Between two rows: a comma is needed before the next.
    need_comma: bool,
}

impl Split {
    /// The most bytes kept outside rows: an envelope is a few bytes; a larger one is a page of
    /// something else (HTML), refused without holding it.
    const ENVELOPE_LIMIT: usize = 64 * 1024;
    const HEAD: usize = 512;

    fn new(array: &'static [u8]) -> Split {
        Split {
            array,
            head: Vec::new(),
            envelope: Vec::new(),
            row: Vec::new(),
            depth: 0,
            in_string: false,
            escaped: false,
            last_string: Vec::new(),
            string_start: 0,
            member_is_rows: false,
            in_rows: false,
            in_row: false,
            need_comma: false,
        }
    }

    /// Sorts `chunk`; `Ok(false)` when the page asked to stop.
    fn feed(&mut self, chunk: &[u8], page: &mut Page) -> std::result::Result<bool, Fault> {
        if self.head.len() < Self::HEAD {
            let take = chunk.len().min(Self::HEAD - self.head.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        // Where the row being collected began in this chunk (rows are copied in runs).
        let mut run = 0;
        let mut i = 0;
        while i < chunk.len() {
            if self.in_row {
                if self.in_string {
                    // Most of a record is string: jump to the next quote or backslash.
                    if self.escaped {
                        self.escaped = false;
                        i += 1;
                        continue;
                    }
                    match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                        None => i = chunk.len(),
                        Some(at) => {
                            i += at;
                            if chunk[i] == b'\\' {
                                self.escaped = true;
                            } else {
                                self.in_string = false;
                            }
                            i += 1;
                        }
                    }
                    continue;
                }
                let b = chunk[i];
                i += 1;
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 2 {
                            self.row.extend_from_slice(&chunk[run..i]);
                            self.in_row = false;
                            self.need_comma = true;
                            let more = page
                                .take(&self.row)
                                .map_err(|e| Fault::Json(e.to_string()))?;
                            self.row.clear();
                            if !more {
                                return Ok(false);
                            }
                        }
                    }
                    _ => {}
                }
                continue;
            }
            let b = chunk[i];
            i += 1;
            if self.in_rows {
                // Between rows, in the rows' array (depth 2).
                match b {
                    b' ' | b'\t' | b'\n' | b'\r' => {}
                    b',' if self.need_comma => self.need_comma = false,
                    b']' => {
                        self.in_rows = false;
                        self.depth = 1;
                        self.envelope.push(b']');
                    }
                    b'{' if !self.need_comma => {
                        self.in_row = true;
                        self.depth = 3;
                        run = i - 1;
                    }
                    _ => {
                        return Err(Fault::Json(format!(
                            "`{}` where a record or the array's end belongs",
                            char::from(b).escape_default()
                        )));
                    }
                }
                continue;
            }
            // The envelope.
            if self.envelope.is_empty() {
                if b.is_ascii_whitespace() {
                    continue;
                }
                if b != b'{' {
                    return Err(Fault::Json("not a JSON object".into()));
                }
            }
            self.envelope.push(b);
            if self.envelope.len() > Self::ENVELOPE_LIMIT {
                return Err(Fault::Json("no list of records".into()));
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 1 {
                        // A member's name, or a string value: which, the next `:` tells.
                        let end = self.envelope.len() - 1;
                        self.last_string.clear();
                        let name = &self.envelope[self.string_start.min(end)..end];
                        self.last_string.extend_from_slice(name);
                    }
                }
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    self.string_start = self.envelope.len();
                }
                b':' if self.depth == 1 => self.member_is_rows = self.last_string == self.array,
                b'[' if self.depth == 1 && self.member_is_rows => {
                    self.member_is_rows = false;
                    self.depth = 2;
                    self.in_rows = true;
                    page.found = true;
                }
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' if self.depth == 0 => {
                    return Err(Fault::Json(format!("an unmatched `{}`", char::from(b))));
                }
                b'}' | b']' => self.depth -= 1,
                _ => {}
            }
        }
        if self.in_row {
            self.row.extend_from_slice(&chunk[run..]);
        }
        Ok(true)
    }

    /// The body has ended: whole, or cut off.
    fn end(&mut self, page: &mut Page, array: &str) -> Fault {
        if self.in_string || self.in_row || self.in_rows || self.depth != 0 {
            return Fault::Cut("the body ended inside the JSON".into());
        }
        match page.envelope(&self.envelope, array) {
            Ok(()) => Fault::None,
            Err(e) => Fault::Json(e.to_string()),
        }
    }
}

/// `body` split as [`read`] splits a reply arriving in pieces cut at `cuts` (offsets into
/// `body`, in any order), for the fuzz target in `fuzz/`: the rows passed on (every row, each
/// sys_id once) as their JSON text and whether the rows' array was there, or the fault.
#[cfg(feature = "fuzzing")]
pub(crate) fn split_rows(
    body: &[u8],
    cuts: &[usize],
    array: &'static str,
) -> std::result::Result<(Vec<String>, bool), String> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(body.len())).collect();
    cuts.push(body.len());
    cuts.sort_unstable();
    let mut page = Page::new(Filter::After(None), u64::MAX, Out::Collect(Vec::new()));
    let mut split = Split::new(array.as_bytes());
    let mut from = 0;
    let mut stopped = false;
    for to in cuts {
        match split.feed(&body[from..to], &mut page) {
            Ok(true) => {}
            Ok(false) => {
                stopped = true;
                break;
            }
            Err(Fault::Cut(why) | Fault::Json(why)) => return Err(why),
            Err(Fault::None) => {
                stopped = true;
                break;
            }
        }
        from = to;
    }
    if !stopped {
        match split.end(&mut page, array) {
            Fault::None => {}
            Fault::Cut(why) | Fault::Json(why) => return Err(why),
        }
    }
    let Out::Collect(rows) = page.out else {
        return Err("rows went to a writer".into());
    };
    Ok((rows.into_iter().map(|r| r.0.into()).collect(), page.found))
}

/// Runs `step` (which reads one page into the sender it is given and says whether more follow)
/// until the end, handing every record to `each` as it comes. The next page is requested while
/// the previous one's records are still being written ([`AHEAD`] at most); once `session` has
/// been rate-limited, only when every record read so far is written. Returns how many records
/// `each` took. An error of `each` ends the run and wins over one of `step`.
pub(crate) async fn drive(
    session: &Session,
    mut step: impl AsyncFnMut(mpsc::Sender<Vec<RawRecord>>) -> Result<bool>,
    mut each: impl FnMut(RawRecord) -> Result<()>,
) -> Result<u64> {
    let (tx, rx) = mpsc::channel::<Vec<RawRecord>>(AHEAD / BATCH);
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
        let result = 'read: loop {
            let Some(batch) = rx.recv().await else {
                break Ok(written);
            };
            for row in batch {
                if let Err(e) = each(row) {
                    break 'read Err(e);
                }
                written += 1;
            }
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
        let pieces: Vec<std::io::Result<bytes::Bytes>> = body
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

    #[tokio::test]
    async fn only_the_top_level_member_is_the_rows_and_layout_does_not_matter() {
        let body = "{ \"meta\" : {\"result\":[{\"sys_id\":\"x\"}]},\n \"result\" : [\n  {\"sys_id\": \"a\"} ,\n  {\"sys_id\":\"b\"}\n ]\n}\n";
        for chunk in [1, 2, 5, 1000] {
            let page = Page::new(Filter::After(None), u64::MAX, Out::Collect(Vec::new()));
            let page = read(&instance(), reply(body, chunk), "result", page)
                .await
                .unwrap();
            assert_eq!(
                collected(&page),
                [r#"{"sys_id": "a"}"#, r#"{"sys_id":"b"}"#]
            );
        }
        let empty = Page::new(Filter::After(None), u64::MAX, Out::Collect(Vec::new()));
        let empty = read(&instance(), reply(r#"{"result":[]}"#, 3), "result", empty)
            .await
            .unwrap();
        assert!(empty.found);
        assert_eq!(empty.listed, 0);
        let one = Page::new(Filter::After(None), u64::MAX, Out::Collect(Vec::new()));
        let one = read(
            &instance(),
            reply(r#"{"result":{"sys_id":"a"}}"#, 3),
            "result",
            one,
        )
        .await
        .unwrap();
        assert!(!one.found, "a single record is not a list");
    }

    #[tokio::test]
    async fn rows_under_an_escaped_member_name_are_read_not_lost() {
        let body = r#"{"res\u0075lt":[{"number":"INC1"},{"number":"INC2"}]}"#;
        let page = Page::new(Filter::After(None), u64::MAX, Out::Collect(Vec::new()));
        let page = read(&instance(), reply(body, 7), "result", page)
            .await
            .unwrap();
        assert!(page.found);
        assert_eq!(
            collected(&page),
            [r#"{"number":"INC1"}"#, r#"{"number":"INC2"}"#]
        );
    }

    #[tokio::test]
    async fn rows_must_be_objects_between_commas() {
        for body in [
            r#"{"result":[{"sys_id":"a"}{"sys_id":"b"}]}"#,
            r#"{"result":[{"sys_id":"a"},,{"sys_id":"b"}]}"#,
            r#"{"result":["a"]}"#,
            r#"{"result":[{"sys_id":"a",}]}"#,
        ] {
            let page = Page::new(Filter::After(None), u64::MAX, Out::Collect(Vec::new()));
            let e = read(&instance(), reply(body, 4), "result", page)
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unreachable, "{body}");
            assert!(
                e.to_string().contains("not the expected JSON"),
                "{body}: {e}"
            );
        }
    }
}
