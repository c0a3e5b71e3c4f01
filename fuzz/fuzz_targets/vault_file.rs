//! Vault files and the key file, read through the public `Vault` with a fixed key in a key file.
//!
//! Mode by the first byte: the rest is (0) a session file's raw bytes, which a fixed key must
//! refuse as damaged or foreign; (1) a plaintext record, sealed here by an independent
//! implementation of the documented layout (src/vault/sealed.rs), which must read back as a
//! record the vault can write again unchanged, or be refused as unreadable; (2) a key file's
//! text, which is used or refused, and never overwritten.
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use snowbridge::ErrorKind;
use snowbridge::vault::{KeyPolicy, Vault};

const KEY: [u8; 32] = [7; 32];
const INSTANCE: &str = "dev";

struct Place {
    _dir: tempfile::TempDir,
    root: PathBuf,
    vault: Vault,
}

fn vault_in(root: &std::path::Path, key_file: &str) -> Vault {
    Vault::with_policy(
        root.join("sessions"),
        KeyPolicy {
            file: root.join(key_file),
            use_keyring: false,
            keyring_timeout: Duration::from_secs(1),
        },
    )
    .on_notice(|_| {})
}

static PLACE: LazyLock<Place> = LazyLock::new(|| {
    // Memory-backed where there is one: the vault fsyncs every write.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("a temporary folder");
    let root = dir.path().to_path_buf();
    let encoded = base64::engine::general_purpose::STANDARD.encode(KEY);
    std::fs::write(root.join("vault.key"), encoded).expect("the key file");
    std::fs::create_dir_all(root.join("sessions")).expect("the sessions folder");
    let vault = vault_in(&root, "vault.key");
    Place {
        _dir: dir,
        root,
        vault,
    }
});

/// The sealed layout: magic | version | key id | nonce | AES-256-GCM(record) with the header
/// and the instance name as associated data.
fn seal(plaintext: &[u8], nonce: [u8; 12]) -> Vec<u8> {
    let mut out = b"SNOWBRIDGE-VAULT".to_vec();
    out.push(1);
    let id = Sha256::new()
        .chain_update(b"snowbridge vault key id")
        .chain_update(KEY)
        .finalize();
    out.extend_from_slice(&id[..8]);
    out.extend_from_slice(&nonce);
    let mut aad = out.clone();
    aad.extend_from_slice(INSTANCE.as_bytes());
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(&KEY).expect("a 32-byte key");
    let sealed = cipher
        .encrypt(
            &aes_gcm::Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .expect("in-memory encryption");
    out.extend_from_slice(&sealed);
    out
}

fuzz_target!(|data: &[u8]| {
    let place = &*PLACE;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = place.vault.path(INSTANCE);
    match mode % 3 {
        0 => {
            std::fs::write(&file, rest).expect("write the session file");
            let err = place
                .vault
                .load(INSTANCE)
                .expect_err("no file can be forged without the key");
            assert_eq!(err.kind(), ErrorKind::LoginRequired, "{err}");
            assert_eq!(
                std::fs::read(&file).expect("still there"),
                rest,
                "kept as it was"
            );
        }
        1 => {
            std::fs::write(&file, seal(rest, [3; 12])).expect("write the session file");
            match place.vault.load(INSTANCE) {
                Ok(Some(mut record)) => {
                    // The vault writes a record to the file its `instance` names: keep the
                    // writes in this folder.
                    record.instance = INSTANCE.to_owned();
                    place
                        .vault
                        .store(&record)
                        .expect("a record the vault read, it can write");
                    let again = place.vault.load(INSTANCE).expect("read back");
                    assert_eq!(again.as_ref(), Some(&record));
                }
                Ok(None) => panic!("the file is there"),
                Err(err) => assert_eq!(err.kind(), ErrorKind::LoginRequired, "{err}"),
            }
        }
        _ => {
            let dir = place.root.join("keyfile");
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("sessions")).expect("a folder");
            std::fs::write(dir.join("other.key"), rest).expect("write the key file");
            std::fs::write(
                dir.join("sessions").join(format!("{INSTANCE}.vault")),
                seal(b"{}", [5; 12]),
            )
            .expect("write the session file");
            let vault = vault_in(&dir, "other.key");
            if let Err(err) = vault.load(INSTANCE) {
                let _ = err.to_string();
            }
            assert_eq!(
                std::fs::read(dir.join("other.key")).expect("the key file stays"),
                rest
            );
        }
    }
});
