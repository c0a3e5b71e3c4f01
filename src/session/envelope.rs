//! The instance's replies as data: the error envelope, told apart into the error kinds callers
//! act on, and JSON bodies parsed with an error that says what came back instead.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;

use crate::error::{Error, ErrorKind, Refusal, Result};
use crate::instance::Instance;

/// `{"error":{"message":...,"detail":...},"status":"failure"}`, JSONv2's
/// `{"_error":...,"reason":...}` and OAuth's `{"error":"...","error_description":"..."}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Envelope {
    Rest {
        error: RestError,
    },
    JsonV2 {
        #[serde(rename = "_error")]
        error: String,
        reason: Option<String>,
    },
    OAuth {
        error: String,
        error_description: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
struct RestError {
    message: Option<String>,
    detail: Option<serde_json::Value>,
}

/// The message and detail an error reply carried.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Complaint {
    /// The instance's message.
    pub message: String,
    /// Its detail, when any.
    pub detail: Option<String>,
}

impl std::fmt::Display for Complaint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        match &self.detail {
            Some(detail) if detail != &self.message => write!(f, " ({detail})"),
            _ => Ok(()),
        }
    }
}

/// Reads the complaint out of an error body, or describes the body when it is not one.
pub fn complaint(body: &[u8]) -> Complaint {
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope::Rest { error }) => Complaint {
            message: error.message.unwrap_or_else(|| "no message".into()),
            detail: error.detail.and_then(|d| match d {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) if s.is_empty() => None,
                serde_json::Value::String(s) => Some(s),
                other => Some(other.to_string()),
            }),
        },
        Ok(Envelope::JsonV2 { error, reason }) => Complaint {
            message: error,
            detail: reason,
        },
        Ok(Envelope::OAuth {
            error,
            error_description,
        }) => Complaint {
            message: error,
            detail: error_description,
        },
        Err(_) => Complaint {
            message: snippet(body),
            detail: None,
        },
    }
}

pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "an empty reply".into();
    }
    let cut: String = text.chars().take(160).collect();
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// The complaint of a response, consuming it.
pub async fn message_of(response: reqwest::Response) -> Complaint {
    let body = response.bytes().await.unwrap_or_default();
    complaint(&body)
}

/// The data-policy fields named in a message like
/// "Data Policy Exception: The following fields are mandatory: Resolution code, Resolution notes".
fn mandatory_fields(message: &str) -> Option<Vec<String>> {
    let rest = message.split_once("Data Policy Exception")?.1;
    let list = rest.split_once("mandatory:").map(|(_, l)| l).unwrap_or("");
    Some(
        list.split(',')
            .map(|f| f.trim().trim_end_matches('.').to_owned())
            .filter(|f| !f.is_empty())
            .collect(),
    )
}

/// Classifies a refused (403) reply.
pub fn refusal(complaint: &Complaint) -> Refusal {
    let all = format!(
        "{} {}",
        complaint.message,
        complaint.detail.as_deref().unwrap_or("")
    );
    // Message and detail are read apart: instances repeat the data-policy text in both, and
    // read together the second copy would be taken for one more field.
    let fields = mandatory_fields(&complaint.message)
        .or_else(|| complaint.detail.as_deref().and_then(mandatory_fields));
    if let Some(fields) = fields {
        Refusal::DataPolicy(fields)
    } else if all.contains("Missing required api access scope") || all.contains("scope") {
        Refusal::Scope
    } else if all.contains("ACL")
        // "Security constraints prevent ..." opens the form's messages.
        || all.to_ascii_lowercase().contains("security constraints")
        || all.contains("Operation Failed")
    {
        Refusal::Acl
    } else {
        Refusal::Other
    }
}

/// The error for a non-2xx reply (after the session handled 401, redirects and retries).
pub fn error_for(
    instance: &Instance,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Error {
    let said = complaint(body);
    let name = &instance.name;
    match status.as_u16() {
        401 => Error::login_required(name, format!("{name} did not accept the session: {said}")),
        403 => {
            let why = refusal(&said);
            let hint = match &why {
                Refusal::DataPolicy(fields) => format!(
                    "give the mandatory fields ({}) and try again",
                    fields.join(", ")
                ),
                Refusal::Scope => {
                    "ask for a token with the API's scope (see [oauth] scopes)".into()
                }
                _ => "the user lacks the rights for this through the API; an admin can grant them"
                    .into(),
            };
            Error::forbidden(why, format!("{name} refused: {said}")).with_hint(hint)
        }
        404 => Error::new(ErrorKind::NotFound, format!("{name}: not found: {said}")),
        414 => Error::new(
            ErrorKind::Instance,
            format!("{name} refused the request: the URL is too long (over about 8 KB)"),
        )
        .with_hint("shorten the query or the field list"),
        429 => {
            let after = headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?");
            Error::new(
                ErrorKind::Instance,
                format!("{name} kept rate-limiting the requests: {said}"),
            )
            .with_hint(format!("try again in {after} seconds"))
        }
        500..=599 => Error::new(
            ErrorKind::Instance,
            format!("{name} failed ({status}): {said}"),
        ),
        _ => Error::new(
            ErrorKind::Instance,
            format!("{name} answered {status}: {said}"),
        ),
    }
}

/// The error for a non-2xx response, consuming it.
pub async fn error_from_response(instance: &Instance, response: reqwest::Response) -> Error {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap_or_default();
    error_for(instance, status, &headers, &body)
}

/// Parses a JSON reply into `T`, saying what came back when it is something else.
pub async fn parse_json<T: serde::de::DeserializeOwned>(
    instance: &Instance,
    response: reqwest::Response,
) -> Result<T> {
    let path = response.url().path().to_owned();
    let body = response.bytes().await.map_err(|e| {
        Error::new(
            ErrorKind::Unreachable,
            format!("{}: the reply to {path} was cut off ({e})", instance.base()),
        )
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        Error::new(
            ErrorKind::Unreachable,
            format!(
                "{} answered {path} with something that is not the expected JSON ({e}): {}",
                instance.base(),
                snippet(&body)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_envelopes_are_read() {
        let rest = complaint(br#"{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}"#);
        assert_eq!(rest.message, "User Not Authenticated");
        assert_eq!(
            rest.detail.as_deref(),
            Some("Required to provide Auth information")
        );
        let v2 = complaint(br#"{"_error":"Invalid table","reason":null}"#);
        assert_eq!(v2.message, "Invalid table");
        let oauth = complaint(br#"{"error":"server_error","error_description":"access_denied"}"#);
        assert_eq!(oauth.detail.as_deref(), Some("access_denied"));
        assert_eq!(complaint(b"<html>oops</html>").message, "<html>oops</html>");
    }

    #[test]
    fn refusals_are_told_apart() {
        let policy = Complaint {
            message: "Data Policy Exception: The following fields are mandatory: Resolution code, Resolution notes".into(),
            detail: None,
        };
        assert_eq!(
            refusal(&policy),
            Refusal::DataPolicy(vec!["Resolution code".into(), "Resolution notes".into()])
        );
        let acl = Complaint {
            message: "Operation Failed".into(),
            detail: Some("ACL Exception Update Failed due to security constraints".into()),
        };
        assert_eq!(refusal(&acl), Refusal::Acl);
        let form = Complaint {
            message: "Security constraints prevent closing this incident".into(),
            detail: None,
        };
        assert_eq!(refusal(&form), Refusal::Acl);
        let scope = Complaint {
            message: "Missing required api access scope".into(),
            detail: None,
        };
        assert_eq!(refusal(&scope), Refusal::Scope);
    }

    /// Instances (and the emulator) put the data-policy text in both message and detail.
    #[test]
    fn a_data_policy_repeated_in_the_detail_names_each_field_once() {
        let text = "Data Policy Exception: The following fields are mandatory: Resolution code";
        let body =
            serde_json::json!({"error": {"message": text, "detail": text}, "status": "failure"});
        let instance = Instance::parse(
            "dev",
            std::path::Path::new("/cfg/instances/dev.toml"),
            "url = \"https://acme.service-now.com\"",
        )
        .unwrap();
        let e = error_for(
            &instance,
            StatusCode::FORBIDDEN,
            &HeaderMap::new(),
            body.to_string().as_bytes(),
        );
        assert_eq!(
            e.refusal(),
            Some(&Refusal::DataPolicy(vec!["Resolution code".into()]))
        );
        assert_eq!(
            e.hint(),
            Some("give the mandatory fields (Resolution code) and try again")
        );
        assert_eq!(
            e.message().matches("Data Policy Exception").count(),
            1,
            "{e}"
        );
    }
}
