//! The OS glue that fetches Chrome's keys: one file per OS, each compiled only on its OS.
//!
//! [`keys`] asks the OS only for what the matching cookies need (a profile of `v10` values on
//! Linux never touches the keyring), time-boxes every call, and never waits on an unlock prompt
//! unless `interactive`. Failures become reasons in the [`Keys`] and notes in the report, never
//! errors: the cookies that need no keyring still import.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use super::{Browser, Keys};

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(windows)]
mod windows;

/// The most any keyring call may take when no person has to answer.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "macos", windows)),
    allow(dead_code)
)]
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// The most an unlock prompt may take when a person is there to answer it.
#[cfg_attr(not(any(target_os = "linux", target_os = "macos")), allow(dead_code))]
const PROMPT_TIMEOUT: Duration = Duration::from_secs(120);

/// The keys for the `schemes` (value prefixes) the cookies to import use.
#[cfg(target_os = "linux")]
pub(super) async fn keys(
    browser: Browser,
    _user_data_dir: &Path,
    schemes: &BTreeSet<[u8; 3]>,
    interactive: bool,
    notes: &mut Vec<String>,
) -> Keys {
    if !schemes.contains(b"v11") {
        return Keys::linux(Err("the keyring was not consulted".into()));
    }
    match linux::passwords(browser, interactive).await {
        Ok((passwords, from)) => {
            notes.push(format!("The v11 key came from {from}"));
            Keys::linux(Ok(passwords))
        }
        Err(why) => {
            notes.push(format!("No v11 key: {why}"));
            Keys::linux(Err(why))
        }
    }
}

/// The keys for the `schemes` (value prefixes) the cookies to import use.
#[cfg(target_os = "macos")]
pub(super) async fn keys(
    browser: Browser,
    _user_data_dir: &Path,
    schemes: &BTreeSet<[u8; 3]>,
    interactive: bool,
    notes: &mut Vec<String>,
) -> Keys {
    if !schemes.contains(b"v10") {
        return Keys::macos(Err("the keychain was not consulted".into()));
    }
    let found = macos::password(browser, interactive).await;
    match &found {
        Ok(_) => notes.push("The key came from the login keychain".into()),
        Err(why) => notes.push(format!("No keychain key: {why}")),
    }
    Keys::macos(found)
}

/// The keys for the `schemes` (value prefixes) the cookies to import use.
#[cfg(windows)]
pub(super) async fn keys(
    _browser: Browser,
    user_data_dir: &Path,
    schemes: &BTreeSet<[u8; 3]>,
    _interactive: bool,
    notes: &mut Vec<String>,
) -> Keys {
    let keys = if schemes.contains(b"v10") || schemes.contains(b"v11") {
        let found = windows::local_state_key(user_data_dir).await;
        if let Err(why) = &found {
            notes.push(format!("No AES key: {why}"));
        }
        Keys::windows(found)
    } else {
        Keys::windows(Err("Local State was not consulted".into()))
    };
    keys.with_dpapi(windows::unprotect)
}

/// The keys for the `schemes` (value prefixes) the cookies to import use.
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
pub(super) async fn keys(
    _browser: Browser,
    _user_data_dir: &Path,
    schemes: &BTreeSet<[u8; 3]>,
    _interactive: bool,
    notes: &mut Vec<String>,
) -> Keys {
    // Chrome on the BSDs keeps Linux's scheme; its keyring glue is not written.
    if schemes.contains(b"v11") {
        notes.push("No v11 key: keyrings are read on Linux, macOS and Windows only".into());
    }
    Keys::linux(Err(
        "keyrings are read on Linux, macOS and Windows only".into()
    ))
}
