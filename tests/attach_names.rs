//! `attach` judged by what the instance holds: file names a page cannot show as given (leading
//! and trailing spaces, quotes) go through the browser fallback once and exit 0; when one of
//! several files fails, the error names the ones attached; REST uploads carry the content type
//! of what the file is (images, Office documents, mail).
#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::child::run_within;
use common::{Home, emulator, form_login};
use sha2::{Digest, Sha256};
use snowbridge::emulator::Emulator;

/// Browser starts plus page loads on a slow machine; a hang fails the test.
const WITHIN: Duration = Duration::from_secs(180);

/// Runs `snowbridge args... --headless` to completion.
fn run(home: &Home, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = args.to_vec();
    all.push("--headless");
    let (status, out, err) = run_within(home.command(&all), WITHIN);
    (status.code(), out, err)
}

fn sys_id_of(emu: &Emulator, number: &str) -> String {
    let record = emu.control().record("incident", number).unwrap();
    record["sys_id"].as_str().unwrap().to_owned()
}

/// Writes `content` to `dir/name`.
fn file(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// How many attachments of `sys_id` hold exactly `content`.
fn copies(emu: &Emulator, sys_id: &str, content: &[u8]) -> usize {
    let hash = hex::encode(Sha256::digest(content));
    emu.control()
        .attachments(sys_id)
        .iter()
        .filter(|a| a.hash == hash && a.size_bytes == content.len() as u64)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_spaces_and_quotes_attach_once_through_the_browser() {
    odd_names_through_the_browser(false).await;
}

/// The same where the Attachment API refuses the user its listing too: the form's own list,
/// read by sys_id, is the evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_spaces_and_quotes_attach_once_judged_by_the_forms_list() {
    odd_names_through_the_browser(true).await;
}

async fn odd_names_through_the_browser(reads_refused: bool) {
    common::require_browser();
    let emu = emulator(|c| c.itil_rest_attachment_reads_refused = reads_refused);
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let sys_id = sys_id_of(&emu, "INC0010007");
    let files = tempfile::tempdir().unwrap();
    let padded = file(
        files.path(),
        " padded .txt",
        b"padded: leading and trailing spaces\n",
    );
    let quoted = file(
        files.path(),
        "quote'\"x.txt",
        b"quoted: an apostrophe and a quote\n",
    );
    let angle = file(files.path(), "a <b> & c.txt", b"markup in the name\n");

    let (code, out, err) = run(
        &home,
        &[
            "attach",
            "dev",
            "incident",
            "INC0010007",
            padded.to_str().unwrap(),
            quoted.to_str().unwrap(),
            angle.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("through the browser"), "{out}");
    for content in [
        &b"padded: leading and trailing spaces\n"[..],
        b"quoted: an apostrophe and a quote\n",
        b"markup in the name\n",
    ] {
        assert_eq!(
            copies(&emu, &sys_id, content),
            1,
            "attached exactly once: {:?}",
            emu.control().attachments(&sys_id)
        );
    }
    assert_eq!(emu.control().attachments(&sys_id).len(), 3);
    let uploads = emu
        .control()
        .request_log()
        .iter()
        .filter(|r| r.method == "POST" && r.path_and_query.starts_with("/sys_attachment.do"))
        .count();
    assert_eq!(uploads, 3, "one upload per file, none repeated");
    let listings = emu
        .control()
        .request_log()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/now/attachment?"))
        .map(|r| r.status)
        .collect::<Vec<_>>();
    if reads_refused {
        assert!(listings.iter().all(|s| *s == 403), "{listings:?}");
    } else {
        assert!(listings.iter().all(|s| *s == 200), "{listings:?}");
    }
}

/// Three files where the instance refuses the middle one (over `com.glide.attachment.max_size`).
fn three_files(dir: &Path) -> [(PathBuf, Vec<u8>); 3] {
    let big = vec![b'x'; 1024 * 1024 + 1];
    [
        ("first notes.txt", b"first\n".to_vec()),
        ("too-big.log", big),
        ("third.txt", b"third\n".to_vec()),
    ]
    .map(|(name, content)| (file(dir, name, &content), content))
}

/// The run failed naming the first file as attached, the second as the one that failed and
/// the third as not tried; the instance holds the first only.
fn assert_partial(
    emu: &Emulator,
    sys_id: &str,
    files: &[(PathBuf, Vec<u8>); 3],
    code: Option<i32>,
    err: &str,
) {
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("maximum attachment size"),
        "the instance's reason: {err}"
    );
    assert!(
        err.contains("attached before it: \"first notes.txt\""),
        "names what was attached: {err}"
    );
    assert!(err.contains("failed on too-big.log"), "{err}");
    assert!(err.contains("not tried: third.txt"), "{err}");
    assert_eq!(copies(emu, sys_id, &files[0].1), 1);
    assert_eq!(emu.control().attachments(sys_id).len(), 1, "only the first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_one_of_several_files_fails_in_the_browser_the_error_names_those_attached() {
    common::require_browser();
    let emu = emulator(|c| c.attachment_max_size_mb = 1);
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "itil.user", false).await);
    let sys_id = sys_id_of(&emu, "INC0010008");
    let dir = tempfile::tempdir().unwrap();
    let files = three_files(dir.path());
    let mut args = vec!["attach", "dev", "incident", "INC0010008"];
    args.extend(files.iter().map(|(p, _)| p.to_str().unwrap()));
    let (code, out, err) = run(&home, &args);
    assert_partial(&emu, &sys_id, &files, code, &format!("{out}\n{err}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_one_of_several_files_fails_over_rest_the_error_names_those_attached() {
    let emu = emulator(|c| c.attachment_max_size_mb = 1);
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "admin", false).await);
    let sys_id = sys_id_of(&emu, "INC0010009");
    let dir = tempfile::tempdir().unwrap();
    let files = three_files(dir.path());
    let mut args = vec!["attach", "dev", "incident", "INC0010009"];
    args.extend(files.iter().map(|(p, _)| p.to_str().unwrap()));
    let out = home.run(&args);
    assert_partial(
        &emu,
        &sys_id,
        &files,
        out.status.code(),
        &common::stderr(&out),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_uploads_carry_the_content_type_of_what_the_file_is() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "admin", false).await);
    let sys_id = sys_id_of(&emu, "INC0010010");
    let dir = tempfile::tempdir().unwrap();
    let want = [
        ("screenshot.png", "image/png"),
        (
            "report.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("forwarded.eml", "message/rfc822"),
        ("outlook.msg", "application/vnd.ms-outlook"),
        (
            "budget.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ];
    let paths: Vec<PathBuf> = want
        .iter()
        .map(|(name, _)| file(dir.path(), name, name.as_bytes()))
        .collect();
    let mut args = vec!["attach", "dev", "incident", "INC0010010", "--json"];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    let out = home.run(&args);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let done: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["path"], "rest");
    let stored = emu.control().attachments(&sys_id);
    for (name, content_type) in want {
        let found = stored
            .iter()
            .find(|a| a.file_name == name)
            .unwrap_or_else(|| panic!("{name} is attached: {stored:?}"));
        assert_eq!(found.content_type, content_type, "{name}");
        assert!(
            done["attachments"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["sys_id"] == found.sys_id.as_str()),
            "the output names the attachment's sys_id: {done}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_reply_is_lost_is_judged_by_what_the_record_holds() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.store_login(&form_login(&emu, "admin", false).await);
    let sys_id = sys_id_of(&emu, "INC0010011");
    let dir = tempfile::tempdir().unwrap();
    let content = b"the instance keeps this, then the reply is lost\n";
    let path = file(dir.path(), "kept.txt", content);
    emu.control()
        .lose_next_reply_to("POST", "/api/now/attachment/file");

    let out = home.run(&[
        "attach",
        "dev",
        "incident",
        "INC0010011",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stdout(&out).contains("through the REST Attachment API"),
        "{}",
        common::stdout(&out)
    );
    assert_eq!(copies(&emu, &sys_id, content), 1, "attached exactly once");
    let posts = emu
        .control()
        .request_log()
        .iter()
        .filter(|r| r.method == "POST" && r.path_and_query.starts_with("/api/now/attachment"))
        .count();
    assert_eq!(posts, 1, "the upload was not sent again");
}
