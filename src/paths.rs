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

/// The project's bundled instance files, where the source tree is present at run time.
pub fn project_instances() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("instances")
}
