//! The incident form as a browser posts it: UI actions, the data policy message, role checks,
//! the security token, and the attachment dialog.

#[path = "common/emu_client.rs"]
mod emu_client;

use emu_client::{Browser, g_ck, input_value, location, messages, start};
use snowbridge::emulator::Emulator;

async fn open_form(browser: &mut Browser, sys_id: &str) -> String {
    let response = browser.get(&format!("/incident.do?sys_id={sys_id}")).await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

fn new_incident(emu: &Emulator) -> String {
    emu.control()
        .insert_incident([("short_description", "Printer jammed"), ("state", "2")])
        .unwrap()
}

#[tokio::test]
async fn the_form_has_the_hooks_automation_uses() {
    let emu = start(1);
    let id = new_incident(&emu);
    let mut browser = Browser::new(emu.url());
    let token = browser.login("itil.user", "snowbridge", false).await;
    let html = open_form(&mut browser, &id).await;
    for hook in [
        "id=\"incident.do\"",
        "id=\"incident.short_description\" name=\"incident.short_description\"",
        "<select id=\"incident.state\" name=\"incident.state\"",
        "<select id=\"incident.category\" name=\"incident.category\"",
        "<select id=\"incident.close_code\" name=\"incident.close_code\"",
        "<textarea id=\"incident.close_notes\" name=\"incident.close_notes\"",
        "id=\"sysverb_update\"",
        "id=\"resolve_incident\"",
        ">Resolve Incident<",
        "gsftSubmit(",
        "var g_form",
        "id=\"header_add_attachment\"",
        "id=\"attachFile\" name=\"attachFile\" multiple",
    ] {
        assert!(html.contains(hook), "form lacks {hook}");
    }
    for code in [
        "Solution provided",
        "Resolved by caller",
        "Workaround provided",
        "Duplicate",
        "User error",
        "Known error",
    ] {
        assert!(
            html.contains(&format!("<option value=\"{code}\">{code}</option>")),
            "close code {code}"
        );
    }
    assert!(
        !html.contains("id=\"close_incident\""),
        "itil does not see Close Incident"
    );
    assert_eq!(
        input_value(&html, "sys_uniqueValue").as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        input_value(&html, "sysparm_ck").as_deref(),
        Some(token.as_str())
    );
    assert_eq!(g_ck(&html).as_deref(), Some(token.as_str()));
    assert!(html.contains("Printer jammed"));

    // By number, as a query.
    let number = emu.control().record("incident", &id).unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string();
    let by_number = browser
        .get(&format!("/incident.do?sysparm_query=number%3D{number}"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        input_value(&by_number, "sys_uniqueValue").as_deref(),
        Some(id.as_str())
    );

    // Inside the shell.
    let shell = browser
        .get(&format!("/nav_to.do?uri=incident.do%3Fsys_id%3D{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(shell.contains(&format!(
        "name=\"gsft_main\" title=\"Main Content\" src=\"/incident.do?sys_id={id}\""
    )));

    let mut boss = Browser::new(emu.url());
    boss.login("itil.admin", "snowbridge", false).await;
    assert!(
        open_form(&mut boss, &id)
            .await
            .contains("id=\"close_incident\"")
    );
}

#[tokio::test]
async fn resolve_incident_through_the_form() {
    let emu = start(1);
    let id = new_incident(&emu);
    let control = emu.control();
    let mut browser = Browser::new(emu.url());
    let token = browser.login("itil.user", "snowbridge", false).await;
    open_form(&mut browser, &id).await;

    // Without a resolution code: the data policy message, nothing saved.
    let refused = browser
        .post_form(
            "/incident.do",
            &[
                ("sysparm_ck", &token),
                ("sys_uniqueValue", &id),
                ("sys_action", "resolve_incident"),
                ("incident.close_notes", "Replaced the roller"),
            ],
        )
        .await;
    assert_eq!(refused.status(), 200);
    let page = refused.text().await.unwrap();
    assert_eq!(
        messages(&page, "error"),
        ["Data Policy Exception: The following fields are mandatory: Resolution code"],
        "lists exactly the missing field"
    );
    assert!(
        page.contains("Replaced the roller"),
        "posted values are shown again"
    );
    assert_eq!(control.record("incident", &id).unwrap()["state"], "2");

    let resolved = browser
        .post_form(
            "/incident.do",
            &[
                ("sysparm_ck", &token),
                ("sys_uniqueValue", &id),
                ("sys_action", "resolve_incident"),
                ("sys_target", "incident"),
                ("incident.close_code", "Solution provided"),
                ("incident.close_notes", "Replaced the roller"),
            ],
        )
        .await;
    assert_eq!(resolved.status(), 302);
    assert_eq!(
        location(resolved.headers()),
        format!("/incident.do?sys_id={id}")
    );
    let record = control.record("incident", &id).unwrap();
    assert_eq!(record["state"], "6");
    assert_eq!(record["close_code"], "Solution provided");
    assert_eq!(record["close_notes"], "Replaced the roller");
    assert_eq!(
        record["resolved_by"],
        serde_json::json!(control.user_sys_id("itil.user").unwrap())
    );
    let after = open_form(&mut browser, &id).await;
    let number = record["number"].as_str().unwrap();
    assert_eq!(
        messages(&after, "info"),
        [format!("Incident {number} resolved")]
    );
    assert!(
        messages(&open_form(&mut browser, &id).await, "info").is_empty(),
        "the message shows once"
    );

    // Closing needs itil_admin: the form says so.
    let close = browser
        .post_form(
            "/incident.do",
            &[
                ("sysparm_ck", &token),
                ("sys_uniqueValue", &id),
                ("sys_action", "close_incident"),
            ],
        )
        .await;
    assert_eq!(close.status(), 200);
    let errors = messages(&close.text().await.unwrap(), "error");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("itil_admin"), "{errors:?}");
    assert_eq!(control.record("incident", &id).unwrap()["state"], "6");

    let mut boss = Browser::new(emu.url());
    let boss_token = boss.login("itil.admin", "snowbridge", false).await;
    let closed = boss
        .post_form(
            "/incident.do",
            &[
                ("sysparm_ck", &boss_token),
                ("sys_uniqueValue", &id),
                ("sys_action", "close_incident"),
            ],
        )
        .await;
    assert_eq!(closed.status(), 302);
    assert_eq!(control.record("incident", &id).unwrap()["state"], "7");
}

#[tokio::test]
async fn a_plain_update_and_a_wrong_token() {
    let emu = start(1);
    let id = new_incident(&emu);
    let control = emu.control();
    let mut browser = Browser::new(emu.url());
    let token = browser.login("itil.user", "snowbridge", false).await;
    let saved = browser
        .post_form(
            "/incident.do",
            &[
                ("sysparm_ck", &token),
                ("sys_uniqueValue", &id),
                ("sys_action", "sysverb_update"),
                ("incident.short_description", "Printer fixed?"),
                ("incident.priority", "1"),
                ("incident.number", "INC9999999"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 302);
    let record = control.record("incident", &id).unwrap();
    assert_eq!(record["short_description"], "Printer fixed?");
    assert_ne!(
        record["number"], "INC9999999",
        "read-only fields are not taken from the form"
    );

    let forged = browser
        .post_form(
            "/incident.do",
            &[
                ("sysparm_ck", "not-the-token"),
                ("sys_uniqueValue", &id),
                ("incident.short_description", "x"),
            ],
        )
        .await;
    assert_eq!(forged.status(), 302);
    assert!(location(forged.headers()).ends_with("security_interceptor.do"));
    assert_eq!(
        control.record("incident", &id).unwrap()["short_description"],
        "Printer fixed?"
    );

    // Not logged in: to the login page, nothing written.
    let mut stranger = Browser::new(emu.url());
    let anon = stranger
        .post_form(
            "/incident.do",
            &[
                ("sys_uniqueValue", &id),
                ("incident.short_description", "y"),
            ],
        )
        .await;
    assert_eq!(anon.status(), 302);
    assert!(location(anon.headers()).starts_with("/login.do"));
}

#[tokio::test]
async fn attachments_through_the_upload_dialog() {
    let emu = start(1);
    let id = new_incident(&emu);
    let control = emu.control();
    let mut browser = Browser::new(emu.url());
    let token = browser.login("itil.user", "snowbridge", false).await;
    let html = open_form(&mut browser, &id).await;
    assert_eq!(
        input_value(&html, "sysparm_sys_id").as_deref(),
        Some(id.as_str())
    );

    let form = reqwest::multipart::Form::new()
        .text("sysparm_ck", token.clone())
        .text("sysparm_table", "incident")
        .text("sysparm_sys_id", id.clone())
        .part(
            "attachFile",
            reqwest::multipart::Part::bytes(b"line one\n".to_vec())
                .file_name("log.txt")
                .mime_str("text/plain")
                .unwrap(),
        )
        .part(
            "attachFile",
            reqwest::multipart::Part::bytes(vec![0u8, 1, 2, 3]).file_name("dump.bin"),
        );
    let response = browser
        .client
        .post(browser.url("/sys_attachment.do"))
        .header("Cookie", browser.jar.header())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(
        location(response.headers()),
        format!("/incident.do?sys_id={id}")
    );
    let attached = control.attachments(&id);
    let names: Vec<&str> = attached.iter().map(|a| a.file_name.as_str()).collect();
    assert_eq!(names, ["log.txt", "dump.bin"]);
    assert_eq!(attached[0].content_type, "text/plain");
    assert_eq!(
        control.attachment_content(&attached[0].sys_id).unwrap(),
        b"line one\n"
    );

    let html = open_form(&mut browser, &id).await;
    assert!(html.contains(&format!("id=\"attachment_{}\"", attached[0].sys_id)));
    assert!(html.contains(">log.txt</a>") && html.contains(">dump.bin</a>"));
    let download = browser
        .get(&format!("/sys_attachment.do?sys_id={}", attached[1].sys_id))
        .await;
    assert_eq!(download.bytes().await.unwrap().as_ref(), &[0u8, 1, 2, 3]);

    // A wrong token uploads nothing.
    let form = reqwest::multipart::Form::new()
        .text("sysparm_ck", "wrong")
        .text("sysparm_table", "incident")
        .text("sysparm_sys_id", id.clone())
        .part(
            "attachFile",
            reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("x.txt"),
        );
    let refused = browser
        .client
        .post(browser.url("/sys_attachment.do"))
        .header("Cookie", browser.jar.header())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(location(refused.headers()).ends_with("security_interceptor.do"));
    assert_eq!(control.attachments(&id).len(), 2);
}

#[tokio::test]
async fn the_incident_list_links_to_forms() {
    let emu = start(12);
    let mut browser = Browser::new(emu.url());
    browser.login("itil.user", "snowbridge", false).await;
    let html = browser
        .get("/incident_list.do?sysparm_query=state%3D1")
        .await
        .text()
        .await
        .unwrap();
    let expected = emu.control().count("incident", "state=1");
    assert!(html.contains(&format!("{expected} records")));
    assert_eq!(html.matches("class=\"linked formlink\"").count(), expected);
}

#[tokio::test]
async fn task_tables_have_forms_with_the_same_hooks_and_no_incident_actions() {
    let emu = start(1);
    let control = emu.control();
    let mut browser = Browser::new(emu.url());
    let token = browser.login("itil.user", "snowbridge", false).await;
    for (table, number) in [
        ("problem", "PRB0040003"),
        ("change_request", "CHG0030001"),
        ("sc_req_item", "RITM0010001"),
    ] {
        let id = control.record(table, number).unwrap()["sys_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let response = browser.get(&format!("/{table}.do?sys_id={id}")).await;
        assert_eq!(response.status(), 200, "{table}");
        let html = response.text().await.unwrap();
        for hook in [
            format!("id=\"{table}.do\""),
            format!("id=\"{table}.short_description\" name=\"{table}.short_description\""),
            "id=\"sysverb_update\"".to_owned(),
            "id=\"header_add_attachment\"".to_owned(),
            "id=\"attachFile\" name=\"attachFile\" multiple".to_owned(),
            format!("name=\"sysparm_table\" value=\"{table}\""),
            format!("var g_table = '{table}'"),
        ] {
            assert!(html.contains(&hook), "{table} form lacks {hook}");
        }
        assert!(!html.contains("resolve_incident"), "{table}");
        assert_eq!(
            input_value(&html, "sys_uniqueValue").as_deref(),
            Some(id.as_str())
        );
        assert!(html.contains(number), "{table}");
    }

    // Saved through the form, with the instance's fields left alone.
    let id = control.record("problem", "PRB0040005").unwrap()["sys_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let saved = browser
        .post_form(
            "/problem.do",
            &[
                ("sysparm_ck", &token),
                ("sys_uniqueValue", &id),
                ("sys_action", "sysverb_update"),
                (
                    "problem.short_description",
                    "Wi-Fi drops in meeting rooms B and C",
                ),
                ("problem.number", "PRB9999999"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 302);
    assert_eq!(
        location(saved.headers()),
        format!("/problem.do?sys_id={id}")
    );
    let record = control.record("problem", &id).unwrap();
    assert_eq!(
        record["short_description"],
        "Wi-Fi drops in meeting rooms B and C"
    );
    assert_eq!(record["number"], "PRB0040005");
    let after = browser.get(&format!("/problem.do?sys_id={id}")).await;
    assert_eq!(
        messages(&after.text().await.unwrap(), "info"),
        ["Problem PRB0040005 updated"]
    );

    // A page for a table the instance does not have stays "not available".
    let missing = browser.get("/u_custom_table.do?sys_id=1").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        messages(&missing.text().await.unwrap(), "error"),
        ["The page u_custom_table.do is not available"]
    );
}
