//! Saving what the browser shows, for when a browser step fails.
//!
//! Owns the diagnostics folder layout: one owner-only folder per capture holding `url.txt`,
//! `page.html`, `screenshot.png`, and `errors.txt` for the parts that could not be captured.
//! Pages can hold session tokens, so nothing here is world-readable and nothing is logged.
//! It reads the page; it never navigates or clicks.

use std::path::{Path, PathBuf};

use fantoccini::Client;

use crate::error::{Error, Result};

/// Captures the page into a new folder under `dir` named after the time and `label`.
pub(crate) async fn capture(client: &Client, dir: &Path, label: &str) -> Result<PathBuf> {
    let folder = new_folder(dir, label)?;
    let mut problems = Vec::new();

    match client.current_url().await {
        Ok(url) => write_private(&folder.join("url.txt"), format!("{url}\n").as_bytes())?,
        Err(e) => problems.push(format!("url: {e}")),
    }
    match client.source().await {
        Ok(html) => write_private(&folder.join("page.html"), html.as_bytes())?,
        Err(e) => problems.push(format!("page.html: {e}")),
    }
    match client.screenshot().await {
        Ok(png) => write_private(&folder.join("screenshot.png"), &png)?,
        Err(e) => problems.push(format!("screenshot.png: {e}")),
    }
    if !problems.is_empty() {
        let text = problems.join("\n") + "\n";
        write_private(&folder.join("errors.txt"), text.as_bytes())?;
    }
    Ok(folder)
}

/// `dir/<UTC time>-<label>`, made owner-only; a suffix keeps two captures in one second apart.
fn new_folder(dir: &Path, label: &str) -> Result<PathBuf> {
    create_private(dir, true)?;
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .map_err(|e| Error::internal(format!("cannot format the time: {e}")))?;
    let label = safe_label(label);
    for n in 1..1000 {
        let name = if n == 1 {
            format!("{stamp}-{label}")
        } else {
            format!("{stamp}-{label}-{n}")
        };
        let folder = dir.join(name);
        match create_private(&folder, false) {
            Ok(()) => return Ok(folder),
            Err(_) if folder.exists() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::internal(format!(
        "too many diagnostics captures named {label} in {} this second",
        dir.display()
    )))
}

/// Letters, digits, `-` and `_` only: the label becomes part of a file name.
fn safe_label(label: &str) -> String {
    let cleaned: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    if cleaned.is_empty() {
        "capture".to_string()
    } else {
        cleaned
    }
}

fn create_private(dir: &Path, recursive: bool) -> Result<()> {
    crate::files::create_private_dir(dir, recursive)
        .map_err(|e| Error::io("cannot create the diagnostics folder", dir, e))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| Error::io("cannot write diagnostics to", path, e))?;
    file.write_all(bytes)
        .map_err(|e| Error::io("cannot write diagnostics to", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_cannot_escape_the_folder() {
        assert_eq!(safe_label("../../etc/passwd"), "______etc_passwd");
        assert_eq!(safe_label("attach-fallback_1"), "attach-fallback_1");
        assert_eq!(safe_label(""), "capture");
    }

    #[test]
    fn captures_in_the_same_second_get_their_own_folders() {
        let dir = tempfile::tempdir().unwrap();
        let a = new_folder(dir.path(), "x").unwrap();
        let b = new_folder(dir.path(), "x").unwrap();
        assert_ne!(a, b);
        assert!(a.is_dir() && b.is_dir());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&a).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "diagnostics must be owner-only");
        }
    }
}
