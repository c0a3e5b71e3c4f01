//! The incident form (`incident.do?sys_id=...`, or `?sysparm_query=number=INC...` for the first
//! match), its UI actions, the attachment dialog (`sys_attachment.do`), and the incident list.
//!
//! Form hooks: `form#incident.do` with inputs named and id'd `incident.<field>`, hidden
//! `sys_uniqueValue`, `sysparm_ck`, `sys_action`, `sys_target`; buttons `sysverb_update`,
//! `resolve_incident` ("Resolve Incident", for itil), `close_incident` ("Close Incident",
//! itil_admin/admin only), all submitting through `gsftSubmit(control, form, action)`; a minimal
//! `g_form` (getValue, setValue, getUniqueValue, getTableName, save, submit, addInfoMessage,
//! addErrorMessage). Attachments: paperclip `#header_add_attachment` reveals
//! `#attachment_dialog` holding `form#attachment_form` (multipart to `sys_attachment.do`, hidden
//! `sysparm_ck`, `sysparm_table`, `sysparm_sys_id`), file input `#attachFile` (`multiple`),
//! button `#attachButton`; attached files are listed in `#header_attachment_list_ul` as
//! `li.attachment_list_items > a.attachment#attachment_<sys_id>` holding the file name.

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
use crate::emulator::render::{Users, display_of, users_by_id};
use crate::emulator::reply::{self, esc, js_str};
use crate::emulator::rules::{self, Action, Channel, Denied, Policy};
use crate::emulator::schema::{INCIDENT, Kind, SYS_USER, choice_label};
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

/// Read-only fields the form shows.
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
}

async fn load(state: &Arc<AppState>, sys_id: String) -> Result<Loaded, Response> {
    state
        .store
        .run(move |conn| -> rusqlite::Result<Loaded> {
            Ok(Loaded {
                record: store::get(conn, &INCIDENT, &sys_id)?,
                users: store::all(conn, &SYS_USER)?,
                attachments: attachments::of_record(conn, &sys_id)?,
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

/// `GET /incident.do?sys_id=...`.
pub async fn show(
    state: &Arc<AppState>,
    ctx: &Ctx,
    principal: &Principal,
    g_ck: &str,
    params: &Params,
) -> Response {
    let sys_id = match params.get("sys_id") {
        Some(id) => id.to_string(),
        // `incident.do?sysparm_query=number=INC0010001` opens the first match.
        None => {
            let sql = EncodedQuery::parse(params.get("sysparm_query").unwrap_or(""))
                .for_user(&principal.sys_id, &principal.user)
                .to_sql(&INCIDENT);
            let found = state
                .store
                .run(move |conn| store::select_ids(conn, &INCIDENT, &sql, Some(1)))
                .await;
            match found {
                Ok(Ok(ids)) => ids.into_iter().next().unwrap_or_default(),
                Ok(Err(e)) => return store_failure(e),
                Err(e) => return store_failure(e),
            }
        }
    };
    let loaded = match load(state, sys_id).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let Some(record) = loaded
        .record
        .filter(|r| rules::can_read(principal, &INCIDENT, r))
    else {
        return not_found(g_ck);
    };
    let flash = take_flash(state, ctx);
    let users = users_by_id(loaded.users);
    reply::html(
        StatusCode::OK,
        render(
            state.config().close_action_shown_to_itil,
            principal,
            g_ck,
            &record,
            &users,
            &loaded.attachments,
            &flash,
        ),
    )
}

/// `POST /incident.do`: applies the edited fields and the UI action in `sys_action`.
pub async fn submit(
    state: &Arc<AppState>,
    ctx: &Ctx,
    principal: &Principal,
    g_ck: &str,
    form: Vec<(String, String)>,
) -> Response {
    if field(&form, "sysparm_ck") != Some(g_ck) {
        return reply::redirect("/security_interceptor.do");
    }
    let sys_id = field(&form, "sys_uniqueValue").unwrap_or("").to_string();
    let action = match field(&form, "sys_action").unwrap_or("") {
        "resolve_incident" => Action::Resolve,
        "close_incident" => Action::Close,
        _ => Action::Save,
    };
    let edits: Vec<(String, String)> = form
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("incident.")?;
            EDITABLE
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
            let changes = rules::incoming(conn, &INCIDENT, edits, false)?;
            let result = rules::update(
                conn,
                now,
                &who,
                &INCIDENT,
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
            flash(state, ctx, false, format!("Incident {number} {verb}"));
            reply::redirect(&format!("/incident.do?sys_id={sys_id}"))
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
            let loaded = match load(state, sys_id).await {
                Ok(loaded) => loaded,
                Err(response) => return response,
            };
            let Some(mut record) = loaded
                .record
                .filter(|r| rules::can_read(principal, &INCIDENT, r))
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
            let users = users_by_id(loaded.users);
            let flash = [Flash { error: true, text }];
            reply::html(
                StatusCode::OK,
                render(
                    state.config().close_action_shown_to_itil,
                    principal,
                    g_ck,
                    &record,
                    &users,
                    &loaded.attachments,
                    &flash,
                ),
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
    if table_name.as_deref() != Some("incident") {
        return reply::html(
            StatusCode::BAD_REQUEST,
            pages::not_found(Some(g_ck), "Attachments are supported on incidents only"),
        );
    }
    let back = reply::redirect(&format!("/incident.do?sys_id={sys_id}"));
    if !rules::can_write(principal, &INCIDENT) {
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
            if store::get(conn, &INCIDENT, &id)?.is_none() {
                return Ok(None);
            }
            let mut names = Vec::new();
            for (file, content_type, data) in &files {
                attachments::create(conn, now, &user, "incident", &id, file, content_type, data)?;
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

fn select(name: &str, options: &[(String, String)], value: &str, enabled: bool) -> String {
    let mut html = format!(
        "<select id=\"incident.{name}\" name=\"incident.{name}\" class=\"form-control\"{}>",
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

fn control(
    name: &str,
    record: &Record,
    users: &Users,
    principal: &Principal,
    enabled: bool,
) -> String {
    let Some(column) = INCIDENT.column(name) else {
        return String::new();
    };
    let value = record.get(name).map(String::as_str).unwrap_or("");
    let editable = enabled && EDITABLE.contains(&name);
    match column.kind {
        Kind::Choice { choices, .. } => {
            let mut options: Vec<(String, String)> = Vec::new();
            if name == "close_code" || name == "category" {
                options.push((String::new(), "-- None --".into()));
            }
            for choice in choices {
                let restricted =
                    name == "state" && choice.value == "7" && !principal.has_role("itil_admin");
                // Inactive choices are not offered, though a record holding one still shows it.
                if (restricted || choice.inactive) && value != choice.value {
                    continue;
                }
                options.push((choice.value.to_string(), choice.label.to_string()));
            }
            if !value.is_empty() && choice_label(choices, value).is_none() {
                options.push((value.to_string(), value.to_string()));
            }
            select(name, &options, value, editable)
        }
        Kind::Reference(_) if editable => {
            let mut options = vec![(String::new(), String::new())];
            let mut people: Vec<(&String, &Record)> = users.iter().collect();
            people.sort_by(|a, b| a.1.get("name").cmp(&b.1.get("name")));
            for (id, user) in people {
                options.push((id.clone(), user.get("name").cloned().unwrap_or_default()));
            }
            select(name, &options, value, true)
        }
        Kind::Reference(_) => format!(
            "<input type=\"hidden\" id=\"incident.{name}\" name=\"incident.{name}\" value=\"{}\">\
             <input type=\"text\" id=\"sys_display.incident.{name}\" value=\"{}\" readonly>",
            esc(value),
            esc(display_of(column, value, users))
        ),
        _ if name == "description" || name == "close_notes" => format!(
            "<textarea id=\"incident.{name}\" name=\"incident.{name}\" rows=\"4\"{}>{}</textarea>",
            if editable { "" } else { " readonly" },
            esc(value)
        ),
        _ => format!(
            "<input type=\"text\" id=\"incident.{name}\" name=\"incident.{name}\" value=\"{}\"{}>",
            esc(value),
            if editable { "" } else { " readonly" }
        ),
    }
}

const FORM_SCRIPT: &str = r#"
function gsftSubmit(control, form, action) {
  form = form || document.getElementById('incident.do');
  form.elements['sys_action'].value = action;
  form.submit();
  return false;
}
function toggleAttachmentDialog(show) {
  document.getElementById('attachment_dialog').style.display = show ? 'block' : 'none';
}
var g_form = {
  tableName: 'incident',
  _form: function () { return document.getElementById('incident.do'); },
  getTableName: function () { return this.tableName; },
  getUniqueValue: function () { return document.getElementById('sys_uniqueValue').value; },
  getControl: function (f) { return document.getElementById('incident.' + f); },
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

fn render(
    close_shown_to_itil: bool,
    principal: &Principal,
    g_ck: &str,
    record: &Record,
    users: &Users,
    attachments: &[Record],
    flash: &[Flash],
) -> String {
    let sys_id = record.get("sys_id").map(String::as_str).unwrap_or("");
    let number = record.get("number").map(String::as_str).unwrap_or("");
    let can_write = rules::can_write(principal, &INCIDENT);
    let mut buttons = String::new();
    if can_write {
        buttons.push_str(
            "<button type=\"button\" id=\"header_add_attachment\" title=\"Manage Attachments\" \
             aria-label=\"Manage Attachments\" onclick=\"toggleAttachmentDialog(true)\">&#128206;</button>",
        );
        let mut action = |id: &str, label: &str| {
            buttons.push_str(&format!(
                "<button type=\"submit\" id=\"{id}\" class=\"form_action_button action_context\" \
                 onclick=\"return gsftSubmit(this, document.getElementById('incident.do'), '{}');\">{}</button>",
                js_str(id),
                esc(label)
            ));
        };
        action("sysverb_update", "Update");
        if principal.has_role("itil") {
            action("resolve_incident", "Resolve Incident");
        }
        if principal.has_role("itil_admin") || close_shown_to_itil && principal.has_role("itil") {
            action("close_incident", "Close Incident");
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
    let mut fields = String::new();
    for name in EDITABLE.iter().chain(SHOWN) {
        let label = INCIDENT.column(name).map_or(*name, |c| c.label);
        fields.push_str(&format!(
            "<div class=\"form-group\" id=\"element.incident.{name}\"><label for=\"incident.{name}\">{}</label>{}</div>",
            esc(label),
            control(name, record, users, principal, can_write)
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
             <input type=\"hidden\" name=\"sysparm_table\" value=\"incident\">\
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
        "<main id=\"incident_form\">{messages}\
         <form id=\"incident.do\" name=\"incident.do\" action=\"/incident.do\" method=\"post\" \
         enctype=\"application/x-www-form-urlencoded\">\
         <div id=\"form_header\" class=\"form_header\"><h1 id=\"form_title\">Incident \
         <span id=\"incident_number\">{number}</span></h1>{buttons}</div>\
         <div id=\"header_attachment_list\"><ul id=\"header_attachment_list_ul\">{attachment_items}</ul></div>\
         <input type=\"hidden\" name=\"sysparm_ck\" id=\"sysparm_ck\" value=\"{ck}\">\
         <input type=\"hidden\" name=\"sys_uniqueValue\" id=\"sys_uniqueValue\" value=\"{id}\">\
         <input type=\"hidden\" name=\"sys_action\" id=\"sys_action\" value=\"\">\
         <input type=\"hidden\" name=\"sys_target\" id=\"sys_target\" value=\"incident\">\
         {fields}</form>{dialog}</main><script>{FORM_SCRIPT}</script>",
        messages = pages::messages(flash),
        number = esc(number),
        ck = esc(g_ck),
        id = esc(sys_id),
    );
    pages::page(&format!("{number} | Incident"), Some(g_ck), "", &body)
}
