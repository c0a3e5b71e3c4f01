//! Stage 4: doing through the browser what the APIs refuse: attaching files through the record
//! form's attachment dialog, and the form's "Resolve Incident" / "Close Incident" UI actions.
//!
//! The browser is seeded with the session's own cookies (no new login), drives the form by the
//! element names and ids ServiceNow documents (`incident.<field>`, `sys_uniqueValue`, UI action
//! ids, `attachFile`), checks the result through the API afterwards, keeps a screenshot and the
//! page of a failure, and hands the cookies the browser rotated back to the session. It decides
//! nothing about *when* to fall back: that is the caller's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::Locator;
use fantoccini::error::CmdError;

use crate::api::envelope::{Complaint, refusal};
use crate::api::incident::state;
use crate::api::{Attachments, Record, Table};
use crate::browser::{Browser, Options};
use crate::error::{Error, ErrorKind, Refusal, Result};
use crate::obtain::login::{browser_options, instance_cookies};
use crate::session::Session;

/// How to run the browser for a fallback.
#[derive(Debug, Clone)]
pub struct FallbackOptions {
    /// The browser; its profile folder should be a fresh one (the session's cookies are set in it).
    pub browser: Options,
    /// Where a failure's screenshot, URL and HTML go.
    pub diagnostics: PathBuf,
    /// How long one page may take; at most [`MAX_WAIT`](crate::browser::MAX_WAIT) (longer is
    /// read as that).
    pub timeout: Duration,
}

const PROBE: &str = r#"
    const error = document.querySelector('.outputmsg_error');
    const state = document.getElementById('incident.state');
    return JSON.stringify({
        path: location.pathname,
        ready: document.readyState,
        error: error ? error.textContent.trim() : null,
        record: (document.getElementById('sys_uniqueValue') || {}).value || null,
        state: state ? state.value : null,
        attachments: Array.from(document.querySelectorAll('#header_attachment_list a.attachment, li.attachment_list_items a'))
            .map(a => a.textContent.trim()),
        neterror: location.protocol === 'chrome-error:'
            ? ((document.querySelector('.error-code') || {}).textContent || 'the page did not load').trim()
            : null
    });
"#;

#[derive(Debug, serde::Deserialize)]
struct Page {
    path: String,
    ready: String,
    error: Option<String>,
    record: Option<String>,
    state: Option<String>,
    /// The file names the form's attachment list shows.
    attachments: Vec<String>,
    /// Chrome's own error page (certificate, DNS, connection) is showing, with this code.
    neterror: Option<String>,
}

async fn page(client: &fantoccini::Client) -> Result<Option<Page>, CmdError> {
    match client.execute(PROBE, vec![]).await {
        Ok(serde_json::Value::String(text)) => Ok(serde_json::from_str(&text).ok()),
        Ok(_) => Ok(None),
        Err(e) if crate::browser::is_closed(&e) => Err(e),
        // Mid-navigation: ask again.
        Err(_) => Ok(None),
    }
}

/// A browser holding the session, on a record's form.
struct OnForm<'s> {
    browser: Browser,
    session: &'s Session,
    options: &'s FallbackOptions,
}

impl<'s> OnForm<'s> {
    async fn open(
        session: &'s Session,
        options: &'s FallbackOptions,
        table: &str,
        sys_id: &str,
    ) -> Result<OnForm<'s>> {
        let browser =
            Browser::launch(&browser_options(session.instance(), &options.browser).await?).await?;
        browser.set_cookies(&session.cookies()).await?;
        let form = OnForm {
            browser,
            session,
            options,
        };
        let url = session
            .instance()
            .join(&format!("/{table}.do?sys_id={}", crate::api::enc(sys_id)))?;
        form.browser
            .client()
            .goto(url.as_str())
            .await
            .map_err(|e| form.fail_cmd("opening the record", e))?;
        let loaded = form
            .wait_page(|p| {
                p.record.is_some() || p.path.ends_with("login.do") || p.neterror.is_some()
            })
            .await?;
        if let Some(error) = loaded.neterror {
            let e = Error::new(
                ErrorKind::Unreachable,
                format!("the browser could not load {url}: {error}"),
            )
            .with_hint("for a certificate error, name the instance's CA in the instance file (ca_file = \"...\")");
            return Err(form.finish_with(e).await);
        }
        if loaded.path.ends_with("login.do") {
            return Err(form
                .finish_with(Error::login_required(
                    &session.instance().name,
                    "the browser was sent to the login page: the session has expired",
                ))
                .await);
        }
        if loaded.record.as_deref() != Some(sys_id) {
            let e = Error::new(
                ErrorKind::Instance,
                format!("the form did not open record {sys_id}"),
            );
            return Err(form.finish_with(e).await);
        }
        Ok(form)
    }

    fn fail_cmd(&self, doing: &str, e: CmdError) -> Error {
        if crate::browser::is_closed(&e) {
            return Error::new(ErrorKind::Cancelled, "the browser window was closed");
        }
        Error::new(
            ErrorKind::Browser,
            format!("the browser failed while {doing}: {e}"),
        )
    }

    async fn wait_page(&self, done: impl Fn(&Page) -> bool) -> Result<Page> {
        let deadline = crate::browser::deadline_in(self.options.timeout);
        let done = &done;
        self.browser
            .wait_for(deadline, |c| async move {
                Ok(page(&c).await?.filter(|p| p.ready == "complete" && done(p)))
            })
            .await?
            .into_result("the page")
    }

    /// Saves a screenshot and the page, closes the browser, and returns `e` naming the folder.
    async fn finish_with(self, e: Error) -> Error {
        let e = match self
            .browser
            .diagnose(&self.options.diagnostics, "fallback")
            .await
        {
            Ok(dir) => e.with_note(&format!("screenshot and page saved in {}", dir.display())),
            Err(_) => e,
        };
        let _ = self.close().await;
        e
    }

    /// Hands the rotated cookies back to the session, then closes the browser.
    async fn close(self) -> Result<()> {
        if let Ok(cookies) = self.browser.all_cookies().await {
            self.session
                .absorb(&instance_cookies(self.session.instance(), cookies));
        }
        self.browser.close().await
    }

    /// Presses the UI action button `id` and waits for the form to come back in one of the
    /// `reached` states, or with an error message.
    async fn press(&self, id: &str, label: &str, reached: &[&str]) -> Result<()> {
        self.click(id, &format!("pressing {label}")).await?;
        let after = self
            .wait_page(|p| {
                p.error.is_some() || p.state.as_deref().is_some_and(|s| reached.contains(&s))
            })
            .await?;
        match after.error {
            Some(error) => Err(form_error(&error)),
            None => Ok(()),
        }
    }

    async fn click(&self, id: &str, doing: &str) -> Result<()> {
        self.browser
            .client()
            .find(Locator::Id(id))
            .await
            .map_err(|e| self.fail_cmd(doing, e))?
            .click()
            .await
            .map_err(|e| self.fail_cmd(doing, e))
    }
}

/// The error a form message means: a data policy or ACL refusal, or the instance's message.
fn form_error(message: &str) -> Error {
    let said = Complaint {
        message: message.to_owned(),
        detail: None,
    };
    match refusal(&said) {
        Refusal::Other => Error::new(ErrorKind::Instance, format!("the form said: {message}")),
        why => Error::forbidden(why, format!("the form said: {message}")),
    }
}

/// Attaches `files` to `table`/`sys_id` through the form's attachment dialog; returns the file
/// names as the instance lists them afterwards.
pub async fn attach(
    session: &Session,
    table: &str,
    sys_id: &str,
    files: &[PathBuf],
    options: &FallbackOptions,
) -> Result<Vec<String>> {
    let names: Vec<String> = files.iter().map(|f| file_name(f)).collect::<Result<_>>()?;
    let absolute: Vec<String> = files
        .iter()
        .map(|f| std::path::absolute(f).map(|p| p.display().to_string()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::usage(format!("cannot resolve a file path: {e}")))?;
    let form = OnForm::open(session, options, table, sys_id).await?;
    let outcome = async {
        form.click("header_add_attachment", "opening the attachment dialog").await?;
        let input = form
            .browser
            .client()
            .find(Locator::Id("attachFile"))
            .await
            .map_err(|e| form.fail_cmd("finding the file input of the attachment dialog", e))?;
        // chromedriver takes several files for a `multiple` input as one newline-separated list.
        input
            .send_keys(&absolute.join("\n"))
            .await
            .map_err(|e| form.fail_cmd("choosing the files", e))?;
        form.browser
            .client()
            .find(Locator::XPath(
                "//input[@id='attachFile']/ancestor::form//*[(self::button or self::input) and (@type='submit' or @id='attachButton')]",
            ))
            .await
            .map_err(|e| form.fail_cmd("finding the upload button", e))?
            .click()
            .await
            .map_err(|e| form.fail_cmd("uploading", e))?;
        let names = &names;
        let shown = form
            .wait_page(|p| p.error.is_some() || (p.record.is_some() && names.iter().all(|n| p.attachments.contains(n))))
            .await?;
        if let Some(error) = shown.error {
            return Err(form_error(&error));
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        return Err(form.finish_with(e).await);
    }
    form.close().await?;
    // Check through the API where it answers; itil users are often refused the attachment API,
    // and then the form's own list (checked above) is the evidence.
    match Attachments::new(session).list(table, sys_id).await {
        Ok(listed) => {
            let missing: Vec<&String> = names
                .iter()
                .filter(|n| !listed.iter().any(|a| &a.file_name == *n))
                .collect();
            if !missing.is_empty() {
                return Err(Error::new(
                    ErrorKind::Instance,
                    format!("the upload looked done but the instance does not list {missing:?}"),
                ));
            }
        }
        Err(e) if e.kind() == ErrorKind::Forbidden => {
            tracing::info!("the attachment API refuses this user; the form listed the files")
        }
        Err(e) => return Err(e),
    }
    Ok(names)
}

fn file_name(path: &Path) -> Result<String> {
    if !path.is_file() {
        return Err(Error::usage(format!(
            "{} is not a readable file",
            path.display()
        )));
    }
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| Error::usage(format!("{} has no usable file name", path.display())))
}

/// Resolves an incident through the form's "Resolve Incident" action with `code` and `notes`,
/// and with `close` then "Close Incident"; returns the record as the API reads it afterwards.
pub async fn resolve(
    session: &Session,
    sys_id: &str,
    code: &str,
    notes: &str,
    close: bool,
    options: &FallbackOptions,
) -> Result<Record> {
    let form = OnForm::open(session, options, "incident", sys_id).await?;
    let outcome = async {
        fill(&form, "close_code", code).await?;
        fill(&form, "close_notes", notes).await?;
        form.press("resolve_incident", "Resolve Incident", &[state::RESOLVED, state::CLOSED])
            .await?;
        if close {
            if form.browser.client().find(Locator::Id("close_incident")).await.is_err() {
                return Err(Error::forbidden(
                    Refusal::Acl,
                    "the form does not offer Close Incident to this user (closing needs itil_admin or admin)",
                ));
            }
            form.press("close_incident", "Close Incident", &[state::CLOSED]).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        return Err(form.finish_with(e).await);
    }
    form.close().await?;
    let record = Table::new(session, "incident").get(sys_id).await?;
    let want = if close {
        state::CLOSED
    } else {
        state::RESOLVED
    };
    if record.field("state") != Some(want) || record.field("close_code") != Some(code) {
        return Err(Error::new(
            ErrorKind::Instance,
            format!(
                "the form accepted the action but the incident reads state {:?}, close code {:?}",
                record.field("state"),
                record.field("close_code")
            ),
        ));
    }
    Ok(record)
}

/// Sets a form field through `g_form` where the page has it, else by its `incident.<field>` input.
async fn fill(form: &OnForm<'_>, field: &str, value: &str) -> Result<()> {
    let client = form.browser.client();
    let by_api = client
        .execute(
            "if (window.g_form && g_form.setValue) { g_form.setValue(arguments[0], arguments[1]); return g_form.getValue(arguments[0]); } return null;",
            vec![field.into(), value.into()],
        )
        .await
        .map_err(|e| form.fail_cmd(&format!("setting {field}"), e))?;
    if by_api.as_str() == Some(value) {
        return Ok(());
    }
    let element = client
        .find(Locator::Id(&format!("incident.{field}")))
        .await
        .map_err(|e| form.fail_cmd(&format!("finding incident.{field}"), e))?;
    if element
        .tag_name()
        .await
        .map(|t| t.eq_ignore_ascii_case("select"))
        .unwrap_or(false)
    {
        element.select_by_value(value).await.map_err(|_| {
            Error::usage(format!(
                "{value:?} is not one of the form's choices for {field}"
            ))
        })
    } else {
        element
            .clear()
            .await
            .map_err(|e| form.fail_cmd(&format!("clearing {field}"), e))?;
        element
            .send_keys(value)
            .await
            .map_err(|e| form.fail_cmd(&format!("typing {field}"), e))
    }
}
