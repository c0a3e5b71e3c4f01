//! Letting Chrome reach a server whose certificate chains to a CA given in a file (a
//! TLS-inspecting proxy's, a local emulator's) rather than one Chrome trusts.
//!
//! Chrome cannot be handed extra CA certificates for one run, but it accepts servers whose
//! certificate keys are listed in `--ignore-certificate-errors-spki-list`. So snowbridge makes
//! the TLS handshake itself, verifies the server's chain against the given CAs only, and lists
//! that server's key: nothing is trusted that snowbridge did not verify. It starts no browser.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use sha2::{Digest, Sha256};
use url::Url;

use crate::error::{Error, ErrorKind, Result};

/// How long the handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// The base64 SHA-256 of the public key (SPKI) of the certificate the server at `url` presents,
/// when its chain verifies against the CA certificates in `ca_pem` (for
/// [`Options::trusted_spki`](super::Options::trusted_spki)); `None` when it does not (the server
/// may use a certificate Chrome trusts anyway) or `url` is not https.
pub async fn verified_spki(url: &Url, ca_pem: &[u8]) -> Result<Option<String>> {
    if url.scheme() != "https" {
        return Ok(None);
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| Error::bad_input(format!("not a PEM certificate: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| Error::bad_input(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(Error::bad_input("no CA certificate in the file"));
    }
    let unreachable = |why: String| Error::new(ErrorKind::Unreachable, format!("{url}: {why}"));
    let host = url
        .host_str()
        .ok_or_else(|| Error::bad_input(format!("{url} has no host")))?;
    let port = url.port_or_known_default().unwrap_or(443);
    let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))
        .map_err(|e| Error::bad_input(format!("{host} is not a server name: {e}")))?
        .to_owned();
    let provider = crate::tls::provider();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect((host, port)).await?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
    };
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) if is_certificate_error(&e) => {
            tracing::debug!(%url, "the server's certificate does not chain to the CA file: {e}");
            return Ok(None);
        }
        Ok(Err(e)) => return Err(unreachable(format!("TLS connection failed: {e}"))),
        Err(_) => return Err(unreachable("the TLS handshake timed out".into())),
    };
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .ok_or_else(|| unreachable("the server presented no certificate".into()))?;
    let cert = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| unreachable(format!("the server's certificate is unreadable: {e}")))?;
    let digest = Sha256::digest(cert.subject_public_key_info().as_ref());
    Ok(Some(
        base64::engine::general_purpose::STANDARD.encode(digest),
    ))
}

fn is_certificate_error(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_http_needs_no_pin() {
        let url = Url::parse("http://127.0.0.1:1/").unwrap();
        assert_eq!(verified_spki(&url, b"").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_file_without_certificates_is_bad_input() {
        let url = Url::parse("https://127.0.0.1:1/").unwrap();
        let e = verified_spki(&url, b"not a certificate").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadInput);
    }
}
