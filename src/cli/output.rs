//! Writing results: JSON (pretty on a terminal), times and ages in words, and a closed pipe
//! (`snowbridge records ... | head`) treated as the reader being done: the command stops, saves
//! what it must, and exits 0.

use std::io::{IsTerminal, Write};

use snowbridge::{Error, Result};
use time::OffsetDateTime;

/// Whether `--json` was given: errors and notices on stderr are JSON then.
static JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records whether `--json` was given, for [`notice`] and the error report.
pub fn set_json(json: bool) {
    JSON.store(json, std::sync::atomic::Ordering::Relaxed);
}

/// True when `--json` was given.
pub fn is_json() -> bool {
    JSON.load(std::sync::atomic::Ordering::Relaxed)
}

/// A line for the person on stderr that is neither data nor an error (a key kept in a file, a
/// cookie left out of an export): `snowbridge: TEXT`, or under `--json`
/// `{"notice":{"message":TEXT}}` on one line, so stderr stays parseable.
pub fn notice(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = if is_json() {
        writeln!(
            err,
            "{}",
            serde_json::json!({ "notice": { "message": text } })
        )
    } else {
        writeln!(err, "snowbridge: {text}")
    };
}

/// A remark beside a command's result on stderr: `note: TEXT`.
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "note: {text}");
}

/// Prints `value` as JSON on stdout: pretty on a terminal, one line otherwise.
pub fn json<T: serde::Serialize>(value: &T) -> Result<()> {
    let out = std::io::stdout();
    let text = if out.is_terminal() {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .map_err(|e| Error::internal(format!("cannot print JSON: {e}")))?;
    let mut lock = out.lock();
    writeln!(lock, "{text}").map_err(write_error)
}

/// Prints a line of text on stdout.
pub fn line(text: &str) -> Result<()> {
    writeln!(std::io::stdout().lock(), "{text}").map_err(write_error)
}

/// A write error on stdout. A closed pipe (`| head` has read enough) becomes an error that
/// [`reader_gone`] recognises: it unwinds the command like any error, so sessions are saved on
/// the way out, and `main` turns it into a quiet exit 0.
pub fn write_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return Error::internal("the reader of the output closed it").with_source(ReaderGone);
    }
    Error::internal(format!("cannot write the output: {e}"))
}

/// True when `e` is (or was caused by) the reader of stdout going away.
pub fn reader_gone(e: &Error) -> bool {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if c.is::<ReaderGone>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The marker behind a closed-pipe error.
#[derive(Debug)]
struct ReaderGone;

impl std::fmt::Display for ReaderGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the reader closed the pipe")
    }
}

impl std::error::Error for ReaderGone {}

/// RFC 3339 text of a time.
pub fn timestamp(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// A length of time in words, rounded down to its largest unit: (14, "days"), (1, "hour").
pub fn span(length: time::Duration) -> (u64, &'static str) {
    let secs = length.whole_seconds().unsigned_abs();
    let (amount, one, many) = match secs {
        0..=59 => (secs, "second", "seconds"),
        60..=3599 => (secs / 60, "minute", "minutes"),
        3600..=86_399 => (secs / 3600, "hour", "hours"),
        _ => (secs / 86_400, "day", "days"),
    };
    (amount, if amount == 1 { one } else { many })
}

/// "just now", "3 minutes ago", "in 2 hours".
pub fn relative(at: OffsetDateTime) -> String {
    let delta = at - OffsetDateTime::now_utc();
    let (amount, unit) = span(delta);
    if delta.whole_seconds().abs() < 2 {
        "just now".to_owned()
    } else if delta.is_negative() {
        format!("{amount} {unit} ago")
    } else {
        format!("in {amount} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_english() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(span(time::Duration::days(14)), (14, "days"));
        assert_eq!(span(time::Duration::seconds(3600)), (1, "hour"));
        assert_eq!(span(time::Duration::seconds(-120)), (2, "minutes"));
        assert_eq!(relative(now), "just now");
        assert_eq!(relative(now - time::Duration::minutes(3)), "3 minutes ago");
        assert_eq!(
            relative(now + time::Duration::hours(2) + time::Duration::seconds(30)),
            "in 2 hours"
        );
    }

    #[test]
    fn a_closed_pipe_is_recognised_and_other_write_errors_are_not() {
        let gone = write_error(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(reader_gone(&gone));
        let full = write_error(std::io::Error::other("disk full"));
        assert!(!reader_gone(&full));
        assert!(full.message().contains("disk full"), "{full}");
    }
}
