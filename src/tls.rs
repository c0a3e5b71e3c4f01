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

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

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

/// `builder` trusting the CA certificates `extra` (an instance's `ca_file`; may be empty) beside
/// the system's store, as reqwest's `tls_certs_merge` does, but with the system's store read
/// only when a server's chain does not verify against `extra`, and never by a client that makes
/// no TLS handshake (a plain-HTTP instance): reading and parsing it (every file of
/// `/etc/ssl/certs` on Linux) costs some 3 ms of a 10 ms command. The configuration offers
/// HTTP/2 and HTTP/1.1 (ALPN), as reqwest's own does. Not for client certificates (reqwest's
/// `identity` is not carried into a configuration built here).
///
/// Errors: a certificate in `extra` that rustls cannot use as a trust anchor.
pub fn trusting(
    builder: reqwest::ClientBuilder,
    extra: Vec<CertificateDer<'static>>,
) -> Result<reqwest::ClientBuilder, rustls::Error> {
    let verifier = ExtraFirst::new(extra)?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        // "dangerous" only in name: the verifier is webpki's, twice over (see ExtraFirst).
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(builder.tls_backend_preconfigured(config))
}

/// A server verifier that asks webpki with the extra roots first (when there are any) and, when
/// they refuse the chain, the platform's verifier (the system's store, loaded once on first
/// need): a server is trusted when either trusts it, as with one store holding both.
#[derive(Debug)]
struct ExtraFirst {
    extra: Option<Arc<WebPkiServerVerifier>>,
    system: OnceLock<Result<rustls_platform_verifier::Verifier, rustls::Error>>,
    provider: Arc<CryptoProvider>,
}

impl ExtraFirst {
    fn new(extra: Vec<CertificateDer<'static>>) -> Result<ExtraFirst, rustls::Error> {
        let provider = provider();
        let extra = if extra.is_empty() {
            None
        } else {
            let mut roots = RootCertStore::empty();
            for cert in extra {
                roots.add(cert)?;
            }
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| rustls::Error::General(e.to_string()))?;
            Some(verifier)
        };
        Ok(ExtraFirst {
            extra,
            system: OnceLock::new(),
            provider,
        })
    }

    fn system(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        self.system
            .get_or_init(|| rustls_platform_verifier::Verifier::new(self.provider.clone()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

fn unknown_issuer() -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
}

impl ServerCertVerifier for ExtraFirst {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let first = match &self.extra {
            Some(extra) => {
                extra.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(unknown_issuer()),
        };
        let Err(first) = first else {
            return first;
        };
        match self.system()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => Ok(verified),
            // The more telling refusal: the system's when the extra roots did not know the
            // issuer, else theirs (a wrong name, an expired certificate of the extra CA).
            Err(second) if first == unknown_issuer() => Err(second),
            Err(_) => Err(first),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
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

    /// A CA and a leaf for `name` signed by it, as DER (rcgen comes with the emulator).
    #[cfg(feature = "emulator")]
    fn ca_and_leaf(name: &str) -> (CertificateDer<'static>, CertificateDer<'static>) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, &ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        (ca_cert.der().clone(), leaf.der().clone())
    }

    #[cfg(feature = "emulator")]
    #[test]
    fn the_extra_roots_answer_first_and_the_system_store_waits_until_needed() {
        let (ca, leaf) = ca_and_leaf("instance.test");
        let verifier = ExtraFirst::new(vec![ca]).unwrap();
        let name = ServerName::try_from("instance.test").unwrap();
        let now = UnixTime::now();
        assert!(
            verifier
                .verify_server_cert(&leaf, &[], &name, &[], now)
                .is_ok()
        );
        assert!(verifier.system.get().is_none(), "the system store was read");

        // A certificate of an unknown CA goes to the system store, which does not know it.
        let (_, stranger) = ca_and_leaf("instance.test");
        let refused = verifier.verify_server_cert(&stranger, &[], &name, &[], now);
        assert!(
            matches!(refused, Err(rustls::Error::InvalidCertificate(_))),
            "{refused:?}"
        );
        assert!(
            verifier.system.get().is_some(),
            "the system store was asked"
        );

        // Another name on a certificate of the extra CA: the extra roots' refusal is the one told.
        let other = ServerName::try_from("other.test").unwrap();
        let refused = verifier.verify_server_cert(&leaf, &[], &other, &[], now);
        assert!(
            matches!(
                refused,
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                ))
            ),
            "{refused:?}"
        );
    }
}
