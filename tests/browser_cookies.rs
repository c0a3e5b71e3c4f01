//! The cookie bridge against a real Chromium: what a server sets is read back browser-wide with
//! every attribute, and cookies put into a fresh browser reach exactly the hosts they should.

mod browser_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use browser_support::{APP_HOST, DOMAIN, OTHER_HOST, Server, options, require_browser};
use snowbridge::ErrorKind;
use snowbridge::browser::{Browser, Wait};
use snowbridge::cookie::{Cookie, SameSite};
use snowbridge::secret::Secret;
use time::OffsetDateTime;

fn by_name(cookies: &[Cookie]) -> BTreeMap<&str, &Cookie> {
    cookies.iter().map(|c| (c.name.as_str(), c)).collect()
}

fn cookie(name: &str, value: &str, domain: &str, host_only: bool) -> Cookie {
    Cookie {
        name: name.into(),
        value: Secret::new(value),
        domain: domain.into(),
        host_only,
        path: "/".into(),
        secure: false,
        http_only: false,
        same_site: None,
        expires: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_the_server_set_are_read_back_with_every_attribute() {
    require_browser();
    let server = Server::start().await;
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::launch(&options(profile.path())).await.unwrap();
    let client = browser.client();
    client
        .goto(&server.url("localhost", "/set-local"))
        .await
        .unwrap();
    client
        .goto(&server.url(APP_HOST, "/set-domain"))
        .await
        .unwrap();
    let before = OffsetDateTime::now_utc();

    // Page scripts cannot see HttpOnly cookies; the browser-wide read must.
    client.goto(&server.url("localhost", "/")).await.unwrap();
    let script_view = client
        .execute("return document.cookie", vec![])
        .await
        .unwrap();
    assert!(!script_view.as_str().unwrap().contains("sid="));

    let cookies = browser.all_cookies().await.unwrap();
    let found = by_name(&cookies);
    assert_eq!(
        found.keys().copied().collect::<Vec<_>>(),
        ["glide", "node", "plain", "pref", "sid", "tok"],
        "{cookies:#?}"
    );

    let sid = found["sid"];
    assert_eq!(sid.value.expose(), "S1-session");
    assert_eq!((sid.domain.as_str(), sid.host_only), ("localhost", true));
    assert_eq!(sid.path, "/");
    assert!(sid.http_only && !sid.secure);
    assert_eq!(sid.same_site, Some(SameSite::Strict));
    assert!(sid.is_session());

    let pref = found["pref"];
    assert_eq!(pref.value.expose(), "P1-persistent");
    assert_eq!(pref.same_site, Some(SameSite::Lax));
    assert!(!pref.http_only && !pref.secure && pref.host_only);
    let expires = pref.expires.expect("Max-Age makes a persistent cookie");
    let expected = before + time::Duration::seconds(3600);
    assert!(
        (expires - expected).abs() < time::Duration::seconds(60),
        "expires {expires}, expected about {expected}"
    );

    let tok = found["tok"];
    assert_eq!(tok.value.expose(), "T1-secure");
    assert_eq!(tok.path, "/api");
    assert!(tok.secure && tok.http_only && tok.host_only);
    assert_eq!(tok.same_site, Some(SameSite::None));

    let plain = found["plain"];
    assert_eq!(plain.same_site, None);
    assert!(!plain.http_only && !plain.secure && plain.is_session());

    let glide = found["glide"];
    assert_eq!(glide.value.expose(), "G1-domain");
    assert_eq!((glide.domain.as_str(), glide.host_only), (DOMAIN, false));
    assert!(glide.http_only);
    assert_eq!(glide.same_site, Some(SameSite::Lax));
    assert!(glide.expires.is_some());

    let node = found["node"];
    assert_eq!((node.domain.as_str(), node.host_only), (APP_HOST, true));

    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_cookies_reach_exactly_the_hosts_they_belong_to() {
    require_browser();
    let server = Server::start().await;
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::launch(&options(profile.path())).await.unwrap();

    // Chrome keeps expiry to the microsecond; whole seconds are what servers send.
    let in_an_hour = (OffsetDateTime::now_utc() + time::Duration::hours(1))
        .replace_nanosecond(0)
        .unwrap();
    let seed = vec![
        Cookie {
            http_only: true,
            same_site: Some(SameSite::Strict),
            ..cookie("JSESSIONID", "j-1", "localhost", true)
        },
        Cookie {
            secure: true,
            http_only: true,
            path: "/api".into(),
            expires: Some(in_an_hour),
            ..cookie("api_tok", "a-2", "localhost", true)
        },
        // SameSite=None without Secure: Chrome would drop it, so it goes in unspecified.
        Cookie {
            same_site: Some(SameSite::None),
            ..cookie("lax_none", "n-3", "localhost", true)
        },
        Cookie {
            http_only: true,
            expires: Some(in_an_hour),
            ..cookie("glide_user", "g-4", DOMAIN, false)
        },
        cookie("node_only", "h-5", APP_HOST, true),
        Cookie {
            expires: Some(OffsetDateTime::now_utc() - time::Duration::hours(1)),
            ..cookie("stale", "old", "localhost", true)
        },
    ];
    browser.set_cookies(&seed).await.unwrap();

    let client = browser.client();
    for (host, path) in [
        ("localhost", "/"),
        ("localhost", "/api/now"),
        ("127.0.0.1", "/"),
        (APP_HOST, "/"),
        (OTHER_HOST, "/"),
    ] {
        client.goto(&server.url(host, path)).await.unwrap();
    }
    let sent = |host, path| {
        let seen = server.last(host, path);
        seen.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(sent("localhost", "/"), ["JSESSIONID=j-1", "lax_none=n-3"]);
    assert_eq!(
        sent("localhost", "/api/now"),
        ["JSESSIONID=j-1", "api_tok=a-2", "lax_none=n-3"]
    );
    // Host-only cookies for localhost are not sent to 127.0.0.1, though both are this server.
    assert!(sent("127.0.0.1", "/").is_empty());
    assert_eq!(sent(APP_HOST, "/"), ["glide_user=g-4", "node_only=h-5"]);
    // The domain cookie reaches a sibling host; the host-only one does not.
    assert_eq!(sent(OTHER_HOST, "/"), ["glide_user=g-4"]);

    // Read back, the cookies keep what they were seeded with.
    let cookies = browser.all_cookies().await.unwrap();
    let found = by_name(&cookies);
    assert!(!found.contains_key("stale"));
    let api = found["api_tok"];
    assert!(api.secure && api.http_only && api.host_only);
    assert_eq!(api.path, "/api");
    assert_eq!(api.expires, Some(in_an_hour));
    let glide = found["glide_user"];
    assert_eq!((glide.domain.as_str(), glide.host_only), (DOMAIN, false));
    assert_eq!(found["JSESSIONID"].same_site, Some(SameSite::Strict));
    assert_eq!(found["lax_none"].same_site, None);

    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_chrome_refuses_are_reported_by_name() {
    require_browser();
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::launch(&options(profile.path())).await.unwrap();
    // A domain cookie on a public suffix is refused by Chrome without an error of its own.
    let refused = cookie("on_a_tld", "x", "com", false);
    let kept = cookie("fine", "y", "localhost", true);
    let err = browser.set_cookies(&[kept, refused]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Browser);
    assert!(err.message().contains("on_a_tld"), "{err}");
    assert!(!err.message().contains("fine"), "{err}");
    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_agent_is_the_one_the_server_sees() {
    require_browser();
    let server = Server::start().await;
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::launch(&options(profile.path())).await.unwrap();
    browser
        .client()
        .goto(&server.url("localhost", "/ua"))
        .await
        .unwrap();
    let ua = browser.user_agent().await.unwrap();
    assert_eq!(ua, server.last("localhost", "/ua").user_agent);
    assert!(ua.contains("Chrome/"), "{ua}");
    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_hold_the_url_the_page_and_a_screenshot() {
    require_browser();
    let server = Server::start().await;
    let profile = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let browser = Browser::launch(&options(profile.path())).await.unwrap();
    let url = server.url("localhost", "/incident/form");
    browser.client().goto(&url).await.unwrap();

    let folder = browser
        .diagnose(&out.path().join("diag"), "attach fallback")
        .await
        .unwrap();
    assert!(folder.starts_with(out.path().join("diag")));
    assert!(folder.to_string_lossy().ends_with("attach_fallback"));
    let saved_url = std::fs::read_to_string(folder.join("url.txt")).unwrap();
    assert_eq!(saved_url.trim(), url);
    let html = std::fs::read_to_string(folder.join("page.html")).unwrap();
    assert!(html.contains("marker /incident/form"), "{html}");
    let png = std::fs::read(folder.join("screenshot.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(!folder.join("errors.txt").exists());
    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_window_ends_a_wait_as_closed() {
    require_browser();
    let server = Server::start().await;
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::launch(&options(profile.path())).await.unwrap();
    let client = browser.client();
    client
        .goto(&server.url("localhost", "/login"))
        .await
        .unwrap();

    // The condition holds: the wait ends with what it found.
    let deadline = Instant::now() + Duration::from_secs(30);
    let title = browser
        .wait_for(deadline, |c| async move { c.title().await.map(Some) })
        .await
        .unwrap();
    assert_eq!(title, Wait::Ready("snowbridge test".to_string()));

    // A condition that never holds times out.
    let soon = Instant::now() + Duration::from_millis(500);
    let never = browser
        .wait_for(soon, |_| async { Ok(None::<()>) })
        .await
        .unwrap();
    assert_eq!(never, Wait::TimedOut);

    // The person closes the window while we wait for the login to finish.
    client.close_window().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let outcome = browser
        .wait_for(deadline, |c| async move {
            let url = c.current_url().await?;
            Ok(url.path().starts_with("/home").then_some(url))
        })
        .await
        .unwrap();
    assert_eq!(outcome, Wait::Closed);
    let err = outcome.into_result("the login").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    browser.close().await.unwrap();
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_went_away_is_closed_not_failed() {
    require_browser();
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::launch(&options(profile.path())).await.unwrap();
    let pid = browser
        .chrome_pid()
        .expect("chromedriver reports Chrome's pid");
    // As when the person quits Chrome: the whole browser goes.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let outcome = browser
        .wait_for(deadline, |c| async move {
            c.title().await?;
            Ok(None::<()>)
        })
        .await
        .unwrap();
    assert_eq!(outcome, Wait::Closed);
    let err = browser.all_cookies().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err:?}");
    browser.close().await.unwrap();
}
