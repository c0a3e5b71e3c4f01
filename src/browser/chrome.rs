//! What we ask of Chrome, and what its refusals mean.
//!
//! Owns the command-line arguments and `goog:chromeOptions` capabilities a session starts with,
//! the headed-or-headless decision, whether Chrome must run without its sandbox and where it
//! keeps its own cookie key (the [`Host`] facts), and turning a refused session (driver and
//! browser versions that do not match, a profile in use, a Chrome that would not start) into an
//! error that says what to do. It starts nothing but two short probes of the host.

use std::fmt;
use std::path::Path;

use fantoccini::error::NewSessionError;
use serde_json::json;

use crate::error::{Error, ErrorKind};

/// Arguments every Chrome we start gets, headed or not.
const REQUIRED_ARGS: &[&str] = &[
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Overrides the sandbox decision: `off` where Chrome says "No usable sandbox" on a host the
/// probe misjudged, `on` to insist on it.
pub const SANDBOX_ENV: &str = "SNOWBRIDGE_CHROME_SANDBOX";

/// How long the OS keyring may take to say whether Chrome can keep its key there.
#[cfg(target_os = "linux")]
const KEYRING_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Where Chrome on Linux keeps the key it encrypts its cookies with (`--password-store`).
// Elsewhere the OS decides and nothing makes one.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordStore {
    /// A fixed key built into Chromium (`v10` values): anyone who can read the profile can read
    /// its cookies. Only where no keyring answers.
    Basic,
    /// A random key in the Secret Service (`v11` values), unlocked with the person's login.
    Libsecret,
}

/// Facts about this machine that shape Chrome's command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Host {
    /// Chrome's sandbox cannot work here (`--no-sandbox`): see [`sandbox_impossible`].
    pub(crate) no_sandbox: bool,
    /// Linux only: where Chrome keeps its cookie key; `None` elsewhere (the OS decides).
    pub(crate) password_store: Option<PasswordStore>,
}

impl Host {
    /// Looks at this machine: who we run as, whether we are in a container that forbids user
    /// namespaces (unless [`SANDBOX_ENV`] decides), whether an unlocked Secret Service answers
    /// (within 2 s; never with `SNOWBRIDGE_KEYRING=off`).
    pub(crate) async fn probe() -> Host {
        #[cfg(target_os = "linux")]
        {
            let no_sandbox = match std::env::var(SANDBOX_ENV).as_deref() {
                Ok("off") => true,
                Ok("on") => false,
                _ => sandbox_impossible(
                    is_root(),
                    in_container(&|path| Path::new(path).exists(), &|name| {
                        std::env::var_os(name)
                    }),
                    user_namespaces_work,
                ),
            };
            let keyring = crate::keyring::enabled() && secret_service_unlocked().await;
            Host {
                no_sandbox,
                password_store: Some(password_store(keyring)),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            Host {
                no_sandbox: false,
                password_store: None,
            }
        }
    }
}

/// Chrome's Linux sandbox needs user namespaces (or a setuid helper distributions no longer
/// ship) and refuses to start as root. So it goes only as root, or in a container where user
/// namespaces cannot be made (Docker's default seccomp profile); a person's desktop keeps it.
/// `user_namespaces_work` is asked only in a container.
#[cfg(any(target_os = "linux", test))]
pub(crate) fn sandbox_impossible(
    is_root: bool,
    in_container: bool,
    user_namespaces_work: impl FnOnce() -> bool,
) -> bool {
    is_root || (in_container && !user_namespaces_work())
}

/// Chrome keeps its cookie key in the keyring where an unlocked one answers (nobody is ever
/// asked to unlock it for an automated login), else under the built-in key.
#[cfg(any(target_os = "linux", test))]
pub(crate) fn password_store(keyring_unlocked: bool) -> PasswordStore {
    if keyring_unlocked {
        PasswordStore::Libsecret
    } else {
        PasswordStore::Basic
    }
}

/// The markers container runtimes leave (as systemd-detect-virt reads them): Docker's
/// `/.dockerenv`, Podman's `/run/.containerenv`, systemd-nspawn's `/run/systemd/container`, the
/// `container` variable, Kubernetes' service variables.
#[cfg(any(target_os = "linux", test))]
pub(crate) fn in_container(
    exists: &dyn Fn(&str) -> bool,
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> bool {
    [
        "/.dockerenv",
        "/run/.containerenv",
        "/run/systemd/container",
    ]
    .iter()
    .any(|marker| exists(marker))
        || ["container", "KUBERNETES_SERVICE_HOST"]
            .iter()
            .any(|name| env(name).is_some_and(|v| !v.is_empty()))
}

#[cfg(target_os = "linux")]
fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// Can this process make a user namespace? Asked of a forked child, which is single-threaded
/// as `unshare(CLONE_NEWUSER)` requires.
#[cfg(target_os = "linux")]
fn user_namespaces_work() -> bool {
    // SAFETY: the child calls only async-signal-safe functions (unshare, _exit) before exiting;
    // the parent reaps it.
    unsafe {
        match libc::fork() {
            -1 => false,
            0 => libc::_exit(if libc::unshare(libc::CLONE_NEWUSER) == 0 {
                0
            } else {
                1
            }),
            child => {
                let mut status = 0;
                libc::waitpid(child, &mut status, 0) == child
                    && libc::WIFEXITED(status)
                    && libc::WEXITSTATUS(status) == 0
            }
        }
    }
}

/// Does a Secret Service answer, with its default collection unlocked? Never prompts.
#[cfg(target_os = "linux")]
async fn secret_service_unlocked() -> bool {
    use secret_service::{EncryptionType, SecretService};
    let probe = async {
        let service = SecretService::connect(EncryptionType::Plain).await.ok()?;
        let collection = service.get_default_collection().await.ok()?;
        collection.is_locked().await.ok().map(|locked| !locked)
    };
    matches!(
        tokio::time::timeout(KEYRING_PROBE_TIMEOUT, probe).await,
        Ok(Some(true))
    )
}

/// Everything that shapes Chrome's command line.
pub(crate) struct Launch<'a> {
    pub(crate) headless: bool,
    pub(crate) host: Host,
    pub(crate) profile_dir: &'a Path,
    pub(crate) window_size: Option<(u32, u32)>,
    pub(crate) trusted_spki: &'a [String],
    pub(crate) extra_args: &'a [String],
}

impl Launch<'_> {
    /// Chrome's command-line arguments.
    pub(crate) fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.headless {
            args.push("--headless=new".to_string());
        }
        args.extend(REQUIRED_ARGS.iter().map(|a| a.to_string()));
        if self.host.no_sandbox {
            args.push("--no-sandbox".to_string());
        }
        match self.host.password_store {
            Some(PasswordStore::Basic) => args.push("--password-store=basic".to_string()),
            Some(PasswordStore::Libsecret) => {
                args.push("--password-store=gnome-libsecret".to_string());
            }
            None => {}
        }
        args.push(format!("--user-data-dir={}", self.profile_dir.display()));
        // Headless windows are 800x600 otherwise: too small for many login pages' layouts.
        let size = self.window_size.or(self.headless.then_some((1280, 1024)));
        if let Some((width, height)) = size {
            args.push(format!("--window-size={width},{height}"));
        }
        if !self.trusted_spki.is_empty() {
            args.push(format!(
                "--ignore-certificate-errors-spki-list={}",
                self.trusted_spki.join(",")
            ));
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// The session's capabilities: `binary` (when we chose it) and the arguments.
    pub(crate) fn capabilities(&self, binary: Option<&Path>) -> fantoccini::wd::Capabilities {
        let mut options = json!({
            "args": self.args(),
            // Start on a blank page: with a profile folder Chrome opens its new-tab page, which
            // chromedriver waits for (0.5 to 1 s here) before the first command. chromedriver
            // drops a URL given among the arguments; the startup preference it keeps.
            "prefs": {
                "session.restore_on_startup": 4,
                "session.startup_urls": ["about:blank"],
            },
        });
        if let Some(binary) = binary {
            options["binary"] = json!(binary.display().to_string());
        }
        let mut caps = fantoccini::wd::Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        caps
    }
}

/// Headless unless asked otherwise: a display is needed for a window a person can use.
pub(crate) fn decide_headless(
    asked: Option<bool>,
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> bool {
    if let Some(headless) = asked {
        return headless;
    }
    if cfg!(any(target_os = "macos", windows)) {
        return false;
    }
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    !(set("DISPLAY") || set("WAYLAND_DISPLAY"))
}

/// chromedriver and Chrome are of different major versions: chromedriver refuses the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMismatch {
    /// The Chrome major version this chromedriver drives.
    pub driver_supports: u32,
    /// The version of the Chrome it found, as Chrome reports it ("156.0.8078.79").
    pub browser: String,
}

impl VersionMismatch {
    /// Reads chromedriver's refusal: "This version of ChromeDriver only supports Chrome version
    /// N / Current browser version is M with binary path ...".
    pub fn parse(message: &str) -> Option<VersionMismatch> {
        let supports = after(message, "only supports Chrome version ")?;
        let driver_supports = supports
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()?;
        let current = after(message, "Current browser version is ")?;
        let browser: String = current
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let browser = browser.trim_end_matches('.').to_string();
        if browser.is_empty() {
            return None;
        }
        Some(VersionMismatch {
            driver_supports,
            browser,
        })
    }

    /// The browser's major version.
    pub fn browser_major(&self) -> Option<u32> {
        self.browser.split('.').next()?.parse().ok()
    }
}

impl fmt::Display for VersionMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "chromedriver is for Chrome {} but the Chrome found is version {}",
            self.driver_supports, self.browser
        )
    }
}

impl std::error::Error for VersionMismatch {}

/// The [`VersionMismatch`] behind `err`, when that is why the browser did not start.
pub fn version_mismatch(err: &Error) -> Option<&VersionMismatch> {
    std::error::Error::source(err)?.downcast_ref::<VersionMismatch>()
}

fn after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    text.find(marker).map(|at| &text[at + marker.len()..])
}

/// What a refused session means, with the fix. `driver_output` is chromedriver's own output
/// (empty when we did not start it).
pub(crate) fn session_error(err: NewSessionError, driver_output: &str) -> Error {
    let message = match &err {
        NewSessionError::SessionNotCreated(wd) => wd.message.to_string(),
        other => other.to_string(),
    };
    let first_line = message.lines().next().unwrap_or_default().to_string();
    if let Some(mismatch) = VersionMismatch::parse(&message) {
        let major = mismatch.browser_major().unwrap_or_default();
        return Error::new(ErrorKind::Browser, mismatch.to_string())
            .with_hint(format!(
                "install the chromedriver for Chrome {major} (with Chrome from the same \
                 packages, e.g. `apt-get install chromium chromium-driver`, or from \
                 https://googlechromelabs.github.io/chrome-for-testing/), or point \
                 SNOWBRIDGE_CHROME at a Chrome {}",
                mismatch.driver_supports
            ))
            .with_source(mismatch);
    }
    let lower = message.to_ascii_lowercase();
    let hint = if lower.contains("user data directory is already in use") {
        "another Chrome is using this profile folder: close it and try again"
    } else if lower.contains("no usable sandbox") || lower.contains("without --no-sandbox") {
        "Chrome's sandbox cannot start on this host (no user namespaces): set \
         SNOWBRIDGE_CHROME_SANDBOX=off to run it without one"
    } else if lower.contains("chrome failed to start")
        || lower.contains("chrome instance exited")
        || lower.contains("devtoolsactiveport")
    {
        "Chrome exited as it started: if no display is available run it headless; check that \
         the profile folder is not in use by another Chrome and that Chrome runs on its own \
         (`chromium --headless=new --dump-dom about:blank`)"
    } else if lower.contains("cannot find chrome binary") || lower.contains("no chrome binary") {
        "install Chrome or Chromium, or set SNOWBRIDGE_CHROME to its path"
    } else {
        "chromedriver's details are logged at the debug level"
    };
    let driver_output = driver_output.trim();
    let message = if driver_output.is_empty() || driver_output == "(it printed nothing)" {
        format!("Chrome did not start: {first_line}")
    } else {
        format!("Chrome did not start: {first_line}\nchromedriver said: {driver_output}")
    };
    Error::new(ErrorKind::Browser, message).with_hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fantoccini::error::{ErrorStatus, WebDriver};
    use std::ffi::OsString;

    const MISMATCH: &str = "session not created: This version of ChromeDriver only supports \
        Chrome version 114\nCurrent browser version is 156.0.8078.79 with binary path \
        /usr/bin/chromium";

    #[test]
    fn a_version_mismatch_is_read_from_chromedrivers_message() {
        let mismatch = VersionMismatch::parse(MISMATCH).unwrap();
        assert_eq!(mismatch.driver_supports, 114);
        assert_eq!(mismatch.browser, "156.0.8078.79");
        assert_eq!(mismatch.browser_major(), Some(156));
        assert_eq!(
            VersionMismatch::parse("session not created: Chrome failed to start"),
            None
        );
    }

    #[test]
    fn a_version_mismatch_becomes_a_typed_error_naming_both_versions() {
        let refused = NewSessionError::SessionNotCreated(WebDriver::new(
            ErrorStatus::SessionNotCreated,
            MISMATCH.to_string(),
        ));
        let err = session_error(refused, "");
        assert_eq!(err.kind(), ErrorKind::Browser);
        assert!(err.message().contains("114"), "{err}");
        assert!(err.message().contains("156.0.8078.79"), "{err}");
        assert!(err.hint().unwrap().contains("chromedriver for Chrome 156"));
        let typed = version_mismatch(&err).unwrap();
        assert_eq!(typed.driver_supports, 114);
    }

    #[test]
    fn a_chrome_that_exits_at_start_gets_a_hint() {
        let refused = NewSessionError::SessionNotCreated(WebDriver::new(
            ErrorStatus::SessionNotCreated,
            "session not created: Chrome instance exited. Examine ChromeDriver verbose log"
                .to_string(),
        ));
        let err = session_error(refused, "");
        assert!(version_mismatch(&err).is_none());
        assert!(err.hint().unwrap().contains("headless"), "{err:?}");
    }

    #[test]
    fn a_chrome_without_a_usable_sandbox_names_the_way_out() {
        let refused = NewSessionError::SessionNotCreated(WebDriver::new(
            ErrorStatus::SessionNotCreated,
            "session not created: Chrome instance exited.\nNo usable sandbox! If you are running \
             on Ubuntu 23.10+ or another Linux distro that has disabled unprivileged user namespaces"
                .to_string(),
        ));
        let err = session_error(refused, "");
        assert!(err.hint().unwrap().contains(SANDBOX_ENV), "{err:?}");
    }

    #[test]
    fn headless_follows_the_request_then_the_display() {
        let none = |_: &str| None::<OsString>;
        let display = |name: &str| (name == "DISPLAY").then(|| OsString::from(":0"));
        assert!(decide_headless(Some(true), &display));
        assert!(!decide_headless(Some(false), &none));
        if cfg!(target_os = "linux") {
            assert!(decide_headless(None, &none));
            assert!(!decide_headless(None, &display));
        }
    }

    #[test]
    fn chrome_gets_the_required_arguments_and_the_profile() {
        let spki = vec!["abc=".to_string()];
        let extra = vec!["--lang=en".to_string()];
        let launch = Launch {
            headless: true,
            host: Host {
                no_sandbox: true,
                password_store: Some(PasswordStore::Basic),
            },
            profile_dir: Path::new("/tmp/p"),
            window_size: None,
            trusted_spki: &spki,
            extra_args: &extra,
        };
        let args = launch.args();
        for required in REQUIRED_ARGS {
            assert!(args.iter().any(|a| a == required), "{required} missing");
        }
        assert!(args.contains(&"--headless=new".to_string()));
        assert!(args.contains(&"--user-data-dir=/tmp/p".to_string()));
        assert!(args.contains(&"--ignore-certificate-errors-spki-list=abc=".to_string()));
        assert_eq!(args.last().unwrap(), "--lang=en");
        let caps = launch.capabilities(None);
        let prefs = &caps["goog:chromeOptions"]["prefs"];
        assert_eq!(prefs["session.startup_urls"], json!(["about:blank"]));
        let caps = launch.capabilities(Some(Path::new("/usr/bin/chromium")));
        assert_eq!(caps["goog:chromeOptions"]["binary"], "/usr/bin/chromium");

        assert!(args.contains(&"--no-sandbox".to_string()));
        assert!(args.contains(&"--password-store=basic".to_string()));

        let desktop = Launch {
            headless: false,
            host: Host {
                no_sandbox: false,
                password_store: Some(PasswordStore::Libsecret),
            },
            ..launch
        };
        let args = desktop.args();
        assert!(!args.iter().any(|a| a.starts_with("--headless")));
        assert!(!args.iter().any(|a| a == "--no-sandbox"), "{args:?}");
        assert!(args.contains(&"--password-store=gnome-libsecret".to_string()));
        assert!(!args.iter().any(|a| a == "--password-store=basic"));
    }

    #[test]
    fn the_sandbox_goes_only_as_root_or_in_a_container_without_user_namespaces() {
        let unasked = || -> bool { panic!("user namespaces are asked about only in a container") };
        // A person's login on a desktop keeps it.
        assert!(!sandbox_impossible(false, false, unasked));
        // Chrome refuses to start as root with its sandbox.
        assert!(sandbox_impossible(true, false, unasked));
        assert!(sandbox_impossible(true, true, || true));
        // A container: only where user namespaces cannot be made.
        assert!(sandbox_impossible(false, true, || false));
        assert!(!sandbox_impossible(false, true, || true));
    }

    #[test]
    fn containers_are_told_by_their_markers() {
        let nothing = |_: &str| None::<OsString>;
        assert!(!in_container(&|_| false, &nothing));
        assert!(in_container(&|p| p == "/.dockerenv", &nothing));
        assert!(in_container(&|p| p == "/run/.containerenv", &nothing));
        let podman = |name: &str| (name == "container").then(|| OsString::from("podman"));
        assert!(in_container(&|_| false, &podman));
        let empty = |name: &str| (name == "container").then(OsString::new);
        assert!(!in_container(&|_| false, &empty));
    }

    #[test]
    fn chrome_keeps_its_key_in_the_keyring_only_where_an_unlocked_one_answers() {
        assert_eq!(password_store(true), PasswordStore::Libsecret);
        assert_eq!(password_store(false), PasswordStore::Basic);
    }
}
