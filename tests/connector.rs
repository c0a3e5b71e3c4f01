//! The connector core against the emulator: stored sessions, validation, the token dance,
//! rotated cookies, expiry and remember-me, through the library and the real CLI binary.

mod common;

use std::time::Duration;

use common::{Home, emulator, form_login, stderr, stdout};
use snowbridge::session::{Session, Validity};

fn api_calls(log: &[snowbridge::emulator::RequestInfo], path_start: &str) -> usize {
    log.iter()
        .filter(|r| r.path_and_query.starts_with(path_start))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_session_is_used_and_validated_and_the_window_skips_the_round_trip() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);

    let before = emu.control().request_log().len();
    let out = home.run(&["connect", "dev"]);
    assert!(out.status.success(), "connect failed: {}", stderr(&out));
    assert!(
        stdout(&out).contains("session valid for itil.user"),
        "{}",
        stdout(&out)
    );
    let log = emu.control().request_log();
    let checks: Vec<_> = log[before..]
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/now/table/sys_user"))
        .collect();
    assert_eq!(checks.len(), 1, "one validation call: {log:?}");
    assert_eq!(checks[0].status, 200);
    assert_eq!(checks[0].user.as_deref(), Some("itil.user"));

    // Within the window (default 60 s) the next connect trusts the last success.
    let before = emu.control().request_log().len();
    let out = home.run(&["connect", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        emu.control().request_log().len(),
        before,
        "no request within the validation window"
    );
    let status = home.run(&["status", "dev", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "valid");
    assert_eq!(rows[0]["user"], "itil.user");
    assert!(rows[0]["last_validated"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_dance_fetches_a_token_and_keeps_it() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let mut login = form_login(&emu, "itil.user", false).await;
    let real_token = login.user_token.take().unwrap();
    home.store_login(&login); // a session without its CSRF token

    let out = home.run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["result"].as_array().unwrap().len(), 1);
    let log = emu.control().request_log();
    let statuses: Vec<u16> = log
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/now/table/incident"))
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        vec![401, 200],
        "401 without the token, then 200 with it"
    );
    let stored = home.vault().load("dev").unwrap().unwrap();
    assert_eq!(stored.user_token.unwrap().expose(), real_token.expose());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_the_instance_rotates_end_up_in_the_vault() {
    let emu = emulator(|c| c.rotate_session_store = true);
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let out = home.run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let issued = emu.control().issued_session_store();
    let stored = home.vault().load("dev").unwrap().unwrap();
    let value = stored
        .cookies()
        .find(|c| c.name == "glide_session_store")
        .map(|c| c.value.expose().to_owned());
    assert_eq!(value.as_deref(), issued.last().map(String::as_str));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_timed_out_on_the_instance_means_login_required() {
    let emu = emulator(|c| c.ui_session_timeout_secs = 60);
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    emu.control().advance_clock(Duration::from_secs(61));

    for args in [
        vec!["connect", "dev"],
        vec!["api", "dev", "/api/now/table/incident?sysparm_limit=1"],
    ] {
        // Force a round trip: the window must not hide an instance-side expiry it never saw.
        let out = home.run(&args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("snowbridge connect dev --login"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let status = home.run(&["status", "dev", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remember_me_revives_a_timed_out_session_and_the_new_cookies_are_stored() {
    let emu = emulator(|c| c.ui_session_timeout_secs = 60);
    let home = Home::new("dev", &emu);
    let stored = home.store_login(&form_login(&emu, "itil.user", true).await);
    let old = stored
        .cookies()
        .find(|c| c.name == "JSESSIONID")
        .unwrap()
        .value
        .clone();
    emu.control().advance_clock(Duration::from_secs(120));

    let out = home.run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = home.vault().load("dev").unwrap().unwrap();
    let new = after
        .cookies()
        .find(|c| c.name == "JSESSIONID")
        .unwrap()
        .value
        .clone();
    assert_ne!(new, old, "a new session id was issued and kept");
    let live: Vec<String> = emu.control().sessions().into_iter().map(|s| s.id).collect();
    assert!(
        live.contains(&new.expose().to_owned()),
        "the stored id is the live one"
    );
    // And the next process uses it without another revival.
    let out = home.run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = home.vault().load("dev").unwrap().unwrap();
    assert_eq!(
        again
            .cookies()
            .find(|c| c.name == "JSESSIONID")
            .unwrap()
            .value,
        new
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vault_file_is_private_sealed_and_read_by_the_next_run() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let login = form_login(&emu, "itil.user", false).await;
    home.store_login(&login);
    let out = home.run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let path = home.vault_path();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "vault mode");
    }
    let bytes = common::bytes(&path);
    let record = home.vault().load("dev").unwrap().unwrap();
    let mut secrets: Vec<String> = record
        .cookies()
        .map(|c| c.value.expose().to_owned())
        .filter(|v| v.len() >= 6)
        .collect();
    secrets.push(record.user_token.clone().unwrap().expose().to_owned());
    assert!(secrets.len() >= 3);
    for secret in &secrets {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret is readable in the vault file"
        );
    }
    for name in ["JSESSIONID", "glide_session_store", "itil.user"] {
        assert!(!bytes.windows(name.len()).any(|w| w == name.as_bytes()));
    }
    // A later process reads what an earlier one wrote.
    let out = home.run(&["cookies", "dev", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let export: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let jsession = export["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "JSESSIONID")
        .unwrap();
    assert_eq!(
        jsession["value"],
        login
            .cookies
            .iter()
            .find(|c| c.name == "JSESSIONID")
            .unwrap()
            .value
            .expose()
    );
    assert_eq!(jsession["httpOnly"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_vault_and_one_under_another_key_say_so_and_are_kept() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let path = home.vault_path();

    // Corrupted: a byte flipped in the sealed payload.
    let mut damaged = common::bytes(&path);
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    std::fs::write(&path, &damaged).unwrap();
    for args in [
        vec!["connect", "dev"],
        vec!["api", "dev", "/api/now/table/incident"],
    ] {
        let out = home.run(&args);
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("connect dev --login"),
            "{}",
            stderr(&out)
        );
        assert_eq!(common::bytes(&path), damaged, "the file is left as it was");
    }

    // Sealed under another key: the key file replaced.
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let sealed = common::bytes(&path);
    std::fs::write(
        home.dirs.data.join("vault.key"),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    )
    .unwrap();
    let out = home.run(&["connect", "dev"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("different key"), "{}", stderr(&out));
    assert_eq!(common::bytes(&path), sealed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_through_the_library_classifies_the_session() {
    let emu = emulator(|c| c.ui_session_timeout_secs = 60);
    let home = Home::new("dev", &emu);
    let record = home.store_login(&form_login(&emu, "itil.user", false).await);
    let session = Session::from_record(&home.instance(), home.vault(), record.clone()).unwrap();
    assert_eq!(
        session.validate(true).await,
        Validity::Valid { checked: true }
    );
    assert_eq!(
        session.validate(false).await,
        Validity::Valid { checked: false }
    );
    emu.control().advance_clock(Duration::from_secs(61));
    assert!(matches!(session.validate(true).await, Validity::Expired(_)));
    session.save().unwrap();
    assert!(
        home.vault()
            .load("dev")
            .unwrap()
            .unwrap()
            .expired_at
            .is_some()
    );
    drop(emu);
    let session = Session::from_record(&home.instance(), home.vault(), record).unwrap();
    assert!(matches!(
        session.validate(true).await,
        Validity::Unreachable(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_session_names_the_command_to_run() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let out = home.run(&["connect", "dev"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("snowbridge connect dev --login"));
    let out = home.run(&["status", "dev", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["state"], "missing");
    assert_eq!(api_calls(&emu.control().request_log(), "/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_on_the_instance_and_deletes_it() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let login = form_login(&emu, "itil.user", false).await;
    home.store_login(&login);
    let id = login
        .cookies
        .iter()
        .find(|c| c.name == "JSESSIONID")
        .unwrap()
        .value
        .expose()
        .to_owned();
    assert!(emu.control().sessions().iter().any(|s| s.id == id));

    let out = home.run(&["logout", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("ended on the instance"),
        "{}",
        stdout(&out)
    );
    assert!(
        !emu.control().sessions().iter().any(|s| s.id == id),
        "the instance ended it"
    );
    assert!(!home.vault_path().exists(), "the stored session is gone");

    // An unreadable file is still the user's to delete.
    std::fs::write(home.vault_path(), b"not a vault").unwrap();
    let out = home.run(&["logout", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!home.vault_path().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_cookies_work_for_curl() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let jar = home.root.path().join("cookies.txt");
    let headers = home.root.path().join("headers.txt");
    let out = home.run(&["cookies", "dev", "--format", "netscape"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(&jar, &out.stdout).unwrap();
    let out = home.run(&["cookies", "dev", "--format", "header"]);
    std::fs::write(&headers, &out.stdout).unwrap();
    assert!(stdout(&out).starts_with("Cookie: "), "{}", stdout(&out));
    let url = emu
        .url()
        .join("api/now/table/incident?sysparm_limit=1")
        .unwrap();
    for args in [
        vec![
            "-fsS".to_owned(),
            "-b".into(),
            jar.display().to_string(),
            "-H".into(),
            format!(
                "X-UserToken: {}",
                home.vault()
                    .load("dev")
                    .unwrap()
                    .unwrap()
                    .user_token
                    .unwrap()
                    .expose()
            ),
            url.to_string(),
        ],
        vec![
            "-fsS".to_owned(),
            "-H".into(),
            format!("@{}", headers.display()),
            url.to_string(),
        ],
    ] {
        let curl = std::process::Command::new("curl")
            .args(&args)
            .output()
            .expect("curl runs (apt-get install curl)");
        assert!(
            curl.status.success(),
            "curl with the exported session: {}",
            String::from_utf8_lossy(&curl.stderr)
        );
        let reply: serde_json::Value = serde_json::from_slice(&curl.stdout).unwrap();
        assert_eq!(reply["result"].as_array().unwrap().len(), 1);
    }
}

#[test]
fn a_broken_instance_file_names_the_file_the_line_and_the_key() {
    let emu = emulator(|_| {});
    let home = Home::with_extra("dev", &emu, "fallbak = \"auto\"\n");
    let out = home.run(&["connect", "dev"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(text.contains("dev.toml:4"), "{text}");
    assert!(text.contains("fallbak"), "{text}");
    assert!(text.contains("did you mean `fallback`?"), "{text}");
    let out = home.run(&["instances"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("BROKEN"), "{}", stdout(&out));

    std::fs::write(
        home.dirs.user_instances().join("web.toml"),
        "url = \"http://acme.service-now.com\"\n",
    )
    .unwrap();
    let out = home.run(&["connect", "web"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("key `url`"), "{}", stderr(&out));
    assert!(stderr(&out).contains("https"), "{}", stderr(&out));
}

#[test]
fn a_login_timeout_past_any_clock_is_a_usage_error_not_a_panic() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let out = home.run(&[
        "connect",
        "dev",
        "--login",
        "--timeout",
        "18446744073709551615",
    ]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(text.contains("--timeout"), "{text}");
    assert!(text.contains("604800"), "the allowed range: {text}");
}

#[test]
fn a_cookie_value_with_a_line_break_adds_no_line_to_the_exports() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let url = home.instance().url;
    let cookie = |name: &str, value: &str| snowbridge::cookie::Cookie {
        name: name.into(),
        value: snowbridge::secret::Secret::new(value),
        domain: url.host_str().unwrap().into(),
        host_only: true,
        path: "/".into(),
        secure: false,
        http_only: true,
        same_site: None,
        expires: None,
    };
    let record = snowbridge::vault::SessionRecord::new(
        "dev",
        &url,
        snowbridge::vault::Obtained::FormLogin,
        vec![
            cookie("JSESSIONID", "S1"),
            cookie("injected", "x\n127.0.0.1\tFALSE\t/\tFALSE\t0\tadmin\ttrue"),
            cookie("split", "1\r\nX-Evil: yes"),
        ],
    );
    home.vault().store(&record).unwrap();

    let out = home.run(&["cookies", "dev", "--format", "netscape"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| !l.starts_with("# "))
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].ends_with("\tJSESSIONID\tS1"), "{lines:?}");
    let warned = stderr(&out);
    assert!(warned.contains("\"injected\""), "{warned}");
    assert!(!warned.contains("admin"), "no value is echoed: {warned}");

    let out = home.run(&["cookies", "dev", "--format", "header"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim_end(), "Cookie: JSESSIONID=S1");
    assert!(stderr(&out).contains("\"split\""), "{}", stderr(&out));

    let out = home.run(&["cookies", "dev", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["cookies"].as_array().unwrap().len(),
        3,
        "JSON carries all"
    );
}
