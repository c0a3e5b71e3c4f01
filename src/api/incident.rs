//! Incidents: finding one by number or sys_id, and resolving or closing it through the Table API.

use super::{Record, Table};
use crate::error::{Error, ErrorKind, Result};
use crate::session::Session;

/// The incident states of the wire doc.
pub mod state {
    /// New.
    pub const NEW: &str = "1";
    /// In Progress.
    pub const IN_PROGRESS: &str = "2";
    /// On Hold.
    pub const ON_HOLD: &str = "3";
    /// Resolved.
    pub const RESOLVED: &str = "6";
    /// Closed.
    pub const CLOSED: &str = "7";
    /// Canceled.
    pub const CANCELED: &str = "8";
}

/// True for a 32-hex-digit sys_id.
pub fn is_sys_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Finds a record of `table` by sys_id or number (INC0010001).
pub async fn find(session: &Session, table: &str, record: &str) -> Result<Record> {
    let api = Table::new(session, table);
    if is_sys_id(record) {
        return api.get(record).await;
    }
    api.find("number", record, 2)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "no {table} record numbered {record} on {}",
                    session.instance().name
                ),
            )
        })
}

/// Resolves (or, with `close`, closes) an incident through the Table API.
pub async fn resolve(
    session: &Session,
    sys_id: &str,
    code: &str,
    notes: &str,
    close: bool,
) -> Result<Record> {
    let target = if close {
        state::CLOSED
    } else {
        state::RESOLVED
    };
    Table::new(session, "incident")
        .update(
            sys_id,
            &serde_json::json!({ "state": target, "close_code": code, "close_notes": notes }),
        )
        .await
}
