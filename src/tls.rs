//! The TLS crypto provider every client and server of snowbridge uses: rustls over *ring*,
//! installed once as the process default.
//!
//! Why not aws-lc-rs (rustls' and reqwest's own default): aws-lc seeds its random generator
//! through a CPU-jitter entropy collector (`jent_entropy_collector_alloc`,
//! `jent_measure_jitter`) that costs about 20 ms of CPU in every process before its first
//! handshake; `perf` put some 70% of a warm `snowbridge api` call there. *ring* takes its seed
//! from the OS (`getrandom`), as curl's OpenSSL does, so a command pays nothing before it
//! connects. aws-lc-rs stays in the build for what only it does here (RSA key generation in the
//! emulator, JWT signing) and runs there alone.
//!
//! The default is installed only when the process has none: an application that chose its own
//! provider keeps it. Two providers in one build mean rustls cannot pick one from its features
//! (`ClientConfig::builder()` then needs an installed default), so every place snowbridge builds
//! a TLS client or server calls [`install_default`] or names [`provider`] itself.

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;

/// The provider snowbridge's own TLS configurations are built with (*ring*'s default suites:
/// TLS 1.3 and 1.2, AES-GCM and ChaCha20-Poly1305, X25519/P-256/P-384).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Makes [`provider`] the process default unless one is installed already; cheap after the
/// first call. reqwest and fantoccini take the process default when they build their TLS
/// configuration (reqwest falls back to aws-lc-rs, with its start-up cost, where none is set).
pub fn install_default() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if CryptoProvider::get_default().is_none() {
            // Err only when another thread installed one meanwhile: theirs stands.
            let _ = CryptoProvider::install_default(rustls::crypto::ring::default_provider());
        }
    });
}

/// A `reqwest` client builder with [`install_default`] done: every HTTP client of the library
/// starts here, so none pays aws-lc's start-up.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_default();
    reqwest::Client::builder()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_default_is_ring_after_install() {
        install_default();
        let installed = CryptoProvider::get_default().map(|p| format!("{:?}", p.secure_random));
        assert_eq!(installed.as_deref(), Some("Ring"));
        assert_eq!(format!("{:?}", provider().secure_random), "Ring");
    }
}
