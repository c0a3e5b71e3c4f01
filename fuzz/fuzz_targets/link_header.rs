//! The `Link` header, as the Table API's paging reads it: any header value parses without a
//! panic (`snowbridge::api::link::parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = http::HeaderValue::from_bytes(data) else {
        return;
    };
    let Ok(text) = value.to_str() else {
        return;
    };
    let _ = snowbridge::api::link::parse(text);
});
