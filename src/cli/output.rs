//! Writing results: JSON (pretty on a terminal), times and ages in words, and a closed pipe
//! (`snowbridge records ... | head`) treated as the reader being done, not as an error.

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

/// A write error on stdout: a closed pipe ends the program quietly.
pub fn write_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    Error::internal(format!("cannot write the output: {e}"))
}

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
