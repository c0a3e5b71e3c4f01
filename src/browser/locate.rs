//! Finding the chromedriver and Chrome executables.
//!
//! Owns the search order (an explicit path, then the `SNOWBRIDGE_CHROMEDRIVER` /
//! `SNOWBRIDGE_CHROME` environment variables, then `PATH` and the usual install locations per
//! OS) and the install hints given when nothing is found. It only looks at files: it never runs
//! what it finds.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// The environment variable naming the chromedriver executable.
pub const CHROMEDRIVER_ENV: &str = "SNOWBRIDGE_CHROMEDRIVER";
/// The environment variable naming the Chrome (or Chromium) executable.
pub const CHROME_ENV: &str = "SNOWBRIDGE_CHROME";

/// Finds chromedriver: `explicit`, else `$SNOWBRIDGE_CHROMEDRIVER`, else `chromedriver` on `PATH`.
pub fn find_chromedriver(explicit: Option<&Path>) -> Result<PathBuf> {
    chromedriver_with(explicit, &|name| std::env::var_os(name))
}

/// Finds Chrome: `explicit`, else `$SNOWBRIDGE_CHROME`, else the usual names on `PATH` and the
/// usual install locations of this OS.
pub fn find_chrome(explicit: Option<&Path>) -> Result<PathBuf> {
    chrome_with(explicit, &|name| std::env::var_os(name))
}

/// How a lookup reads the environment (injected so tests need not change the real one).
type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

fn chromedriver_with(explicit: Option<&Path>, env: Env) -> Result<PathBuf> {
    let named = given("chromedriver", explicit, CHROMEDRIVER_ENV, env)?;
    if let Some(path) = named {
        return Ok(path);
    }
    on_path("chromedriver", env).ok_or_else(|| {
        Error::new(
            ErrorKind::Browser,
            "chromedriver was not found on PATH; it is needed to drive Chrome",
        )
        .with_hint(chromedriver_install_hint())
    })
}

fn chrome_with(explicit: Option<&Path>, env: Env) -> Result<PathBuf> {
    let named = given("Chrome", explicit, CHROME_ENV, env)?;
    if let Some(path) = named {
        return Ok(path);
    }
    let found = CHROME_NAMES
        .iter()
        .find_map(|name| on_path(name, env))
        .or_else(|| {
            chrome_locations(env)
                .into_iter()
                .find(|candidate| is_executable(candidate))
        });
    found.ok_or_else(|| {
        Error::new(
            ErrorKind::Browser,
            "Chrome or Chromium was not found in its usual places",
        )
        .with_hint(chrome_install_hint())
    })
}

/// The path given explicitly or through `var`, checked to be an executable file.
fn given(what: &str, explicit: Option<&Path>, var: &str, env: Env) -> Result<Option<PathBuf>> {
    let (path, source) = match (explicit, env(var).filter(|v| !v.is_empty())) {
        (Some(path), _) => (path.to_path_buf(), "given".to_string()),
        (None, Some(value)) => (PathBuf::from(value), format!("named by {var}")),
        (None, None) => return Ok(None),
    };
    if is_executable(&path) {
        return Ok(Some(path));
    }
    let hint = if what == "chromedriver" {
        chromedriver_install_hint()
    } else {
        chrome_install_hint()
    };
    Err(Error::new(
        ErrorKind::Browser,
        format!(
            "the {what} {source} ({}) is not an executable file",
            path.display()
        ),
    )
    .with_hint(hint))
}

/// Names Chrome goes by on `PATH`.
const CHROME_NAMES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
];

/// Where Chrome is installed when it is not on `PATH` (cron jobs run with a short `PATH`).
fn chrome_locations(env: Env) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if cfg!(target_os = "macos") {
        let apps = [
            "Google Chrome.app/Contents/MacOS/Google Chrome",
            "Chromium.app/Contents/MacOS/Chromium",
            "Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing",
        ];
        let mut roots = vec![PathBuf::from("/Applications")];
        if let Some(home) = env("HOME") {
            roots.push(PathBuf::from(home).join("Applications"));
        }
        for root in roots {
            found.extend(apps.iter().map(|app| root.join(app)));
        }
    } else if cfg!(windows) {
        let tails = [
            r"Google\Chrome\Application\chrome.exe",
            r"Chromium\Application\chrome.exe",
        ];
        for var in ["ProgramFiles", "ProgramFiles(x86)", "LOCALAPPDATA"] {
            if let Some(root) = env(var) {
                found.extend(tails.iter().map(|tail| PathBuf::from(&root).join(tail)));
            }
        }
    } else {
        found.extend(
            [
                "/usr/bin/chromium",
                "/usr/bin/chromium-browser",
                "/usr/bin/google-chrome",
                "/snap/bin/chromium",
                "/opt/google/chrome/chrome",
            ]
            .map(PathBuf::from),
        );
    }
    found
}

/// `name` in one of the `PATH` folders, as an executable file (`which`: the executable bit on
/// Unix, `PATHEXT` on Windows). Relative `PATH` entries are taken from the working directory.
fn on_path(name: &str, env: Env) -> Option<PathBuf> {
    let path = env("PATH").filter(|p| !p.is_empty())?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    which::which_in(name, Some(path), cwd).ok()
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

fn chromedriver_install_hint() -> String {
    let install = if cfg!(target_os = "macos") {
        "install it with `brew install --cask chromedriver`"
    } else if cfg!(windows) {
        "download the chromedriver matching your Chrome from \
         https://googlechromelabs.github.io/chrome-for-testing/ and put it on PATH"
    } else {
        "install it with `apt-get install chromium chromium-driver` (Debian, Ubuntu) or your \
         distribution's chromedriver package"
    };
    format!("{install}, or set {CHROMEDRIVER_ENV} to its path")
}

fn chrome_install_hint() -> String {
    let install = if cfg!(any(target_os = "macos", windows)) {
        "install Google Chrome from https://www.google.com/chrome/"
    } else {
        "install it with `apt-get install chromium chromium-driver` (Debian, Ubuntu) or your \
         distribution's chromium package"
    };
    format!("{install}, or set {CHROME_ENV} to its path")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(vars: &[(&str, &Path)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_os_str().to_owned()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[cfg(unix)]
    fn fake_executable(dir: &Path, name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[cfg(unix)]
    #[test]
    fn explicit_path_wins_over_environment_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let explicit = fake_executable(dir.path(), "mine");
        let from_env = fake_executable(dir.path(), "theirs");
        fake_executable(dir.path(), "chromedriver");
        let env = env_of(&[(CHROMEDRIVER_ENV, &from_env), ("PATH", dir.path())]);
        assert_eq!(chromedriver_with(Some(&explicit), &env).unwrap(), explicit);
        assert_eq!(chromedriver_with(None, &env).unwrap(), from_env);
        let env = env_of(&[("PATH", dir.path())]);
        assert_eq!(
            chromedriver_with(None, &env).unwrap(),
            dir.path().join("chromedriver")
        );
    }

    #[test]
    fn a_missing_chromedriver_says_how_to_install_it() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_of(&[("PATH", dir.path())]);
        let err = chromedriver_with(None, &env).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Browser);
        let hint = err.hint().unwrap();
        assert!(hint.contains(CHROMEDRIVER_ENV), "{hint}");
        #[cfg(target_os = "linux")]
        assert!(
            hint.contains("apt-get install chromium chromium-driver"),
            "{hint}"
        );

        let missing = dir.path().join("no-such-chromedriver");
        let err = chromedriver_with(Some(&missing), &env).unwrap_err();
        assert!(err.message().contains("no-such-chromedriver"), "{err}");
        assert!(err.hint().unwrap().contains(CHROMEDRIVER_ENV));
    }

    #[cfg(unix)]
    #[test]
    fn a_file_that_is_not_executable_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("chromium"), "not a program").unwrap();
        let env = env_of(&[("PATH", dir.path())]);
        assert!(on_path("chromium", &env).is_none());
        let named = env_of(&[(CHROME_ENV, &dir.path().join("chromium"))]);
        let err = chrome_with(None, &named).unwrap_err();
        assert!(err.message().contains(CHROME_ENV), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn chrome_is_found_under_any_of_its_names() {
        let dir = tempfile::tempdir().unwrap();
        let chrome = fake_executable(dir.path(), "google-chrome-stable");
        let env = env_of(&[("PATH", dir.path())]);
        assert_eq!(chrome_with(None, &env).unwrap(), chrome);
    }
}
