//! Waiting on conditions, and telling a closed browser from a failing one.
//!
//! Owns the one polling loop every wait uses (a condition checked at an interval until a
//! deadline: never a sleep standing in for a condition) and the rule that reads a WebDriver error
//! as "the person closed the window". It knows nothing of what is being waited for.

use std::future::Future;
use std::time::{Duration, Instant};

use fantoccini::error::{CmdError, ErrorStatus};

/// How a wait on the browser ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait<T> {
    /// The condition held, with what it found.
    Ready(T),
    /// The window (or the whole browser) was closed, by the person or by a crash.
    Closed,
    /// The deadline passed first.
    TimedOut,
}

impl<T> Wait<T> {
    /// The found value, or an error: [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled) for
    /// a closed window, [`ErrorKind::Browser`](crate::ErrorKind::Browser) for a timeout; `what`
    /// names what was awaited ("the login to finish").
    pub fn into_result(self, what: &str) -> crate::Result<T> {
        match self {
            Wait::Ready(value) => Ok(value),
            Wait::Closed => Err(crate::Error::new(
                crate::ErrorKind::Cancelled,
                format!("the browser window was closed while waiting for {what}"),
            )),
            Wait::TimedOut => Err(crate::Error::new(
                crate::ErrorKind::Browser,
                format!("timed out waiting for {what}"),
            )),
        }
    }
}

/// The longest wait on the browser: a week. A longer timeout (`--timeout 18446744073709551615`,
/// or `Duration::MAX` from a library caller) means this, since `Instant + Duration` panics on
/// overflow and no login is worth waiting longer for.
pub const MAX_WAIT: Duration = Duration::from_secs(7 * 86_400);

/// The instant `timeout` from now, `timeout` capped at [`MAX_WAIT`].
pub(crate) fn deadline_in(timeout: Duration) -> Instant {
    let now = Instant::now();
    // A week past the monotonic clock's now always fits; if not, a deadline now fails safe.
    now.checked_add(timeout.min(MAX_WAIT)).unwrap_or(now)
}

/// Checks `check` until it yields `Some`, fails, or `deadline` passes (`Ok(None)`): `first`
/// after the first check, the interval then doubling up to `most`, so a condition met at once
/// is seen at once and a long wait costs few checks. The check always runs at least once.
pub(crate) async fn poll_until<T, E, F, Fut>(
    deadline: Instant,
    (first, most): (Duration, Duration),
    mut check: F,
) -> Result<Option<T>, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
{
    let mut interval = first.min(most);
    loop {
        let started = Instant::now();
        if let Some(value) = check().await? {
            return Ok(Some(value));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let next = started
            .checked_add(interval)
            .map_or(deadline, |t| t.min(deadline));
        tokio::time::sleep_until(next.max(now).into()).await;
        interval = interval.saturating_mul(2).min(most);
    }
}

/// Does this WebDriver error mean the window or the browser is gone (closed by the person,
/// or crashed), rather than a command that failed?
pub(crate) fn is_closed(err: &CmdError) -> bool {
    let CmdError::Standard(wd) = err else {
        return false;
    };
    if matches!(
        wd.error,
        ErrorStatus::NoSuchWindow | ErrorStatus::InvalidSessionId
    ) {
        return true;
    }
    closed_message(&wd.message)
}

/// chromedriver's words for a browser that went away.
fn closed_message(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "no such window",
        "target window already closed",
        "web view not found",
        "chrome not reachable",
        "not connected to devtools",
        "browser has closed the connection",
        "session deleted",
        "invalid session id",
    ]
    .iter()
    .any(|words| message.contains(words))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fantoccini::error::WebDriver;

    fn wd(status: ErrorStatus, message: &str) -> CmdError {
        CmdError::Standard(WebDriver::new(status, message.to_string()))
    }

    #[test]
    fn closed_windows_are_told_from_failed_commands() {
        assert!(is_closed(&wd(
            ErrorStatus::NoSuchWindow,
            "no such window: target window already closed\nfrom unknown error: web view not found"
        )));
        assert!(is_closed(&wd(
            ErrorStatus::UnknownError,
            "unknown error: session deleted as the browser has closed the connection\n\
             from disconnected: not connected to DevTools"
        )));
        assert!(is_closed(&wd(
            ErrorStatus::UnknownError,
            "chrome not reachable"
        )));
        assert!(!is_closed(&wd(
            ErrorStatus::NoSuchElement,
            "no such element: Unable to locate element"
        )));
        assert!(!is_closed(&wd(
            ErrorStatus::JavascriptError,
            "javascript error: x is not defined"
        )));
    }

    #[tokio::test]
    async fn polling_stops_when_the_condition_holds() {
        let mut calls = 0;
        let found: Result<Option<u32>, ()> = poll_until(
            Instant::now() + Duration::from_secs(10),
            (Duration::from_millis(1), Duration::from_millis(1)),
            || {
                calls += 1;
                let now = calls;
                async move { Ok((now == 3).then_some(now)) }
            },
        )
        .await;
        assert_eq!(found, Ok(Some(3)));
    }

    #[tokio::test]
    async fn polling_gives_up_at_the_deadline() {
        let start = Instant::now();
        let found: Result<Option<()>, ()> = poll_until(
            start + Duration::from_millis(50),
            (Duration::from_millis(1), Duration::from_millis(5)),
            || async { Ok(None) },
        )
        .await;
        assert_eq!(found, Ok(None));
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn polling_passes_errors_through() {
        let found: Result<Option<()>, &str> = poll_until(
            Instant::now() + Duration::from_secs(10),
            (Duration::from_millis(1), Duration::from_millis(1)),
            || async { Err("broken") },
        )
        .await;
        assert_eq!(found, Err("broken"));
    }

    #[test]
    fn any_timeout_gives_a_deadline_at_most_a_week_away() {
        let before = Instant::now();
        for timeout in [Duration::MAX, Duration::from_secs(u64::MAX), MAX_WAIT * 2] {
            let deadline = deadline_in(timeout);
            assert!(deadline >= before + MAX_WAIT, "{timeout:?}");
            assert!(deadline <= Instant::now() + MAX_WAIT, "{timeout:?}");
        }
        let soon = deadline_in(Duration::from_secs(5));
        assert!(
            soon >= before + Duration::from_secs(5)
                && soon <= Instant::now() + Duration::from_secs(5)
        );
    }

    #[tokio::test]
    async fn an_interval_past_the_clocks_end_still_ends_at_the_deadline() {
        let found: Result<Option<()>, ()> =
            poll_until(Instant::now(), (Duration::MAX, Duration::MAX), || async {
                Ok(None)
            })
            .await;
        assert_eq!(found, Ok(None));
    }

    #[test]
    fn waits_become_errors_of_the_right_kind() {
        assert_eq!(Wait::Ready(1).into_result("x").unwrap(), 1);
        let closed = Wait::<()>::Closed.into_result("the login").unwrap_err();
        assert_eq!(closed.kind(), crate::ErrorKind::Cancelled);
        let late = Wait::<()>::TimedOut.into_result("the login").unwrap_err();
        assert_eq!(late.kind(), crate::ErrorKind::Browser);
        assert!(late.message().contains("the login"));
    }
}
