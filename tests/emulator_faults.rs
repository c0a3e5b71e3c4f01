//! Rate limits and injected faults: 429 with its headers, fail_next, drop_next, random faults
//! at certainty, and that faults spare the login pages. Also the request log.

#[path = "common/emu_client.rs"]
mod emu_client;

use std::time::Duration;

use emu_client::{Browser, basic, header, start};
use reqwest::Method;
use serde_json::Value;
use snowbridge::emulator::{Faults, RateLimit};

const PATH: &str = "/api/now/table/incident?sysparm_limit=1";

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let emu = start(1);
    let control = emu.control();
    control.set_rate_limit(Some(RateLimit {
        limit: 3,
        window_secs: 60,
    }));
    for _ in 0..3 {
        assert_eq!(
            basic(&emu, Method::GET, PATH, "admin")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let limited = basic(&emu, Method::GET, PATH, "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    let h = limited.headers().clone();
    let retry: u64 = header(&h, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(header(&h, "x-ratelimit-limit").as_deref(), Some("3"));
    let reset: i64 = header(&h, "x-ratelimit-reset").unwrap().parse().unwrap();
    assert!(reset > 1_600_000_000, "an epoch time");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Rate limit exceeded");
    assert_eq!(body["status"], "failure");

    // Per user: another user still has budget.
    assert_eq!(
        basic(&emu, Method::GET, PATH, "itil.user")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The window passes on the virtual clock.
    control.advance_clock(Duration::from_secs(61));
    assert_eq!(
        basic(&emu, Method::GET, PATH, "admin")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    control.set_rate_limit(None);
    for _ in 0..5 {
        assert_eq!(
            basic(&emu, Method::GET, PATH, "admin")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
}

#[tokio::test]
async fn fail_next_answers_the_next_requests_with_errors() {
    let emu = start(1);
    let control = emu.control();
    control.fail_next(2, 503);
    for _ in 0..2 {
        let failed = basic(&emu, Method::GET, PATH, "admin")
            .send()
            .await
            .unwrap();
        assert_eq!(failed.status(), 503);
        assert_eq!(
            header(failed.headers(), "content-type").as_deref(),
            Some("application/json;charset=UTF-8")
        );
        let body: Value = failed.json().await.unwrap();
        assert_eq!(body["status"], "failure");
        assert!(body["error"]["message"].is_string());
    }
    assert_eq!(
        basic(&emu, Method::GET, PATH, "admin")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    control.fail_next(1, 500);
    assert_eq!(
        basic(&emu, Method::GET, PATH, "admin")
            .send()
            .await
            .unwrap()
            .status(),
        500
    );
}

#[tokio::test]
async fn drop_next_closes_the_connection_without_a_reply() {
    let emu = start(1);
    let control = emu.control();
    control.clear_request_log();
    control.drop_next(1);
    let dropped = basic(&emu, Method::GET, PATH, "admin").send().await;
    let error = dropped.expect_err("no reply");
    assert!(!error.is_status() && !error.is_timeout(), "{error:?}");
    assert_eq!(
        basic(&emu, Method::GET, PATH, "admin")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let statuses: Vec<u16> = control.request_log().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [0, 200]);
}

#[tokio::test]
async fn random_faults_at_certainty_and_the_login_pages_spared() {
    let emu = start(1);
    let control = emu.control();
    control.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    for _ in 0..3 {
        assert_eq!(
            basic(&emu, Method::GET, PATH, "admin")
                .send()
                .await
                .unwrap()
                .status(),
            503
        );
    }
    let jsonv2 = basic(
        &emu,
        Method::GET,
        "/incident.do?JSONv2&sysparm_action=getKeys",
        "admin",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(jsonv2.status(), 503, "JSONv2 is an API too");
    let mut browser = Browser::new(emu.url());
    assert_eq!(
        browser.get("/login.do").await.status(),
        200,
        "login pages are not faulted"
    );

    control.set_faults(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    });
    assert!(
        basic(&emu, Method::GET, PATH, "admin")
            .send()
            .await
            .is_err()
    );
    let g_ck = browser.login("itil.user", "snowbridge", false).await;
    assert!(!g_ck.is_empty());

    control.set_faults(Faults {
        latency_ms: 5,
        ..Faults::default()
    });
    assert_eq!(
        basic(&emu, Method::GET, PATH, "admin")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn the_request_log_shows_a_post_sent_once() {
    let emu = start(1);
    let control = emu.control();
    control.clear_request_log();
    let created = basic(&emu, Method::POST, "/api/now/table/incident", "admin")
        .json(&serde_json::json!({"short_description": "once"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let log = control.request_log();
    let posts: Vec<_> = log.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path_and_query, "/api/now/table/incident");
    assert_eq!(posts[0].status, 201);
    assert_eq!(posts[0].user.as_deref(), Some("admin"));
}

/// A hibernating developer instance answers every path of the instance, REST and JSONv2
/// included, `200` with an HTML page naming where to wake it; waking it brings everything back.
#[tokio::test]
async fn a_hibernating_instance_answers_every_path_with_its_page() {
    let emu = start(3);
    let control = emu.control();
    control.set_hibernating(true);
    for path in [
        PATH,
        "/api/now/attachment?sysparm_limit=1",
        "/incident.do?JSONv2&sysparm_action=getKeys",
        "/login.do",
        "/navpage.do",
        "/no/such/thing",
    ] {
        let response = basic(&emu, Method::GET, path, "admin")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let h = response.headers().clone();
        assert!(
            header(&h, "content-type").unwrap().starts_with("text/html"),
            "{path}"
        );
        assert!(h.get("set-cookie").is_none(), "{path}: asleep, no session");
        let page = response.text().await.unwrap();
        assert!(
            page.contains("<title>Instance Hibernating page</title>"),
            "{page}"
        );
        assert!(page.contains("Your instance is hibernating"));
        assert!(page.contains("href=\"https://developer.servicenow.com/"));
    }
    let posted = basic(&emu, Method::POST, "/api/now/table/incident", "admin")
        .json(&serde_json::json!({"short_description": "while asleep"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    assert_eq!(
        control.count("incident", "short_description=while asleep"),
        0
    );
    assert!(control.request_log().iter().all(|r| r.status == 200));

    control.set_hibernating(false);
    let awake = basic(&emu, Method::GET, PATH, "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(awake.status(), 200);
    let body: Value = awake.json().await.unwrap();
    assert_eq!(body["result"].as_array().unwrap().len(), 1);
}

/// The repeated-row fault: a list page of two or more rows lists its first row again after its
/// second; a page of one row is left alone.
#[tokio::test]
async fn a_page_can_list_a_row_twice() {
    let emu = start(5);
    let control = emu.control();
    control.set_repeat_row(true);
    let ids = |body: &Value| -> Vec<String> {
        body["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["sys_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let response = basic(
        &emu,
        Method::GET,
        "/api/now/table/incident?sysparm_limit=3&sysparm_offset=1&sysparm_fields=sys_id,number",
        "admin",
    )
    .send()
    .await
    .unwrap();
    let body: Value = response.json().await.unwrap();
    let listed = ids(&body);
    assert_eq!(listed.len(), 4, "three rows and one again: {listed:?}");
    assert_eq!(listed[0], listed[2]);
    let distinct: std::collections::BTreeSet<&String> = listed.iter().collect();
    assert_eq!(distinct.len(), 3, "{listed:?}");
    let one = basic(&emu, Method::GET, PATH, "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(ids(&one.json().await.unwrap()).len(), 1);

    control.set_repeat_row(false);
    let response = basic(
        &emu,
        Method::GET,
        "/api/now/table/incident?sysparm_limit=3&sysparm_offset=1&sysparm_fields=sys_id",
        "admin",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(ids(&response.json().await.unwrap()).len(), 3);
}
