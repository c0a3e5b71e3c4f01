//! Stage 4: doing through the browser what the APIs refuse: attaching files through the record
//! form's attachment dialog, and the form's "Resolve Incident" / "Close Incident" UI actions.
//!
//! The browser is seeded with the session's own cookies (no new login), drives the form by the
//! element names and ids ServiceNow documents (`incident.<field>`, `sys_uniqueValue`, UI action
//! ids, `attachFile`), judges the result by what the instance holds afterwards (attachments by
//! sys_id, records through the API), keeps a screenshot and the page of a failure, and hands
//! the cookies the browser rotated back to the session. It decides nothing about *when* to fall
//! back, nor how a session that is not a browser's gets one: both are the caller's (the front
//! door's `Connection::attach` and `Connection::resolve`).

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::Locator;
use fantoccini::error::CmdError;

use crate::api::attachment::{Attached, Attachment, Held, LocalFile};
use crate::api::incident::{Change, Incident, state};
use crate::api::{Attachments, Record, Table};
use crate::browser::instance_cookies;
use crate::browser::{Browser, Options};
use crate::error::{Error, ErrorKind, Refusal, Result};
use crate::session::envelope::{Complaint, refusal};
use crate::session::{Auth, Session};

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

/// What the page shows, read in one script. Attachments are read by sys_id from their download
/// links (`sys_attachment.do?sys_id=...`), never by how the page renders their names; `marker`
/// tells the document seen before an upload from the one after it.
const PROBE: &str = r#"
    const error = document.querySelector('.outputmsg_error');
    const state = document.getElementById('incident.state');
    const attachments = [];
    for (const a of document.querySelectorAll('a[href*="sys_attachment.do"]')) {
        let sys_id = null;
        try { sys_id = new URL(a.href, location.href).searchParams.get('sys_id'); } catch (e) {}
        if (sys_id && !attachments.some(x => x.sys_id === sys_id)) {
            attachments.push({ sys_id: sys_id, name: a.textContent });
        }
    }
    const navigation = (performance.getEntriesByType('navigation') || [])[0] || {};
    const heading = document.querySelector('.outputmsg_text, h1');
    return JSON.stringify({
        path: location.pathname,
        host: location.host,
        status: navigation.responseStatus || null,
        title: document.title || null,
        said: heading ? heading.textContent.trim() : null,
        login_form: !!document.getElementById('user_password'),
        hibernating: !!document.querySelector('.instance-hibernating-page')
            || /hibernat/i.test(document.title),
        wake: (document.querySelector('a[href*="developer.servicenow.com"]') || {}).href || null,
        ready: document.readyState,
        marker: window.__snowbridge_marker || null,
        error: error ? error.textContent.trim() : null,
        record: (document.getElementById('sys_uniqueValue') || {}).value || null,
        state: state ? state.value : null,
        actions: Array.from(document.querySelectorAll('.form_action_button[id], button[id^="sysverb_"], button[id$="_incident"]')).map(b => b.id),
        attachments: attachments,
        neterror: location.protocol === 'chrome-error:'
            ? ((document.querySelector('.error-code') || {}).textContent || 'the page did not load').trim()
            : null
    });
"#;

#[derive(Debug, serde::Deserialize)]
struct Page {
    path: String,
    /// `host:port` of the page: another than the instance's is a single sign-on page or worse.
    #[serde(default)]
    host: Option<String>,
    /// The HTTP status the document came with, where the browser tells (Chrome 109 on).
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    title: Option<String>,
    /// The page's first message or heading, to say what a page that is not the form says.
    #[serde(default)]
    said: Option<String>,
    /// A password input: a login page, whatever its path.
    #[serde(default)]
    login_form: bool,
    /// A hibernating developer instance's page, and where it says to wake the instance.
    #[serde(default)]
    hibernating: bool,
    #[serde(default)]
    wake: Option<String>,
    ready: String,
    /// Set by [`OnForm::mark`] on the document it ran in; absent on a newer one.
    marker: Option<String>,
    error: Option<String>,
    record: Option<String>,
    state: Option<String>,
    /// The ids of the UI action buttons the form offers (`resolve_incident`, `close_incident`).
    #[serde(default)]
    actions: Vec<String>,
    /// The attachments the form lists.
    attachments: Vec<Shown>,
    /// Chrome's own error page (certificate, DNS, connection) is showing, with this code.
    neterror: Option<String>,
}

impl Page {
    /// What a page that is not the form says: its message or heading, its title, its status.
    fn what_it_says(&self) -> String {
        let mut parts = Vec::new();
        if let Some(said) = self.error.as_ref().or(self.said.as_ref()) {
            parts.push(format!("the page says \"{said}\""));
        } else if let Some(title) = &self.title {
            parts.push(format!("the page is \"{title}\""));
        }
        if let Some(status) = self.status.filter(|s| *s >= 400) {
            parts.push(format!("HTTP {status}"));
        }
        if parts.is_empty() {
            "the page has no record on it".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// An attachment as a form lists it.
#[derive(Debug, Clone, serde::Deserialize)]
struct Shown {
    sys_id: String,
    /// The name as the page's text holds it (whitespace and escaping are the page's).
    name: String,
}

impl Shown {
    fn into_attachment(self, table: &str, record: &str) -> Attachment {
        Attachment {
            sys_id: self.sys_id,
            file_name: self.name,
            size_bytes: String::new(),
            content_type: String::new(),
            table_name: table.to_owned(),
            table_sys_id: record.to_owned(),
            hash: None,
            download_link: None,
        }
    }
}

async fn page(client: &fantoccini::Client) -> Result<Option<Page>, CmdError> {
    crate::browser::read_page(client, PROBE).await
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
            Browser::launch(&options.browser.for_instance(session.instance()).await?).await?;
        browser.set_cookies(&session.cookies()).await?;
        let form = OnForm {
            browser,
            session,
            options,
        };
        let loaded = match form.goto_form(table, sys_id).await {
            Ok(page) => page,
            Err(e) => return Err(form.finish_with(e).await),
        };
        if let Some(error) = loaded.neterror {
            let url = form.form_url(table, sys_id)?;
            let e = Error::new(
                ErrorKind::Unreachable,
                format!("the browser could not load {url}: {error}"),
            )
            .with_hint("for a certificate error, name the instance's CA in the instance file (ca_file = \"...\")");
            return Err(form.finish_with(e).await);
        }
        if loaded.hibernating {
            let wake = loaded
                .wake
                .clone()
                .unwrap_or_else(|| crate::session::page::DEVELOPER_PORTAL.to_owned());
            let name = &session.instance().name;
            let e = Error::new(
                ErrorKind::Unreachable,
                format!(
                    "the instance is hibernating: wake it at {wake} (the browser got its hibernation page instead of the {table} form)"
                ),
            )
            .with_hint(format!(
                "sign in at {wake} to wake {name}, wait until it opens, then try again"
            ));
            return Err(form.finish_with(e).await);
        }
        if loaded.path.ends_with("login.do") || loaded.login_form {
            return Err(form
                .finish_with(Error::login_required(
                    &session.instance().name,
                    "the browser was sent to the login page: the session has expired",
                ))
                .await);
        }
        if let Some(host) = form.elsewhere(&loaded) {
            let e = Error::login_required(
                &session.instance().name,
                format!(
                    "the browser was sent to {host} (a single sign-on page?) instead of the form: the session no longer works in the browser"
                ),
            );
            return Err(form.finish_with(e).await);
        }
        if loaded.record.is_none() {
            let url = form.form_url(table, sys_id)?;
            let e = Error::new(
                ErrorKind::Instance,
                format!(
                    "{} did not show the form of {table} record {sys_id} at {url}: {}",
                    session.instance().name,
                    loaded.what_it_says()
                ),
            )
            .with_hint(format!(
                "the browser fallback needs the record's form ({table}.do); where the instance has none for {table}, use the API as a user it allows"
            ));
            return Err(form.finish_with(e).await);
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

    fn form_url(&self, table: &str, sys_id: &str) -> Result<url::Url> {
        self.session
            .instance()
            .join(&format!("/{table}.do?sys_id={}", crate::api::enc(sys_id)))
    }

    /// Loads the record's form and waits for it (or the login page, or Chrome's error page).
    async fn goto_form(&self, table: &str, sys_id: &str) -> Result<Page> {
        let url = self.form_url(table, sys_id)?;
        self.browser
            .client()
            .goto(url.as_str())
            .await
            .map_err(|e| self.fail_cmd("opening the record", e))?;
        // A page that is not the form is known as soon as it has loaded: an error status or
        // message, a login form, another host. Nothing to wait for there.
        self.wait_page(|p| {
            p.record.is_some()
                || p.path.ends_with("login.do")
                || p.neterror.is_some()
                || p.login_form
                || p.hibernating
                || p.error.is_some()
                || p.status.is_some_and(|s| s >= 400)
                || self.elsewhere(p).is_some()
        })
        .await
    }

    /// The host a page is on, when it is not the instance's.
    fn elsewhere(&self, page: &Page) -> Option<String> {
        let url = &self.session.instance().url;
        let ours = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        page.host
            .as_ref()
            .filter(|h| !h.is_empty() && !h.eq_ignore_ascii_case(&ours))
            .cloned()
    }

    fn fail_cmd(&self, doing: &str, e: CmdError) -> Error {
        crate::browser::command_error(doing, e)
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

/// Where the attachments a record holds are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    /// The Attachment API, while it answers.
    Api,
    /// The form's own list, where the API refuses this user.
    Form,
}

/// Attaches `files` to `table`/`sys_id` through the form's attachment dialog, one file per
/// upload, pushing each onto `attached` as soon as the instance holds it: on an error, `attached`
/// says which files were attached before it (a caller reports them; a rerun need not repeat them).
///
/// Success is judged by what the record holds, by sys_id: its attachments are listed before
/// each upload (through the Attachment API where it answers, else the form's list) and after it,
/// and a new one (with the file's SHA-256 and size, where the API gives them) is the file. After
/// a timeout the record is looked at again before a failure is reported. File names are never
/// compared: pages trim and collapse spaces, browsers rewrite quotes in uploads.
pub async fn attach(
    session: &Session,
    table: &str,
    sys_id: &str,
    files: &[LocalFile],
    options: &FallbackOptions,
    attached: &mut Vec<Attached>,
) -> Result<()> {
    must_be_browser_session(session)?;
    let mut absolute = Vec::with_capacity(files.len());
    for file in files {
        let path = std::path::absolute(&file.path).map_err(|e| {
            Error::bad_input(format!("cannot resolve {}: {e}", file.path.display()))
        })?;
        let text = path.to_str().ok_or_else(|| {
            Error::bad_input(format!(
                "{} is not a UTF-8 path, which chromedriver cannot pass to the browser",
                path.display()
            ))
        })?;
        // chromedriver reads a newline in the keys sent to a file input as a second file.
        if text.contains(['\n', '\r']) {
            return Err(Error::bad_input(format!(
                "{:?} has a line break in its path, which chromedriver cannot pass to the browser: rename it",
                file.path.display()
            )));
        }
        absolute.push(text.to_owned());
    }
    let form = OnForm::open(session, options, table, sys_id).await?;
    let mut listing = Listing::Api;
    for (file, path) in files.iter().zip(&absolute) {
        match form
            .attach_one(&mut listing, table, sys_id, file, path)
            .await
        {
            Ok(attachment) => attached.push(Attached {
                file: file.clone(),
                attachment,
            }),
            Err(e) => return Err(form.finish_with(e).await),
        }
    }
    form.close().await
}

impl OnForm<'_> {
    /// The attachments the record holds: through the API while it answers, else the list of
    /// the form on screen (which must be the record's, loaded).
    async fn held(
        &self,
        listing: &mut Listing,
        table: &str,
        sys_id: &str,
    ) -> Result<Vec<Attachment>> {
        if *listing == Listing::Api {
            match Attachments::new(self.session).list(table, sys_id).await {
                Ok(listed) => return Ok(listed),
                Err(e) if e.kind() == ErrorKind::Forbidden => {
                    tracing::info!(
                        "the Attachment API refuses this user its listing; reading the form's list"
                    );
                    *listing = Listing::Form;
                }
                Err(e) => return Err(e),
            }
        }
        let page = self
            .wait_page(|p| p.record.as_deref() == Some(sys_id) || p.neterror.is_some())
            .await?;
        Ok(page
            .attachments
            .into_iter()
            .map(|shown| shown.into_attachment(table, sys_id))
            .collect())
    }

    /// Uploads one file through the dialog and returns the attachment the record holds for it.
    async fn attach_one(
        &self,
        listing: &mut Listing,
        table: &str,
        sys_id: &str,
        file: &LocalFile,
        path: &str,
    ) -> Result<Attachment> {
        let before = Held::new(&self.held(listing, table, sys_id).await?);
        let marker = self.mark().await?;
        // A message already showing is not this upload's.
        let old_error = self.wait_page(|_| true).await?.error;
        let uploaded = self.upload(path).await;
        // The page after the upload: a new document (the dialog posts the form) or, where the
        // dialog uploads in place, a list with a new sys_id or a new error message.
        let outcome = match uploaded {
            Ok(()) => {
                self.wait_page(|p| {
                    p.neterror.is_some()
                        || p.path.ends_with("login.do")
                        || (p.error.is_some() && p.error != old_error)
                        || (p.record.is_some() && p.marker.as_deref() != Some(marker.as_str()))
                        || p.attachments.iter().any(|a| !before.contains(&a.sys_id))
                })
                .await
            }
            Err(e) => Err(e),
        };
        let page = match outcome {
            Ok(page) => page,
            // A closed window is not worth looking past.
            Err(e) if e.kind() == ErrorKind::Cancelled => return Err(e),
            Err(e) => {
                tracing::info!(error = %e, "the upload did not finish as expected; looking at the record");
                return self
                    .look_after(listing, table, sys_id, file, &before, e)
                    .await;
            }
        };
        if page.path.ends_with("login.do") {
            return Err(Error::login_required(
                &self.session.instance().name,
                "the browser was sent to the login page while uploading: the session has expired",
            ));
        }
        if page.record.as_deref() != Some(sys_id) && *listing == Listing::Form {
            // Not back on the form, whose list is the evidence: open it again to look.
            let e = Error::new(
                ErrorKind::Instance,
                format!(
                    "the upload of {:?} did not come back to the record's form{}",
                    file.name,
                    page.neterror
                        .map(|n| format!(" (the browser showed {n})"))
                        .unwrap_or_default()
                ),
            );
            return self
                .look_after(listing, table, sys_id, file, &before, e)
                .await;
        }
        let after = self.held(listing, table, sys_id).await?;
        if let Some(found) = before.new_copy_of(&after, file) {
            return Ok(found.clone());
        }
        Err(match page.error.filter(|e| Some(e) != old_error.as_ref()) {
            Some(message) => form_error(&message),
            None if page.neterror.is_some() => Error::new(
                ErrorKind::Browser,
                format!(
                    "the browser showed {} after uploading {:?}, and the record holds no new attachment with its content",
                    page.neterror.unwrap_or_default(),
                    file.name
                ),
            ),
            None => Error::new(
                ErrorKind::Instance,
                format!(
                    "the upload of {:?} looked done but the record holds no new attachment with its content",
                    file.name
                ),
            ),
        })
    }

    /// After `e` (a timeout, a page that went elsewhere): opens the record's form again and
    /// judges by what it holds; `e` stands only when the file is not there.
    async fn look_after(
        &self,
        listing: &mut Listing,
        table: &str,
        sys_id: &str,
        file: &LocalFile,
        before: &Held,
        e: Error,
    ) -> Result<Attachment> {
        if *listing == Listing::Form
            && let Err(reload) = self.goto_form(table, sys_id).await
        {
            return Err(e.with_note(&format!(
                "whether the file was attached is unknown: the form did not open again: {}",
                reload.message()
            )));
        }
        match self.held(listing, table, sys_id).await {
            Ok(after) => match before.new_copy_of(&after, file) {
                Some(found) => {
                    tracing::info!(sys_id = %found.sys_id, "the record holds the file after all");
                    Ok(found.clone())
                }
                None => Err(e.with_note("the record holds no new attachment with the file's content")),
            },
            Err(look) => Err(e.with_note(&format!(
                "whether the file was attached is unknown: listing the record's attachments failed: {}",
                look.message()
            ))),
        }
    }

    /// Marks the document on screen, so the one that replaces it can be told apart.
    async fn mark(&self) -> Result<String> {
        let marker = uuid::Uuid::new_v4().to_string();
        self.browser
            .client()
            .execute(
                "window.__snowbridge_marker = arguments[0]; return true;",
                vec![marker.clone().into()],
            )
            .await
            .map_err(|e| self.fail_cmd("reading the form", e))?;
        Ok(marker)
    }

    /// Opens the dialog, chooses the file at `path` (absolute) and presses Upload.
    async fn upload(&self, path: &str) -> Result<()> {
        let client = self.browser.client();
        // The paperclip toggles the dialog on some releases: press it only while it is shut.
        let open = match client.find(Locator::Id("attachFile")).await {
            Ok(input) => input.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        };
        if !open {
            self.click("header_add_attachment", "opening the attachment dialog")
                .await?;
        }
        let input = client
            .find(Locator::Id("attachFile"))
            .await
            .map_err(|e| self.fail_cmd("finding the file input of the attachment dialog", e))?;
        input
            .send_keys(path)
            .await
            .map_err(|e| self.fail_cmd("choosing the file", e))?;
        client
            .find(Locator::XPath(
                "//input[@id='attachFile']/ancestor::form//*[(self::button or self::input) and (@type='submit' or @id='attachButton')]",
            ))
            .await
            .map_err(|e| self.fail_cmd("finding the upload button", e))?
            .click()
            .await
            .map_err(|e| self.fail_cmd("uploading", e))
    }
}

/// Makes `change` on `incident` through the form's UI actions: "Resolve Incident" with `code`
/// and `notes`, then for a close "Close Incident" (for [`Change::Close`], that alone).
///
/// Nothing is pressed until the form shows that every step can be taken: the incident in the
/// state it was read in (else a conflict: it changed meanwhile), and each UI action the change
/// needs offered to this user (else a refusal naming it, exit 5). Where the close still fails
/// after the resolve went through, the error begins "INC... was resolved (state 6, code ...)".
/// Returns the record as the API reads it afterwards.
pub async fn resolve(
    session: &Session,
    incident: &Incident,
    change: Change,
    code: &str,
    notes: &str,
    options: &FallbackOptions,
) -> Result<Record> {
    must_be_browser_session(session)?;
    let form = OnForm::open(session, options, "incident", &incident.sys_id).await?;
    let outcome = async {
        form.check_can(incident, change).await?;
        if change.writes_resolution() {
            fill(&form, "close_code", code).await?;
            fill(&form, "close_notes", notes).await?;
            form.press(
                "resolve_incident",
                "Resolve Incident",
                &[state::RESOLVED, state::CLOSED],
            )
            .await?;
        }
        if change.closes() {
            let closed = form
                .press("close_incident", "Close Incident", &[state::CLOSED])
                .await;
            if let (Err(e), true) = (&closed, change.writes_resolution()) {
                return Err(after_resolving(incident.name(), code, e));
            }
            closed?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        return Err(form.finish_with(e).await);
    }
    form.close().await?;
    let record = Table::new(session, "incident")
        .get(&incident.sys_id)
        .await?;
    let want = change.target_state();
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

/// `e`, a failed close, told as the second step of two: the resolve stands.
fn after_resolving(name: &str, code: &str, e: &Error) -> Error {
    let message = format!(
        "{name} was resolved (state {}, code {code:?}); closing was {}: {}",
        state::RESOLVED,
        if e.is_forbidden() {
            "refused"
        } else {
            "not done"
        },
        e.message()
    );
    let told = match e.refusal() {
        Some(why) => Error::forbidden(why.clone(), message),
        None => Error::new(e.kind(), message),
    };
    match e.hint() {
        Some(hint) => told.with_hint(hint),
        None => told,
    }
}

impl OnForm<'_> {
    /// Checks, before anything is pressed, that the form shows `incident` as it was read and
    /// offers this user every UI action `change` needs.
    async fn check_can(&self, incident: &Incident, change: Change) -> Result<()> {
        let page = self.wait_page(|p| p.record.is_some()).await?;
        let name = incident.name();
        if page.state.as_deref() != Some(incident.state.as_str()) {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "{name} changed on the instance while snowbridge was at work: the form shows state {:?}, the API read {:?}; nothing was changed",
                    page.state.as_deref().unwrap_or("none"),
                    incident.state
                ),
            )
            .with_hint("run the command again to act on the incident as it is now"));
        }
        let user = self
            .session
            .record()
            .user
            .clone()
            .unwrap_or_else(|| "this user".to_owned());
        let mut needed = Vec::new();
        if change.writes_resolution() {
            needed.push((
                "resolve_incident",
                "Resolve Incident",
                "resolving needs itil",
            ));
        }
        if change.closes() {
            needed.push((
                "close_incident",
                "Close Incident",
                "closing needs itil_admin or admin",
            ));
        }
        for (id, label, needs) in needed {
            if !page.actions.iter().any(|a| a == id) {
                return Err(Error::forbidden(
                    Refusal::Acl,
                    format!(
                        "the form of {name} does not offer {label} to {user} ({needs}); nothing was changed"
                    ),
                )
                .with_hint(if change.closes() && change.writes_resolution() {
                    "resolve it without closing it, and ask someone with itil_admin to close it"
                } else {
                    "ask the instance's administrators for the role"
                }));
            }
        }
        Ok(())
    }
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

/// The form needs the cookies of a browser session; a token's or a password's session has none
/// to give the browser.
fn must_be_browser_session(session: &Session) -> Result<()> {
    match session.auth() {
        Auth::Cookies => Ok(()),
        _ => Err(Error::internal(format!(
            "the browser fallback on {} was handed a session without browser cookies",
            session.instance().name
        ))),
    }
}
