//! What the command line says and prints, through the real binary against the in-process
//! emulator: messages that say what is wrong and what to do (logout, password, status, instance
//! files, a damaged vault key), no log lines without `-v` and no colours off a terminal, and
//! outputs a consumer can read whatever the data (records in every format and display-value
//! mode, empty results, `api -X HEAD` and `-i`). `import-chrome`'s report is
//! `tests/import_chrome_report.rs`'s.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

use common::{Home, emulator, form_login, stderr, stdout};

/// Runs `snowbridge args...` in `home` with `stdin` piped in and `env` set.
fn run_with(home: &Home, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut cmd = home.command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run snowbridge");
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// Writes the user instance file `name.toml` of `home`.
fn instance_file(home: &Home, name: &str, text: &str) -> std::path::PathBuf {
    let path = home.dirs.user_instances().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_says_what_it_did_and_logs_nothing() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);

    let out = home.run(&["logout", "dev"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "dev: no session was stored; nothing to delete"
    );

    // A stored session the instance cannot be told about: said on stdout, no WARN log line.
    home.store_login(&form_login(&emu, "itil.user", false).await);
    instance_file(
        &home,
        "dev",
        &format!(
            "url = \"http://127.0.0.1:{}\"\n",
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        ),
    );
    let out = home.run(&["logout", "dev"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.starts_with("dev: the instance could not be told to end the session"),
        "{said}"
    );
    assert!(
        said.trim_end()
            .ends_with("it ends there at its idle timeout; the stored session was deleted"),
        "{said}"
    );
    assert_eq!(stderr(&out), "", "no log lines without -v");
    assert!(!home.vault_path().exists());
}

#[test]
fn password_from_a_pipe_or_not_at_all_says_what_to_do() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);

    // SNOWBRIDGE_KEYRING=off (as `Home` sets it): refused, naming the alternative.
    let out = run_with(&home, &["password", "dev"], b"secret\n", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("SNOWBRIDGE_KEYRING=off"), "{err}");
    assert!(err.contains("SNOWBRIDGE_PASSWORD"), "{err}");
    let out = run_with(&home, &["password", "dev", "--delete"], b"", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("SNOWBRIDGE_KEYRING=off"));

    // The keyring allowed: an empty stdin and an empty line are named as such.
    let keyring_on = [("SNOWBRIDGE_KEYRING", "")];
    let out = run_with(&home, &["password", "dev"], b"", &keyring_on);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("snowbridge: nothing on stdin"), "{err}");
    assert!(
        err.contains("pipe the password in") && err.contains("run at a terminal"),
        "{err}"
    );
    let out = run_with(&home, &["password", "dev"], b"\n", &keyring_on);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("snowbridge: the first line on stdin is empty"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_says_what_password_says_for_its_kind() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);

    // SNOWBRIDGE_KEYRING=off: exit 1, naming the kind's variable, storing or deleting.
    for args in [
        &["secret", "dev", "password"][..],
        &["secret", "dev", "client-secret", "--delete"],
    ] {
        let out = run_with(&home, args, b"s3cret\n", &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("SNOWBRIDGE_KEYRING=off"), "{err}");
        assert!(err.contains("in the job's environment instead"), "{err}");
    }

    // The keyring allowed: an empty stdin and an empty line, named with the way to pipe it in.
    let keyring_on = [("SNOWBRIDGE_KEYRING", "")];
    let out = run_with(&home, &["secret", "dev", "client-secret"], b"", &keyring_on);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("snowbridge: nothing on stdin: no client-secret was stored"),
        "{err}"
    );
    assert!(
        err.contains("pipe the client-secret in")
            && err.contains("| snowbridge secret dev client-secret"),
        "{err}"
    );
    let out = run_with(&home, &["secret", "dev", "api-key"], b"\n", &keyring_on);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("snowbridge: the first line on stdin is empty: no api-key"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reads_as_english_and_says_how_to_get_a_first_session() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    instance_file(
        &home,
        "fresh",
        &format!("url = \"{}\"\n", emu.url().as_str().trim_end_matches('/')),
    );
    home.store_login(&form_login(&emu, "itil.user", true).await);

    let out = home.run(&["status", "dev"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stdout(&out);
    // The emulator's remember-me cookies last 15 days; a moment has passed.
    assert!(
        line.contains(", remember-me cookies valid for 14 more days"),
        "{line}"
    );
    assert!(line.contains("last validated just now"), "{line}");

    let out = home.run(&["status", "fresh"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("no session yet: run `snowbridge connect fresh --login`"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("log in again"), "{}", stdout(&out));
    assert!(!stderr(&out).contains("log in again"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_only_with_v_and_never_coloured_off_a_terminal() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);

    let quiet = home.run(&["records", "dev", "incident", "-n", "1"]);
    assert_eq!(quiet.status.code(), Some(0), "{}", stderr(&quiet));
    assert_eq!(stderr(&quiet), "", "no log lines without -v");

    let verbose = home.run(&["-vv", "records", "dev", "incident", "-n", "1"]);
    assert_eq!(verbose.status.code(), Some(0), "{}", stderr(&verbose));
    let logs = stderr(&verbose);
    assert!(logs.contains("DEBUG") || logs.contains("INFO"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "colours on a pipe: {logs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_file_mistakes_name_the_line_the_key_and_the_fix() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let url = emu.url().as_str().trim_end_matches('/').to_owned();
    instance_file(
        &home,
        "certs",
        &format!("url = \"{url}\"\nca_file = \"corp-root.pem\"\n"),
    );
    instance_file(
        &home,
        "typo",
        &format!("url = \"{url}\"\nusernme = \"jdoe\"\n"),
    );
    instance_file(
        &home,
        "slow",
        &format!("url = \"{url}\"\ntimeout_secs = \"ten\"\n"),
    );
    instance_file(
        &home,
        "plain",
        "username = \"x\"\nurl = \"http://acme.service-now.com\"\n",
    );

    let out = home.run(&["instances"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listing = stdout(&out);
    let line_of = |name: &str| {
        listing
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not listed: {listing}"))
            .to_owned()
    };
    let certs = line_of("certs");
    assert!(certs.contains("BROKEN"), "{certs}");
    assert!(certs.contains("certs.toml:2: key `ca_file`"), "{certs}");
    assert!(certs.contains("corp-root.pem does not exist"), "{certs}");
    assert!(
        line_of("typo").contains("did you mean `username`?"),
        "{listing}"
    );
    let slow = line_of("slow");
    assert!(slow.contains("slow.toml:2: key `timeout_secs`"), "{slow}");
    assert!(slow.contains("timeout_secs = 30"), "{slow}");
    assert!(
        line_of("plain").contains("plain.toml:2: key `url`"),
        "{listing}"
    );

    let out = home.run(&["connect", "certs"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = home.run(&["status", "dve"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did you mean `dev`?"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_vault_key_is_called_damaged_and_kept() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let key = home.dirs.data.join("vault.key");
    let damaged = b"\xff\xfe not a key \x00";
    std::fs::write(&key, damaged).unwrap();

    for args in [
        &["cookies", "dev"][..],
        &["status", "dev"],
        &["connect", "dev"],
    ] {
        let out = home.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let said = format!("{}{}", stdout(&out), stderr(&out));
        assert!(said.contains("vault.key is damaged"), "{args:?}: {said}");
        assert!(said.contains("move it aside"), "{args:?}: {said}");
        assert!(said.contains("logged in again"), "{args:?}: {said}");
        assert!(!said.contains("permissions"), "{args:?}: {said}");
    }
    assert_eq!(std::fs::read(&key).unwrap(), damaged, "never replaced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_in_every_format_and_display_mode_are_complete() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let records = |extra: &[&str]| {
        let mut args = vec!["records", "dev", "incident"];
        args.extend(extra);
        let out = home.run(&args);
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", stderr(&out));
        stdout(&out)
    };

    // Both sides of a reference in CSV: the sys_id and the name, each in its column.
    let text = records(&[
        "--fields",
        "number,caller_id",
        "--display-value",
        "all",
        "--format",
        "csv",
        "-n",
        "3",
    ]);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "number",
            "number.display_value",
            "caller_id",
            "caller_id.display_value",
            "sys_id",
            "sys_id.display_value"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3, "{text}");
    for row in &rows {
        let caller = emu
            .control()
            .record("sys_user", &row[2])
            .unwrap_or_else(|| panic!("caller_id is a sys_user sys_id: {row:?}"));
        assert_eq!(caller["name"], row[3], "{row:?}");
        let incident = emu.control().record("incident", &row[4]).unwrap();
        assert_eq!(incident["number"], row[0], "{row:?}");
    }

    // Nothing matched: still well-formed, in every format.
    let none = ["--query", "number=INC_NONE"];
    let json = records(&[&none[..], &["--format", "json"]].concat());
    assert_eq!(json, "[]\n");
    assert_eq!(records(&[&none[..], &["--json"]].concat()), "[]\n");
    assert_eq!(records(&none), "", "ndjson: no lines");
    assert_eq!(
        records(&[&none[..], &["--format", "csv", "--fields", "number,state"]].concat()),
        "number,state,sys_id\n"
    );

    // --json is --format json: one array.
    let parsed: Vec<serde_json::Value> =
        serde_json::from_str(&records(&["--json", "-n", "2", "--fields", "number"])).unwrap();
    assert_eq!(parsed.len(), 2);
    // --help says what each format and mode gives.
    let help = stdout(&home.run(&["records", "--help"]));
    for said in [
        "caller_id.display_value",
        "`[]` when none matched",
        "{\"value\": ...",
    ] {
        assert!(help.contains(said), "--help lacks {said:?}:\n{help}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_head_prints_nothing_and_include_prints_the_headers_without_secrets() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let login = form_login(&emu, "itil.user", false).await;
    home.store_login(&login);
    let path = "/api/now/table/incident?sysparm_limit=1";

    let out = home.run(&["api", "dev", path, "-X", "HEAD"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "HEAD has no body to print");

    let out = home.run(&["api", "dev", path, "-X", "HEAD", "-i"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let head = stdout(&out);
    assert!(head.starts_with("HTTP/1.1 200 OK\n"), "{head}");
    assert!(head.contains("\nx-total-count: 50\n"), "{head}");
    assert!(
        head.ends_with("\n\n"),
        "a blank line ends the headers: {head:?}"
    );
    let stored = home.vault().load("dev").unwrap().unwrap();
    // The session's secrets (short values like glide_language's `en` say nothing).
    for cookie in stored.cookies().filter(|c| c.value.expose().len() >= 16) {
        assert!(
            !head.contains(cookie.value.expose()),
            "{} printed: {head}",
            cookie.name
        );
    }
    assert!(
        head.contains("set-cookie: glide_session_store=(hidden)"),
        "{head}"
    );

    let out = home.run(&["api", "dev", path, "-i"]);
    let text = stdout(&out);
    let body = text.split_once("\n\n").map(|(_, b)| b).unwrap_or_default();
    let reply: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(reply["result"].as_array().map(Vec::len), Some(1), "{text}");
}
