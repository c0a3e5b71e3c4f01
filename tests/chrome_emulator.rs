//! The Chrome import end to end: a real headless Chromium (`--password-store=basic`, its own
//! profile folder) logs in to the emulator with "Remember me" and quits; `import-chrome` on that
//! folder gives a session that validates and makes a REST call, holding exactly the cookies the
//! emulator set.

mod common;

use std::collections::BTreeMap;

use common::browser_form::log_in;
use common::{Home, emulator, stderr};
use snowbridge::browser::{Browser, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_logged_in_by_chromium_is_imported_and_works() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let profile = tempfile::tempdir().unwrap();

    let browser = Browser::launch(&Options {
        headless: Some(true),
        ..Options::new(profile.path().join("chromium"))
    })
    .await
    .expect("launch Chromium (apt-get install chromium chromium-driver)");
    log_in(&browser, &emu.url(), "itil.user", "snowbridge").await;
    // What the emulator set, as the browser holds it right now.
    let set: BTreeMap<String, String> = browser
        .all_cookies()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.domain == "127.0.0.1")
        .map(|c| (c.name, c.value.expose().to_owned()))
        .collect();
    browser.close().await.unwrap(); // Chrome writes its cookie database as it quits

    assert!(
        set.contains_key("glide_user_session"),
        "remember-me cookies were set: {set:?}"
    );
    let live: Vec<String> = emu.control().sessions().into_iter().map(|s| s.id).collect();
    assert!(
        live.contains(&set["JSESSIONID"]),
        "the browser holds the emulator's live session"
    );

    let listed = home.run(&[
        "import-chrome",
        "--list",
        "--browser",
        "chromium",
        "--user-data-dir",
        profile.path().join("chromium").to_str().unwrap(),
    ]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let text = common::stdout(&listed);
    assert!(text.contains("Default"), "{text}");
    assert!(text.contains("Cookies"), "the cookie file is shown: {text}");

    let out = home.run(&[
        "import-chrome",
        "dev",
        "--browser",
        "chromium",
        "--user-data-dir",
        profile.path().join("chromium").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "import failed: {}", stderr(&out));
    assert!(
        common::stdout(&out).contains("Imported"),
        "{}",
        common::stdout(&out)
    );

    let record = home
        .vault()
        .load("dev")
        .unwrap()
        .expect("the import was stored");
    let imported: BTreeMap<String, String> = record
        .cookies()
        .map(|c| (c.name.clone(), c.value.expose().to_owned()))
        .collect();
    // Everything the emulator set, name for name and value for value (the emulator re-sends
    // glide_session_store on every reply, so the validation call may have refreshed it).
    for (name, value) in &set {
        let got = imported
            .get(name)
            .unwrap_or_else(|| panic!("{name} was not imported"));
        if name != "glide_session_store" {
            assert_eq!(got, value, "{name}");
        }
    }
    assert!(record.user_token.is_some(), "the token dance fetched g_ck");
    assert!(matches!(
        record.obtained,
        snowbridge::vault::Obtained::ChromeImport { .. }
    ));

    let out = home.run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]);
    assert!(
        out.status.success(),
        "REST with the imported session: {}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_imports_on_its_own_when_the_instance_names_a_profile() {
    let emu = emulator(|_| {});
    let profile = tempfile::tempdir().unwrap();
    let dir = profile.path().join("chromium");
    let home = Home::with_extra(
        "dev",
        &emu,
        &format!(
            "import_chrome = {{ browser = \"chromium\", user_data_dir = {:?} }}\n",
            dir.display().to_string()
        ),
    );
    // Nothing stored and nothing to import yet: login required, and the report says why.
    std::fs::create_dir_all(&dir).unwrap();
    let out = home.run(&["connect", "dev"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    let browser = Browser::launch(&Options {
        headless: Some(true),
        ..Options::new(&dir)
    })
    .await
    .unwrap();
    log_in(&browser, &emu.url(), "itil.user", "snowbridge").await;
    browser.close().await.unwrap();

    let out = home.run(&["connect", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        common::stdout(&out).contains("imported from Chrome"),
        "{}",
        common::stdout(&out)
    );
    let out = home.run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
