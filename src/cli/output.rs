//! Writing results: JSON (pretty on a terminal), times and ages in words, and a closed pipe
//! (`snowbridge records ... | head`) treated as the reader being done: the command stops, saves
//! what it must, and exits 0.

use std::io::{IsTerminal, Write};

use snowbridge::{Error, Result};
use time::OffsetDateTime;

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

/// "3m ago", "2h ago", "in 14d".
pub fn relative(at: OffsetDateTime) -> String {
    let delta = at - OffsetDateTime::now_utc();
    let secs = delta.whole_seconds().unsigned_abs();
    let amount = match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    };
    if delta.is_negative() {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_is_recognised_and_other_write_errors_are_not() {
        let gone = write_error(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(reader_gone(&gone));
        let full = write_error(std::io::Error::other("disk full"));
        assert!(!reader_gone(&full));
        assert!(full.message().contains("disk full"), "{full}");
    }
}
