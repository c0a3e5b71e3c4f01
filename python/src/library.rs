//! The adapter: everything the Python package takes from the snowbridge library goes through
//! this module, and nothing here knows Python. It speaks the library's public API of today
//! (`obtain`, `session`, `api`, `fallback`, as the CLI uses them); when the library's front door
//! (`Snowbridge`, issue 11) lands, this module switches to it and the rest of the crate stays as
//! it is.
//!
//! Until then two blocks here follow the CLI's `attach` and `resolve` (the REST-then-browser
//! policy of the instance file), because the library does not offer that policy yet: they go
//! when the front door's `attach`/`resolve` do the same.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
pub use snowbridge::Result;
pub use snowbridge::api::Record;
use snowbridge::api::attachment::{Attached, LocalFile};
use snowbridge::api::incident::{self, CloseCodes, Incident, Plan, Resolution};
use snowbridge::api::{Attachments, DisplayValue, Query, Table};
use snowbridge::browser::Options;
use snowbridge::fallback::{self, FallbackOptions};
use snowbridge::instance::{AuthMethod, Catalog, Fallback, Instance};
use snowbridge::obtain::login::{LoginOptions, Person};
use snowbridge::obtain::{self, Connected, Given, password};
use snowbridge::paths::Dirs;
use snowbridge::secret::Secret;
use snowbridge::session::{Body, Call, Session};
use snowbridge::vault::Vault;
use snowbridge::{Error, ErrorKind, Refusal};
use time::OffsetDateTime;
use tokio::sync::mpsc;

pub use snowbridge::Error as LibraryError;

/// How long one page of the browser fallback may take, as the CLI allows.
const FALLBACK_PAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// The folders, the instance files and the vault, found as the CLI finds them
/// (`SNOWBRIDGE_CONFIG_DIR`, `SNOWBRIDGE_DATA_DIR`, else the platform's folders).
struct Home {
    dirs: Dirs,
    vault: Arc<Vault>,
}

impl Home {
    fn from_env(notice: fn(&str)) -> Result<Home> {
        let dirs = Dirs::from_env()?;
        let vault = Arc::new(Vault::new(&dirs).on_notice(notice));
        Ok(Home { dirs, vault })
    }

    fn instance(&self, name: &str) -> Result<Instance> {
        Catalog::load(&self.dirs)?.get(name)
    }
}

/// A session of one instance, with what a caller needs besides it.
pub struct Handle {
    /// The HTTP session (shared with record streams running on the runtime).
    pub session: Arc<Session>,
    /// Where failed browser actions leave their screenshots.
    diagnostics: PathBuf,
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

/// `snowbridge connect NAME`: the stored session, validated; else the other sources the
/// instance file allows. Never prompts, never opens a browser. Also says how, in words.
pub async fn connect(name: &str, notice: fn(&str)) -> Result<(Handle, String)> {
    let home = Home::from_env(notice)?;
    let instance = home.instance(name)?;
    let (session, how) = obtain::connect(&instance, home.vault.clone()).await?;
    session.save()?;
    let how = match how {
        Connected::Stored { checked: true } => "stored session, checked with the instance".into(),
        Connected::Stored { checked: false } => {
            "stored session, validated within the window".into()
        }
        Connected::Imported(report) => format!("imported from Chrome: {report}"),
        Connected::Credentials(how) => how,
    };
    Ok((handle(&home, session), how))
}

/// The caller's hooks for a login with a person: a line to show, a one-time code to ask for.
pub trait Asker: Send + Sync + 'static {
    /// Shows `line` to the person.
    fn tell(&self, line: &str);
    /// The one-time code of `user` on `instance`, or `None`.
    fn one_time_code(&self, user: &str, instance: &str) -> Option<String>;
}

struct AskerPerson(Box<dyn Asker>);

impl Person for AskerPerson {
    fn tell(&self, line: &str) {
        self.0.tell(line);
    }

    fn one_time_code(&self, user: &str, instance: &str) -> Option<Secret> {
        self.0
            .one_time_code(user, instance)
            .filter(|c| !c.is_empty())
            .map(Secret::from)
    }
}

/// How to drive the browser, where one is used.
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
    fn options(&self, profile_dir: PathBuf) -> Options {
        Options {
            chromedriver: self.chromedriver.clone(),
            chrome: self.chrome.clone(),
            headless: self.headless,
            ..Options::new(profile_dir)
        }
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

/// `snowbridge connect NAME --login`: the browser login for `auth = "browser"` (filled in with
/// the password from `SNOWBRIDGE_PASSWORD` or the OS keyring where one is at hand, else a
/// person at the window), the authorization in the browser for `oauth-pkce`, and for the other
/// methods their grant with the secrets at hand (nobody is asked for them here).
pub async fn login(name: &str, request: LoginRequest, notice: fn(&str)) -> Result<Handle> {
    let home = Home::from_env(notice)?;
    let instance = home.instance(name)?;
    if !matches!(instance.auth, AuthMethod::Browser | AuthMethod::OauthPkce) {
        let (session, _) = obtain::sign_in(&instance, home.vault.clone(), Given::default()).await?;
        return Ok(handle(&home, session));
    }
    let browser = request
        .browser
        .options(home.dirs.login_profile(&instance.name));
    let user = request.user.clone().or(instance.username.clone());
    let headless = browser.runs_headless();
    let credentials = match &user {
        Some(user) => match password::find(&instance.name, user) {
            Ok((secret, _)) => Some((user.clone(), secret)),
            Err(missing) if headless => {
                return Err(Error::new(
                    ErrorKind::LoginRequired,
                    format!(
                        "a login without a window fills in the login form itself and needs the password of {user} on {name}, which is not at hand: {missing}; no browser was started"
                    ),
                )
                .with_hint(format!(
                    "give it for this run with {env}=..., store it with `snowbridge password {name}`, or log in with a window (headless=False)",
                    env = password::ENV
                )));
            }
            // A window: the person types it there.
            Err(_) => None,
        },
        None if headless => {
            return Err(Error::new(
                ErrorKind::LoginRequired,
                "a login without a window needs a user name and its password to fill in the login form, and no user name is given",
            )
            .with_hint(format!(
                "pass user=..., or add username = \"...\" to {}; then store the password with `snowbridge password {name}`, or set {}",
                instance.source.display(),
                password::ENV
            )));
        }
        None => None,
    };
    let options = LoginOptions {
        browser,
        credentials,
        mfa_code: request.mfa_code.map(Secret::from),
        remember_me: request.remember_me,
        timeout: request.timeout,
        person: Box::new(AskerPerson(request.asker)),
        diagnostics: home.dirs.diagnostics(),
    };
    let session = if instance.auth == AuthMethod::OauthPkce {
        obtain::pkce::authorize(&instance, home.vault.clone(), options).await?
    } else {
        obtain::login::login(&instance, home.vault.clone(), options).await?
    };
    Ok(handle(&home, session))
}

fn handle(home: &Home, session: Session) -> Handle {
    Handle {
        session: Arc::new(session),
        diagnostics: home.dirs.diagnostics(),
    }
}

/// The facts of `handle`'s session.
pub fn facts(handle: &Handle) -> Facts {
    let session = &handle.session;
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
pub fn save(handle: &Handle) -> Result<()> {
    handle.session.save()
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
    session: Arc<Session>,
    method_name: &str,
    target: &str,
    json: Option<serde_json::Value>,
) -> Result<Option<serde_json::Value>> {
    let mut call = Call::new(method(method_name)?, target);
    if let Some(json) = json {
        call = call.body(Body::Json(json));
    }
    let result = async {
        let response = session.send(&call).await?;
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
                    session.instance().base()
                ),
            )
        })
    }
    .await;
    session.save()?;
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
/// errors, as in [`Session::send_any`].
pub async fn send(session: Arc<Session>, request: Request) -> Result<Reply> {
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
        let response = session.send_any(&call).await?;
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
                format!("{}: the reply was cut off: {e}", session.instance().base()),
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
    session.save()?;
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

/// How many records wait between the task reading pages and the caller taking them: one page
/// is read ahead at most, so memory stays bounded whatever the table holds.
fn channel_capacity(page_size: usize) -> usize {
    page_size.clamp(1, 10_000)
}

/// Streams a table's records from a task on the runtime into a bounded channel (the task
/// waits while the channel is full): each record once, paging as the library pages, one page
/// ahead at most. The task ends when the table does, on the first error (sent as the last
/// item), or when the receiver is dropped; it saves the session as it ends.
pub fn records(
    runtime: &tokio::runtime::Runtime,
    session: Arc<Session>,
    query: RecordsQuery,
) -> Result<mpsc::Receiver<Result<Record>>> {
    let display_value = match query.display_value.as_str() {
        "false" => DisplayValue::False,
        "true" => DisplayValue::True,
        "all" => DisplayValue::All,
        other => {
            return Err(Error::usage(format!(
                "display_value {other:?} is not one of false, true, all"
            )));
        }
    };
    if !(1..=10_000).contains(&query.page_size) {
        return Err(Error::usage(format!(
            "page_size {} is out of range: give 1 to 10000",
            query.page_size
        )));
    }
    let (tx, rx) = mpsc::channel(channel_capacity(query.page_size));
    let library_query = Query {
        query: query.query,
        fields: query
            .fields
            .iter()
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect(),
        display_value,
        exclude_reference_link: true,
        limit: query.limit,
        page_size: query.page_size,
    };
    let table = query.table;
    runtime.spawn(async move {
        let outcome = async {
            let table = Table::new(&session, &table);
            let mut pages = table.pages(library_query);
            while let Some(rows) = pages.next().await? {
                for row in rows {
                    if tx.send(Ok(row)).await.is_err() {
                        // The caller stopped reading.
                        return Ok(());
                    }
                }
            }
            Ok(())
        }
        .await;
        let saved = session.save();
        if let Err(e) = outcome.and(saved) {
            let _ = tx.send(Err(e)).await;
        }
    });
    Ok(rx)
}

/// Which way the work was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// The REST API.
    Rest,
    /// The browser, on the record's form.
    Browser,
}

impl Path {
    /// `rest` or `browser`.
    pub fn as_str(self) -> &'static str {
        match self {
            Path::Rest => "rest",
            Path::Browser => "browser",
        }
    }
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
    /// Which way the files went in.
    pub path: Path,
    /// Why the browser was used: the REST API's refusal.
    pub reason: Option<String>,
    /// Each file with its attachment, in the order given.
    pub attachments: Vec<AttachedFile>,
}

/// May this refusal be worked around through the UI? An ACL (or an unexplained refusal), never
/// a data policy or a scope.
fn ui_can_help(e: &Error) -> bool {
    e.kind() == ErrorKind::Forbidden && matches!(e.refusal(), Some(Refusal::Acl | Refusal::Other))
}

fn fallback_options(
    diagnostics: &std::path::Path,
    browser: &BrowserChoice,
) -> Result<(FallbackOptions, tempfile::TempDir)> {
    let profile = tempfile::Builder::new()
        .prefix("snowbridge-fallback-")
        .tempdir()
        .map_err(|e| Error::internal(format!("cannot make a browser profile folder: {e}")))?;
    let options = FallbackOptions {
        browser: browser.options(profile.path().to_path_buf()),
        diagnostics: diagnostics.to_path_buf(),
        timeout: FALLBACK_PAGE_TIMEOUT,
    };
    Ok((options, profile))
}

/// Attaches `files` to `record` (a sys_id or a number) of `table`: the Attachment API first;
/// where the instance refuses it with an ACL and the instance file says `fallback = "auto"`,
/// the record form's attachment dialog in the browser. Every file is read (and hashed) before
/// anything is sent. Each upload is judged by what the record holds (so a lost reply is not
/// attached twice). On an error, the files attached before it are named.
pub async fn attach(
    handle: &Handle,
    table: &str,
    record: &str,
    files: Vec<PathBuf>,
    browser: &BrowserChoice,
) -> Result<AttachOutcome> {
    let session = &handle.session;
    let mut local = Vec::with_capacity(files.len());
    for path in &files {
        local.push(LocalFile::read(path).await?);
    }
    let mut attached = Vec::new();
    let result = attach_files(handle, table, record, &local, browser, &mut attached).await;
    let saved = session.save();
    let (sys_id, path, reason) = result.map_err(|e| partial(e, &local, &attached))?;
    saved?;
    Ok(AttachOutcome {
        sys_id,
        path,
        reason,
        attachments: attached
            .iter()
            .map(|a| AttachedFile {
                file: a.file.path.display().to_string(),
                sys_id: a.attachment.sys_id.clone(),
                file_name: a.attachment.file_name.clone(),
            })
            .collect(),
    })
}

/// `e`, naming the files attached before it and those not tried.
fn partial(e: Error, files: &[LocalFile], attached: &[Attached]) -> Error {
    if files.len() < 2 {
        return e;
    }
    let names = |files: &mut dyn Iterator<Item = &LocalFile>| {
        files
            .map(|f| format!("{:?}", f.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let done = names(&mut attached.iter().map(|a| &a.file));
    let left = names(&mut files.iter().skip(attached.len() + 1));
    let mut note = match files.get(attached.len()) {
        Some(failed) => format!("failed on {:?}", failed.name),
        None => String::new(),
    };
    note.push_str(&format!(
        "; attached before it: {}",
        if done.is_empty() { "none" } else { &done }
    ));
    if !left.is_empty() {
        note.push_str(&format!("; not tried: {left}"));
    }
    e.with_note(&note)
}

async fn attach_files(
    handle: &Handle,
    table: &str,
    record: &str,
    files: &[LocalFile],
    browser: &BrowserChoice,
    attached: &mut Vec<Attached>,
) -> Result<(String, Path, Option<String>)> {
    let session = &handle.session;
    let instance = session.instance();
    let found = incident::find(session, table, record).await?;
    let sys_id = found
        .sys_id()
        .ok_or_else(|| Error::new(ErrorKind::Instance, "the record came back without a sys_id"))?
        .to_owned();
    let api = Attachments::new(session);
    // What the record holds before: an upload whose reply is lost is judged against it.
    let mut held = match api.held(table, &sys_id).await {
        Ok(held) => held,
        Err(e) if e.is_login_required() => return Err(e),
        Err(_) => None,
    };
    for (i, file) in files.iter().enumerate() {
        match api.upload_judged(table, &sys_id, file, &mut held).await {
            Ok(attachment) => attached.push(Attached {
                file: file.clone(),
                attachment,
            }),
            Err(e) if ui_can_help(&e) && instance.fallback == Fallback::Auto => {
                let (options, _profile) = fallback_options(&handle.diagnostics, browser)?;
                fallback::attach(session, table, &sys_id, &files[i..], &options, attached).await?;
                return Ok((sys_id, Path::Browser, Some(e.message().to_owned())));
            }
            Err(e) if ui_can_help(&e) => {
                return Err(e.with_hint(
                    "the instance file says fallback = \"never\"; set it to \"auto\" to let the browser attach files",
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Ok((sys_id, Path::Rest, None))
}

/// What `resolve` did.
pub struct ResolveOutcome {
    /// The incident's number.
    pub number: Option<String>,
    /// Its sys_id.
    pub sys_id: String,
    /// Its state now (`6` Resolved, `7` Closed).
    pub state: Option<String>,
    /// Which way the change went; `None` when the incident already was where asked.
    pub path: Option<Path>,
    /// Why the browser was used: the REST API's refusal.
    pub reason: Option<String>,
    /// What was left as it stood, or not checked.
    pub remarks: Vec<String>,
}

/// Resolves (or closes) incident `record` with `code` and `notes`, as `snowbridge resolve`
/// does: the code checked against the instance's own choices before anything is sent, never
/// backwards, never a resolution rewritten; the Table API first, and where an ACL refuses the
/// state change and the instance file allows it, the form's UI actions in the browser.
pub async fn resolve(
    handle: &Handle,
    record: &str,
    code: &str,
    notes: &str,
    close: bool,
    browser: &BrowserChoice,
) -> Result<ResolveOutcome> {
    let result = resolve_incident(handle, record, code, notes, close, browser).await;
    let saved = handle.session.save();
    let outcome = result?;
    saved?;
    Ok(outcome)
}

async fn resolve_incident(
    handle: &Handle,
    record: &str,
    code: &str,
    notes: &str,
    close: bool,
    browser: &BrowserChoice,
) -> Result<ResolveOutcome> {
    let session = &handle.session;
    let instance = session.instance();
    let found = incident::find(session, "incident", record).await?;
    let found = Incident::from_record(&found)?;
    let mut remarks = Vec::new();
    let mut code = code.to_owned();
    if code != found.close_code {
        match incident::close_codes(session, &found.sys_id).await {
            CloseCodes::Known { choices, source } => {
                code = incident::check_code(&instance.name, &code, &choices, source)?
                    .value
                    .clone();
            }
            CloseCodes::Unknown(why) => remarks.push(format!(
                "the resolution code was not checked before sending: {why}; the instance judges it"
            )),
        }
    }
    let wanted = Resolution {
        code: &code,
        notes,
        close,
    };
    let plan = incident::plan(&found, &wanted)?;
    let writes = matches!(plan, Plan::Change(change) if change.writes_resolution());
    if !writes && notes != found.close_notes {
        remarks.push(format!(
            "{} keeps the resolution notes it has; the notes given differ and were not written",
            found.name()
        ));
    }
    let outcome = |state: Option<&str>, path: Option<Path>, reason| ResolveOutcome {
        number: found.number.clone(),
        sys_id: found.sys_id.clone(),
        state: state.map(str::to_owned),
        path,
        reason,
        remarks: remarks.clone(),
    };
    let change = match plan {
        Plan::Unchanged => return Ok(outcome(Some(&found.state), None, None)),
        Plan::Change(change) => change,
    };
    match incident::apply(session, &found.sys_id, change, &code, notes).await {
        Ok(updated) => Ok(outcome(updated.field("state"), Some(Path::Rest), None)),
        Err(e) if ui_can_help(&e) && instance.fallback == Fallback::Auto => {
            let (options, _profile) = fallback_options(&handle.diagnostics, browser)?;
            let updated = fallback::resolve(session, &found, change, &code, notes, &options).await?;
            Ok(outcome(
                updated.field("state"),
                Some(Path::Browser),
                Some(e.message().to_owned()),
            ))
        }
        Err(e) if ui_can_help(&e) => Err(e.with_hint(
            "the instance file says fallback = \"never\"; set it to \"auto\" to let the browser use the form's UI action",
        )),
        Err(e) => Err(e),
    }
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
    let hint = e.hint().map(str::to_owned);
    let command = (kind == ErrorKind::LoginRequired).then(|| {
        // The library's hint names the command to run in backticks (`snowbridge connect dev
        // --login`, `snowbridge password dev`); without one, the login is the way.
        hint.as_deref()
            .and_then(|h| h.split('`').nth(1))
            .filter(|c| c.starts_with("snowbridge "))
            .map(str::to_owned)
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

/// An error of the binding's own (bad arguments, a runtime that cannot start) in the library's
/// terms.
pub fn usage(message: impl Into<String>) -> Error {
    Error::usage(message)
}

/// An internal error in the library's terms.
pub fn internal(message: impl Into<String>) -> Error {
    Error::internal(message)
}
