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
