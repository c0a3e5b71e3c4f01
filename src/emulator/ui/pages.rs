//! HTML of the classic UI's pages: the login form (optionally framed), the MFA step, the UI16
//! shell (`navpage.do` with the `gsft_main` iframe and `var g_ck`), home, the incident list,
//! and the small status pages (logged out, invalid security token, not found).
//!
//! Markup only: values arrive already decided; everything is escaped here.

use crate::emulator::reply::{esc, js_str};
use crate::emulator::sessions::Flash;

const STYLE: &str = "body{font-family:Helvetica,Arial,sans-serif;margin:0;color:#2e2e2e}\
header{background:#293e40;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}\
header a{color:#fff}main{padding:16px}label{display:block;margin-top:8px;font-weight:bold}\
input[type=text],input[type=password],select,textarea{width:28em;padding:4px}\
.outputmsg{padding:8px;margin:8px 0;border-radius:3px}.outputmsg_error{background:#fbe5e5;color:#8a1010}\
.outputmsg_info{background:#e5f1fb;color:#0b4f82}table.list_table td,table.list_table th{padding:4px 8px;\
border-bottom:1px solid #ddd;text-align:left}button{margin:8px 8px 0 0;padding:6px 12px}";

/// A complete page. `g_ck` adds the logged-in marker script (`var g_ck = '...'`).
pub fn page(title: &str, g_ck: Option<&str>, extra_head: &str, body: &str) -> String {
    let script = g_ck
        .map(|ck| format!("<script>var g_ck = '{}';</script>", js_str(ck)))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} | ServiceNow</title>\
         <style>{STYLE}</style>{script}{extra_head}</head><body>{body}</body></html>",
        esc(title)
    )
}

/// The message area: errors as `.outputmsg_error`, infos as `.outputmsg_info`, text in `.outputmsg_text`.
pub fn messages(flash: &[Flash]) -> String {
    let items: String = flash
        .iter()
        .map(|f| {
            let (class, kind) = if f.error {
                ("outputmsg_error notification-error", "error")
            } else {
                ("outputmsg_info notification-info", "info")
            };
            format!(
                "<div class=\"outputmsg {class} notification\" data-type=\"{kind}\">\
                 <span class=\"outputmsg_text\">{}</span></div>",
                esc(&f.text)
            )
        })
        .collect();
    format!("<div id=\"output_messages\" class=\"outputmsg_container\">{items}</div>")
}

/// The login form: inputs `user_name`, `user_password`, checkbox `remember_me`, hidden
/// `sysparm_ck` and `sys_action` (set by the `sysverb_login` button), and the SSO link.
pub fn login(ck: &str, goto: Option<&str>, flash: &[Flash]) -> String {
    let goto = goto
        .map(|g| {
            format!(
                "<input type=\"hidden\" name=\"sysparm_goto_url\" value=\"{}\">",
                esc(g)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<main id=\"login_page\">{}\
         <form id=\"loginPage\" name=\"loginPage\" action=\"/login.do\" method=\"post\" target=\"_top\">\
         <input type=\"hidden\" name=\"sysparm_ck\" id=\"sysparm_ck\" value=\"{}\">\
         <input type=\"hidden\" name=\"sys_action\" id=\"sys_action\" value=\"none\">{goto}\
         <label for=\"user_name\">User name</label>\
         <input type=\"text\" id=\"user_name\" name=\"user_name\" autocomplete=\"username\" autofocus>\
         <label for=\"user_password\">Password</label>\
         <input type=\"password\" id=\"user_password\" name=\"user_password\" autocomplete=\"current-password\">\
         <div><input type=\"checkbox\" id=\"remember_me\" name=\"remember_me\" value=\"true\">\
         <label for=\"remember_me\" style=\"display:inline\">Remember me</label></div>\
         <button type=\"submit\" id=\"sysverb_login\" class=\"btn btn-primary\" \
         onclick=\"document.getElementById('sys_action').value='sysverb_login';\">Log in</button>\
         </form>\
         <p><a id=\"use_external_login\" href=\"/login_with_sso.do\" target=\"_top\">Use external login</a></p>\
         </main>",
        messages(flash),
        esc(ck)
    );
    page("Log in", None, "", &body)
}

/// The page first loaded on releases that frame the login form: an iframe holding it.
pub fn login_frame(src: &str) -> String {
    let body = format!(
        "<header><span>ServiceNow</span></header>\
         <iframe id=\"gsft_main\" name=\"gsft_main\" title=\"Main Content\" src=\"{}\" \
         style=\"width:100%;height:90vh;border:0\"></iframe>",
        esc(src)
    );
    page("Log in", None, "", &body)
}

/// The one-time code step: input `txtResponse`, button `sysverb_validate_mfa_code`.
pub fn mfa(ck: &str, flash: &[Flash]) -> String {
    let body = format!(
        "<main id=\"mfa_page\">{}<h1>Multi-factor authentication</h1>\
         <form id=\"mfa_form\" name=\"mfa_form\" action=\"/validate_multifactor_auth_code.do\" method=\"post\">\
         <input type=\"hidden\" name=\"sysparm_ck\" id=\"sysparm_ck\" value=\"{}\">\
         <label for=\"txtResponse\">Verification code</label>\
         <input type=\"text\" id=\"txtResponse\" name=\"txtResponse\" autocomplete=\"one-time-code\" \
         inputmode=\"numeric\" autofocus>\
         <button type=\"submit\" id=\"sysverb_validate_mfa_code\">Verify</button></form></main>",
        messages(flash),
        esc(ck)
    );
    page("Multi-factor authentication", None, "", &body)
}

/// The UI16 shell: header with the user, navigator links, and the `gsft_main` iframe on `src`.
pub fn shell(g_ck: &str, user_name: &str, full_name: &str, src: &str) -> String {
    let body = format!(
        "<header id=\"nav_header\"><strong>ServiceNow</strong>\
         <a href=\"/incident_list.do\" target=\"gsft_main\" id=\"nav_incidents\">Incidents</a>\
         <span style=\"flex:1\"></span>\
         <span id=\"user_info_dropdown\" class=\"user-name\" data-user=\"{}\">{}</span>\
         <a id=\"logout\" href=\"/logout.do\">Log out</a></header>\
         <iframe id=\"gsft_main\" name=\"gsft_main\" title=\"Main Content\" src=\"{}\" \
         style=\"width:100%;height:88vh;border:0\"></iframe>",
        esc(user_name),
        esc(full_name),
        esc(src)
    );
    let head = format!(
        "<script>window.NOW = {{user_name: '{}', user_display_name: '{}'}};</script>",
        js_str(user_name),
        js_str(full_name)
    );
    page("ServiceNow", Some(g_ck), &head, &body)
}

pub fn home(g_ck: &str, full_name: &str, flash: &[Flash]) -> String {
    let body = format!(
        "<main id=\"home\">{}<h1>Welcome, {}</h1>\
         <p><a href=\"/incident_list.do\">Open incidents</a></p></main>",
        messages(flash),
        esc(full_name)
    );
    page("Home", Some(g_ck), "", &body)
}

/// One row of the incident list.
pub struct ListRow {
    pub sys_id: String,
    pub number: String,
    pub short_description: String,
    pub state: String,
    pub priority: String,
    pub caller: String,
}

pub fn incident_list(g_ck: &str, rows: &[ListRow], total: usize, removed: usize) -> String {
    let lines: String = rows
        .iter()
        .map(|r| {
            format!(
                "<tr class=\"list_row\" data-sys-id=\"{id}\"><td><a class=\"linked formlink\" \
                 href=\"/incident.do?sys_id={id}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.number),
                esc(&r.short_description),
                esc(&r.caller),
                esc(&r.state),
                esc(&r.priority),
                id = esc(&r.sys_id)
            )
        })
        .collect();
    let note = if removed > 0 {
        format!(
            "<p id=\"security_constraints_message\">Number of rows removed from this list by \
             Security constraints: {removed}</p>"
        )
    } else {
        String::new()
    };
    let body = format!(
        "<main><h1>Incidents</h1><p id=\"list_count\">{total} records</p>\
         <table id=\"incident_list\" class=\"list_table\"><thead><tr><th>Number</th>\
         <th>Short description</th><th>Caller</th><th>State</th><th>Priority</th></tr></thead>\
         <tbody>{lines}</tbody></table>{note}</main>"
    );
    page("Incidents", Some(g_ck), "", &body)
}

/// The page a hibernating developer instance answers every path with (`200`): served by the
/// developer program in front of the instance, not by the instance, so not in the UI's frame.
/// Its shape (title, class `instance-hibernating-page`, the heading, the sign-in button to the
/// developer portal) follows a real one captured in a public CI log.
pub fn hibernating() -> &'static str {
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
     <title>Instance Hibernating page</title><style>body{background-color:#293D40;\
     font-family:Helvetica,Arial,sans-serif}h1,p{color:#fff}.instance-hibernating-page\
     {max-width:600px;margin:auto;padding:10px}</style></head><body>\
     <div class=\"instance-hibernating-page\"><h1>Your instance is hibernating</h1>\
     <p class=\"information\">Sign in to the site to wake your instance</p>\
     <button onclick=\"location.href='https://developer.servicenow.com/dev.do#!/home?wu=true';\" \
     class=\"button-text\">Sign in</button>\
     <p><a id=\"wake\" href=\"https://developer.servicenow.com/dev.do#!/home?wu=true\">\
     Wake your instance at developer.servicenow.com</a></p></div></body></html>"
}

pub fn logged_out() -> String {
    page(
        "Logged out",
        None,
        "",
        "<main id=\"logout_success\"><h1>You are logged out</h1>\
         <p><a id=\"login_again\" href=\"/login.do\">Log in again</a></p></main>",
    )
}

pub fn security_interceptor() -> String {
    page(
        "Security",
        None,
        "",
        "<main id=\"security_interceptor\">\
         <div class=\"outputmsg outputmsg_error notification\"><span class=\"outputmsg_text\">\
         Invalid security token: the form was submitted with a token that does not belong to \
         this session.</span></div><p><a href=\"/navpage.do\">Back</a></p></main>",
    )
}

pub fn not_found(g_ck: Option<&str>, what: &str) -> String {
    page(
        "Not found",
        g_ck,
        "",
        &format!(
            "<main id=\"not_found\"><div class=\"outputmsg outputmsg_error notification\">\
             <span class=\"outputmsg_text\">{}</span></div></main>",
            esc(what)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_form_has_the_automation_hooks() {
        let html = login("tok'en", Some("/incident.do?sys_id=1&x=\"2\""), &[]);
        for hook in [
            "id=\"user_name\"",
            "id=\"user_password\"",
            "id=\"sysverb_login\"",
            "name=\"sysparm_ck\" id=\"sysparm_ck\" value=\"tok&#39;en\"",
            "name=\"sys_action\"",
            "id=\"remember_me\"",
            "href=\"/login_with_sso.do\"",
            "value=\"/incident.do?sys_id=1&amp;x=&quot;2&quot;\"",
        ] {
            assert!(html.contains(hook), "{hook} missing");
        }
        assert!(!html.contains("g_ck"), "a logged-out page carries no g_ck");
    }

    #[test]
    fn shell_marks_the_session() {
        let html = shell("abc", "itil.user", "Ivy <b>", "/home.do");
        assert!(html.contains("var g_ck = 'abc';"));
        assert!(html.contains("name=\"gsft_main\""));
        assert!(html.contains("Ivy &lt;b&gt;"));
    }

    #[test]
    fn messages_by_kind() {
        let html = messages(&[
            Flash {
                error: true,
                text: "bad".into(),
            },
            Flash {
                error: false,
                text: "ok".into(),
            },
        ]);
        assert!(html.contains("outputmsg_error"));
        assert!(html.contains("outputmsg_info"));
        assert_eq!(html.matches("outputmsg_text").count(), 2);
    }
}
