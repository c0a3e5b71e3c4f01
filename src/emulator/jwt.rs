//! JWT bearer assertions (`urn:ietf:params:oauth:grant-type:jwt-bearer`): the verifier maps'
//! keys, made at start where the configuration names none, and checking an assertion's
//! signature (jsonwebtoken), `aud`, `exp`/`nbf` with the app's clock skew, and `sub`.
//!
//! The `jti` replay check and the user lookup happen in `oauth`, which owns the state.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use rcgen::KeyPair;
use serde::Deserialize;
use time::OffsetDateTime;

use super::auth_config::{JwtKeyType, OAuthApp};
use super::tls::write_private;

/// The sub-folder of the data folder holding made keys.
const DIR: &str = "jwt";

/// Where the key pair for `kid` is (or would be) kept: (private PKCS#8 PEM, public PEM).
pub fn key_paths(data_dir: &Path, kid: &str) -> (PathBuf, PathBuf) {
    let dir = data_dir.join(DIR);
    (
        dir.join(format!("{kid}.key")),
        dir.join(format!("{kid}.pem")),
    )
}

fn algorithm(key_type: JwtKeyType) -> &'static rcgen::SignatureAlgorithm {
    match key_type {
        JwtKeyType::Rsa => &rcgen::PKCS_RSA_SHA256,
        JwtKeyType::Ec => &rcgen::PKCS_ECDSA_P256_SHA256,
    }
}

/// The public keys (PEM, by `kid`) of the key pairs for verifiers without a configured public
/// key: those already in `DATA/jwt/`, and with `make` the missing ones made. (An RSA key takes
/// a quarter of a second to make: a test's emulator makes one only when asked.)
pub fn prepare_keys(
    data_dir: &Path,
    apps: &[OAuthApp],
    make: bool,
) -> io::Result<HashMap<String, String>> {
    let mut made = HashMap::new();
    for verifier in apps.iter().flat_map(|a| &a.jwt_verifiers) {
        if verifier.public_key.is_some() || made.contains_key(&verifier.kid) {
            continue;
        }
        let public = match load(data_dir, &verifier.kid, verifier.key_type)? {
            Some(public) => public,
            None if make => load_or_make(data_dir, &verifier.kid, verifier.key_type)?,
            None => continue,
        };
        made.insert(verifier.kid.clone(), public);
    }
    Ok(made)
}

/// The public key PEM of `kid`'s stored key pair, if there is one of `key_type`.
fn load(data_dir: &Path, kid: &str, key_type: JwtKeyType) -> io::Result<Option<String>> {
    let (private_path, public_path) = key_paths(data_dir, kid);
    let Ok(pem) = fs::read_to_string(&private_path) else {
        return Ok(None);
    };
    match KeyPair::from_pem(&pem) {
        Ok(key) if key.algorithm() == algorithm(key_type) => {
            let public = key.public_key_pem();
            fs::write(&public_path, &public)?;
            Ok(Some(public))
        }
        _ => Ok(None),
    }
}

/// The public key PEM of `kid`'s key pair in `DATA/jwt/`, made when missing or of another type.
pub fn load_or_make(data_dir: &Path, kid: &str, key_type: JwtKeyType) -> io::Result<String> {
    if let Some(public) = load(data_dir, kid, key_type)? {
        return Ok(public);
    }
    let (private_path, public_path) = key_paths(data_dir, kid);
    let wanted = algorithm(key_type);
    fs::create_dir_all(data_dir.join(DIR))?;
    let key = KeyPair::generate_for(wanted).map_err(|e| io::Error::other(e.to_string()))?;
    write_private(&private_path, key.serialize_pem().as_bytes())?;
    let public = key.public_key_pem();
    fs::write(&public_path, &public)?;
    Ok(public)
}

/// A verifier key from PEM: an RSA or EC public key, or a certificate holding one.
pub fn decoding_key(pem: &str) -> Result<DecodingKey, String> {
    DecodingKey::from_rsa_pem(pem.as_bytes())
        .or_else(|_| DecodingKey::from_ec_pem(pem.as_bytes()))
        .map_err(|_| "not a PEM RSA or EC public key or certificate".to_string())
}

/// The claims the instance reads; `aud` is checked by jsonwebtoken.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: f64,
    nbf: Option<f64>,
    jti: Option<String>,
}

/// An assertion that passed every check but the replay check.
#[derive(Debug)]
pub struct Verified {
    /// The value of the user field the app names.
    pub sub: String,
    pub jti: Option<String>,
    /// When the assertion stops being acceptable (its `exp` plus the skew).
    pub usable_until: OffsetDateTime,
}

/// Checks `assertion` for `app`: a verifier key by the header's `kid`, an algorithm of that
/// key's family, the signature, `aud` = client id, `exp` and `nbf` against `now` with the app's
/// skew. `made` holds the public keys of made key pairs. Errors say why, for the refusal log.
pub fn verify(
    assertion: &str,
    app: &OAuthApp,
    made: &HashMap<String, String>,
    now: OffsetDateTime,
) -> Result<Verified, String> {
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|e| format!("the assertion is not a JWT: {e}"))?;
    let kid = header
        .kid
        .ok_or("the assertion's header names no kid".to_string())?;
    let verifier = app
        .jwt_verifiers
        .iter()
        .find(|v| v.kid == kid)
        .ok_or(format!("no JWT verifier map has kid {kid:?}"))?;
    let pem = match &verifier.public_key {
        Some(pem) => pem,
        None => made.get(&kid).ok_or(format!(
            "the key pair of kid {kid:?} was never made, so nobody could sign with it"
        ))?,
    };
    let key = decoding_key(pem)?;
    let mut validation = Validation::new_for_family(key.family());
    validation.algorithms = match key.family() {
        AlgorithmFamily::Rsa => vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
        AlgorithmFamily::Ec => vec![Algorithm::ES256, Algorithm::ES384],
        _ => Vec::new(),
    };
    validation.set_audience(&[&app.client_id]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    // jsonwebtoken checks times against the system clock; the instance's is the virtual one.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let claims = jsonwebtoken::decode::<Claims>(assertion, &key, &validation)
        .map_err(|e| format!("the assertion does not verify: {e}"))?
        .claims;
    let skew = time::Duration::seconds(i64::try_from(app.jwt_clock_skew_secs).unwrap_or(0));
    let exp = at(claims.exp).ok_or("the assertion's exp is out of range".to_string())?;
    if now > exp + skew {
        return Err(format!("the assertion expired at {exp}"));
    }
    if let Some(nbf) = claims.nbf {
        let nbf = at(nbf).ok_or("the assertion's nbf is out of range".to_string())?;
        if now + skew < nbf {
            return Err(format!("the assertion is not valid before {nbf}"));
        }
    }
    Ok(Verified {
        sub: claims.sub,
        jti: claims.jti,
        usable_until: exp + skew,
    })
}

/// A NumericDate (seconds since the epoch, possibly fractional) as a time.
fn at(seconds: f64) -> Option<OffsetDateTime> {
    if !seconds.is_finite() {
        return None;
    }
    // Whole seconds are precise enough for expiry checks.
    OffsetDateTime::from_unix_timestamp(seconds.floor() as i64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::auth_config::JwtVerifier;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    fn app(kid: &str, key_type: JwtKeyType) -> OAuthApp {
        OAuthApp {
            client_id: "client-1".into(),
            client_secret: Some("s".into()),
            jwt_verifiers: vec![JwtVerifier {
                kid: kid.into(),
                public_key: None,
                key_type,
            }],
            ..OAuthApp::default()
        }
    }

    fn sign(data_dir: &Path, kid: &str, alg: Algorithm, claims: serde_json::Value) -> String {
        let pem = fs::read(key_paths(data_dir, kid).0).unwrap();
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
            _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
        };
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    #[test]
    fn made_keys_verify_their_assertions_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let exp = now.unix_timestamp() + 60;
        for (kid, key_type, alg) in [
            ("k-rsa", JwtKeyType::Rsa, Algorithm::RS256),
            ("k-ec", JwtKeyType::Ec, Algorithm::ES256),
        ] {
            let app = app(kid, key_type);
            assert!(
                prepare_keys(dir.path(), std::slice::from_ref(&app), false)
                    .unwrap()
                    .is_empty(),
                "not made unless asked"
            );
            let made = prepare_keys(dir.path(), std::slice::from_ref(&app), true).unwrap();
            let claims = json!({"sub": "itil.user", "aud": "client-1", "exp": exp, "jti": "j1"});
            let good = sign(dir.path(), kid, alg, claims.clone());
            let verified = verify(&good, &app, &made, now).unwrap();
            assert_eq!(verified.sub, "itil.user");
            assert_eq!(verified.jti.as_deref(), Some("j1"));

            let wrong_aud = sign(
                dir.path(),
                kid,
                alg,
                json!({"sub": "x", "aud": "other", "exp": exp}),
            );
            assert!(verify(&wrong_aud, &app, &made, now).is_err());
            let late = now + time::Duration::seconds(61);
            assert!(
                verify(&good, &app, &made, late)
                    .unwrap_err()
                    .contains("expired")
            );

            // Tampered payload: the signature no longer matches.
            let mut parts: Vec<String> = good.split('.').map(String::from).collect();
            parts[1] = parts[1].chars().rev().collect();
            assert!(verify(&parts.join("."), &app, &made, now).is_err());
        }
        // Reloaded, not remade, on the next start.
        let before = fs::read(key_paths(dir.path(), "k-ec").1).unwrap();
        let reloaded = prepare_keys(dir.path(), &[app("k-ec", JwtKeyType::Ec)], false).unwrap();
        assert!(reloaded.contains_key("k-ec"));
        assert_eq!(fs::read(key_paths(dir.path(), "k-ec").1).unwrap(), before);
    }

    #[test]
    fn skew_and_unknown_kid() {
        let dir = tempfile::tempdir().unwrap();
        let mut app = app("k", JwtKeyType::Ec);
        app.jwt_clock_skew_secs = 300;
        let made = prepare_keys(dir.path(), std::slice::from_ref(&app), true).unwrap();
        let now = OffsetDateTime::now_utc();
        let claims = json!({"sub": "u", "aud": "client-1", "exp": now.unix_timestamp() - 100});
        let token = sign(dir.path(), "k", Algorithm::ES256, claims);
        assert!(verify(&token, &app, &made, now).is_ok(), "within the skew");
        app.jwt_clock_skew_secs = 0;
        assert!(verify(&token, &app, &made, now).is_err());
        app.jwt_verifiers[0].kid = "other".into();
        assert!(
            verify(&token, &app, &made, now)
                .unwrap_err()
                .contains("kid")
        );
        assert!(verify("garbage", &app, &made, now).is_err());
    }
}
