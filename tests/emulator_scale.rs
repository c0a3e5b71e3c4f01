//! At scale: 100,000 seeded incidents, paged through by `ORDERBYsys_id` + `sys_id>LAST` and by
//! offset, every row exactly once; JSONv2 capped at 10,000 records. (No timing assertions: the
//! emulator is built to answer such pages well under a second, but tests do not time it.)

#[path = "common/emu_client.rs"]
mod emu_client;

use std::collections::HashSet;

use emu_client::{basic, header};
use reqwest::Method;
use serde_json::Value;
use snowbridge::emulator::{Emulator, EmulatorConfig};

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_hundred_thousand_incidents() {
    let emu = Emulator::start(EmulatorConfig {
        incidents: 100_000,
        ..EmulatorConfig::default()
    })
    .unwrap();
    let control = emu.control();
    assert_eq!(control.count("incident", ""), 100_000);
    assert!(control.record("incident", "INC0110000").is_some());

    // Keyset paging, as the connector does it: pages of 10,000 with the sys_id sort.
    let mut seen: Vec<String> = Vec::with_capacity(100_000);
    let mut last = String::new();
    loop {
        let query = if last.is_empty() {
            "ORDERBYsys_id".to_string()
        } else {
            format!("ORDERBYsys_id^sys_id>{last}")
        };
        let response = basic(
            &emu,
            Method::GET,
            &format!(
                "/api/now/table/incident?sysparm_query={}&sysparm_limit=10000&sysparm_fields=sys_id,number&sysparm_no_count=true",
                urlencode(&query)
            ),
            "admin",
        )
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        let page: Vec<String> = body["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["sys_id"].as_str().unwrap().to_string())
            .collect();
        if page.is_empty() {
            break;
        }
        last = page.last().unwrap().clone();
        seen.extend(page);
    }
    assert_eq!(seen.len(), 100_000);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        100_000,
        "every row exactly once"
    );
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in sys_id order");

    // Offset paging with full records, 5,000 at a time, over a filtered set.
    let expected = control.count("incident", "state=2");
    let mut offset = 0;
    let mut numbers = HashSet::new();
    loop {
        let response = basic(
            &emu,
            Method::GET,
            &format!(
                "/api/now/table/incident?sysparm_query={}&sysparm_limit=5000&sysparm_offset={offset}&sysparm_display_value=all",
                urlencode("state=2^ORDERBYsys_id")
            ),
            "admin",
        )
        .send()
        .await
        .unwrap();
        assert_eq!(
            header(response.headers(), "x-total-count"),
            Some(expected.to_string())
        );
        let body: Value = response.json().await.unwrap();
        let rows = body["result"].as_array().unwrap();
        for row in rows {
            assert_eq!(row["state"]["display_value"], "In Progress");
            numbers.insert(row["number"]["value"].as_str().unwrap().to_string());
        }
        if rows.len() < 5000 {
            break;
        }
        offset += 5000;
    }
    assert_eq!(numbers.len(), expected);

    // JSONv2 never returns more than 10,000 records in one call.
    let response = basic(
        &emu,
        Method::GET,
        "/incident.do?JSONv2&sysparm_action=getKeys&sysparm_record_count=50000",
        "admin",
    )
    .send()
    .await
    .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["records"].as_array().unwrap().len(), 10_000);
    let response = basic(
        &emu,
        Method::GET,
        "/incident.do?JSONv2&sysparm_action=getRecords",
        "admin",
    )
    .send()
    .await
    .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["records"].as_array().unwrap().len(), 10_000);
}
