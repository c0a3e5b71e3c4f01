//! Where snowbridge keeps things on disk.
//!
//! One place decides the folders: the user's configuration (instance files), the data folder
//! (session vaults, the key file, login profiles, diagnostics) and the project's bundled instance
//! files. `directories` gives the defaults, so `XDG_CONFIG_HOME` and `XDG_DATA_HOME` isolate
//! state on Linux; `SNOWBRIDGE_CONFIG_DIR` and `SNOWBRIDGE_DATA_DIR` override them everywhere.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The folders snowbridge reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// `snowbridge` under the user's configuration folder; instance files live in `instances/`.
    pub config: PathBuf,
    /// `snowbridge` under the user's data folder: sessions, key file, login profiles.
    pub data: PathBuf,
}

impl Dirs {
    /// Folders given explicitly (tests, embedding applications).
    pub fn new(config: impl Into<PathBuf>, data: impl Into<PathBuf>) -> Self {
        Dirs {
            config: config.into(),
            data: data.into(),
        }
    }

    /// The folders for this user: the `SNOWBRIDGE_*_DIR` overrides, else `directories`.
    pub fn from_env() -> Result<Self> {
        let overridden = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
        let project = directories::ProjectDirs::from("", "", "snowbridge");
        let pick = |var: &str, default: Option<&Path>| -> Result<PathBuf> {
            overridden(var)
                .map(PathBuf::from)
                .or_else(|| default.map(Path::to_path_buf))
                .ok_or_else(|| {
                    Error::internal(format!(
                        "cannot tell where this user's files go (no home folder); set {var}"
                    ))
                })
        };
        Ok(Dirs {
            config: pick(
                "SNOWBRIDGE_CONFIG_DIR",
                project.as_ref().map(|p| p.config_dir()),
            )?,
            data: pick(
                "SNOWBRIDGE_DATA_DIR",
                project.as_ref().map(|p| p.data_dir()),
            )?,
        })
    }

    /// The user's instance files.
    pub fn user_instances(&self) -> PathBuf {
        self.config.join("instances")
    }

    /// Encrypted session files, one per instance.
    pub fn sessions(&self) -> PathBuf {
        self.data.join("sessions")
    }

    /// Dedicated Chrome profiles used for browser logins, one per instance.
    pub fn login_profile(&self, instance: &str) -> PathBuf {
        self.data.join("profiles").join(instance)
    }

    /// Screenshots and page dumps from failed browser actions.
    pub fn diagnostics(&self) -> PathBuf {
        self.data.join("diagnostics")
    }
}

/// The project's instance folder (`instances/`: `local.toml` for the emulator, `example.toml`
/// to copy), found at run time, never through a path compiled in on the build machine:
///
/// 1. `instances/` in the working directory, when it exists (a checkout, or a scripts folder
///    that keeps its own instance files);
/// 2. `instances/` beside the running binary (an unpacked release);
/// 3. `instances/` in the source tree the binary was built in: the nearest ancestor of the
///    binary's folder holding a `Cargo.toml` or `.git` (`target/debug/snowbridge`), the walk
///    ending there.
///
/// `None` when none applies (an installed binary run outside a checkout): then only the user's
/// instance files count.
pub fn project_instances() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok();
    let exe = std::env::current_exe().ok();
    find_project_instances(cwd.as_deref(), exe.as_deref())
}

/// [`project_instances`] for a given working directory and binary.
fn find_project_instances(cwd: Option<&Path>, exe: Option<&Path>) -> Option<PathBuf> {
    let folder = |dir: &Path| Some(dir.join("instances")).filter(|d| d.is_dir());
    if let Some(found) = cwd.and_then(folder) {
        return Some(found);
    }
    let beside = exe?.parent()?;
    if let Some(found) = folder(beside) {
        return Some(found);
    }
    // A repository's root ends the walk, so an installed binary (~/.cargo/bin) never picks up
    // some unrelated `instances/` higher up.
    beside
        .ancestors()
        .skip(1)
        .find(|dir| dir.join("Cargo.toml").is_file() || dir.join(".git").exists())
        .and_then(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Makes `dir/rel` (folders) and returns it.
    fn mkdir(dir: &Path, rel: &str) -> PathBuf {
        let path = dir.join(rel);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    #[test]
    fn the_working_directory_comes_first() {
        let root = tempfile::tempdir().unwrap();
        let cwd = root.path().join("scripts");
        let own = mkdir(&cwd, "instances");
        let repo = mkdir(root.path(), "repo");
        std::fs::write(repo.join("Cargo.toml"), "").unwrap();
        mkdir(&repo, "instances");
        let exe = mkdir(&repo, "target/debug").join("snowbridge");
        assert_eq!(find_project_instances(Some(&cwd), Some(&exe)), Some(own));
    }

    #[test]
    fn a_binary_under_target_finds_its_source_tree() {
        let root = tempfile::tempdir().unwrap();
        let repo = mkdir(root.path(), "repo");
        std::fs::write(repo.join("Cargo.toml"), "").unwrap();
        let instances = mkdir(&repo, "instances");
        let cwd = mkdir(root.path(), "elsewhere");
        for bin in [
            "target/debug",
            "target/debug/deps",
            "target/x86_64-pc-windows-gnu/debug",
        ] {
            let exe = mkdir(&repo, bin).join("snowbridge");
            assert_eq!(
                find_project_instances(Some(&cwd), Some(&exe)),
                Some(instances.clone()),
                "{bin}"
            );
        }
    }

    #[test]
    fn an_unpacked_release_keeps_them_beside_the_binary() {
        let root = tempfile::tempdir().unwrap();
        let release = mkdir(root.path(), "snowbridge-0.1.0");
        let instances = mkdir(&release, "instances");
        let exe = release.join("snowbridge");
        assert_eq!(find_project_instances(None, Some(&exe)), Some(instances));
    }

    #[test]
    fn an_installed_binary_stops_at_a_repository_root() {
        let root = tempfile::tempdir().unwrap();
        // A home kept in git, with an unrelated instances/ folder above the binary.
        let home = mkdir(root.path(), "home");
        mkdir(root.path(), "instances");
        mkdir(&home, ".git");
        let exe = mkdir(&home, ".cargo/bin").join("snowbridge");
        let cwd = mkdir(&home, "work");
        assert_eq!(find_project_instances(Some(&cwd), Some(&exe)), None);
        assert_eq!(find_project_instances(None, None), None);
    }
}
