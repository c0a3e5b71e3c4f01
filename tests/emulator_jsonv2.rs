//! The JSON web service: every action, display values, per-record and whole-call failures,
//! the record cap, and authentication by Basic or by session cookies with the token.

#[path = "common/emu_client.rs"]
mod emu_client;

use emu_client::{Browser, basic, header, location, start};
use reqwest::Method;
use serde_json::{Value, json};
use snowbridge::emulator::{Emulator, EmulatorConfig, Jsonv2Unauthenticated};

async fn call(emu: &Emulator, user: &str, query: &str, body: Option<Value>) -> (u16, Value) {
    let method = if body.is_some() {
        Method::POST
    } else {
        Method::GET
    };
    let mut request = basic(emu, method, &format!("/incident.do?JSONv2&{query}"), user);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn records(body: &Value) -> &Vec<Value> {
    body["records"].as_array().unwrap()
}

#[tokio::test]
async fn reads_get_keys_get_records_get() {
    let emu = start(30);
    let control = emu.control();
    let expected = control.sys_ids("incident", "state=1^ORDERBYsys_id");

    let (status, body) = call(
        &emu,
        "itil.user",
        "sysparm_action=getKeys&sysparm_query=state%3D1%5EORDERBYsys_id",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let keys: Vec<&str> = records(&body).iter().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(keys, expected);

    let (_, body) = call(
        &emu,
        "itil.user",
        "sysparm_action=getRecords&sysparm_query=state%3D1%5EORDERBYsys_id&displayvalue=all",
        None,
    )
    .await;
    let rows = records(&body);
    assert_eq!(rows.len(), expected.len());
    assert_eq!(rows[0]["sys_id"], json!(expected[0]));
    assert_eq!(rows[0]["state"], "1");
    assert_eq!(rows[0]["dv_state"], "New");
    assert!(
        rows[0]["caller_id"].as_str().unwrap().len() == 32,
        "references are sys_ids"
    );
    assert!(!rows[0]["dv_caller_id"].as_str().unwrap().is_empty());

    let (_, body) = call(
        &emu,
        "itil.user",
        "sysparm_action=getRecords&sysparm_query=state%3D1&displayvalue=true",
        None,
    )
    .await;
    assert_eq!(records(&body)[0]["state"], "New");
    assert!(records(&body)[0].get("dv_state").is_none());

    // Paging the JSONv2 way: ORDERBYsys_id and sys_id>LAST with a record count.
    let all = control.sys_ids("incident", "ORDERBYsys_id");
    let mut seen = Vec::new();
    let mut last = String::new();
    loop {
        let query = if last.is_empty() {
            "ORDERBYsys_id".to_string()
        } else {
            format!("ORDERBYsys_id^sys_id>{last}")
        };
        let q: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
        let (_, body) = call(
            &emu,
            "admin",
            &format!("sysparm_action=getKeys&sysparm_record_count=7&sysparm_query={q}"),
            None,
        )
        .await;
        let page: Vec<String> = records(&body)
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        last = page.last().unwrap().clone();
        seen.extend(page);
    }
    assert_eq!(seen, all);

    let (_, body) = call(
        &emu,
        "admin",
        &format!("sysparm_action=get&sysparm_sys_id={}", expected[0]),
        None,
    )
    .await;
    assert_eq!(records(&body).len(), 1);
    assert_eq!(records(&body)[0]["sys_id"], json!(expected[0]));
    let (_, body) = call(
        &emu,
        "admin",
        "sysparm_action=get&sysparm_sys_id=nope",
        None,
    )
    .await;
    assert!(records(&body).is_empty());
}

#[tokio::test]
async fn writes_insert_update_delete() {
    let emu = start(5);
    let control = emu.control();

    // insert, with the action in the body and display values accepted for choices.
    let (status, body) = call(
        &emu,
        "itil.user",
        "sysparm_action=ignored",
        Some(json!({"sysparm_action": "insert", "short_description": "via JSONv2", "impact": "1 - High", "urgency": "1"})),
    )
    .await;
    assert_eq!(status, 200);
    let inserted = &records(&body)[0];
    assert_eq!(inserted["number"], "INC0010006");
    assert_eq!(inserted["priority"], "1");
    let id = inserted["sys_id"].as_str().unwrap().to_string();
    assert_eq!(
        control.record("incident", &id).unwrap()["short_description"],
        "via JSONv2"
    );

    // insertMultiple, one record failing the data policy.
    let (_, body) = call(
        &emu,
        "itil.user",
        "sysparm_action=insertMultiple",
        Some(json!({"records": [{"short_description": "m1"}, {"short_description": "m2", "state": "6"}]})),
    )
    .await;
    let rows = records(&body);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["short_description"], "m1");
    assert!(rows[0].get("__status").is_none());
    assert_eq!(rows[1]["__status"], "failure");
    assert_eq!(
        rows[1]["__error"]["message"],
        "Data Policy Exception: The following fields are mandatory: Resolution code, Resolution notes"
    );
    assert_eq!(control.count("incident", "short_descriptionSTARTSWITHm"), 1);

    // update by query; itil resolving is refused per record by the state ACL.
    let q: String =
        url::form_urlencoded::byte_serialize(format!("sys_id={id}").as_bytes()).collect();
    let (_, body) = call(
        &emu,
        "itil.user",
        &format!("sysparm_action=update&sysparm_query={q}"),
        Some(json!({"state": "6", "close_code": "Duplicate", "close_notes": "dup"})),
    )
    .await;
    let row = &records(&body)[0];
    assert_eq!(row["__status"], "failure");
    assert_eq!(row["__error"]["message"], "Operation Failed");
    assert_eq!(
        row["__error"]["reason"],
        "ACL Exception Update Failed due to security constraints"
    );
    assert_eq!(row["sys_id"], json!(id));
    assert_eq!(control.record("incident", &id).unwrap()["state"], "1");
    let (_, body) = call(
        &emu,
        "itil.user",
        &format!("sysparm_action=update&sysparm_query={q}"),
        Some(json!({"short_description": "updated"})),
    )
    .await;
    assert_eq!(records(&body)[0]["short_description"], "updated");
    assert_eq!(
        control.record("incident", &id).unwrap()["short_description"],
        "updated"
    );

    // deleteRecord: itil refused, admin allowed.
    let (_, body) = call(
        &emu,
        "itil.user",
        &format!("sysparm_action=deleteRecord&sysparm_sys_id={id}"),
        Some(json!({})),
    )
    .await;
    assert_eq!(records(&body)[0]["__status"], "failure");
    assert!(control.record("incident", &id).is_some());
    let (_, body) = call(
        &emu,
        "admin",
        "sysparm_action=deleteRecord",
        Some(json!({"sysparm_sys_id": id})),
    )
    .await;
    assert_eq!(records(&body)[0]["sys_id"], json!(id));
    assert!(control.record("incident", &id).is_none());

    // deleteMultiple.
    let before = control.count("incident", "");
    let ones = control.count("incident", "state=1");
    let (_, body) = call(
        &emu,
        "admin",
        "sysparm_action=deleteMultiple&sysparm_query=state%3D1",
        Some(json!({})),
    )
    .await;
    assert_eq!(records(&body)[0]["count"], json!(ones.to_string()));
    assert_eq!(control.count("incident", ""), before - ones);
}

#[tokio::test]
async fn whole_call_failures() {
    let emu = start(1);
    let (status, body) = call(&emu, "admin", "sysparm_action=frobnicate", None).await;
    assert_eq!(status, 400);
    assert_eq!(body["reason"], Value::Null);
    assert!(body["_error"].as_str().unwrap().contains("frobnicate"));
    let response = basic(
        &emu,
        Method::GET,
        "/no_table.do?JSONv2&sysparm_action=getKeys",
        "admin",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"_error": "Invalid table no_table", "reason": null})
    );
    let (status, body) = call(&emu, "admin", "sysparm_action=insert", None).await;
    assert_eq!(status, 400, "writes are POSTs: {body}");
    let (status, _) = call(
        &emu,
        "admin",
        "sysparm_action=update",
        Some(json!({"state": "2"})),
    )
    .await;
    assert_eq!(status, 400, "update needs a query");
}

#[tokio::test]
async fn session_cookies_need_the_token_for_writes_only() {
    let emu = start(3);
    let mut browser = Browser::new(emu.url());
    let g_ck = browser.login("itil.user", "snowbridge", false).await;
    let read = browser
        .api(
            Method::GET,
            "/incident.do?JSONv2&sysparm_action=getKeys",
            None,
            None,
        )
        .await;
    assert_eq!(read.status(), 200);
    assert_eq!(
        read.json::<Value>().await.unwrap()["records"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let write = browser
        .api(
            Method::POST,
            "/incident.do?JSONv2&sysparm_action=insert",
            None,
            Some(json!({"short_description": "token w"})),
        )
        .await;
    assert_eq!(write.status(), 401);
    assert_eq!(
        header(write.headers(), "x-is-logged-in").as_deref(),
        Some("true")
    );
    assert_eq!(
        header(write.headers(), "x-usertoken-response").as_deref(),
        Some(g_ck.as_str())
    );
    let with_header = browser
        .api(
            Method::POST,
            "/incident.do?JSONv2&sysparm_action=insert",
            Some(&g_ck),
            Some(json!({"short_description": "token w"})),
        )
        .await;
    assert_eq!(with_header.status(), 200);
    let with_ck = browser
        .api(
            Method::POST,
            "/incident.do?JSONv2&sysparm_action=insert",
            None,
            Some(json!({"short_description": "token w2", "sysparm_ck": g_ck})),
        )
        .await;
    assert_eq!(with_ck.status(), 200);
    assert_eq!(
        emu.control()
            .count("incident", "short_descriptionSTARTSWITHtoken w"),
        2
    );
}

#[tokio::test]
async fn no_credentials_answer_per_the_switch() {
    let emu = start(1);
    let url = emu
        .url()
        .join("/incident.do?JSONv2&sysparm_action=getKeys")
        .unwrap();
    let response = emu_client::client().get(url.clone()).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        header(response.headers(), "www-authenticate").as_deref(),
        Some("BASIC realm=\"Service-now\"")
    );

    let emu = Emulator::start(EmulatorConfig {
        incidents: 1,
        jsonv2_unauthenticated: Jsonv2Unauthenticated::LoginRedirect,
        ..EmulatorConfig::default()
    })
    .unwrap();
    let url = emu
        .url()
        .join("/incident.do?JSONv2&sysparm_action=getKeys")
        .unwrap();
    let response = emu_client::client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert!(location(response.headers()).starts_with("/login.do"));
}

#[tokio::test]
async fn the_record_count_is_capped() {
    let emu = start(12);
    let (_, body) = call(
        &emu,
        "admin",
        "sysparm_action=getKeys&sysparm_record_count=5",
        None,
    )
    .await;
    assert_eq!(records(&body).len(), 5);
    let (_, body) = call(
        &emu,
        "admin",
        "sysparm_action=getKeys&sysparm_record_count=999999",
        None,
    )
    .await;
    assert_eq!(records(&body).len(), 12);
}
