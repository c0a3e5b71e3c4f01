//! [`Control`] over a text stream, for steering an emulator that runs as its own process
//! (`snowbridge emulator --control`): tests in other languages (the Python package's pytest
//! suite) and scripted demos. One JSON object a line in, one JSON line out per command:
//! `{"op": "expire_all_sessions"}` → `{"ok": null}`; a failure is `{"error": "..."}`.
//!
//! Each `op` is the [`Control`] method of the same name, with its arguments as fields; nothing
//! here changes how requests are judged beyond what [`Control`] itself offers.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::Control;
use super::control::SessionKind;

/// The commands, by `op`.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum Command {
    /// Kills every server-side session (remember-me cookies still work).
    ExpireAllSessions,
    /// Moves the virtual clock forward by `secs` seconds.
    AdvanceClock { secs: u64 },
    /// A new `glide_session_store` on every reply, or not.
    SetRotateSessionStore { on: bool },
    /// The next `n` API requests get `status`.
    FailNext { n: usize, status: u16 },
    /// The logged-in sessions: `[{"id", "user", "kind": "ui"|"integration", "user_token"}]`.
    Sessions,
    /// Every `glide_session_store` value issued, in order.
    IssuedSessionStore,
    /// A record by sys_id or number, with raw values; `null` when there is none.
    Record { table: String, id: String },
    /// How many records of `table` match `query`.
    Count {
        table: String,
        #[serde(default)]
        query: String,
    },
    /// The sys_id of a user.
    UserSysId { user: String },
    /// Inserts an incident as admin with the instance's rules; its sys_id.
    InsertIncident {
        fields: serde_json::Map<String, Value>,
    },
    /// The attachments of a record (by sys_id), oldest first:
    /// `[{"sys_id", "file_name", "content_type", "size_bytes", "hash"}]` (`hash`: SHA-256, hex).
    Attachments { record: String },
    /// Every request answered so far: `[{"method", "path_and_query", "status", "user"}]`.
    RequestLog,
    /// Forgets the request log.
    ClearRequestLog,
}

/// The answer to one line.
pub fn answer(control: &Control, line: &str) -> Value {
    let command: Command = match serde_json::from_str(line) {
        Ok(command) => command,
        Err(e) => return json!({ "error": format!("not a control command: {e}") }),
    };
    match run(control, command) {
        Ok(value) => json!({ "ok": value }),
        Err(e) => json!({ "error": e }),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn run(control: &Control, command: Command) -> Result<Value, String> {
    Ok(match command {
        Command::ExpireAllSessions => {
            control.expire_all_sessions();
            Value::Null
        }
        Command::AdvanceClock { secs } => {
            control.advance_clock(Duration::from_secs(secs));
            Value::Null
        }
        Command::SetRotateSessionStore { on } => {
            control.set_rotate_session_store(on);
            Value::Null
        }
        Command::FailNext { n, status } => {
            control.fail_next(n, status);
            Value::Null
        }
        Command::Sessions => control
            .sessions()
            .into_iter()
            .map(|s| {
                json!({
                    "id": s.id,
                    "user": s.user,
                    "kind": match s.kind {
                        SessionKind::Ui => "ui",
                        SessionKind::Integration => "integration",
                    },
                    "user_token": s.user_token,
                })
            })
            .collect(),
        Command::IssuedSessionStore => json!(control.issued_session_store()),
        Command::Record { table, id } => control
            .record(&table, &id)
            .map(Value::Object)
            .unwrap_or(Value::Null),
        Command::Count { table, query } => json!(control.count(&table, &query)),
        Command::UserSysId { user } => json!(control.user_sys_id(&user)),
        Command::InsertIncident { fields } => {
            let fields = fields.iter().map(|(k, v)| (k.clone(), text(v)));
            json!(control.insert_incident(fields).map_err(|e| e.to_string())?)
        }
        Command::Attachments { record } => control
            .attachments(&record)
            .into_iter()
            .map(|a| {
                json!({
                    "sys_id": a.sys_id,
                    "file_name": a.file_name,
                    "content_type": a.content_type,
                    "size_bytes": a.size_bytes,
                    "hash": a.hash,
                })
            })
            .collect(),
        Command::RequestLog => control
            .request_log()
            .into_iter()
            .map(|r| {
                json!({
                    "method": r.method,
                    "path_and_query": r.path_and_query,
                    "status": r.status,
                    "user": r.user,
                })
            })
            .collect(),
        Command::ClearRequestLog => {
            control.clear_request_log();
            Value::Null
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::{Emulator, EmulatorConfig};

    #[test]
    fn commands_answer_as_control_does_and_mistakes_are_answered_not_fatal() {
        let emu = Emulator::start(EmulatorConfig {
            incidents: 3,
            ..EmulatorConfig::default()
        })
        .unwrap();
        let control = emu.control();
        assert_eq!(
            answer(&control, r#"{"op":"count","table":"incident"}"#),
            json!({"ok": 3})
        );
        let inserted = answer(
            &control,
            r#"{"op":"insert_incident","fields":{"short_description":"from a line","impact":2}}"#,
        );
        let sys_id = inserted["ok"].as_str().expect("a sys_id").to_owned();
        let record = answer(
            &control,
            &format!(r#"{{"op":"record","table":"incident","id":"{sys_id}"}}"#),
        );
        assert_eq!(record["ok"]["short_description"], "from a line");
        assert_eq!(record["ok"]["impact"], "2");
        assert_eq!(
            answer(
                &control,
                r#"{"op":"record","table":"incident","id":"nope"}"#
            ),
            json!({"ok": null})
        );
        for bad in [
            "not json",
            r#"{"op":"explode"}"#,
            r#"{"op":"advance_clock"}"#,
        ] {
            let said = answer(&control, bad);
            assert!(said["error"].is_string(), "{bad}: {said}");
        }
    }
}
