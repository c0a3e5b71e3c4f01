//! The ServiceNow APIs over a [`Session`](crate::session::Session): the Table API, the JSONv2
//! processor and the Attachment API, with replies as types and errors told apart.
//!
//! This is the only layer that speaks ServiceNow's wire words (`sysparm_*`, `sys_id`, JSONv2
//! actions). It builds calls and reads replies; sessions, retries and cookies are the session's.

pub mod attachment;
pub mod incident;
pub mod jsonv2;
pub mod link;
pub mod stream;
pub mod table;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use attachment::{Attachment, Attachments};
pub use jsonv2::JsonV2;
pub use stream::RawRecord;
pub use table::{DisplayValue, Query, Table};

/// One record: its fields as the instance sent them (which fields depends on the request).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Record(pub serde_json::Map<String, serde_json::Value>);

impl Record {
    /// The record's sys_id, when it was returned.
    pub fn sys_id(&self) -> Option<&str> {
        self.field("sys_id")
    }

    /// A field's raw value as text: plain values, or the `value` of reference and
    /// display-value objects.
    pub fn field(&self, name: &str) -> Option<&str> {
        match self.0.get(name)? {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Object(o) => o.get("value").and_then(|v| v.as_str()),
            _ => None,
        }
    }
}

/// One line of JSON: the fields as the instance sent them (`{"number":"INC0010001",...}`), as
/// NDJSON carries a record.
impl std::fmt::Display for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match serde_json::to_string(&self.0) {
            Ok(line) => f.write_str(&line),
            Err(_) => Err(std::fmt::Error),
        }
    }
}

/// Percent-encodes a query parameter or path segment.
pub(crate) fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// `value` as a JSON object, for a write's fields.
pub(crate) fn fields_object<T: Serialize + ?Sized>(value: &T) -> Result<serde_json::Value> {
    match serde_json::to_value(value) {
        Ok(object @ serde_json::Value::Object(_)) => Ok(object),
        Ok(other) => Err(Error::bad_input(format!(
            "a record's fields must be a JSON object (field names and values), not {}",
            match other {
                serde_json::Value::Null => "null",
                serde_json::Value::Bool(_) => "a boolean",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::Object(_) => "an object",
            }
        ))),
        Err(e) => Err(Error::bad_input(format!(
            "the record's fields cannot be written as JSON: {e}"
        ))),
    }
}

/// Keyset paging's filter (`sys_id>LAST^ORDERBYsys_id`, as the Table API and JSONv2 readers
/// page): the rows of a page past `last`, each once (a row listed twice goes once), rows
/// without a sys_id kept; and whether any row was new, so a page that does not advance is seen.
pub(crate) fn past_key(rows: Vec<Record>, last: Option<&str>) -> (Vec<Record>, bool) {
    let mut here = SysIds::default();
    let mut advanced = false;
    let kept = rows
        .into_iter()
        .filter(|row| match row.sys_id() {
            Some(id) if last.is_some_and(|last| id <= last) => false,
            Some(id) => {
                let new = here.insert(id);
                advanced |= new;
                new
            }
            None => true,
        })
        .collect();
    (kept, advanced)
}

/// A set of sys_ids in little memory: one `u128` for each 32-digit lowercase hex sys_id (what
/// instances issue), the text for anything else, so no two different ids can ever collide.
/// Paging keeps one to print each record once; 100,000 records take a few MB.
#[derive(Debug, Default)]
pub struct SysIds {
    hex: HashSet<u128>,
    other: HashSet<Box<str>>,
}

impl SysIds {
    /// Adds `sys_id`; true when it was not there yet.
    pub fn insert(&mut self, sys_id: &str) -> bool {
        match packed(sys_id) {
            Some(n) => self.hex.insert(n),
            None => self.other.insert(sys_id.into()),
        }
    }

    /// True when `sys_id` was added before.
    pub fn contains(&self, sys_id: &str) -> bool {
        match packed(sys_id) {
            Some(n) => self.hex.contains(&n),
            None => self.other.contains(sys_id),
        }
    }

    /// How many ids are held.
    pub fn len(&self) -> usize {
        self.hex.len() + self.other.len()
    }

    /// True when none are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A sys_id of exactly 32 lowercase hex digits as a number (`from_str_radix` alone would take a
/// sign or capitals, and so map two different texts to one number).
fn packed(sys_id: &str) -> Option<u128> {
    let hex = sys_id.len() == 32
        && sys_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex {
        u128::from_str_radix(sys_id, 16).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_id_sets_tell_every_id_apart() {
        let mut ids = SysIds::default();
        assert!(ids.insert("0123456789abcdef0123456789abcdef"));
        assert!(!ids.insert("0123456789abcdef0123456789abcdef"));
        // Same number, other text: not the same sys_id.
        assert!(ids.insert("0123456789ABCDEF0123456789ABCDEF"));
        assert!(ids.insert("+123456789abcdef0123456789abcdef"));
        assert!(ids.insert("123456789abcdef0123456789abcdef"));
        assert!(ids.insert("custom-id"));
        assert!(ids.contains("custom-id") && !ids.contains("other"));
        assert_eq!(ids.len(), 5);
    }

    #[test]
    fn fields_read_plain_and_reference_values() {
        let r: Record = serde_json::from_str(
            r#"{"sys_id":"abc","caller_id":{"link":"https://x","value":"u1"},"n":3}"#,
        )
        .unwrap();
        assert_eq!(r.sys_id(), Some("abc"));
        assert_eq!(r.field("caller_id"), Some("u1"));
        assert_eq!(r.field("n"), None);
        let line = r.to_string();
        assert!(!line.contains('\n'), "{line}");
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), r);
    }

    #[test]
    fn fields_must_be_an_object() {
        #[derive(Serialize)]
        struct Short {
            short_description: String,
        }
        let fields = fields_object(&Short {
            short_description: "Printer on fire".into(),
        })
        .unwrap();
        assert_eq!(fields["short_description"], "Printer on fire");
        let e = fields_object(&vec!["a"]).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::BadInput);
        assert!(e.message().contains("not an array"), "{e}");
    }

    #[test]
    fn encoding_is_safe_for_queries() {
        assert_eq!(enc("a=1^b LIKE x&y"), "a%3D1%5Eb%20LIKE%20x%26y");
    }
}
