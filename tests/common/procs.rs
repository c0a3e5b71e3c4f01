//! The live processes of this machine as /proc shows them (Linux), for the tests that prove
//! no chromedriver or Chrome outlives snowbridge. Shared by every test crate that needs it.
#![allow(dead_code)]

/// One process as /proc shows it.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    pub group: u32,
    pub cmdline: String,
}

/// Live (not zombie) processes.
pub fn processes() -> Vec<Proc> {
    let mut found = Vec::new();
    let Ok(listing) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in listing.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the parenthesised command: state ppid pgrp ...
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first() == Some(&"Z") {
            continue;
        }
        let Some(group) = fields.get(2).and_then(|g| g.parse::<u32>().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        found.push(Proc {
            pid,
            group,
            cmdline,
        });
    }
    found
}

/// Processes whose command line names `--user-data-dir=<profile>`.
pub fn using_profile(profile: &std::path::Path) -> Vec<Proc> {
    let needle = format!("--user-data-dir={}", profile.display());
    processes()
        .into_iter()
        .filter(|p| p.cmdline.contains(&needle))
        .collect()
}
