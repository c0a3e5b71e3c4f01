//! The adapter: everything the Python package takes from the snowbridge library goes through
//! this module, and nothing here knows Python. It speaks the library's front door
//! ([`Snowbridge`], [`Connection`]): connect and login, records as a stream, attach and resolve
//! with the instance file's REST-then-browser policy, raw calls. One thing it takes from below
//! the front door: [`snowbridge::session::Session::send_any`], for the `requests` adapter,
//! which hands the instance's replies back whatever their status.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use snowbridge::browser::Options;
use snowbridge::prompt::CodeRequest;
use snowbridge::secret::Secret;
use snowbridge::session::{Body, Call};
use snowbridge::{
    Connected, Connection, DisplayValue, Error, ErrorKind, Login, NextStep, Prompter, Query,
    Refusal, Resolution, Snowbridge,
};
use time::OffsetDateTime;
use tokio::sync::mpsc;

pub use snowbridge::Error as LibraryError;
pub use snowbridge::{Record, Result};

/// A connection to one instance, from the front door.
pub struct Handle {
    /// The connection (shared with record streams running on the runtime).
    pub connection: Arc<Connection>,
}

/// What a caller may show about a session (no secret).
pub struct Facts {
    /// The instance's name.
    pub instance: String,
    /// The instance's address, without a trailing slash.
    pub url: String,
    /// The instance file's `auth` (`browser`, `basic`, `oauth-password`, ...).
    pub method: String,
    /// The user the session runs as, where known.
    pub user: Option<String>,
    /// How the session was obtained, in words.
    pub obtained: String,
    /// When the session stops working without a person: the access token's expiry for token
    /// methods (renewed before then), the remember-me cookies' for a browser session that has
    /// them; `None` where the instance decides alone (an idle timeout).
    pub expires_at: Option<OffsetDateTime>,
}

/// How to drive the browser, where one is used (a login, the fallback of `attach` and
/// `resolve`).
#[derive(Debug, Clone, Default)]
pub struct BrowserChoice {
    /// `Some(true)` headless, `Some(false)` a window, `None` a window where a display exists.
    pub headless: Option<bool>,
    /// The Chrome to run; else `SNOWBRIDGE_CHROME`, else the usual places.
    pub chrome: Option<PathBuf>,
    /// The chromedriver to run; else `SNOWBRIDGE_CHROMEDRIVER`, else `PATH`.
    pub chromedriver: Option<PathBuf>,
}

impl BrowserChoice {
    /// The front door's browser options (each use sets its own profile folder).
    fn options(&self) -> Options {
        Options {
            chromedriver: self.chromedriver.clone(),
            chrome: self.chrome.clone(),
            headless: self.headless,
            ..Options::default()
        }
    }
}

/// The front door as the CLI finds it, with `browser` for logins and fallbacks.
fn front(browser: &BrowserChoice) -> Result<Snowbridge> {
    Ok(Snowbridge::from_env()?.with_browser(browser.options()))
}

/// `snowbridge connect NAME`: the stored session, validated; else the other sources the
/// instance file allows. Never prompts, never opens a browser (`browser` is for the fallback of
/// `attach` and `resolve`). Also says how, in words.
pub async fn connect(name: &str, browser: &BrowserChoice) -> Result<(Handle, String)> {
    let connection = front(browser)?.connect(name).await?;
    let how = match connection.how() {
        Connected::Stored { checked: true } => "stored session, checked with the instance".into(),
        Connected::Stored { checked: false } => {
            "stored session, validated within the window".into()
        }
        Connected::Imported(report) => format!("imported from Chrome: {report}"),
        Connected::Credentials(how) => how.clone(),
        Connected::LoggedIn => "browser login".into(),
        Connected::Authorized => "authorization code grant".into(),
        _ => "connected".into(),
    };
    Ok((
        Handle {
            connection: Arc::new(connection),
        },
        how,
    ))
}

/// The caller's hooks for a login with a person: a line to show, a one-time code to ask for.
pub trait Asker: Send + Sync + 'static {
    /// Shows `line` to the person.
    fn tell(&self, line: &str);
    /// The one-time code of `user` on `instance`, or `None`.
    fn one_time_code(&self, user: &str, instance: &str) -> Option<String>;
}

/// The caller's [`Asker`] as the front door's [`Prompter`]: it tells and asks for codes, never
/// for secrets (a password comes from the environment or the OS keyring, or is typed by the
/// person in the window) and never consents to keeping one.
struct AskerPrompter(Box<dyn Asker>);

impl Prompter for AskerPrompter {
    fn one_time_code(&self, request: &CodeRequest) -> Option<Secret> {
        self.0
            .one_time_code(&request.user, &request.instance)
            .filter(|c| !c.is_empty())
            .map(Secret::from)
    }

    fn tell(&self, message: &str) {
        self.0.tell(message);
    }
}

/// What `login` is asked to do.
pub struct LoginRequest {
    /// The browser.
    pub browser: BrowserChoice,
    /// The user to log in as (else the instance file's `username`).
    pub user: Option<String>,
    /// A one-time code given up front.
    pub mfa_code: Option<String>,
    /// How long to wait for the person.
    pub timeout: Duration,
    /// Tick "Remember me" when snowbridge fills the form.
    pub remember_me: bool,
    /// Who is at the keyboard.
    pub asker: Box<dyn Asker>,
}

/// `snowbridge connect NAME --login`, through the front door: the browser login for
/// `auth = "browser"` (filled in with the password from `SNOWBRIDGE_PASSWORD` or the OS keyring
/// where one is at hand, else a person at the window), the authorization in the browser for
/// `oauth-pkce`, the method's grant with the secrets at hand for the others.
pub async fn login(name: &str, request: LoginRequest) -> Result<Handle> {
    let sb = front(&request.browser)?.with_prompter(AskerPrompter(request.asker));
    let mut options = Login::default()
        .remember_me(request.remember_me)
        .timeout(request.timeout);
    if let Some(user) = request.user {
        options = options.user(user);
    }
    if let Some(code) = request.mfa_code {
        options = options.one_time_code(Secret::from(code));
    }
    let connection = sb.login(name, options).await?;
    Ok(Handle {
        connection: Arc::new(connection),
    })
}

/// The facts of `handle`'s session.
pub fn facts(handle: &Handle) -> Facts {
    let session = handle.connection.session();
    let instance = session.instance();
    let record = session.record();
    let expires_at = match session.tokens() {
        Some(tokens) => Some(tokens.expires_at),
        None => record.remember_me_until(),
    };
    Facts {
        instance: instance.name.clone(),
        url: instance.base().trim_end_matches('/').to_owned(),
        method: instance.auth.to_string(),
        user: record.user.clone(),
        obtained: record.obtained.describe(),
        expires_at,
    }
}

/// Writes what the session learned (rotated cookies, a new CSRF token, validation) to the
/// vault; nothing when nothing changed.
pub async fn save(connection: Arc<Connection>) -> Result<()> {
    connection.save().await
}

fn method(text: &str) -> Result<Method> {
    Method::from_bytes(text.to_ascii_uppercase().as_bytes()).map_err(|_| {
        Error::usage(format!("{text:?} is not an HTTP method"))
            .with_hint("use GET, POST, PUT, PATCH, DELETE or HEAD")
    })
}

/// One API call that answers JSON: the parsed reply, `None` for an empty one (`204`, `HEAD`).
/// A reply that is not 2xx is an error of its kind (login required, forbidden, not found...).
pub async fn api(
    connection: Arc<Connection>,
    method_name: &str,
    target: &str,
    json: Option<serde_json::Value>,
) -> Result<Option<serde_json::Value>> {
    let mut call = Call::new(method(method_name)?, target);
    if let Some(json) = json {
        call = call.body(Body::Json(json));
    }
    let result = async {
        let response = connection.send(&call).await?;
        let path = response.url().path().to_owned();
        let body = response.bytes().await.map_err(|e| {
            Error::new(
                ErrorKind::Unreachable,
                format!("the reply to {path} was cut off: {e}"),
            )
        })?;
        if body.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&body).map(Some).map_err(|e| {
            Error::new(
                ErrorKind::Instance,
                format!(
                    "{} answered {path} with something that is not JSON ({e})",
                    connection.instance().base()
                ),
            )
        })
    }
    .await;
    connection.save().await?;
    result
}

/// A request as an HTTP client library hands it over.
pub struct Request {
    /// The method.
    pub method: String,
    /// The absolute URL, on the session's instance.
    pub url: String,
    /// The headers the caller set (the session's own are refused or replaced: see [`send`]).
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

/// The instance's reply, whatever its status.
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Its reason phrase (`Not Found`).
    pub reason: String,
    /// The URL answered.
    pub url: String,
    /// The headers, in order, repeated names kept (`Set-Cookie`).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Headers the session sets (or the HTTP client computes) itself; the caller's are dropped.
/// `Accept-Encoding` too: the session asks for no compression, so the body handed back is the
/// one the headers describe.
const OWN_HEADERS: &[&str] = &[
    "cookie",
    "x-usertoken",
    "authorization",
    "x-sn-apikey",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "accept-encoding",
    "user-agent",
];

/// Sends a request through the session (its cookies and CSRF token, or its token, key or
/// certificate; one fresh token on a `401`; renewals before expiry; safe retries) and hands
/// back the reply whatever its status, then saves what the session learned (cookies the
/// instance rotated reach the vault at once). Login required and refused credentials are
/// errors, as in [`snowbridge::session::Session::send_any`].
pub async fn send(connection: Arc<Connection>, request: Request) -> Result<Reply> {
    let mut call = Call::new(method(&request.method)?, request.url);
    let mut content_type = None;
    for (name, value) in request.headers {
        let lower = name.to_ascii_lowercase();
        if OWN_HEADERS.contains(&lower.as_str()) {
            continue;
        }
        if lower == "content-type" {
            content_type = Some(value);
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::usage(format!("{name:?} is not an HTTP header name")))?;
        let value = HeaderValue::from_str(&value).map_err(|_| {
            Error::usage(format!(
                "the header {name} holds characters that cannot go in an HTTP header"
            ))
        })?;
        call = call.header(name, value);
    }
    if let Some(body) = request.body {
        let content_type = content_type.unwrap_or_else(|| "application/octet-stream".into());
        call = call.body(Body::Bytes(body.into(), content_type));
    }
    let result = async {
        let response = connection.session().send_any(&call).await?;
        let status = response.status();
        let url = response.url().to_string();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect();
        let body = response.bytes().await.map_err(|e| {
            Error::new(
                ErrorKind::Unreachable,
                format!(
                    "{}: the reply was cut off: {e}",
                    connection.instance().base()
                ),
            )
        })?;
        Ok(Reply {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_owned(),
            url,
            headers,
            body: body.to_vec(),
        })
    }
    .await;
    connection.save().await?;
    result
}

/// What `records` reads.
pub struct RecordsQuery {
    /// The table.
    pub table: String,
    /// An encoded query.
    pub query: String,
    /// The fields (all when empty); `sys_id` is always included.
    pub fields: Vec<String>,
    /// At most this many.
    pub limit: Option<u64>,
    /// `false`, `true` or `all`.
    pub display_value: String,
    /// Records per request.
    pub page_size: usize,
}

/// Streams a table's records (the front door's `Stream`) from a task on the runtime into a
/// bounded channel of one page's size (the task waits while it is full): each record once, one
/// page read ahead at most, so memory stays bounded whatever the table holds. The task ends
/// when the table does, on the first error (sent as the last item), or when the receiver is
/// dropped; it saves the session as it ends.
pub fn records(
    runtime: &tokio::runtime::Runtime,
    connection: Arc<Connection>,
    asked: RecordsQuery,
) -> Result<mpsc::Receiver<Result<Record>>> {
    let display_value = match asked.display_value.as_str() {
        "false" => DisplayValue::False,
        "true" => DisplayValue::True,
        "all" => DisplayValue::All,
        other => {
            return Err(Error::usage(format!(
                "display_value {other:?} is not one of false, true, all"
            )));
        }
    };
    if !(1..=10_000).contains(&asked.page_size) {
        return Err(Error::usage(format!(
            "page_size {} is out of range: give 1 to 10000",
            asked.page_size
        )));
    }
    let (tx, rx) = mpsc::channel(asked.page_size);
    let mut query = Query::new(asked.query)
        .fields(
            asked
                .fields
                .iter()
                .map(|f| f.trim().to_owned())
                .filter(|f| !f.is_empty()),
        )
        .display_value(display_value)
        .page_size(asked.page_size);
    if let Some(limit) = asked.limit {
        query = query.limit(limit);
    }
    let table = asked.table;
    runtime.spawn(async move {
        let outcome = async {
            let mut records = connection.records(&table, query);
            while let Some(record) = records.try_next().await? {
                if tx.send(Ok(record)).await.is_err() {
                    // The caller stopped reading.
                    break;
                }
            }
            Ok(())
        }
        .await;
        let saved = connection.save().await;
        if let Err(e) = outcome.and(saved) {
            let _ = tx.send(Err(e)).await;
        }
    });
    Ok(rx)
}

/// One attached file.
pub struct AttachedFile {
    /// The local path as given.
    pub file: String,
    /// The attachment's sys_id.
    pub sys_id: String,
    /// Its name as the instance lists it.
    pub file_name: String,
}

/// What `attach` did.
pub struct AttachOutcome {
    /// The record's sys_id.
    pub sys_id: String,
    /// Which way the files went in: `rest` or `browser`.
    pub path: &'static str,
    /// Why the browser was used: the REST API's refusal.
    pub reason: Option<String>,
    /// Each file with its attachment, in the order given.
    pub attachments: Vec<AttachedFile>,
}

/// The path that did the work, and the refusal that sent it to the browser.
fn path_of(via: &snowbridge::Via) -> (&'static str, Option<String>) {
    match via {
        snowbridge::Via::Browser { refusal } => (via.as_str(), Some(refusal.clone())),
        other => (other.as_str(), None),
    }
}

/// Attaches `files` to `record` (a sys_id or a number) of `table`, through the front door:
/// the Attachment API first, the record form in the browser where the instance refuses it with
/// an ACL and its file allows the fallback. Every file is read before anything is sent.
pub async fn attach(
    connection: Arc<Connection>,
    table: &str,
    record: &str,
    files: Vec<PathBuf>,
) -> Result<AttachOutcome> {
    let report = connection.attach(table, record, &files).await?;
    let (path, reason) = path_of(&report.via);
    Ok(AttachOutcome {
        sys_id: report.sys_id,
        path,
        reason,
        attachments: report
            .attached
            .iter()
            .map(|a| AttachedFile {
                file: a.file.path.display().to_string(),
                sys_id: a.attachment.sys_id.clone(),
                file_name: a.attachment.file_name.clone(),
            })
            .collect(),
    })
}

/// What `resolve` did.
pub struct ResolveOutcome {
    /// The incident's number.
    pub number: Option<String>,
    /// Its sys_id.
    pub sys_id: String,
    /// Its state now (`6` Resolved, `7` Closed).
    pub state: Option<String>,
    /// Which way the change went (`rest` or `browser`); `None` when the incident already was
    /// where asked.
    pub path: Option<&'static str>,
    /// Why the browser was used: the REST API's refusal.
    pub reason: Option<String>,
    /// What was left as it stood, or not checked.
    pub remarks: Vec<String>,
}

/// Resolves (or closes) incident `record` through the front door, as `snowbridge resolve`
/// does: the code checked against the instance's own choices, never backwards, never a
/// resolution rewritten; REST first, the form's UI actions where an ACL refuses.
pub async fn resolve(
    connection: Arc<Connection>,
    record: &str,
    code: String,
    notes: String,
    close: bool,
) -> Result<ResolveOutcome> {
    let wanted = Resolution { code, notes, close };
    let done = connection.resolve(record, &wanted).await?;
    let (path, reason) = match &done.via {
        Some(via) => {
            let (path, reason) = path_of(via);
            (Some(path), reason)
        }
        None => (None, None),
    };
    Ok(ResolveOutcome {
        number: done.number.clone(),
        sys_id: done.sys_id.clone(),
        state: done.state.as_ref().map(|s| s.value().to_owned()),
        path,
        reason,
        remarks: done.remarks.clone(),
    })
}

/// What an error tells a caller, taken apart.
pub struct ErrorFacts {
    /// The kind's name (`login_required`, `forbidden`, `not_found`, ...).
    pub kind: &'static str,
    /// The CLI's exit code for it.
    pub exit_code: i32,
    /// The message.
    pub message: String,
    /// What to do next, in words.
    pub hint: Option<String>,
    /// For login required: the command a person runs to log in again.
    pub command: Option<String>,
    /// For a refusal: why (`acl`, `data_policy`, `scope`, `other`).
    pub refusal_kind: Option<&'static str>,
    /// For a refusal: the instance's own words.
    pub refusal: Option<String>,
    /// For a data-policy refusal: the mandatory fields it named.
    pub fields: Vec<String>,
}

/// Takes `e` apart for a caller; `instance` is the instance the call was for, when known.
pub fn error_facts(e: &Error, instance: Option<&str>) -> ErrorFacts {
    let kind = e.kind();
    let hint = e.advice_with(say);
    let command = (kind == ErrorKind::LoginRequired).then(|| {
        e.next_steps()
            .iter()
            .find_map(command_for)
            .or_else(|| instance.map(|name| format!("snowbridge connect {name} --login")))
            .unwrap_or_else(|| "snowbridge connect NAME --login".to_owned())
    });
    let (refusal_kind, fields) = match e.refusal() {
        Some(Refusal::Acl) => (Some("acl"), Vec::new()),
        Some(Refusal::DataPolicy(fields)) => (Some("data_policy"), fields.clone()),
        Some(Refusal::Scope) => (Some("scope"), Vec::new()),
        Some(Refusal::Other) => (Some("other"), Vec::new()),
        _ => (None, Vec::new()),
    };
    // The library writes a refusal as "NAME refused: <the instance's words>".
    let refusal = refusal_kind.map(|_| {
        e.message()
            .split_once(" refused: ")
            .map_or(e.message(), |(_, said)| said)
            .to_owned()
    });
    ErrorFacts {
        kind: kind.as_str(),
        exit_code: kind.exit_code(),
        message: e.message().to_owned(),
        hint,
        command,
        refusal_kind,
        refusal,
        fields,
    }
}

/// The command a person runs for `step`, where one does it.
fn command_for(step: &NextStep) -> Option<String> {
    match step {
        NextStep::LogIn { instance }
        | NextStep::LogInWithPrompts { instance }
        | NextStep::LogInWithWindow { instance } => {
            Some(format!("snowbridge connect {instance} --login"))
        }
        NextStep::Connect { instance } => Some(format!("snowbridge connect {instance}")),
        _ => None,
    }
}

/// A next step in the words of a Python caller: the command a person runs, or the call.
fn say(step: &NextStep) -> String {
    match step {
        NextStep::LogIn { instance } => format!(
            "log in again: run `snowbridge connect {instance} --login`, or call snowbridge.login({instance:?})"
        ),
        NextStep::LogInWithPrompts { instance } => {
            format!("run `snowbridge connect {instance} --login` at a terminal to type it")
        }
        NextStep::LogInWithWindow { instance } => format!(
            "log in with a window where a display is available: snowbridge.login({instance:?}, headless=False)"
        ),
        NextStep::Connect { instance } => format!("call snowbridge.connect({instance:?})"),
        NextStep::GiveSecret {
            instance,
            kind,
            keyring: true,
        } => {
            let store = match kind {
                snowbridge::secret::SecretKind::Password => {
                    format!("snowbridge password {instance}")
                }
                other => format!("snowbridge secret {instance} {other}"),
            };
            format!("store it with `{store}`, or set {} for the run", kind.env())
        }
        NextStep::NameUser { file, .. } => format!(
            "pass user=..., or add username = \"...\" to {}",
            file.display()
        ),
        NextStep::GiveOneTimeCode { .. } => {
            "pass the current code as mfa_code=..., or answer through one_time_code=".to_owned()
        }
        NextStep::AllowMoreTime => "try again with a longer timeout=".to_owned(),
        NextStep::RunHeadless => "pass headless=True".to_owned(),
        NextStep::UseResolutionCode {
            code,
            guessed: true,
        } => format!("did you mean code={code:?}?"),
        NextStep::UseResolutionCode { code, .. } => {
            format!("to accept it as it stands, pass code={code:?}")
        }
        NextStep::CheckSetup { instance } => format!("`snowbridge doctor {instance}` says more"),
        other => other.describe(),
    }
}

/// An error of the binding's own (bad arguments, a runtime that cannot start) in the library's
/// terms.
pub fn usage(message: impl Into<String>) -> Error {
    Error::usage(message)
}

/// An internal error in the library's terms.
pub fn internal(message: impl Into<String>) -> Error {
    Error::internal(message)
}
