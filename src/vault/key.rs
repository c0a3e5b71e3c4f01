//! The vault's key: 32 random bytes kept in the OS keyring, or in a 0600 key file beside the
//! sessions where no keyring answers (headless servers, cron).
//!
//! Every keyring call runs on its own thread with a deadline, so a locked or absent keyring can
//! never hang a scheduled job. A key file, once it exists, wins: it is what earlier runs used.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::error::{Error, ErrorKind, Result};
use crate::keyring::{self, Lookup};
use crate::secret::{Secret, SecretBytes};

const ACCOUNT: &str = "session-vault-key";

/// Where the key was found, for `status` and for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyOrigin {
    /// The OS keyring (Secret Service, Keychain, Credential Manager).
    Keyring,
    /// A key file readable by the owner only.
    File(PathBuf),
}

/// How to find the key.
#[derive(Debug, Clone)]
pub struct KeyPolicy {
    /// The key file used where no keyring answers.
    pub file: PathBuf,
    /// Try the OS keyring at all (`SNOWBRIDGE_KEYRING=off` turns it off).
    pub use_keyring: bool,
    /// How long a keyring call may take.
    pub keyring_timeout: Duration,
}

impl KeyPolicy {
    /// The default policy for the data folder `data`.
    pub fn for_data_dir(data: &Path) -> Self {
        KeyPolicy {
            file: data.join("vault.key"),
            use_keyring: crate::keyring::enabled(),
            keyring_timeout: crate::keyring::DEFAULT_TIMEOUT,
        }
    }
}

/// The key and where it came from.
#[derive(Debug, Clone)]
pub struct VaultKey {
    /// The 32 key bytes.
    pub key: SecretBytes,
    /// Where it was found.
    pub origin: KeyOrigin,
}

/// Where a key was read from, for saying what is damaged and how to set it aside.
enum KeyPlace<'a> {
    Keyring,
    File(&'a Path),
}

/// A key that is there but damaged: what to do, and what it costs. It is never replaced
/// silently, since the sessions sealed with it would be lost without a word.
fn damaged(place: &KeyPlace<'_>, what: &str) -> Error {
    let (message, set_aside) = match place {
        KeyPlace::File(path) => (
            format!("the session key file {} is damaged: {what}", path.display()),
            format!("move it aside (mv {0} {0}.damaged)", path.display()),
        ),
        KeyPlace::Keyring => (
            format!("the session key in the OS keyring is damaged: {what}"),
            format!(
                "delete the OS keyring's entry `{ACCOUNT}` of service `snowbridge` (on Linux: secret-tool clear service snowbridge username {ACCOUNT})"
            ),
        ),
    };
    Error::bad_input(message).with_hint(format!(
        "{set_aside}; snowbridge then makes a new key, and every stored session, sealed with the \
         old one, must be logged in again. snowbridge never \
         replaces a damaged key by itself"
    ))
}

fn decode(text: &str, place: &KeyPlace<'_>) -> Result<SecretBytes> {
    let bytes = B64
        .decode(text.trim())
        .map_err(|_| damaged(place, "it is not the base64 text snowbridge writes"))?;
    if bytes.len() != 32 {
        return Err(damaged(
            place,
            &format!("it holds {} bytes where a key has 32", bytes.len()),
        ));
    }
    Ok(SecretBytes::new(bytes))
}

fn new_key() -> SecretBytes {
    let mut bytes = vec![0u8; 32];
    rand::fill(&mut bytes[..]);
    SecretBytes::new(bytes)
}

/// Finds the key, making one when there is none yet. `notice` receives the one-line message
/// shown the first time the key goes into a file.
pub fn load_or_create(policy: &KeyPolicy, notice: &mut dyn FnMut(&str)) -> Result<VaultKey> {
    if let Some(key) = read_key_file(&policy.file)? {
        return Ok(VaultKey {
            key,
            origin: KeyOrigin::File(policy.file.clone()),
        });
    }
    let mut why_not_keyring = "the OS keyring is turned off (SNOWBRIDGE_KEYRING=off)".to_owned();
    if policy.use_keyring {
        match keyring::get(ACCOUNT, policy.keyring_timeout) {
            Lookup::Found(text) => {
                return Ok(VaultKey {
                    key: decode(text.expose(), &KeyPlace::Keyring)?,
                    origin: KeyOrigin::Keyring,
                });
            }
            Lookup::Missing => {
                let key = new_key();
                let encoded = Secret::new(B64.encode(key.expose()));
                match keyring::set(ACCOUNT, &encoded, policy.keyring_timeout) {
                    // Read it back: some keyrings accept a write they do not keep.
                    Ok(()) => match keyring::get(ACCOUNT, policy.keyring_timeout) {
                        Lookup::Found(text)
                            if decode(text.expose(), &KeyPlace::Keyring)? == key =>
                        {
                            return Ok(VaultKey {
                                key,
                                origin: KeyOrigin::Keyring,
                            });
                        }
                        _ => why_not_keyring = "the OS keyring did not keep the key".into(),
                    },
                    Err(why) => why_not_keyring = why,
                }
            }
            Lookup::Unavailable(why) => why_not_keyring = why,
        }
    }
    tracing::debug!(reason = %why_not_keyring, "using a key file");
    let (key, created) = write_key_file(&policy.file, new_key())?;
    if created {
        notice(&format!(
            "{why_not_keyring}; keeping the session key in {} (readable by you only)",
            policy.file.display()
        ));
    }
    Ok(VaultKey {
        key,
        origin: KeyOrigin::File(policy.file.clone()),
    })
}

fn read_key_file(path: &Path) -> Result<Option<SecretBytes>> {
    match std::fs::read_to_string(path) {
        Ok(text) => decode(&text, &KeyPlace::File(path)).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // Bytes that are not text: damaged, not a question of permissions.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(damaged(
            &KeyPlace::File(path),
            "it is not the base64 text snowbridge writes",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(Error::new(
            ErrorKind::BadInput,
            format!("cannot read the session key file {}: {e}", path.display()),
        )
        .with_hint("check its owner and permissions (it should be yours, mode 0600)")),
        Err(e) => Err(Error::io("cannot read the session key file", path, e)),
    }
}

/// Writes a new key file, or returns the key another process wrote first; `true` when ours.
fn write_key_file(path: &Path, key: SecretBytes) -> Result<(SecretBytes, bool)> {
    if let Some(dir) = path.parent() {
        crate::files::create_private_dir(dir, true)
            .map_err(|e| Error::io("cannot create", dir, e))?;
    }
    let text = zeroize::Zeroizing::new(format!("{}\n", B64.encode(key.expose())));
    // Written whole to a temporary file (0600), then moved into place only if no file is
    // there (tempfile's persist_noclobber): a process that got there first wins, and nobody
    // ever sees a half-written key.
    let dir = path.parent().unwrap_or(Path::new("."));
    let written = (|| {
        use std::io::Write;
        let mut file = tempfile::Builder::new()
            .prefix(".vault.key.tmp.")
            .tempfile_in(dir)?;
        file.write_all(text.as_bytes())?;
        file.as_file().sync_all()?;
        file.persist_noclobber(path)
            .map(|_| ())
            .map_err(|e| e.error)
    })();
    match written {
        Ok(()) => Ok((key, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let theirs = read_key_file(path)?
                .ok_or_else(|| Error::internal(format!("{} vanished", path.display())))?;
            Ok((theirs, false))
        }
        Err(e) => Err(Error::io("cannot create", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_policy(dir: &Path) -> KeyPolicy {
        KeyPolicy {
            file: dir.join("vault.key"),
            use_keyring: false,
            keyring_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_key_file_is_made_once_with_a_notice_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let policy = file_policy(dir.path());
        let mut notices = Vec::new();
        let first = load_or_create(&policy, &mut |n| notices.push(n.to_owned())).unwrap();
        let second = load_or_create(&policy, &mut |n| notices.push(n.to_owned())).unwrap();
        assert_eq!(first.key, second.key);
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].contains("vault.key"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&policy.file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_damaged_key_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let policy = file_policy(dir.path());
        std::fs::write(&policy.file, "not base64!").unwrap();
        let err = load_or_create(&policy, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("vault.key"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&policy.file).unwrap(),
            "not base64!"
        );
    }

    #[test]
    fn a_damaged_key_file_is_called_damaged_with_what_to_do_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let policy = file_policy(dir.path());
        let cases: [&[u8]; 3] = [
            b"\xff\xfe\x00garbage that is not text",
            b"not base64!",
            b"c2hvcnQ=\n",
        ];
        for bytes in cases {
            std::fs::write(&policy.file, bytes).unwrap();
            let err = load_or_create(&policy, &mut |_| {}).unwrap_err();
            assert!(err.message().contains("vault.key is damaged"), "{err}");
            let hint = err.hint().unwrap();
            assert!(hint.contains("move it aside"), "{hint}");
            assert!(hint.contains("logged in again"), "{hint}");
            assert!(!hint.contains("permissions"), "{hint}");
            assert_eq!(
                std::fs::read(&policy.file).unwrap(),
                bytes,
                "kept as it was"
            );
        }
    }
}
