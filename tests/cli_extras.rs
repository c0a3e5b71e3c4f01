//! What people expect of a command line, through the real binary: `--version` naming the commit
//! (and the build script behind it), shell completions, man pages, `doctor` against the
//! in-process emulator, and the emulator's `--config` combined with its flags.

mod common;

#[path = "../build.rs"]
#[allow(dead_code)]
mod build_script;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Home, emulator, form_login, require_browser, stderr, stdout};

// ---------------------------------------------------------------- --version and build.rs

/// `git -C dir args...`, which must succeed.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_owned()
}

/// A repository with one commit on `main`.
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("Cargo.toml"), "[package]\n").unwrap();
    git(&repo, &["add", "Cargo.toml"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    dir
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = Command::new(env!("CARGO_BIN_EXE_snowbridge"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let described = Command::new("git")
        .arg("-C")
        .arg(manifest)
        .args(["log", "-1", "--date=short", "--format=%h %cd"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| stdout(&o).trim().to_owned());
    let expected = match described {
        Some(commit) => format!("snowbridge {} ({commit})\n", env!("CARGO_PKG_VERSION")),
        None => format!("snowbridge {}\n", env!("CARGO_PKG_VERSION")),
    };
    assert_eq!(stdout(&out), expected);
}

#[test]
fn outside_a_git_checkout_the_version_is_the_packages_alone() {
    let dir = tempfile::tempdir().unwrap();
    assert!(build_script::commit(dir.path()).is_none());
    // A packaged crate unpacked inside another repository does not take its commit.
    let repo = repository();
    let vendored = repo.path().join("repo").join("vendor").join("snowbridge");
    std::fs::create_dir_all(&vendored).unwrap();
    std::fs::write(vendored.join(".cargo_vcs_info.json"), "{}").unwrap();
    assert!(build_script::commit(&vendored).is_none());
}

#[test]
fn the_build_script_watches_the_files_git_rewrites_when_head_moves() {
    let dir = repository();
    let repo = dir.path().join("repo");
    let commit = build_script::commit(&repo).expect("a commit");
    assert_eq!(commit.hash, git(&repo, &["log", "-1", "--format=%h"]));
    assert_eq!(
        commit.date,
        git(&repo, &["log", "-1", "--date=short", "--format=%cd"])
    );
    let git_dir = repo.join(".git");
    for file in ["HEAD", "logs/HEAD", "refs/heads/main"] {
        assert!(
            commit.watch.contains(&git_dir.join(file)),
            "{file} is not watched: {:?}",
            commit.watch
        );
    }
    // Moving HEAD changes watched files, so cargo reruns the script.
    let before: Vec<Vec<u8>> = commit
        .watch
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "second"]);
    let changed = commit
        .watch
        .iter()
        .zip(&before)
        .filter(|(f, was)| &std::fs::read(f).unwrap() != *was)
        .count();
    assert!(changed >= 2, "a commit changed {changed} watched files");

    // Packed refs: every watched file exists (cargo would rerun on every build otherwise).
    git(&repo, &["pack-refs", "--all"]);
    let commit = build_script::commit(&repo).unwrap();
    assert!(
        commit.watch.iter().all(|f| f.exists()),
        "{:?}",
        commit.watch
    );
    assert!(commit.watch.contains(&git_dir.join("packed-refs")));
}

#[test]
fn in_a_worktree_the_script_watches_its_own_head_and_the_shared_refs() {
    let dir = repository();
    let repo = dir.path().join("repo");
    let tree = dir.path().join("tree");
    git(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "other",
            tree.to_str().unwrap(),
        ],
    );
    let commit = build_script::commit(&tree).expect("a commit");
    let git_dir = repo.join(".git");
    let own = git_dir.join("worktrees").join("tree");
    assert!(
        commit.watch.contains(&own.join("HEAD")),
        "{:?}",
        commit.watch
    );
    assert!(commit.watch.contains(&own.join("logs").join("HEAD")));
    assert!(commit.watch.contains(&git_dir.join("refs/heads/other")));
}

// ---------------------------------------------------------------- completions and man pages

/// Runs the binary outside any snowbridge home (these commands need none).
fn snowbridge(args: &[&str]) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_snowbridge"))
        .args(args)
        .env("SNOWBRIDGE_CONFIG_DIR", home.path().join("config"))
        .env("SNOWBRIDGE_DATA_DIR", home.path().join("data"))
        .output()
        .unwrap()
}

#[test]
fn completions_for_every_shell_know_the_commands_and_their_flags() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = snowbridge(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for word in ["doctor", "import-chrome", "chromedriver", "display-value"] {
            assert!(script.contains(word), "{shell}'s script lacks {word}");
        }
    }
    let out = snowbridge(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bash"), "{}", stderr(&out));
    // A script is no data: --json is refused, not ignored.
    let out = snowbridge(&["completions", "bash", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("--json"), "{}", stderr(&out));
}

#[test]
fn bash_completes_commands_and_flags() {
    let script = stdout(&snowbridge(&["completions", "bash"]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snowbridge.bash");
    std::fs::write(&file, script).unwrap();
    let complete = |words: &str, current: usize| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({words}); COMP_CWORD={current}; \
                 _snowbridge snowbridge \"${{COMP_WORDS[$COMP_CWORD]}}\"; echo \"${{COMPREPLY[*]}}\"",
                file.display()
            ))
            .output()
            .expect("run bash");
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_owned()
    };
    assert_eq!(complete("snowbridge doc", 1), "doctor");
    assert_eq!(
        complete("snowbridge doctor --chr", 2),
        "--chromedriver --chrome"
    );
    assert_eq!(
        complete("snowbridge completions p", 2),
        "powershell",
        "the shells are completed too"
    );
}

#[test]
fn man_prints_the_top_page_and_writes_one_page_per_command() {
    let out = snowbridge(&["man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let top = stdout(&out);
    assert!(top.contains(".TH snowbridge 1"), "{top}");
    assert!(top.contains("snowbridge\\-doctor(1)"), "{top}");

    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man").join("man1");
    let out = snowbridge(&["man", "--dir", pages.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    for command in [
        "instances",
        "connect",
        "status",
        "logout",
        "password",
        "cookies",
        "api",
        "records",
        "import-chrome",
        "attach",
        "resolve",
        "emulator",
        "doctor",
        "completions",
        "man",
    ] {
        let page = pages.join(format!("snowbridge-{command}.1"));
        let text =
            std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        assert!(
            text.contains(".SH EXAMPLES"),
            "{command}'s page has no examples"
        );
        assert!(
            stdout(&out).contains(&page.display().to_string()),
            "the written pages are listed"
        );
    }
    let out = snowbridge(&["man", "--dir", pages.to_str().unwrap(), "--json"]);
    let listed: Vec<PathBuf> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        listed.contains(&pages.join("snowbridge-doctor.1")),
        "{listed:?}"
    );
    assert_eq!(snowbridge(&["man", "--json"]).status.code(), Some(2));

    let connect = std::fs::read_to_string(pages.join("snowbridge-connect.1")).unwrap();
    assert!(
        connect.contains("\nsnowbridge connect dev \\-\\-login\n"),
        "{connect}"
    );
    assert!(
        connect.contains("\\-\\-mfa\\-code"),
        "the flags are on the page"
    );
    assert!(pages.join("snowbridge.1").exists());
}

// ---------------------------------------------------------------- doctor

/// A guard against a check that is not time-boxed (each gets at most 5 s; a hung keyring or
/// socket would wait for ever), generous enough for a busy machine: not a speed target, which
/// belongs in scripts/bench.sh.
const HANG: Duration = Duration::from_secs(90);

/// `snowbridge doctor args...` in `home`, with how long it took.
fn doctor(home: &Home, args: &[&str], env: &[(&str, &str)]) -> (std::process::Output, Duration) {
    let mut cmd = home.command(&[&["doctor"], args].concat());
    for (name, value) in env {
        cmd.env(name, value);
    }
    let started = Instant::now();
    let out = cmd.output().expect("run snowbridge doctor");
    (out, started.elapsed())
}

/// The line of `check` (with its `fix:` line, if any) in doctor's report.
fn line_of(report: &str, check: &str) -> String {
    let lines: Vec<&str> = report.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.get(6..).is_some_and(|rest| rest.starts_with(check)))
        .unwrap_or_else(|| panic!("no line for {check:?} in:\n{report}"));
    match lines.get(at + 1) {
        Some(next) if next.trim_start().starts_with("fix: ") => format!("{}\n{next}", lines[at]),
        _ => lines[at].to_owned(),
    }
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes the instance file `name.toml` into `home`.
fn instance_file(home: &Home, name: &str, text: &str) -> PathBuf {
    let path = home.dirs.user_instances().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_set_up_passes_every_check() {
    require_browser();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "admin", false).await);

    let (out, took) = doctor(&home, &["dev"], &[]);
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{report}\n{}", stderr(&out));
    assert!(!report.contains("FAIL"), "{report}");
    for check in [
        "chrome: ",
        "chromedriver: ",
        "browser versions: ",
        "config folder: ",
        "data folder: ",
        "dev: instance file: ",
    ] {
        assert!(line_of(&report, check).starts_with("OK "), "{report}");
    }
    let keyring = line_of(&report, "keyring: ");
    assert!(keyring.starts_with("OK "), "{keyring}");
    assert!(
        keyring.contains("off (SNOWBRIDGE_KEYRING=off)"),
        "{keyring}"
    );
    let reachable = line_of(&report, "dev: reachable: ");
    assert!(reachable.starts_with("OK "), "{reachable}");
    assert!(
        reachable.contains(emu.url().as_str().trim_end_matches('/')),
        "{reachable}"
    );
    let session = line_of(&report, "dev: session: ");
    assert!(session.starts_with("OK "), "{session}");
    assert!(
        session.contains(&home.vault_path().display().to_string()),
        "{session}"
    );
    assert!(
        took < HANG,
        "doctor took {took:?}: a check was not time-boxed"
    );

    let (out, _) = doctor(&home, &["dev", "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    let checks = report["checks"].as_array().unwrap();
    let names: Vec<&str> = checks
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    for name in [
        "chrome",
        "chromedriver",
        "browser versions",
        "keyring",
        "reachable",
        "session",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(checks.iter().all(|c| c["status"] == "ok"), "{checks:?}");
}

#[test]
fn a_missing_chromedriver_fails_with_how_to_install_it() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let missing = home.root.path().join("no-such-chromedriver");

    let (out, _) = doctor(
        &home,
        &["dev", "--chromedriver", missing.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let line = line_of(&stdout(&out), "chromedriver: ");
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(line.contains("no-such-chromedriver"), "{line}");
    assert!(
        line.contains("fix: ") && line.contains("SNOWBRIDGE_CHROMEDRIVER"),
        "{line}"
    );
    assert!(stderr(&out).contains("checks failed"), "{}", stderr(&out));

    // Not on PATH, and not named.
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = home.command(&["doctor", "dev"]);
    cmd.env("PATH", empty.path())
        .env_remove("SNOWBRIDGE_CHROMEDRIVER");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let line = line_of(&stdout(&out), "chromedriver: ");
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(line.contains("not found on PATH"), "{line}");
    assert!(line.contains("fix: "), "{line}");
}

#[cfg(unix)]
fn fake_program(dir: &Path, name: &str, script: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[cfg(unix)]
#[test]
fn a_chromedriver_for_another_chrome_fails_with_the_fix() {
    require_browser();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let old = fake_program(
        home.root.path(),
        "chromedriver",
        "echo 'ChromeDriver 99.0.4844.51 (d537ec02474b5afe23684e7963d538896c63ac77)'",
    );
    let (out, _) = doctor(
        &home,
        &["dev", "--chromedriver", old.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let line = line_of(&stdout(&out), "browser versions: ");
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(line.contains("chromedriver 99"), "{line}");
    assert!(
        line.contains("fix: install the chromedriver for Chrome"),
        "{line}"
    );
}

#[cfg(unix)]
#[test]
fn a_chromedriver_that_hangs_costs_a_few_seconds_and_a_warning() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let stuck = fake_program(home.root.path(), "chromedriver", "exec sleep 60");
    let (out, took) = doctor(
        &home,
        &["dev", "--chromedriver", stuck.to_str().unwrap()],
        &[],
    );
    let line = line_of(&stdout(&out), "chromedriver: ");
    assert!(line.starts_with("WARN "), "{line}");
    assert!(line.contains("did not answer within 5s"), "{line}");
    assert!(
        took < HANG,
        "doctor took {took:?}: a check was not time-boxed"
    );
}

#[test]
fn a_broken_instance_file_fails_with_its_file_line_and_fix() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let broken = instance_file(
        &home,
        "broken",
        "url = \"https://acme.service-now.com\"\nusernme = \"jdoe\"\n",
    );
    // Every instance file is checked, even with one instance named.
    let (out, _) = doctor(&home, &["dev"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let line = line_of(&stdout(&out), "broken: instance file: ");
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(line.contains(&format!("{}:2", broken.display())), "{line}");
    assert!(line.contains("usernme"), "{line}");
    assert!(line.contains("fix: "), "{line}");

    let (out, _) = doctor(&home, &["--json"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["instance"] == "broken")
        .expect("a check of the broken file");
    assert_eq!(check["status"], "fail");
    assert!(
        check["fix"].as_str().is_some_and(|f| !f.is_empty()),
        "{check}"
    );
}

#[test]
fn an_unknown_instance_is_a_usage_error() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let (out, _) = doctor(&home, &["nosuch"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("nosuch"), "{}", stderr(&out));
}

#[test]
fn an_instance_nobody_listens_at_fails_with_the_fix() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let port = free_port();
    let file = instance_file(
        &home,
        "gone",
        &format!("url = \"http://127.0.0.1:{port}\"\n"),
    );
    let (out, _) = doctor(&home, &["gone"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let line = line_of(&stdout(&out), "gone: reachable: ");
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(
        line.contains(&format!("nothing listens at 127.0.0.1:{port}")),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "fix: check the port in `url` in {}",
            file.display()
        )),
        "{line}"
    );
}

#[test]
fn an_instance_that_never_answers_fails_within_the_time_box() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    // The kernel accepts the connection into the backlog; nobody ever reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    instance_file(
        &home,
        "silent",
        &format!("url = \"http://127.0.0.1:{port}\"\n"),
    );
    let (out, took) = doctor(&home, &["silent"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let line = line_of(&stdout(&out), "silent: reachable: ");
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(line.contains("did not answer within 5s"), "{line}");
    assert!(
        took < HANG,
        "doctor took {took:?}: a check was not time-boxed"
    );
    drop(silent);
}

#[test]
fn an_untrusted_certificate_is_named_with_ca_file_as_the_fix() {
    let emu = emulator(|c| c.tls = true);
    // Home's file names the emulator's CA: trusted.
    let home = Home::new("dev", &emu);
    let url = emu.url().as_str().trim_end_matches('/').to_owned();
    instance_file(&home, "untrusted", &format!("url = \"{url}\"\n"));

    let (out, _) = doctor(&home, &["dev"], &[]);
    let line = line_of(&stdout(&out), "dev: reachable: ");
    assert!(line.starts_with("OK "), "{line}");

    let (out, _) = doctor(&home, &["untrusted"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let line = line_of(&stdout(&out), "untrusted: reachable: ");
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(line.contains("TLS certificate is not trusted"), "{line}");
    assert!(line.contains("ca_file"), "{line}");

    // The commands that reach the instance say the same, not "check your network".
    instance_file(
        &home,
        "untrusted-basic",
        &format!("url = \"{url}\"\nauth = \"basic\"\nusername = \"admin\"\n"),
    );
    for args in [
        &[
            "connect",
            "untrusted",
            "--login",
            "--headless",
            "--user",
            "admin",
        ][..],
        &[
            "api",
            "untrusted-basic",
            "/api/now/table/incident?sysparm_limit=1",
        ][..],
    ] {
        let out = home
            .command(args)
            .env("SNOWBRIDGE_PASSWORD", "snowbridge")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("TLS certificate is not trusted"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("ca_file"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_hibernating_instance_is_named_with_where_to_wake_it() {
    let emu = emulator(|c| c.hibernating = true);
    let home = Home::new("dev", &emu);
    let (out, _) = doctor(&home, &["dev"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let line = line_of(&stdout(&out), "dev: reachable: ");
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(line.contains("hibernating"), "{line}");
    assert!(
        line.contains("fix: sign in at https://developer.servicenow.com"),
        "{line}"
    );
}

#[test]
fn an_unreachable_keyring_is_a_warning_with_the_way_out() {
    require_browser();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let mut cmd = home.command(&["doctor", "dev"]);
    cmd.env_remove("SNOWBRIDGE_KEYRING")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let line = line_of(&stdout(&out), "keyring: ");
    assert!(line.starts_with("WARN "), "{line}");
    assert!(line.contains("SNOWBRIDGE_KEYRING=off"), "{line}");
    // A warning is not a failure; and no session stored is a warning too.
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(line_of(&stdout(&out), "dev: session: ").contains("connect dev --login"));
    assert!(started.elapsed() < HANG, "a check was not time-boxed");
}

// ---------------------------------------------------------------- the emulator's configuration

/// Starts `snowbridge emulator args... --json` and returns it with the URL it printed.
#[cfg(unix)]
fn start_emulator(home: &Home, args: &[&str]) -> (common::child::Child, url::Url) {
    let mut child =
        common::child::Child::spawn(home.command(&[&["emulator", "--json"], args].concat()));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(line) = child.stdout().lines().next() {
            let printed: serde_json::Value = serde_json::from_str(line).unwrap();
            let url = url::Url::parse(printed["url"].as_str().unwrap()).unwrap();
            return (child, url);
        }
        if let Some(status) = child.exited() {
            panic!("the emulator ended ({status}): {}", child.stderr());
        }
        assert!(Instant::now() < deadline, "the emulator printed no URL");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(unix)]
fn stop(mut child: common::child::Child) {
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    unsafe { libc::kill(child.pid() as i32, libc::SIGTERM) };
    assert!(child.wait(Duration::from_secs(20)).success());
}

#[cfg(unix)]
#[test]
fn the_emulators_config_file_sets_the_port_unless_the_flag_is_given() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    drop(emu);
    let (from_file, from_flag) = (free_port(), free_port());
    let config = home.root.path().join("emulator.toml");
    std::fs::write(&config, format!("port = {from_file}\n")).unwrap();
    let data = home.root.path().join("emu");
    let data = data.to_str().unwrap();
    let config = config.to_str().unwrap();

    let (child, url) = start_emulator(&home, &["--config", config, "--data", data]);
    assert_eq!(url.port(), Some(from_file), "the file's port");
    stop(child);

    let port = from_flag.to_string();
    let (child, url) = start_emulator(&home, &["--config", config, "--port", &port]);
    assert_eq!(url.port(), Some(from_flag), "the flag wins over the file");
    stop(child);
}

#[test]
fn a_damaged_or_old_data_folder_is_named_and_only_a_port_in_use_is_blamed_on_the_port() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    drop(emu);
    let data = home.root.path().join("emu");
    let data_arg = data.to_str().unwrap().to_owned();
    let database = data.join("emulator.db");
    let start = |port: &str| home.run(&["emulator", "--port", port, "--data", &data_arg]);

    // Not a database at all.
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(&database, b"garbage, not SQLite").unwrap();
    let out = start("0");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains(&database.display().to_string()), "{said}");
    assert!(said.contains("not a database"), "{said}");
    assert!(said.contains("delete the data folder"), "{said}");
    assert!(said.contains("--data"), "{said}");
    assert!(!said.contains("port"), "the port is not at fault: {said}");

    // Seeded by an older emulator: another schema stamp.
    std::fs::remove_file(&database).unwrap();
    let config = snowbridge::emulator::EmulatorConfig {
        data_dir: Some(data.clone()),
        incidents: 1,
        ..Default::default()
    };
    drop(snowbridge::emulator::Emulator::start(config).unwrap());
    rusqlite::Connection::open(&database)
        .unwrap()
        .execute(
            "UPDATE meta SET value = 'an older schema' WHERE key = 'schema'",
            [],
        )
        .unwrap();
    let out = start("0");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains(&database.display().to_string()), "{said}");
    assert!(said.contains("older emulator"), "{said}");
    assert!(said.contains("delete the data folder"), "{said}");
    assert!(!said.contains("port"), "the port is not at fault: {said}");

    // A port in use is the port's fault.
    std::fs::remove_dir_all(&data).unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = start(&port);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains(&format!("cannot start the emulator on port {port}")),
        "{said}"
    );
    assert!(said.contains("pick another port"), "{said}");
}

#[test]
fn the_help_examples_name_incidents_the_bundled_emulator_can_resolve() {
    // The emulator as `snowbridge emulator` starts it: the default data.
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let control = emu.control();
    let mut named = Vec::new();
    for command in ["resolve", "attach"] {
        let out = home.run(&[command, "--help"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let help = stdout(&out);
        for word in help.split(|c: char| !c.is_ascii_alphanumeric()) {
            if word.len() == 10 && word.starts_with("INC") {
                named.push((command, word.to_owned()));
            }
        }
    }
    assert!(named.iter().any(|(c, _)| *c == "resolve"), "{named:?}");
    for (command, number) in named {
        let record = control
            .record("incident", &number)
            .unwrap_or_else(|| panic!("`{command} --help` names {number}, which does not exist"));
        let state = record["state"].as_str().unwrap_or_default().to_owned();
        assert!(
            ["1", "2", "3"].contains(&state.as_str()),
            "`{command} --help` names {number}, which is in state {state}: resolving it fails"
        );
    }
}
