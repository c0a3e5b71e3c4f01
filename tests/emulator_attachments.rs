//! The Attachment API: itil refused, admin uploads (raw and multipart), lists, downloads and
//! deletes; the multipart part order; the real reply's fields.

#[path = "common/emu_client.rs"]
mod emu_client;

use emu_client::{basic, header, start};
use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

#[tokio::test]
async fn itil_users_are_refused() {
    let emu = start(1);
    let control = emu.control();
    let id = control
        .insert_incident([("short_description", "x")])
        .unwrap();
    let response = basic(
        &emu,
        Method::POST,
        &format!("/api/now/attachment/file?table_name=incident&table_sys_id={id}&file_name=a.txt"),
        "itil.user",
    )
    .header("Content-Type", "text/plain")
    .body("hello")
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "failure");
    assert_eq!(body["error"]["message"], "Operation Failed");
    assert!(
        body["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("ACL Exception")
    );
    assert!(control.attachments(&id).is_empty());

    // With the switch off, itil may (it has write access to incidents).
    control.configure(|c| c.itil_rest_attachments_refused = false);
    let allowed = basic(
        &emu,
        Method::POST,
        &format!("/api/now/attachment/file?table_name=incident&table_sys_id={id}&file_name=a.txt"),
        "itil.user",
    )
    .body("hello")
    .send()
    .await
    .unwrap();
    assert_eq!(allowed.status(), 201);
}

#[tokio::test]
async fn admin_uploads_lists_downloads_and_deletes() {
    let emu = start(1);
    let control = emu.control();
    let id = control
        .insert_incident([("short_description", "x")])
        .unwrap();
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let response = basic(
        &emu,
        Method::POST,
        &format!(
            "/api/now/attachment/file?table_name=incident&table_sys_id={id}&file_name=big.bin"
        ),
        "admin",
    )
    .header("Content-Type", "application/octet-stream")
    .body(content.clone())
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 201);
    let location = header(response.headers(), "location").unwrap();
    assert_eq!(
        header(response.headers(), "content-type").as_deref(),
        Some("application/json;charset=UTF-8")
    );
    let body: Value = response.json().await.unwrap();
    let result = &body["result"];
    for field in [
        "sys_id",
        "file_name",
        "content_type",
        "size_bytes",
        "size_compressed",
        "compressed",
        "hash",
        "state",
        "table_name",
        "table_sys_id",
        "download_link",
        "chunk_size_bytes",
        "sys_created_by",
        "sys_created_on",
        "sys_updated_by",
        "sys_updated_on",
        "sys_mod_count",
        "sys_tags",
    ] {
        assert!(
            result.get(field).is_some(),
            "{field} missing from the reply"
        );
    }
    let att = result["sys_id"].as_str().unwrap().to_string();
    assert!(location.ends_with(&format!("/api/now/v1/attachment/{att}")));
    assert_eq!(result["size_bytes"], content.len().to_string());
    assert_eq!(result["hash"], hex::encode(Sha256::digest(&content)));
    assert_eq!(result["table_sys_id"], id.as_str());
    assert_eq!(control.attachments(&id)[0].sys_id, att);

    // Multipart, with the table parts first.
    let form = reqwest::multipart::Form::new()
        .text("table_name", "incident")
        .text("table_sys_id", id.clone())
        .part(
            "uploadFile",
            reqwest::multipart::Part::bytes(b"{\"a\":1}".to_vec())
                .file_name("data.json")
                .mime_str("application/json")
                .unwrap(),
        );
    let multipart = basic(&emu, Method::POST, "/api/now/attachment/upload", "admin")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(multipart.status(), 201);
    let second: Value = multipart.json().await.unwrap();
    let att2 = second["result"]["sys_id"].as_str().unwrap().to_string();
    assert_eq!(second["result"]["content_type"], "application/json");

    // List.
    let list = basic(
        &emu,
        Method::GET,
        &format!("/api/now/attachment?sysparm_query=table_sys_id%3D{id}"),
        "admin",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        header(list.headers(), "x-total-count").as_deref(),
        Some("2")
    );
    let listed: Value = list.json().await.unwrap();
    let names: Vec<&str> = listed["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"big.bin") && names.contains(&"data.json"));

    // Metadata and bytes, on the plain and the versioned path.
    let meta: Value = basic(
        &emu,
        Method::GET,
        &format!("/api/now/v1/attachment/{att2}"),
        "admin",
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(meta["result"]["file_name"], "data.json");
    let file = basic(
        &emu,
        Method::GET,
        &format!("/api/now/attachment/{att}/file"),
        "admin",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(
        header(file.headers(), "content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(file.bytes().await.unwrap().as_ref(), content.as_slice());
    let json_file = basic(
        &emu,
        Method::GET,
        &format!("/api/now/v1/attachment/{att2}/file"),
        "admin",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        header(json_file.headers(), "content-type").as_deref(),
        Some("application/json")
    );

    // Delete.
    let deleted = basic(
        &emu,
        Method::DELETE,
        &format!("/api/now/attachment/{att}"),
        "admin",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(control.attachments(&id).len(), 1);
    assert!(control.attachment_content(&att).is_none());
    let gone = basic(
        &emu,
        Method::GET,
        &format!("/api/now/attachment/{att}"),
        "admin",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn multipart_needs_the_table_parts_before_the_file() {
    let emu = start(1);
    let control = emu.control();
    let id = control
        .insert_incident([("short_description", "x")])
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .part(
            "uploadFile",
            reqwest::multipart::Part::bytes(b"late".to_vec()).file_name("late.txt"),
        )
        .text("table_name", "incident")
        .text("table_sys_id", id.clone());
    let response = basic(&emu, Method::POST, "/api/now/attachment/upload", "admin")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "failure");
    assert!(control.attachments(&id).is_empty());
}

#[tokio::test]
async fn uploads_need_an_existing_record_and_the_parameters() {
    let emu = start(1);
    let missing = basic(
        &emu,
        Method::POST,
        "/api/now/attachment/file?table_name=incident&file_name=a",
        "admin",
    )
    .body("x")
    .send()
    .await
    .unwrap();
    assert_eq!(missing.status(), 400);
    let no_record = basic(
        &emu,
        Method::POST,
        "/api/now/attachment/file?table_name=incident&table_sys_id=0123456789abcdef0123456789abcdef&file_name=a",
        "admin",
    )
    .body("x")
    .send()
    .await
    .unwrap();
    assert_eq!(no_record.status(), 400);
    let bad_table = basic(
        &emu,
        Method::POST,
        "/api/now/attachment/file?table_name=nope&table_sys_id=0123456789abcdef0123456789abcdef&file_name=a",
        "admin",
    )
    .body("x")
    .send()
    .await
    .unwrap();
    assert_eq!(bad_table.status(), 400);
}
