//! The sealed file: AES-256-GCM over the record, written atomically, read back with errors that
//! tell a corrupted file from one sealed under another key.
//!
//! Layout: `SNOWBRIDGE-VAULT` (16 bytes) | version (1) | key id (8) | nonce (12) | ciphertext+tag.
//! The key id is the first 8 bytes of SHA-256("snowbridge vault key id" | key): enough to say
//! "wrong key" without revealing anything about the key. The header and the instance name are
//! bound as associated data, so a file cannot be swapped for another instance's.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};

use crate::secret::SecretBytes;

const MAGIC: &[u8; 16] = b"SNOWBRIDGE-VAULT";
const VERSION: u8 = 1;
const HEADER: usize = 16 + 1 + 8 + 12;

/// Why a sealed file could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Not a vault file, or cut short.
    Corrupted(&'static str),
    /// A vault from a newer snowbridge.
    NewerVersion(u8),
    /// Sealed under a different key.
    WrongKey,
}

/// The 8-byte fingerprint of a key.
pub fn key_id(key: &SecretBytes) -> [u8; 8] {
    let mut hasher = Sha256::new();
    hasher.update(b"snowbridge vault key id");
    hasher.update(key.expose());
    let digest = hasher.finalize();
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    id
}

fn cipher(key: &SecretBytes) -> Aes256Gcm {
    // The key is always 32 bytes: the key module makes and checks it.
    Aes256Gcm::new_from_slice(key.expose())
        .unwrap_or_else(|_| unreachable!("vault keys are 32 bytes, checked when loaded"))
}

fn aad(header: &[u8], instance: &str) -> Vec<u8> {
    let mut aad = header.to_vec();
    aad.extend_from_slice(instance.as_bytes());
    aad
}

/// Seals `plaintext` for `instance` under `key`.
pub fn seal(key: &SecretBytes, instance: &str, plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    rand::fill(&mut nonce);
    let mut out = Vec::with_capacity(HEADER + plaintext.len() + 16);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&key_id(key));
    out.extend_from_slice(&nonce);
    let aad = aad(&out, instance);
    let nonce = Nonce::try_from(&nonce[..]).unwrap_or_else(|_| unreachable!("12-byte nonce"));
    let sealed = cipher(key)
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .unwrap_or_else(|_| unreachable!("AES-GCM encryption cannot fail for in-memory data"));
    out.extend_from_slice(&sealed);
    out
}

/// Opens a sealed file's bytes.
pub fn open(key: &SecretBytes, instance: &str, bytes: &[u8]) -> Result<Vec<u8>, OpenError> {
    if bytes.len() < 16 || &bytes[..16] != MAGIC {
        return Err(OpenError::Corrupted(
            "it does not start like a snowbridge session file",
        ));
    }
    if bytes.len() < HEADER + 16 {
        return Err(OpenError::Corrupted("it is cut short"));
    }
    if bytes[16] > VERSION {
        return Err(OpenError::NewerVersion(bytes[16]));
    }
    if bytes[17..25] != key_id(key) {
        return Err(OpenError::WrongKey);
    }
    let header = &bytes[..HEADER];
    let nonce = Nonce::try_from(&bytes[25..HEADER])
        .map_err(|_| OpenError::Corrupted("its nonce is damaged"))?;
    let aad = aad(header, instance);
    cipher(key)
        .decrypt(
            &nonce,
            Payload {
                msg: &bytes[HEADER..],
                aad: &aad,
            },
        )
        .map_err(|_| OpenError::Corrupted("its contents fail the integrity check"))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder (owner-only, named
/// `.NAME.tmp.PID.RANDOM` so [`remove_stale_temporaries`] knows a dead writer's), synced, then
/// renamed over the old file (tempfile's `persist`), then the folder synced. A crash at any
/// point leaves either the old file or the new one, never a mix.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // tempfile makes it 0600 on Unix; dropped on an error, it is removed.
    let mut file = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp.{}.", std::process::id()))
        .tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(())
}

/// Removes temporary files that a writer killed mid-save left behind for `path`.
pub fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.tmp.", name.to_string_lossy());
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in listing.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Some(rest) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let pid = rest.split('.').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !process_alive(pid)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        Path::new("/proc").join(pid.to_string()).exists()
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        // Signal 0 checks existence without sending anything.
        unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
    }
    #[cfg(not(unix))]
    {
        // Without a cheap check, keep the file: it is small and harmless.
        true
    }
}

/// Options for a file only its owner can read and write.
pub fn private_options() -> OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut options = OpenOptions::new();
        options.mode(0o600);
        options
    }
    // Elsewhere the file inherits the folder's access list: the user's own data folder.
    #[cfg(not(unix))]
    OpenOptions::new()
}

fn sync_dir(dir: &Path) {
    // Durability of the rename; not possible (nor needed) on every platform.
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// An exclusive lock on a side file, held until dropped.
pub struct Lock {
    file: File,
    path: PathBuf,
}

impl Lock {
    /// Waits up to `patience` for the exclusive lock on `path`.
    pub fn acquire(path: &Path, patience: std::time::Duration) -> std::io::Result<Lock> {
        crate::blocking::wait(|| Lock::wait_for(path, patience))
    }

    fn wait_for(path: &Path, patience: std::time::Duration) -> std::io::Result<Lock> {
        let file = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let deadline = std::time::Instant::now() + patience;
        let mut pause = std::time::Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => {
                    return Ok(Lock {
                        file,
                        path: path.to_path_buf(),
                    });
                }
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    // Another process is saving; saves take milliseconds.
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::WouldBlock,
                        format!(
                            "another snowbridge process has held {} for over {}s",
                            path.display(),
                            patience.as_secs()
                        ),
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
        tracing::trace!(lock = %self.path.display(), "released");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretBytes {
        SecretBytes::new(vec![byte; 32])
    }

    #[test]
    fn sealed_data_opens_with_the_same_key_and_instance_only() {
        let sealed = seal(&key(1), "dev", b"cookies");
        assert_eq!(open(&key(1), "dev", &sealed).unwrap(), b"cookies");
        assert_eq!(open(&key(2), "dev", &sealed), Err(OpenError::WrongKey));
        assert!(matches!(
            open(&key(1), "prod", &sealed),
            Err(OpenError::Corrupted(_))
        ));
        assert!(!sealed.windows(7).any(|w| w == b"cookies"));
    }

    #[test]
    fn damage_is_reported_as_corruption() {
        let mut sealed = seal(&key(1), "dev", b"cookies");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(matches!(
            open(&key(1), "dev", &sealed),
            Err(OpenError::Corrupted(_))
        ));
        assert!(matches!(
            open(&key(1), "dev", &sealed[..20]),
            Err(OpenError::Corrupted(_))
        ));
        assert!(matches!(
            open(&key(1), "dev", b"{\"json\":1}"),
            Err(OpenError::Corrupted(_))
        ));
    }

    #[test]
    fn atomic_writes_replace_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.vault");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_second_lock_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.lock");
        let first = Lock::acquire(&path, std::time::Duration::from_secs(1)).unwrap();
        let err = Lock::acquire(&path, std::time::Duration::from_millis(30))
            .err()
            .unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        drop(first);
        Lock::acquire(&path, std::time::Duration::from_millis(30)).unwrap();
    }
}
