//! `Retry-After` as the session reads it: seconds (any float text) or an HTTP date. Whatever an
//! instance or a proxy sends, the wait is read without a panic and never past the cap.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;

/// The session's cap (src/session/mod.rs `RETRY_AFTER_CAP`): 366 days.
const CAP: Duration = Duration::from_secs(366 * 86_400);

fuzz_target!(|data: &[u8]| {
    let Some(wait) = snowbridge::fuzzing::retry_after(data) else {
        return;
    };
    assert!(wait <= CAP, "{wait:?} from {data:?}");
    // Whole seconds written plainly are read exactly.
    if let Some(secs) = std::str::from_utf8(data)
        .ok()
        .filter(|t| !t.trim().is_empty() && t.trim().bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.trim().parse::<u64>().ok())
    {
        assert_eq!(wait, Duration::from_secs(secs).min(CAP), "{data:?}");
    }
});
