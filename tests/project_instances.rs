//! The project's example instances (`instances/`) as the real binary finds them: from the working
//! directory, beside the binary, or in the source tree the binary was built in, never through a
//! path compiled in on the build machine; and `doctor` and `status` without a name leave the
//! examples alone until the user has a session for one.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Home, emulator, stderr};
use serde_json::Value;
use snowbridge::vault::{Obtained, SessionRecord};

/// `snowbridge instances --json` run in `cwd` by the binary `exe`, in `home`: (name, origin,
/// file) of every entry.
fn listed(home: &Home, exe: &Path, cwd: &Path) -> Vec<(String, String, PathBuf)> {
    let out = Command::new(exe)
        .args(["instances", "--json"])
        .env("SNOWBRIDGE_CONFIG_DIR", &home.dirs.config)
        .env("SNOWBRIDGE_DATA_DIR", &home.dirs.data)
        .env("SNOWBRIDGE_KEYRING", "off")
        .current_dir(cwd)
        .output()
        .expect("run snowbridge instances");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("instances --json");
    rows.iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["origin"].as_str().unwrap_or_default().to_owned(),
                PathBuf::from(r["file"].as_str().unwrap_or_default()),
            )
        })
        .collect()
}

fn the_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_snowbridge"))
}

fn repository_instances() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("instances")
}

#[test]
fn a_binary_under_target_finds_the_source_trees_instances_from_any_folder() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let elsewhere = tempfile::tempdir().unwrap();

    let rows = listed(&home, &the_binary(), elsewhere.path());
    let local = rows
        .iter()
        .find(|(name, ..)| name == "local")
        .unwrap_or_else(|| panic!("no project `local` in {rows:?}"));
    assert_eq!(local.1, "project");
    assert_eq!(
        local.2.canonicalize().unwrap(),
        repository_instances()
            .join("local.toml")
            .canonicalize()
            .unwrap()
    );
    assert!(
        rows.iter()
            .any(|(name, origin, _)| name == "dev" && origin == "user")
    );
}

#[test]
fn a_working_directory_with_its_own_instances_folder_wins() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let scripts = tempfile::tempdir().unwrap();
    std::fs::create_dir(scripts.path().join("instances")).unwrap();
    std::fs::write(
        scripts.path().join("instances/team.toml"),
        "url = \"https://team.service-now.com\"\n",
    )
    .unwrap();

    let rows = listed(&home, &the_binary(), scripts.path());
    let project: Vec<&str> = rows
        .iter()
        .filter(|(_, origin, _)| origin == "project")
        .map(|(name, ..)| name.as_str())
        .collect();
    assert_eq!(project, ["team"], "{rows:?}");
}

/// The binary copied out of the source tree (as `cargo install` or a download puts it) knows no
/// project instances, then finds the ones shipped beside it: nothing points back at the folder
/// it was built in.
#[test]
fn a_binary_away_from_the_source_tree_has_no_compiled_in_folder() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let away = tempfile::tempdir().unwrap();
    let exe = away.path().join("bin").join("snowbridge");
    std::fs::create_dir(away.path().join("bin")).unwrap();
    std::fs::copy(the_binary(), &exe).unwrap();
    let cwd = away.path().join("work");
    std::fs::create_dir(&cwd).unwrap();

    let rows = listed(&home, &exe, &cwd);
    assert!(
        rows.iter().all(|(_, origin, _)| origin == "user"),
        "project instances found from a binary outside the source tree: {rows:?}"
    );

    let shipped = away.path().join("bin").join("instances");
    std::fs::create_dir(&shipped).unwrap();
    std::fs::copy(
        repository_instances().join("local.toml"),
        shipped.join("local.toml"),
    )
    .unwrap();
    let rows = listed(&home, &exe, &cwd);
    assert!(
        rows.iter().any(|(name, origin, file)| name == "local"
            && origin == "project"
            && file.starts_with(&shipped)),
        "{rows:?}"
    );
}

#[test]
fn status_and_doctor_leave_the_examples_alone_until_one_is_used() {
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);

    let out = home.run(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = rows.iter().filter_map(|r| r["instance"].as_str()).collect();
    assert_eq!(names, ["dev"], "{rows:?}");

    let out = home.run(&["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = report["checks"].as_array().unwrap();
    let example: Vec<&Value> = checks
        .iter()
        .filter(|c| c["instance"] == "example")
        .collect();
    // Its file is checked (it is the project's, and valid); the example is not reached.
    assert!(
        example
            .iter()
            .all(|c| c["check"] == "instance file" && c["status"] == "ok"),
        "{example:?}"
    );
    assert!(
        !checks
            .iter()
            .any(|c| c["detail"].as_str().unwrap_or("").contains("acme")),
        "doctor reached the example instance: {checks:?}"
    );

    // Once the user has a session for a project instance, it is theirs to be told about.
    let record = SessionRecord::new(
        "local",
        &"http://127.0.0.1:8765".parse().unwrap(),
        Obtained::FormLogin,
        Vec::new(),
    );
    home.vault().store(&record).unwrap();
    let out = home.run(&["status", "--json"]);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = rows.iter().filter_map(|r| r["instance"].as_str()).collect();
    assert_eq!(names, ["local", "dev"], "{rows:?}");
}
