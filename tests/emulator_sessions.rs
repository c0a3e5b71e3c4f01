//! Sessions on the wire: the REST token dance, unauthenticated replies, idle timeouts on the
//! virtual clock, remember-me, `glide_session_store`, integration sessions and bearer tokens.

#[path = "common/emu_client.rs"]
mod emu_client;

use std::time::Duration;

use emu_client::{Browser, basic, header, location, set_cookie, set_cookies, start};
use reqwest::Method;
use serde_json::Value;
use snowbridge::emulator::{Emulator, EmulatorConfig, SessionKind};

const NOT_AUTHENTICATED: &str = r#"{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}"#;

#[tokio::test]
async fn rest_without_credentials_gets_the_exact_401() {
    let emu = start(1);
    let response = emu_client::client()
        .get(emu.url().join("/api/now/table/incident").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let h = response.headers().clone();
    assert_eq!(
        header(&h, "www-authenticate").as_deref(),
        Some("BASIC realm=\"Service-now\"")
    );
    assert_eq!(
        header(&h, "content-type").as_deref(),
        Some("application/json;charset=UTF-8")
    );
    assert_eq!(header(&h, "x-is-logged-in").as_deref(), Some("false"));
    assert_eq!(header(&h, "server").as_deref(), Some("ServiceNow"));
    assert!(header(&h, "x-transaction-id").is_some());
    let body: Value = response.json().await.unwrap();
    let expected: Value = serde_json::from_str(NOT_AUTHENTICATED).unwrap();
    assert_eq!(body, expected);

    // A wrong Basic password gets the same.
    let wrong = emu_client::client()
        .get(emu.url().join("/api/now/table/incident").unwrap())
        .basic_auth("admin", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.json::<Value>().await.unwrap(), expected);
}

#[tokio::test]
async fn rest_with_cookies_needs_the_session_token() {
    let emu = start(3);
    let mut browser = Browser::new(emu.url());
    let g_ck = browser.login("itil.user", "snowbridge", false).await;
    let path = "/api/now/table/incident?sysparm_limit=1";

    let missing = browser.api(Method::GET, path, None, None).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(
        header(missing.headers(), "x-is-logged-in").as_deref(),
        Some("true")
    );
    assert_eq!(
        header(missing.headers(), "x-usertoken-response").as_deref(),
        Some(g_ck.as_str())
    );

    let stale = browser.api(Method::GET, path, Some("0123"), None).await;
    assert_eq!(stale.status(), 401);
    assert_eq!(
        header(stale.headers(), "x-usertoken-response").as_deref(),
        Some(g_ck.as_str())
    );

    let ok = browser.api(Method::GET, path, Some(&g_ck), None).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        header(ok.headers(), "x-is-logged-in").as_deref(),
        Some("true")
    );
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["result"].as_array().unwrap().len(), 1);

    // The request log names the user for the call that got through only.
    let log = emu.control().request_log();
    let api: Vec<_> = log.iter().filter(|r| r.path_and_query == path).collect();
    assert_eq!(
        api.iter().map(|r| r.status).collect::<Vec<_>>(),
        [401, 401, 200]
    );
    assert_eq!(api[2].user.as_deref(), Some("itil.user"));
}

#[tokio::test]
async fn idle_sessions_die_on_the_virtual_clock() {
    let emu = start(1);
    let control = emu.control();
    let mut browser = Browser::new(emu.url());
    let g_ck = browser.login("itil.user", "snowbridge", false).await;
    let path = "/api/now/table/sys_user?sysparm_limit=1";

    control.advance_clock(Duration::from_secs(1700));
    assert_eq!(
        browser
            .api(Method::GET, path, Some(&g_ck), None)
            .await
            .status(),
        200,
        "still alive after 28 min idle"
    );
    control.advance_clock(Duration::from_secs(1700));
    assert_eq!(
        browser.get("/navpage.do").await.status(),
        200,
        "each request restarts the idle time"
    );

    control.advance_clock(Duration::from_secs(1801));
    assert!(control.sessions().is_empty());
    let dead = browser.api(Method::GET, path, Some(&g_ck), None).await;
    assert_eq!(dead.status(), 401);
    assert_eq!(
        header(dead.headers(), "x-is-logged-in").as_deref(),
        Some("false")
    );
    assert!(header(dead.headers(), "x-usertoken-response").is_none());
    let ui = browser.get("/navpage.do").await;
    assert_eq!(ui.status(), 302);
    assert!(location(ui.headers()).starts_with("/login.do"));
}

#[tokio::test]
async fn integration_sessions_time_out_after_five_minutes() {
    let emu = start(1);
    let control = emu.control();
    let response = basic(
        &emu,
        Method::GET,
        "/api/now/table/sys_user?sysparm_limit=1",
        "admin",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers();
    // Like the real reply: a session, and emptied remember-me cookies.
    assert!(set_cookie(h, "JSESSIONID").is_some());
    assert_eq!(set_cookie(h, "glide_user").unwrap().max_age, Some(0));
    assert_eq!(
        set_cookie(h, "glide_user_session").unwrap().max_age,
        Some(0)
    );
    let sessions = control.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].kind, SessionKind::Integration);
    control.advance_clock(Duration::from_secs(301));
    assert!(control.sessions().is_empty());
}

#[tokio::test]
async fn basic_calls_reuse_their_session_when_the_cookie_comes_back() {
    let emu = start(1);
    let mut jar = emu_client::Jar::default();
    for _ in 0..3 {
        let response = basic(
            &emu,
            Method::GET,
            "/api/now/table/sys_user?sysparm_limit=1",
            "admin",
        )
        .header("Cookie", jar.header())
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        jar.absorb(response.headers());
    }
    assert_eq!(emu.control().sessions().len(), 1);
    // Without the cookie, every call opens another integration session, as on instances.
    for _ in 0..2 {
        basic(
            &emu,
            Method::GET,
            "/api/now/table/sys_user?sysparm_limit=1",
            "admin",
        )
        .send()
        .await
        .unwrap();
    }
    assert_eq!(emu.control().sessions().len(), 3);
}

#[tokio::test]
async fn remember_me_recreates_a_dead_session() {
    let emu = start(1);
    let control = emu.control();
    let mut browser = Browser::new(emu.url());
    let old_token = browser.login("itil.user", "snowbridge", true).await;
    let old_session = browser.jar.get("JSESSIONID").unwrap().to_string();

    control.advance_clock(Duration::from_secs(2 * 3600));
    assert!(control.sessions().is_empty(), "the session timed out");

    // A UI page just works: a new JSESSIONID and g_ck, for the same user.
    let page = browser.get("/navpage.do").await;
    assert_eq!(page.status(), 200);
    let new_session = set_cookie(page.headers(), "JSESSIONID")
        .expect("a fresh JSESSIONID")
        .value;
    assert_ne!(new_session, old_session);
    assert_eq!(
        header(page.headers(), "x-is-logged-in").as_deref(),
        Some("true")
    );
    let new_token = emu_client::g_ck(&page.text().await.unwrap()).unwrap();
    assert_ne!(new_token, old_token);
    let sessions = control.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        (sessions[0].user.as_str(), sessions[0].id.as_str()),
        ("itil.user", new_session.as_str())
    );

    // REST: the old token is stale for the new session; the reply hands out the new one.
    control.expire_all_sessions();
    let first = browser
        .api(
            Method::GET,
            "/api/now/table/sys_user?sysparm_limit=1",
            Some(&new_token),
            None,
        )
        .await;
    assert_eq!(first.status(), 401);
    assert_eq!(
        header(first.headers(), "x-is-logged-in").as_deref(),
        Some("true")
    );
    let fresh = header(first.headers(), "x-usertoken-response").unwrap();
    let retried = browser
        .api(
            Method::GET,
            "/api/now/table/sys_user?sysparm_limit=1",
            Some(&fresh),
            None,
        )
        .await;
    assert_eq!(retried.status(), 200);

    // Past the remember-me lifetime it is over.
    control.advance_clock(Duration::from_secs(16 * 86_400));
    let gone = browser.get("/navpage.do").await;
    assert_eq!(gone.status(), 302);
}

#[tokio::test]
async fn without_remember_me_a_dead_session_stays_dead() {
    let emu = start(1);
    let mut browser = Browser::new(emu.url());
    browser.login("itil.user", "snowbridge", false).await;
    emu.control().expire_all_sessions();
    let page = browser.get("/navpage.do").await;
    assert_eq!(page.status(), 302);
    assert!(location(page.headers()).starts_with("/login.do"));
}

#[tokio::test]
async fn glide_session_store_comes_with_every_reply() {
    let emu = start(1);
    let control = emu.control();
    let mut browser = Browser::new(emu.url());
    let g_ck = browser.login("admin", "snowbridge", false).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let r = browser
            .api(
                Method::GET,
                "/api/now/table/sys_user?sysparm_limit=1",
                Some(&g_ck),
                None,
            )
            .await;
        seen.push(
            set_cookie(r.headers(), "glide_session_store")
                .expect("on every reply")
                .value,
        );
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "stable while rotation is off"
    );
    let issued = control.issued_session_store();
    assert!(issued.contains(&seen[0]));

    control.set_rotate_session_store(true);
    let mut rotated = Vec::new();
    for _ in 0..3 {
        let r = browser
            .api(
                Method::GET,
                "/api/now/table/sys_user?sysparm_limit=1",
                Some(&g_ck),
                None,
            )
            .await;
        assert_eq!(r.status(), 200);
        rotated.push(
            set_cookie(r.headers(), "glide_session_store")
                .unwrap()
                .value,
        );
    }
    assert!(
        rotated.windows(2).all(|w| w[0] != w[1]),
        "a new value on every reply"
    );
    let issued = control.issued_session_store();
    assert_eq!(&issued[issued.len() - 3..], rotated.as_slice());
    // Unauthenticated replies carry it too.
    let anon = emu_client::client()
        .get(emu.url().join("/api/now/table/incident").unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        set_cookies(anon.headers())
            .iter()
            .any(|c| c.name == "glide_session_store")
    );
}

#[tokio::test]
async fn bearer_tokens_carry_scopes() {
    let emu = start(2);
    let control = emu.control();
    // The default auth scopes: incident_read reads incidents, incident_write is needed to write.
    let reader =
        control.issue_bearer_token("itil.user", &["incident_read"], Duration::from_secs(1800));
    let client = emu_client::client();
    let url = emu
        .url()
        .join("/api/now/table/incident?sysparm_limit=1")
        .unwrap();
    let ok = client
        .get(url.clone())
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let denied = client
        .post(emu.url().join("/api/now/table/incident").unwrap())
        .bearer_auth(&reader)
        .json(&serde_json::json!({"short_description": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let body: Value = denied.json().await.unwrap();
    assert_eq!(body["error"]["message"], "User Not Authorized");
    assert_eq!(
        body["error"]["detail"],
        "Missing required api access scope: incident_write"
    );
    let all = control.issue_bearer_token("itil.user", &["useraccount"], Duration::from_secs(1800));
    let created = client
        .post(emu.url().join("/api/now/table/incident").unwrap())
        .bearer_auth(&all)
        .json(&serde_json::json!({"short_description": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    control.advance_clock(Duration::from_secs(1801));
    assert_eq!(
        client
            .get(url)
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        client
            .get(emu.url().join("/api/now/table/incident").unwrap())
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

/// Tests that block their thread (or run a current-thread runtime) never starve the server.
#[test]
fn a_blocking_caller_does_not_starve_the_server() {
    let emu = Emulator::start(EmulatorConfig {
        incidents: 2,
        ..EmulatorConfig::default()
    })
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        basic(&emu, Method::GET, "/api/now/table/incident", "admin")
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    let url = emu.url();
    drop(emu);
    let after = runtime.block_on(async { emu_client::client().get(url).send().await });
    assert!(after.is_err(), "dropping the emulator stops the server");
}
