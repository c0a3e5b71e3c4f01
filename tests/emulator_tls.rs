//! HTTPS with the emulator's CA: a client trusting only DATA/ca.pem connects, cookies carry
//! `Secure; SameSite=None`, the CA survives restarts on the same data folder, and so does the
//! database (seeded only when new).

#[path = "common/emu_client.rs"]
mod emu_client;

use emu_client::{Browser, set_cookie};
use reqwest::Method;
use serde_json::Value;
use snowbridge::emulator::{Emulator, EmulatorConfig};

fn trusting(ca_pem: &std::path::Path) -> reqwest::Client {
    let pem = std::fs::read(ca_pem).unwrap();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap()
}

fn tls_config(dir: &std::path::Path) -> EmulatorConfig {
    EmulatorConfig {
        tls: true,
        incidents: 4,
        data_dir: Some(dir.to_path_buf()),
        ..EmulatorConfig::default()
    }
}

#[tokio::test]
async fn https_with_the_generated_ca() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(tls_config(dir.path())).unwrap();
    assert_eq!(emu.url().scheme(), "https");
    let ca = emu.ca_pem_path().unwrap();
    assert_eq!(ca, dir.path().join("ca.pem"));
    let client = trusting(&ca);

    let response = client
        .get(emu.url().join("/api/now/table/incident").unwrap())
        .basic_auth("admin", Some("snowbridge"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for c in emu_client::set_cookies(response.headers()) {
        assert!(c.secure, "{} lacks Secure", c.name);
        assert_eq!(c.same_site.as_deref(), Some("None"), "{}", c.name);
        assert!(c.raw.ends_with("; SameSite=None; Secure"), "{}", c.raw);
    }
    assert!(response.headers().contains_key("strict-transport-security"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"].as_array().unwrap().len(), 4);

    // The IdP host name is covered by the certificate too.
    let idp = client
        .get(emu.idp_url().join("/idp/sso").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        idp.status(),
        400,
        "reached the IdP over TLS (no SAMLRequest given)"
    );

    // A UI login over TLS: every cookie Secure.
    let mut browser = Browser::with_client(emu.url(), client.clone());
    let html = browser.get("/login.do").await.text().await.unwrap();
    let ck = emu_client::input_value(&html, "sysparm_ck").unwrap();
    let posted = browser
        .post_form(
            "/login.do",
            &[
                ("user_name", "admin"),
                ("user_password", "snowbridge"),
                ("sysparm_ck", &ck),
                ("sys_action", "sysverb_login"),
            ],
        )
        .await;
    let jsession = set_cookie(posted.headers(), "JSESSIONID").unwrap();
    assert!(jsession.secure && jsession.http_only);
    assert_eq!(jsession.same_site.as_deref(), Some("None"));

    // A client that does not trust the CA is refused.
    let untrusting = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .unwrap();
    assert!(untrusting.get(emu.url()).send().await.is_err());
}

#[tokio::test]
async fn the_ca_and_the_database_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_before, created_id) = {
        let emu = Emulator::start(tls_config(dir.path())).unwrap();
        let ca = std::fs::read(emu.ca_pem_path().unwrap()).unwrap();
        let client = trusting(&emu.ca_pem_path().unwrap());
        let created: Value = client
            .request(
                Method::POST,
                emu.url().join("/api/now/table/incident").unwrap(),
            )
            .basic_auth("admin", Some("snowbridge"))
            .json(&serde_json::json!({"short_description": "kept"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            ca,
            created["result"]["sys_id"].as_str().unwrap().to_string(),
        )
    };
    assert!(dir.path().join("emulator.db").exists());
    let emu = Emulator::start(EmulatorConfig {
        incidents: 500,
        ..tls_config(dir.path())
    })
    .unwrap();
    assert_eq!(
        std::fs::read(emu.ca_pem_path().unwrap()).unwrap(),
        ca_before,
        "the CA is reused"
    );
    // A client built from the old ca.pem trusts the new server certificate.
    let client = trusting(&dir.path().join("ca.pem"));
    let response = client
        .get(
            emu.url()
                .join(&format!("/api/now/table/incident/{created_id}"))
                .unwrap(),
        )
        .basic_auth("admin", Some("snowbridge"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the record written before the restart is there"
    );
    assert_eq!(
        emu.control().count("incident", ""),
        5,
        "an existing database is not seeded again"
    );
}

#[tokio::test]
async fn a_temporary_data_folder_goes_away_with_the_emulator() {
    let emu = Emulator::start(EmulatorConfig {
        tls: true,
        incidents: 1,
        ..EmulatorConfig::default()
    })
    .unwrap();
    let ca = emu.ca_pem_path().unwrap();
    assert!(ca.exists());
    drop(emu);
    assert!(!ca.exists());
    assert!(!ca.parent().unwrap().exists());
}

/// The handshake offers HTTP/2 (ALPN `h2`) beside HTTP/1.1 by default, so a client that speaks
/// it, as snowbridge's does, multiplexes its requests on one connection; `http2 = false` offers
/// HTTP/1.1 alone. Both answer the same.
#[tokio::test]
async fn http2_is_offered_by_alpn_unless_turned_off() {
    for (http2, expected) in [
        (true, reqwest::Version::HTTP_2),
        (false, reqwest::Version::HTTP_11),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let emu = Emulator::start(EmulatorConfig {
            http2,
            ..tls_config(dir.path())
        })
        .unwrap();
        let client = trusting(&emu.ca_pem_path().unwrap());
        let url = emu.url().join("/api/now/table/incident").unwrap();
        for _ in 0..2 {
            let response = client
                .get(url.clone())
                .basic_auth("admin", Some("snowbridge"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.version(), expected, "http2 = {http2}");
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["result"].as_array().unwrap().len(), 4);
        }
    }
}
