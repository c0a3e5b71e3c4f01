//! Record forms (`<table>.do?sys_id=...`, or `?sysparm_query=number=...` for the first match)
//! for every table of the schema, as instances have them; the incident's UI actions; the
//! attachment dialog (`sys_attachment.do`) on any record a user may write; and the incident list.
//!
//! Form hooks (shown here for incident; `incident` is the table's name on other forms):
//! `form#incident.do` with inputs named and id'd `incident.<field>`, hidden `sys_uniqueValue`,
//! `sysparm_ck`, `sys_action`, `sys_target`; buttons `sysverb_update`, and on incidents
//! `resolve_incident` ("Resolve Incident", for itil), `close_incident` ("Close Incident",
//! itil_admin/admin only), all submitting through `gsftSubmit(control, form, action)`; a minimal
//! `g_form` (getValue, setValue, getUniqueValue, getTableName, save, submit, addInfoMessage,
//! addErrorMessage). Attachments: paperclip `#header_add_attachment` reveals
//! `#attachment_dialog` holding `form#attachment_form` (multipart to `sys_attachment.do`, hidden
//! `sysparm_ck`, `sysparm_table`, `sysparm_sys_id`), file input `#attachFile` (`multiple`),
//! button `#attachButton`; attached files are listed in `#header_attachment_list_ul` as
//! `li.attachment_list_items > a.attachment#attachment_<sys_id>` holding the file name.
//!
//! The incident form shows the fields people work with; other tables' forms show every field
//! but the system ones, editable unless the instance sets it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use axum::response::Response;

use super::pages::{self, ListRow};
use super::{field, flash, take_flash};
use crate::emulator::attachments;
use crate::emulator::auth::Principal;
use crate::emulator::ctx::Ctx;
use crate::emulator::query::{EncodedQuery, OrderBy};
use crate::emulator::render::{Lookup, Users, display_of, users_by_id};
use crate::emulator::reply::{self, esc, js_str};
use crate::emulator::rules::{self, Action, Channel, Denied, Policy};
use crate::emulator::schema::{
    INCIDENT, Kind, SYS_USER, Table, choice_label, table as table_named,
};
use crate::emulator::sessions::Flash;
use crate::emulator::state::AppState;
use crate::emulator::store::{self, Record};
use crate::emulator::table_api::Params;

/// Fields the form lets a person edit.
const EDITABLE: &[&str] = &[
    "caller_id",
    "category",
    "short_description",
    "description",
    "state",
    "impact",
    "urgency",
    "assigned_to",
    "close_code",
    "close_notes",
];

/// Fields the instance sets on task records (by their state), shown read-only on forms.
const SET_BY_RULES: &[&str] = &[
    "opened_at",
    "opened_by",
    "resolved_at",
    "resolved_by",
    "closed_at",
    "closed_by",
];

/// Read-only fields the incident form shows.
const SHOWN: &[&str] = &[
    "number",
    "priority",
    "opened_at",
    "opened_by",
    "resolved_at",
    "resolved_by",
    "closed_at",
    "closed_by",
    "sys_updated_on",
];

/// The fields a table's form shows: editable ones, then read-only ones.
struct Layout {
    editable: Vec<&'static str>,
    shown: Vec<&'static str>,
}

fn layout(table: &Table) -> Layout {
    if table.name == INCIDENT.name {
        return Layout {
            editable: EDITABLE.to_vec(),
            shown: SHOWN.to_vec(),
        };
    }
    let (mut editable, mut shown) = (Vec::new(), Vec::new());
    for column in table.columns.iter().filter(|c| !c.name.starts_with("sys_")) {
        let set_by_instance = table.read_only
            || rules::read_only(table, column.name, false)
            || SET_BY_RULES.contains(&column.name);
        if set_by_instance {
            shown.push(column.name);
        } else {
            editable.push(column.name);
        }
    }
    Layout { editable, shown }
}

/// The table a `<name>.do` page is the form of: every table of the schema but the attachments
/// (whose `.do` page is the upload and the download).
pub fn form_table(name: &str) -> Option<&'static Table> {
    table_named(name).filter(|t| t.name != "sys_attachment")
}

fn store_failure(e: impl std::fmt::Display) -> Response {
    reply::html(
        StatusCode::INTERNAL_SERVER_ERROR,
        pages::not_found(None, &format!("Internal error: {e}")),
    )
}

/// `GET /incident_list.do`: the first 100 incidents matching `sysparm_query`, newest number first.
pub async fn list(
    state: &Arc<AppState>,
    principal: &Principal,
    g_ck: &str,
    params: &Params,
) -> Response {
    let mut query = EncodedQuery::parse(params.get("sysparm_query").unwrap_or(""))
        .for_user(&principal.sys_id, &principal.user);
    if query.order.is_empty() {
        query.order.push(OrderBy {
            field: "number".into(),
            desc: true,
        });
    }
    let sql = query.to_sql(&INCIDENT);
    let loaded = state
        .store
        .run(move |conn| -> rusqlite::Result<_> {
            Ok((
                store::select(conn, &INCIDENT, &sql, Some(100), 0)?,
                store::count(conn, &INCIDENT, &sql)?,
                store::all(conn, &SYS_USER)?,
            ))
        })
        .await;
    let (rows, total, users) = match loaded {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return store_failure(e),
        Err(e) => return store_failure(e),
    };
    let users = users_by_id(users);
    let show = |r: &Record, f: &str| {
        let column = INCIDENT.column(f);
        let raw = r.get(f).map(String::as_str).unwrap_or("");
        column
            .map_or(raw, |c| display_of(c, raw, &users))
            .to_string()
    };
    // The read ACL removes rows after the page was cut, and the list says so.
    let shown: Vec<&Record> = rows
        .iter()
        .filter(|r| rules::can_read(principal, &INCIDENT, r))
        .collect();
    let removed = rows.len() - shown.len();
    let rows: Vec<ListRow> = shown
        .iter()
        .map(|r| ListRow {
            sys_id: r.get("sys_id").cloned().unwrap_or_default(),
            number: show(r, "number"),
            short_description: show(r, "short_description"),
            state: show(r, "state"),
            priority: show(r, "priority"),
            caller: show(r, "caller_id"),
        })
        .collect();
    reply::html(
        StatusCode::OK,
        pages::incident_list(g_ck, &rows, total, removed),
    )
}

struct Loaded {
    record: Option<Record>,
    users: Vec<Record>,
    attachments: Vec<Record>,
    /// The display values of the record's references and choices, by field.
    displays: HashMap<&'static str, String>,
}

async fn load(
    state: &Arc<AppState>,
    table: &'static Table,
    sys_id: String,
) -> Result<Loaded, Response> {
    state
        .store
        .run(move |conn| -> rusqlite::Result<Loaded> {
            let record = store::get(conn, table, &sys_id)?;
            let lookup = Lookup::new(conn);
            let displays = record
                .iter()
                .flat_map(|r| table.columns.iter().map(move |c| (c, r)))
                .map(|(column, r)| {
                    let raw = r.get(column.name).map(String::as_str).unwrap_or("");
                    let shown = lookup.with_display(column, raw, None, str::to_owned);
                    (column.name, shown)
                })
                .collect();
            Ok(Loaded {
                record,
                users: store::all(conn, &SYS_USER)?,
                attachments: attachments::of_record(conn, &sys_id)?,
                displays,
            })
        })
        .await
        .map_err(store_failure)?
        .map_err(store_failure)
}

fn not_found(g_ck: &str) -> Response {
    reply::html(
        StatusCode::NOT_FOUND,
        pages::not_found(Some(g_ck), "Record not found"),
    )
}

/// `GET /<table>.do?sys_id=...`.
pub async fn show(
    state: &Arc<AppState>,
    ctx: &Ctx,
    principal: &Principal,
    g_ck: &str,
    params: &Params,
    table: &'static Table,
) -> Response {
    let sys_id = match params.get("sys_id") {
        Some(id) => id.to_string(),
        // `incident.do?sysparm_query=number=INC0010001` opens the first match.
        None => {
            let sql = EncodedQuery::parse(params.get("sysparm_query").unwrap_or(""))
                .for_user(&principal.sys_id, &principal.user)
                .to_sql(table);
            let found = state
                .store
                .run(move |conn| store::select_ids(conn, table, &sql, Some(1)))
                .await;
            match found {
                Ok(Ok(ids)) => ids.into_iter().next().unwrap_or_default(),
                Ok(Err(e)) => return store_failure(e),
                Err(e) => return store_failure(e),
            }
        }
    };
    let loaded = match load(state, table, sys_id).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let Some(record) = loaded
        .record
        .as_ref()
        .filter(|r| rules::can_read(principal, table, r))
    else {
        return not_found(g_ck);
    };
    let flash = take_flash(state, ctx);
    let form = Form {
        table,
        close_shown_to_itil: state.config().close_action_shown_to_itil,
        principal,
        g_ck,
        users: &users_by_id(loaded.users.clone()),
        displays: &loaded.displays,
    };
    reply::html(
        StatusCode::OK,
        form.render(record, &loaded.attachments, &flash),
    )
}

/// `POST /<table>.do`: applies the edited fields and, on incidents, the UI action in
/// `sys_action`.
pub async fn submit(
    state: &Arc<AppState>,
    ctx: &Ctx,
    principal: &Principal,
    g_ck: &str,
    table: &'static Table,
    form: Vec<(String, String)>,
) -> Response {
    if field(&form, "sysparm_ck") != Some(g_ck) {
        return reply::redirect("/security_interceptor.do");
    }
    let sys_id = field(&form, "sys_uniqueValue").unwrap_or("").to_string();
    let incident = table.name == INCIDENT.name;
    let action = match field(&form, "sys_action").unwrap_or("") {
        "resolve_incident" if incident => Action::Resolve,
        "close_incident" if incident => Action::Close,
        _ => Action::Save,
    };
    let prefix = format!("{}.", table.name);
    let editable = layout(table).editable;
    let edits: Vec<(String, String)> = form
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(&prefix)?;
            editable
                .contains(&name)
                .then(|| (name.to_string(), v.clone()))
        })
        .collect();
    let now = state.now();
    let policy = Policy {
        web_service_state_acl: state.config().itil_web_service_state_acl,
    };
    let who = principal.clone();
    let id = sys_id.clone();
    let outcome = state
        .store
        .run(move |conn| {
            let changes = rules::incoming(conn, table, edits, false)?;
            let result = rules::update(
                conn,
                now,
                &who,
                table,
                &id,
                changes.clone(),
                action,
                Channel::Form,
                policy,
            );
            Ok::<_, Denied>((result, changes))
        })
        .await;
    let (result, changes) = match outcome {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return store_failure(format!("{e:?}")),
        Err(e) => return store_failure(e),
    };
    match result {
        Ok(record) => {
            let number = record.get("number").cloned().unwrap_or_default();
            let verb = match action {
                Action::Save => "updated",
                Action::Resolve => "resolved",
                Action::Close => "closed",
            };
            let shown = if number.is_empty() {
                table.label.to_string()
            } else {
                format!("{} {number}", table.label)
            };
            flash(state, ctx, false, format!("{shown} {verb}"));
            reply::redirect(&format!("/{}.do?sys_id={sys_id}", table.name))
        }
        Err(Denied::NotFound) => not_found(g_ck),
        Err(Denied::Store(e)) => store_failure(e),
        Err(denied) => {
            // Show the form again with what was posted (not saved) and the reason.
            let text = match &denied {
                Denied::DataPolicy(labels) => rules::data_policy_message(labels),
                Denied::CloseNeedsRole => {
                    "Security constraints prevent closing this incident: Close Incident requires the itil_admin role"
                        .to_string()
                }
                other => other.message().1.unwrap_or_else(|| other.message().0),
            };
            let loaded = match load(state, table, sys_id).await {
                Ok(loaded) => loaded,
                Err(response) => return response,
            };
            let Some(mut record) = loaded
                .record
                .clone()
                .filter(|r| rules::can_read(principal, table, r))
            else {
                return not_found(g_ck);
            };
            record.extend(changes);
            match action {
                Action::Resolve => {
                    record.insert("state".into(), "6".into());
                }
                Action::Close => {
                    record.insert("state".into(), "7".into());
                }
                Action::Save => {}
            }
            let flash = [Flash { error: true, text }];
            let form = Form {
                table,
                close_shown_to_itil: state.config().close_action_shown_to_itil,
                principal,
                g_ck,
                users: &users_by_id(loaded.users.clone()),
                displays: &loaded.displays,
            };
            reply::html(
                StatusCode::OK,
                form.render(&record, &loaded.attachments, &flash),
            )
        }
    }
}

/// `POST /sys_attachment.do`: the upload dialog's multipart post (one or more `attachFile`).
pub async fn upload(
    state: &Arc<AppState>,
    ctx: &Ctx,
    principal: &Principal,
    g_ck: &str,
    req: Request,
) -> Response {
    let Ok(mut multipart) = Multipart::from_request(req, state).await else {
        return reply::html(
            StatusCode::BAD_REQUEST,
            pages::not_found(Some(g_ck), "The upload was not a multipart form"),
        );
    };
    let mut ck = None;
    let mut table_name = None;
    let mut table_sys_id = None;
    let mut files = Vec::new();
    loop {
        let next = multipart.next_field().await;
        let Ok(Some(part)) = next else {
            if next.is_err() {
                return reply::html(
                    StatusCode::BAD_REQUEST,
                    pages::not_found(Some(g_ck), "The upload could not be read"),
                );
            }
            break;
        };
        let name = part.name().unwrap_or("").to_string();
        let file_name = part.file_name().map(String::from);
        let content_type = part
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_string();
        let Ok(data) = part.bytes().await else {
            return reply::html(
                StatusCode::BAD_REQUEST,
                pages::not_found(Some(g_ck), "The upload could not be read"),
            );
        };
        match (name.as_str(), file_name) {
            (_, Some(file)) if !file.is_empty() => files.push((file, content_type, data)),
            ("sysparm_ck", None) => ck = Some(String::from_utf8_lossy(&data).into_owned()),
            ("sysparm_table", None) => {
                table_name = Some(String::from_utf8_lossy(&data).into_owned())
            }
            ("sysparm_sys_id", None) => {
                table_sys_id = Some(String::from_utf8_lossy(&data).into_owned())
            }
            _ => {}
        }
    }
    if ck.as_deref() != Some(g_ck) {
        return reply::redirect("/security_interceptor.do");
    }
    let sys_id = table_sys_id.unwrap_or_default();
    let Some(table) = table_name.as_deref().and_then(form_table) else {
        return reply::html(
            StatusCode::BAD_REQUEST,
            pages::not_found(
                Some(g_ck),
                &format!(
                    "Invalid table {}",
                    table_name.as_deref().unwrap_or_default()
                ),
            ),
        );
    };
    let back = reply::redirect(&format!("/{}.do?sys_id={sys_id}", table.name));
    if !rules::can_write(principal, table) {
        flash(
            state,
            ctx,
            true,
            "Security constraints prevent attaching files to this record".into(),
        );
        return back;
    }
    if files.is_empty() {
        flash(state, ctx, true, "Choose a file to attach".into());
        return back;
    }
    // Files over the size limit are refused one by one; the others are kept.
    let mut refused = Vec::new();
    files.retain(
        |(file, _, data)| match attachments::too_large(state, file, data.len()) {
            Some(message) => {
                refused.push(message);
                false
            }
            None => true,
        },
    );
    for message in refused {
        flash(state, ctx, true, message);
    }
    if files.is_empty() {
        return back;
    }
    let now = state.now();
    let user = principal.user.clone();
    let id = sys_id.clone();
    let stored = state
        .store
        .run(move |conn| -> rusqlite::Result<Option<Vec<String>>> {
            // Attached to the record's own class, as when read through a parent's form.
            let Some(class) = store::class_of(conn, table, &id)? else {
                return Ok(None);
            };
            let mut names = Vec::new();
            for (file, content_type, data) in &files {
                attachments::create(conn, now, &user, class.name, &id, file, content_type, data)?;
                names.push(file.clone());
            }
            Ok(Some(names))
        })
        .await;
    match stored {
        Ok(Ok(Some(names))) => {
            flash(state, ctx, false, format!("Attached: {}", names.join(", ")));
            back
        }
        Ok(Ok(None)) => not_found(g_ck),
        Ok(Err(e)) => store_failure(e),
        Err(e) => store_failure(e),
    }
}

/// `GET /sys_attachment.do?sys_id=...`: the file.
pub async fn download(state: &Arc<AppState>, ctx: &Ctx, params: &Params) -> Response {
    let sys_id = params.get("sys_id").unwrap_or("").to_string();
    match attachments::download(state, ctx, sys_id).await {
        Ok(response) | Err(response) => response,
    }
}

fn select(
    table: &str,
    name: &str,
    options: &[(String, String)],
    value: &str,
    enabled: bool,
) -> String {
    let mut html = format!(
        "<select id=\"{table}.{name}\" name=\"{table}.{name}\" class=\"form-control\"{}>",
        if enabled { "" } else { " disabled" }
    );
    for (v, label) in options {
        let selected = if v == value { " selected" } else { "" };
        html.push_str(&format!(
            "<option value=\"{}\"{selected}>{}</option>",
            esc(v),
            esc(label)
        ));
    }
    html.push_str("</select>");
    html
}

const FORM_SCRIPT: &str = r#"
function gsftSubmit(control, form, action) {
  form = form || document.getElementById(g_table + '.do');
  form.elements['sys_action'].value = action;
  form.submit();
  return false;
}
function toggleAttachmentDialog(show) {
  document.getElementById('attachment_dialog').style.display = show ? 'block' : 'none';
}
var g_form = {
  tableName: g_table,
  _form: function () { return document.getElementById(g_table + '.do'); },
  getTableName: function () { return this.tableName; },
  getUniqueValue: function () { return document.getElementById('sys_uniqueValue').value; },
  getControl: function (f) { return document.getElementById(g_table + '.' + f); },
  hasField: function (f) { return !!this.getControl(f); },
  getValue: function (f) { var e = this.getControl(f); return e ? e.value : ''; },
  setValue: function (f, v) { var e = this.getControl(f); if (e) { e.value = v; } },
  addInfoMessage: function (m) { this._message(m, false); },
  addErrorMessage: function (m) { this._message(m, true); },
  _message: function (m, error) {
    var d = document.createElement('div');
    d.className = 'outputmsg notification ' + (error ? 'outputmsg_error' : 'outputmsg_info');
    var s = document.createElement('span'); s.className = 'outputmsg_text'; s.textContent = m;
    d.appendChild(s); document.getElementById('output_messages').appendChild(d);
  },
  save: function () { return gsftSubmit(null, this._form(), 'sysverb_update'); },
  submit: function (action) { return gsftSubmit(null, this._form(), action || 'sysverb_update'); }
};
"#;

/// One record's form as one user sees it.
struct Form<'a> {
    table: &'static Table,
    close_shown_to_itil: bool,
    principal: &'a Principal,
    g_ck: &'a str,
    /// Every user, for the reference fields a person picks a user in.
    users: &'a Users,
    /// The record's display values, by field.
    displays: &'a HashMap<&'static str, String>,
}

impl Form<'_> {
    fn control(&self, name: &str, record: &Record, editable: bool) -> String {
        let table = self.table.name;
        let incident = table == INCIDENT.name;
        let Some(column) = self.table.column(name) else {
            return String::new();
        };
        let value = record.get(name).map(String::as_str).unwrap_or("");
        match column.kind {
            Kind::Choice { choices, .. } => {
                let mut options: Vec<(String, String)> = Vec::new();
                let none = if incident {
                    name == "close_code" || name == "category"
                } else {
                    !column.mandatory
                };
                if none {
                    options.push((String::new(), "-- None --".into()));
                }
                for choice in choices {
                    let restricted = incident
                        && name == "state"
                        && choice.value == "7"
                        && !self.principal.has_role("itil_admin");
                    // Inactive choices are not offered, though a record holding one still shows it.
                    if (restricted || choice.inactive) && value != choice.value {
                        continue;
                    }
                    options.push((choice.value.to_string(), choice.label.to_string()));
                }
                if !value.is_empty() && choice_label(choices, value).is_none() {
                    options.push((value.to_string(), value.to_string()));
                }
                select(table, name, &options, value, editable)
            }
            Kind::Reference(target) if editable && target == SYS_USER.name => {
                let mut options = vec![(String::new(), String::new())];
                let mut people: Vec<(&String, &Record)> = self.users.iter().collect();
                people.sort_by(|a, b| a.1.get("name").cmp(&b.1.get("name")));
                for (id, user) in people {
                    options.push((id.clone(), user.get("name").cloned().unwrap_or_default()));
                }
                select(table, name, &options, value, true)
            }
            // Other references are shown by their display value; a person picks them on a
            // real instance through a lookup this form does not have.
            Kind::Reference(_) => format!(
                "<input type=\"hidden\" id=\"{table}.{name}\" name=\"{table}.{name}\" value=\"{}\">\
                 <input type=\"text\" id=\"sys_display.{table}.{name}\" value=\"{}\" readonly>",
                esc(value),
                esc(self.displays.get(column.name).map_or("", String::as_str))
            ),
            _ if name == "description" || name == "close_notes" || column.max_length > 1000 => {
                format!(
                    "<textarea id=\"{table}.{name}\" name=\"{table}.{name}\" rows=\"4\"{}>{}</textarea>",
                    if editable { "" } else { " readonly" },
                    esc(value)
                )
            }
            _ => format!(
                "<input type=\"text\" id=\"{table}.{name}\" name=\"{table}.{name}\" value=\"{}\"{}>",
                esc(value),
                if editable { "" } else { " readonly" }
            ),
        }
    }

    fn render(&self, record: &Record, attachments: &[Record], flash: &[Flash]) -> String {
        let (table, principal, g_ck) = (self.table, self.principal, self.g_ck);
        let name = table.name;
        let sys_id = record.get("sys_id").map(String::as_str).unwrap_or("");
        let number = record
            .get(if table.number.is_some() {
                "number"
            } else {
                table.display
            })
            .map(String::as_str)
            .unwrap_or("");
        let can_write = rules::can_write(principal, table);
        let mut buttons = String::new();
        if can_write {
            buttons.push_str(
                "<button type=\"button\" id=\"header_add_attachment\" title=\"Manage Attachments\" \
                 aria-label=\"Manage Attachments\" onclick=\"toggleAttachmentDialog(true)\">&#128206;</button>",
            );
            let mut action = |id: &str, label: &str| {
                buttons.push_str(&format!(
                    "<button type=\"submit\" id=\"{id}\" class=\"form_action_button action_context\" \
                     onclick=\"return gsftSubmit(this, document.getElementById('{}.do'), '{}');\">{}</button>",
                    js_str(name),
                    js_str(id),
                    esc(label)
                ));
            };
            action("sysverb_update", "Update");
            if name == INCIDENT.name {
                if principal.has_role("itil") {
                    action("resolve_incident", "Resolve Incident");
                }
                if principal.has_role("itil_admin")
                    || self.close_shown_to_itil && principal.has_role("itil")
                {
                    action("close_incident", "Close Incident");
                }
            }
        }
        let attachment_items: String = attachments
            .iter()
            .map(|a| {
                let id = a.get("sys_id").map(String::as_str).unwrap_or("");
                format!(
                    "<li class=\"attachment_list_items\" data-sys-id=\"{id}\"><a class=\"attachment\" \
                     id=\"attachment_{id}\" href=\"/sys_attachment.do?sys_id={id}\">{}</a> \
                     <span class=\"attachment_size\">({} bytes)</span></li>",
                    esc(a.get("file_name").map(String::as_str).unwrap_or("")),
                    esc(a.get("size_bytes").map(String::as_str).unwrap_or("0")),
                    id = esc(id)
                )
            })
            .collect();
        let layout = layout(table);
        let mut fields = String::new();
        let all = layout
            .editable
            .iter()
            .map(|f| (f, can_write))
            .chain(layout.shown.iter().map(|f| (f, false)));
        for (field, editable) in all {
            let label = table.column(field).map_or(*field, |c| c.label);
            fields.push_str(&format!(
                "<div class=\"form-group\" id=\"element.{name}.{field}\"><label for=\"{name}.{field}\">{}</label>{}</div>",
                esc(label),
                self.control(field, record, editable)
            ));
        }
        let dialog = if can_write {
            format!(
                "<div id=\"attachment_dialog\" class=\"modal\" role=\"dialog\" \
                 aria-labelledby=\"attachment_dialog_title\" style=\"display:none\">\
                 <h2 id=\"attachment_dialog_title\">Attachments</h2>\
                 <form id=\"attachment_form\" name=\"attachment_form\" action=\"/sys_attachment.do\" \
                 method=\"post\" enctype=\"multipart/form-data\">\
                 <input type=\"hidden\" name=\"sysparm_ck\" value=\"{ck}\">\
                 <input type=\"hidden\" name=\"sysparm_table\" value=\"{name}\">\
                 <input type=\"hidden\" name=\"sysparm_sys_id\" value=\"{id}\">\
                 <input type=\"file\" id=\"attachFile\" name=\"attachFile\" multiple>\
                 <button type=\"submit\" id=\"attachButton\">Upload</button>\
                 <button type=\"button\" id=\"attachment_dialog_close\" \
                 onclick=\"toggleAttachmentDialog(false)\">Close</button></form></div>",
                ck = esc(g_ck),
                id = esc(sys_id)
            )
        } else {
            String::new()
        };
        let body = format!(
            "<main id=\"{name}_form\">{messages}\
             <form id=\"{name}.do\" name=\"{name}.do\" action=\"/{name}.do\" method=\"post\" \
             enctype=\"application/x-www-form-urlencoded\">\
             <div id=\"form_header\" class=\"form_header\"><h1 id=\"form_title\">{label} \
             <span id=\"{name}_number\">{number}</span></h1>{buttons}</div>\
             <div id=\"header_attachment_list\"><ul id=\"header_attachment_list_ul\">{attachment_items}</ul></div>\
             <input type=\"hidden\" name=\"sysparm_ck\" id=\"sysparm_ck\" value=\"{ck}\">\
             <input type=\"hidden\" name=\"sys_uniqueValue\" id=\"sys_uniqueValue\" value=\"{id}\">\
             <input type=\"hidden\" name=\"sys_action\" id=\"sys_action\" value=\"\">\
             <input type=\"hidden\" name=\"sys_target\" id=\"sys_target\" value=\"{name}\">\
             {fields}</form>{dialog}</main><script>var g_table = '{table_js}';{FORM_SCRIPT}</script>",
            messages = pages::messages(flash),
            label = esc(table.label),
            number = esc(number),
            ck = esc(g_ck),
            id = esc(sys_id),
            table_js = js_str(name),
        );
        pages::page(
            &format!("{number} | {}", table.label),
            Some(g_ck),
            "",
            &body,
        )
    }
}
