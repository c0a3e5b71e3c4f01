//! Assertions for the JWT bearer grant (RFC 7523): signed here with the instance file's
//! `jwt_key` (RS256 for an RSA key, ES256 for an EC P-256 key, by jsonwebtoken), or printed by
//! its `jwt_command`, run without a shell and time-boxed. Each exchange gets a fresh assertion:
//! the instance refuses a `jti` it has seen.
//!
//! A printed assertion is read (not verified: the instance does that) for its `exp` and `jti`,
//! so that an expired one or one already exchanged is reported before it is sent.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, ErrorKind, Result};
use crate::instance::Instance;
use crate::secret::Secret;

/// How long a signed assertion is valid: short, since it is exchanged at once.
pub const LIFETIME: time::Duration = time::Duration::seconds(60);

/// How long `jwt_command` may take to print its assertion.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

/// Where assertions come from.
pub enum Maker {
    /// Signed here.
    Key {
        /// The private key.
        key: EncodingKey,
        /// RS256 or ES256, by the key's type.
        algorithm: Algorithm,
        /// The `kid` header.
        kid: String,
        /// The `sub` claim.
        subject: String,
        /// The key file, for messages.
        file: PathBuf,
    },
    /// Printed by a command.
    Command {
        /// The program and its arguments.
        argv: Vec<String>,
    },
}

impl std::fmt::Debug for Maker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Maker::Key { algorithm, kid, .. } => write!(f, "Key({algorithm:?}, kid {kid})"),
            Maker::Command { argv } => write!(f, "Command({:?})", argv.first()),
        }
    }
}

/// One assertion, with what was read of it.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// The JWT.
    pub jwt: Secret,
    /// Its `jti`, when it has one.
    pub jti: Option<String>,
    /// Its `exp`, when it has one.
    pub expires: Option<OffsetDateTime>,
    /// Its `iat`, when it has one.
    pub issued: Option<OffsetDateTime>,
    /// Its `kid` header, when it has one.
    pub kid: Option<String>,
    /// Its `sub` claim, when it has one.
    pub subject: Option<String>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

#[derive(Deserialize)]
struct ReadClaims {
    exp: Option<f64>,
    iat: Option<f64>,
    jti: Option<String>,
    sub: Option<String>,
}

impl Maker {
    /// The maker the instance file's `[oauth]` names.
    pub fn for_instance(instance: &Instance) -> Result<Maker> {
        let file = instance.source.display().to_string();
        let oauth = instance.oauth.as_ref().ok_or_else(|| {
            Error::bad_input(format!("{file}: auth = \"jwt\" needs an [oauth] section"))
        })?;
        if let Some(command) = &oauth.jwt_command {
            let argv = shlex::split(command).filter(|a| !a.is_empty()).ok_or_else(|| {
                Error::bad_input(format!(
                    "{file}: key `oauth.jwt_command`: {command:?} cannot be split into a program and its arguments"
                ))
                .with_hint("check its quotes; it runs without a shell, so pipes and $VARS do not work")
            })?;
            return Ok(Maker::Command { argv });
        }
        let path = oauth.jwt_key.clone().ok_or_else(|| {
            Error::bad_input(format!(
                "{file}: auth = \"jwt\" needs jwt_key or jwt_command"
            ))
        })?;
        let kid = oauth.jwt_kid.clone().ok_or_else(|| {
            Error::bad_input(format!(
                "{file}: key `oauth.jwt_kid`: jwt_key needs its key id"
            ))
        })?;
        let subject = oauth
            .jwt_subject
            .clone()
            .or_else(|| instance.username.clone())
            .ok_or_else(|| {
                Error::bad_input(format!(
                    "{file}: key `oauth.jwt_subject`: the assertion needs its subject (the user)"
                ))
                .with_hint("add jwt_subject = \"...\" under [oauth], or username = \"...\"")
            })?;
        let pem = std::fs::read(&path).map_err(|e| {
            Error::bad_input(format!(
                "{file}: key `oauth.jwt_key`: cannot read {}: {e}",
                path.display()
            ))
        })?;
        super::mtls::warn_if_others_can_read(&path);
        let (key, algorithm) = match EncodingKey::from_rsa_pem(&pem) {
            Ok(key) => (key, Algorithm::RS256),
            Err(_) => match EncodingKey::from_ec_pem(&pem) {
                Ok(key) => (key, Algorithm::ES256),
                Err(e) => {
                    return Err(Error::bad_input(format!(
                        "{file}: key `oauth.jwt_key`: {} is not a PEM RSA or EC P-256 private key ({e})",
                        path.display()
                    ))
                    .with_hint(
                        "give a PKCS#8 PEM key (`-----BEGIN PRIVATE KEY-----`); `openssl pkcs8 \
                         -topk8 -nocrypt -in KEY` converts an `EC PRIVATE KEY` or `RSA PRIVATE KEY`",
                    ));
                }
            },
        };
        Ok(Maker::Key {
            key,
            algorithm,
            kid,
            subject,
            file: path,
        })
    }

    /// What the instance's JWT verifier must know, for messages.
    pub fn describe(&self) -> String {
        match self {
            Maker::Key {
                algorithm,
                kid,
                subject,
                file,
                ..
            } => format!(
                "signed {algorithm:?} with {} (kid {kid}, sub {subject})",
                file.display()
            ),
            Maker::Command { argv } => format!(
                "printed by jwt_command {}",
                argv.first().map(String::as_str).unwrap_or_default()
            ),
        }
    }

    /// A fresh assertion for `client_id` (`aud` and `iss`).
    pub async fn assertion(&self, client_id: &str) -> Result<Assertion> {
        match self {
            Maker::Key {
                key,
                algorithm,
                kid,
                subject,
                file,
            } => {
                let now = OffsetDateTime::now_utc();
                let jti = uuid::Uuid::new_v4().to_string();
                let claims = Claims {
                    iss: client_id,
                    sub: subject,
                    aud: client_id,
                    iat: now.unix_timestamp(),
                    exp: (now + LIFETIME).unix_timestamp(),
                    jti: jti.clone(),
                };
                let mut header = Header::new(*algorithm);
                header.kid = Some(kid.clone());
                let jwt = jsonwebtoken::encode(&header, &claims, key).map_err(|e| {
                    Error::bad_input(format!(
                        "cannot sign the assertion with {}: {e}",
                        file.display()
                    ))
                    .with_hint("an EC key must be on the P-256 curve (ES256)")
                })?;
                Ok(Assertion {
                    jwt: Secret::from(jwt),
                    jti: Some(jti),
                    expires: Some(now + LIFETIME),
                    issued: Some(now),
                    kid: Some(kid.clone()),
                    subject: Some(subject.clone()),
                })
            }
            Maker::Command { argv } => {
                let printed = run(argv).await?;
                read(printed, argv)
            }
        }
    }
}

/// Runs `argv` without a shell, with no stdin, for at most [`COMMAND_TIMEOUT`]; its stdout.
async fn run(argv: &[String]) -> Result<Secret> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Error::bad_input("jwt_command is empty"))?;
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            Error::bad_input(format!("jwt_command: cannot run {program}: {e}"))
                .with_hint("check the program's path in the instance file's jwt_command")
        })?;
    let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            Error::bad_input(format!(
                "jwt_command: {program} printed no assertion within {}s and was stopped",
                COMMAND_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| Error::bad_input(format!("jwt_command: {program} failed: {e}")))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said: String = said.trim().chars().take(300).collect();
        return Err(Error::bad_input(format!(
            "jwt_command: {program} ended with {}{}",
            output.status,
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        )));
    }
    let text = String::from_utf8(output.stdout).map_err(|_| {
        Error::bad_input(format!(
            "jwt_command: {program} printed bytes that are not text"
        ))
    })?;
    Ok(Secret::from(text.trim().to_owned()))
}

/// Reads a printed assertion's header and claims (without verifying it).
fn read(jwt: Secret, argv: &[String]) -> Result<Assertion> {
    let program = argv.first().map(String::as_str).unwrap_or_default();
    let not_a_jwt = || {
        Error::bad_input(format!(
            "jwt_command: {program} printed something that is not a JWT (three base64url parts \
             separated by dots)"
        ))
        .with_hint("the command must print the assertion alone on stdout")
    };
    let parts: Vec<&str> = jwt.expose().split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(not_a_jwt());
    }
    let header = jsonwebtoken::decode_header(jwt.expose()).map_err(|_| not_a_jwt())?;
    let claims: ReadClaims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1].trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(not_a_jwt)?;
    let at = |secs: f64| OffsetDateTime::from_unix_timestamp(secs as i64).ok();
    Ok(Assertion {
        expires: claims.exp.and_then(at),
        issued: claims.iat.and_then(at),
        jti: claims.jti,
        kid: header.kid,
        subject: claims.sub,
        jwt,
    })
}

/// Checks a printed assertion before it is sent: not expired here, and not the one exchanged
/// last (`used`: the `jti` of the assertion behind the tokens in hand).
pub fn check_printed(assertion: &Assertion, used: &[String], instance: &str) -> Result<()> {
    let now = OffsetDateTime::now_utc();
    if let Some(exp) = assertion.expires
        && exp <= now
    {
        return Err(Error::new(
            ErrorKind::Credentials,
            format!(
                "jwt_command printed an assertion that expired at {} ({}s ago by this machine's \
                 clock); the instance refuses expired assertions",
                crate::obtain::token::rfc3339(exp),
                (now - exp).whole_seconds()
            ),
        )
        .with_hint(format!(
            "make the command print a fresh assertion for {instance} each time (exp a few \
             minutes ahead), and check both machines' clocks"
        )));
    }
    if let Some(jti) = &assertion.jti
        && used.iter().any(|u| u == jti)
    {
        return Err(Error::new(
            ErrorKind::Credentials,
            format!(
                "jwt_command printed the assertion with jti {jti:?} again: it was already \
                 exchanged, and the instance refuses a jti it has seen"
            ),
        )
        .with_hint("make the command print a new assertion (a new random jti) on every run"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_printed_assertion_is_read_for_its_expiry_and_jti() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256","kid":"k1"}"#),
            b64(r#"{"sub":"svc","exp":1000,"iat":940,"jti":"j-1"}"#)
        );
        let a = read(Secret::from(jwt), &["cmd".into()]).unwrap();
        assert_eq!(a.jti.as_deref(), Some("j-1"));
        assert_eq!(a.kid.as_deref(), Some("k1"));
        assert_eq!(a.expires.unwrap().unix_timestamp(), 1000);
        let err = check_printed(&a, &[], "dev").unwrap_err();
        assert!(err.message().contains("expired"), "{err}");
        assert!(read(Secret::from("not a jwt".to_owned()), &["cmd".into()]).is_err());
    }
}
