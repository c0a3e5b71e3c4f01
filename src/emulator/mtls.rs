//! Client certificates (mutual TLS), as an instance's load balancer and "User to Certificate
//! Mappings" handle them.
//!
//! At start a client CA is made (or reused) in `DATA/clients/`, with a certificate and key per
//! seeded user (`<user>.pem`, `<user>.key`, each mapped to its user), `unmapped.pem`/`.key`
//! (signed by the CA, mapped to nobody) and `untrusted.pem`/`.key` (signed by another CA,
//! `untrusted-ca.pem`). The handshake asks for a certificate but accepts any (rustls would
//! refuse an untrusted one in the handshake; the instance answers HTTP instead), and
//! [`layer`] judges it per request: a chain the client CA does not sign gets the load
//! balancer's `400` page "400 The SSL certificate error"; a valid certificate becomes a
//! [`ClientCertificate`] the authentication reads (mapped: runs as that user; unmapped: `401`).
//! No certificate falls through to the other ways in.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::DistinguishedName as HintName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use super::auth_config::MtlsSettings;
use super::reply;
use super::server::ConnInfo;
use super::state::{AppState, RequestInfo};
use super::tls;

const CLIENT_CA_NAME: &str = "snowbridge emulator client CA";
/// The certificate signed by the client CA and mapped to nobody.
pub const UNMAPPED: &str = "unmapped";
/// The certificate signed by another CA.
pub const UNTRUSTED: &str = "untrusted";

/// What the instance makes of a client certificate presented on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientCertificate {
    /// Valid and mapped to this user.
    Mapped(String),
    /// Valid, mapped to nobody: `401` on the APIs.
    Unmapped,
    /// Not signed by the client CA (or expired, or not for client authentication): `400`.
    Untrusted,
}

/// The client CA, the mappings, and the two verifiers (lenient in the handshake, strict per
/// request).
pub struct ClientAuth {
    dir: PathBuf,
    strict: Arc<dyn ClientCertVerifier>,
    handshake: Arc<dyn ClientCertVerifier>,
    /// SHA-256 of a certificate's DER (hex) → user name.
    mappings: RwLock<HashMap<String, String>>,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// The SHA-256 fingerprint of a certificate, hex.
fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// The first certificate in a PEM text.
fn first_certificate(pem: &[u8]) -> io::Result<CertificateDer<'static>> {
    rustls_pemfile::certs(&mut &pem[..])
        .next()
        .ok_or_else(|| invalid("no certificate in the PEM text"))?
        .map_err(invalid)
}

impl ClientAuth {
    /// Makes or reuses the client CA and the certificates in `DATA/clients/`, and maps each of
    /// `users` to its own certificate plus the configured mappings.
    pub fn prepare<'a>(
        data_dir: &Path,
        settings: &MtlsSettings,
        users: impl IntoIterator<Item = &'a str>,
    ) -> io::Result<ClientAuth> {
        let dir = data_dir.join("clients");
        fs::create_dir_all(&dir)?;
        let ca_path = dir.join("ca.pem");
        let (ca_key, _) = tls::load_or_create_ca(&ca_path, &dir.join("ca.key"), CLIENT_CA_NAME)?;
        let ca_der = first_certificate(&fs::read(&ca_path)?)?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_der).map_err(other)?;
        let provider = crate::tls::provider();
        let strict = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()
            .map_err(other)?;
        let handshake: Arc<dyn ClientCertVerifier> = Arc::new(AskAndAcceptAny(strict.clone()));

        let issuer = Issuer::new(tls::ca_params(CLIENT_CA_NAME), &ca_key);
        let mut mappings = HashMap::new();
        for user in users {
            let der = leaf(&dir, user, &issuer, &strict)?;
            mappings.insert(fingerprint(&der), user.to_string());
        }
        leaf(&dir, UNMAPPED, &issuer, &strict)?;
        untrusted(&dir)?;
        for mapping in &settings.mappings {
            let pem = fs::read(&mapping.certificate).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("mtls.mappings: {}: {e}", mapping.certificate.display()),
                )
            })?;
            let der = first_certificate(&pem).map_err(|e| {
                invalid(format!(
                    "mtls.mappings: {}: {e}",
                    mapping.certificate.display()
                ))
            })?;
            mappings.insert(fingerprint(&der), mapping.user.clone());
        }
        Ok(ClientAuth {
            dir,
            strict,
            handshake,
            mappings: RwLock::new(mappings),
        })
    }

    /// The verifier for the TLS handshake.
    pub fn handshake_verifier(&self) -> Arc<dyn ClientCertVerifier> {
        self.handshake.clone()
    }

    /// `DATA/clients/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The instance's verdict on the certificates a connection presented.
    pub fn judge(&self, chain: &[CertificateDer<'static>]) -> Option<ClientCertificate> {
        let (end_entity, intermediates) = chain.split_first()?;
        if self
            .strict
            .verify_client_cert(end_entity, intermediates, UnixTime::now())
            .is_err()
        {
            return Some(ClientCertificate::Untrusted);
        }
        let mappings = self.mappings.read().unwrap_or_else(|e| e.into_inner());
        Some(match mappings.get(&fingerprint(end_entity)) {
            Some(user) => ClientCertificate::Mapped(user.clone()),
            None => ClientCertificate::Unmapped,
        })
    }

    /// Maps the (first) certificate in `pem` to `user`.
    pub fn map(&self, pem: &[u8], user: &str) -> io::Result<()> {
        let der = first_certificate(pem)?;
        self.mappings
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(fingerprint(&der), user.to_string());
        Ok(())
    }

    /// Removes every mapping to `user`.
    pub fn unmap_user(&self, user: &str) {
        self.mappings
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, u| u != user);
    }
}

/// `DIR/<name>.pem` and `.key`, made by the client CA unless a stored one still verifies;
/// returns the certificate's DER.
fn leaf(
    dir: &Path,
    name: &str,
    issuer: &Issuer<'_, &KeyPair>,
    strict: &Arc<dyn ClientCertVerifier>,
) -> io::Result<CertificateDer<'static>> {
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    if key_path.exists()
        && let Ok(pem) = fs::read(&cert_path)
        && let Ok(der) = first_certificate(&pem)
        && strict
            .verify_client_cert(&der, &[], UnixTime::now())
            .is_ok()
    {
        return Ok(der);
    }
    let key = KeyPair::generate().map_err(other)?;
    let cert = client_params(name)?
        .signed_by(&key, issuer)
        .map_err(other)?;
    tls::write_private(&key_path, key.serialize_pem().as_bytes())?;
    fs::write(&cert_path, cert.pem())?;
    Ok(cert.der().clone())
}

fn client_params(common_name: &str) -> io::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "snowbridge");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365);
    Ok(params)
}

/// `untrusted.pem`/`.key`, signed by a CA of its own (`untrusted-ca.pem`), made once.
fn untrusted(dir: &Path) -> io::Result<()> {
    let cert_path = dir.join(format!("{UNTRUSTED}.pem"));
    let key_path = dir.join(format!("{UNTRUSTED}.key"));
    if cert_path.exists() && key_path.exists() {
        return Ok(());
    }
    let ca_name = "snowbridge emulator untrusted CA";
    let ca_key = KeyPair::generate().map_err(other)?;
    let ca = tls::ca_params(ca_name)
        .self_signed(&ca_key)
        .map_err(other)?;
    fs::write(dir.join(format!("{UNTRUSTED}-ca.pem")), ca.pem())?;
    let issuer = Issuer::new(tls::ca_params(ca_name), &ca_key);
    let key = KeyPair::generate().map_err(other)?;
    let cert = client_params(UNTRUSTED)?
        .signed_by(&key, &issuer)
        .map_err(other)?;
    tls::write_private(&key_path, key.serialize_pem().as_bytes())?;
    fs::write(&cert_path, cert.pem())
}

/// Asks for a client certificate, lets the handshake through whatever the chain, and still
/// checks that the client holds the certificate's key.
#[derive(Debug)]
struct AskAndAcceptAny(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for AskAndAcceptAny {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[HintName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Judged per request by `layer`, which answers an untrusted chain with HTTP 400.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The load balancer's page for a certificate it cannot validate (nginx's wording).
fn certificate_error() -> Response {
    reply::html(
        StatusCode::BAD_REQUEST,
        "<html>\r\n<head><title>400 The SSL certificate error</title></head>\r\n<body>\r\n\
         <center><h1>400 Bad Request</h1></center>\r\n\
         <center>The SSL certificate error</center>\r\n<hr><center>nginx</center>\r\n\
         </body>\r\n</html>\r\n"
            .to_string(),
    )
}

/// Outermost layer of the instance: judges the connection's client certificate. An untrusted
/// one is answered here, as the load balancer does; otherwise the verdict rides in the
/// request's extensions for `ctx`.
pub async fn layer(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let verdict = match (&state.client_auth, req.extensions().get::<ConnInfo>()) {
        (Some(auth), Some(conn)) => conn
            .peer_certificates
            .as_deref()
            .and_then(|chain| auth.judge(chain)),
        _ => None,
    };
    match verdict {
        Some(ClientCertificate::Untrusted) => {
            state.log_request(RequestInfo {
                method: req.method().to_string(),
                path_and_query: req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
                status: 400,
                user: None,
            });
            certificate_error()
        }
        Some(verdict) => {
            req.extensions_mut().insert(verdict);
            next.run(req).await
        }
        None => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(path: &Path) -> CertificateDer<'static> {
        first_certificate(&fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn users_get_mapped_certificates_kept_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let auth =
            ClientAuth::prepare(dir.path(), &MtlsSettings::default(), ["itil.user"]).unwrap();
        let clients = dir.path().join("clients");
        let user = der(&clients.join("itil.user.pem"));
        assert_eq!(
            auth.judge(std::slice::from_ref(&user)),
            Some(ClientCertificate::Mapped("itil.user".into()))
        );
        assert_eq!(
            auth.judge(&[der(&clients.join("unmapped.pem"))]),
            Some(ClientCertificate::Unmapped)
        );
        assert_eq!(
            auth.judge(&[der(&clients.join("untrusted.pem"))]),
            Some(ClientCertificate::Untrusted)
        );
        // The CA itself is no client certificate.
        assert_eq!(
            auth.judge(&[der(&clients.join("ca.pem"))]),
            Some(ClientCertificate::Untrusted)
        );
        assert_eq!(auth.judge(&[]), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(clients.join("itil.user.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        auth.unmap_user("itil.user");
        assert_eq!(
            auth.judge(std::slice::from_ref(&user)),
            Some(ClientCertificate::Unmapped)
        );
        auth.map(&fs::read(clients.join("itil.user.pem")).unwrap(), "admin")
            .unwrap();
        assert_eq!(
            auth.judge(std::slice::from_ref(&user)),
            Some(ClientCertificate::Mapped("admin".into()))
        );

        let again =
            ClientAuth::prepare(dir.path(), &MtlsSettings::default(), ["itil.user"]).unwrap();
        assert_eq!(der(&clients.join("itil.user.pem")), user, "reused");
        assert_eq!(
            again.judge(&[user]),
            Some(ClientCertificate::Mapped("itil.user".into()))
        );
    }

    #[test]
    fn configured_mappings_name_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let settings = MtlsSettings {
            mappings: vec![super::super::auth_config::CertificateMapping {
                certificate: dir.path().join("missing.pem"),
                user: "admin".into(),
            }],
            ..MtlsSettings::default()
        };
        let error = ClientAuth::prepare(dir.path(), &settings, ["admin"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("mtls.mappings") && error.contains("missing.pem"),
            "{error}"
        );
    }
}
