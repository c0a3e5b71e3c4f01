//! Reading many records and surviving an unwell instance: `records` over 100,000 incidents,
//! `api --paginate` following `Link`, 429 with `Retry-After`, and 5xx retried only when safe.

mod common;

use std::collections::HashSet;
use std::io::BufRead;

use common::{Home, emulator, form_login, stderr, stdout};
use snowbridge::emulator::RateLimit;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_streams_every_incident_exactly_once() {
    let emu = emulator(|c| c.incidents = 100_000);
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "admin", false).await);
    let mut child = home
        .command(&[
            "records",
            "dev",
            "incident",
            "--fields",
            "number,state",
            "--format",
            "ndjson",
            "--page-size",
            "5000",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = HashSet::new();
    let mut lines = 0usize;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let record: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let sys_id = record["sys_id"].as_str().unwrap().to_owned();
        assert!(record["number"].as_str().unwrap().starts_with("INC"));
        assert!(seen.insert(sys_id), "a sys_id came twice");
        lines += 1;
    }
    let status = child.wait_with_output().unwrap();
    assert!(status.status.success(), "{}", stderr(&status));
    assert_eq!(lines, 100_000);
    assert_eq!(seen.len(), 100_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_honours_query_limit_and_formats() {
    let emu = emulator(|c| c.incidents = 60);
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "admin", false).await);
    let out = home.run(&[
        "records",
        "dev",
        "incident",
        "--query",
        "state=1",
        "--fields",
        "number,state",
        "--format",
        "csv",
        "--page-size",
        "7",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut rows = text.lines();
    assert_eq!(rows.next(), Some("number,state,sys_id"));
    let rows: Vec<&str> = rows.collect();
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|r| r.split(',').nth(1) == Some("1")),
        "{text}"
    );

    let out = home.run(&[
        "records", "dev", "incident", "--limit", "5", "--format", "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_paginate_follows_link_to_the_end() {
    let emu = emulator(|c| c.incidents = 23);
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "admin", false).await);
    let out = home.run(&[
        "api",
        "dev",
        "/api/now/table/incident?sysparm_limit=5&sysparm_query=ORDERBYnumber",
        "--paginate",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let numbers: Vec<&str> = reply["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers.len(), 23);
    let unique: HashSet<_> = numbers.iter().collect();
    assert_eq!(unique.len(), 23);
    let pages = emu
        .control()
        .request_log()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/now/table/incident"))
        .count();
    assert_eq!(pages, 5, "five pages of five");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_waited_out_as_the_instance_asks() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "admin", false).await);
    emu.control().set_rate_limit(Some(RateLimit {
        limit: 1,
        window_secs: 1,
    }));
    let started = std::time::Instant::now();
    for _ in 0..2 {
        let out = home.run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let statuses: Vec<u16> = emu
        .control()
        .request_log()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/now/table/incident"))
        .map(|r| r.status)
        .collect();
    assert!(
        statuses.contains(&429),
        "the second call was rate limited: {statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&200));
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 2);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(500),
        "it waited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_is_retried_on_get_but_not_on_post() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "admin", false).await);
    let control = emu.control();

    control.fail_next(1, 503);
    let out = home.run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let gets: Vec<u16> = control
        .request_log()
        .iter()
        .filter(|r| r.method == "GET" && r.path_and_query.starts_with("/api/now/table/incident"))
        .map(|r| r.status)
        .collect();
    assert_eq!(gets, vec![503, 200]);

    control.fail_next(1, 503);
    let out = home.run(&[
        "api",
        "dev",
        "/api/now/table/incident",
        "-d",
        r#"{"short_description":"printer on fire"}"#,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("503"), "{}", stderr(&out));
    let posts = control
        .request_log()
        .iter()
        .filter(|r| r.method == "POST" && r.path_and_query.starts_with("/api/now/table/incident"))
        .count();
    assert_eq!(posts, 1, "a POST is never sent twice");

    control.drop_next(1);
    let out = home.run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]);
    assert!(
        out.status.success(),
        "a dropped GET is retried: {}",
        stderr(&out)
    );
}

/// The records of every page, read as the reply arrives and fetched ahead, stay whole and come
/// once through a rate limit: each `429` is waited out, and from the first one on, pages are
/// asked for one at a time (never two requests in the same budget window racing for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_through_a_rate_limit_come_once_each() {
    let emu = emulator(|c| c.incidents = 60);
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "admin", false).await);
    emu.control().set_rate_limit(Some(RateLimit {
        limit: 3,
        window_secs: 1,
    }));
    let out = home.run(&[
        "records",
        "dev",
        "incident",
        "--display-value",
        "all",
        "--page-size",
        "10",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut seen = HashSet::new();
    for line in stdout(&out).lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let number = &record["number"];
        assert!(number["display_value"].as_str().unwrap().starts_with("INC"));
        assert!(seen.insert(record["sys_id"]["value"].as_str().unwrap().to_owned()));
    }
    assert_eq!(seen.len(), 60);
    let statuses: Vec<u16> = emu
        .control()
        .request_log()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/now/table/incident"))
        .map(|r| r.status)
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        6,
        "six pages of ten, none asked twice: {statuses:?}"
    );
}

/// `--api jsonv2` reads through the JSONv2 processor: every incident once, every field a
/// string, display values as `dv_FIELD`; `--limit` stops it; `--fields` is refused (JSONv2
/// returns every field).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_through_jsonv2() {
    let emu = emulator(|c| c.incidents = 45);
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "admin", false).await);
    let out = home.run(&[
        "records",
        "dev",
        "incident",
        "--api",
        "jsonv2",
        "--display-value",
        "all",
        "--page-size",
        "10",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut seen = HashSet::new();
    for line in stdout(&out).lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(record["number"].as_str().unwrap().starts_with("INC"));
        assert!(record["dv_caller_id"].is_string(), "{record}");
        assert!(seen.insert(record["sys_id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(seen.len(), 45);
    let pages = emu
        .control()
        .request_log()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/incident.do?JSONv2"))
        .count();
    assert_eq!(pages, 6, "five full pages, then the empty one that ends it");

    let out = home.run(&[
        "records",
        "dev",
        "incident",
        "--api",
        "jsonv2",
        "--limit",
        "12",
        "--page-size",
        "5",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 12);

    let out = home.run(&[
        "records", "dev", "incident", "--api", "jsonv2", "--fields", "number",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--fields"), "{}", stderr(&out));

    // Paging by sys_id cannot read in another order: refused before any page, not cut short.
    let out = home.run(&[
        "records",
        "dev",
        "incident",
        "--api",
        "jsonv2",
        "--query",
        "ORDERBYnumber",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("ORDERBYnumber"), "{}", stderr(&out));
    assert!(stderr(&out).contains("Table API"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}
