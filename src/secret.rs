//! Secrets as a type.
//!
//! Passwords, tokens, cookie values and keys travel in [`Secret`] (text) or [`SecretBytes`]
//! (keys): their `Debug` and `Display` print `***`, and their memory is zeroed on drop. Only the
//! code that must send a secret calls `expose`. A secret can be read from input
//! (`Deserialize`) but has no `Serialize`: serializing a struct that holds one does not compile,
//! so no value leaks through a JSON dump or a log. The vault's writer serializes values through
//! a private wrapper of its own.

use std::fmt;

use serde::{Deserialize, Deserializer};
use zeroize::{Zeroize, Zeroizing};

/// A kind of secret the ways in use (the instance file's `auth` decides which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretKind {
    /// The user's password (`basic`, `oauth-password`, a browser form login).
    Password,
    /// The OAuth application's client secret (RFC 6749 section 2.3.1).
    ClientSecret,
    /// An API key (`x-sn-apikey`).
    ApiKey,
    /// The passphrase of an encrypted client-certificate key (`mtls`).
    KeyPassphrase,
}

impl SecretKind {
    /// Every kind, in a fixed order.
    pub const ALL: [SecretKind; 4] = [
        SecretKind::Password,
        SecretKind::ClientSecret,
        SecretKind::ApiKey,
        SecretKind::KeyPassphrase,
    ];

    /// Its name: `password`, `client-secret`, `api-key`, `key-passphrase` (keyring entries and
    /// the CLI use these).
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::Password => "password",
            SecretKind::ClientSecret => "client-secret",
            SecretKind::ApiKey => "api-key",
            SecretKind::KeyPassphrase => "key-passphrase",
        }
    }

    /// The environment variable that can carry it.
    pub fn env(self) -> &'static str {
        match self {
            SecretKind::Password => "SNOWBRIDGE_PASSWORD",
            SecretKind::ClientSecret => "SNOWBRIDGE_CLIENT_SECRET",
            SecretKind::ApiKey => "SNOWBRIDGE_API_KEY",
            SecretKind::KeyPassphrase => "SNOWBRIDGE_KEY_PASSPHRASE",
        }
    }

    /// In words, for messages ("the client secret").
    pub fn describe(self) -> &'static str {
        match self {
            SecretKind::Password => "the password",
            SecretKind::ClientSecret => "the client secret",
            SecretKind::ApiKey => "the API key",
            SecretKind::KeyPassphrase => "the key's passphrase",
        }
    }

    /// Parses a name that [`SecretKind::as_str`] gives.
    pub fn parse(text: &str) -> Option<SecretKind> {
        SecretKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for SecretKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret string: printed as `***`, zeroed on drop, never serialized.
///
/// ```compile_fail,E0277
/// fn serializable<T: serde::Serialize>() {}
/// serializable::<snowbridge::secret::Secret>();
/// ```
/// The types that carry secrets cannot be serialized either:
/// ```compile_fail,E0277
/// fn serializable<T: serde::Serialize>() {}
/// serializable::<snowbridge::cookie::Cookie>();
/// ```
/// ```compile_fail,E0277
/// fn serializable<T: serde::Serialize>() {}
/// serializable::<snowbridge::vault::SessionRecord>();
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret text, for the code that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(mut value: String) -> Self {
        let secret = Secret::new(value.as_str());
        value.zeroize();
        secret
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::from)
    }
}

/// Secret bytes (keys): printed as `***`, zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(bytes))
    }

    /// The bytes, for the code that must use them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "*** ({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), "hunter2");
        let b = SecretBytes::new(vec![1, 2, 3]);
        assert!(!format!("{b:?}").contains('1'));
    }
}
