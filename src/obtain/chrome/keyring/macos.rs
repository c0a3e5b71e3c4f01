//! macOS: the "Safe Storage" password from the login keychain, kept thin (it cannot be built
//! or run on the Linux machines that test the rest).
//!
//! Without `interactive`, keychain user interaction is switched off for the call so a missing
//! "Always Allow" answers an error instead of a dialog; either way the call is time-boxed.

use security_framework::os::macos::keychain::SecKeychain;
use security_framework::passwords::get_generic_password;

use super::{CALL_TIMEOUT, PROMPT_TIMEOUT};
use crate::obtain::chrome::Browser;
use crate::secret::SecretBytes;

/// The keychain password for `browser`: service "<Product> Safe Storage", account "<Product>".
pub(super) async fn password(browser: Browser, interactive: bool) -> Result<SecretBytes, String> {
    let service = format!("{} Safe Storage", browser.product());
    let account = browser.product().to_string();
    let limit = if interactive {
        PROMPT_TIMEOUT
    } else {
        CALL_TIMEOUT
    };
    let lookup = tokio::task::spawn_blocking(move || {
        let _quiet = if interactive {
            None
        } else {
            SecKeychain::disable_user_interaction().ok()
        };
        get_generic_password(&service, &account)
            .map(SecretBytes::new)
            .map_err(|e| format!("the keychain has no readable {service:?} ({e})"))
    });
    match tokio::time::timeout(limit, lookup).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => Err(format!("the keychain lookup failed: {e}")),
        Err(_) => Err(format!(
            "the keychain did not answer within {} s",
            limit.as_secs()
        )),
    }
}
