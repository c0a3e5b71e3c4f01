//! `snowbridge cookies --format netscape` as the README promises it: Python's
//! `MozillaCookieJar(path).load()` with default arguments keeps the session (JSESSIONID
//! included) and `requests` calls as the user with it (JSONv2 with the cookies alone, REST with
//! the `X-UserToken` from `--format json`); curl and wget read the same file. Over TLS, so the
//! cookies carry Secure as real instances send them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Home, emulator, form_login, stderr, stdout};
use snowbridge::emulator::Emulator;

/// A home over TLS with itil.user's session from a form login, and its exports in files:
/// (home, emulator, cookies.txt, export.json, X-UserToken).
async fn exported() -> (Home, Emulator, PathBuf, PathBuf, String) {
    let emu = emulator(|c| c.tls = true);
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let cookies = home.root.path().join("cookies.txt");
    let json = home.root.path().join("export.json");
    for (format, path) in [("netscape", &cookies), ("json", &json)] {
        let out = home.run(&["cookies", "dev", "--format", format]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stderr(&out), "", "nothing left out");
        std::fs::write(path, &out.stdout).unwrap();
    }
    let export: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let token = export["user_token"].as_str().unwrap().to_owned();
    (home, emu, cookies, json, token)
}

fn ca(emu: &Emulator) -> PathBuf {
    emu.ca_pem_path().unwrap().to_path_buf()
}

/// The Table API URL that returns the calling user's own record.
fn me_url(emu: &Emulator) -> String {
    format!(
        "{}api/now/table/sys_user?sysparm_query=sys_id%3Djavascript%3Ags.getUserID()&sysparm_fields=user_name",
        emu.url()
    )
}

fn user_names(reply: &[u8]) -> Vec<String> {
    let reply: serde_json::Value = serde_json::from_slice(reply)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(reply)));
    reply["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user_name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pythons_mozilla_cookie_jar_loads_the_export_with_defaults_and_requests_calls_as_the_user()
{
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "this test needs Python with requests in a virtualenv at {}: run scripts/setup.sh",
        python.display()
    );
    let (_home, emu, cookies, json, _) = exported().await;
    let out = Command::new(&python)
        .arg(root.join("tests/netscape_check.py"))
        .arg(emu.url().as_str())
        .arg(&cookies)
        .arg(&json)
        .arg("itil.user")
        .arg(ca(&emu))
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "Python with the export ({}):\n{}\n{}\nthe file:\n{}",
        out.status,
        stdout(&out),
        stderr(&out),
        std::fs::read_to_string(&cookies).unwrap()
    );
    assert!(
        stdout(&out).contains("netscape check passed"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_and_wget_call_as_the_user_with_the_export() {
    let (_home, emu, cookies, _, token) = exported().await;
    let header = format!("X-UserToken: {token}");
    let curl = Command::new("curl")
        .arg("-fsS")
        .arg("--cacert")
        .arg(ca(&emu))
        .arg("-b")
        .arg(&cookies)
        .args(["-H", &header, &me_url(&emu)])
        .output()
        .expect("curl runs (apt-get install curl)");
    assert!(curl.status.success(), "curl: {}", stderr(&curl));
    assert_eq!(user_names(&curl.stdout), ["itil.user"]);

    let wget = Command::new("wget")
        .args(["-q", "-O", "-"])
        .arg(format!("--ca-certificate={}", ca(&emu).display()))
        .arg(format!("--load-cookies={}", cookies.display()))
        .arg(format!("--header={header}"))
        .arg(me_url(&emu))
        .output()
        .expect("wget runs (apt-get install wget)");
    assert!(
        wget.status.success(),
        "wget ({}): {}",
        wget.status,
        stderr(&wget)
    );
    assert_eq!(user_names(&wget.stdout), ["itil.user"]);
}
