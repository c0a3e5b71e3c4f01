//! The Attachment API: uploads streamed from a file, listings and downloads, and how an upload
//! is judged: by the attachments the record holds afterwards (new sys_ids, the file's SHA-256),
//! never by a reply that may have been lost on the way back.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::enc;
use crate::error::{Error, ErrorKind, Result};
use crate::session::{Body, Call, Session};

/// An attachment's metadata as the instance reports it (ServiceNow sends numbers as text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Its sys_id.
    pub sys_id: String,
    /// The file name.
    pub file_name: String,
    /// Its size in bytes, as text.
    #[serde(default)]
    pub size_bytes: String,
    /// Its content type.
    #[serde(default)]
    pub content_type: String,
    /// The table of the record it belongs to.
    #[serde(default)]
    pub table_name: String,
    /// The record it belongs to.
    #[serde(default)]
    pub table_sys_id: String,
    /// SHA-256 of the content, where the instance gives it.
    #[serde(default)]
    pub hash: Option<String>,
    /// Where to download it.
    #[serde(default)]
    pub download_link: Option<String>,
}

#[derive(Debug, Deserialize)]
struct One {
    result: Attachment,
}

#[derive(Debug, Deserialize)]
struct Many {
    result: Vec<Attachment>,
}

/// A local file about to be attached: what the instance's copy must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// The path as given.
    pub path: PathBuf,
    /// The file name sent to the instance (the path's last component, unchanged: spaces and
    /// quotes included).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its content, lower-case hex (what the instance reports as `hash`).
    pub sha256: String,
}

impl LocalFile {
    /// Reads `path` once to learn its size and SHA-256. Errors name the file and are
    /// [`ErrorKind::BadInput`] (exit 1, as for any file that cannot be used): missing, not a
    /// regular file, unreadable, or without a name that can be sent (UTF-8).
    pub async fn read(path: &Path) -> Result<LocalFile> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                Error::bad_input(format!(
                    "{} has no file name that can be sent (it must be UTF-8)",
                    path.display()
                ))
            })?
            .to_owned();
        let owned = path.to_path_buf();
        // Hashing a large file is blocking work; keep it off the runtime's threads.
        let (size, sha256) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            use sha2::Digest;
            let mut file = std::fs::File::open(&owned)?;
            if !file.metadata()?.is_file() {
                return Err(std::io::Error::other("it is not a regular file"));
            }
            let mut hasher = sha2::Sha256::new();
            let size = std::io::copy(&mut file, &mut hasher)?;
            Ok((size, hex::encode(hasher.finalize())))
        })
        .await
        .map_err(|e| Error::internal(format!("hashing {} failed: {e}", path.display())))?
        .map_err(|e| Error::bad_input(format!("cannot attach {}: {e}", path.display())))?;
        Ok(LocalFile {
            path: path.to_path_buf(),
            name,
            size,
            sha256,
        })
    }

    /// Could `attachment` be the instance's copy of this file? Compared on what the listing
    /// gives (SHA-256 and size through the API; a form's list gives neither, so any new one can).
    /// Names are not compared: instances and browsers rewrite them (spaces, quotes).
    pub fn may_be(&self, attachment: &Attachment) -> bool {
        let hash_ok = attachment
            .hash
            .as_deref()
            .filter(|h| !h.is_empty())
            .is_none_or(|h| h.eq_ignore_ascii_case(&self.sha256));
        let size_ok = attachment
            .size_bytes
            .trim()
            .parse::<u64>()
            .ok()
            .is_none_or(|s| s == self.size);
        hash_ok && size_ok
    }
}

/// A file attached, and the attachment the instance holds for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The local file.
    pub file: LocalFile,
    /// The attachment as the instance lists it (through a form's list: sys_id and name only).
    pub attachment: Attachment,
}

/// File names for messages, comma separated, each quoted where spaces or quotes would make
/// them ambiguous.
pub fn file_names<'a>(files: impl Iterator<Item = &'a LocalFile>) -> String {
    files
        .map(|f| {
            if f.name
                .chars()
                .all(|c| c.is_alphanumeric() || "._-+@".contains(c))
            {
                f.name.clone()
            } else {
                format!("{:?}", f.name)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The attachments a record held before snowbridge acted on it, by sys_id: an upload is judged
/// by what is new against it, so a lost reply or a page that shows a name differently never
/// makes a done upload look failed (and a rerun attach it twice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    sys_ids: HashSet<String>,
}

impl Held {
    /// What `listed` holds.
    pub fn new(listed: &[Attachment]) -> Held {
        Held {
            sys_ids: listed.iter().map(|a| a.sys_id.clone()).collect(),
        }
    }

    /// Was `sys_id` held?
    pub fn contains(&self, sys_id: &str) -> bool {
        self.sys_ids.contains(sys_id)
    }

    /// Counts `attachment` as held from now on.
    pub fn insert(&mut self, attachment: &Attachment) {
        self.sys_ids.insert(attachment.sys_id.clone());
    }

    /// The attachment in `after` that is new against this and may be `file`'s copy; the first
    /// such in listing order.
    pub fn new_copy_of<'a>(
        &self,
        after: &'a [Attachment],
        file: &LocalFile,
    ) -> Option<&'a Attachment> {
        after
            .iter()
            .filter(|a| !a.sys_id.is_empty() && !self.sys_ids.contains(&a.sys_id))
            .find(|a| file.may_be(a))
    }
}

/// The Attachment API of a session.
#[derive(Debug)]
pub struct Attachments<'s> {
    session: &'s Session,
}

impl<'s> Attachments<'s> {
    /// The Attachment API over `session`.
    pub fn new(session: &'s Session) -> Attachments<'s> {
        Attachments { session }
    }

    /// Uploads `file` to the record `table`/`sys_id`, streaming it from disk, with the content
    /// type its extension names ([`content_type_of`]).
    pub async fn upload(&self, table: &str, sys_id: &str, file: &Path) -> Result<Attachment> {
        let name = file.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            Error::bad_input(format!("{} has no usable file name", file.display()))
        })?;
        if !file.is_file() {
            return Err(Error::bad_input(format!(
                "{} is not a readable file",
                file.display()
            )));
        }
        let target = format!(
            "/api/now/attachment/file?table_name={}&table_sys_id={}&file_name={}",
            enc(table),
            enc(sys_id),
            enc(name)
        );
        let call = Call::new(Method::POST, target)
            .body(Body::File(file.to_path_buf(), content_type_of(name)));
        Ok(self.session.send_json::<One>(&call).await?.result)
    }

    /// Uploads `file` and judges the outcome by what the record holds: when the reply is lost
    /// (a timeout, a cut connection), the record's attachments are listed and a new one
    /// with the file's SHA-256 and size counts as the upload done. `held` is what the record
    /// held before (from [`Attachments::held`]); the new attachment is added to it. With `held`
    /// unknown (the listing was refused), a lost reply is reported as the failure it seems.
    pub async fn upload_judged(
        &self,
        table: &str,
        sys_id: &str,
        file: &LocalFile,
        held: &mut Option<Held>,
    ) -> Result<Attachment> {
        let sent = self.upload(table, sys_id, &file.path).await;
        let attachment = match sent {
            Ok(a) => a,
            Err(e) if reply_may_be_lost(&e) => {
                let Some(before) = held.as_ref() else {
                    return Err(e);
                };
                let after = match self.list(table, sys_id).await {
                    Ok(after) => after,
                    Err(look) => {
                        return Err(e.with_note(&format!(
                            "whether the instance kept the file is unknown: listing the record's attachments failed too: {}",
                            look.message()
                        )));
                    }
                };
                match before.new_copy_of(&after, file) {
                    Some(found) => {
                        tracing::info!(error = %e, sys_id = %found.sys_id, "the reply was lost but the instance holds the file");
                        found.clone()
                    }
                    None => return Err(e.with_note("the record holds no new copy of the file")),
                }
            }
            Err(e) => return Err(e),
        };
        if let Some(held) = held {
            held.insert(&attachment);
        }
        Ok(attachment)
    }

    /// What the record holds now, or `None` where the instance refuses the listing (itil users
    /// on some instances). Other failures are errors.
    pub async fn held(&self, table: &str, sys_id: &str) -> Result<Option<Held>> {
        match self.list(table, sys_id).await {
            Ok(listed) => Ok(Some(Held::new(&listed))),
            Err(e) if e.kind() == ErrorKind::Forbidden => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The attachments of the record `table`/`sys_id`.
    pub async fn list(&self, table: &str, sys_id: &str) -> Result<Vec<Attachment>> {
        let target = format!(
            "/api/now/attachment?sysparm_query={}",
            enc(&format!("table_name={table}^table_sys_id={sys_id}"))
        );
        Ok(self
            .session
            .send_json::<Many>(&Call::get(target))
            .await?
            .result)
    }

    /// Downloads the attachment `sys_id` to `dest`; returns the byte count.
    pub async fn download(&self, sys_id: &str, dest: &Path) -> Result<u64> {
        let call = Call::get(format!("/api/now/attachment/{}/file", enc(sys_id)));
        let mut response = self.session.send(&call).await?;
        let mut out = tokio::fs::File::create(dest)
            .await
            .map_err(|e| Error::io("cannot create", dest, e))?;
        let mut written = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            Error::new(
                crate::ErrorKind::Unreachable,
                format!("the download was cut off: {e}"),
            )
        })? {
            out.write_all(&chunk)
                .await
                .map_err(|e| Error::io("cannot write", dest, e))?;
            written += chunk.len() as u64;
        }
        out.flush()
            .await
            .map_err(|e| Error::io("cannot write", dest, e))?;
        Ok(written)
    }
}

/// Could the instance have acted on a call that failed this way? A timeout or a cut connection
/// may come after the instance stored the upload.
fn reply_may_be_lost(e: &Error) -> bool {
    e.kind() == ErrorKind::Unreachable
}

/// The content type of a file name, from `mime_guess`'s table of extensions (images, Office
/// documents, mail: `.eml` is `message/rfc822`, `.msg` `application/vnd.ms-outlook`);
/// `application/octet-stream` for what it does not know.
pub fn content_type_of(name: &str) -> String {
    mime_guess::from_path(name)
        .first_or_octet_stream()
        .essence_str()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_come_from_the_extension() {
        for (name, want) in [
            ("screen.PNG", "image/png"),
            ("photo.jpeg", "image/jpeg"),
            (
                "report.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ),
            (
                "sheet.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            ("mail.eml", "message/rfc822"),
            ("mail.msg", "application/vnd.ms-outlook"),
            ("notes.txt", "text/plain"),
            (" padded .txt", "text/plain"),
            ("no-extension", "application/octet-stream"),
            ("odd.zzzz", "application/octet-stream"),
        ] {
            assert_eq!(content_type_of(name), want, "{name}");
        }
    }

    fn listed(sys_id: &str, size: &str, hash: Option<&str>) -> Attachment {
        Attachment {
            sys_id: sys_id.into(),
            file_name: "x".into(),
            size_bytes: size.into(),
            content_type: String::new(),
            table_name: "incident".into(),
            table_sys_id: "r".into(),
            hash: hash.map(str::to_owned),
            download_link: None,
        }
    }

    #[test]
    fn a_new_copy_is_a_new_sys_id_with_the_files_hash_and_size() {
        let file = LocalFile {
            path: "a.txt".into(),
            name: "a.txt".into(),
            size: 3,
            sha256: "ab".into(),
        };
        let old = listed("1", "3", Some("ab"));
        let held = Held::new(std::slice::from_ref(&old));
        let other = listed("2", "3", Some("cd"));
        let ours = listed("3", "3", Some("AB"));
        assert_eq!(
            held.new_copy_of(std::slice::from_ref(&old), &file),
            None,
            "held before"
        );
        assert_eq!(
            held.new_copy_of(&[old.clone(), other.clone()], &file),
            None,
            "other content"
        );
        assert_eq!(
            held.new_copy_of(&[old, other, ours.clone()], &file),
            Some(&ours)
        );
        // A form's list gives neither size nor hash: any new one may be the copy.
        let shown = listed("4", "", None);
        assert_eq!(
            held.new_copy_of(std::slice::from_ref(&shown), &file),
            Some(&shown)
        );
    }
}
