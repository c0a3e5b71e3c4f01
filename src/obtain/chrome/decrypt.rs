//! Undoing Chrome's cookie encryption: pure functions, compiled and tested on every OS.
//!
//! [`Keys`] holds the keys derived once per import (PBKDF2 for the Linux and macOS scheme, the
//! AES-256-GCM key on Windows) and decrypts one `encrypted_value` at a time, answering either the
//! value or a [`Reason`] a person can act on. This module never touches a keyring, a file or the
//! OS: the OS glue in `keyring` fetches passwords and hands them in.

use std::fmt;

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use aes_gcm::aead::{Aead, KeyInit};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::secret::{Secret, SecretBytes};

/// Chrome's fixed PBKDF2 salt for the Linux and macOS scheme.
const SALT: &[u8] = b"saltysalt";
/// Chrome's fixed CBC initialisation vector: sixteen spaces.
const IV: [u8; 16] = [b' '; 16];
/// The password Chrome uses for `v10` on Linux when no keyring is used.
const LINUX_V10_PASSWORD: &[u8] = b"peanuts";
/// PBKDF2 iterations: 1 on Linux, 1003 on macOS.
const LINUX_ITERATIONS: u32 = 1;
const MACOS_ITERATIONS: u32 = 1003;
/// Length of the SHA-256(host_key) prefix that meta version 24 and later put before the value.
const HOST_HASH_LEN: usize = 32;
/// The nonce and tag lengths of Chrome's AES-256-GCM values on Windows.
const GCM_NONCE_LEN: usize = 12;
const GCM_TAG_LEN: usize = 16;

/// Why one cookie could not be decrypted. Every variant reads as a plain sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// `v20`: app-bound encryption, which only Chrome's elevated service can undo.
    AppBound,
    /// The key for this scheme could not be had (keyring locked, missing, timed out, not this OS).
    KeyUnavailable {
        /// The scheme (`v11`, `v10`, `DPAPI`).
        scheme: String,
        /// Why the key is missing.
        why: String,
    },
    /// Every key at hand failed: bad padding, a failed GCM tag or a host-hash mismatch.
    WrongKey {
        /// The scheme (`v10`, `v11`).
        scheme: String,
    },
    /// A prefix this platform's Chrome does not write.
    UnknownScheme {
        /// The first bytes of the value, printable.
        prefix: String,
    },
    /// The stored value is damaged (too short for its scheme).
    Malformed(String),
    /// The expiry time cannot be represented.
    BadExpiry,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::AppBound => f.write_str(
                "app-bound encryption (Chrome 127+ on Windows) can only be undone by Chrome's \
                 elevated service; log in through the browser instead",
            ),
            Reason::KeyUnavailable { scheme, why } => {
                write!(
                    f,
                    "encrypted with the {scheme} key, which is unavailable: {why}"
                )
            }
            Reason::WrongKey { scheme } => write!(
                f,
                "wrong key: the {scheme} key at hand does not decrypt it (another user's or \
                 another browser's profile, or the keyring's password changed)"
            ),
            Reason::UnknownScheme { prefix } => write!(
                f,
                "encrypted with a scheme this platform's Chrome does not use (prefix {prefix:?})"
            ),
            Reason::Malformed(what) => write!(f, "the stored value is damaged: {what}"),
            Reason::BadExpiry => f.write_str("its expiry time is out of range"),
        }
    }
}

/// A derived AES-128 key for the CBC scheme.
type CbcKey = Zeroizing<[u8; 16]>;

/// Unwraps a raw Windows DPAPI blob; set only by the Windows glue.
pub(crate) type Dpapi = fn(&[u8]) -> Result<Zeroizing<Vec<u8>>, String>;

/// The keys for one import, derived once.
pub struct Keys {
    scheme: Scheme,
}

enum Scheme {
    /// Linux and macOS: AES-128-CBC under PBKDF2-derived keys, tried in order.
    Cbc {
        v10: Vec<CbcKey>,
        v10_missing: Option<String>,
        v11: Vec<CbcKey>,
        v11_missing: Option<String>,
    },
    /// Windows: AES-256-GCM under the key from `Local State`, raw DPAPI for unprefixed values.
    Gcm {
        key: Result<Box<aes_gcm::Aes256Gcm>, String>,
        dpapi: Option<Dpapi>,
    },
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scheme {
            Scheme::Cbc { v10, v11, .. } => write!(
                f,
                "Keys::Cbc {{ v10: {} candidates, v11: {} candidates }}",
                v10.len(),
                v11.len()
            ),
            Scheme::Gcm { key, .. } => write!(f, "Keys::Gcm {{ key: {} }}", key.is_ok()),
        }
    }
}

impl Keys {
    /// Linux: `v10` under "peanuts", `v11` under each password the keyring gave (or why none),
    /// both falling back to the empty password as Chrome does.
    pub fn linux(keyring: Result<Vec<SecretBytes>, String>) -> Keys {
        let (passwords, v11_missing) = split(keyring);
        let mut v11: Vec<CbcKey> = passwords
            .iter()
            .map(|p| derive(p.expose(), LINUX_ITERATIONS))
            .collect();
        v11.push(derive(b"", LINUX_ITERATIONS));
        Keys {
            scheme: Scheme::Cbc {
                v10: vec![
                    derive(LINUX_V10_PASSWORD, LINUX_ITERATIONS),
                    derive(b"", LINUX_ITERATIONS),
                ],
                v10_missing: None,
                v11,
                v11_missing,
            },
        }
    }

    /// macOS: `v10` under the keychain's "Safe Storage" password (1003 PBKDF2 iterations),
    /// falling back to the empty password.
    pub fn macos(keychain: Result<SecretBytes, String>) -> Keys {
        let (password, v10_missing) = split(keychain.map(|p| vec![p]));
        let mut v10: Vec<CbcKey> = password
            .iter()
            .map(|p| derive(p.expose(), MACOS_ITERATIONS))
            .collect();
        v10.push(derive(b"", MACOS_ITERATIONS));
        Keys {
            scheme: Scheme::Cbc {
                v10,
                v10_missing,
                v11: Vec::new(),
                v11_missing: Some("Chrome on macOS does not write v11 values".into()),
            },
        }
    }

    /// Windows: the 32-byte AES-256-GCM key unwrapped from `Local State` (or why it could not be).
    pub fn windows(aes_key: Result<SecretBytes, String>) -> Keys {
        let key = aes_key.and_then(|k| {
            aes_gcm::Aes256Gcm::new_from_slice(k.expose())
                .map(Box::new)
                .map_err(|_| {
                    format!(
                        "the key in Local State is {} bytes, not 32",
                        k.expose().len()
                    )
                })
        });
        Keys {
            scheme: Scheme::Gcm { key, dpapi: None },
        }
    }

    /// Adds the DPAPI unwrapper for unprefixed values (Windows glue only).
    #[cfg_attr(not(windows), allow(dead_code))]
    pub(crate) fn with_dpapi(mut self, unwrap: Dpapi) -> Keys {
        if let Scheme::Gcm { dpapi, .. } = &mut self.scheme {
            *dpapi = Some(unwrap);
        }
        self
    }

    /// Decrypts one `encrypted_value` stored under `host_key`. `host_hashed` is true for meta
    /// version 24 and later, where the plaintext starts with SHA-256(host_key).
    pub fn decrypt(
        &self,
        host_key: &str,
        encrypted: &[u8],
        host_hashed: bool,
    ) -> Result<Secret, Reason> {
        let (prefix, body) = encrypted.split_at(encrypted.len().min(3));
        if prefix == b"v20" {
            return Err(Reason::AppBound);
        }
        let accept = |plain: &[u8]| accept(plain, host_key, host_hashed);
        match (&self.scheme, prefix) {
            (
                Scheme::Cbc {
                    v10, v10_missing, ..
                },
                b"v10",
            ) => try_cbc("v10", v10, v10_missing, body, accept),
            (
                Scheme::Cbc {
                    v11, v11_missing, ..
                },
                b"v11",
            ) => try_cbc("v11", v11, v11_missing, body, accept),
            (Scheme::Cbc { .. }, _) => Err(Reason::UnknownScheme {
                prefix: String::from_utf8_lossy(prefix).into_owned(),
            }),
            (Scheme::Gcm { key, .. }, b"v10" | b"v11") => {
                let scheme = String::from_utf8_lossy(prefix).into_owned();
                let key = key.as_ref().map_err(|why| Reason::KeyUnavailable {
                    scheme: scheme.clone(),
                    why: why.clone(),
                })?;
                let plain = gcm_decrypt(key, body)?.ok_or(Reason::WrongKey {
                    scheme: scheme.clone(),
                })?;
                accept(&plain).ok_or(Reason::WrongKey { scheme })
            }
            (Scheme::Gcm { dpapi, .. }, _) => {
                let unwrap = dpapi.ok_or_else(|| Reason::KeyUnavailable {
                    scheme: "DPAPI".into(),
                    why: "only Windows itself can unwrap DPAPI values".into(),
                })?;
                let plain = unwrap(encrypted).map_err(|why| Reason::KeyUnavailable {
                    scheme: "DPAPI".into(),
                    why,
                })?;
                accept(&plain).ok_or(Reason::WrongKey {
                    scheme: "DPAPI".into(),
                })
            }
        }
    }
}

fn split<T>(found: Result<Vec<T>, String>) -> (Vec<T>, Option<String>) {
    match found {
        Ok(found) => (found, None),
        Err(why) => (Vec::new(), Some(why)),
    }
}

/// PBKDF2-HMAC-SHA1(password, "saltysalt", iterations) → 16 bytes.
fn derive(password: &[u8], iterations: u32) -> CbcKey {
    let mut key = Zeroizing::new([0u8; 16]);
    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, SALT, iterations, key.as_mut());
    key
}

/// Tries each candidate key; the first whose plaintext passes `accept` wins.
fn try_cbc(
    scheme: &str,
    keys: &[CbcKey],
    missing: &Option<String>,
    body: &[u8],
    accept: impl Fn(&[u8]) -> Option<Secret>,
) -> Result<Secret, Reason> {
    if body.is_empty() || !body.len().is_multiple_of(16) {
        return Err(Reason::Malformed(format!(
            "a {scheme} value of {} bytes is not whole AES blocks",
            body.len()
        )));
    }
    let mut buf = Zeroizing::new(vec![0u8; body.len()]);
    for key in keys {
        buf.copy_from_slice(body);
        let decryptor = cbc::Decryptor::<aes::Aes128>::new(key.as_ref().into(), &IV.into());
        if let Ok(plain) = decryptor.decrypt_padded_mut::<Pkcs7>(&mut buf)
            && let Some(value) = accept(plain)
        {
            return Ok(value);
        }
    }
    Err(match missing {
        Some(why) => Reason::KeyUnavailable {
            scheme: scheme.into(),
            why: why.clone(),
        },
        None => Reason::WrongKey {
            scheme: scheme.into(),
        },
    })
}

/// nonce(12) | ciphertext | tag(16) under AES-256-GCM; `None` when the tag fails.
fn gcm_decrypt(
    key: &aes_gcm::Aes256Gcm,
    body: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>, Reason> {
    if body.len() < GCM_NONCE_LEN + GCM_TAG_LEN {
        return Err(Reason::Malformed(format!(
            "an AES-GCM value of {} bytes is shorter than its nonce and tag",
            body.len()
        )));
    }
    let (nonce, sealed) = body.split_at(GCM_NONCE_LEN);
    let nonce = aes_gcm::Nonce::try_from(nonce)
        .map_err(|_| Reason::Malformed("the AES-GCM nonce has the wrong length".into()))?;
    Ok(key.decrypt(&nonce, sealed).ok().map(Zeroizing::new))
}

/// Checks and strips the host hash (meta version 24+), then requires text.
fn accept(plain: &[u8], host_key: &str, host_hashed: bool) -> Option<Secret> {
    let value = if host_hashed {
        let (hash, value) = plain.split_at_checked(HOST_HASH_LEN)?;
        if hash != Sha256::digest(host_key.as_bytes()).as_slice() {
            return None;
        }
        value
    } else {
        plain
    };
    // Cookie values are text; bytes that are not UTF-8 mean a key that only looked right.
    std::str::from_utf8(value).ok().map(Secret::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::BlockEncryptMut;

    fn cbc_encrypt(password: &[u8], iterations: u32, prefix: &[u8], plain: &[u8]) -> Vec<u8> {
        let key = derive(password, iterations);
        let enc = cbc::Encryptor::<aes::Aes128>::new(key.as_ref().into(), &IV.into());
        let mut buf = vec![0u8; plain.len() + 16];
        let ct = enc
            .encrypt_padded_b2b_mut::<Pkcs7>(plain, &mut buf)
            .unwrap()
            .to_vec();
        [prefix, &ct].concat()
    }

    fn hashed(host: &str, value: &str) -> Vec<u8> {
        [Sha256::digest(host.as_bytes()).as_slice(), value.as_bytes()].concat()
    }

    #[test]
    fn the_derived_v10_key_matches_an_independent_pbkdf2() {
        // Python's hashlib.pbkdf2_hmac('sha1', b'peanuts', b'saltysalt', 1, 16) gives this key.
        assert_eq!(
            hex::encode(derive(b"peanuts", 1).as_ref()),
            "fd621fe5a2b402539dfa147ca9272778"
        );
    }

    #[test]
    fn linux_v10_with_host_hash_decrypts_and_strips_the_hash() {
        let keys = Keys::linux(Err("no keyring".into()));
        let enc = cbc_encrypt(b"peanuts", 1, b"v10", &hashed("acme.example", "s3cret"));
        let value = keys.decrypt("acme.example", &enc, true).unwrap();
        assert_eq!(value.expose(), "s3cret");
    }

    #[test]
    fn a_hash_for_another_host_is_a_wrong_key_not_a_value() {
        let keys = Keys::linux(Ok(vec![]));
        let enc = cbc_encrypt(b"peanuts", 1, b"v10", &hashed("other.example", "s3cret"));
        assert_eq!(
            keys.decrypt("acme.example", &enc, true),
            Err(Reason::WrongKey {
                scheme: "v10".into()
            })
        );
    }

    #[test]
    fn v11_uses_the_keyring_password_and_falls_back_to_empty() {
        let keys = Keys::linux(Ok(vec![SecretBytes::new(b"from-keyring".to_vec())]));
        let enc = cbc_encrypt(b"from-keyring", 1, b"v11", &hashed("h", "a"));
        assert_eq!(keys.decrypt("h", &enc, true).unwrap().expose(), "a");
        let empty = cbc_encrypt(b"", 1, b"v11", b"old");
        assert_eq!(keys.decrypt("h", &empty, false).unwrap().expose(), "old");
    }

    #[test]
    fn v11_without_a_keyring_says_why_the_key_is_missing() {
        let keys = Keys::linux(Err("the keyring is locked".into()));
        let enc = cbc_encrypt(b"from-keyring", 1, b"v11", &hashed("h", "a"));
        let err = keys.decrypt("h", &enc, true).unwrap_err();
        assert!(matches!(&err, Reason::KeyUnavailable { why, .. } if why.contains("locked")));
    }

    #[test]
    fn macos_uses_1003_iterations() {
        let keys = Keys::macos(Ok(SecretBytes::new(b"mac-pass".to_vec())));
        let enc = cbc_encrypt(b"mac-pass", 1003, b"v10", &hashed("h", "m"));
        assert_eq!(keys.decrypt("h", &enc, true).unwrap().expose(), "m");
        let linux_style = cbc_encrypt(b"mac-pass", 1, b"v10", &hashed("h", "m"));
        assert!(matches!(
            keys.decrypt("h", &linux_style, true),
            Err(Reason::WrongKey { .. })
        ));
    }

    #[test]
    fn v20_is_reported_as_app_bound_on_every_platform() {
        for keys in [
            Keys::linux(Ok(vec![])),
            Keys::windows(Ok(SecretBytes::new(vec![7; 32]))),
        ] {
            let err = keys.decrypt("h", b"v20\x01\x02\x03", true).unwrap_err();
            assert_eq!(err, Reason::AppBound);
            assert!(
                err.to_string()
                    .contains("log in through the browser instead")
            );
        }
    }

    #[test]
    fn windows_gcm_round_trip_and_wrong_key() {
        let key = [9u8; 32];
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&key).unwrap();
        let nonce = [1u8; 12];
        let sealed = cipher
            .encrypt(
                &aes_gcm::Nonce::try_from(&nonce[..]).unwrap(),
                &hashed("h", "w")[..],
            )
            .unwrap();
        let enc = [b"v10".as_slice(), &nonce, &sealed].concat();
        let keys = Keys::windows(Ok(SecretBytes::new(key.to_vec())));
        assert_eq!(keys.decrypt("h", &enc, true).unwrap().expose(), "w");
        let wrong = Keys::windows(Ok(SecretBytes::new(vec![8; 32])));
        assert!(matches!(
            wrong.decrypt("h", &enc, true),
            Err(Reason::WrongKey { .. })
        ));
        assert!(matches!(
            keys.decrypt("h", b"v10short", true),
            Err(Reason::Malformed(_))
        ));
    }

    #[test]
    fn damaged_and_foreign_values_are_reasons_not_panics() {
        let keys = Keys::linux(Ok(vec![]));
        assert!(matches!(
            keys.decrypt("h", b"v10abc", true),
            Err(Reason::Malformed(_))
        ));
        assert!(matches!(
            keys.decrypt("h", b"v1", true),
            Err(Reason::UnknownScheme { .. })
        ));
        assert!(matches!(
            keys.decrypt("h", b"", true),
            Err(Reason::UnknownScheme { .. })
        ));
    }
}
