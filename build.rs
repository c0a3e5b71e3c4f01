//! Names the commit in `snowbridge --version`: "0.1.0 (abc1234 2026-11-30)", the commit's hash
//! and date as git gives them at build time.
//!
//! Built outside a git checkout (a packaged crate, no git installed) the version is the
//! package's alone. The script reruns only when HEAD moves (the files git rewrites when it does),
//! so an ordinary rebuild never waits on it. It does not mark uncommitted changes ("-dirty"):
//! knowing of them would mean rerunning, and rebuilding the crate, after every edit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let package = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let (version, date) = match commit(&manifest) {
        Some(commit) => {
            for file in &commit.watch {
                println!("cargo:rerun-if-changed={}", file.display());
            }
            (
                format!("{package} ({} {})", commit.hash, commit.date),
                commit.date,
            )
        }
        None => (package, String::new()),
    };
    println!("cargo:rustc-env=SNOWBRIDGE_VERSION={version}");
    println!("cargo:rustc-env=SNOWBRIDGE_COMMIT_DATE={date}");
}

/// The commit a source tree was built from, and the git files that change when HEAD moves.
#[derive(Debug)]
pub struct Commit {
    /// The abbreviated hash.
    pub hash: String,
    /// The commit date, YYYY-MM-DD.
    pub date: String,
    /// HEAD, its log, the branch's ref and packed-refs: whichever exist.
    pub watch: Vec<PathBuf>,
}

/// The commit checked out at `dir`, or `None` outside a git checkout.
pub fn commit(dir: &Path) -> Option<Commit> {
    // `cargo package` writes this file: a packaged crate unpacked inside some other repository
    // must not take that repository's commit for its own.
    if dir.join(".cargo_vcs_info.json").exists() {
        return None;
    }
    let described = git(dir, &["log", "-1", "--date=short", "--format=%h %cd"])?;
    let (hash, date) = described.split_once(' ')?;
    let dirs = git(
        dir,
        &[
            "rev-parse",
            "--absolute-git-dir",
            "--git-common-dir",
            "--symbolic-full-name",
            "HEAD",
        ],
    )?;
    let mut lines = dirs.lines();
    // A worktree's HEAD and its log live in its own git folder, the refs in the common one.
    let git_dir = PathBuf::from(lines.next()?);
    let common = dir.join(lines.next()?);
    let mut watch = vec![git_dir.join("HEAD"), git_dir.join("logs").join("HEAD")];
    if let Some(branch) = lines.next().filter(|b| b.starts_with("refs/")) {
        watch.push(common.join(branch));
    }
    watch.push(common.join("packed-refs"));
    // Cargo reruns a script on every build while a file it watches does not exist.
    watch.retain(|file| file.exists());
    Some(Commit {
        hash: hash.to_owned(),
        date: date.to_owned(),
        watch,
    })
}

/// What `git -C dir args...` prints, trimmed; `None` when git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
