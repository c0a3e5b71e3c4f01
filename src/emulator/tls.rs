//! Certificates for the HTTPS listener: a CA kept in the data folder (`ca.pem`, `ca.key.pem`,
//! reused across restarts so a client's trust survives) and a fresh server certificate per start
//! for 127.0.0.1, ::1, localhost and the IdP host, signed by it.
//!
//! Builds the rustls server configuration; the listener itself lives in `server`. The CA helpers
//! also serve `mtls`, which makes the client CA the same way.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key.pem";

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

const CA_NAME: &str = "snowbridge emulator CA";

/// A CA's parameters; the same name and key give the same issuer on every start.
pub(super) fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "snowbridge");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    params
}

/// Loads the CA named `common_name` from `cert_path` and `key_path`, or creates and writes it
/// (key file 0600 on Unix). `true` when it was created.
pub(super) fn load_or_create_ca(
    cert_path: &Path,
    key_path: &Path,
    common_name: &str,
) -> io::Result<(KeyPair, bool)> {
    if cert_path.exists() && key_path.exists() {
        let pem = fs::read_to_string(key_path)?;
        let key = KeyPair::from_pem(&pem).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a usable key: {e}", key_path.display()),
            )
        })?;
        return Ok((key, false));
    }
    let key = KeyPair::generate().map_err(other)?;
    let cert = ca_params(common_name).self_signed(&key).map_err(other)?;
    write_private(key_path, key.serialize_pem().as_bytes())?;
    fs::write(cert_path, cert.pem())?;
    Ok((key, true))
}

/// Writes `data` to a file only its owner can read (0600 on Unix).
pub(super) fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options.open(path)?;
    file.write_all(data)
}

/// The rustls server configuration for the emulator's host names, with the CA in `dir`.
/// `client_auth` asks for client certificates in the handshake (see `mtls`); `http2` offers
/// `h2` before `http/1.1` in ALPN.
pub fn server_config(
    dir: &Path,
    idp_host: &str,
    client_auth: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
    http2: bool,
) -> io::Result<Arc<rustls::ServerConfig>> {
    let (ca_key, _) = load_or_create_ca(&dir.join(CA_CERT), &dir.join(CA_KEY), CA_NAME)?;
    // Re-deriving the CA's name and key identifier from the same key signs leaves that the
    // stored ca.pem verifies, without parsing it.
    let issuer = Issuer::new(ca_params(CA_NAME), &ca_key);

    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !names.iter().any(|n| n == idp_host) {
        names.push(idp_host.to_string());
    }
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
    params.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => n.clone().try_into().map(SanType::DnsName).map_err(other),
        })
        .collect::<io::Result<_>>()?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "snowbridge emulator");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365);
    let leaf_key = KeyPair::generate().map_err(other)?;
    let leaf = params.signed_by(&leaf_key, &issuer).map_err(other)?;

    let chain = vec![leaf.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = crate::tls::provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(other)?;
    let builder = match client_auth {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(other)?;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        server_config(dir.path(), "localhost", None, true).unwrap();
        let first = fs::read(dir.path().join(CA_CERT)).unwrap();
        server_config(dir.path(), "idp.test", None, true).unwrap();
        assert_eq!(fs::read(dir.path().join(CA_CERT)).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(CA_KEY))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
