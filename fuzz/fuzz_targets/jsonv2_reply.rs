//! JSONv2 replies as the connector reads them: the whole-call envelope, per-record failures,
//! and the key the next page starts after. Any body is an answer or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snowbridge::fuzzing;

fuzz_target!(|data: &[u8]| {
    match fuzzing::jsonv2_records(data) {
        Ok((records, last)) => {
            // The next page starts after the largest key of this one.
            let max = records.iter().filter_map(|r| r.sys_id()).max();
            assert_eq!(last.as_deref(), max);
            for r in &records {
                assert_ne!(
                    r.0.get("__status").and_then(|s| s.as_str()),
                    Some("failure"),
                    "a failed record passed as data"
                );
                for name in r.0.keys() {
                    let _ = r.field(name);
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = fuzzing::jsonv2_keys(data);
});
