//! End to end with a real headless Chromium (`--password-store=basic`, so every value is `v10`):
//! a local server sets cookies with different attributes, Chromium quits cleanly, and the
//! import must give back exactly what the server set, attribute for attribute.

mod chrome_support;

use chrome_support::{
    Chromium, SetCookie, assert_same_cookies, in_days, serve_cookies, stored_prefixes,
};
use snowbridge::cookie::SameSite;
use snowbridge::obtain::chrome::{Browser, Source, import};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_set_in_a_real_chromium_import_exactly() {
    // 127.0.0.1: host-only cookies of every kind.
    let sid = SetCookie {
        http_only: true,
        ..SetCookie::new("sid")
    };
    let pref = SetCookie {
        same_site: Some(SameSite::Lax),
        expires: Some(in_days(30)),
        ..SetCookie::new("pref")
    };
    let strict = SetCookie {
        http_only: true,
        same_site: Some(SameSite::Strict),
        expires: Some(in_days(2)),
        ..SetCookie::new("strict")
    };
    let secure = SetCookie {
        secure: true,
        same_site: Some(SameSite::None),
        expires: Some(in_days(5)),
        ..SetCookie::new("sec")
    };
    let api = SetCookie {
        path: "/api",
        ..SetCookie::new("api")
    };
    // acme.snowbridge.test (mapped to 127.0.0.1): a domain cookie and a host-only one.
    let route = SetCookie {
        domain: Some("snowbridge.test"),
        http_only: true,
        expires: Some(in_days(10)),
        ..SetCookie::new("glide_user_route")
    };
    let jsession = SetCookie {
        http_only: true,
        ..SetCookie::new("JSESSIONID")
    };
    // other.snowbridge.test: its host-only cookie is not acme's; its domain cookie is.
    let other = SetCookie::new("other_sid");
    let shared = SetCookie {
        domain: Some("snowbridge.test"),
        same_site: Some(SameSite::Lax),
        ..SetCookie::new("shared")
    };

    let port = serve_cookies(vec![
        vec![
            sid.clone(),
            pref.clone(),
            strict.clone(),
            secure.clone(),
            api.clone(),
        ],
        vec![route.clone(), jsession.clone()],
        vec![other.clone(), shared.clone()],
    ])
    .await;
    let profile = tempfile::tempdir().unwrap();
    let browser = Chromium::launch(
        profile.path(),
        &[
            "--password-store=basic".into(),
            "--host-resolver-rules=MAP *.snowbridge.test 127.0.0.1".into(),
        ],
    )
    .await;
    browser
        .visit(&format!("http://127.0.0.1:{port}/set/0"))
        .await;
    browser
        .visit(&format!("http://acme.snowbridge.test:{port}/set/1"))
        .await;
    browser
        .visit(&format!("http://other.snowbridge.test:{port}/set/2"))
        .await;
    browser.quit().await;

    let db = profile.path().join("Default/Cookies");
    let prefixes = stored_prefixes(&db);
    assert_eq!(prefixes.len(), 9, "Chromium stored {prefixes:?}");
    assert!(
        prefixes.iter().all(|(_, p)| p == "v10"),
        "with the basic store every value is v10: {prefixes:?}"
    );

    let source = Source {
        browser: Browser::Chromium,
        profile: None,
        user_data_dir: Some(profile.path().to_path_buf()),
    };
    let local = "127.0.0.1";

    let root = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let got = import(&source, &root, false).await.unwrap();
    assert_eq!(got.report.meta_version, 24);
    assert_eq!(got.profile.as_ref().unwrap().dir, "Default");
    assert_eq!(got.database, db);
    assert!(got.report.undecryptable.is_empty(), "{}", got.report);
    // The /api cookie is not sent to /.
    assert_same_cookies(
        got.cookies,
        vec![
            sid.expected(local),
            pref.expected(local),
            strict.expected(local),
            secure.expected(local),
        ],
    );
    assert_eq!(got.report.found, 4);
    assert_eq!(got.report.imported, 4);

    let api_url =
        url::Url::parse(&format!("http://127.0.0.1:{port}/api/now/table/incident")).unwrap();
    let got = import(&source, &api_url, false).await.unwrap();
    assert_eq!(got.cookies.len(), 5, "{}", got.report);
    assert_eq!(got.cookies[0].name, "api", "longest path first");
    assert_same_cookies(vec![got.cookies[0].clone()], vec![api.expected(local)]);

    let acme = url::Url::parse(&format!("http://acme.snowbridge.test:{port}/")).unwrap();
    let got = import(&source, &acme, false).await.unwrap();
    assert_same_cookies(
        got.cookies,
        vec![
            route.expected("acme.snowbridge.test"),
            jsession.expected("acme.snowbridge.test"),
            shared.expected("other.snowbridge.test"),
        ],
    );
    assert_eq!(got.report.to_string().lines().count(), 1);
}
