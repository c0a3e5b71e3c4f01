//! `snowbridge doctor [INSTANCE]`: checks the set-up a user has and says what to fix, one line
//! per check: Chrome and chromedriver found and of one major version, the OS keyring, the state
//! folders, every instance file, and each instance (or the one named) reachable as ServiceNow,
//! with or without a stored session.
//!
//! It never prompts, never opens a browser and writes no state (no vault key, no folder); every
//! check is time-boxed to a few seconds, and the slow ones run side by side.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use snowbridge::instance::{Entry, Instance};
use snowbridge::keyring;
use snowbridge::{Error, Result};

use super::{Context, instances, output};

/// How long `chrome --version` and `chromedriver --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an instance has to answer the anonymous REST call.
const REACH_TIMEOUT: Duration = Duration::from_secs(5);

/// Arguments of `doctor`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  # everything: programs, keyring, folders, every instance file and instance
  snowbridge doctor
  # one instance's reachability and session (every instance file is still checked)
  snowbridge doctor dev
  # the checks as data; exit 1 when one failed
  snowbridge doctor --json --chromedriver /opt/chromedriver/chromedriver")]
pub struct Args {
    /// Check this instance only (all when left out).
    instance: Option<String>,
    /// The chromedriver to check (else $SNOWBRIDGE_CHROMEDRIVER, else chromedriver on PATH).
    #[arg(long, value_name = "PATH")]
    chromedriver: Option<PathBuf>,
    /// The Chrome to check (else $SNOWBRIDGE_CHROME, else the usual places).
    #[arg(long, value_name = "PATH")]
    chrome: Option<PathBuf>,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// One check: what was looked at, how it came out, and the fix when it is not OK.
#[derive(Debug, Serialize)]
struct Check {
    check: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<String>,
    status: Status,
    detail: String,
    fix: Option<String>,
}

impl Check {
    fn ok(check: &'static str, detail: impl Into<String>) -> Check {
        Check {
            check,
            instance: None,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn warn(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            status: Status::Warn,
            fix: Some(fix.into()),
            ..Check::ok(check, detail)
        }
    }

    fn fail(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            status: Status::Fail,
            fix: Some(fix.into()),
            ..Check::ok(check, detail)
        }
    }

    /// A failed check from a library error: its message, and its hint as the fix.
    fn failed(check: &'static str, err: &Error, fallback_fix: &str) -> Check {
        let fix = super::steps::advice(err);
        Check::fail(check, err.message(), fix.as_deref().unwrap_or(fallback_fix))
    }

    fn of(mut self, instance: &str) -> Check {
        self.instance = Some(instance.to_owned());
        self
    }
}

#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    checks: &'a [Check],
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let catalog = ctx.catalog()?;
    let entries: Vec<&Entry> = catalog.entries().iter().collect();
    let to_reach: Vec<Instance> = match &args.instance {
        Some(name) => {
            match entries.iter().find(|e| &e.name == name && !e.shadowed) {
                // A broken file is reported below, with the others; there is nothing to reach.
                Some(entry) => entry.instance.as_ref().ok().cloned().into_iter().collect(),
                // An unknown name is a usage error, with the names it knows.
                None => vec![ctx.instance(name)?],
            }
        }
        None => entries
            .iter()
            .filter(|e| !e.shadowed && instances::in_use(ctx, e))
            .filter_map(|e| e.instance.as_ref().ok().cloned())
            .collect(),
    };

    let (browser, keyring, reached) = tokio::join!(
        browser_checks(args.chrome.as_deref(), args.chromedriver.as_deref()),
        keyring_check(&ctx.dirs.data),
        futures_util::future::join_all(to_reach.iter().map(reach_check)),
    );
    let mut checks = browser;
    checks.push(keyring);
    checks.push(folder_check(
        "config folder",
        &ctx.dirs.config,
        "SNOWBRIDGE_CONFIG_DIR",
    ));
    checks.push(folder_check(
        "data folder",
        &ctx.dirs.data,
        "SNOWBRIDGE_DATA_DIR",
    ));
    checks.extend(entries.iter().map(|e| file_check(e)));
    let vault = ctx.vault();
    for (instance, reached) in to_reach.iter().zip(reached) {
        checks.push(reached);
        checks.push(session_check(instance, &vault.path(&instance.name)));
    }

    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if ctx.json {
        output::json(&Report {
            ok: failed == 0,
            checks: &checks,
        })?;
    } else {
        print(&checks)?;
    }
    if failed == 0 {
        return Ok(());
    }
    Err(
        Error::bad_input(format!("{failed} of {} checks failed", checks.len()))
            .with_hint("do what the FAIL lines say, then run `snowbridge doctor` again"),
    )
}

fn print(checks: &[Check]) -> Result<()> {
    for check in checks {
        let what = match &check.instance {
            Some(name) => format!("{name}: {}", check.check),
            None => check.check.to_owned(),
        };
        output::line(&format!(
            "{:<5} {what}: {}",
            check.status.label(),
            check.detail
        ))?;
        if let Some(fix) = &check.fix {
            output::line(&format!("{:<5} fix: {fix}", ""))?;
        }
    }
    let count = |status| checks.iter().filter(|c| c.status == status).count();
    let warnings = count(Status::Warn);
    output::line(&format!(
        "{} ok, {warnings} warning{}, {} failed",
        count(Status::Ok),
        if warnings == 1 { "" } else { "s" },
        count(Status::Fail)
    ))
}

/// Chrome and chromedriver: found, their versions read, and of one major version.
async fn browser_checks(chrome: Option<&Path>, chromedriver: Option<&Path>) -> Vec<Check> {
    let chrome = snowbridge::browser::find_chrome(chrome);
    let driver = snowbridge::browser::find_chromedriver(chromedriver);
    let (chrome_version, driver_version) = tokio::join!(
        async {
            match &chrome {
                Ok(path) if cfg!(windows) => version_beside(path),
                Ok(path) => version_of(path).await,
                Err(_) => Err(String::new()),
            }
        },
        async {
            match &driver {
                Ok(path) => version_of(path).await,
                Err(_) => Err(String::new()),
            }
        },
    );
    let found =
        |what: &'static str, path: &Result<PathBuf>, version: &Result<String, String>| match (
            path, version,
        ) {
            (Err(e), _) => Check::failed(what, e, "install it, or give its path"),
            (Ok(path), Ok(version)) => {
                Check::ok(what, format!("{}, version {version}", path.display()))
            }
            (Ok(path), Err(why)) => Check::warn(
                what,
                format!("{}: {why}", path.display()),
                format!("check that {} runs", path.display()),
            ),
        };
    let mut checks = vec![
        found("chrome", &chrome, &chrome_version),
        found("chromedriver", &driver, &driver_version),
    ];
    if let (Ok(chrome), Ok(driver)) = (&chrome_version, &driver_version) {
        checks.push(versions_check(chrome, driver));
    }
    checks
}

fn versions_check(chrome: &str, driver: &str) -> Check {
    match (major(chrome), major(driver)) {
        (Some(c), Some(d)) if c == d => Check::ok(
            "browser versions",
            format!("Chrome {c} and chromedriver {d} match"),
        ),
        (Some(c), Some(d)) => Check::fail(
            "browser versions",
            format!(
                "chromedriver {d} drives Chrome {d}, but the Chrome found is {c}: \
                 chromedriver would refuse to start it"
            ),
            format!(
                "install the chromedriver for Chrome {c} (Debian: `apt-get install chromium \
                 chromium-driver` keeps both in step; elsewhere \
                 https://googlechromelabs.github.io/chrome-for-testing/), and point \
                 --chromedriver or SNOWBRIDGE_CHROMEDRIVER at it"
            ),
        ),
        _ => Check::warn(
            "browser versions",
            format!("cannot tell the major versions of {chrome:?} and {driver:?}"),
            "run both with --version and compare the first number",
        ),
    }
}

/// The version `program --version` prints, within [`VERSION_TIMEOUT`].
async fn version_of(program: &Path) -> Result<String, String> {
    let child = tokio::process::Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run it: {e}"))?;
    let out = match tokio::time::timeout(VERSION_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(format!("`--version` failed: {e}")),
        Err(_) => {
            return Err(format!(
                "`--version` did not answer within {}s",
                VERSION_TIMEOUT.as_secs()
            ));
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    if let Some(version) = version_in(&stdout) {
        return Ok(version.to_owned());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    let said = said
        .lines()
        .chain(stdout.lines())
        .next()
        .unwrap_or("nothing");
    Err(format!("`--version` printed no version ({said})"))
}

/// Chrome on Windows prints no version (it opens a window instead): its installation keeps
/// one folder per version beside chrome.exe.
fn version_beside(chrome: &Path) -> Result<String, String> {
    let folder = chrome.parent().unwrap_or(Path::new("."));
    let listing = std::fs::read_dir(folder).map_err(|e| format!("cannot list its folder: {e}"))?;
    listing
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| version_in(name) == Some(name.as_str()))
        .max_by_key(|name| {
            name.split('.')
                .map(|part| part.parse::<u32>().unwrap_or(0))
                .collect::<Vec<_>>()
        })
        .ok_or_else(|| "no version folder beside it".to_owned())
}

/// The first word that reads as a dotted version: "Chromium 156.0.8078.108 built on ..." gives
/// "156.0.8078.108".
fn version_in(text: &str) -> Option<&str> {
    text.split_whitespace().find(|word| {
        word.contains('.')
            && word.starts_with(|c: char| c.is_ascii_digit())
            && word.chars().all(|c| c.is_ascii_digit() || c == '.')
    })
}

fn major(version: &str) -> Option<u32> {
    version.split('.').next()?.parse().ok()
}

/// The OS keyring: off by choice, answering, or not (then the vault keeps its key in a file).
async fn keyring_check(data: &Path) -> Check {
    let key_file = data.join("vault.key");
    if !keyring::enabled() {
        return Check::ok(
            "keyring",
            format!(
                "off (SNOWBRIDGE_KEYRING=off): the session key is kept in {}, and passwords \
                 come from SNOWBRIDGE_PASSWORD or a prompt",
                key_file.display()
            ),
        );
    }
    match keyring::probe().await {
        Ok(()) => Check::ok("keyring", "the OS keyring answers"),
        Err(why) => Check::warn(
            "keyring",
            format!(
                "{why}; the session key goes to {} instead",
                key_file.display()
            ),
            "unlock the keyring or start one (on Linux, a Secret Service such as gnome-keyring \
             in a D-Bus session), or set SNOWBRIDGE_KEYRING=off to use the key file without \
             asking",
        ),
    }
}

/// A state folder: writable, or makeable on first use. A probe file is made and removed at once.
fn folder_check(check: &'static str, dir: &Path, var: &str) -> Check {
    let fix =
        |problem: &str| format!("{problem}, or point {var} at a folder of yours that is writable");
    if dir.is_dir() {
        return match tempfile::Builder::new()
            .prefix(".snowbridge-doctor")
            .tempfile_in(dir)
        {
            Ok(_) => Check::ok(check, format!("{} (writable)", dir.display())),
            Err(e) => Check::fail(
                check,
                format!("cannot write in {}: {e}", dir.display()),
                fix("make it writable by you"),
            ),
        };
    }
    if dir.exists() {
        return Check::fail(
            check,
            format!("{} is not a folder", dir.display()),
            fix("move the file away"),
        );
    }
    let Some(parent) = dir.ancestors().skip(1).find(|a| a.exists()) else {
        return Check::fail(
            check,
            format!(
                "{} cannot be made: none of its parents exists",
                dir.display()
            ),
            fix("make it"),
        );
    };
    let writable = parent.is_dir()
        && tempfile::Builder::new()
            .prefix(".snowbridge-doctor")
            .tempfile_in(parent)
            .is_ok();
    if writable {
        Check::ok(
            check,
            format!("{} (not there yet: made on first use)", dir.display()),
        )
    } else {
        Check::fail(
            check,
            format!(
                "{} cannot be made: {} is not a writable folder",
                dir.display(),
                parent.display()
            ),
            fix("make it"),
        )
    }
}

fn file_check(entry: &Entry) -> Check {
    let check = match &entry.instance {
        Ok(_) if entry.shadowed => Check::ok(
            "instance file",
            format!(
                "{} (hidden by your file of the same name)",
                entry.path.display()
            ),
        ),
        Ok(_) => Check::ok("instance file", entry.path.display().to_string()),
        Err(e) => Check::failed(
            "instance file",
            e,
            "fix the file; see instances/example.toml for a commented example",
        ),
    };
    check.of(&entry.name)
}

async fn reach_check(instance: &Instance) -> Check {
    let probed = tokio::time::timeout(
        REACH_TIMEOUT + Duration::from_secs(1),
        snowbridge::session::probe::probe(instance, REACH_TIMEOUT),
    )
    .await;
    let check = match probed {
        Ok(Ok(took)) => Check::ok(
            "reachable",
            format!(
                "{} answered as ServiceNow does (401 to an anonymous REST call) in {} ms",
                instance.base(),
                took.as_millis()
            ),
        ),
        Ok(Err(e)) => Check::failed("reachable", &e, "check `url` in the instance file"),
        Err(_) => Check::fail(
            "reachable",
            format!(
                "{} did not answer within {}s",
                instance.base(),
                REACH_TIMEOUT.as_secs()
            ),
            "check the URL, your network or proxy, and that the instance is up",
        ),
    };
    check.of(&instance.name)
}

/// Whether a session is stored; `status` is what checks it is still valid (that needs the key).
fn session_check(instance: &Instance, vault_file: &Path) -> Check {
    let name = &instance.name;
    let check = match std::fs::metadata(vault_file) {
        Ok(meta) => {
            let saved = meta
                .modified()
                .ok()
                .and_then(|at| SystemTime::now().duration_since(at).ok())
                .map(|age| {
                    let at = time::OffsetDateTime::now_utc()
                        - time::Duration::try_from(age).unwrap_or_default();
                    format!(", saved {}", output::relative(at))
                })
                .unwrap_or_default();
            Check::ok(
                "session",
                format!(
                    "stored in {}{saved}; `snowbridge status {name}` tells whether it is still valid",
                    vault_file.display()
                ),
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let fix = if instance.import_chrome.is_some() {
                format!(
                    "run `snowbridge connect {name}` (imports it from your Chrome profile) or \
                     `snowbridge connect {name} --login`"
                )
            } else {
                format!("run `snowbridge connect {name} --login`")
            };
            Check::warn("session", "none stored yet", fix)
        }
        Err(e) => Check::fail(
            "session",
            format!("cannot read {}: {e}", vault_file.display()),
            "make it readable by you, or remove it and log in again",
        ),
    };
    check.of(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_what_the_programs_print() {
        let chromium = "Chromium 156.0.8078.108 built on Debian GNU/Linux 12 (bookworm)\n";
        let driver =
            "ChromeDriver 156.0.8078.108 (730482a940ce25ae-refs/branch-heads/8078@{#2244})";
        assert_eq!(version_in(chromium), Some("156.0.8078.108"));
        assert_eq!(version_in(driver), Some("156.0.8078.108"));
        assert_eq!(
            version_in("Google Chrome 120.0.6099.109 "),
            Some("120.0.6099.109")
        );
        assert_eq!(version_in("no version here"), None);
        assert_eq!(major("156.0.8078.108"), Some(156));
    }

    #[test]
    fn versions_of_two_majors_fail_with_the_fix() {
        assert_eq!(
            versions_check("156.0.8078.108", "156.0.8078.108").status,
            Status::Ok
        );
        let check = versions_check("156.0.8078.108", "120.0.6099.109");
        assert_eq!(check.status, Status::Fail);
        assert!(check.detail.contains("Chrome found is 156"), "{check:?}");
        assert!(check.fix.unwrap().contains("chromedriver for Chrome 156"));
    }

    #[test]
    fn a_folder_under_a_file_cannot_be_made() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let check = folder_check("data folder", &file.join("data"), "SNOWBRIDGE_DATA_DIR");
        assert_eq!(check.status, Status::Fail);
        assert!(check.fix.unwrap().contains("SNOWBRIDGE_DATA_DIR"));
        let check = folder_check(
            "data folder",
            &dir.path().join("new"),
            "SNOWBRIDGE_DATA_DIR",
        );
        assert_eq!(check.status, Status::Ok, "{check:?}");
        assert!(!dir.path().join("new").exists(), "doctor makes no folder");
        let check = folder_check("data folder", &file, "SNOWBRIDGE_DATA_DIR");
        assert_eq!(check.status, Status::Fail);
    }
}
