//! Windows: the AES-256-GCM key from `Local State`, unwrapped with DPAPI
//! (`CryptUnprotectData`), and DPAPI for the oldest, unprefixed values.
//!
//! DPAPI is called with `CRYPTPROTECT_UI_FORBIDDEN`, so it never shows a prompt, and off the
//! async runtime with a deadline. App-bound (`v20`) values are not attempted: see `decrypt`.

use std::path::Path;

use windows_sys::Win32::Foundation::LocalFree;
use windows_sys::Win32::Security::Cryptography::{
    CRYPT_INTEGER_BLOB, CRYPTPROTECT_UI_FORBIDDEN, CryptUnprotectData,
};
use zeroize::Zeroizing;

use super::CALL_TIMEOUT;
use crate::obtain::chrome::locate::LocalState;
use crate::secret::SecretBytes;

/// The AES key wrapped in `<user_data_dir>/Local State`.
pub(super) async fn local_state_key(user_data_dir: &Path) -> Result<SecretBytes, String> {
    let dir = user_data_dir.to_path_buf();
    let unwrap = tokio::task::spawn_blocking(move || {
        let wrapped = LocalState::read(&dir).dpapi_wrapped_key()?;
        unprotect(&wrapped).map(|key| SecretBytes::new(key.to_vec()))
    });
    match tokio::time::timeout(CALL_TIMEOUT, unwrap).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => Err(format!("unwrapping the key failed: {e}")),
        Err(_) => Err(format!(
            "DPAPI did not answer within {} s",
            CALL_TIMEOUT.as_secs()
        )),
    }
}

/// `CryptUnprotectData` on `blob`, for the current user, never prompting.
pub(super) fn unprotect(blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let len = u32::try_from(blob.len()).map_err(|_| "the DPAPI blob is too large".to_string())?;
    let input = CRYPT_INTEGER_BLOB {
        cbData: len,
        pbData: blob.as_ptr().cast_mut(),
    };
    let mut output = CRYPT_INTEGER_BLOB {
        cbData: 0,
        pbData: std::ptr::null_mut(),
    };
    // SAFETY: `input` points at `blob`, alive for the call; DPAPI only reads it. On success
    // `output` is a LocalAlloc'd buffer of `cbData` bytes that is copied and then freed once.
    let ok = unsafe {
        CryptUnprotectData(
            &input,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null(),
            CRYPTPROTECT_UI_FORBIDDEN,
            &mut output,
        )
    };
    if ok == 0 || output.pbData.is_null() {
        return Err(format!(
            "DPAPI refused it ({}); was the profile made by another Windows user?",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: see above; the slice is read before the buffer is zeroed and freed.
    let plain = unsafe {
        let bytes = std::slice::from_raw_parts(output.pbData, output.cbData as usize);
        let copy = Zeroizing::new(bytes.to_vec());
        std::ptr::write_bytes(output.pbData, 0, output.cbData as usize);
        LocalFree(output.pbData.cast());
        copy
    };
    Ok(plain)
}

/// Run where Windows runs them: on Windows, and under wine (scripts/windows.sh).
#[cfg(test)]
mod tests {
    use aes_gcm::aead::{Aead, KeyInit};
    use base64::Engine as _;
    use sha2::Digest as _;
    use windows_sys::Win32::Security::Cryptography::CryptProtectData;

    use super::*;
    use crate::obtain::chrome::{Browser, Source, import};

    /// What Chrome does with its AES key (and did with the oldest values): DPAPI, for this user.
    fn protect(plain: &[u8]) -> Vec<u8> {
        let input = CRYPT_INTEGER_BLOB {
            cbData: u32::try_from(plain.len()).unwrap(),
            pbData: plain.as_ptr().cast_mut(),
        };
        let mut output = CRYPT_INTEGER_BLOB {
            cbData: 0,
            pbData: std::ptr::null_mut(),
        };
        // SAFETY: as in `unprotect`: `input` outlives the call, `output` is freed once.
        unsafe {
            let ok = CryptProtectData(
                &input,
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
                CRYPTPROTECT_UI_FORBIDDEN,
                &mut output,
            );
            assert_ne!(ok, 0, "{}", std::io::Error::last_os_error());
            let blob = std::slice::from_raw_parts(output.pbData, output.cbData as usize).to_vec();
            LocalFree(output.pbData.cast());
            blob
        }
    }

    #[test]
    fn dpapi_opens_what_this_user_sealed_and_refuses_the_rest() {
        let blob = protect(b"the key");
        assert_ne!(blob, b"the key");
        assert_eq!(&unprotect(&blob).unwrap()[..], b"the key");
        let err = unprotect(b"not a DPAPI blob").unwrap_err();
        assert!(err.contains("DPAPI refused it"), "{err}");
    }

    const HOST: &str = "acme.service-now.com";

    /// A Chrome user-data folder as Chrome on Windows writes it: the AES-256-GCM key wrapped with
    /// DPAPI in `Local State`; `Default/Network/Cookies` at database `version` with `rows`.
    fn profile(key: &[u8; 32], version: u32, rows: &[(&str, Vec<u8>)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let wrapped = [b"DPAPI".as_slice(), &protect(key)].concat();
        let local_state = serde_json::json!({
            "os_crypt": {
                "encrypted_key": base64::engine::general_purpose::STANDARD.encode(wrapped)
            }
        });
        std::fs::write(dir.path().join("Local State"), local_state.to_string()).unwrap();
        let network = dir.path().join("Default").join("Network");
        std::fs::create_dir_all(&network).unwrap();
        let db = rusqlite::Connection::open(network.join("Cookies")).unwrap();
        db.execute_batch(&format!(
            "CREATE TABLE meta(key TEXT, value TEXT); INSERT INTO meta VALUES('version', '{version}');
             CREATE TABLE cookies(host_key TEXT, name TEXT, value TEXT, encrypted_value BLOB,
               path TEXT, expires_utc INTEGER, is_secure INTEGER, is_httponly INTEGER,
               has_expires INTEGER, is_persistent INTEGER, samesite INTEGER);"
        ))
        .unwrap();
        for (name, sealed) in rows {
            db.execute(
                "INSERT INTO cookies VALUES(?1, ?2, '', ?3, '/', 0, 1, 1, 0, 0, -1)",
                rusqlite::params![HOST, name, sealed],
            )
            .unwrap();
        }
        dir
    }

    /// The cookies imported from `dir`, by name, with their values; the report when one is missing.
    async fn imported(dir: &Path, names: &[&str]) -> Vec<String> {
        let source = Source {
            browser: Browser::Chrome,
            profile: Some("Default".into()),
            user_data_dir: Some(dir.to_path_buf()),
        };
        let url = url::Url::parse(&format!("https://{HOST}/")).unwrap();
        let import = import(&source, &url, false).await.unwrap();
        names
            .iter()
            .map(|name| {
                let found = import.cookies.iter().find(|c| c.name == *name);
                let found = found.unwrap_or_else(|| panic!("no {name}: {}", import.report));
                found.value.expose().to_string()
            })
            .collect()
    }

    /// Chrome 80 and later: `v10` values under the key from `Local State`, each plaintext
    /// opening with SHA-256 of the host since database version 24.
    #[tokio::test]
    async fn a_windows_profile_imports_through_dpapi_and_aes_gcm() {
        let key = [0x5au8; 32];
        let nonce = [3u8; 12];
        let plain = [sha2::Sha256::digest(HOST).as_slice(), b"gcm-session"].concat();
        let sealed = aes_gcm::Aes256Gcm::new_from_slice(&key)
            .unwrap()
            .encrypt(&aes_gcm::Nonce::try_from(&nonce[..]).unwrap(), &plain[..])
            .unwrap();
        let v10 = [b"v10".as_slice(), &nonce, &sealed].concat();
        let dir = profile(&key, 24, &[("JSESSIONID", v10)]);
        assert_eq!(imported(dir.path(), &["JSESSIONID"]).await, ["gcm-session"]);
    }

    /// Before Chrome 80 each value was DPAPI alone, unprefixed; such databases predate the
    /// host hash.
    #[tokio::test]
    async fn a_value_from_before_chrome_80_opens_with_dpapi_alone() {
        let dir = profile(
            &[0x5au8; 32],
            12,
            &[("glide_user_route", protect(b"dpapi-token"))],
        );
        assert_eq!(
            imported(dir.path(), &["glide_user_route"]).await,
            ["dpapi-token"]
        );
    }
}
