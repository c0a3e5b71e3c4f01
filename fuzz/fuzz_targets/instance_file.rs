//! Instance files: any text is a validated instance or an error naming the file, never a
//! panic; a valid one is https (or loopback http) with a base URL that joins API paths.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use snowbridge::instance::Instance;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/cfg/instances/dev.toml");
    match Instance::parse("dev", path, text) {
        Ok(instance) => {
            assert!(matches!(instance.url.scheme(), "https" | "http"));
            assert!(!instance.base().ends_with('/'));
            assert!(instance.url.host_str().is_some_and(|h| !h.is_empty()));
            let url = instance
                .join("/api/now/table/incident?sysparm_limit=1")
                .expect("API paths join a valid base");
            assert_eq!(url.origin(), instance.url.origin());
            assert!(!instance.timeout.is_zero());
        }
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains("dev.toml"), "{text}");
        }
    }
});
