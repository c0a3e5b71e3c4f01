//! Many processes, one vault: concurrent `snowbridge api` runs while the instance rotates
//! cookies on every reply, and a writer killed with SIGKILL in the middle of saving.

mod common;

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{Home, emulator, form_login, stderr};
use snowbridge::cookie::Cookie;
use snowbridge::secret::Secret;
use snowbridge::vault::{Obtained, SessionRecord};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_at_once_lose_nothing_and_leave_the_newest_cookies() {
    let emu = emulator(|c| c.rotate_session_store = true);
    let home = Arc::new(Home::new("dev", &emu));
    home.store_login(&form_login(&emu, "itil.user", false).await);

    // A reader that keeps opening the vault while the writers work: it must never fail.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (home, stop, reads) = (home.clone(), stop.clone(), reads.clone());
        std::thread::spawn(move || {
            let vault = home.vault();
            while !stop.load(Ordering::Relaxed) {
                let record = vault.load("dev").expect("the vault is always readable");
                assert!(record.is_some(), "the vault never disappears");
                reads.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let workers: Vec<_> = (0..8)
        .map(|_| {
            let home = home.clone();
            std::thread::spawn(move || {
                (0..4)
                    .map(|_| home.run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for worker in workers {
        for out in worker.join().unwrap() {
            assert!(
                out.status.success(),
                "a concurrent call failed: {}",
                stderr(&out)
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    assert!(reads.load(Ordering::Relaxed) > 0);

    let issued = emu.control().issued_session_store();
    assert!(issued.len() >= 32, "every reply rotated the cookie");
    let stored_value = |home: &Home| {
        home.vault()
            .load("dev")
            .unwrap()
            .unwrap()
            .cookies()
            .find(|c| c.name == "glide_session_store")
            .unwrap()
            .value
            .expose()
            .to_owned()
    };
    // Replies in flight together can arrive in either order; anything older than the last
    // eight issued would mean an update was lost.
    let value = stored_value(&home);
    let recent = &issued[issued.len() - 8..];
    assert!(
        recent.contains(&value),
        "the vault holds an old cookie: position {:?} of {}",
        issued.iter().position(|v| *v == value),
        issued.len()
    );
    // One more call on its own: now the vault holds exactly the newest.
    let out = home.run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let issued = emu.control().issued_session_store();
    assert_eq!(stored_value(&home), *issued.last().unwrap());
}

const WRITER_ENV: &str = "SNOWBRIDGE_TEST_VAULT_WRITER";

fn big_record(round: usize) -> SessionRecord {
    let url = url::Url::parse("http://127.0.0.1:9/").unwrap();
    let cookies = (0..3000)
        .map(|i| Cookie {
            name: format!("cookie{i}"),
            value: Secret::new(format!("value-{round}-{i}-{}", "x".repeat(40))),
            domain: "127.0.0.1".into(),
            host_only: true,
            path: "/".into(),
            secure: false,
            http_only: true,
            same_site: None,
            expires: None,
        })
        .collect();
    SessionRecord::new("dev", &url, Obtained::FormLogin, cookies)
}

/// The child side of the SIGKILL test: saves big records in a loop, printing each round.
#[test]
fn vault_writer_child() {
    let Ok(root) = std::env::var(WRITER_ENV) else {
        return; // only runs when re-executed by the test below
    };
    let root = std::path::Path::new(&root);
    let vault = snowbridge::vault::Vault::with_policy(
        root.join("data").join("sessions"),
        snowbridge::vault::KeyPolicy {
            file: root.join("data").join("vault.key"),
            use_keyring: false,
            keyring_timeout: std::time::Duration::from_secs(1),
        },
    );
    for round in 0.. {
        vault.store(&big_record(round)).unwrap();
        println!("saved {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_while_saving_leaves_a_readable_vault() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    home.vault().store(&big_record(1_000_000)).unwrap();

    for kill_after in [3usize, 7, 12] {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "vault_writer_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WRITER_ENV, home.root.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // Wait until the child has saved a few rounds, so the kill lands in a later save.
        let mut saved = 0;
        while saved < kill_after {
            let line = lines.next().expect("the writer runs").unwrap();
            if line.starts_with("saved ") {
                saved += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();

        let record = home
            .vault()
            .load("dev")
            .expect("the vault is readable after the kill")
            .expect("the vault is still there");
        assert_eq!(record.cookies.len(), 3000, "a whole record, old or new");
    }
    // Leftover temporary files of killed writers are cleaned up by the next save.
    home.vault().store(&big_record(1)).unwrap();
    let leftovers = std::fs::read_dir(home.dirs.sessions())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp.")
        })
        .count();
    assert_eq!(leftovers, 0);
}
