//! `snowbridge api -d` with the bodies people have: UTF-8 with a byte-order mark and UTF-16
//! (PowerShell's `Out-File` and `>`) create the incident with the text they hold; invalid JSON,
//! undecodable bytes and empty bodies are refused before anything reaches the instance; `-H`
//! refuses the session's own headers and never repeats a value.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

use common::{Home, emulator, form_login, stderr, stdout};
use snowbridge::emulator::Emulator;

/// Text no careless re-encoding survives: Latin-1 range, a dash, CJK, an emoji (a surrogate
/// pair in UTF-16).
const DESCRIPTION: &str = "Drucker im 3. Stock – Papierstau, ünïcödé ✓ 日本語 🖨";

fn body_json(description: &str) -> String {
    format!("{{\r\n  \"short_description\": \"{description}\",\r\n  \"urgency\": \"2\"\r\n}}\r\n")
}

fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    let mut out = if little_endian {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for unit in text.encode_utf16() {
        out.extend(if little_endian {
            unit.to_le_bytes()
        } else {
            unit.to_be_bytes()
        });
    }
    out
}

async fn session() -> (Emulator, Home) {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    (emu, home)
}

/// Runs `snowbridge args...` with `stdin` on its standard input.
fn run_with_stdin(home: &Home, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = home
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run snowbridge");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Requests that reached the instance's incident table (any method) since `from`.
fn table_requests(emu: &Emulator, from: usize) -> Vec<String> {
    emu.control().request_log()[from..]
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/now/table/incident"))
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bom_utf8_and_utf16_bodies_create_the_incident_with_their_text() {
    let (emu, home) = session().await;
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("utf-8 with BOM", {
            let mut bytes = b"\xEF\xBB\xBF".to_vec();
            bytes.extend(body_json(&format!("{DESCRIPTION} (utf-8 with BOM)")).as_bytes());
            bytes
        }),
        (
            "utf-16 LE",
            utf16(&body_json(&format!("{DESCRIPTION} (utf-16 LE)")), true),
        ),
        (
            "utf-16 BE",
            utf16(&body_json(&format!("{DESCRIPTION} (utf-16 BE)")), false),
        ),
    ];
    for (label, bytes) in &cases {
        let path = dir.path().join(format!("{label}.json"));
        std::fs::write(&path, bytes).unwrap();
        let at = format!("@{}", path.display());
        let out = home.run(&["api", "dev", "/api/now/table/incident", "-d", &at]);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let sys_id = reply["result"]["sys_id"].as_str().unwrap();
        let stored = emu.control().record("incident", sys_id).unwrap();
        assert_eq!(
            stored["short_description"],
            format!("{DESCRIPTION} ({label})"),
            "{label}"
        );
        assert_eq!(stored["urgency"], "2");
    }

    // PowerShell piping to stdin: UTF-16 LE with a BOM.
    let out = run_with_stdin(
        &home,
        &["api", "dev", "/api/now/table/incident", "-d", "@-"],
        &utf16(&body_json(&format!("{DESCRIPTION} (stdin)")), true),
    );
    assert!(out.status.success(), "stdin: {}", stderr(&out));
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sys_id = reply["result"]["sys_id"].as_str().unwrap();
    assert_eq!(
        emu.control().record("incident", sys_id).unwrap()["short_description"],
        format!("{DESCRIPTION} (stdin)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_bodies_are_refused_with_where_and_nothing_is_sent() {
    let (emu, home) = session().await;
    let dir = tempfile::tempdir().unwrap();
    let incidents = emu.control().count("incident", "");
    let from = emu.control().request_log().len();

    // A missing comma on line 3 of a file.
    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        "{\n  \"short_description\": \"ünïcödé\"\n  \"urgency\": \"2\"\n}\n",
    )
    .unwrap();
    let at = format!("@{}", broken.display());
    let out = home.run(&["api", "dev", "/api/now/table/incident", "-d", &at]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("broken.json"), "names the file: {err}");
    assert!(err.contains("not valid JSON"), "{err}");
    assert!(err.contains("line 3, column 3"), "line and column: {err}");

    // Bytes that are neither UTF-8 nor UTF-16 with a BOM (Windows-1252 "é").
    let latin1 = dir.path().join("latin1.json");
    std::fs::write(&latin1, b"{\"short_description\": \"caf\xE9\"}").unwrap();
    let at = format!("@{}", latin1.display());
    let out = home.run(&["api", "dev", "/api/now/table/incident", "-d", &at]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("latin1.json"), "{err}");
    assert!(err.contains("not UTF-8"), "{err}");
    assert!(err.contains("line 1, column 27"), "{err}");

    // The same mistake in the argument is bad usage.
    let out = home.run(&[
        "api",
        "dev",
        "/api/now/table/incident",
        "-d",
        "{\"short_description\": }",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("the -d body"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("line 1, column 23"),
        "{}",
        stderr(&out)
    );

    // And from stdin.
    let out = run_with_stdin(
        &home,
        &["api", "dev", "/api/now/table/incident", "-d", "@-"],
        b"[1, 2,]",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("stdin"), "{}", stderr(&out));

    assert_eq!(
        table_requests(&emu, from),
        Vec::<String>::new(),
        "nothing sent"
    );
    assert_eq!(
        emu.control().count("incident", ""),
        incidents,
        "nothing created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_body_is_refused_unless_asked_for() {
    let (emu, home) = session().await;
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, b"").unwrap();
    let at = format!("@{}", empty.display());
    let incidents = emu.control().count("incident", "");
    let from = emu.control().request_log().len();

    // The argument is the command line's mistake (2); a file or stdin is input (1).
    for (out, code) in [
        (
            home.run(&["api", "dev", "/api/now/table/incident", "-d", ""]),
            2,
        ),
        (
            home.run(&["api", "dev", "/api/now/table/incident", "-d", &at]),
            1,
        ),
        (
            run_with_stdin(
                &home,
                &["api", "dev", "/api/now/table/incident", "-d", "@-"],
                b"",
            ),
            1,
        ),
        (
            run_with_stdin(
                &home,
                &["api", "dev", "/api/now/table/incident", "-d", "@-"],
                b"\r\n",
            ),
            1,
        ),
    ] {
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        assert!(stderr(&out).contains("empty"), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("--allow-empty-body"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(
        table_requests(&emu, from),
        Vec::<String>::new(),
        "nothing sent"
    );
    assert_eq!(
        emu.control().count("incident", ""),
        incidents,
        "nothing created"
    );

    // Asked for, it goes out (and the instance has its say).
    let out = home.run(&[
        "api",
        "dev",
        "/api/now/table/incident",
        "-d",
        "",
        "--allow-empty-body",
    ]);
    assert_eq!(
        table_requests(&emu, from),
        ["POST /api/now/table/incident"],
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_the_session_owns_are_refused_and_values_never_echoed() {
    let (emu, home) = session().await;
    let from = emu.control().request_log().len();
    let secret = "s3cr3t-0f-the-user";
    for (header, says) in [
        (format!("Authorization: Bearer {secret}"), "authorization"),
        (format!("Cookie: JSESSIONID={secret}"), "cookie"),
        (format!("X-UserToken: {secret}"), "x-usertoken"),
        (format!("Host: {secret}.example"), "host"),
        (format!("Content-Length: {secret}"), "content-length"),
        (format!("Bearer {secret}"), "has no `:`"),
        (format!("X-Note: a\u{1}{secret}"), "x-note"),
    ] {
        let out = home.run(&[
            "api",
            "dev",
            "/api/now/table/incident?sysparm_limit=1",
            "-H",
            &header,
        ]);
        assert_eq!(out.status.code(), Some(2), "{header}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(says), "{err}");
        assert!(!err.contains(secret), "the value is not echoed: {err}");
    }
    assert_eq!(
        table_requests(&emu, from),
        Vec::<String>::new(),
        "nothing sent"
    );

    // A header of the user's own goes out.
    let out = home.run(&[
        "api",
        "dev",
        "/api/now/table/incident?sysparm_limit=1",
        "-H",
        "X-Request-Id: help-desk-42",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}
