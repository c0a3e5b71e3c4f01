//! Stage 2: keeping a session. One sealed file per instance in the data folder.
//!
//! Files are AES-256-GCM sealed under a key from the OS keyring (or a 0600 key file), written
//! atomically (temporary file, fsync, rename) with mode 0600, and every read-modify-write holds an
//! exclusive lock on a side file so concurrent processes never lose each other's updates. A file
//! that cannot be read is reported, and left where it is until a new session replaces it (a
//! login, or a grant the instance accepted for a method that needs no person). This module knows
//! files and cryptography; it never talks to an instance.

mod key;
mod payload;
mod record;
mod sealed;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use zeroize::Zeroizing;

pub use key::{KeyOrigin, KeyPolicy, VaultKey};
pub use record::{FORMAT, KeptCookie, Obtained, SessionRecord, Tokens};

use crate::error::{Error, ErrorKind, Result};
use crate::paths::Dirs;

/// How long to wait for another process's save before giving up.
const LOCK_PATIENCE: Duration = Duration::from_secs(30);

/// What the vault holds for an instance ([`Vault::inspect`]).
#[derive(Debug)]
pub enum Stored {
    /// No session file.
    Nothing,
    /// The session.
    Session(Box<SessionRecord>),
    /// A file that cannot be read or decrypted, and why: login required, naming the fix. It
    /// stays where it is until a new session replaces it.
    Unreadable(Error),
}

/// The session files of every instance.
pub struct Vault {
    dir: PathBuf,
    policy: KeyPolicy,
    key: OnceLock<VaultKey>,
    notice: fn(&str),
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The default for notices: a `WARN` event under [`NOTICE_TARGET`](crate::NOTICE_TARGET), which
/// the caller shows as it sees fit; the library prints nothing.
fn trace_notice(line: &str) {
    tracing::warn!(target: crate::NOTICE_TARGET, "{line}");
}

impl Vault {
    /// The vault in the user's data folder, with the default key policy.
    pub fn new(dirs: &Dirs) -> Vault {
        Vault::with_policy(dirs.sessions(), KeyPolicy::for_data_dir(&dirs.data))
    }

    /// A vault in `dir` with an explicit key policy.
    pub fn with_policy(dir: PathBuf, policy: KeyPolicy) -> Vault {
        Vault {
            dir,
            policy,
            key: OnceLock::new(),
            notice: trace_notice,
        }
    }

    /// Where the one-line notices (key kept in a file) go; by default a `WARN` event under
    /// [`NOTICE_TARGET`](crate::NOTICE_TARGET).
    pub fn on_notice(mut self, notice: fn(&str)) -> Vault {
        self.notice = notice;
        self
    }

    /// The session file of `instance`.
    pub fn path(&self, instance: &str) -> PathBuf {
        self.dir.join(format!("{instance}.vault"))
    }

    fn lock_path(&self, instance: &str) -> PathBuf {
        self.dir.join(format!("{instance}.lock"))
    }

    /// The key, found or made on first use.
    pub fn key(&self) -> Result<&VaultKey> {
        if let Some(key) = self.key.get() {
            return Ok(key);
        }
        let notice = self.notice;
        let key = key::load_or_create(&self.policy, &mut |line| notice(line))?;
        Ok(self.key.get_or_init(|| key))
    }

    /// True when a session file exists for `instance` (readable or not).
    pub fn exists(&self, instance: &str) -> bool {
        self.path(instance).exists()
    }

    /// Reads the session of `instance`; `None` when there is none. A file that cannot be read
    /// or decrypted is login required, naming the fix.
    ///
    /// No lock is needed: files are replaced by rename, so a reader sees the old file or the new.
    pub fn load(&self, instance: &str) -> Result<Option<SessionRecord>> {
        match self.inspect(instance)? {
            Stored::Nothing => Ok(None),
            Stored::Session(record) => Ok(Some(*record)),
            Stored::Unreadable(why) => Err(why),
        }
    }

    /// What is stored for `instance`, telling a file that cannot be read or decrypted apart from
    /// the errors that are not about the file (the vault's key): a caller that can obtain a new
    /// session by itself goes on without it.
    pub fn inspect(&self, instance: &str) -> Result<Stored> {
        let path = self.path(instance);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Stored::Nothing),
            Err(e) => {
                return Ok(Stored::Unreadable(self.unreadable(
                    instance,
                    &path,
                    &format!("it cannot be read ({e})"),
                )));
            }
        };
        let key = self.key()?;
        let plain = match sealed::open(&key.key, instance, &bytes) {
            Ok(plain) => Zeroizing::new(plain),
            Err(e) => {
                let why = match e {
                    sealed::OpenError::Corrupted(why) => format!("it is damaged: {why}"),
                    sealed::OpenError::NewerVersion(v) => {
                        format!("it was written by a newer snowbridge (file version {v})")
                    }
                    sealed::OpenError::WrongKey => format!(
                        "it was sealed under a different key than the one in {}",
                        describe_origin(&key.origin)
                    ),
                };
                return Ok(Stored::Unreadable(self.unreadable(instance, &path, &why)));
            }
        };
        let record = match payload::from_plaintext(&plain) {
            Ok(record) => record,
            Err(e) => {
                let why = format!("its contents do not parse ({e})");
                return Ok(Stored::Unreadable(self.unreadable(instance, &path, &why)));
            }
        };
        if record.format > FORMAT {
            let why = format!(
                "it was written by a newer snowbridge (format {})",
                record.format
            );
            return Ok(Stored::Unreadable(self.unreadable(instance, &path, &why)));
        }
        Ok(Stored::Session(Box::new(record)))
    }

    fn unreadable(&self, instance: &str, path: &Path, why: &str) -> Error {
        Error::new(
            ErrorKind::LoginRequired,
            format!(
                "the stored session for {instance} ({}) cannot be used: {why}",
                path.display()
            ),
        )
        .with_hint("the file is kept until a new login replaces it")
        .with_step(crate::error::NextStep::LogIn {
            instance: instance.to_owned(),
        })
    }

    /// Replaces the session of `record.instance` (a new login), under the lock.
    pub fn store(&self, record: &SessionRecord) -> Result<()> {
        let _lock = self.lock(&record.instance)?;
        self.write(record)
    }

    /// Reads, changes and writes back the session of `instance` under the exclusive lock.
    /// `change` sees `None` when there is no session; whatever it leaves is written (a `None`
    /// left where there was a file deletes it). An unreadable file stops here, untouched.
    pub fn update<T>(
        &self,
        instance: &str,
        change: impl FnOnce(&mut Option<SessionRecord>) -> Result<T>,
    ) -> Result<T> {
        self.change(instance, false, change)
    }

    /// As [`Vault::update`], for a new session in hand (a grant the instance accepted, a call it
    /// answered): a file that cannot be read counts as no session, so what `change` leaves
    /// replaces it. Left `None`, the unreadable file stays where it is.
    pub fn update_or_replace<T>(
        &self,
        instance: &str,
        change: impl FnOnce(&mut Option<SessionRecord>) -> Result<T>,
    ) -> Result<T> {
        self.change(instance, true, change)
    }

    fn change<T>(
        &self,
        instance: &str,
        replace_unreadable: bool,
        change: impl FnOnce(&mut Option<SessionRecord>) -> Result<T>,
    ) -> Result<T> {
        let _lock = self.lock(instance)?;
        let before = match self.inspect(instance)? {
            Stored::Nothing => None,
            Stored::Session(record) => Some(*record),
            Stored::Unreadable(why) if !replace_unreadable => return Err(why),
            Stored::Unreadable(why) => {
                tracing::info!(error = %why.message(), "replacing a session file that cannot be read");
                None
            }
        };
        let mut after = before.clone();
        let out = change(&mut after)?;
        match (&before, &after) {
            (_, Some(record)) if before.as_ref() != Some(record) => self.write(record)?,
            (Some(_), None) => {
                self.delete_file(instance)?;
            }
            _ => {}
        }
        Ok(out)
    }

    /// Deletes the session of `instance`; true when there was one.
    pub fn remove(&self, instance: &str) -> Result<bool> {
        let _lock = self.lock(instance)?;
        self.delete_file(instance)
    }

    fn delete_file(&self, instance: &str) -> Result<bool> {
        let path = self.path(instance);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("cannot delete", &path, e)),
        }
    }

    fn lock(&self, instance: &str) -> Result<sealed::Lock> {
        crate::files::create_private_dir(&self.dir, true)
            .map_err(|e| Error::io("cannot create", &self.dir, e))?;
        let path = self.lock_path(instance);
        sealed::Lock::acquire(&path, LOCK_PATIENCE).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("cannot lock {}: {e}", path.display()),
            )
            .with_hint("if no other snowbridge is running, delete the lock file")
        })
    }

    fn write(&self, record: &SessionRecord) -> Result<()> {
        let key = self.key()?;
        let plain = Zeroizing::new(
            payload::to_plaintext(record)
                .map_err(|e| Error::internal(format!("cannot serialize the session: {e}")))?,
        );
        let sealed = sealed::seal(&key.key, &record.instance, &plain);
        let path = self.path(&record.instance);
        sealed::remove_stale_temporaries(&path);
        sealed::write_atomically(&path, &sealed).map_err(|e| Error::io("cannot write", &path, e))
    }
}

fn describe_origin(origin: &KeyOrigin) -> String {
    match origin {
        KeyOrigin::Keyring => "the OS keyring".to_owned(),
        KeyOrigin::File(path) => format!("the key file {}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::Cookie;
    use crate::secret::Secret;

    fn vault(dir: &Path) -> Vault {
        Vault::with_policy(
            dir.join("sessions"),
            KeyPolicy {
                file: dir.join("vault.key"),
                use_keyring: false,
                keyring_timeout: Duration::from_secs(1),
            },
        )
        .on_notice(|_| {})
    }

    fn record() -> SessionRecord {
        let url = url::Url::parse("https://acme.service-now.com").unwrap();
        let cookie = Cookie {
            name: "JSESSIONID".into(),
            value: Secret::new("S3CR3T-SESSION-VALUE"),
            domain: "acme.service-now.com".into(),
            host_only: true,
            path: "/".into(),
            secure: true,
            http_only: true,
            same_site: Some(crate::cookie::SameSite::None),
            expires: None,
        };
        let mut r = SessionRecord::new("dev", &url, Obtained::FormLogin, vec![cookie]);
        r.user_token = Some(Secret::new("G-CK-TOKEN-VALUE"));
        r
    }

    #[test]
    fn a_stored_session_reads_back_and_holds_no_secret_in_plain_text() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path());
        let stored = record();
        v.store(&stored).unwrap();
        let bytes = std::fs::read(v.path("dev")).unwrap();
        for secret in ["S3CR3T-SESSION-VALUE", "G-CK-TOKEN-VALUE", "JSESSIONID"] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }
        // A second vault object (another process) reads it with the same key file.
        assert_eq!(vault(dir.path()).load("dev").unwrap(), Some(stored));
    }

    #[test]
    fn an_unreadable_file_is_login_required_and_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path());
        v.store(&record()).unwrap();
        let mut bytes = std::fs::read(v.path("dev")).unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 0x55;
        std::fs::write(v.path("dev"), &bytes).unwrap();
        let err = v.load("dev").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LoginRequired);
        assert!(err.to_string().contains("damaged"), "{err}");
        let err = v.update("dev", |_| Ok(())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LoginRequired);
        assert_eq!(std::fs::read(v.path("dev")).unwrap(), bytes);
        // Passed over for a new session, it stays until that session is written.
        v.update_or_replace("dev", |slot| {
            assert!(slot.is_none());
            Ok(())
        })
        .unwrap();
        assert_eq!(std::fs::read(v.path("dev")).unwrap(), bytes);
        v.update_or_replace("dev", |slot| {
            *slot = Some(record());
            Ok(())
        })
        .unwrap();
        assert!(v.load("dev").unwrap().is_some());
        std::fs::write(v.path("dev"), &bytes).unwrap();
        // A new login replaces it.
        v.store(&record()).unwrap();
        assert!(v.load("dev").unwrap().is_some());
    }

    #[test]
    fn a_file_under_another_key_says_so() {
        let dir = tempfile::tempdir().unwrap();
        vault(dir.path()).store(&record()).unwrap();
        std::fs::remove_file(dir.path().join("vault.key")).unwrap();
        let err = vault(dir.path()).load("dev").unwrap_err();
        assert!(err.to_string().contains("different key"), "{err}");
    }

    #[test]
    fn a_vault_written_by_format_1_still_opens() {
        // Sealed by snowbridge before the payload had its own serialization (`tests/fixtures`).
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vault-format-1");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sessions")).unwrap();
        for file in ["vault.key", "sessions/dev.vault"] {
            std::fs::copy(fixture.join(file), dir.path().join(file)).unwrap();
        }
        let v = vault(dir.path());
        let record = v.load("dev").unwrap().expect("the fixture's session");
        assert_eq!(record.format, 1);
        assert_eq!(record.user.as_deref(), Some("itil.user"));
        assert_eq!(
            record.obtained,
            Obtained::ChromeImport {
                browser: "chromium".into(),
                profile: "Profile 1".into()
            }
        );
        assert_eq!(
            record.user_token.as_ref().map(|t| t.expose()),
            Some("0f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4e5f60718293a4b5c6d7e8f90")
        );
        let values: Vec<(&str, &str, bool, Option<time::OffsetDateTime>)> = record
            .cookies()
            .map(|c| (c.name.as_str(), c.value.expose(), c.host_only, c.expires))
            .collect();
        assert_eq!(
            values,
            vec![
                ("JSESSIONID", "8D1F2C3A4B5E6F708192A3B4C5D6E7F8", true, None),
                (
                    "glide_user_session",
                    "\"U0N2Mzp4eXo=\"",
                    false,
                    Some(time::macros::datetime!(2026-12-05 09:30:00.123456 UTC))
                ),
            ]
        );
        // Written back by this version, it reads the same.
        v.store(&record).unwrap();
        assert_eq!(v.load("dev").unwrap(), Some(record));
    }

    #[test]
    fn update_writes_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let v = vault(dir.path());
        v.store(&record()).unwrap();
        let before = std::fs::read(v.path("dev")).unwrap();
        v.update("dev", |_| Ok(())).unwrap();
        assert_eq!(std::fs::read(v.path("dev")).unwrap(), before);
        v.update("dev", |r| {
            r.as_mut().unwrap().user = Some("itil.user".into());
            Ok(())
        })
        .unwrap();
        assert_eq!(
            v.load("dev").unwrap().unwrap().user.as_deref(),
            Some("itil.user")
        );
        v.update("dev", |r| {
            *r = None;
            Ok(())
        })
        .unwrap();
        assert!(!v.exists("dev"));
    }
}
