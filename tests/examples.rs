//! The programs in `examples/` run against the emulator, each as a child process in a
//! snowbridge home of its own (folders, instance file and secrets from the environment), with
//! stdout and stderr captured: they do what they say, and the library writes nothing the
//! program did not ask for.
//!
//! The examples are built by `cargo test --all-targets` (scripts/test.sh) and `cargo build
//! --examples`; a test fails saying so when one is missing or older than the sources.
#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::child::run_within;
use common::{Home, emulator, form_login};
use snowbridge::emulator::Emulator;

/// A browser start plus page loads on a slow machine; a hang fails the test.
const WITHIN: Duration = Duration::from_secs(180);

/// The newest modification time of the files under `dir` (recursively).
fn newest(dir: &Path) -> SystemTime {
    let mut latest = SystemTime::UNIX_EPOCH;
    let Ok(listing) = std::fs::read_dir(dir) else {
        return latest;
    };
    for entry in listing.flatten() {
        let path = entry.path();
        let at = if path.is_dir() {
            newest(&path)
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH)
        };
        latest = latest.max(at);
    }
    latest
}

/// The built example `name`, next to this test's own binary (`target/debug/examples/`).
fn example(name: &str) -> PathBuf {
    let me = std::env::current_exe().expect("the test's own path");
    let profile = me
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    let built = profile.join("examples").join(name);
    let fix = "build them first: `cargo build --examples` (scripts/test.sh builds every target)";
    let Ok(meta) = std::fs::metadata(&built) else {
        panic!(
            "the example {name} is not built at {}: {fix}",
            built.display()
        );
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = std::fs::metadata(root.join("examples").join(format!("{name}.rs")))
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let sources = newest(&root.join("src")).max(own);
    let built_at = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    assert!(
        built_at >= sources,
        "the example {name} at {} is older than the sources: {fix}",
        built.display()
    );
    built
}

/// The example `name` living in `home`: its folders from the environment, no OS keyring (the
/// vault's key in a file), nobody at a terminal, no display (the browser runs headless).
fn command(home: &Home, name: &str) -> Command {
    let mut cmd = Command::new(example(name));
    cmd.env("SNOWBRIDGE_CONFIG_DIR", &home.dirs.config)
        .env("SNOWBRIDGE_DATA_DIR", &home.dirs.data)
        .env("SNOWBRIDGE_KEYRING", "off")
        .env_remove("SNOWBRIDGE_PASSWORD")
        .env_remove("SNOWBRIDGE_LOG")
        .env_remove("RUST_LOG")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
    cmd
}

/// Puts incident `number` In Progress with no resolution; returns its sys_id.
fn open_incident(emu: &Emulator, number: &str) -> String {
    let control = emu.control();
    let record = control.record("incident", number).unwrap();
    let sys_id = record["sys_id"].as_str().unwrap().to_owned();
    control
        .set_fields(
            "incident",
            &sys_id,
            [
                ("state", "2"),
                ("active", "true"),
                ("close_code", ""),
                ("close_notes", ""),
            ],
        )
        .unwrap();
    sys_id
}

fn field(emu: &Emulator, sys_id: &str, name: &str) -> String {
    let record = emu.control().record("incident", sys_id).unwrap();
    record[name].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ten_line_program_streams_active_incidents_and_resolves_one_through_the_browser() {
    common::require_browser();
    let emu = emulator(|_| {});
    // `local` is the emulator's instance; the user's file points it at this emulator.
    let home = Home::new("local", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let sys_id = open_incident(&emu, "INC0010001");
    let active: Vec<String> = emu
        .control()
        .sys_ids("incident", "active=true")
        .into_iter()
        .map(|id| {
            emu.control().record("incident", &id).unwrap()["number"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        active.len() > 1,
        "the seed has active incidents: {active:?}"
    );
    let from = emu.control().request_log().len();

    let (status, out, err) = run_within(command(&home, "resolve_with_fallback"), WITHIN);

    assert!(status.success(), "{status}\nstdout: {out}\nstderr: {err}");
    // Nothing on stderr: the library printed nothing, and Chrome's and chromedriver's output
    // did not leak through.
    assert_eq!(err, "", "the library wrote to stderr");
    let mut lines: Vec<&str> = out.lines().collect();
    let via = lines.pop().unwrap_or_default();
    // Every active incident, once, as one line of JSON each; nothing else on stdout.
    let mut streamed: Vec<String> = lines
        .iter()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{line:?} is not a record ({e}); stdout: {out}"));
            record["number"].as_str().unwrap().to_owned()
        })
        .collect();
    streamed.sort();
    let mut expected = active.clone();
    expected.sort();
    assert_eq!(streamed, expected, "stdout: {out}");
    assert!(via.starts_with("Some(Browser {"), "{via}");

    // Resolved as itil.user through the form's UI action, after REST refused the state change.
    assert_eq!(field(&emu, &sys_id, "state"), "6");
    assert_eq!(field(&emu, &sys_id, "close_code"), "Solution provided");
    assert_eq!(
        field(&emu, &sys_id, "close_notes"),
        "Fixed from a Rust script"
    );
    let log = emu.control().request_log();
    let refused = log[from..].iter().any(|r| {
        r.method == "PATCH"
            && r.path_and_query.starts_with("/api/now/table/incident/")
            && r.status == 403
    });
    assert!(refused, "REST was tried first and refused: {log:?}");
    let by_form = log[from..].iter().any(|r| {
        r.method == "POST"
            && r.path_and_query.starts_with("/incident.do")
            && r.user.as_deref() == Some("itil.user")
    });
    assert!(by_form, "the form resolved it as itil.user: {log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_lists_a_groups_active_incidents_with_display_values() {
    let emu = emulator(|_| {});
    let home = Home::new("local", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let query = "active=true^assignment_group.name=Hardware";
    let expected: Vec<String> = emu
        .control()
        .sys_ids("incident", query)
        .into_iter()
        .map(|id| {
            emu.control().record("incident", &id).unwrap()["number"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        !expected.is_empty(),
        "the seed assigns incidents to Hardware"
    );

    let mut cmd = command(&home, "incident_queue");
    cmd.arg("Hardware");
    let (status, out, err) = run_within(cmd, WITHIN);

    assert!(status.success(), "{status}\nstdout: {out}\nstderr: {err}");
    assert_eq!(err, "");
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    let mut listed: Vec<String> = rows.iter().map(|r| r[0].to_owned()).collect();
    // Most urgent first: the priority labels ("1 - Critical", ...) never go back up.
    let priorities: Vec<&str> = rows.iter().map(|r| r[1]).collect();
    assert!(
        priorities.windows(2).all(|w| w[0] <= w[1]),
        "{priorities:?}"
    );
    assert!(
        priorities.iter().all(|p| p.contains(" - ")),
        "display values: {priorities:?}"
    );
    // The caller's name, not the sys_id of their sys_user record.
    assert!(
        rows.iter()
            .all(|r| !snowbridge::api::incident::is_sys_id(r[2])),
        "{out}"
    );
    listed.sort();
    let mut expected = expected;
    expected.sort();
    assert_eq!(listed, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_credentials_example_runs_the_grant_and_reads_with_its_token() {
    const INTEGRATION: &str = "5c1d2e3f4a5b46c7d8e9f0a1b2c3d4e5";
    let emu = emulator(|c| c.tls = true);
    let home = Home::new("dev", &emu);
    std::fs::write(
        home.dirs.user_instances().join("dev.toml"),
        format!(
            "url = \"{}\"\nca_file = {:?}\nauth = \"oauth-client-credentials\"\n[oauth]\nclient_id = \"{INTEGRATION}\"\n",
            emu.url().as_str().trim_end_matches('/'),
            emu.ca_pem_path().unwrap().display().to_string()
        ),
    )
    .unwrap();

    let mut cmd = command(&home, "client_credentials");
    cmd.env("SNOWBRIDGE_INSTANCE", "dev")
        .env("SNOWBRIDGE_CLIENT_SECRET", "integration-secret");
    let (status, out, err) = run_within(cmd, WITHIN);

    assert!(status.success(), "{status}\nstdout: {out}\nstderr: {err}");
    assert_eq!(err, "");
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("connected to dev with the client_credentials grant")
    );
    let numbers: Vec<String> = lines
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            record["number"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(numbers.len(), 5, "{out}");
    for number in &numbers {
        assert!(
            emu.control().record("incident", number).is_some(),
            "{number}"
        );
    }
    // The token it got was kept: the next process reuses it rather than running the grant.
    let stored = home
        .vault()
        .load("dev")
        .unwrap()
        .expect("the session was stored");
    assert_eq!(
        stored.tokens.expect("tokens were stored").grant,
        "client_credentials"
    );
    let log = emu.control().request_log();
    assert!(
        log.iter()
            .all(|r| !r.path_and_query.starts_with("/api/") || r.status == 200),
        "every API call went through with the token: {log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chrome_example_imports_a_chromium_login_and_exports_its_cookies() {
    use snowbridge::browser::{Browser, Options};
    common::require_browser();
    let emu = emulator(|_| {});
    let home = Home::new("local", &emu);
    let profile = tempfile::tempdir().unwrap();
    let user_data = profile.path().join("chromium");
    let browser = Browser::launch(&Options {
        headless: Some(true),
        ..Options::new(&user_data)
    })
    .await
    .expect("launch Chromium (apt-get install chromium chromium-driver)");
    common::browser_form::log_in(&browser, &emu.url(), "itil.user", "snowbridge").await;
    let session_id = browser
        .all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name == "JSESSIONID")
        .map(|c| c.value.expose().to_owned())
        .expect("the browser holds the emulator's session");
    browser.close().await.unwrap(); // Chrome writes its cookie database as it quits

    let mut cmd = command(&home, "chrome_cookies");
    cmd.env("SNOWBRIDGE_BROWSER", "chromium")
        .env("SNOWBRIDGE_USER_DATA_DIR", &user_data);
    let (status, out, err) = run_within(cmd, WITHIN);

    assert!(status.success(), "{status}\nstdout: {out}\nstderr: {err}");
    assert!(
        err.contains("Imported"),
        "the program prints the report: {err}"
    );
    assert!(out.starts_with("# Netscape HTTP Cookie File\n"), "{out}");
    let exported = out
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|f| f.get(5) == Some(&"JSESSIONID"))
        .and_then(|f| f.get(6).map(|v| v.to_string()));
    assert_eq!(exported.as_deref(), Some(session_id.as_str()), "{out}");
    let stored = home
        .vault()
        .load("local")
        .unwrap()
        .expect("the import was stored");
    assert!(
        stored
            .cookies()
            .any(|c| c.name == "JSESSIONID" && c.value.expose() == session_id),
        "the vault holds the browser's session"
    );
}
