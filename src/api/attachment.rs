//! The Attachment API: uploads streamed from a file, listings and downloads.

use std::path::Path;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::enc;
use crate::error::{Error, Result};
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

    /// Uploads `file` to the record `table`/`sys_id`, streaming it from disk.
    pub async fn upload(&self, table: &str, sys_id: &str, file: &Path) -> Result<Attachment> {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::usage(format!("{} has no usable file name", file.display())))?;
        if !file.is_file() {
            return Err(Error::usage(format!(
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
        let call = Call::new(Method::POST, target).body(Body::File(
            file.to_path_buf(),
            content_type_of(name).to_owned(),
        ));
        Ok(self.session.send_json::<One>(&call).await?.result)
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

/// A content type from a file name's extension.
pub fn content_type_of(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "xml" => "application/xml",
        "html" | "htm" => "text/html",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        _ => "application/octet-stream",
    }
}
