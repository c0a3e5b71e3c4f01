//! The client certificate of an `mtls` instance: the PEM certificate (with its chain) and key
//! from the `[mtls]` section, a key encrypted under a passphrase (PKCS#8, as
//! `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes) opened with `SNOWBRIDGE_KEY_PASSPHRASE`, the
//! keyring or what a person typed, and a warning when others can read the key.

use std::path::Path;

use pkcs8::der::pem::LineEnding;
use pkcs8::der::zeroize::Zeroizing;
use pkcs8::der::{Decode, SecretDocument};

use super::secrets::{self, Given, Kind};
use crate::error::{Error, ErrorKind, NextStep, Result};
use crate::instance::Instance;
use crate::session::Certificate;

/// Loads the instance's client certificate and key into an identity for the TLS handshake.
pub fn certificate(instance: &Instance, given: &Given) -> Result<Certificate> {
    let file = instance.source.display().to_string();
    let mtls = instance.mtls.as_ref().ok_or_else(|| {
        Error::bad_input(format!("{file}: auth = \"mtls\" needs an [mtls] section"))
    })?;
    let read = |key: &str, path: &Path| {
        std::fs::read(path).map_err(|e| {
            Error::bad_input(format!(
                "{file}: key `mtls.{key}`: cannot read {}: {e}",
                path.display()
            ))
        })
    };
    let cert = read("cert", &mtls.cert)?;
    if !contains(&cert, "-----BEGIN CERTIFICATE-----") {
        return Err(Error::bad_input(format!(
            "{file}: key `mtls.cert`: {} holds no PEM certificate",
            mtls.cert.display()
        ))
        .with_hint("give the client certificate (and its chain) as PEM"));
    }
    let key = Zeroizing::new(read("key", &mtls.key)?);
    warn_if_others_can_read(&mtls.key);
    let key = if contains(&key, "-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        decrypt(instance, &mtls.key, &key, given)?
    } else if contains(&key, "-----BEGIN RSA PRIVATE KEY-----")
        && contains(&key, "Proc-Type: 4,ENCRYPTED")
    {
        return Err(Error::bad_input(format!(
            "{file}: key `mtls.key`: {} is encrypted the legacy OpenSSL way, which snowbridge cannot open",
            mtls.key.display()
        ))
        .with_hint("convert it: `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD.key -out NEW.key`"));
    } else {
        key
    };
    if let Err(why) = same_pair(&cert, &key) {
        return Err(Error::bad_input(format!(
            "{file}: the [mtls] certificate {} and key {} do not match: {why}",
            mtls.cert.display(),
            mtls.key.display()
        ))
        .with_hint(format!(
            "give the key the certificate was issued for, or that key's certificate: for a \
             matching pair `openssl x509 -noout -pubkey -in {}` and `openssl pkey -pubout -in {}` \
             print the same key",
            mtls.cert.display(),
            mtls.key.display()
        )));
    }
    let mut pem = Zeroizing::new(key.to_vec());
    pem.push(b'\n');
    pem.extend_from_slice(&cert);
    let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
        Error::bad_input(format!(
            "{file}: the [mtls] certificate {} and key {} do not make a client identity: {e}",
            mtls.cert.display(),
            mtls.key.display()
        ))
        .with_hint("give a PEM certificate and its PEM private key (PKCS#8, PKCS#1 or SEC1)")
    })?;
    Ok(Certificate {
        identity,
        file: mtls.cert.clone(),
    })
}

/// Checks that the private key in `key_pem` is the one the first certificate of `cert_pem` was
/// issued for, as the TLS library will when it sets up the client (where its refusal reads only
/// "builder error"). What cannot be parsed here is left for the identity's own error.
fn same_pair(cert_pem: &[u8], key_pem: &[u8]) -> std::result::Result<(), String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let Some(Ok(cert)) = CertificateDer::pem_slice_iter(cert_pem).next() else {
        return Ok(());
    };
    let Ok(key) = PrivateKeyDer::from_pem_slice(key_pem) else {
        return Ok(());
    };
    let provider = crate::tls::provider();
    let signing = match provider.key_provider.load_private_key(key) {
        Ok(signing) => signing,
        Err(e) => return Err(format!("the key cannot be used for TLS ({e})")),
    };
    match rustls::sign::CertifiedKey::new(vec![cert], signing).keys_match() {
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => Err(
            "the key is not the certificate's (its public half is not the one the certificate names)"
                .to_owned(),
        ),
        // Matching, or a key type whose public half cannot be told: the handshake decides.
        _ => Ok(()),
    }
}

fn contains(bytes: &[u8], text: &str) -> bool {
    bytes.windows(text.len()).any(|w| w == text.as_bytes())
}

/// Opens an encrypted PKCS#8 key with its passphrase.
fn decrypt(
    instance: &Instance,
    path: &Path,
    pem: &[u8],
    given: &Given,
) -> Result<Zeroizing<Vec<u8>>> {
    let text = std::str::from_utf8(pem)
        .map_err(|_| Error::bad_input(format!("{} is not PEM text", path.display())))?;
    let (_, document) = SecretDocument::from_pem(text).map_err(|e| {
        Error::bad_input(format!(
            "{} is not a PEM encrypted key: {e}",
            path.display()
        ))
    })?;
    let encrypted = pkcs8::EncryptedPrivateKeyInfo::from_der(document.as_bytes()).map_err(|e| {
        Error::bad_input(format!(
            "{} is not a PKCS#8 encrypted key: {e}",
            path.display()
        ))
    })?;
    let (passphrase, source) = secrets::require(instance, Kind::KeyPassphrase, given)?;
    let plain = encrypted.decrypt(passphrase.expose()).map_err(|_| {
        Error::new(
            ErrorKind::Credentials,
            format!(
                "the passphrase ({}) does not open the key {}",
                secrets::describe_source(Kind::KeyPassphrase, source),
                path.display()
            ),
        )
        .with_step(NextStep::give_secret(&instance.name, Kind::KeyPassphrase))
    })?;
    let pem = plain
        .to_pem("PRIVATE KEY", LineEnding::LF)
        .map_err(|e| Error::internal(format!("cannot re-encode the opened key: {e}")))?;
    Ok(Zeroizing::new(pem.as_bytes().to_vec()))
}

/// Warns (once per load) when a private key file can be read by others than its owner.
pub fn warn_if_others_can_read(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    target: crate::NOTICE_TARGET,
                    "the private key {} can be read by others (mode {:o}): `chmod 600 {}`",
                    path.display(),
                    mode & 0o777,
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
