//! The emulator's virtual clock: real time plus an offset that tests push forward, so sessions
//! go idle or expire without anybody sleeping.
//!
//! Everything time-dependent in the emulator (session idleness, remember-me expiry, rate-limit
//! windows, record timestamps) reads this clock; nothing else reads the system time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

/// Monotonic wall clock with a settable lead over real time.
pub struct Clock {
    started: Instant,
    started_utc: OffsetDateTime,
    lead: Mutex<Duration>,
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            started: Instant::now(),
            started_utc: OffsetDateTime::now_utc(),
            lead: Mutex::new(Duration::ZERO),
        }
    }

    /// The emulated "now" (UTC).
    pub fn now(&self) -> OffsetDateTime {
        let lead = *self.lead.lock().unwrap_or_else(|e| e.into_inner());
        self.started_utc + self.started.elapsed() + lead
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut lead = self.lead.lock().unwrap_or_else(|e| e.into_inner());
        *lead += by;
    }
}

/// ServiceNow's glide date-time format, in UTC: `2024-05-01 13:45:10`.
pub fn glide_datetime(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward() {
        let clock = Clock::new();
        let before = clock.now();
        clock.advance(Duration::from_secs(3600));
        let after = clock.now();
        assert!(after - before >= time::Duration::seconds(3600));
    }

    #[test]
    fn glide_format() {
        let at = time::macros::datetime!(2024-05-01 03:04:05 UTC);
        assert_eq!(glide_datetime(at), "2024-05-01 03:04:05");
    }
}
