//! Stage 3: using a session. An HTTP client over the vault's cookies that speaks to one instance.
//!
//! It sends the CSRF token on REST calls and takes a fresh one when the instance offers it; it
//! never follows redirects blindly, so a bounce to the login page reads as "expired", not as a
//! 200; an HTML page where an API path owes JSON is never success (a login page is login required,
//! a hibernating instance and any other page are errors that say so: [`page`]); it retries what
//! is safe to retry (429 after `Retry-After`, 5xx and resets on idempotent calls); and it merges
//! the cookies the instance rotates back into the vault under the lock, so the next process
//! starts from them. Sessions of the other ways in authenticate each request as their method
//! says ([`Auth`]): Basic, an API key, a Bearer token renewed shortly before it expires (and once
//! more on a `401`, the renewing call carrying the new token; concurrent calls share one
//! renewal), or a client certificate. It knows HTTP and the session's life; the shapes of the
//! ServiceNow APIs live in [`crate::api`].

mod auth;
pub(crate) mod envelope;
mod jar;
pub mod page;
pub mod probe;
mod validate;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, ResponseBuilderExt as _, StatusCode};
use time::OffsetDateTime;

pub use auth::{Auth, Certificate, Renew, Renewal, due, renewal_margin};
pub use jar::Jar;
pub use validate::Validity;

use crate::error::{Error, ErrorKind, Result};
use crate::instance::Instance;
use crate::secret::Secret;
use crate::vault::{SessionRecord, Stored, Tokens, Vault};

/// The User-Agent sent when no browser's was recorded.
pub const DEFAULT_USER_AGENT: &str = concat!("snowbridge/", env!("CARGO_PKG_VERSION"));

/// How often and how long to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries of an idempotent call after a 5xx or a dropped connection.
    pub transient: u32,
    /// Retries after a 429.
    pub rate_limited: u32,
    /// The longest `Retry-After` honoured; longer waits fail with the instance's message.
    pub max_wait: Duration,
    /// The first backoff pause; doubled each time.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            transient: 3,
            rate_limited: 5,
            max_wait: Duration::from_secs(120),
            backoff: Duration::from_millis(200),
        }
    }
}

/// A request body that can be sent again on a retry.
#[derive(Debug, Clone)]
pub enum Body {
    /// No body.
    Empty,
    /// JSON.
    Json(serde_json::Value),
    /// Bytes with their content type.
    Bytes(bytes::Bytes, String),
    /// A file streamed from disk with its content type.
    File(PathBuf, String),
}

/// One request to the instance, described so it can be rebuilt for a retry.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method.
    pub method: Method,
    /// Path and query on the instance (`/api/now/table/incident?sysparm_limit=1`), or an absolute
    /// URL on the instance (as `Link` headers give).
    pub target: String,
    /// Extra headers.
    pub headers: Vec<(reqwest::header::HeaderName, HeaderValue)>,
    /// The body.
    pub body: Body,
}

impl Call {
    /// A call with no body.
    pub fn new(method: Method, target: impl Into<String>) -> Call {
        Call {
            method,
            target: target.into(),
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    /// A GET.
    pub fn get(target: impl Into<String>) -> Call {
        Call::new(Method::GET, target)
    }

    /// Sets the body.
    pub fn body(mut self, body: Body) -> Call {
        self.body = body;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: reqwest::header::HeaderName, value: HeaderValue) -> Call {
        self.headers.push((name, value));
        self
    }

    fn idempotent(&self) -> bool {
        matches!(
            self.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        )
    }
}

/// Which replies [`Session::send_for`] hands back rather than turning into errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replies {
    /// 2xx only.
    Success,
    /// Any status, once the session's own handling is done.
    Any,
}

/// What this process learned about the session, merged into the vault on [`Session::save`].
#[derive(Debug, Default)]
struct Learned {
    token: Option<Secret>,
    validated_at: Option<OffsetDateTime>,
    dead_at: Option<OffsetDateTime>,
    /// How many times any of the above changed; only ever grows.
    changes: u64,
}

/// A count of the changes a session has taken: the jar's and what it learned. The session is
/// dirty while the current count is ahead of the one last written to the vault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Changes {
    jar: u64,
    learned: u64,
}

/// An authenticated HTTP session with one instance.
pub struct Session {
    instance: Instance,
    vault: Arc<Vault>,
    client: reqwest::Client,
    jar: Arc<Jar>,
    base: SessionRecord,
    learned: Mutex<Learned>,
    retry: RetryPolicy,
    /// The changes already in the vault: those the record came with, then each save's.
    written: Mutex<Changes>,
    /// Ended on the instance: nothing of it is worth keeping.
    ended: AtomicBool,
    /// How requests authenticate.
    auth: Auth,
    /// A Bearer session's tokens as they stand now.
    tokens: Mutex<Option<Tokens>>,
    /// Held while a Bearer token is renewed: concurrent calls wait for the one renewal.
    renewing: tokio::sync::Mutex<()>,
    /// The instance has answered `429` or sent `Retry-After`: readers stop fetching ahead.
    rate_limited: AtomicBool,
    /// Opened over a stored file that cannot be read: once the instance has accepted this
    /// session, saving it replaces that file.
    replaces_unreadable: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("instance", &self.instance.name)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Opens the session of `instance`. A browser session must be stored (login required when
    /// there is none, or when its file cannot be read); the other methods start from what is
    /// stored, or from nothing (a token method then runs its grant on the first call, when its
    /// secrets are at hand). For those, a stored file that cannot be read is passed over with a
    /// notice, and the new session replaces it once the instance has accepted it.
    pub fn open(instance: &Instance, vault: Arc<Vault>) -> Result<Session> {
        let by_itself = instance.auth != crate::instance::AuthMethod::Browser;
        match vault.inspect(&instance.name)? {
            Stored::Session(record) => Session::from_record(instance, vault, *record),
            Stored::Nothing if by_itself => {
                let record = crate::obtain::fresh_record(instance);
                Session::from_record(instance, vault, record)
            }
            Stored::Unreadable(why) if by_itself => {
                crate::obtain::passing_over(&why);
                let record = crate::obtain::fresh_record(instance);
                let mut session = Session::from_record(instance, vault, record)?;
                session.replaces_unreadable = true;
                Ok(session)
            }
            Stored::Nothing => Err(Error::login_required(
                &instance.name,
                format!("no stored session for {}", instance.name),
            )),
            Stored::Unreadable(why) => Err(why),
        }
    }

    /// A session over `record` (which the caller has stored, or will). It starts clean: only
    /// what changes from here on is saved. It authenticates as the instance file's `auth`
    /// says, with the secrets at hand without a person ([`crate::obtain::auth_for`]).
    pub fn from_record(
        instance: &Instance,
        vault: Arc<Vault>,
        record: SessionRecord,
    ) -> Result<Session> {
        let auth = crate::obtain::auth_for(instance, &crate::obtain::Given::default())?;
        Session::with_auth(instance, vault, record, auth)
    }

    /// A session over `record` that authenticates with `auth`.
    pub fn with_auth(
        instance: &Instance,
        vault: Arc<Vault>,
        mut record: SessionRecord,
        auth: Auth,
    ) -> Result<Session> {
        record.prune_expired(OffsetDateTime::now_utc());
        let jar = Arc::new(Jar::from_kept(&record.cookies));
        let identity = match &auth {
            Auth::Certificate(c) => Some(c.identity.clone()),
            _ => None,
        };
        let client = http_client(
            instance,
            record.user_agent.as_deref(),
            jar.clone(),
            identity,
        )?;
        let learned = Learned {
            token: record.user_token.clone(),
            ..Learned::default()
        };
        let tokens = Mutex::new(record.tokens.clone());
        Ok(Session {
            instance: instance.clone(),
            vault,
            client,
            jar,
            base: record,
            learned: Mutex::new(learned),
            retry: RetryPolicy::default(),
            written: Mutex::new(Changes::default()),
            ended: AtomicBool::new(false),
            auth,
            tokens,
            renewing: tokio::sync::Mutex::new(()),
            rate_limited: AtomicBool::new(false),
            replaces_unreadable: false,
        })
    }

    /// How this session authenticates.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// A Bearer session's tokens as they stand now (renewals included).
    pub fn tokens(&self) -> Option<Tokens> {
        lock(&self.tokens).clone()
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Session {
        self.retry = retry;
        self
    }

    /// True once the instance has rate-limited this session (a `429`, or any reply with
    /// `Retry-After`): callers that fetch pages ahead then fetch one at a time.
    pub fn rate_limited(&self) -> bool {
        self.rate_limited.load(Ordering::Relaxed)
    }

    /// The instance.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// The record this session started from.
    pub fn record(&self) -> &SessionRecord {
        &self.base
    }

    /// The cookies as they stand now (rotations included).
    pub fn cookies(&self) -> Vec<crate::cookie::Cookie> {
        self.jar.kept().into_iter().map(|k| k.cookie).collect()
    }

    /// Takes in cookies a browser holding this session rotated; saved with the rest.
    pub fn absorb(&self, cookies: &[crate::cookie::Cookie]) {
        self.jar.absorb(cookies);
    }

    /// The CSRF token as it stands now.
    pub fn user_token(&self) -> Option<Secret> {
        lock(&self.learned).token.clone()
    }

    /// The User-Agent this session sends.
    pub fn user_agent(&self) -> &str {
        self.base
            .user_agent
            .as_deref()
            .unwrap_or(DEFAULT_USER_AGENT)
    }

    /// When an authenticated call last succeeded (this process or an earlier one).
    pub fn last_validated(&self) -> Option<OffsetDateTime> {
        lock(&self.learned)
            .validated_at
            .or(self.base.last_validated)
    }

    /// The URL a call's target names: an absolute URL, or a path on the instance. Either way it
    /// must land on the instance's origin: a path such as `//host/...` or `/\host/...` is, to a
    /// URL parser, a reference to another host, and the session's cookies, token and headers must
    /// never go there.
    fn url_for(&self, target: &str) -> Result<url::Url> {
        let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
        let url = if lower.starts_with("http://") || lower.starts_with("https://") {
            url::Url::parse(target)
                .map_err(|e| Error::usage(format!("{target:?} is not a URL: {e}")))?
        } else {
            let path = if target.starts_with('/') {
                target.to_owned()
            } else {
                format!("/{target}")
            };
            self.instance.join(&path)?
        };
        if url.origin() != self.instance.url.origin() {
            return Err(Error::usage(format!(
                "{target} is not on {}: snowbridge sends the session to its own instance only",
                self.instance.base()
            )));
        }
        Ok(url)
    }

    async fn build(
        &self,
        call: &Call,
        url: &url::Url,
        bearer: Option<&Secret>,
    ) -> Result<reqwest::Request> {
        let mut req = self
            .client
            .request(call.method.clone(), url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in &call.headers {
            req = req.header(name, value);
        }
        match &self.auth {
            Auth::Cookies => {
                if let Some(token) = lock(&self.learned).token.as_ref() {
                    req = req.header("X-UserToken", sensitive(token.expose())?);
                }
            }
            Auth::Basic { user, password } => {
                req = req.basic_auth(user, Some(password.expose()));
            }
            Auth::ApiKey(key) => req = req.header("x-sn-apikey", sensitive(key.expose())?),
            Auth::Bearer(_) => {
                if let Some(token) = bearer {
                    let value = sensitive(&format!("Bearer {}", token.expose()))?;
                    req = req.header(reqwest::header::AUTHORIZATION, value);
                }
            }
            // Presented in the TLS handshake by the client itself.
            Auth::Certificate(_) => {}
        }
        req = match &call.body {
            Body::Empty => req,
            Body::Json(value) => req.json(value),
            Body::Bytes(bytes, content_type) => req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes.clone()),
            Body::File(path, content_type) => {
                let file = tokio::fs::File::open(path).await.map_err(|e| {
                    Error::bad_input(format!("cannot read {}: {e}", path.display()))
                })?;
                let len = file.metadata().await.map(|m| m.len()).ok();
                let stream = tokio_util::io::ReaderStream::new(file);
                let mut req = req
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(reqwest::Body::wrap_stream(stream));
                if let Some(len) = len {
                    req = req.header(reqwest::header::CONTENT_LENGTH, len);
                }
                req
            }
        };
        req.build()
            .map_err(|e| Error::internal(format!("cannot build the request: {e}")))
    }

    /// Sends `call`, handling the token, expiry, rate limits and safe retries. Returns the
    /// response of a successful (2xx) call; every failure is an [`Error`] of the right kind.
    pub async fn send(&self, call: &Call) -> Result<reqwest::Response> {
        self.send_for(call, Replies::Success).await
    }

    /// Sends `call` as [`Session::send`] does (the CSRF token and its one retry on a `401`,
    /// Bearer renewals, rate limits, safe retries, rotated cookies kept), but hands back the
    /// instance's reply whatever its status once those are done: a `404`, a `403` with its
    /// envelope, a `429` past the retries, a redirect that is no login bounce. For callers
    /// that judge replies themselves (an HTTP client library handed the session, such as
    /// Python's `requests`). Still errors: what no reply can show to such a caller as it
    /// is (login required: a dead session, a bounce to the login page, a login page where an
    /// API owes JSON; refused credentials), transport failures and a bad target.
    pub async fn send_any(&self, call: &Call) -> Result<reqwest::Response> {
        self.send_for(call, Replies::Any).await
    }

    async fn send_for(&self, call: &Call, replies: Replies) -> Result<reqwest::Response> {
        let url = self.url_for(&call.target)?;
        let mut token_retried = false;
        let mut bearer_renewed = false;
        let mut transient = 0u32;
        let mut limited = 0u32;
        let mut rejected: Option<Secret> = None;
        loop {
            let bearer = match &self.auth {
                Auth::Bearer(renew) => Some(self.bearer(renew.as_ref(), rejected.take()).await?),
                _ => None,
            };
            let request = self.build(call, &url, bearer.as_ref()).await?;
            tracing::debug!(method = %call.method, path = url.path(), "request");
            let mut response = match self.client.execute(request).await {
                Ok(response) => response,
                Err(e)
                    if call.idempotent() && transient < self.retry.transient && retryable(&e) =>
                {
                    transient += 1;
                    tracing::info!(attempt = transient, error = %e, "retrying after a transport error");
                    self.backoff(transient).await;
                    continue;
                }
                Err(e) => return Err(transport_error(&self.instance, &e)),
            };
            let status = response.status();
            tracing::debug!(status = status.as_u16(), "response");
            if status == StatusCode::TOO_MANY_REQUESTS
                || response
                    .headers()
                    .contains_key(reqwest::header::RETRY_AFTER)
            {
                self.rate_limited.store(true, Ordering::Relaxed);
            }

            if status == StatusCode::UNAUTHORIZED && !bearer_renewed && bearer.is_some() {
                // The instance may end a token before its time (revoked, restarted): one renewal,
                // and the call goes again with the new token.
                tracing::info!("the instance refused the access token; renewing it once");
                bearer_renewed = true;
                rejected = bearer;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED && !matches!(self.auth, Auth::Cookies) {
                let said = envelope::message_of(response).await;
                self.mark_dead();
                return Err(self.credentials_refused(&said));
            }
            if status == StatusCode::BAD_REQUEST
                && let Auth::Certificate(certificate) = &self.auth
                && is_page(response.headers())
            {
                let text = response.text().await.unwrap_or_default();
                if text.contains("The SSL certificate error") {
                    return Err(untrusted_certificate(&self.instance, certificate));
                }
                return Err(envelope::error_for(
                    &self.instance,
                    status,
                    &HeaderMap::new(),
                    text.as_bytes(),
                ));
            }
            if status == StatusCode::UNAUTHORIZED {
                let logged_in = header(response.headers(), "x-is-logged-in")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                let fresh = header(response.headers(), "x-usertoken-response").map(Secret::new);
                if logged_in
                    && !token_retried
                    && let Some(fresh) = fresh
                {
                    tracing::debug!("the instance offered a fresh token; retrying once");
                    self.learn(|l| l.token = Some(fresh));
                    token_retried = true;
                    continue;
                }
                let detail = envelope::message_of(response).await;
                self.mark_dead();
                return Err(Error::login_required(
                    &self.instance.name,
                    format!(
                        "the session for {} is no longer valid (the instance said: {detail})",
                        self.instance.name
                    ),
                ));
            }
            if status.is_redirection() {
                let location = header(response.headers(), "location").unwrap_or_default();
                if is_login_bounce(&location) {
                    self.mark_dead();
                    return Err(Error::login_required(
                        &self.instance.name,
                        format!(
                            "the session for {} has expired (the instance redirected to {})",
                            self.instance.name,
                            location.split('?').next().unwrap_or_default()
                        ),
                    ));
                }
                if replies == Replies::Any {
                    return Ok(response);
                }
                return Err(Error::new(
                    ErrorKind::Instance,
                    format!(
                        "{} {} was redirected to {location}",
                        call.method,
                        url.path()
                    ),
                ));
            }
            if status == StatusCode::TOO_MANY_REQUESTS && limited < self.retry.rate_limited {
                let wait = retry_after(response.headers()).unwrap_or(Duration::from_secs(1));
                if wait <= self.retry.max_wait {
                    limited += 1;
                    tracing::info!(
                        seconds = wait.as_secs_f64(),
                        "rate limited; waiting as the instance asks"
                    );
                    // The instance names the time to wait; there is no condition to watch instead.
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            if status.is_server_error() && call.idempotent() && transient < self.retry.transient {
                transient += 1;
                tracing::info!(
                    status = status.as_u16(),
                    attempt = transient,
                    "retrying after a server error"
                );
                self.backoff(transient).await;
                continue;
            }
            if !status.is_success() && replies == Replies::Any {
                return Ok(response);
            }
            if !status.is_success() {
                let e = envelope::error_from_response(&self.instance, response).await;
                return Err(name_the_operation(e, &call.method, url.path()));
            }
            if expects_json(&url) && is_page(response.headers()) {
                let text = response.text().await.unwrap_or_default();
                return Err(self.page_error(&url, &text));
            }
            if expects_json(&url) && !is_json_or_bytes(response.headers()) {
                // Unlabelled replies (rare on an API path) are read whole to tell a page
                // from what the caller asked for; JSON, the common case, streams untouched.
                let (status, version) = (response.status(), response.version());
                let headers = response.headers().clone();
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| transport_error(&self.instance, &e))?;
                if page::looks_like_html(&body) {
                    return Err(self.page_error(&url, &String::from_utf8_lossy(&body)));
                }
                let mut rebuilt = http::Response::builder()
                    .status(status)
                    .version(version)
                    .url(url.clone())
                    .body(body)
                    .map_err(|e| Error::internal(e.to_string()))?;
                *rebuilt.headers_mut() = headers;
                response = reqwest::Response::from(rebuilt);
            }
            self.mark_alive();
            return Ok(response);
        }
    }

    /// The access token to send now: renewed first when it is due, or when `rejected` (the
    /// token the instance just refused) is still the one in hand. One renewal at a time: calls
    /// that find one under way wait for it and use its token.
    async fn bearer(&self, renew: &dyn Renew, rejected: Option<Secret>) -> Result<Secret> {
        let usable = |t: &Tokens| {
            !due(t, OffsetDateTime::now_utc()) && rejected.as_ref() != Some(&t.access_token)
        };
        if let Some(t) = lock(&self.tokens).as_ref().filter(|t| usable(t)) {
            return Ok(t.access_token.clone());
        }
        let _flight = self.renewing.lock().await;
        let mut current = lock(&self.tokens).clone();
        if let Some(t) = current.as_ref().filter(|t| usable(t)) {
            return Ok(t.access_token.clone());
        }
        // Another process may have renewed meanwhile: its tokens (and any newer refresh token)
        // are in the vault.
        if let Ok(Some(record)) = self.vault.load(&self.instance.name)
            && let Some(stored) = record.tokens
            && current
                .as_ref()
                .is_none_or(|c| stored.issued_at > c.issued_at)
        {
            if usable(&stored) {
                let token = stored.access_token.clone();
                *lock(&self.tokens) = Some(stored);
                return Ok(token);
            }
            current = Some(stored);
        }
        tracing::info!(grant = renew.grant(), "renewing the access token");
        let fresh = match renew.renew(current.as_ref()).await {
            Ok(fresh) => fresh,
            Err(e) => {
                if e.is_login_required() {
                    self.mark_dead();
                }
                return Err(e);
            }
        };
        self.keep_tokens(&fresh)?;
        let token = fresh.access_token.clone();
        *lock(&self.tokens) = Some(fresh);
        Ok(token)
    }

    /// Writes new tokens to the vault at once: a refresh token may have changed, and the next
    /// process should start from them.
    /// A grant the instance accepted is a new session in hand: it replaces a file that cannot
    /// be read.
    fn keep_tokens(&self, tokens: &Tokens) -> Result<()> {
        let base = &self.base;
        self.vault.update_or_replace(&self.instance.name, |slot| {
            match slot {
                Some(record) if record.obtained == base.obtained => {
                    record.set_tokens(tokens.clone())
                }
                _ => {
                    // None stored yet, or a session of another method: this one replaces it.
                    let mut record = base.clone();
                    record.cookies.clear();
                    record.set_tokens(tokens.clone());
                    *slot = Some(record);
                }
            }
            Ok(())
        })
    }

    /// The error for a `401` to a session that is not a browser session: which credentials the
    /// instance refused, and what to do.
    fn credentials_refused(&self, said: &envelope::Complaint) -> Error {
        let name = &self.instance.name;
        match &self.auth {
            Auth::Basic { user, .. } => Error::login_required(
                name,
                format!("{name} refused the user name and password of {user} (Basic): {said}"),
            )
            .with_hint(
                "check the password: it comes from SNOWBRIDGE_PASSWORD, else the OS keyring; a \
                 login with a person asks for it and offers to keep it",
            )
            .with_steps([
                crate::error::NextStep::log_in_with_prompts(name),
                crate::error::NextStep::give_secret(name, crate::secret::SecretKind::Password),
            ]),
            Auth::ApiKey(_) => Error::new(
                ErrorKind::Credentials,
                format!(
                    "{name} refused the API key (x-sn-apikey): a wrong or expired key, or an API \
                     whose access policy does not take API keys ({said})"
                ),
            )
            .with_step(crate::error::NextStep::give_secret(
                name,
                crate::secret::SecretKind::ApiKey,
            )),
            Auth::Certificate(c) => Error::new(
                ErrorKind::Credentials,
                format!(
                    "{name} took the client certificate {} as valid but maps it to no user: it \
                     answered 401 ({said})",
                    c.file.display(),
                ),
            )
            .with_hint(
                "ask the instance's admin for a User to Certificate Mapping of this certificate, \
                 or use a certificate that has one",
            ),
            Auth::Bearer(renew) => Error::login_required(
                name,
                format!(
                    "{name} refused a freshly issued access token ({} grant): {said}",
                    renew.grant()
                ),
            ),
            Auth::Cookies => Error::login_required(
                name,
                format!("the session for {name} is no longer valid (the instance said: {said})"),
            ),
        }
    }

    /// The error for an HTML page where an API path should have answered JSON: never a working
    /// session, whatever the status (see [`page`]).
    fn page_error(&self, url: &url::Url, text: &str) -> Error {
        let name = &self.instance.name;
        let base = self.instance.base();
        let path = url.path();
        let titled =
            |title: Option<String>| title.map(|t| format!(" titled {t:?}")).unwrap_or_default();
        match page::classify(text) {
            page::Page::Login { title } => {
                self.mark_dead();
                Error::login_required(
                    name,
                    format!(
                        "the session for {name} is not accepted: {base} answered {path} with a \
                         login page{} instead of JSON (an expired session, or a single sign-on \
                         front door or proxy asking for a login)",
                        titled(title)
                    ),
                )
            }
            page::Page::Hibernating { wake } => Error::new(
                ErrorKind::Unreachable,
                format!(
                    "the instance is hibernating: wake it at {wake} ({base} answered {path} with \
                     its hibernation page)"
                ),
            )
            .with_hint(format!(
                "sign in at {wake} to wake {name}, wait until {base} opens, then try again"
            )),
            page::Page::Other { title } => Error::new(
                ErrorKind::Unreachable,
                format!(
                    "{base} is not ServiceNow's API: {path} answered with an HTML page{} instead \
                     of JSON (a proxy, a captive portal, or the wrong URL?)",
                    titled(title)
                ),
            )
            .with_hint(format!(
                "open {base} in a browser to see what answers, and check `url` in {}",
                self.instance.source.display()
            )),
        }
    }

    /// Reads the body of `response` (a reply of [`Session::send`]) as JSON into `T`, for a
    /// caller that looked at the headers first (`Link`, `X-Total-Count`).
    ///
    /// Errors: [`ErrorKind::Instance`] for a body that is not `T` as JSON, saying what came
    /// instead; [`ErrorKind::Unreachable`] when the body could not be read.
    pub async fn json_of<T: serde::de::DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T> {
        envelope::parse_json(&self.instance, response).await
    }

    /// Sends `call` and parses the JSON reply into `T`.
    pub async fn send_json<T: serde::de::DeserializeOwned>(&self, call: &Call) -> Result<T> {
        let response = self.send(call).await?;
        envelope::parse_json(&self.instance, response).await
    }

    /// Ends the session on the instance: `logout.do` for a browser session; for tokens,
    /// `/oauth_revoke_token.do` with the refresh token (which takes its access tokens along),
    /// then the access token. Basic, API-key and certificate sessions have nothing to end. A
    /// session the instance already dropped counts as ended.
    pub async fn end_on_instance(&self) -> Result<()> {
        match &self.auth {
            Auth::Cookies => {}
            Auth::Bearer(_) => {
                let tokens = self.tokens();
                let tokens = tokens.iter().flat_map(|t| {
                    t.refresh_token
                        .iter()
                        .chain(std::iter::once(&t.access_token))
                });
                for token in tokens {
                    self.revoke(token).await?;
                }
                self.ended.store(true, Ordering::SeqCst);
                return Ok(());
            }
            Auth::Basic { .. } | Auth::ApiKey(_) | Auth::Certificate(_) => {
                self.ended.store(true, Ordering::SeqCst);
                return Ok(());
            }
        }
        let url = self.instance.join("/logout.do")?;
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| transport_error(&self.instance, &e))?;
        let status = response.status();
        if status.is_success() || status.is_redirection() {
            self.ended.store(true, Ordering::SeqCst);
            Ok(())
        } else {
            Err(envelope::error_from_response(&self.instance, response).await)
        }
    }

    /// `POST /oauth_revoke_token.do?token=...`: the token rides in the query, as the instance
    /// reads it there, and the call needs no authentication.
    async fn revoke(&self, token: &Secret) -> Result<()> {
        let mut url = self.instance.join("/oauth_revoke_token.do")?;
        url.query_pairs_mut().append_pair("token", token.expose());
        let response = self
            .client
            .post(url)
            .send()
            .await
            .map_err(|e| transport_error(&self.instance, &e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(envelope::error_from_response(&self.instance, response).await)
        }
    }

    async fn backoff(&self, attempt: u32) {
        let pause = self.retry.backoff * 2u32.saturating_pow(attempt.saturating_sub(1));
        let jitter = Duration::from_millis(rand::random::<u64>() % 100);
        // Backoff between retries is the point of waiting here: nothing to poll.
        tokio::time::sleep(pause + jitter).await;
    }

    /// Changes what the session learned, counting the change.
    fn learn(&self, change: impl FnOnce(&mut Learned)) {
        let mut learned = lock(&self.learned);
        change(&mut learned);
        learned.changes += 1;
    }

    fn mark_dead(&self) {
        self.learn(|l| l.dead_at = Some(OffsetDateTime::now_utc()));
    }

    fn mark_alive(&self) {
        self.learn(|l| {
            l.validated_at = Some(OffsetDateTime::now_utc());
            l.dead_at = None;
        });
    }

    fn changes(&self) -> Changes {
        Changes {
            jar: self.jar.changes(),
            learned: lock(&self.learned).changes,
        }
    }

    /// True when the session holds something the vault does not: cookies the instance rotated
    /// (or a browser handed back), a new CSRF token, a validation or an expiry seen since the
    /// session was opened or last saved. A dirty session saves itself when dropped.
    pub fn is_dirty(&self) -> bool {
        !self.ended.load(Ordering::SeqCst) && self.changes() != *lock(&self.written)
    }

    /// Merges what this process learned since the last save (rotated cookies, a new token,
    /// validation) into the vault under its lock; does nothing when nothing changed. A dirty
    /// session also saves itself when dropped; calling this first lets errors be seen.
    pub fn save(&self) -> Result<()> {
        if !self.is_dirty() {
            return Ok(());
        }
        // Counted before the state is read: a change racing this save leaves the session dirty.
        let mark = self.changes();
        let learned = {
            let l = lock(&self.learned);
            Learned {
                token: l.token.clone(),
                validated_at: l.validated_at,
                dead_at: l.dead_at,
                changes: l.changes,
            }
        };
        let kept = self.jar.kept();
        let removed = self.jar.removed();
        let base = &self.base;
        // Only a session the instance has answered replaces a file that cannot be read.
        let replace = self.replaces_unreadable && learned.validated_at.is_some();
        let change = |slot: &mut Option<SessionRecord>| {
            let Some(record) = slot.as_mut() else {
                if replace {
                    let mut record = base.clone();
                    merge(&mut record, base, &kept, &removed, &learned);
                    *slot = Some(record);
                }
                // Otherwise logged out meanwhile: do not bring the session back.
                return Ok(());
            };
            if record.obtained_at != base.obtained_at {
                // A new login replaced the session this process used; its cookies are newer.
                return Ok(());
            }
            merge(record, base, &kept, &removed, &learned);
            Ok(())
        };
        if self.replaces_unreadable {
            self.vault.update_or_replace(&self.instance.name, change)?;
        } else {
            self.vault.update(&self.instance.name, change)?;
        }
        let mut written = lock(&self.written);
        written.jar = written.jar.max(mark.jar);
        written.learned = written.learned.max(mark.learned);
        Ok(())
    }
}

fn merge(
    record: &mut SessionRecord,
    base: &SessionRecord,
    kept: &[crate::vault::KeptCookie],
    removed: &[((String, String, String), OffsetDateTime)],
    learned: &Learned,
) {
    for ours in kept {
        let unchanged = base.cookies.iter().any(|b| b == ours);
        if unchanged {
            continue;
        }
        match record
            .cookies
            .iter_mut()
            .find(|v| v.cookie.key() == ours.cookie.key())
        {
            Some(theirs) if theirs.set_at > ours.set_at => {}
            Some(theirs) => *theirs = ours.clone(),
            None => record.cookies.push(ours.clone()),
        }
    }
    for ((domain, path, name), at) in removed {
        record.cookies.retain(|v| {
            !(v.cookie.key() == (domain.as_str(), path.as_str(), name.as_str()) && v.set_at <= *at)
        });
    }
    record.prune_expired(OffsetDateTime::now_utc());
    if learned.token != base.user_token && learned.token.is_some() {
        record.user_token = learned.token.clone();
    }
    if let Some(at) = learned.validated_at {
        if record.last_validated.is_none_or(|t| t < at) {
            record.last_validated = Some(at);
        }
        if record.expired_at.is_some_and(|t| t <= at) {
            record.expired_at = None;
        }
    }
    if let Some(at) = learned.dead_at
        && record.last_validated.is_none_or(|t| t <= at)
    {
        record.expired_at = Some(at);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Whatever ends the session's use (success, an error, a closed pipe, Ctrl-C unwinding
        // the command), what it learned reaches the vault.
        // A save takes the vault's file lock, which another process may hold a while.
        if self.is_dirty()
            && let Err(e) = crate::blocking::wait(|| self.save())
        {
            tracing::warn!(error = %e, "could not save the session's cookies");
        }
    }
}

/// A header value that is never logged.
fn sensitive(text: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        Error::bad_input("a credential holds characters that cannot go in an HTTP header")
            .with_hint("check the stored secret for line breaks or other control characters")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The error for the load balancer's `400 The SSL certificate error` page.
fn untrusted_certificate(instance: &Instance, certificate: &Certificate) -> Error {
    Error::new(
        ErrorKind::Credentials,
        format!(
            "{} does not trust the client certificate {}: its load balancer answered 400 \"The \
             SSL certificate error\", so the CA that issued it is not in the instance's CA \
             Certificate Chain, or the certificate is self-signed",
            instance.name,
            certificate.file.display(),
        ),
    )
    .with_hint(
        "upload the issuing CA's chain to the instance (CA Certificate Chain), or use a \
         certificate from a CA it trusts; self-signed certificates are not supported",
    )
}

/// A refusal for a missing auth scope names the operation refused and the scope.
fn name_the_operation(e: Error, method: &Method, path: &str) -> Error {
    if e.refusal() != Some(&crate::error::Refusal::Scope) {
        return e;
    }
    let message = e.message();
    let scope = message
        .split_once("scope:")
        .map(|(_, rest)| {
            rest.trim_start()
                .split(|c: char| c.is_whitespace() || matches!(c, ')' | ',' | '"'))
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .filter(|s| !s.is_empty());
    let wanted = match &scope {
        Some(scope) => format!("the auth scope {scope}"),
        None => "an auth scope the instance did not name".to_owned(),
    };
    Error::forbidden(
        crate::error::Refusal::Scope,
        format!("{method} {path} was refused: the token lacks {wanted} ({message})"),
    )
    .with_hint(match &scope {
        Some(scope) => format!(
            "use an OAuth application or API key that holds {scope} (or useraccount); [oauth] \
             scopes may ask only for scopes the application holds"
        ),
        None => "use an OAuth application or API key that holds the API's scope".to_owned(),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The longest wait a `Retry-After` is read as; anything longer (`1e20`) is this, which is far
/// past any [`RetryPolicy::max_wait`] worth setting and so fails with the instance's message.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(366 * 86_400);

/// The wait a `Retry-After` header asks for (RFC 9110: seconds or an HTTP date), at most
/// [`RETRY_AFTER_CAP`]; `None` when absent or unreadable.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = header(headers, "retry-after")?;
    if let Ok(secs) = text.trim().parse::<f64>() {
        // `from_secs_f64` panics past u64::MAX seconds: an instance or proxy can send that.
        return (secs >= 0.0).then(|| {
            Duration::try_from_secs_f64(secs)
                .unwrap_or(RETRY_AFTER_CAP)
                .min(RETRY_AFTER_CAP)
        });
    }
    let at =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc2822)
            .ok()?;
    let wait = at - OffsetDateTime::now_utc();
    Some(
        Duration::try_from(wait)
            .unwrap_or(Duration::ZERO)
            .min(RETRY_AFTER_CAP),
    )
}

/// Is `url` an API path, whose answer is JSON whatever the status: the REST APIs (`/api/...`)
/// and the JSONv2 processor (`*.do?JSONv2`)? Other `*.do` paths are UI pages.
fn expects_json(url: &url::Url) -> bool {
    let path = url.path();
    path.starts_with("/api/")
        || (path.ends_with(".do")
            && url.query().is_some_and(|q| {
                q.split('&')
                    .any(|pair| pair.split('=').next() == Some("JSONv2"))
            }))
}

/// Is the reply an HTML page? An attachment's own bytes (which come with
/// `X-Attachment-Metadata`) may be HTML and are not a page of the instance's.
fn is_page(headers: &HeaderMap) -> bool {
    let html = header(headers, "content-type").is_some_and(|v| {
        let v = v.trim_start().to_ascii_lowercase();
        v.starts_with("text/html") || v.starts_with("application/xhtml+xml")
    });
    html && !headers.contains_key("x-attachment-metadata")
}

/// Is the reply labelled JSON (`application/json`, any `+json`), or an attachment's own bytes
/// (`X-Attachment-Metadata`)? Anything else on an API path is looked at before it is trusted.
fn is_json_or_bytes(headers: &HeaderMap) -> bool {
    let json = header(headers, "content-type").is_some_and(|v| {
        let essence = v
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        essence == "application/json" || essence.ends_with("+json")
    });
    json || headers.contains_key("x-attachment-metadata")
}

/// Does a redirect to `location` mean the session is gone?
pub fn is_login_bounce(location: &str) -> bool {
    let path = location.split(['?', '#']).next().unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    matches!(
        last,
        "login.do"
            | "session_timeout.do"
            | "logout_success.do"
            | "security_interceptor.do"
            | "login_redirect.do"
            | "external_logout_complete.do"
    )
}

fn retryable(e: &reqwest::Error) -> bool {
    // Timeouts are not retried: a slow instance would turn one wait into several.
    !e.is_timeout() && (e.is_connect() || e.is_request() || e.is_body())
}

pub(crate) fn transport_error(instance: &Instance, e: &reqwest::Error) -> Error {
    if probe::untrusted_certificate(e) {
        // Named as `doctor` names it, with `ca_file` as the fix.
        return probe::transport(instance, e, instance.timeout);
    }
    let what = if e.is_timeout() {
        format!("timed out after {:?}", instance.timeout)
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "the connection failed".to_owned()
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    Error::new(
        ErrorKind::Unreachable,
        format!(
            "{}: {what}{}",
            instance.base(),
            if cause.is_empty() {
                String::new()
            } else {
                format!(" ({cause})")
            }
        ),
    )
    .with_hint("check the instance URL, your network or proxy, and that the instance is up")
}

/// The reqwest client for `instance`: no automatic redirects, the jar, the instance's CA file,
/// the client certificate of an `mtls` session.
fn http_client(
    instance: &Instance,
    user_agent: Option<&str>,
    jar: Arc<Jar>,
    identity: Option<reqwest::Identity>,
) -> Result<reqwest::Client> {
    let mut builder = crate::tls::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar)
        .user_agent(user_agent.unwrap_or(DEFAULT_USER_AGENT))
        .timeout(instance.timeout)
        .connect_timeout(instance.timeout.min(Duration::from_secs(15)))
        .pool_idle_timeout(Duration::from_secs(60));
    match (identity, &instance.ca_file) {
        (Some(identity), ca) => {
            if let Some(ca) = ca {
                builder = builder.tls_certs_merge(load_ca(instance, ca)?);
            }
            builder = builder.identity(identity);
        }
        (None, _) => builder = trust(builder, instance)?,
    }
    builder.build().map_err(|e| {
        Error::internal(format!(
            "cannot set up HTTP for {}: {}",
            instance.name,
            with_causes(&e)
        ))
    })
}

/// An error and its causes, as one line: reqwest's "builder error" says nothing without the TLS
/// library's reason under it.
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// A client for `instance` without cookies or credentials (the token endpoint's): no
/// redirects (a token request is never sent on), the instance's CA file, its timeouts.
pub fn plain_client(instance: &Instance) -> Result<reqwest::Client> {
    let builder = crate::tls::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(DEFAULT_USER_AGENT)
        .timeout(instance.timeout)
        .connect_timeout(instance.timeout.min(Duration::from_secs(15)));
    trust(builder, instance)?
        .build()
        .map_err(|e| Error::internal(format!("cannot set up HTTP for {}: {e}", instance.name)))
}

/// The CA certificates of `instance`'s `ca_file` (PEM), as DER.
fn ca_certificates(
    instance: &Instance,
    path: &std::path::Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|e| {
        Error::bad_input(format!(
            "{}: key `ca_file`: cannot read {}: {e}",
            instance.source.display(),
            path.display()
        ))
        .with_hint("point ca_file at a PEM file of CA certificates")
    })?;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::bad_input(format!(
                "{}: key `ca_file`: {} is not a PEM certificate bundle ({e})",
                instance.source.display(),
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::bad_input(format!(
            "{}: key `ca_file`: {} holds no certificates",
            instance.source.display(),
            path.display()
        )));
    }
    Ok(certs)
}

/// `builder` trusting `instance`'s `ca_file` (if any) beside the system's store, which is read
/// only when a server's chain needs it ([`crate::tls::trusting`]): a client that makes no
/// handshake, or whose server the `ca_file` vouches for, never reads it.
///
/// Errors: [`ErrorKind::BadInput`] for a `ca_file` that cannot be read or used.
pub(crate) fn trust(
    builder: reqwest::ClientBuilder,
    instance: &Instance,
) -> Result<reqwest::ClientBuilder> {
    let Some(path) = &instance.ca_file else {
        return crate::tls::trusting(builder, Vec::new())
            .map_err(|e| Error::internal(format!("cannot set up TLS for {}: {e}", instance.name)));
    };
    crate::tls::trusting(builder, ca_certificates(instance, path)?).map_err(|e| {
        Error::bad_input(format!(
            "{}: key `ca_file`: {} holds a certificate that cannot be a trust anchor ({e})",
            instance.source.display(),
            path.display()
        ))
    })
}

/// `instance`'s `ca_file` for reqwest's own TLS set-up (with a client certificate).
fn load_ca(instance: &Instance, path: &std::path::Path) -> Result<Vec<reqwest::Certificate>> {
    ca_certificates(instance, path)?
        .iter()
        .map(|der| {
            reqwest::Certificate::from_der(der).map_err(|e| {
                Error::bad_input(format!(
                    "{}: key `ca_file`: {} holds a certificate that cannot be read ({e})",
                    instance.source.display(),
                    path.display()
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_bounces_are_recognised() {
        assert!(is_login_bounce(
            "https://a.service-now.com/login.do?sysparm_goto=x"
        ));
        assert!(is_login_bounce("/session_timeout.do"));
        assert!(is_login_bounce("logout_success.do"));
        assert!(!is_login_bounce("/navpage.do"));
        assert!(!is_login_bounce("/api/now/table/incident"));
    }

    #[test]
    fn api_paths_expect_json() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert!(expects_json(&url("https://a/api/now/table/incident")));
        assert!(expects_json(&url(
            "https://a/incident.do?JSONv2&sysparm_action=getKeys"
        )));
        assert!(expects_json(&url(
            "https://a/incident.do?sysparm_action=get&JSONv2="
        )));
        assert!(!expects_json(&url("https://a/incident.do?sys_id=x")));
        assert!(!expects_json(&url("https://a/navpage.do")));
        assert!(!expects_json(&url("https://a/apiary/x")));
    }

    #[test]
    fn pages_are_html_but_not_attachments() {
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            HeaderValue::from_static("Text/HTML; charset=UTF-8"),
        );
        assert!(is_page(&h));
        h.insert("x-attachment-metadata", HeaderValue::from_static("{}"));
        assert!(!is_page(&h));
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            HeaderValue::from_static("application/json;charset=UTF-8"),
        );
        assert!(!is_page(&h));
        assert!(!is_page(&HeaderMap::new()));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn retry_after_beyond_any_duration_is_capped_not_a_panic() {
        let mut h = HeaderMap::new();
        for huge in ["1e20", "18446744073709551616", "inf", "1e308"] {
            h.insert("retry-after", HeaderValue::from_static(huge));
            assert_eq!(retry_after(&h), Some(RETRY_AFTER_CAP), "{huge}");
        }
        for refused in ["-1", "NaN", "-inf"] {
            h.insert("retry-after", HeaderValue::from_static(refused));
            assert_eq!(retry_after(&h), None, "{refused}");
        }
        h.insert("retry-after", HeaderValue::from_static("0.5"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Fri, 31 Dec 9999 23:59:59 GMT"),
        );
        assert_eq!(retry_after(&h), Some(RETRY_AFTER_CAP));
    }
}
