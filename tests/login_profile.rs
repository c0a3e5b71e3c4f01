//! What a browser login leaves outside the vault: the kept login profile's own cookie database
//! holds the identity provider's cookies (what the profile is kept for) and none of the
//! instance's, and trace logs hold neither the password nor any cookie value.
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::time::Duration;

use common::child::{Child, run_within};
use common::person::{Display, Person};
use common::{Home, emulator};
use snowbridge::browser::{Browser, Options};
use snowbridge::cookie::Cookie;
use snowbridge::secret::Secret;

/// Long enough for a browser start and a login on a slow machine; a hang fails the test.
const WITHIN: Duration = Duration::from_secs(120);

/// A password no log line would hold by chance.
const PASSWORD: &str = "Pw-7c1e93b5d2";

/// `(host_key, name)` of every cookie in the profile's database (Chromium closed).
fn cookies_in_profile(profile: &Path) -> Vec<(String, String)> {
    let db = ["Default/Cookies", "Default/Network/Cookies"]
        .iter()
        .map(|p| profile.join(p))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("Chromium wrote no cookie database in {}", profile.display()));
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut rows = conn
        .prepare("SELECT host_key, name FROM cookies ORDER BY host_key, name")
        .unwrap();
    rows.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_login_keeps_none_of_the_instances_cookies_in_its_profile() {
    common::require_browser();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let profile = home.dirs.login_profile("dev");
    // What the profile is kept for: an identity provider's "remember this device" cookie, set
    // by an earlier login (persistent, as real identity providers set it).
    let browser = Browser::launch(&Options {
        headless: Some(true),
        ..Options::new(&profile)
    })
    .await
    .expect("launch Chromium");
    browser
        .set_cookies(&[Cookie {
            name: "idp_device".into(),
            value: Secret::new("remembered-device"),
            domain: "localhost".into(),
            host_only: true,
            path: "/".into(),
            secure: false,
            http_only: true,
            same_site: None,
            expires: Some(time::OffsetDateTime::now_utc() + time::Duration::days(30)),
        }])
        .await
        .unwrap();
    browser.close().await.unwrap();

    let mut command = home.command(&["connect", "dev", "--login", "--headless"]);
    command.env("SNOWBRIDGE_PASSWORD", "snowbridge");
    let (status, _, stderr) = tokio::task::block_in_place(|| run_within(command, WITHIN));
    assert!(status.success(), "{stderr}");
    let stored = home.vault().load("dev").unwrap().expect("a stored session");
    assert!(
        stored.cookies().any(|c| c.name == "glide_user_session"),
        "remember-me cookies are in the vault"
    );

    let left = cookies_in_profile(&profile);
    let instance: Vec<_> = left
        .iter()
        .filter(|(host, _)| host == "127.0.0.1")
        .collect();
    assert!(
        instance.is_empty(),
        "the login profile keeps the instance's cookies: {instance:?}"
    );
    assert!(
        left.contains(&("localhost".into(), "idp_device".into())),
        "the identity provider's cookie stays: {left:?}"
    );
}

#[test]
fn trace_logs_of_a_headless_login_hold_no_password_and_no_cookie_value() {
    common::require_browser();
    let emu = emulator(|c| c.password = PASSWORD.into());
    let home = Home::new("dev", &emu);
    let mut command = home.command(&["connect", "dev", "--login", "--headless"]);
    command
        .env("SNOWBRIDGE_PASSWORD", PASSWORD)
        .env("SNOWBRIDGE_LOG", "trace");
    let (status, _, stderr) = run_within(command, WITHIN);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("TRACE") && stderr.contains("DEBUG"),
        "trace logging was on: {stderr}"
    );

    assert!(!stderr.contains(PASSWORD), "the password was logged");
    let stored = home.vault().load("dev").unwrap().expect("a stored session");
    let token = stored.user_token.as_ref().expect("g_ck stored");
    assert!(
        !stderr.contains(token.expose()),
        "the CSRF token was logged"
    );
    for cookie in stored.cookies() {
        let value = cookie.value.expose();
        // Values too short to be secret ("true", empty) would match anything.
        if value.len() >= 8 {
            assert!(
                !stderr.contains(value),
                "the value of {} was logged",
                cookie.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_sign_on_leaves_the_identity_providers_cookies_and_none_of_the_instances() {
    common::require_browser();
    let display = Display::start();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let mut command = home.command(&["connect", "dev", "--login", "--headed", "--timeout", "90"]);
    command.env("DISPLAY", display.name());
    let mut cli = Child::spawn(command);
    cli.wait_for_stderr("in the browser window", WITHIN);
    let profile = home.dirs.login_profile("dev");

    // The person signs in at the identity provider (host `localhost` on the emulator's port).
    let person = Person::attach(&profile, WITHIN).await;
    person.click("use_external_login").await;
    let idp = format!("localhost:{}", emu.port());
    let deadline = std::time::Instant::now() + WITHIN;
    while person.host().await != idp {
        assert!(
            std::time::Instant::now() < deadline,
            "the browser never reached the identity provider at {idp}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    person.type_into("idp_username", "sso.user").await;
    person.type_into("idp_password", "snowbridge").await;
    person.click("idp_login").await;
    let status = tokio::task::block_in_place(|| cli.wait(WITHIN));
    assert_eq!(status.code(), Some(0), "{}", cli.stderr());

    let left = cookies_in_profile(&profile);
    assert!(
        left.iter()
            .any(|(host, name)| host == "localhost" && name == "idp_session"),
        "the identity provider's session stays in the profile: {left:?}"
    );
    let instance: Vec<_> = left
        .iter()
        .filter(|(host, _)| host == "127.0.0.1")
        .collect();
    assert!(
        instance.is_empty(),
        "the login profile keeps the instance's cookies: {instance:?}"
    );
    let stored = home.vault().load("dev").unwrap().expect("a stored session");
    assert_eq!(stored.user.as_deref(), Some("sso.user"));
}
