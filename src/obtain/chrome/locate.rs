//! Finding a browser's cookie database: user-data folders, profiles and their names.
//!
//! Knows where Chrome, Chromium, Edge and Brave keep their user data on Linux (with
//! `XDG_CONFIG_HOME`, Flatpak and Snap), macOS and Windows, which profiles a folder holds (with the
//! names people gave them in `Local State`) and which cookie file is current. It only reads
//! folder listings and `Local State`; it never opens a cookie database or a keyring.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

use serde::Deserialize;

use crate::error::{Error, NextStep, Result};

/// A Chromium-based browser snowbridge can import from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Browser {
    /// Google Chrome.
    Chrome,
    /// Chromium.
    Chromium,
    /// Microsoft Edge.
    Edge,
    /// Brave.
    Brave,
}

impl Browser {
    /// Every browser, in the order `list` reports them.
    pub const ALL: [Browser; 4] = [
        Browser::Chrome,
        Browser::Chromium,
        Browser::Edge,
        Browser::Brave,
    ];

    /// The name used on the command line and in instance files.
    pub fn as_str(self) -> &'static str {
        match self {
            Browser::Chrome => "chrome",
            Browser::Chromium => "chromium",
            Browser::Edge => "edge",
            Browser::Brave => "brave",
        }
    }

    /// The product name in the browser's keyring entries ("Chrome Safe Storage").
    #[cfg_attr(windows, allow(dead_code))]
    pub(crate) fn product(self) -> &'static str {
        match self {
            Browser::Chrome => "Chrome",
            Browser::Chromium => "Chromium",
            Browser::Edge => "Microsoft Edge",
            Browser::Brave => "Brave",
        }
    }

    /// The `application` attribute its Secret Service items carry on Linux.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn secret_service_applications(self) -> &'static [&'static str] {
        match self {
            Browser::Chrome => &["chrome"],
            Browser::Chromium => &["chromium"],
            Browser::Edge => &["microsoft-edge", "msedge"],
            Browser::Brave => &["brave"],
        }
    }

    /// User-data folders relative to the OS's base folders, most usual first.
    fn user_data_dirs(self, os: Os, env: &Env) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        match os {
            Os::Linux => {
                let native: &[&str] = match self {
                    Browser::Chrome => &["google-chrome"],
                    Browser::Chromium => &["chromium"],
                    Browser::Edge => &["microsoft-edge"],
                    Browser::Brave => &["BraveSoftware", "Brave-Browser"],
                };
                if let Some(config) = &env.config_home {
                    dirs.push(join(config, native));
                }
                if let Some(home) = &env.home {
                    let flatpak = match self {
                        Browser::Chrome => "com.google.Chrome",
                        Browser::Chromium => "org.chromium.Chromium",
                        Browser::Edge => "com.microsoft.Edge",
                        Browser::Brave => "com.brave.Browser",
                    };
                    dirs.push(join(
                        &home.join(".var/app").join(flatpak).join("config"),
                        native,
                    ));
                    match self {
                        Browser::Chromium => dirs.push(home.join("snap/chromium/common/chromium")),
                        Browser::Brave => {
                            dirs.push(join(&home.join("snap/brave/current/.config"), native))
                        }
                        Browser::Chrome | Browser::Edge => {}
                    }
                }
            }
            Os::Mac => {
                if let Some(home) = &env.home {
                    let support = home.join("Library/Application Support");
                    dirs.push(join(
                        &support,
                        match self {
                            Browser::Chrome => &["Google", "Chrome"],
                            Browser::Chromium => &["Chromium"],
                            Browser::Edge => &["Microsoft Edge"],
                            Browser::Brave => &["BraveSoftware", "Brave-Browser"],
                        },
                    ));
                }
            }
            Os::Windows => {
                if let Some(local) = &env.local_app_data {
                    let vendor: &[&str] = match self {
                        Browser::Chrome => &["Google", "Chrome"],
                        Browser::Chromium => &["Chromium"],
                        Browser::Edge => &["Microsoft", "Edge"],
                        Browser::Brave => &["BraveSoftware", "Brave-Browser"],
                    };
                    dirs.push(join(local, vendor).join("User Data"));
                }
            }
        }
        dirs
    }
}

fn join(base: &Path, parts: &[&str]) -> PathBuf {
    parts
        .iter()
        .fold(base.to_path_buf(), |p, part| p.join(part))
}

impl fmt::Display for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Browser {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Browser::ALL
            .into_iter()
            .find(|b| b.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::usage(format!("unknown browser {s:?}"))
                    .with_hint("use one of: chrome, chromium, edge, brave")
            })
    }
}

/// The operating systems whose folder layouts this module knows; a parameter so every layout
/// is tested on every OS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Os {
    Linux,
    Mac,
    Windows,
}

impl Os {
    /// The OS this build runs on (the BSDs keep Chrome's data as Linux does).
    pub(crate) fn current() -> Os {
        if cfg!(target_os = "macos") {
            Os::Mac
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::Linux
        }
    }
}

/// The base folders user-data folders hang off, read from the environment in one place.
#[derive(Debug, Clone, Default)]
pub(crate) struct Env {
    pub home: Option<PathBuf>,
    /// `XDG_CONFIG_HOME`, else `~/.config`.
    pub config_home: Option<PathBuf>,
    /// `%LOCALAPPDATA%`.
    pub local_app_data: Option<PathBuf>,
}

impl Env {
    pub(crate) fn from_process() -> Env {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = var("HOME").or_else(|| var("USERPROFILE"));
        // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
        let config_home = var("XDG_CONFIG_HOME")
            .filter(|p| p.is_absolute())
            .or_else(|| home.as_ref().map(|h| h.join(".config")));
        Env {
            home,
            config_home,
            local_app_data: var("LOCALAPPDATA"),
        }
    }
}

/// One profile of one browser installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundProfile {
    /// Which browser.
    pub browser: Browser,
    /// Its user-data folder (the one holding `Local State`).
    pub user_data_dir: PathBuf,
    /// The profile's folder name: `Default`, `Profile 1`.
    pub dir: String,
    /// The name the person gave it, from `Local State`.
    pub name: Option<String>,
    /// The current cookie database, when the profile has one.
    pub cookies: Option<PathBuf>,
}

impl fmt::Display for FoundProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dir)?;
        if let Some(name) = &self.name {
            write!(f, " ({name:?})")?;
        }
        Ok(())
    }
}

/// What snowbridge reads from `Local State`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LocalState {
    #[serde(default)]
    profile: ProfileSection,
    #[serde(default)]
    pub os_crypt: OsCrypt,
}

#[derive(Debug, Default, Deserialize)]
struct ProfileSection {
    #[serde(default)]
    info_cache: BTreeMap<String, ProfileInfo>,
    #[serde(default)]
    last_used: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ProfileInfo {
    #[serde(default)]
    name: Option<String>,
}

/// `os_crypt` in `Local State`: the wrapped keys on Windows.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OsCrypt {
    #[serde(default)]
    pub encrypted_key: Option<String>,
}

impl LocalState {
    /// Reads `<user_data_dir>/Local State`; a missing or unreadable file is an empty state,
    /// since profiles and cookies can still be found without it.
    pub(crate) fn read(user_data_dir: &Path) -> LocalState {
        std::fs::read(user_data_dir.join("Local State"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// The DPAPI blob wrapping the AES-256-GCM key: `os_crypt.encrypted_key`, base64, with its
    /// `DPAPI` prefix stripped.
    #[cfg_attr(not(windows), allow(dead_code))]
    pub(crate) fn dpapi_wrapped_key(&self) -> std::result::Result<Vec<u8>, String> {
        use base64::Engine as _;
        let encoded = self
            .os_crypt
            .encrypted_key
            .as_deref()
            .ok_or("Local State has no os_crypt.encrypted_key")?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| format!("os_crypt.encrypted_key in Local State is not base64: {e}"))?;
        raw.strip_prefix(b"DPAPI")
            .map(<[u8]>::to_vec)
            .ok_or_else(|| "os_crypt.encrypted_key in Local State lacks its DPAPI prefix".into())
    }
}

/// The profiles found for every browser on this machine, for `import-chrome --list`.
pub fn list() -> Vec<FoundProfile> {
    let env = Env::from_process();
    Browser::ALL
        .into_iter()
        .flat_map(|browser| {
            browser
                .user_data_dirs(Os::current(), &env)
                .into_iter()
                .flat_map(move |dir| profiles_in(browser, &dir))
        })
        .collect()
}

/// The profiles in one user-data folder: those `Local State` names and those on disk, `Default`
/// first, then `Profile 1`, `Profile 2`... in number order.
pub fn profiles_in(browser: Browser, user_data_dir: &Path) -> Vec<FoundProfile> {
    let state = LocalState::read(user_data_dir);
    let mut dirs: Vec<String> = state.profile.info_cache.keys().cloned().collect();
    if let Ok(entries) = std::fs::read_dir(user_data_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if (name == "Default" || name.starts_with("Profile ")) && entry.path().is_dir() {
                dirs.push(name);
            }
        }
    }
    dirs.sort_by_key(|d| profile_order(d));
    dirs.dedup();
    dirs.into_iter()
        .filter(|dir| user_data_dir.join(dir).is_dir())
        .map(|dir| FoundProfile {
            browser,
            user_data_dir: user_data_dir.to_path_buf(),
            name: state
                .profile
                .info_cache
                .get(&dir)
                .and_then(|i| i.name.clone()),
            cookies: cookie_file(&user_data_dir.join(&dir)),
            dir,
        })
        .collect()
}

fn profile_order(dir: &str) -> (u8, u64, String) {
    match dir {
        "Default" => (0, 0, String::new()),
        _ => match dir.strip_prefix("Profile ").and_then(|n| n.parse().ok()) {
            Some(n) => (1, n, String::new()),
            None => (2, 0, dir.to_string()),
        },
    }
}

/// The profile's current cookie database: `Network/Cookies` (Chrome 96+) or `Cookies`, the more
/// recently written when both exist (a profile upgraded in place keeps the stale old one).
pub(crate) fn cookie_file(profile_dir: &Path) -> Option<PathBuf> {
    let candidates = [
        profile_dir.join("Network").join("Cookies"),
        profile_dir.join("Cookies"),
    ];
    candidates
        .into_iter()
        .filter(|p| p.is_file())
        .max_by_key(|p| last_written(p))
}

/// The latest modification time of the database and its journal files.
fn last_written(db: &Path) -> Option<SystemTime> {
    ["", "-journal", "-wal"]
        .iter()
        .filter_map(|suffix| {
            let mut path = db.as_os_str().to_owned();
            path.push(suffix);
            std::fs::metadata(PathBuf::from(path)).ok()?.modified().ok()
        })
        .max()
}

/// Finds the profile `source` names, or says which profiles exist.
pub(crate) fn resolve(
    browser: Browser,
    profile: Option<&str>,
    user_data_dir: Option<&Path>,
    env: &Env,
    os: Os,
) -> Result<FoundProfile> {
    let searched: Vec<PathBuf> = match user_data_dir {
        Some(dir) => vec![dir.to_path_buf()],
        None => browser.user_data_dirs(os, env),
    };
    let existing: Vec<&PathBuf> = searched.iter().filter(|d| d.is_dir()).collect();
    if existing.is_empty() {
        return Err(Error::bad_input(format!(
            "no {browser} user data found (looked in {})",
            join_paths(&searched)
        ))
        .with_step(NextStep::NameChromeUserData));
    }
    let mut all = Vec::new();
    for dir in existing {
        let profiles = profiles_in(browser, dir);
        let wanted = match profile {
            Some(p) => pick_named(&profiles, p),
            None => pick_default(&profiles, &LocalState::read(dir)),
        };
        if let Some(found) = wanted {
            return Ok(found.clone());
        }
        all.extend(profiles);
    }
    let listing = if all.is_empty() {
        "none".to_string()
    } else {
        all.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let what = profile.map_or_else(
        || "no default profile".to_string(),
        |p| format!("no profile {p:?}"),
    );
    let dirs: Vec<PathBuf> = searched.into_iter().filter(|d| d.is_dir()).collect();
    Err(Error::bad_input(format!(
        "{what} in {browser} ({}); profiles found: {listing}",
        join_paths(&dirs)
    ))
    .with_step(NextStep::NameChromeProfile))
}

/// By folder name, then by the person's name for it, then either ignoring case.
fn pick_named<'a>(profiles: &'a [FoundProfile], wanted: &str) -> Option<&'a FoundProfile> {
    profiles
        .iter()
        .find(|p| p.dir == wanted)
        .or_else(|| profiles.iter().find(|p| p.name.as_deref() == Some(wanted)))
        .or_else(|| {
            let mut loose = profiles.iter().filter(|p| {
                p.dir.eq_ignore_ascii_case(wanted)
                    || p.name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase() == wanted.to_lowercase())
            });
            // Ambiguous loose matches pick nothing: the error then lists them all.
            match (loose.next(), loose.next()) {
                (Some(one), None) => Some(one),
                _ => None,
            }
        })
}

/// The profile Chrome last used, else `Default`, else the only one.
fn pick_default<'a>(profiles: &'a [FoundProfile], state: &LocalState) -> Option<&'a FoundProfile> {
    let last_used = state.profile.last_used.as_deref();
    profiles
        .iter()
        .find(|p| Some(p.dir.as_str()) == last_used && p.cookies.is_some())
        .or_else(|| profiles.iter().find(|p| p.dir == "Default"))
        .or(match profiles {
            [only] => Some(only),
            _ => None,
        })
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(home: &Path) -> Env {
        Env {
            home: Some(home.to_path_buf()),
            config_home: Some(home.join("xdg")),
            local_app_data: Some(home.join("AppData/Local")),
        }
    }

    #[test]
    fn user_data_folders_for_every_os() {
        let e = env(Path::new("/h"));
        let chromium = Browser::Chromium.user_data_dirs(Os::Linux, &e);
        assert_eq!(
            chromium,
            [
                PathBuf::from("/h/xdg/chromium"),
                PathBuf::from("/h/.var/app/org.chromium.Chromium/config/chromium"),
                PathBuf::from("/h/snap/chromium/common/chromium"),
            ]
        );
        assert_eq!(
            Browser::Brave.user_data_dirs(Os::Linux, &e)[0],
            PathBuf::from("/h/xdg/BraveSoftware/Brave-Browser")
        );
        assert_eq!(
            Browser::Chrome.user_data_dirs(Os::Mac, &e),
            [PathBuf::from(
                "/h/Library/Application Support/Google/Chrome"
            )]
        );
        assert_eq!(
            Browser::Edge.user_data_dirs(Os::Windows, &e),
            [PathBuf::from("/h/AppData/Local/Microsoft/Edge/User Data")]
        );
    }

    #[test]
    fn browser_names_parse_case_insensitively_and_reject_others() {
        assert_eq!("Chrome".parse::<Browser>().unwrap(), Browser::Chrome);
        assert_eq!("brave".parse::<Browser>().unwrap(), Browser::Brave);
        let err = "firefox".parse::<Browser>().unwrap_err();
        assert!(err.hint().unwrap().contains("chromium"));
    }

    fn write_profile(root: &Path, dir: &str, network: bool) {
        let p = root.join(dir);
        let db = if network {
            p.join("Network/Cookies")
        } else {
            p.join("Cookies")
        };
        std::fs::create_dir_all(db.parent().unwrap()).unwrap();
        std::fs::write(db, b"").unwrap();
    }

    fn write_local_state(root: &Path, json: &str) {
        std::fs::write(root.join("Local State"), json).unwrap();
    }

    #[test]
    fn profiles_are_found_with_their_names_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write_profile(root, "Profile 10", true);
        write_profile(root, "Profile 2", false);
        write_profile(root, "Default", true);
        std::fs::create_dir_all(root.join("System Profile")).unwrap();
        write_local_state(
            root,
            r#"{"profile":{"info_cache":{"Default":{"name":"Person 1"},"Profile 2":{"name":"Work"}}}}"#,
        );
        let found = profiles_in(Browser::Chrome, root);
        let dirs: Vec<_> = found.iter().map(|p| p.dir.as_str()).collect();
        assert_eq!(dirs, ["Default", "Profile 2", "Profile 10"]);
        assert_eq!(found[1].name.as_deref(), Some("Work"));
        assert_eq!(
            found[0].cookies.as_deref(),
            Some(root.join("Default/Network/Cookies").as_path())
        );
    }

    #[test]
    fn the_newer_of_two_cookie_files_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path();
        std::fs::create_dir_all(p.join("Network")).unwrap();
        std::fs::write(p.join("Cookies"), b"").unwrap();
        std::fs::write(p.join("Network/Cookies"), b"").unwrap();
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        std::fs::File::options()
            .write(true)
            .open(p.join("Network/Cookies"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(cookie_file(p), Some(p.join("Cookies")));
    }

    #[test]
    fn a_profile_is_found_by_folder_or_by_its_given_name() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write_profile(root, "Default", true);
        write_profile(root, "Profile 1", true);
        write_local_state(
            root,
            r#"{"profile":{"last_used":"Profile 1","info_cache":{"Profile 1":{"name":"Work"}}}}"#,
        );
        let e = Env::default();
        let by =
            |p: Option<&str>| resolve(Browser::Chrome, p, Some(root), &e, Os::Linux).map(|f| f.dir);
        assert_eq!(by(Some("Work")).unwrap(), "Profile 1");
        assert_eq!(by(Some("work")).unwrap(), "Profile 1");
        assert_eq!(by(Some("Default")).unwrap(), "Default");
        assert_eq!(by(None).unwrap(), "Profile 1", "last used wins");
        let err = by(Some("Home")).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::BadInput);
        assert!(err.message().contains("no profile \"Home\""), "{err}");
        assert!(err.message().contains("Profile 1 (\"Work\")"), "{err}");
    }

    #[test]
    fn a_missing_user_data_folder_names_where_it_looked() {
        let tmp = tempfile::tempdir().unwrap();
        let err = resolve(Browser::Edge, None, None, &env(tmp.path()), Os::Linux).unwrap_err();
        assert!(err.message().contains("microsoft-edge"), "{err}");
        assert_eq!(err.next_step(), Some(&NextStep::NameChromeUserData));
    }

    #[test]
    fn the_windows_key_blob_is_unwrapped_from_local_state() {
        use base64::Engine as _;
        let blob = [b"DPAPI".as_slice(), &[1, 2, 3]].concat();
        let json = format!(
            r#"{{"os_crypt":{{"encrypted_key":"{}"}}}}"#,
            base64::engine::general_purpose::STANDARD.encode(blob)
        );
        let state: LocalState = serde_json::from_str(&json).unwrap();
        assert_eq!(state.dpapi_wrapped_key().unwrap(), [1, 2, 3]);
        let missing: LocalState = serde_json::from_str("{}").unwrap();
        assert!(missing.dpapi_wrapped_key().is_err());
    }
}
