//! The Table API: encoded-query semantics, ordering, paging by Link and by sys_id, display
//! values, CRUD replies, ACLs and the data policy, and the error envelope.

#[path = "common/emu_client.rs"]
mod emu_client;

use std::collections::BTreeSet;

use emu_client::{basic, header, start};
use reqwest::Method;
use serde_json::{Value, json};
use snowbridge::emulator::Emulator;

async fn get_json(
    emu: &Emulator,
    user: &str,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = basic(emu, Method::GET, path, user).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// (rel, target) of every entry of the `Link` header, read as RFC 8288 says: targets hold raw
/// commas (`sysparm_fields=sys_id,caller_id`).
fn links(headers: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    snowbridge::api::link::parse(&header(headers, "link").unwrap_or_default())
        .into_iter()
        .flat_map(|l| {
            l.rels
                .iter()
                .map(|r| (r.clone(), l.target.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn numbers(body: &Value) -> Vec<String> {
    body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["number"].as_str().unwrap().to_string())
        .collect()
}

/// Five incidents with known fields; returns their numbers in insertion order.
fn fixture(emu: &Emulator) -> Vec<String> {
    let control = emu.control();
    let rows = [
        ("qz alpha printer", "1", "1", "hardware", ""),
        ("qz beta vpn", "2", "2", "network", "ada.quinn"),
        ("qz gamma 50%_off", "3", "3", "software", "ben.ortiz"),
        ("QZ delta vpn", "1", "3", "network", "ada.quinn"),
        ("qz epsilon", "2", "1", "", ""),
    ];
    rows.iter()
        .map(|(text, impact, urgency, category, caller)| {
            let id = control
                .insert_incident([
                    ("short_description", *text),
                    ("impact", *impact),
                    ("urgency", *urgency),
                    ("category", *category),
                    ("caller_id", *caller),
                ])
                .unwrap();
            control.record("incident", &id).unwrap()["number"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn encoded_query_operators() {
    let emu = start(10);
    let n = fixture(&emu);
    let q = |query: &str| {
        let query = query.to_string();
        let emu = &emu;
        async move {
            let path = format!(
                "/api/now/table/incident?sysparm_query={}&sysparm_fields=number",
                urlencode(&format!("short_descriptionLIKEqz^{query}^ORDERBYnumber"))
            );
            let (status, headers, body) = get_json(emu, "admin", &path).await;
            assert_eq!(status, 200, "{query}");
            let got = numbers(&body);
            assert_eq!(
                header(&headers, "x-total-count").unwrap(),
                got.len().to_string(),
                "{query}"
            );
            got
        }
    };
    let pick = |idx: &[usize]| idx.iter().map(|i| n[*i].clone()).collect::<Vec<_>>();
    assert_eq!(q("impact=1").await, pick(&[0, 3]));
    assert_eq!(q("impact!=1").await, pick(&[1, 2, 4]));
    assert_eq!(
        q("short_descriptionLIKEvpn").await,
        pick(&[1, 3]),
        "LIKE ignores case"
    );
    assert_eq!(q("short_descriptionNOT LIKEvpn").await, pick(&[0, 2, 4]));
    assert_eq!(q("short_descriptionSTARTSWITHqz b").await, pick(&[1]));
    assert_eq!(q("short_descriptionENDSWITHvpn").await, pick(&[1, 3]));
    assert_eq!(
        q("short_descriptionLIKE50%_off").await,
        pick(&[2]),
        "% and _ are literal"
    );
    assert_eq!(q("categoryINhardware,software").await, pick(&[0, 2]));
    assert_eq!(q("categoryNOT INhardware,software").await, pick(&[1, 3, 4]));
    // Priorities from impact/urgency: 1, 3, 5, 3, 2.
    assert_eq!(q("priority<3").await, pick(&[0, 4]));
    assert_eq!(q("priority<=3").await, pick(&[0, 1, 3, 4]));
    assert_eq!(q("priority>3").await, pick(&[2]));
    assert_eq!(q("priority>=3").await, pick(&[1, 2, 3]));
    assert_eq!(q("categoryISEMPTY").await, pick(&[4]));
    assert_eq!(q("caller_idISNOTEMPTY").await, pick(&[1, 2, 3]));
    assert_eq!(q("impact=1^ORurgency=1").await, pick(&[0, 3, 4]));
    assert_eq!(q("impact=2^urgency=2").await, pick(&[1]));
    assert_eq!(
        q("caller_id.user_name=ada.quinn").await,
        pick(&[1, 3]),
        "dot-walking"
    );
    assert_eq!(
        q("impact=1^NQshort_descriptionLIKEqz^impact=3").await,
        pick(&[0, 2, 3]),
        "NQ ORs whole queries"
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn invalid_terms_are_ignored_silently() {
    let emu = start(30);
    let all = emu.control().count("incident", "");
    let (status, headers, body) = get_json(
        &emu,
        "admin",
        &format!(
            "/api/now/table/incident?sysparm_query={}&sysparm_fields=number",
            urlencode("no_such_field=1^stateFROB3^Nonsense")
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-total-count").unwrap(), all.to_string());
    assert_eq!(
        body["result"].as_array().unwrap().len(),
        all,
        "the whole table comes back"
    );
    // A valid term beside an invalid one still applies.
    let (_, headers, _) = get_json(
        &emu,
        "admin",
        &format!(
            "/api/now/table/incident?sysparm_query={}",
            urlencode("no_such_field=1^state=1")
        ),
    )
    .await;
    assert_eq!(
        header(&headers, "x-total-count").unwrap(),
        emu.control().count("incident", "state=1").to_string()
    );
}

#[tokio::test]
async fn who_am_i_through_dynamic_values() {
    let emu = start(1);
    let (_, _, body) = get_json(
        &emu,
        "itil.user",
        "/api/now/table/sys_user?sysparm_query=sys_id%3Djavascript:gs.getUserID()&sysparm_fields=user_name",
    )
    .await;
    assert_eq!(body["result"], json!([{"user_name": "itil.user"}]));
}

#[tokio::test]
async fn order_by_sorts_numbers_as_numbers() {
    let emu = start(40);
    let (_, _, body) = get_json(
        &emu,
        "admin",
        "/api/now/table/incident?sysparm_query=ORDERBYDESCpriority%5EORDERBYnumber&sysparm_fields=number,priority",
    )
    .await;
    let rows = body["result"].as_array().unwrap();
    let keys: Vec<(i64, String)> = rows
        .iter()
        .map(|r| {
            (
                -r["priority"].as_str().unwrap().parse::<i64>().unwrap(),
                r["number"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(rows.len(), 40);
}

#[tokio::test]
async fn paging_by_link_reaches_every_row_once() {
    let emu = start(53);
    let mut url = emu
        .url()
        .join("/api/now/table/incident?sysparm_query=ORDERBYsys_id&sysparm_limit=7&sysparm_fields=sys_id")
        .unwrap()
        .to_string();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let response = emu_client::client()
            .get(&url)
            .basic_auth("admin", Some("snowbridge"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        assert_eq!(header(&headers, "x-total-count").as_deref(), Some("53"));
        let rels = links(&headers);
        let rel = |name: &str| rels.iter().find(|(r, _)| r == name).map(|(_, u)| u.clone());
        assert!(rel("first").unwrap().contains("sysparm_offset=0"));
        assert!(rel("last").unwrap().contains("sysparm_offset=49"));
        assert_eq!(rel("prev").is_some(), pages > 0);
        let body: Value = response.json().await.unwrap();
        for row in body["result"].as_array().unwrap() {
            seen.push(row["sys_id"].as_str().unwrap().to_string());
        }
        pages += 1;
        match rel("next") {
            Some(next) => {
                assert!(
                    next.starts_with(emu.url().as_str()),
                    "absolute links: {next}"
                );
                assert!(
                    next.contains("sysparm_fields=sys_id")
                        && next.contains("sysparm_query=ORDERBYsys_id")
                );
                url = next;
            }
            None => break,
        }
    }
    assert_eq!(pages, 8);
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 53);
    assert_eq!(unique.len(), 53, "no row twice");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
}

#[tokio::test]
async fn paging_by_sys_id_keyset() {
    let emu = start(25);
    let mut last = String::new();
    let mut seen = Vec::new();
    loop {
        let query = if last.is_empty() {
            "ORDERBYsys_id".to_string()
        } else {
            format!("ORDERBYsys_id^sys_id>{last}")
        };
        let (_, headers, body) = get_json(
            &emu,
            "admin",
            &format!("/api/now/table/incident?sysparm_query={}&sysparm_limit=10&sysparm_fields=sys_id&sysparm_no_count=true", urlencode(&query)),
        )
        .await;
        assert!(
            header(&headers, "x-total-count").is_none(),
            "sysparm_no_count skips the count"
        );
        let ids: Vec<String> = body["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["sys_id"].as_str().unwrap().to_string())
            .collect();
        if ids.is_empty() {
            break;
        }
        last = ids.last().unwrap().clone();
        seen.extend(ids);
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 25);
}

#[tokio::test]
async fn display_values_links_and_fields() {
    let emu = start(1);
    let control = emu.control();
    let ada = control.user_sys_id("ada.quinn").unwrap();
    let id = control
        .insert_incident([
            ("short_description", "shown"),
            ("state", "2"),
            ("caller_id", ada.as_str()),
        ])
        .unwrap();
    let base = emu.url().as_str().trim_end_matches('/').to_string();
    let link = format!("{base}/api/now/table/sys_user/{ada}");
    let path = |extra: &str| {
        format!(
            "/api/now/table/incident/{id}?sysparm_fields=state,caller_id,caller_id.email{extra}"
        )
    };

    let (_, _, v) = get_json(&emu, "admin", &path("")).await;
    assert_eq!(
        v["result"],
        json!({"state": "2", "caller_id": {"link": link, "value": ada}, "caller_id.email": "ada.quinn@example.com"})
    );
    let (_, _, v) = get_json(&emu, "admin", &path("&sysparm_display_value=true")).await;
    assert_eq!(v["result"]["state"], "In Progress");
    assert_eq!(
        v["result"]["caller_id"],
        json!({"link": link, "display_value": "Ada Quinn"})
    );
    let (_, _, v) = get_json(
        &emu,
        "admin",
        &path("&sysparm_display_value=all&sysparm_exclude_reference_link=true"),
    )
    .await;
    assert_eq!(
        v["result"]["state"],
        json!({"display_value": "In Progress", "value": "2"})
    );
    assert_eq!(
        v["result"]["caller_id"],
        json!({"display_value": "Ada Quinn", "value": ada})
    );
    let (_, _, v) = get_json(&emu, "admin", &path("&sysparm_exclude_reference_link=true")).await;
    assert_eq!(v["result"]["caller_id"], json!(ada));
    // Without sysparm_fields every column comes back.
    let (_, _, v) = get_json(&emu, "admin", &format!("/api/now/table/incident/{id}")).await;
    for column in [
        "sys_id",
        "number",
        "short_description",
        "close_code",
        "sys_mod_count",
        "opened_by",
    ] {
        assert!(v["result"].get(column).is_some(), "{column} missing");
    }
}

#[tokio::test]
async fn errors_use_the_envelope() {
    let emu = start(1);
    let (status, headers, body) = get_json(&emu, "admin", "/api/now/table/no_such_table").await;
    assert_eq!(status, 400);
    assert_eq!(
        header(&headers, "content-type").as_deref(),
        Some("application/json;charset=UTF-8")
    );
    assert_eq!(
        body,
        json!({"error": {"message": "Invalid table no_such_table", "detail": null}, "status": "failure"})
    );
    let (status, _, body) = get_json(
        &emu,
        "admin",
        "/api/now/table/incident/0123456789abcdef0123456789abcdef",
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["message"], "No Record found");
    assert_eq!(body["status"], "failure");
    let (status, _, _) = get_json(&emu, "admin", "/api/now/v9/table/incident").await;
    assert_eq!(status, 400);
    let (status, _, body) =
        get_json(&emu, "admin", "/api/now/v2/table/incident?sysparm_limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(body["result"].as_array().unwrap().len(), 1);
    let not_here = basic(&emu, Method::GET, "/api/now/attachment/file", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(not_here.status(), 405);
    assert_eq!(
        not_here.json::<Value>().await.unwrap()["error"]["message"],
        "Method not Supported"
    );
    let (status, _, body) = get_json(&emu, "admin", "/api/now/nothing/here").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "Requested URI does not represent any resource"
    );
    let bad = basic(&emu, Method::POST, "/api/now/table/incident", "admin")
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["status"], "failure");
}

#[tokio::test]
async fn a_url_over_8kb_gets_414() {
    let emu = start(1);
    let query = "a".repeat(9000);
    let (status, _, _) = get_json(
        &emu,
        "admin",
        &format!("/api/now/table/incident?sysparm_query={query}"),
    )
    .await;
    assert_eq!(status, 414);
    let query = "a".repeat(7000);
    let (status, _, _) = get_json(
        &emu,
        "admin",
        &format!("/api/now/table/incident?sysparm_query={query}"),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn create_update_delete() {
    let emu = start(50);
    let control = emu.control();
    let created = basic(&emu, Method::POST, "/api/now/table/incident", "itil.user")
        .json(&json!({"short_description": "Disk full", "impact": "1", "urgency": 2, "caller_id": "Ben Ortiz", "number": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = header(created.headers(), "location").unwrap();
    let body: Value = created.json().await.unwrap();
    let id = body["result"]["sys_id"].as_str().unwrap().to_string();
    assert_eq!(
        location,
        format!("{}api/now/table/incident/{id}", emu.url())
    );
    assert_eq!(body["result"]["number"], "INC0010051");
    assert_eq!(body["result"]["priority"], "2");
    assert_eq!(body["result"]["state"], "1");
    let stored = control.record("incident", "INC0010051").unwrap();
    assert_eq!(
        stored["caller_id"],
        json!(control.user_sys_id("ben.ortiz").unwrap()),
        "reference set by display name"
    );
    assert_eq!(
        stored["opened_by"],
        json!(control.user_sys_id("itil.user").unwrap())
    );

    for method in [Method::PATCH, Method::PUT] {
        let text = format!("changed by {method}");
        let updated = basic(
            &emu,
            method.clone(),
            &format!("/api/now/table/incident/{id}"),
            "itil.user",
        )
        .json(&json!({"short_description": text, "sys_created_by": "evil"}))
        .send()
        .await
        .unwrap();
        assert_eq!(updated.status(), 200, "{method}");
        let body: Value = updated.json().await.unwrap();
        assert_eq!(body["result"]["short_description"], json!(text));
        assert_eq!(
            control.record("incident", &id).unwrap()["short_description"],
            json!(text)
        );
    }
    let record = control.record("incident", &id).unwrap();
    assert_eq!(record["sys_mod_count"], "2");
    assert_eq!(record["sys_created_by"], "itil.user");

    let refused = basic(
        &emu,
        Method::DELETE,
        &format!("/api/now/table/incident/{id}"),
        "itil.user",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(control.record("incident", &id).is_some());
    let deleted = basic(
        &emu,
        Method::DELETE,
        &format!("/api/now/table/incident/{id}"),
        "admin",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(deleted.bytes().await.unwrap().is_empty());
    assert!(control.record("incident", &id).is_none());
    let again = basic(
        &emu,
        Method::PATCH,
        &format!("/api/now/table/incident/{id}"),
        "admin",
    )
    .json(&json!({}))
    .send()
    .await
    .unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn itil_cannot_resolve_through_rest_but_admin_can() {
    let emu = start(1);
    let control = emu.control();
    let id = control
        .insert_incident([("short_description", "to resolve"), ("state", "2")])
        .unwrap();
    let path = format!("/api/now/table/incident/{id}");

    // Data policy first: no resolution code.
    let policy = basic(&emu, Method::PATCH, &path, "itil.user")
        .json(&json!({"state": "6"}))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), 403);
    let body: Value = policy.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "Data Policy Exception: The following fields are mandatory: Resolution code, Resolution notes"
    );
    let only_notes = basic(&emu, Method::PATCH, &path, "itil.user")
        .json(&json!({"state": "6", "close_notes": "done"}))
        .send()
        .await
        .unwrap();
    let body: Value = only_notes.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "Data Policy Exception: The following fields are mandatory: Resolution code"
    );

    // Then the state ACL.
    let acl = basic(&emu, Method::PATCH, &path, "itil.user")
        .json(&json!({"state": "6", "close_code": "Solution provided", "close_notes": "done"}))
        .send()
        .await
        .unwrap();
    assert_eq!(acl.status(), 403);
    let body: Value = acl.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "Operation Failed", "detail": "ACL Exception Update Failed due to security constraints"}, "status": "failure"})
    );
    assert_eq!(
        control.record("incident", &id).unwrap()["state"],
        "2",
        "nothing was written"
    );

    let resolved = basic(&emu, Method::PATCH, &path, "admin")
        .json(&json!({"state": "6", "close_code": "Solution provided", "close_notes": "done"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), 200);
    let record = control.record("incident", &id).unwrap();
    assert_eq!(record["state"], "6");
    assert_eq!(record["active"], "false");
    assert_eq!(
        record["resolved_by"],
        json!(control.user_sys_id("admin").unwrap())
    );
    assert!(!record["resolved_at"].as_str().unwrap().is_empty());

    // Closing needs itil_admin: itil.admin may, itil.user may not.
    let id2 = control
        .insert_incident([
            ("state", "6"),
            ("close_code", "Duplicate"),
            ("close_notes", "dup"),
        ])
        .unwrap();
    let close = |user: &'static str| {
        basic(
            &emu,
            Method::PATCH,
            &format!("/api/now/table/incident/{id2}"),
            user,
        )
        .json(&json!({"state": "7"}))
        .send()
    };
    assert_eq!(close("itil.user").await.unwrap().status(), 403);
    assert_eq!(close("itil.admin").await.unwrap().status(), 200);
    assert_eq!(control.record("incident", &id2).unwrap()["state"], "7");
}

#[tokio::test]
async fn the_state_acl_switch() {
    let emu = start(1);
    let control = emu.control();
    control.configure(|c| c.itil_web_service_state_acl = false);
    let id = control.insert_incident([("state", "2")]).unwrap();
    let resolved = basic(
        &emu,
        Method::PATCH,
        &format!("/api/now/table/incident/{id}"),
        "itil.user",
    )
    .json(&json!({"state": "6", "close_code": "Solution provided", "close_notes": "done"}))
    .send()
    .await
    .unwrap();
    assert_eq!(resolved.status(), 200);
    assert_eq!(control.record("incident", &id).unwrap()["state"], "6");
}

/// Users without itil read only incidents they are the caller of, and the filter runs after the
/// limit: pages come back short while X-Total-Count still counts every match.
#[tokio::test]
async fn row_acls_apply_after_the_limit() {
    let emu = start(60);
    let control = emu.control();
    let ada = control.user_sys_id("ada.quinn").unwrap();
    let hers: BTreeSet<String> = control
        .sys_ids("incident", &format!("caller_id={ada}"))
        .into_iter()
        .collect();
    assert!(
        !hers.is_empty() && hers.len() < 60,
        "the seed gives ada some incidents, not all"
    );

    let mut url = emu
        .url()
        .join("/api/now/table/incident?sysparm_query=ORDERBYsys_id&sysparm_limit=10&sysparm_fields=sys_id,caller_id&sysparm_exclude_reference_link=true")
        .unwrap()
        .to_string();
    let mut seen = BTreeSet::new();
    let mut short_pages = 0;
    loop {
        let response = emu_client::client()
            .get(&url)
            .basic_auth("ada.quinn", Some("snowbridge"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        assert_eq!(
            header(&headers, "x-total-count").as_deref(),
            Some("60"),
            "the count is taken before the ACL"
        );
        let body: Value = response.json().await.unwrap();
        let rows = body["result"].as_array().unwrap();
        if rows.len() < 10 {
            short_pages += 1;
        }
        for row in rows {
            assert_eq!(row["caller_id"], json!(ada));
            seen.insert(row["sys_id"].as_str().unwrap().to_string());
        }
        match links(&headers).into_iter().find(|(rel, _)| rel == "next") {
            Some((_, next)) => url = next,
            None => break,
        }
    }
    assert_eq!(seen, hers);
    assert!(short_pages >= 5, "pages hold fewer rows than asked");

    let other = control.sys_ids("incident", &format!("caller_id!={ada}"))[0].clone();
    let (status, _, body) = get_json(
        &emu,
        "ada.quinn",
        &format!("/api/now/table/incident/{other}"),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"]["detail"],
        "Record doesn't exist or ACL restricts the record retrieval"
    );
    let mine = hers.iter().next().unwrap();
    let (status, _, _) = get_json(
        &emu,
        "ada.quinn",
        &format!("/api/now/table/incident/{mine}"),
    )
    .await;
    assert_eq!(status, 200);

    // JSONv2 too.
    let response = basic(
        &emu,
        Method::GET,
        "/incident.do?JSONv2&sysparm_action=getKeys",
        "ada.quinn",
    )
    .send()
    .await
    .unwrap();
    let body: Value = response.json().await.unwrap();
    let keys: BTreeSet<String> = body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, hers);
}

#[tokio::test]
async fn without_orderby_rows_come_in_sys_id_order() {
    let emu = start(20);
    let (_, _, body) = get_json(
        &emu,
        "admin",
        "/api/now/table/incident?sysparm_fields=sys_id",
    )
    .await;
    let ids: Vec<&str> = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sys_id"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

/// As instances do: no `Link` when every row fits in one page, none ever with
/// `sysparm_suppress_pagination_header`, and otherwise absolute URLs whose `sysparm_fields`
/// keeps its commas raw.
#[tokio::test]
async fn link_as_instances_send_it() {
    let emu = start(30);
    let fields = "&sysparm_fields=number,short_description";
    for (query, has_link) in [
        ("sysparm_query=ORDERBYnumber", false),
        ("sysparm_query=ORDERBYnumber&sysparm_limit=30", false),
        ("sysparm_query=ORDERBYnumber&sysparm_limit=31", false),
        ("sysparm_query=ORDERBYnumber&sysparm_limit=29", true),
        (
            "sysparm_query=ORDERBYnumber&sysparm_limit=7&sysparm_offset=28",
            true,
        ),
        (
            "sysparm_query=ORDERBYnumber&sysparm_limit=7&sysparm_suppress_pagination_header=true",
            false,
        ),
    ] {
        let (status, headers, body) = get_json(
            &emu,
            "admin",
            &format!("/api/now/table/incident?{query}{fields}"),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "link").is_some(), has_link, "{query}");
        assert_eq!(header(&headers, "x-total-count").as_deref(), Some("30"));
        assert!(!body["result"].as_array().unwrap().is_empty());
    }

    let (_, headers, _) = get_json(
        &emu,
        "admin",
        &format!("/api/now/table/incident?sysparm_query=active%3Dtrue%5EORDERBYnumber{fields}&sysparm_offset=7&sysparm_limit=7"),
    )
    .await;
    let raw = header(&headers, "link").unwrap();
    let base = emu.url().as_str().trim_end_matches('/').to_owned();
    assert!(
        raw.contains(&format!("<{base}/api/now/table/incident?sysparm_query=active%3Dtrue%5EORDERBYnumber&sysparm_fields=number,short_description&sysparm_offset=14&sysparm_limit=7>;rel=\"next\"")),
        "absolute, encoded, commas raw: {raw}"
    );
    let rels: Vec<String> = links(&headers).into_iter().map(|(rel, _)| rel).collect();
    assert_eq!(rels, ["first", "prev", "next", "last"]);
}
