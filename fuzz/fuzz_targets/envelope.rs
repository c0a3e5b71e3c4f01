//! The error envelope: any error reply body (with any status and `Retry-After`) becomes a
//! complaint, a refusal kind and an error that prints, without a panic.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use snowbridge::fuzzing::envelope;
use snowbridge::instance::Instance;

static INSTANCE: LazyLock<Instance> = LazyLock::new(|| {
    Instance::parse(
        "acme",
        Path::new("/fuzz/instances/acme.toml"),
        "url = \"https://acme.service-now.com\"",
    )
    .expect("a valid instance file")
});

fuzz_target!(|data: &[u8]| {
    // First two bytes: the status; the next byte: how long the Retry-After value is.
    let (status, rest) = data.split_at(data.len().min(2));
    let status = match status {
        [a, b] => 100 + u16::from_be_bytes([*a, *b]) % 500,
        _ => 403,
    };
    let status = http::StatusCode::from_u16(status).expect("100..=599 is a status");
    let (len, rest) = rest.split_at(rest.len().min(1));
    let len = usize::from(len.first().copied().unwrap_or(0) % 32).min(rest.len());
    let (retry_after, body) = rest.split_at(len);
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_bytes(retry_after) {
        headers.insert(http::header::RETRY_AFTER, value);
    }

    let said = envelope::complaint(body);
    assert!(!said.message.is_empty() || serde_json::from_slice::<serde_json::Value>(body).is_ok());
    let _ = said.to_string();
    let _ = envelope::refusal(&said);
    let error = envelope::error_for(&INSTANCE, status, &headers, body);
    let text = format!("{error}");
    assert!(!text.is_empty());
    let _ = format!("{error:?}");
});
