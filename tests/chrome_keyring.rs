//! `v11` end to end: a real Chromium keeps its key in a real Secret Service (gnome-keyring under
//! a private D-Bus session) and the import reads that key back from it.
//!
//! The outer test starts `dbus-run-session` around this same test binary, running the inner
//! test (ignored by default) with a private bus, a throwaway HOME for the keyring and a deadline,
//! then checks that no keyring daemon of its own is left behind.

#![cfg(target_os = "linux")]

mod chrome_support;

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrome_support::{
    Chromium, Reaped, SetCookie, assert_same_cookies, in_days, require, serve_cookies,
    stored_prefixes, wait_until,
};
use snowbridge::cookie::SameSite;
use snowbridge::obtain::chrome::{Browser, Reason, Source, import};

const INNER: &str = "v11_inside_a_private_dbus_session";
const INNER_DIR: &str = "SNOWBRIDGE_KEYRING_TEST_DIR";
const KEYRING_PASSWORD: &str = "keyring-test-password";

#[test]
fn v11_key_from_a_real_secret_service() {
    require("dbus-run-session", "apt-get install dbus-daemon");
    require("dbus-send", "apt-get install dbus-bin");
    require("gnome-keyring-daemon", "apt-get install gnome-keyring");
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new("dbus-run-session")
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            INNER,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER_DIR, dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start dbus-run-session");
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let pgid = child.id() as i32;
    let mut status = None;
    let finished = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(
            "the private D-Bus session to finish",
            Duration::from_secs(240),
            || {
                status = child.try_wait().unwrap();
                status.is_some()
            },
        )
    }));
    if finished.is_err() {
        // SAFETY: signals only the process group this test created.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = child.wait();
    }
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(finished.is_ok(), "timed out\n{out}\n{err}");
    assert!(
        status.unwrap().success() && out.contains("test result: ok. 1 passed"),
        "the inner test failed:\n{out}\n{err}"
    );

    eprintln!("{out}{err}");
    let leftovers = processes_with_env(&format!("HOME={}", dir.path().join("home").display()));
    for pid in &leftovers {
        // SAFETY: signals only processes started with this test's private HOME.
        unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
    }
    assert!(
        leftovers.is_empty(),
        "keyring daemons left running: {leftovers:?}"
    );
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

fn processes_with_env(entry: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|kv| kv == entry.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// Asks the bus a question with `dbus-send`, answering its printed reply.
fn dbus_send(args: &[&str]) -> Option<String> {
    let out = Command::new("dbus-send")
        .args(["--session", "--print-reply"])
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts gnome-keyring's Secret Service on the private bus, its login keyring created and
/// unlocked with a password fed on stdin, its files under `dir`.
fn start_keyring(dir: &Path) -> Reaped {
    let home = dir.join("home");
    let runtime = dir.join("run");
    for d in [&home, &runtime] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    }
    let mut daemon = Command::new("gnome-keyring-daemon")
        .args(["--foreground", "--unlock", "--components=secrets"])
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gnome-keyring-daemon");
    let mut stdin = daemon.stdin.take().unwrap();
    stdin.write_all(KEYRING_PASSWORD.as_bytes()).unwrap();
    drop(stdin);
    let daemon = Reaped(daemon);
    // Ask nothing of org.freedesktop.secrets before it has an owner: the bus would start
    // another keyring daemon through D-Bus activation, outside this test's HOME.
    wait_until(
        "gnome-keyring to own the Secret Service name",
        Duration::from_secs(30),
        || {
            dbus_send(&[
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ])
            .is_some_and(|reply| reply.contains("boolean true"))
        },
    );
    wait_until(
        "the Secret Service's default collection",
        Duration::from_secs(30),
        || {
            dbus_send(&[
                "--dest=org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.ReadAlias",
                "string:default",
            ])
            .is_some_and(|reply| reply.contains("/org/freedesktop/secrets/collection/"))
        },
    );
    daemon
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs inside the private D-Bus session that v11_key_from_a_real_secret_service starts"]
async fn v11_inside_a_private_dbus_session() {
    let Some(dir) = std::env::var_os(INNER_DIR).map(PathBuf::from) else {
        panic!("run v11_key_from_a_real_secret_service, which starts this one on a private bus");
    };
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no private session bus"
    );
    let _keyring = start_keyring(&dir);

    let sid = SetCookie {
        http_only: true,
        ..SetCookie::new("glide_session_store")
    };
    let route = SetCookie {
        same_site: Some(SameSite::Lax),
        expires: Some(in_days(3)),
        ..SetCookie::new("glide_user_route")
    };
    let port = serve_cookies(vec![vec![sid.clone(), route.clone()]]).await;
    let profile = dir.join("chromium-profile");
    let browser = Chromium::launch(&profile, &["--password-store=gnome-libsecret".into()]).await;
    browser
        .visit(&format!("http://127.0.0.1:{port}/set/0"))
        .await;
    browser.quit().await;

    let prefixes = stored_prefixes(&profile.join("Default/Cookies"));
    assert_eq!(prefixes.len(), 2, "{prefixes:?}");
    assert!(
        prefixes.iter().all(|(_, p)| p == "v11"),
        "Chromium used the keyring's key: {prefixes:?}"
    );

    let source = Source {
        browser: Browser::Chromium,
        profile: None,
        user_data_dir: Some(profile.clone()),
    };
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let got = import(&source, &url, false).await.unwrap();
    assert!(
        got.report
            .notes
            .iter()
            .any(|n| n.contains("Secret Service")),
        "{}",
        got.report
    );
    assert_same_cookies(
        got.cookies,
        vec![sid.expected("127.0.0.1"), route.expected("127.0.0.1")],
    );

    // snowbridge's own browser (the login profile's) keeps its cookie key in the keyring too
    // while an unlocked one answers.
    let ours = dir.join("snowbridge-unlocked");
    assert_eq!(
        snowbridge_browser_prefixes(&ours, port).await,
        vec![
            ("glide_session_store".into(), "v11".into()),
            ("glide_user_route".into(), "v11".into())
        ],
        "snowbridge's Chromium used the keyring"
    );

    // Locked, the keyring is not asked to prompt: the import says why, without waiting.
    let collection = dbus_send(&[
        "--dest=org.freedesktop.secrets",
        "/org/freedesktop/secrets",
        "org.freedesktop.Secret.Service.ReadAlias",
        "string:default",
    ])
    .and_then(|reply| {
        reply
            .split('"')
            .find(|s| s.starts_with("/org/freedesktop/secrets/collection/"))
            .map(str::to_string)
    })
    .expect("the default collection's path");
    dbus_send(&[
        "--dest=org.freedesktop.secrets",
        "/org/freedesktop/secrets",
        "org.freedesktop.Secret.Service.Lock",
        &format!("array:objpath:{collection}"),
    ])
    .expect("lock the collection");
    let locked = import(&source, &url, false).await.unwrap();
    assert!(locked.cookies.is_empty());
    assert_eq!(locked.report.undecryptable.len(), 2);
    for skipped in &locked.report.undecryptable {
        assert!(
            matches!(&skipped.reason, Reason::KeyUnavailable { why, .. } if why.contains("locked")),
            "{}: {}",
            skipped.name,
            skipped.reason
        );
    }

    // Locked, nobody is asked to unlock it: snowbridge's Chromium falls back to the basic store.
    let basic = dir.join("snowbridge-locked");
    assert_eq!(
        snowbridge_browser_prefixes(&basic, port).await,
        vec![
            ("glide_session_store".into(), "v10".into()),
            ("glide_user_route".into(), "v10".into())
        ],
        "with the keyring locked, Chromium kept its key under the built-in one"
    );
}

/// Runs snowbridge's own browser (`Browser::launch`, as the login does) on `profile`, lets the
/// cookie server at `port` set its cookies, closes it, and reads the encryption prefixes.
async fn snowbridge_browser_prefixes(profile: &Path, port: u16) -> Vec<(String, String)> {
    use snowbridge::browser::{Browser as Chrome, Options};
    let browser = Chrome::launch(&Options {
        headless: Some(true),
        ..Options::new(profile)
    })
    .await
    .expect("snowbridge's browser starts");
    browser
        .client()
        .goto(&format!("http://127.0.0.1:{port}/set/0"))
        .await
        .unwrap();
    browser.close().await.unwrap();
    stored_prefixes(&profile.join("Default/Cookies"))
}
