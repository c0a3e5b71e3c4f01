//! The ServiceNow APIs over a [`Session`](crate::session::Session): the Table API, the JSONv2
//! processor and the Attachment API, with replies as types and errors told apart.
//!
//! This is the only layer that speaks ServiceNow's wire words (`sysparm_*`, `sys_id`, JSONv2
//! actions). It builds calls and reads replies; sessions, retries and cookies are the session's.

pub mod attachment;
pub mod envelope;
pub mod incident;
pub mod jsonv2;
pub mod table;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use attachment::{Attachment, Attachments};
pub use jsonv2::JsonV2;
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

/// Percent-encodes a query parameter or path segment.
pub fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The URLs of a `Link` header by relation (`next`, `last`, ...).
pub fn links(header: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for part in header.split(',') {
        let mut pieces = part.split(';');
        let Some(url) = pieces.next() else { continue };
        let url = url.trim().trim_start_matches('<').trim_end_matches('>');
        for param in pieces {
            if let Some((key, value)) = param.split_once('=')
                && key.trim().eq_ignore_ascii_case("rel")
            {
                for rel in value.trim().trim_matches('"').split_whitespace() {
                    out.insert(rel.to_owned(), url.to_owned());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_are_read_by_relation() {
        let h = r#"<https://x/api/now/table/incident?sysparm_offset=0>;rel="first",<https://x/api/now/table/incident?sysparm_offset=10>;rel="next""#;
        let l = links(h);
        assert_eq!(
            l["next"],
            "https://x/api/now/table/incident?sysparm_offset=10"
        );
        assert_eq!(
            l["first"],
            "https://x/api/now/table/incident?sysparm_offset=0"
        );
        assert!(!l.contains_key("last"));
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
    }

    #[test]
    fn encoding_is_safe_for_queries() {
        assert_eq!(enc("a=1^b LIKE x&y"), "a%3D1%5Eb%20LIKE%20x%26y");
    }
}
