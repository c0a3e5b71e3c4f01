//! Linux: the `v11` password from the Secret Service (GNOME Keyring, KeePassXC...) or KWallet.
//!
//! Secret Service items are matched on the `application` attribute, never the label: Electron
//! apps share the label "Chromium Safe Storage". Locked items are unlocked only when a person is
//! there to answer the prompt. Every call is time-boxed.

use std::collections::HashMap;
use std::time::Duration;

use secret_service::{EncryptionType, SecretService};
use tokio::time::timeout;

use super::{CALL_TIMEOUT, PROMPT_TIMEOUT};
use crate::obtain::chrome::Browser;
use crate::secret::SecretBytes;

/// The schemas Chrome has stored its password under, newest first. The legacy one (before M55)
/// carries no `application` attribute.
const SCHEMAS: [(&str, bool); 3] = [
    ("chrome_libsecret_os_crypt_password_v2", true),
    ("chrome_libsecret_os_crypt_password_v1", true),
    ("chrome_libsecret_os_crypt_password", false),
];

/// The keyring passwords for `browser` and where they came from, or why there are none.
pub(super) async fn passwords(
    browser: Browser,
    interactive: bool,
) -> Result<(Vec<SecretBytes>, String), String> {
    let service = match secret_service(browser, interactive).await {
        Ok(found) if !found.is_empty() => {
            return Ok((found, "the Secret Service".into()));
        }
        Ok(_) => format!(
            "the Secret Service holds no \"{} Safe Storage\" item for application {}",
            browser.product(),
            browser.secret_service_applications().join(" or ")
        ),
        Err(why) => why,
    };
    match kwallet(browser, interactive).await {
        Ok(password) => Ok((vec![password], "KWallet".into())),
        Err(kwallet) => Err(format!("{service}; {kwallet}")),
    }
}

async fn secret_service(browser: Browser, interactive: bool) -> Result<Vec<SecretBytes>, String> {
    let service = timed(CALL_TIMEOUT, SecretService::connect(EncryptionType::Dh))
        .await
        .map_err(|e| format!("the Secret Service is not reachable ({e})"))?;
    let mut found = Vec::new();
    let mut locked = false;
    for (schema, by_application) in SCHEMAS {
        let applications: &[&str] = if by_application {
            browser.secret_service_applications()
        } else {
            &[""]
        };
        for application in applications {
            let mut attributes = HashMap::from([("xdg:schema", schema)]);
            if by_application {
                attributes.insert("application", application);
            }
            let items = timed(CALL_TIMEOUT, service.search_items(attributes))
                .await
                .map_err(|e| format!("searching the Secret Service failed ({e})"))?;
            for item in &items.unlocked {
                if let Ok(secret) = timed(CALL_TIMEOUT, item.get_secret()).await {
                    found.push(SecretBytes::new(secret));
                }
            }
            for item in &items.locked {
                if !interactive {
                    locked = true;
                    continue;
                }
                // The unlock prompt waits for a person, so it gets a person's time.
                if timed(PROMPT_TIMEOUT, item.unlock()).await.is_ok()
                    && let Ok(secret) = timed(CALL_TIMEOUT, item.get_secret()).await
                {
                    found.push(SecretBytes::new(secret));
                }
            }
        }
    }
    if found.is_empty() && locked {
        return Err(format!(
            "the keyring holding \"{} Safe Storage\" is locked (unlock it, e.g. by logging in to \
             the desktop, or run interactively to be asked)",
            browser.product()
        ));
    }
    Ok(found)
}

/// KWallet through `kwallet-query`, best effort: absent tools and closed wallets say so.
async fn kwallet(browser: Browser, interactive: bool) -> Result<SecretBytes, String> {
    let folder = format!("{} Keys", browser.product());
    let entry = format!("{} Safe Storage", browser.product());
    let mut command = tokio::process::Command::new("kwallet-query");
    command
        .args(["--folder", &folder, "--read-password", &entry, "kdewallet"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let child = command
        .spawn()
        .map_err(|_| "KWallet is not available (no kwallet-query)".to_string())?;
    let limit = if interactive {
        PROMPT_TIMEOUT
    } else {
        CALL_TIMEOUT
    };
    let output = timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| "KWallet did not answer in time (wallet closed?)".to_string())?
        .map_err(|e| format!("kwallet-query failed: {e}"))?;
    let mut password = output.stdout;
    while password.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        password.pop();
    }
    // kwallet-query prints "Failed to read..." and exits 0 on some versions.
    if !output.status.success() || password.is_empty() || password.starts_with(b"Failed to") {
        return Err(format!("KWallet holds no {entry:?} in folder {folder:?}"));
    }
    Ok(SecretBytes::new(password))
}

/// Runs a Secret Service call with a deadline.
async fn timed<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, secret_service::Error>>,
) -> Result<T, String> {
    match timeout(limit, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", limit.as_secs())),
    }
}
