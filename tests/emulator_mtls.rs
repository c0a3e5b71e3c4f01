//! Client certificates on the emulator's TLS listener, with reqwest presenting the files the
//! emulator wrote to `DATA/clients/`: a mapped certificate runs as its user (no scopes), an
//! unmapped one gets `401`, one from another CA the load balancer's `400` page, and none falls
//! through to the other ways in.

use reqwest::StatusCode;
use serde_json::{Value, json};
use snowbridge::emulator::{Control, Emulator, EmulatorConfig, MtlsSettings, TableAuthScope};

fn start(mtls: MtlsSettings) -> Emulator {
    Emulator::start(EmulatorConfig {
        tls: true,
        incidents: 3,
        mtls,
        ..EmulatorConfig::default()
    })
    .expect("the emulator starts")
}

/// A client trusting the emulator's CA, presenting `certificate` (a name under DATA/clients/).
fn client(emu: &Emulator, certificate: Option<&str>) -> reqwest::Client {
    let pem = std::fs::read(emu.ca_pem_path().unwrap()).unwrap();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()]);
    if let Some(name) = certificate {
        let files = emu
            .control()
            .client_certificate(name)
            .unwrap_or_else(|| panic!("DATA/clients/{name}.pem and .key"));
        let mut identity = std::fs::read(files.key).unwrap();
        identity.extend(std::fs::read(files.cert).unwrap());
        builder = builder.identity(reqwest::Identity::from_pem(&identity).unwrap());
    }
    builder.build().unwrap()
}

async fn get(client: &reqwest::Client, emu: &Emulator) -> reqwest::Response {
    client
        .get(
            emu.url()
                .join("/api/now/table/incident?sysparm_limit=1")
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
}

fn last_user(control: &Control) -> Option<String> {
    control.request_log().last().and_then(|r| r.user.clone())
}

fn not_authenticated() -> Value {
    json!({"error": {"message": "User Not Authenticated",
        "detail": "Required to provide Auth information"}, "status": "failure"})
}

#[tokio::test]
async fn a_mapped_certificate_runs_as_its_user() {
    let emu = start(MtlsSettings::default());
    let control = emu.control();
    let ca = control.client_ca_pem_path().unwrap();
    assert!(ca.ends_with("clients/ca.pem") && ca.exists());

    let itil = client(&emu, Some("itil.user"));
    let response = get(&itil, &emu).await;
    assert_eq!(response.status(), 200);
    assert_eq!(last_user(&control).as_deref(), Some("itil.user"));

    // sso.user has no password on the instance, but a certificate works.
    assert_eq!(
        get(&client(&emu, Some("sso.user")), &emu).await.status(),
        200
    );
    assert_eq!(last_user(&control).as_deref(), Some("sso.user"));

    // No auth scope is checked for certificate sessions, and no Authorization header is needed.
    control.set_table_auth_scopes(vec![TableAuthScope {
        table: "incident".into(),
        methods: Vec::new(),
        scopes: vec!["incident_write".into()],
    }]);
    let created = itil
        .post(emu.url().join("/api/now/table/incident").unwrap())
        .json(&json!({"short_description": "by certificate"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["result"]["sys_created_by"], "itil.user");

    // Unmapped at run time: the same certificate is now valid but nobody's.
    control.unmap_client_certificates("itil.user");
    let response = get(&client(&emu, Some("itil.user")), &emu).await;
    assert_eq!(response.status(), 401);
    // And mapped to someone else.
    let pem = std::fs::read(control.client_certificate("itil.user").unwrap().cert).unwrap();
    control.map_client_certificate(&pem, "itil.admin").unwrap();
    assert_eq!(
        get(&client(&emu, Some("itil.user")), &emu).await.status(),
        200
    );
    assert_eq!(last_user(&control).as_deref(), Some("itil.admin"));
}

#[tokio::test]
async fn unmapped_untrusted_and_no_certificate() {
    let emu = start(MtlsSettings::default());

    let unmapped = get(&client(&emu, Some(Control::UNMAPPED_CERTIFICATE)), &emu).await;
    assert_eq!(unmapped.status(), StatusCode::UNAUTHORIZED);
    assert!(unmapped.headers().contains_key("www-authenticate"));
    assert_eq!(unmapped.json::<Value>().await.unwrap(), not_authenticated());

    // The handshake lets it through; the load balancer answers HTML, on every path.
    let untrusted = client(&emu, Some(Control::UNTRUSTED_CERTIFICATE));
    for path in ["/api/now/table/incident", "/login.do"] {
        let response = untrusted
            .get(emu.url().join(path).unwrap())
            .basic_auth("admin", Some("snowbridge"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        assert!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/html"))
        );
        let html = response.text().await.unwrap();
        assert!(
            html.contains("<title>400 The SSL certificate error</title>"),
            "{html}"
        );
    }

    // No certificate: the other ways in, as before.
    let plain = client(&emu, None);
    let response = get(&plain, &emu).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Value>().await.unwrap(), not_authenticated());
    let basic = plain
        .get(emu.url().join("/api/now/table/incident").unwrap())
        .basic_auth("itil.admin", Some("snowbridge"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    assert_eq!(last_user(&emu.control()).as_deref(), Some("itil.admin"));
}

#[tokio::test]
async fn the_certificates_survive_a_restart_and_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig {
        tls: true,
        incidents: 1,
        data_dir: Some(dir.path().to_path_buf()),
        ..EmulatorConfig::default()
    };
    let first = {
        let emu = Emulator::start(config.clone()).unwrap();
        std::fs::read(emu.control().client_certificate("admin").unwrap().cert).unwrap()
    };
    let emu = Emulator::start(config.clone()).unwrap();
    let files = emu.control().client_certificate("admin").unwrap();
    assert_eq!(std::fs::read(&files.cert).unwrap(), first, "reused");
    assert_eq!(get(&client(&emu, Some("admin")), &emu).await.status(), 200);
    drop(emu);

    // With client certificates off the handshake asks for none and a presented one is ignored.
    let off = Emulator::start(EmulatorConfig {
        mtls: MtlsSettings {
            request_client_certificate: false,
            ..MtlsSettings::default()
        },
        ..config
    })
    .unwrap();
    assert!(off.control().client_certificate("admin").is_none());
    let pem = std::fs::read(off.ca_pem_path().unwrap()).unwrap();
    let mut identity = std::fs::read(dir.path().join("clients/admin.key")).unwrap();
    identity.extend(first);
    let presenting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .identity(reqwest::Identity::from_pem(&identity).unwrap())
        .build()
        .unwrap();
    assert_eq!(get(&presenting, &off).await.status(), 401);
}
