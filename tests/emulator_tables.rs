//! The emulator as a small but faithful instance: the out-of-box tables with their hierarchy
//! (`task` returns incidents and problems with `sys_class_name`), `sys_db_object`,
//! `sys_dictionary` and `sys_choice` agreeing with the schema file, references and dot-walks,
//! system fields, who may read what, the Aggregate API, the Batch API, and JSONv2 on any table.

#[path = "common/emu_client.rs"]
mod emu_client;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine;
use emu_client::{Browser, basic, header, start};
use reqwest::Method;
use serde_json::{Value, json};
use snowbridge::emulator::Emulator;

async fn get_json(emu: &Emulator, user: &str, path: &str) -> (u16, Value) {
    let response = basic(emu, Method::GET, path, user).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn send_json(
    emu: &Emulator,
    user: &str,
    method: Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let response = basic(emu, method, path, user)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn rows(body: &Value) -> &Vec<Value> {
    body["result"].as_array().expect("a result list")
}

fn text(value: &Value) -> String {
    value.as_str().map(String::from).unwrap_or_default()
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ---------------------------------------------------------------------------------------------
// The schema file, read here on its own, independently of the emulator's reading of it.

fn schema_file() -> toml::Table {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/emulator/tables.toml");
    let text = std::fs::read_to_string(path).unwrap();
    toml::from_str(&text).unwrap()
}

/// Choice lists by (table, element): (value, label, inactive) in order.
type ChoiceLists = BTreeMap<(String, String), Vec<(String, String, bool)>>;

fn default_length(internal_type: &str) -> i64 {
    match internal_type {
        "GUID" | "reference" => 32,
        "sys_class_name" => 80,
        _ => 40,
    }
}

fn str_of<'a>(table: &'a toml::Table, key: &str) -> &'a str {
    table.get(key).and_then(toml::Value::as_str).unwrap_or("")
}

#[tokio::test]
async fn the_dictionary_agrees_with_the_schema() {
    let emu = start(5);
    let file = schema_file();
    let tables: Vec<&toml::Table> = file["table"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_table().unwrap())
        .collect();
    let choice_lists = file["choices"].as_table().unwrap();
    let list = |name: &str| -> Vec<(String, String, bool)> {
        let list = choice_lists[name].as_table().unwrap();
        let pairs = |key: &str, inactive: bool| -> Vec<(String, String, bool)> {
            list.get(key)
                .and_then(toml::Value::as_array)
                .into_iter()
                .flatten()
                .map(|pair| {
                    let pair = pair.as_array().unwrap();
                    (
                        pair[0].as_str().unwrap().to_string(),
                        pair[1].as_str().unwrap().to_string(),
                        inactive,
                    )
                })
                .collect()
        };
        let mut all = pairs("active", false);
        all.extend(pairs("inactive", true));
        all
    };
    let label_of: BTreeMap<&str, &str> = tables
        .iter()
        .map(|t| (str_of(t, "name"), str_of(t, "label")))
        .collect();

    // sys_db_object: one row per table, its label, what it extends, whether it may be extended.
    let (status, body) = get_json(
        &emu,
        "admin",
        "/api/now/table/sys_db_object?sysparm_display_value=all&sysparm_exclude_reference_link=true&sysparm_fields=name,label,super_class,is_extendable,number_ref,sys_class_name",
    )
    .await;
    assert_eq!(status, 200);
    let objects: BTreeMap<String, &Value> = rows(&body)
        .iter()
        .map(|r| (text(&r["name"]["value"]), r))
        .collect();
    assert_eq!(objects.len(), tables.len(), "one row per table");
    for table in &tables {
        let name = str_of(table, "name");
        let row = objects
            .get(name)
            .unwrap_or_else(|| panic!("no sys_db_object row for {name}"));
        assert_eq!(row["label"]["value"], str_of(table, "label"), "{name}");
        let parent = str_of(table, "extends");
        let parent_label = label_of.get(parent).copied().unwrap_or("");
        assert_eq!(row["super_class"]["display_value"], parent_label, "{name}");
        let extensible = table
            .get("extensible")
            .and_then(toml::Value::as_bool)
            .unwrap_or(false);
        assert_eq!(
            row["is_extendable"]["value"],
            extensible.to_string(),
            "{name}"
        );
        let prefix = table
            .get("number")
            .and_then(|n| n.get("prefix"))
            .and_then(toml::Value::as_str)
            .unwrap_or("");
        assert_eq!(row["number_ref"]["value"], prefix, "{name}");
        assert_eq!(row["sys_class_name"]["value"], "sys_db_object");
    }

    // sys_dictionary: each table's own fields with their type, label, reference, length and
    // flag; system fields on the tables that extend nothing; a collection entry per table.
    let (status, body) = get_json(
        &emu,
        "admin",
        "/api/now/table/sys_dictionary?sysparm_fields=name,element,column_label,internal_type,reference,max_length,mandatory,default_value,choice",
    )
    .await;
    assert_eq!(status, 200);
    let mut entries: BTreeMap<(String, String), &Value> = BTreeMap::new();
    for row in rows(&body) {
        let key = (text(&row["name"]), text(&row["element"]));
        assert!(entries.insert(key.clone(), row).is_none(), "{key:?} twice");
    }
    let mut expected = BTreeSet::new();
    for table in &tables {
        let name = str_of(table, "name");
        expected.insert((name.to_string(), String::new()));
        let collection = &entries[&(name.to_string(), String::new())];
        assert_eq!(collection["internal_type"], "collection");
        assert_eq!(collection["column_label"], str_of(table, "label"));
        if table.get("extends").is_none() {
            let mut system = vec![
                "sys_id",
                "sys_created_on",
                "sys_created_by",
                "sys_updated_on",
                "sys_updated_by",
                "sys_mod_count",
            ];
            if table.get("extensible").and_then(toml::Value::as_bool) == Some(true) {
                system.push("sys_class_name");
            }
            for element in system {
                expected.insert((name.to_string(), element.to_string()));
            }
        }
        for field in table
            .get("fields")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = field.as_table().unwrap();
            let element = str_of(field, "name");
            let key = (name.to_string(), element.to_string());
            expected.insert(key.clone());
            let entry = entries
                .get(&key)
                .unwrap_or_else(|| panic!("no sys_dictionary entry for {name}.{element}"));
            let internal_type = str_of(field, "type");
            assert_eq!(entry["column_label"], str_of(field, "label"), "{key:?}");
            assert_eq!(entry["internal_type"], internal_type, "{key:?}");
            assert_eq!(entry["reference"], str_of(field, "reference"), "{key:?}");
            let length = field
                .get("max_length")
                .and_then(toml::Value::as_integer)
                .unwrap_or(default_length(internal_type));
            assert_eq!(entry["max_length"], length.to_string(), "{key:?}");
            let mandatory = field.get("mandatory").and_then(toml::Value::as_bool) == Some(true);
            assert_eq!(entry["mandatory"], mandatory.to_string(), "{key:?}");
            assert_eq!(entry["default_value"], str_of(field, "default"), "{key:?}");
            let choice = if field.contains_key("choices") {
                "1"
            } else {
                "0"
            };
            assert_eq!(entry["choice"], choice, "{key:?}");
        }
    }
    let found: BTreeSet<(String, String)> = entries.keys().cloned().collect();
    assert_eq!(
        found, expected,
        "sys_dictionary holds exactly the schema's fields"
    );

    // sys_choice: every choice list where a table defines or overrides a choice field, in the
    // file's order, the inactive ones marked.
    let (status, body) = get_json(
        &emu,
        "admin",
        "/api/now/table/sys_choice?sysparm_query=ORDERBYname^ORDERBYelement^ORDERBYsequence&sysparm_fields=name,element,value,label,sequence,inactive,language",
    )
    .await;
    assert_eq!(status, 200);
    let mut actual = ChoiceLists::new();
    for row in rows(&body) {
        assert_eq!(row["language"], "en");
        actual
            .entry((text(&row["name"]), text(&row["element"])))
            .or_default()
            .push((
                text(&row["value"]),
                text(&row["label"]),
                row["inactive"] == "true",
            ));
    }
    let mut wanted = ChoiceLists::new();
    for table in &tables {
        let name = str_of(table, "name");
        for field in table
            .get("fields")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = field.as_table().unwrap();
            if let Some(choices) = field.get("choices").and_then(toml::Value::as_str) {
                wanted.insert(
                    (name.to_string(), str_of(field, "name").to_string()),
                    list(choices),
                );
            }
        }
        for (element, change) in table
            .get("overrides")
            .and_then(toml::Value::as_table)
            .into_iter()
            .flatten()
        {
            if let Some(choices) = change.get("choices").and_then(toml::Value::as_str) {
                wanted.insert((name.to_string(), element.clone()), list(choices));
            }
        }
    }
    assert_eq!(
        actual, wanted,
        "sys_choice holds exactly the schema's choice lists"
    );

    // The query a resolve code check makes.
    let (_, body) = get_json(
        &emu,
        "itil.user",
        &format!(
            "/api/now/table/sys_choice?sysparm_query={}&sysparm_fields=value,label,sequence,inactive",
            urlencode("name=incident^element=close_code^inactive=false^ORDERBYsequence")
        ),
    )
    .await;
    let codes: Vec<String> = rows(&body).iter().map(|r| text(&r["value"])).collect();
    assert_eq!(
        codes,
        [
            "Solution provided",
            "Resolved by caller",
            "Workaround provided",
            "Duplicate",
            "User error",
            "Known error"
        ]
    );
}

#[tokio::test]
async fn parent_tables_return_their_children_with_sys_class_name() {
    let emu = start(20);
    let count = |body: &Value, class: &str| {
        rows(body)
            .iter()
            .filter(|r| r["sys_class_name"] == class)
            .count()
    };
    let (status, body) = get_json(
        &emu,
        "admin",
        "/api/now/table/task?sysparm_fields=number,sys_class_name,state&sysparm_display_value=true",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(count(&body, "Incident"), 20);
    assert_eq!(count(&body, "Problem"), 5);
    assert_eq!(count(&body, "Change Request"), 4);
    assert_eq!(count(&body, "Requested Item"), 3);
    assert_eq!(count(&body, "Task"), 2);
    // Each row's state reads in its own class's words.
    let prb = rows(&body)
        .iter()
        .find(|r| r["number"] == "PRB0040001")
        .unwrap();
    assert_eq!(prb["state"], "Root Cause Analysis");
    let chg = rows(&body)
        .iter()
        .find(|r| r["number"] == "CHG0030002")
        .unwrap();
    assert_eq!(chg["state"], "Closed");

    let (_, body) = get_json(
        &emu,
        "admin",
        &format!(
            "/api/now/table/task?sysparm_query={}&sysparm_fields=number",
            urlencode("sys_class_name=problem^ORDERBYnumber")
        ),
    )
    .await;
    let numbers: Vec<String> = rows(&body).iter().map(|r| text(&r["number"])).collect();
    assert_eq!(
        numbers,
        [
            "PRB0040001",
            "PRB0040002",
            "PRB0040003",
            "PRB0040004",
            "PRB0040005"
        ]
    );

    // A child's fields are not the parent's: asking task for caller_id gives nothing.
    let (_, body) = get_json(
        &emu,
        "admin",
        "/api/now/table/task?sysparm_fields=caller_id&sysparm_limit=1",
    )
    .await;
    assert_eq!(rows(&body)[0], json!({}));

    // A record of a child table is found through the parent, and not through a sibling.
    let prb = emu.control().record("problem", "PRB0040001").unwrap();
    let id = text(&prb["sys_id"]);
    let (status, body) = get_json(&emu, "admin", &format!("/api/now/table/task/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["sys_class_name"], "problem");
    let (status, _) = get_json(&emu, "admin", &format!("/api/now/table/incident/{id}")).await;
    assert_eq!(status, 404);

    // CIs: cmdb_ci holds computers (through cmdb_ci_hardware) and services; INSTANCEOF picks
    // a branch.
    let (_, body) = get_json(
        &emu,
        "admin",
        &format!(
            "/api/now/table/cmdb_ci?sysparm_query={}&sysparm_fields=name,sys_class_name",
            urlencode("sys_class_nameINSTANCEOFcmdb_ci_hardware")
        ),
    )
    .await;
    let classes: BTreeSet<String> = rows(&body)
        .iter()
        .map(|r| text(&r["sys_class_name"]))
        .collect();
    assert_eq!(
        classes,
        BTreeSet::from(["cmdb_ci_computer".into(), "cmdb_ci_hardware".into()])
    );
    let (_, body) = get_json(
        &emu,
        "admin",
        "/api/now/table/cmdb_ci_hardware?sysparm_fields=name",
    )
    .await;
    assert_eq!(rows(&body).len(), 12, "a dock and eleven computers");

    // Writing through the parent applies the child's rules: priority follows impact and urgency.
    let inc = emu.control().record("incident", "INC0010003").unwrap();
    let id = text(&inc["sys_id"]);
    let (status, body) = send_json(
        &emu,
        "admin",
        Method::PATCH,
        &format!("/api/now/table/task/{id}"),
        json!({"impact": "1", "urgency": "1"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["priority"], "1");
    assert_eq!(
        emu.control().record("incident", &id).unwrap()["priority"],
        "1"
    );
}

#[tokio::test]
async fn references_dot_walks_and_display_values() {
    let emu = start(10);
    // Users of a department, with their managers, by dot-walking both ways.
    let (status, body) = get_json(
        &emu,
        "itil.user",
        &format!(
            "/api/now/table/sys_user?sysparm_query={}&sysparm_fields=user_name,manager.name,manager.email,department.name,location.city",
            urlencode("department.name=IT^ORDERBYuser_name")
        ),
    )
    .await;
    assert_eq!(status, 200);
    let users: Vec<(String, String, String)> = rows(&body)
        .iter()
        .map(|r| {
            (
                text(&r["user_name"]),
                text(&r["manager.name"]),
                text(&r["department.name"]),
            )
        })
        .collect();
    assert_eq!(
        users,
        [
            ("admin".into(), "".into(), "IT".into()),
            ("itil.admin".into(), "".into(), "IT".into()),
            ("itil.user".into(), "Ian Adler".into(), "IT".into()),
            ("mfa.user".into(), "Ian Adler".into(), "IT".into()),
            ("sso.user".into(), "Ian Adler".into(), "IT".into()),
        ]
    );
    let mia = rows(&body)
        .iter()
        .find(|r| r["user_name"] == "mfa.user")
        .unwrap();
    assert_eq!(mia["manager.email"], "itil.admin@example.com");
    assert_eq!(mia["location.city"], "Lisbon");

    // Two steps in a query: incidents whose assignee reports to Ian Adler.
    let control = emu.control();
    let ivy = control.user_sys_id("itil.user").unwrap();
    let id = control
        .insert_incident([
            ("short_description", "dot-walk me"),
            ("caller_id", "ada.quinn"),
            ("assigned_to", ivy.as_str()),
            ("state", "2"),
        ])
        .unwrap();
    let (_, body) = get_json(
        &emu,
        "admin",
        &format!(
            "/api/now/table/incident?sysparm_query={}&sysparm_fields=number,assigned_to.manager.name,caller_id.department.name&sysparm_display_value=all",
            urlencode("assigned_to.manager.name=Ian Adler^short_description=dot-walk me")
        ),
    )
    .await;
    let found = rows(&body);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0]["assigned_to.manager.name"],
        json!({"display_value": "Ian Adler", "value": "Ian Adler"})
    );
    assert_eq!(found[0]["caller_id.department.name"]["value"], "Finance");

    // References to any table: {link, value}, and the display field of the table named.
    let (_, body) = get_json(
        &emu,
        "admin",
        &format!("/api/now/table/incident/{id}?sysparm_fields=assignment_group,cmdb_ci,caller_id"),
    )
    .await;
    assert_eq!(
        body["result"]["caller_id"]["value"],
        control.user_sys_id("ada.quinn").unwrap()
    );
    assert!(
        text(&body["result"]["caller_id"]["link"]).ends_with(&format!(
            "/api/now/table/sys_user/{}",
            control.user_sys_id("ada.quinn").unwrap()
        ))
    );
    let (_, body) = get_json(
        &emu,
        "admin",
        &format!(
            "/api/now/table/sys_user_grmember?sysparm_query={}&sysparm_display_value=true",
            urlencode("group.name=CAB Approval^ORDERBYuser")
        ),
    )
    .await;
    let members: Vec<(String, String)> = rows(&body)
        .iter()
        .map(|r| {
            (
                text(&r["group"]["display_value"]),
                text(&r["user"]["display_value"]),
            )
        })
        .collect();
    assert_eq!(
        members,
        [
            ("CAB Approval".into(), "Grace Liu".into()),
            ("CAB Approval".into(), "Ian Adler".into()),
            ("CAB Approval".into(), "System Administrator".into()),
        ],
        "sorted by the referenced user's name, as lists are"
    );
    assert!(
        text(&rows(&body)[0]["group"]["link"]).contains("/api/now/table/sys_user_group/"),
        "links name the referenced table"
    );
    // A reference given by name on write is stored as the sys_id.
    let (status, body) = send_json(
        &emu,
        "admin",
        Method::PATCH,
        &format!("/api/now/table/incident/{id}"),
        json!({"assignment_group": "Network", "cmdb_ci": "VPN"}),
    )
    .await;
    assert_eq!(status, 200);
    let stored = control.record("incident", &id).unwrap();
    assert_eq!(text(&stored["assignment_group"]).len(), 32);
    assert_eq!(body["result"]["cmdb_ci"]["value"], stored["cmdb_ci"]);
}

#[tokio::test]
async fn inserts_keep_a_given_sys_id_and_maintain_the_system_fields() {
    let emu = start(1);
    let control = emu.control();
    let wanted = "0123456789abcdef0123456789abcdef";
    let (status, body) = send_json(
        &emu,
        "itil.user",
        Method::POST,
        "/api/now/table/problem",
        json!({"sys_id": wanted, "short_description": "Printers drop off the network", "sys_created_by": "someone.else", "sys_mod_count": "99"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let created = &body["result"];
    assert_eq!(created["sys_id"], wanted, "the client's sys_id is kept");
    assert_eq!(created["number"], "PRB0040006", "after the seeded problems");
    assert_eq!(created["state"], "101", "the dictionary default");
    assert_eq!(created["sys_class_name"], "problem");
    assert_eq!(created["sys_created_by"], "itil.user");
    assert_eq!(created["sys_mod_count"], "0");
    assert_eq!(
        created["opened_by"]["value"],
        control.user_sys_id("itil.user").unwrap()
    );
    let first_update = text(&created["sys_updated_on"]);

    // The same sys_id again, on a sibling table of the same hierarchy: a new one is made.
    let (status, body) = send_json(
        &emu,
        "itil.user",
        Method::POST,
        "/api/now/table/incident",
        json!({"sys_id": wanted, "short_description": "clash"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_ne!(body["result"]["sys_id"], wanted);

    control.advance_clock(Duration::from_secs(90));
    let (status, body) = send_json(
        &emu,
        "itil.admin",
        Method::PATCH,
        &format!("/api/now/table/problem/{wanted}"),
        json!({"known_error": "true", "short_description": "x".repeat(200)}),
    )
    .await;
    assert_eq!(status, 200);
    let updated = &body["result"];
    assert_eq!(updated["sys_mod_count"], "1");
    assert_eq!(updated["sys_updated_by"], "itil.admin");
    assert_eq!(updated["sys_created_by"], "itil.user");
    assert!(text(&updated["sys_updated_on"]) > first_update);
    assert_eq!(
        text(&updated["short_description"]).len(),
        160,
        "cut to the field's length, silently"
    );
    // Nothing changed: nothing counted.
    let (_, body) = send_json(
        &emu,
        "itil.admin",
        Method::PATCH,
        &format!("/api/now/table/problem/{wanted}"),
        json!({"known_error": "true"}),
    )
    .await;
    assert_eq!(body["result"]["sys_mod_count"], "1");
}

#[tokio::test]
async fn who_reads_and_writes_what() {
    let emu = start(10);
    let control = emu.control();
    let count = |body: &Value| rows(body).len();
    // itil reads the ITSM tables and the people, not the system log or business rules.
    for table in [
        "problem",
        "change_request",
        "sc_req_item",
        "task",
        "cmdb_ci",
        "sys_user",
        "sys_user_group",
        "kb_knowledge",
        "cmn_department",
        "sys_choice",
    ] {
        let (status, body) = get_json(&emu, "itil.user", &format!("/api/now/table/{table}")).await;
        assert_eq!(status, 200, "{table}");
        assert!(count(&body) > 0, "itil reads {table}");
    }
    for table in ["syslog", "sys_script", "sys_metadata"] {
        let response = basic(
            &emu,
            Method::GET,
            &format!("/api/now/table/{table}"),
            "itil.user",
        )
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 200, "{table}");
        let total = header(response.headers(), "x-total-count").unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(count(&body), 0, "the ACL removes every row of {table}");
        assert_ne!(
            total, "0",
            "while the count still counts them, as on instances"
        );
    }
    // A caller without roles: people and knowledge, her own requested items, no problems.
    let (_, body) = get_json(
        &emu,
        "ada.quinn",
        "/api/now/table/sc_req_item?sysparm_fields=number",
    )
    .await;
    let numbers: Vec<String> = rows(&body).iter().map(|r| text(&r["number"])).collect();
    assert_eq!(numbers, ["RITM0010002"]);
    let (_, body) = get_json(&emu, "ada.quinn", "/api/now/table/problem").await;
    assert_eq!(count(&body), 0);
    let (_, body) = get_json(&emu, "ada.quinn", "/api/now/table/sys_user").await;
    assert_eq!(count(&body), 13);
    let prb = text(&control.record("problem", "PRB0040002").unwrap()["sys_id"]);
    let (status, _) = get_json(&emu, "ada.quinn", &format!("/api/now/table/problem/{prb}")).await;
    assert_eq!(status, 404);

    // Writes: itil writes tasks but not CIs; nobody writes the generated tables.
    let (status, _) = send_json(
        &emu,
        "itil.user",
        Method::PATCH,
        &format!("/api/now/table/problem/{prb}"),
        json!({"workaround": "w"}),
    )
    .await;
    assert_eq!(status, 200);
    let ci = text(
        &control
            .record(
                "cmdb_ci_computer",
                &control.sys_ids("cmdb_ci_computer", "name=LT-0201")[0],
            )
            .unwrap()["sys_id"],
    );
    let (status, body) = send_json(
        &emu,
        "itil.user",
        Method::PATCH,
        &format!("/api/now/table/cmdb_ci/{ci}"),
        json!({"ram": "1"}),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["error"]["detail"],
        "ACL Exception Update Failed due to security constraints"
    );
    let (status, _) = send_json(
        &emu,
        "itil.admin",
        Method::PATCH,
        &format!("/api/now/table/cmdb_ci_computer/{ci}"),
        json!({"ram": "65536"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send_json(
        &emu,
        "admin",
        Method::POST,
        "/api/now/table/sys_db_object",
        json!({"name": "u_mine"}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = send_json(
        &emu,
        "itil.user",
        Method::DELETE,
        &format!("/api/now/table/problem/{prb}"),
        json!({}),
    )
    .await;
    assert_eq!(status, 403, "deleting needs admin");

    // Unknown tables: the documented error, from every API.
    let (status, body) = get_json(&emu, "admin", "/api/now/table/u_nope").await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": {"message": "Invalid table u_nope", "detail": null}, "status": "failure"})
        )
    );
    let (status, body) = get_json(&emu, "admin", "/api/now/stats/u_nope?sysparm_count=true").await;
    assert_eq!(
        (status, body["error"]["message"].clone()),
        (400, json!("Invalid table u_nope"))
    );
}

#[tokio::test]
async fn the_aggregate_api() {
    let emu = start(60);
    let control = emu.control();
    let total = control.count("incident", "");
    let (status, body) = get_json(
        &emu,
        "itil.user",
        "/api/now/stats/incident?sysparm_count=true",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"result": {"stats": {"count": total.to_string()}}})
    );

    let (_, body) = get_json(
        &emu,
        "itil.user",
        &format!(
            "/api/now/v1/stats/incident?sysparm_count=true&sysparm_group_by=state&sysparm_display_value=all&sysparm_query={}",
            urlencode("active=true")
        ),
    )
    .await;
    let groups = rows(&body);
    let mut summed = 0;
    let mut states = Vec::new();
    for group in groups {
        let field = &group["groupby_fields"][0];
        assert_eq!(field["field"], "state");
        let state = text(&field["value"]);
        let n: usize = text(&group["stats"]["count"]).parse().unwrap();
        assert_eq!(
            n,
            control.count("incident", &format!("active=true^state={state}"))
        );
        summed += n;
        states.push((state, text(&field["display_value"])));
    }
    assert_eq!(summed, control.count("incident", "active=true"));
    assert_eq!(
        states,
        [
            ("1".into(), "New".into()),
            ("2".into(), "In Progress".into()),
            ("3".into(), "On Hold".into())
        ],
        "groups come in the field's order, with their labels"
    );

    // Averages, sums, min and max; name=value pairs filter like sysparm_query (labels too).
    let (_, body) = get_json(
        &emu,
        "admin",
        "/api/now/stats/incident?sysparm_avg_fields=priority&sysparm_min_fields=number,priority&sysparm_max_fields=number&sysparm_sum_fields=priority&state=New",
    )
    .await;
    let stats = &body["result"]["stats"];
    let new: Vec<serde_json::Map<String, Value>> = control
        .sys_ids("incident", "state=1")
        .iter()
        .map(|id| control.record("incident", id).unwrap())
        .collect();
    let priorities: Vec<i64> = new
        .iter()
        .map(|r| text(&r["priority"]).parse().unwrap())
        .collect();
    let sum: i64 = priorities.iter().sum();
    assert_eq!(stats["sum"]["priority"], sum.to_string());
    assert_eq!(
        stats["avg"]["priority"],
        format!("{:.4}", sum as f64 / priorities.len() as f64)
    );
    assert_eq!(
        stats["min"]["priority"],
        priorities.iter().min().unwrap().to_string()
    );
    let mut numbers: Vec<String> = new.iter().map(|r| text(&r["number"])).collect();
    numbers.sort();
    assert_eq!(stats["min"]["number"], numbers[0]);
    assert_eq!(stats["max"]["number"], numbers[numbers.len() - 1]);

    // Grouping by a reference shows its display value; having and order by count.
    let (_, body) = get_json(
        &emu,
        "admin",
        "/api/now/stats/incident?sysparm_count=true&sysparm_group_by=assignment_group&sysparm_display_value=true&sysparm_having=count^sys_id^>^2&sysparm_order_by=COUNT^DESC",
    )
    .await;
    let counts: Vec<usize> = rows(&body)
        .iter()
        .map(|g| text(&g["stats"]["count"]).parse().unwrap())
        .collect();
    assert!(
        !counts.is_empty() && counts.iter().all(|c| *c > 2),
        "{counts:?}"
    );
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    let names: BTreeSet<String> = rows(&body)
        .iter()
        .map(|g| text(&g["groupby_fields"][0]["value"]))
        .collect();
    assert!(
        names.is_subset(&BTreeSet::from(
            [
                "Service Desk",
                "Network",
                "Hardware",
                "Software",
                "Database"
            ]
            .map(String::from)
        )),
        "{names:?}"
    );

    // Aggregates need read access to every record: a caller sees only her incidents.
    let (status, body) = get_json(
        &emu,
        "ada.quinn",
        "/api/now/stats/incident?sysparm_count=true",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = get_json(
        &emu,
        "ada.quinn",
        "/api/now/stats/sys_user?sysparm_count=true&sysparm_group_by=department",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(rows(&body).len(), 7, "seven departments");
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(value: &Value) -> Value {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

#[tokio::test]
async fn the_batch_api() {
    let emu = start(5);
    let control = emu.control();
    let inc = text(&control.record("incident", "INC0010002").unwrap()["sys_id"]);
    let request = json!({
        "batch_request_id": 7,
        "rest_requests": [
            {"id": "get", "method": "GET", "url": format!("/api/now/table/incident/{inc}?sysparm_fields=number"),
             "headers": [{"name": "Accept", "value": "application/json"}]},
            {"id": "new", "method": "POST", "url": "/api/now/table/problem?sysparm_display_value=all",
             "headers": [{"name": "Content-Type", "value": "application/json"}],
             "body": b64(br#"{"short_description":"made in a batch"}"#), "exclude_response_headers": true},
            {"id": "patch", "method": "PATCH", "url": format!("/api/now/table/incident/{inc}"),
             "headers": [{"name": "Content-Type", "value": "application/json"}],
             "body": b64(br#"{"urgency":"1","impact":"1"}"#)},
            {"id": "denied", "method": "DELETE", "url": format!("/api/now/table/incident/{inc}")},
            {"id": "count", "method": "GET", "url": "/api/now/stats/problem?sysparm_count=true"},
            {"id": "nested", "method": "POST", "url": "/api/now/v1/batch", "body": b64(b"{}")},
            {"id": "page", "method": "GET", "url": "/login.do"},
        ]
    });
    let (status, body) = send_json(
        &emu,
        "itil.user",
        Method::POST,
        "/api/now/v1/batch",
        request,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["batch_request_id"], "7", "echoed as a string");
    assert_eq!(body["unserviced_requests"], json!([]));
    let serviced: BTreeMap<String, &Value> = body["serviced_requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (text(&s["id"]), s))
        .collect();
    let item = |id: &str| serviced[id];
    assert_eq!(item("get")["status_code"], 200);
    assert_eq!(item("get")["status_text"], "OK");
    assert_eq!(
        unb64(&item("get")["body"]),
        json!({"result": {"number": "INC0010002"}})
    );
    assert!(
        item("get")["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("content-type"))),
        "headers unless excluded"
    );
    assert!(item("get")["execution_time"].is_u64());
    assert_eq!(item("new")["status_code"], 201);
    assert_eq!(item("new")["status_text"], "Created");
    assert_eq!(item("new")["headers"], json!([]));
    let made = unb64(&item("new")["body"]);
    assert_eq!(
        made["result"]["sys_created_by"]["value"], "itil.user",
        "as the batch's user"
    );
    assert_eq!(made["result"]["state"]["display_value"], "New");
    assert_eq!(item("patch")["status_code"], 200);
    assert_eq!(control.record("incident", &inc).unwrap()["priority"], "1");
    assert_eq!(
        item("denied")["status_code"],
        403,
        "each item meets the ACLs"
    );
    assert_eq!(
        unb64(&item("count")["body"])["result"]["stats"]["count"],
        "6"
    );
    assert_eq!(item("nested")["status_code"], 400);
    assert!(text(&item("nested")["error_message"]).contains("batch"));
    assert_eq!(item("page")["status_code"], 400);
    assert!(control.record("incident", &inc).is_some());

    // The batch in a browser session: its items ride on the session and its token.
    let mut browser = Browser::new(emu.url());
    let g_ck = browser.login("itil.user", "snowbridge", false).await;
    let request = json!({"batch_request_id": "b", "rest_requests": [
        {"id": "1", "method": "GET", "url": "/api/now/table/sys_user?sysparm_query=user_name=itil.user&sysparm_fields=name"}
    ]});
    let response = browser
        .api(
            Method::POST,
            "/api/now/batch",
            Some(&g_ck),
            Some(request.clone()),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        unb64(&body["serviced_requests"][0]["body"]),
        json!({"result": [{"name": "Ivy Tillman"}]})
    );
    let response = browser
        .api(Method::POST, "/api/now/batch", None, Some(request))
        .await;
    assert_eq!(
        response.status(),
        401,
        "without the token the batch itself is refused"
    );

    // A body that is not a batch.
    let (status, body) = send_json(
        &emu,
        "admin",
        Method::POST,
        "/api/now/v1/batch",
        json!({"batch_request_id": "x"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["status"], "failure");
}

#[tokio::test]
async fn jsonv2_on_any_table() {
    let emu = start(3);
    let (status, body) = get_json(
        &emu,
        "itil.user",
        "/problem.do?JSONv2&sysparm_action=getRecords&sysparm_query=number=PRB0040002&displayvalue=all",
    )
    .await;
    assert_eq!(status, 200);
    let record = &body["records"][0];
    assert_eq!(record["state"], "104");
    assert_eq!(record["dv_state"], "Fix in Progress");
    assert_eq!(record["dv_assignment_group"], "Software");
    assert_eq!(record["dv_cmdb_ci"], "Email");
    let (_, body) = get_json(
        &emu,
        "itil.user",
        "/cmdb_ci.do?JSONv2&sysparm_action=getRecords&sysparm_query=name=LT-0201",
    )
    .await;
    assert_eq!(body["records"][0]["sys_class_name"], "cmdb_ci_computer");
    let (status, body) = send_json(
        &emu,
        "itil.user",
        Method::POST,
        "/change_request.do?JSONv2&sysparm_action=insert",
        json!({"short_description": "through JSONv2", "type": "Emergency"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["records"][0]["number"], "CHG0030005");
    assert_eq!(
        body["records"][0]["type"], "emergency",
        "a choice given by its label"
    );
    let (_, body) = get_json(
        &emu,
        "itil.user",
        "/syslog.do?JSONv2&sysparm_action=getKeys",
    )
    .await;
    assert_eq!(body["records"], json!([]), "itil reads no log");
    let (_, body) = get_json(&emu, "admin", "/syslog.do?JSONv2&sysparm_action=getKeys").await;
    assert!(body["records"].as_array().unwrap().len() >= 1000);
}

#[tokio::test]
async fn text_compares_and_sorts_case_insensitively_and_references_match_display_values() {
    let emu = start(30);
    let query = |table: &str, q: &str| {
        format!(
            "/api/now/table/{table}?sysparm_query={}&sysparm_fields=number,user_name,sys_id",
            urlencode(q)
        )
    };
    let values = |body: &Value, field: &str| -> Vec<String> {
        rows(body).iter().map(|r| text(&r[field])).collect()
    };

    // `=`, `!=`, IN and NOT IN fold case, as instances' database collation does.
    let (status, body) = get_json(&emu, "admin", &query("incident", "number=inc0010003")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(values(&body, "number"), ["INC0010003"]);
    let (_, body) = get_json(&emu, "admin", &query("sys_user", "user_name=ADMIN")).await;
    assert_eq!(
        values(&body, "sys_id"),
        ["6816f79cc0a8016401c5a33be04be441"]
    );
    let (_, body) = get_json(&emu, "admin", &query("incident", "number!=inc0010003")).await;
    assert_eq!(rows(&body).len(), 29);
    assert!(!values(&body, "number").contains(&"INC0010003".to_owned()));
    let (_, body) = get_json(
        &emu,
        "admin",
        &query("incident", "numberINinc0010001,Inc0010002^ORDERBYnumber"),
    )
    .await;
    assert_eq!(values(&body, "number"), ["INC0010001", "INC0010002"]);
    let (_, body) = get_json(
        &emu,
        "admin",
        &query("incident", "numberNOT INinc0010001,Inc0010002"),
    )
    .await;
    assert_eq!(rows(&body).len(), 28);
    // A sys_id is exact hex: another case names nothing.
    let (_, body) = get_json(
        &emu,
        "admin",
        &query("sys_user", "sys_id=6816F79CC0A8016401C5A33BE04BE441"),
    )
    .await;
    assert_eq!(rows(&body).len(), 0, "{body}");

    // ORDERBY ignores case too: alpha, Bravo, charlie (not Bravo first, as bytes would sort).
    for name in ["Bravo.case", "charlie.case", "alpha.case"] {
        let (status, body) = send_json(
            &emu,
            "admin",
            Method::POST,
            "/api/now/table/sys_user",
            json!({"user_name": name}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, body) = get_json(
        &emu,
        "admin",
        &query("sys_user", "user_nameENDSWITH.case^ORDERBYuser_name"),
    )
    .await;
    assert_eq!(
        values(&body, "user_name"),
        ["alpha.case", "Bravo.case", "charlie.case"]
    );
    let (_, body) = get_json(
        &emu,
        "admin",
        &query("sys_user", "user_name>BRAVO.case^user_nameENDSWITH.case"),
    )
    .await;
    assert_eq!(values(&body, "user_name"), ["charlie.case"]);

    // A reference compared with a display value matches the records it names, in any case.
    let (_, by_sys_id) = get_json(
        &emu,
        "admin",
        &query(
            "sys_user",
            "manager.user_name=farid.haddad^ORDERBYuser_name",
        ),
    )
    .await;
    assert!(values(&by_sys_id, "user_name").contains(&"ada.quinn".to_owned()));
    let (_, by_name) = get_json(
        &emu,
        "admin",
        &query("sys_user", "manager=farid haddad^ORDERBYuser_name"),
    )
    .await;
    assert_eq!(
        values(&by_name, "user_name"),
        values(&by_sys_id, "user_name")
    );
    let (_, others) = get_json(
        &emu,
        "admin",
        &query("sys_user", "manager!=Farid Haddad^ORmanagerISEMPTY"),
    )
    .await;
    assert!(!values(&others, "user_name").contains(&"ada.quinn".to_owned()));
}

#[tokio::test]
async fn the_aggregate_api_groups_by_dot_walked_fields() {
    let emu = start(60);
    let control = emu.control();
    let (status, body) = get_json(
        &emu,
        "itil.user",
        "/api/now/stats/incident?sysparm_count=true&sysparm_group_by=caller_id.department&sysparm_display_value=all",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let groups = rows(&body);
    assert!(groups.len() > 1, "grouped, not one count: {body}");
    let mut summed = 0;
    for group in groups {
        let field = &group["groupby_fields"][0];
        assert_eq!(field["field"], "caller_id.department", "{group}");
        let department = text(&field["value"]);
        let n: usize = text(&group["stats"]["count"]).parse().unwrap();
        // Incidents whose caller has no department make a group of their own.
        if !department.is_empty() {
            let query = format!("caller_id.department={department}");
            assert_eq!(n, control.count("incident", &query), "{group}");
            let name = control.record("cmn_department", &department).unwrap()["name"].clone();
            assert_eq!(field["display_value"], name, "{group}");
        }
        summed += n;
    }
    assert_eq!(summed, control.count("incident", ""));
}
