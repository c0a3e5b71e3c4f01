//! The official Python client, pysnc (unchanged from PyPI), against the emulator over TLS:
//! paged queries, get, insert, update, delete, attachments (tests/pysnc_check.py does the
//! talking). Needs the virtualenv that scripts/pysnc-check.sh (or scripts/test.sh) creates.

#[path = "common/pysnc.rs"]
mod pysnc;

use snowbridge::emulator::{Emulator, EmulatorConfig};

#[test]
fn pysnc_works_unchanged() {
    let emu = Emulator::start(EmulatorConfig {
        tls: true,
        incidents: 40,
        ..EmulatorConfig::default()
    })
    .unwrap();
    let control = emu.control();
    for i in 0..23 {
        let impact = ["1", "2", "3"][i % 3];
        let state = ["1", "2", "3"][i % 3];
        control
            .insert_incident([
                ("short_description", format!("pysnc batch {i}")),
                ("impact", impact.to_string()),
                ("state", state.to_string()),
                ("caller_id", "ada.quinn".to_string()),
            ])
            .unwrap();
    }
    // pysnc retries a 503 on its own (urllib3 Retry); its first request meets one.
    control.fail_next(1, 503);
    control.clear_request_log();

    pysnc::run(&emu, "pysnc_check.py", &[], "pysnc check passed");

    let log = control.request_log();
    assert_eq!(
        log.first().map(|r| r.status),
        Some(503),
        "the injected 503 came first"
    );
    assert!(
        log.iter()
            .any(|r| r.path_and_query.contains("sysparm_offset=20") && r.status == 200),
        "pysnc paged by offset"
    );
    assert!(
        log.iter()
            .any(|r| r.method == "POST"
                && r.path_and_query.starts_with("/api/now/v1/attachment/file"))
    );
    assert_eq!(
        control.count("incident", "short_description=updated by pysnc"),
        0,
        "deleted at the end"
    );
}

/// pysnc's other ways in against the emulator over TLS: the password-grant flow (through
/// requests-oauthlib), the client-credentials flow and a client certificate
/// (tests/pysnc_oauth_check.py).
#[test]
fn pysnc_oauth_flows_and_certificates_work_unchanged() {
    let emu = Emulator::start(EmulatorConfig {
        tls: true,
        incidents: 5,
        ..EmulatorConfig::default()
    })
    .unwrap();
    let control = emu.control();
    let app = |name: &str| {
        let app = control
            .oauth_apps()
            .into_iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("a default app named {name}"));
        serde_json::json!([app.client_id, app.client_secret])
    };
    let certificate = control.client_certificate("admin").unwrap();
    let settings = serde_json::json!({
        "password_app": app("snowbridge confidential"),
        "client_credentials_app": app("snowbridge integration"),
        "certificate": [certificate.cert, certificate.key],
    });
    control.clear_request_log();

    pysnc::run(
        &emu,
        "pysnc_oauth_check.py",
        &[&settings.to_string()],
        "pysnc oauth check passed",
    );

    let log = control.request_log();
    let token_calls: Vec<u16> = log
        .iter()
        .filter(|r| r.path_and_query == "/oauth_token.do")
        .map(|r| r.status)
        .collect();
    assert_eq!(
        token_calls,
        [200, 401, 200],
        "password grant, wrong password, client credentials"
    );
    let api_users: Vec<&str> = log
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/now/"))
        .filter_map(|r| r.user.as_deref())
        .collect();
    for user in ["itil.admin", "itil.user", "admin"] {
        assert!(
            api_users.contains(&user),
            "an API call ran as {user} (password grant, client credentials, certificate): {api_users:?}"
        );
    }
    let refusals = control.oauth_refusals();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(refusals[0].contains("wrong password"), "{refusals:?}");
}
