//! The dedicated Chrome profile folder a browser runs in.
//!
//! Owns getting the folder ready: created owner-only, and freed of the `SingletonLock` a crashed
//! Chrome leaves behind (Chrome refuses a profile whose lock names another host, which is every
//! container restart). A lock held by a Chrome that is still running is an error, never broken,
//! and so is a person's own browser profile (Chrome 136+ refuses to be automated on it, and it
//! is not ours to touch). The caller chooses the folder; this module never picks or deletes one.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Creates `dir` (owner-only) if needed, clears a stale profile lock, and returns it absolute.
pub(crate) fn prepare(dir: &Path) -> Result<PathBuf> {
    if dir.as_os_str().is_empty() {
        return Err(Error::usage("the browser profile folder is empty"));
    }
    let dir = std::path::absolute(dir)
        .map_err(|e| Error::io("cannot resolve the profile folder", dir, e))?;
    refuse_personal_profile(&dir, &|name| std::env::var_os(name))?;
    create_private_dir(&dir)?;
    #[cfg(unix)]
    clear_stale_lock(&dir)?;
    Ok(dir)
}

/// Errors when `dir` is (or is inside) the user-data folder of a browser a person uses.
fn refuse_personal_profile(
    dir: &Path,
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<()> {
    let same = |a: &Path, b: &Path| {
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        canonical(a).starts_with(canonical(b))
    };
    match personal_profiles(env)
        .into_iter()
        .find(|own| same(dir, own))
    {
        Some(own) => Err(Error::usage(format!(
            "{} is a browser profile a person uses ({}); the browser needs a folder of its own",
            dir.display(),
            own.display()
        ))
        .with_hint(
            "leave the profile folder to snowbridge's default, or pick an empty folder; to reuse \
             the session of your own Chrome, import it from the profile instead",
        )),
        None => Ok(()),
    }
}

/// The user-data folders of the browsers people use, on this OS.
fn personal_profiles(env: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Vec<PathBuf> {
    let home = env("HOME").map(PathBuf::from);
    let (root, names): (Option<PathBuf>, &[&str]) = if cfg!(target_os = "macos") {
        (
            home.map(|h| h.join("Library/Application Support")),
            &[
                "Google/Chrome",
                "Google/Chrome Beta",
                "Chromium",
                "Microsoft Edge",
                "BraveSoftware/Brave-Browser",
            ],
        )
    } else if cfg!(windows) {
        (
            env("LOCALAPPDATA").map(PathBuf::from),
            &[
                r"Google\Chrome\User Data",
                r"Google\Chrome Beta\User Data",
                r"Chromium\User Data",
                r"Microsoft\Edge\User Data",
                r"BraveSoftware\Brave-Browser\User Data",
            ],
        )
    } else {
        (
            env("XDG_CONFIG_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| home.map(|h| h.join(".config"))),
            &[
                "google-chrome",
                "google-chrome-beta",
                "google-chrome-unstable",
                "chromium",
                "microsoft-edge",
                "BraveSoftware/Brave-Browser",
            ],
        )
    };
    root.map(|root| names.iter().map(|name| root.join(name)).collect())
        .unwrap_or_default()
}

fn create_private_dir(dir: &Path) -> Result<()> {
    crate::files::create_private_dir(dir, true)
        .map_err(|e| Error::io("cannot create the browser profile folder", dir, e))
}

/// What a `SingletonLock` says: the symlink's target is `<hostname>-<pid>`.
#[cfg(unix)]
#[derive(Debug, PartialEq, Eq)]
struct LockOwner {
    host: String,
    pid: u32,
}

#[cfg(unix)]
impl LockOwner {
    fn parse(target: &str) -> Option<LockOwner> {
        let (host, pid) = target.rsplit_once('-')?;
        Some(LockOwner {
            host: host.to_string(),
            pid: pid.parse().ok()?,
        })
    }
}

#[cfg(unix)]
fn clear_stale_lock(dir: &Path) -> Result<()> {
    let lock = dir.join("SingletonLock");
    let target = match std::fs::read_link(&lock) {
        Ok(target) => target,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        // Not a symlink (or unreadable): not something Chrome wrote; leave it to Chrome.
        Err(_) => return Ok(()),
    };
    let owner = target.to_str().and_then(LockOwner::parse);
    if let Some(owner) = &owner
        && owner.host == hostname()
        && chrome_running_on(owner.pid, dir)
    {
        return Err(Error::new(
            crate::error::ErrorKind::Browser,
            format!(
                "the browser profile {} is in use by a running Chrome (process {})",
                dir.display(),
                owner.pid
            ),
        )
        .with_hint("close that Chrome window (or end that snowbridge run) and try again"));
    }
    tracing::info!(
        lock = %target.display(),
        "removing the lock a Chrome that is no longer running left on the profile"
    );
    for name in ["SingletonLock", "SingletonSocket", "SingletonCookie"] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot remove the stale profile lock", &path, e)),
        }
    }
    Ok(())
}

#[cfg(unix)]
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// Is `pid` alive and (where we can tell) a browser, likely the one using `dir`? When in doubt,
/// yes: breaking the lock of a running Chrome lets a second one corrupt the profile.
#[cfg(unix)]
fn chrome_running_on(pid: u32, dir: &Path) -> bool {
    let Ok(pid_t) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid_t, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !alive {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        // A live pid that is no browser (and a zombie, whose command line is empty) is a pid
        // reused since the crash.
        match std::fs::read(format!("/proc/{pid}/cmdline")) {
            Ok(cmdline) => {
                let args: Vec<String> = cmdline
                    .split(|&b| b == 0)
                    .map(|arg| String::from_utf8_lossy(arg).into_owned())
                    .collect();
                let wanted = dir.to_string_lossy();
                let names_profile = args.iter().any(|arg| {
                    arg.strip_prefix("--user-data-dir=")
                        .is_some_and(|d| d.trim_end_matches('/') == wanted.trim_end_matches('/'))
                });
                let program = args
                    .first()
                    .map(|p| p.to_ascii_lowercase())
                    .unwrap_or_default();
                let is_browser = ["chrom", "msedge", "brave"]
                    .iter()
                    .any(|name| program.contains(name));
                names_profile || is_browser
            }
            Err(_) => true,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        true
    }
}

#[cfg(test)]
mod personal_tests {
    use super::*;

    #[test]
    fn a_persons_own_browser_profile_is_refused() {
        let home = tempfile::tempdir().unwrap();
        let home_path = home.path().to_path_buf();
        // Each system's own variable: HOME on Linux and macOS, LOCALAPPDATA on Windows.
        let env = move |name: &str| {
            matches!(name, "HOME" | "LOCALAPPDATA").then(|| home_path.clone().into_os_string())
        };
        let own = personal_profiles(&env);
        assert!(!own.is_empty());
        for profile in &own {
            let err = refuse_personal_profile(profile, &env).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::Usage);
            assert!(err.hint().unwrap().contains("import it from the profile"));
            assert!(refuse_personal_profile(&profile.join("Default"), &env).is_err());
        }
        let dedicated = home.path().join("snowbridge/profiles/dev");
        refuse_personal_profile(&dedicated, &env).unwrap();
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn lock_targets_are_host_then_pid() {
        assert_eq!(
            LockOwner::parse("build-box-7-12345"),
            Some(LockOwner {
                host: "build-box-7".into(),
                pid: 12345
            })
        );
        assert_eq!(LockOwner::parse("nopid"), None);
        assert_eq!(LockOwner::parse("host-notanumber"), None);
    }

    #[test]
    fn a_lock_from_another_host_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("some-other-host-4242", dir.path().join("SingletonLock"))
            .unwrap();
        std::os::unix::fs::symlink("/tmp/nowhere", dir.path().join("SingletonSocket")).unwrap();
        prepare(dir.path()).unwrap();
        assert!(std::fs::symlink_metadata(dir.path().join("SingletonLock")).is_err());
        assert!(std::fs::symlink_metadata(dir.path().join("SingletonSocket")).is_err());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_lock_held_by_a_live_chrome_on_this_profile_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let profile = std::path::absolute(dir.path()).unwrap();
        // A live process whose command line names the profile stands in for Chrome; the
        // trailing `:` keeps sh from exec'ing sleep, so the name stays in its command line.
        let mut holder = std::process::Command::new("sh")
            .arg("-c")
            .arg("sleep 30; :")
            .arg(format!("--user-data-dir={}", profile.display()))
            .spawn()
            .unwrap();
        // Until it has exec'd, the holder's command line is still this test's.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let needle = format!("--user-data-dir={}", profile.display());
        let cmdline = format!("/proc/{}/cmdline", holder.id());
        while !std::fs::read_to_string(&cmdline).is_ok_and(|c| c.contains(&needle)) {
            assert!(
                std::time::Instant::now() < deadline,
                "the holder never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let target = format!("{}-{}", hostname(), holder.id());
        std::os::unix::fs::symlink(&target, profile.join("SingletonLock")).unwrap();
        let err = prepare(&profile).unwrap_err();
        holder.kill().unwrap();
        holder.wait().unwrap();
        assert_eq!(err.kind(), crate::error::ErrorKind::Browser);
        assert!(err.message().contains("in use"), "{err}");
        assert!(std::fs::symlink_metadata(profile.join("SingletonLock")).is_ok());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_lock_naming_a_pid_reused_by_another_program_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        // This test binary is alive, on this host, and no browser.
        let target = format!("{}-{}", hostname(), std::process::id());
        std::os::unix::fs::symlink(&target, dir.path().join("SingletonLock")).unwrap();
        prepare(dir.path()).unwrap();
        assert!(std::fs::symlink_metadata(dir.path().join("SingletonLock")).is_err());
    }

    #[test]
    fn a_lock_naming_a_dead_process_on_this_host_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let target = format!("{}-{pid}", hostname());
        std::os::unix::fs::symlink(&target, dir.path().join("SingletonLock")).unwrap();
        prepare(dir.path()).unwrap();
        assert!(std::fs::symlink_metadata(dir.path().join("SingletonLock")).is_err());
    }
}
