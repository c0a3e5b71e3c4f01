//! Incidents: finding one by number or sys_id, the resolution codes (`close_code` choices) the
//! instance offers, deciding what a resolve may change from where the incident stands, and
//! making that change through the Table API.
//!
//! The rule of [`plan`]: a resolve only moves an incident forward (open → Resolved → Closed) and
//! never rewrites a resolution already there. It decides from the record as read; it sends
//! nothing.

use super::{Query, Record, Table, enc};
use crate::error::{Error, ErrorKind, NextStep, Result};
use crate::session::{Call, Session};
use crate::vault::Obtained;

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

    /// The state's label, as instances show it ("Resolved"), or the raw value.
    pub fn label(value: &str) -> &str {
        match value {
            NEW => "New",
            IN_PROGRESS => "In Progress",
            ON_HOLD => "On Hold",
            RESOLVED => "Resolved",
            CLOSED => "Closed",
            CANCELED => "Canceled",
            other => other,
        }
    }
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

/// An incident's resolution fields, as read from the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// Its sys_id.
    pub sys_id: String,
    /// Its number (INC0010001), when the reply had one.
    pub number: Option<String>,
    /// `state`, the raw value ("2", "6", ...).
    pub state: String,
    /// `close_code`, the raw value ("" when none).
    pub close_code: String,
    /// `close_notes` ("" when none).
    pub close_notes: String,
}

impl Incident {
    /// Reads the fields out of a Table API record; an error when it has no sys_id or state.
    pub fn from_record(record: &Record) -> Result<Incident> {
        let text = |name: &str| record.field(name).unwrap_or_default().to_owned();
        let sys_id = text("sys_id");
        if sys_id.is_empty() {
            return Err(Error::new(
                ErrorKind::Instance,
                "the incident came back without a sys_id",
            ));
        }
        let state = text("state");
        if state.is_empty() {
            return Err(Error::new(
                ErrorKind::Instance,
                format!("incident {sys_id} came back without a state"),
            ));
        }
        Ok(Incident {
            number: record.field("number").map(str::to_owned),
            close_code: text("close_code"),
            close_notes: text("close_notes"),
            sys_id,
            state,
        })
    }

    /// Its number, or its sys_id when the number is unknown: how messages name it.
    pub fn name(&self) -> &str {
        self.number.as_deref().unwrap_or(&self.sys_id)
    }
}

/// What a resolve is asked for: the resolution code and notes, and whether to close too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The resolution code: a `close_code` value ("Solution provided"), or its label;
    /// case-sensitive, checked against the instance's own choices before anything is sent.
    pub code: String,
    /// The resolution notes (`close_notes`).
    pub notes: String,
    /// Close the incident too (closing needs itil_admin or admin): resolve it first where it
    /// is open; a Resolved one is only closed, keeping its code and notes.
    pub close: bool,
}

impl Resolution {
    /// Resolve with `code` and `notes`, without closing.
    pub fn new(code: impl Into<String>, notes: impl Into<String>) -> Resolution {
        Resolution {
            code: code.into(),
            notes: notes.into(),
            close: false,
        }
    }

    /// Close the incident too.
    pub fn and_close(mut self) -> Resolution {
        self.close = true;
        self
    }
}

/// A change a resolve makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Open → Resolved, writing the code and notes.
    Resolve,
    /// Open → Closed, writing the code and notes (one update through the API; "Resolve
    /// Incident" then "Close Incident" on the form).
    ResolveAndClose,
    /// Resolved → Closed, keeping the stored code and notes.
    Close,
}

impl Change {
    /// True when the change closes the incident.
    pub fn closes(self) -> bool {
        matches!(self, Change::ResolveAndClose | Change::Close)
    }

    /// True when the change writes the code and notes.
    pub fn writes_resolution(self) -> bool {
        matches!(self, Change::Resolve | Change::ResolveAndClose)
    }

    /// The state the incident ends in.
    pub fn target_state(self) -> &'static str {
        if self.closes() {
            state::CLOSED
        } else {
            state::RESOLVED
        }
    }
}

/// What [`plan`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to change: the incident already is where asked (or closed after it), with the
    /// code asked for. A rerun of the same resolve lands here.
    Unchanged,
    /// This change takes it where asked.
    Change(Change),
}

/// Decides what a resolve may change on `incident`, by its state and code:
///
/// | state | same code | another code |
/// | --- | --- | --- |
/// | New, In Progress, On Hold | [`Change::Resolve`] (or [`Change::ResolveAndClose`] with close) | the same |
/// | Resolved | [`Plan::Unchanged`] (or [`Change::Close`] with close) | conflict |
/// | Closed | [`Plan::Unchanged`] | conflict |
/// | Canceled, or a state it does not know | conflict | conflict |
///
/// A conflict is an error of kind [`ErrorKind::Conflict`] saying where the incident stands.
/// Notes never decide: a resolution already there keeps its notes.
pub fn plan(incident: &Incident, wanted: &Resolution) -> Result<Plan> {
    let name = incident.name();
    let same_code = incident.close_code == wanted.code;
    let stored_code = || {
        if incident.close_code.is_empty() {
            "no resolution code".to_owned()
        } else {
            format!("resolution code {:?}", incident.close_code)
        }
    };
    let keep_it = |what: &str| {
        Error::new(
            ErrorKind::Conflict,
            format!(
                "{name} is already {what} with {}, not {:?}: left as it is (resolve never rewrites a resolution)",
                stored_code(),
                wanted.code
            ),
        )
        .with_hint("to change it, reopen the incident in the instance first")
        .with_step(NextStep::UseResolutionCode {
            code: incident.close_code.clone(),
            guessed: false,
        })
    };
    match incident.state.as_str() {
        state::NEW | state::IN_PROGRESS | state::ON_HOLD => Ok(Plan::Change(if wanted.close {
            Change::ResolveAndClose
        } else {
            Change::Resolve
        })),
        state::RESOLVED if same_code && wanted.close => Ok(Plan::Change(Change::Close)),
        state::RESOLVED if same_code => Ok(Plan::Unchanged),
        state::RESOLVED => Err(keep_it("resolved")),
        state::CLOSED if same_code => Ok(Plan::Unchanged),
        state::CLOSED => Err(keep_it("closed")),
        state::CANCELED => Err(Error::new(
            ErrorKind::Conflict,
            format!("{name} is canceled: left as it is (resolve does not reopen an incident)"),
        )
        .with_hint("reopen it in the instance first if it should be resolved after all")),
        other => Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "{name} is in state {other:?}, which resolve does not know how to move forward: left as it is"
            ),
        )),
    }
}

/// The fields a [`Change`] sends through the Table API: the state, and the code and notes
/// where the change writes them.
pub fn update_fields(change: Change, code: &str, notes: &str) -> serde_json::Value {
    if change.writes_resolution() {
        serde_json::json!({ "state": change.target_state(), "close_code": code, "close_notes": notes })
    } else {
        serde_json::json!({ "state": change.target_state() })
    }
}

/// Makes `change` on incident `sys_id` through the Table API, in one update (so a refusal
/// changes nothing); returns the record as stored.
pub async fn apply(
    session: &Session,
    sys_id: &str,
    change: Change,
    code: &str,
    notes: &str,
) -> Result<Record> {
    Table::new(session, "incident")
        .update(sys_id, &update_fields(change, code, notes))
        .await
}

/// One choice of a choice field: the value stored, the label shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The value (`close_code` holds this).
    pub value: String,
    /// The label.
    pub label: String,
}

/// The resolution codes an instance offers, and where they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseCodes {
    /// Read from `source` ("sys_choice", or "the incident form").
    Known {
        /// The active choices, in the instance's order, each value once.
        choices: Vec<Choice>,
        /// Where they were read.
        source: &'static str,
    },
    /// Not readable: why, for each place tried.
    Unknown(String),
}

/// The resolution codes of `instance`: the `sys_choice` rows of `incident.close_code` (active,
/// in sequence order; on a real instance readable by itil users), else, for a browser session,
/// the options of the `incident.close_code` select on the incident form of `sys_id`, read
/// over HTTP with the session's cookies (no browser). Never an error: what could not be read
/// comes back as [`CloseCodes::Unknown`] saying why.
pub async fn close_codes(session: &Session, sys_id: &str) -> CloseCodes {
    let from_table = match sys_choice(session).await {
        Ok(choices) if !choices.is_empty() => {
            return CloseCodes::Known {
                choices,
                source: "sys_choice",
            };
        }
        // Read ACLs filter rows silently: an empty list means "not for you", not "none".
        Ok(_) => "sys_choice listed no active close_code choices for incident".to_owned(),
        Err(e) => format!("sys_choice could not be read ({})", e.message()),
    };
    if !has_ui_session(session) {
        return CloseCodes::Unknown(format!(
            "{from_table}, and this session has no browser cookies to read the incident form with"
        ));
    }
    let target = format!("/incident.do?sys_id={}", enc(sys_id));
    let page = match session.send(&Call::get(target)).await {
        Ok(response) => response.text().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.message().to_owned()),
    };
    match page {
        Ok(html) => match select_options(&html, "incident.close_code") {
            Some(choices) if !choices.is_empty() => CloseCodes::Known {
                choices,
                source: "the incident form",
            },
            _ => CloseCodes::Unknown(format!(
                "{from_table}, and the incident form has no incident.close_code choices"
            )),
        },
        Err(why) => CloseCodes::Unknown(format!(
            "{from_table}, and the incident form could not be read ({why})"
        )),
    }
}

/// `GET /api/now/table/sys_choice?sysparm_query=name=incident^element=close_code^inactive=false`.
async fn sys_choice(session: &Session) -> Result<Vec<Choice>> {
    let query = Query {
        query: "name=incident^element=close_code^inactive=false^ORDERBYsequence".into(),
        fields: vec!["value".into(), "label".into()],
        ..Query::default()
    };
    let mut pages = Table::new(session, "sys_choice").pages(query);
    let mut choices: Vec<Choice> = Vec::new();
    while let Some(page) = pages.next().await? {
        for record in page {
            let value = record.field("value").unwrap_or_default();
            // One row per language on instances that have several: each value once.
            if value.is_empty() || choices.iter().any(|c| c.value == value) {
                continue;
            }
            choices.push(Choice {
                value: value.to_owned(),
                label: record.field("label").unwrap_or(value).to_owned(),
            });
        }
    }
    Ok(choices)
}

/// Whether the session's cookies open UI pages (a browser login or a Chrome import).
fn has_ui_session(session: &Session) -> bool {
    matches!(
        session.record().obtained,
        Obtained::BrowserAutomated
            | Obtained::BrowserInteractive
            | Obtained::ChromeImport { .. }
            | Obtained::FormLogin
    )
}

/// The options (empty values left out) of the `<select>` whose id is `id` in `html`; `None`
/// when the page has no such select. Hand-written rather than an HTML parser crate: it reads
/// one select of one known form, and html5ever would be the heaviest dependency for it.
pub fn select_options(html: &str, id: &str) -> Option<Vec<Choice>> {
    let at = [format!("id=\"{id}\""), format!("id='{id}'")]
        .iter()
        .filter_map(|needle| html.find(needle.as_str()))
        .min()?;
    let start = html.get(..at)?.rfind('<')?;
    if !html
        .get(start..)?
        .to_ascii_lowercase()
        .starts_with("<select")
    {
        return None;
    }
    let rest = html.get(start..)?;
    let end = rest
        .to_ascii_lowercase()
        .find("</select")
        .unwrap_or(rest.len());
    let body = rest.get(..end)?;
    let lower = body.to_ascii_lowercase();
    let mut choices: Vec<Choice> = Vec::new();
    let mut from = 0;
    while let Some(found) = lower.get(from..).and_then(|l| l.find("<option")) {
        let open = from + found;
        let Some(tag_end) = body.get(open..).and_then(|b| b.find('>')) else {
            break;
        };
        let tag = body.get(open..open + tag_end)?;
        let text_start = open + tag_end + 1;
        let text_end = lower
            .get(text_start..)
            .and_then(|l| l.find('<'))
            .map_or(body.len(), |e| text_start + e);
        let label = decode(body.get(text_start..text_end)?.trim());
        let value = attribute(tag, "value").map_or_else(|| label.clone(), |v| decode(&v));
        if !value.is_empty() && !choices.iter().any(|c| c.value == value) {
            choices.push(Choice { value, label });
        }
        from = text_end;
    }
    Some(choices)
}

/// The value of attribute `name` in a tag's text (double, single or no quotes).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower.get(from..)?.find(name) {
        let at = from + found;
        from = at + name.len();
        let before_ok = lower
            .get(..at)
            .and_then(|b| b.chars().last())
            .is_some_and(char::is_whitespace);
        let after = tag.get(at + name.len()..)?.trim_start();
        if !before_ok || !after.starts_with('=') {
            continue;
        }
        let after = after.get(1..)?.trim_start();
        return Some(match after.chars().next() {
            Some(q @ ('"' | '\'')) => after.get(1..)?.split(q).next()?.to_owned(),
            _ => after
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()?
                .to_owned(),
        });
    }
    None
}

/// The entities a page escapes option text and values with.
fn decode(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// Checks `code` against `codes` read from `source` on `instance`: an exact value, or an exact
/// label (its value is what gets stored). Anything else is a usage error (exit 2) naming the
/// valid codes (case-sensitive, as instances compare them) and, where one is close, "did you
/// mean" (case-insensitive, then by Jaro-Winkler similarity).
pub fn check_code<'c>(
    instance: &str,
    code: &str,
    codes: &'c [Choice],
    source: &str,
) -> Result<&'c Choice> {
    if let Some(found) = codes
        .iter()
        .find(|c| c.value == code)
        .or_else(|| codes.iter().find(|c| c.label == code))
    {
        return Ok(found);
    }
    let valid = codes
        .iter()
        .map(|c| format!("{:?}", c.value))
        .collect::<Vec<_>>()
        .join(", ");
    let message = if code.trim().is_empty() {
        format!("a resolution code is needed; {instance}'s are (from {source}): {valid}")
    } else {
        format!(
            "{code:?} is not one of {instance}'s resolution codes (close_code, case-sensitive; from {source}): {valid}"
        )
    };
    let error = Error::usage(message);
    Err(match did_you_mean(code, codes) {
        Some(near) => error.with_step(NextStep::UseResolutionCode {
            code: near.value.clone(),
            guessed: true,
        }),
        None => error.with_hint("pass one of the codes listed, exactly as written"),
    })
}

/// The code `code` most likely meant: one equal but for case, else the most similar above a
/// threshold (clap's own for subcommand suggestions is 0.7; 0.8 keeps suggestions close).
fn did_you_mean<'c>(code: &str, codes: &'c [Choice]) -> Option<&'c Choice> {
    let wanted = code.trim().to_lowercase();
    if wanted.is_empty() {
        return None;
    }
    if let Some(same) = codes
        .iter()
        .find(|c| c.value.to_lowercase() == wanted || c.label.to_lowercase() == wanted)
    {
        return Some(same);
    }
    codes
        .iter()
        .map(|c| {
            let score = strsim::jaro_winkler(&wanted, &c.value.to_lowercase())
                .max(strsim::jaro_winkler(&wanted, &c.label.to_lowercase()));
            (score, c)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(state: &str, code: &str, notes: &str) -> Incident {
        Incident {
            sys_id: "a".repeat(32),
            number: Some("INC0010001".into()),
            state: state.into(),
            close_code: code.into(),
            close_notes: notes.into(),
        }
    }

    fn wanted(code: &str, close: bool) -> Resolution {
        Resolution {
            code: code.into(),
            notes: "Fixed.".into(),
            close,
        }
    }

    #[test]
    fn open_incidents_are_resolved_or_closed() {
        for s in [state::NEW, state::IN_PROGRESS, state::ON_HOLD] {
            let open = incident(s, "", "");
            assert_eq!(
                plan(&open, &wanted("Duplicate", false)).unwrap(),
                Plan::Change(Change::Resolve)
            );
            assert_eq!(
                plan(&open, &wanted("Duplicate", true)).unwrap(),
                Plan::Change(Change::ResolveAndClose)
            );
        }
    }

    #[test]
    fn nothing_moves_backwards_or_is_rewritten() {
        let resolved = incident(state::RESOLVED, "Duplicate", "old notes");
        assert_eq!(
            plan(&resolved, &wanted("Duplicate", false)).unwrap(),
            Plan::Unchanged
        );
        assert_eq!(
            plan(&resolved, &wanted("Duplicate", true)).unwrap(),
            Plan::Change(Change::Close)
        );
        let e = plan(&resolved, &wanted("User error", false)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert!(e.message().contains("already resolved"), "{e}");
        assert!(e.message().contains("\"Duplicate\""), "{e}");
        assert!(plan(&resolved, &wanted("User error", true)).is_err());

        let closed = incident(state::CLOSED, "Duplicate", "old notes");
        assert_eq!(
            plan(&closed, &wanted("Duplicate", false)).unwrap(),
            Plan::Unchanged
        );
        assert_eq!(
            plan(&closed, &wanted("Duplicate", true)).unwrap(),
            Plan::Unchanged
        );
        let e = plan(&closed, &wanted("User error", true)).unwrap_err();
        assert!(e.message().contains("already closed"), "{e}");

        let canceled = incident(state::CANCELED, "", "");
        let e = plan(&canceled, &wanted("Duplicate", false)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert!(e.message().contains("canceled"), "{e}");
        assert!(plan(&incident("42", "", ""), &wanted("Duplicate", false)).is_err());
    }

    #[test]
    fn a_close_alone_sends_only_the_state() {
        assert_eq!(
            update_fields(Change::Close, "Duplicate", "n"),
            serde_json::json!({ "state": "7" })
        );
        assert_eq!(
            update_fields(Change::ResolveAndClose, "Duplicate", "n"),
            serde_json::json!({ "state": "7", "close_code": "Duplicate", "close_notes": "n" })
        );
    }

    fn codes() -> Vec<Choice> {
        [
            "Solution provided",
            "Resolved by caller",
            "Workaround provided",
            "Duplicate",
        ]
        .iter()
        .map(|c| Choice {
            value: (*c).into(),
            label: (*c).into(),
        })
        .collect()
    }

    fn guess(code: &str) -> NextStep {
        NextStep::UseResolutionCode {
            code: code.into(),
            guessed: true,
        }
    }

    #[test]
    fn codes_are_checked_exactly_with_a_suggestion() {
        let codes = codes();
        assert_eq!(
            check_code("dev", "Duplicate", &codes, "sys_choice")
                .unwrap()
                .value,
            "Duplicate"
        );
        let e = check_code("dev", "solution provided", &codes, "sys_choice").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Usage);
        assert!(e.message().contains("\"Workaround provided\""), "{e}");
        assert_eq!(e.next_step(), Some(&guess("Solution provided")));
        let e = check_code("dev", "Solution provded", &codes, "sys_choice").unwrap_err();
        assert_eq!(e.next_step(), Some(&guess("Solution provided")));
        let e = check_code("dev", "Fixed", &codes, "sys_choice").unwrap_err();
        assert!(e.next_step().is_none(), "{e}");
        let e = check_code("dev", "", &codes, "sys_choice").unwrap_err();
        assert!(e.message().contains("is needed"), "{e}");
    }

    #[test]
    fn a_label_stands_for_its_value() {
        let codes = vec![Choice {
            value: "solved_permanently".into(),
            label: "Solved (Permanently)".into(),
        }];
        assert_eq!(
            check_code("dev", "Solved (Permanently)", &codes, "sys_choice")
                .unwrap()
                .value,
            "solved_permanently"
        );
    }

    #[test]
    fn form_options_are_read_from_the_select() {
        let html = r#"<div><label for="incident.close_code">Resolution code</label>
            <select aria-required="true" id="incident.close_code" name="incident.close_code" class="form-control">
            <option value="" role="option">-- None --</option>
            <option value="Duplicate" role="option" selected>Duplicate</option>
            <OPTION VALUE='Known error'>Known error</OPTION>
            <option value="R&amp;D hand-off">R&amp;D hand-off</option>
            </select><select id="incident.state"><option value="6">Resolved</option></select></div>"#;
        let options = select_options(html, "incident.close_code").unwrap();
        let values: Vec<&str> = options.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(values, ["Duplicate", "Known error", "R&D hand-off"]);
        assert_eq!(options[2].label, "R&D hand-off");
        assert!(select_options(html, "incident.category").is_none());
        assert!(
            select_options("<input id=\"incident.close_code\">", "incident.close_code").is_none()
        );
    }

    #[test]
    fn odd_pages_do_not_panic() {
        for page in [
            "",
            "<select id=\"x\"",
            "<select id=\"x\"><option",
            "<select id=\"x\"><option value=",
            "<select id=\"x\"><option value=\"é",
            "é<select id=\"x\">é<option>é",
        ] {
            let _ = select_options(page, "x");
        }
    }
}
