//! Stage 3: using a session. An HTTP client over the vault's cookies that speaks to one instance.
//!
//! It sends the CSRF token on REST calls and takes a fresh one when the instance offers it; it
//! never follows redirects blindly, so a bounce to the login page reads as "expired", not as a
//! 200; it retries what is safe to retry (429 after `Retry-After`, 5xx and resets on idempotent
//! calls); and it merges the cookies the instance rotates back into the vault under the lock, so
//! the next process starts from them. It knows HTTP and the session's life; the shapes of the
//! ServiceNow APIs live in [`crate::api`].

mod jar;
mod validate;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use time::OffsetDateTime;

pub use jar::Jar;
pub use validate::Validity;

use crate::api::envelope;
use crate::error::{Error, ErrorKind, Result};
use crate::instance::Instance;
use crate::secret::Secret;
use crate::vault::{SessionRecord, Vault};

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

/// What this process learned about the session, merged into the vault on [`Session::save`].
#[derive(Debug, Default)]
struct Learned {
    token: Option<Secret>,
    validated_at: Option<OffsetDateTime>,
    dead_at: Option<OffsetDateTime>,
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
    saved: Mutex<bool>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("instance", &self.instance.name)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Opens the stored session of `instance`: login required when there is none.
    pub fn open(instance: &Instance, vault: Arc<Vault>) -> Result<Session> {
        match vault.load(&instance.name)? {
            Some(record) => Session::from_record(instance, vault, record),
            None => Err(Error::login_required(
                &instance.name,
                format!("no stored session for {}", instance.name),
            )),
        }
    }

    /// A session over `record` (which the caller has stored, or will).
    pub fn from_record(
        instance: &Instance,
        vault: Arc<Vault>,
        mut record: SessionRecord,
    ) -> Result<Session> {
        record.prune_expired(OffsetDateTime::now_utc());
        let jar = Arc::new(Jar::from_kept(&record.cookies));
        let client = http_client(instance, record.user_agent.as_deref(), jar.clone())?;
        let learned = Learned {
            token: record.user_token.clone(),
            ..Learned::default()
        };
        Ok(Session {
            instance: instance.clone(),
            vault,
            client,
            jar,
            base: record,
            learned: Mutex::new(learned),
            retry: RetryPolicy::default(),
            saved: Mutex::new(false),
        })
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Session {
        self.retry = retry;
        self
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

    fn url_for(&self, target: &str) -> Result<url::Url> {
        if target.starts_with("http://") || target.starts_with("https://") {
            let url = url::Url::parse(target)
                .map_err(|e| Error::usage(format!("{target:?} is not a URL: {e}")))?;
            if url.origin() != self.instance.url.origin() {
                return Err(Error::usage(format!(
                    "{target} is not on {}: snowbridge sends the session to its own instance only",
                    self.instance.base()
                )));
            }
            return Ok(url);
        }
        let path = if target.starts_with('/') {
            target.to_owned()
        } else {
            format!("/{target}")
        };
        self.instance.join(&path)
    }

    async fn build(&self, call: &Call, url: &url::Url) -> Result<reqwest::Request> {
        let mut req = self
            .client
            .request(call.method.clone(), url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in &call.headers {
            req = req.header(name, value);
        }
        if let Some(token) = lock(&self.learned).token.as_ref()
            && let Ok(mut value) = HeaderValue::from_str(token.expose())
        {
            value.set_sensitive(true);
            req = req.header("X-UserToken", value);
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
        let url = self.url_for(&call.target)?;
        let mut token_retried = false;
        let mut transient = 0u32;
        let mut limited = 0u32;
        loop {
            let request = self.build(call, &url).await?;
            tracing::debug!(method = %call.method, path = url.path(), "request");
            let response = match self.client.execute(request).await {
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

            if status == StatusCode::UNAUTHORIZED {
                let logged_in = header(response.headers(), "x-is-logged-in")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                let fresh = header(response.headers(), "x-usertoken-response").map(Secret::new);
                if logged_in
                    && !token_retried
                    && let Some(fresh) = fresh
                {
                    tracing::debug!("the instance offered a fresh token; retrying once");
                    lock(&self.learned).token = Some(fresh);
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
            if !status.is_success() {
                return Err(envelope::error_from_response(&self.instance, response).await);
            }
            if envelope::is_html(response.headers()) && url.path().ends_with(".do") {
                // A processor that answers with a page instead of JSON is showing the login form.
                let text = response.text().await.unwrap_or_default();
                if envelope::looks_like_login_page(&text) {
                    self.mark_dead();
                    return Err(Error::login_required(
                        &self.instance.name,
                        format!(
                            "the session for {} has expired (the login page came back)",
                            self.instance.name
                        ),
                    ));
                }
                return Err(Error::new(
                    ErrorKind::Unreachable,
                    format!(
                        "{} answered {} with an HTML page, not JSON",
                        self.instance.base(),
                        url.path()
                    ),
                ));
            }
            self.mark_alive();
            return Ok(response);
        }
    }

    /// Sends `call` and parses the JSON reply into `T`.
    pub async fn send_json<T: serde::de::DeserializeOwned>(&self, call: &Call) -> Result<T> {
        let response = self.send(call).await?;
        envelope::parse_json(&self.instance, response).await
    }

    /// Ends the session on the instance (`logout.do`). A session the instance already dropped
    /// counts as ended.
    pub async fn end_on_instance(&self) -> Result<()> {
        let url = self.instance.join("/logout.do")?;
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| transport_error(&self.instance, &e))?;
        let status = response.status();
        if status.is_success() || status.is_redirection() {
            *lock(&self.saved) = true; // nothing of a dead session is worth keeping
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

    fn mark_dead(&self) {
        lock(&self.learned).dead_at = Some(OffsetDateTime::now_utc());
    }

    fn mark_alive(&self) {
        let mut learned = lock(&self.learned);
        learned.validated_at = Some(OffsetDateTime::now_utc());
        learned.dead_at = None;
    }

    /// Merges what this process learned (rotated cookies, a new token, validation) into the
    /// vault under its lock. Called on drop too; calling it first lets errors be seen.
    pub fn save(&self) -> Result<()> {
        let learned = {
            let l = lock(&self.learned);
            Learned {
                token: l.token.clone(),
                validated_at: l.validated_at,
                dead_at: l.dead_at,
            }
        };
        let kept = self.jar.kept();
        let removed = self.jar.removed();
        let base = &self.base;
        self.vault.update(&self.instance.name, |slot| {
            let Some(record) = slot.as_mut() else {
                // Logged out meanwhile: do not bring the session back.
                return Ok(());
            };
            if record.obtained_at != base.obtained_at {
                // A new login replaced the session this process used; its cookies are newer.
                return Ok(());
            }
            merge(record, base, &kept, &removed, &learned);
            Ok(())
        })?;
        *lock(&self.saved) = true;
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
        if !*lock(&self.saved)
            && let Err(e) = self.save()
        {
            tracing::warn!(error = %e, "could not save the session's cookies");
        }
    }
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

fn transport_error(instance: &Instance, e: &reqwest::Error) -> Error {
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

/// The reqwest client for `instance`: no automatic redirects, the jar, the instance's CA file.
fn http_client(
    instance: &Instance,
    user_agent: Option<&str>,
    jar: Arc<Jar>,
) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar)
        .user_agent(user_agent.unwrap_or(DEFAULT_USER_AGENT))
        .timeout(instance.timeout)
        .connect_timeout(instance.timeout.min(Duration::from_secs(15)))
        .pool_idle_timeout(Duration::from_secs(60));
    if let Some(ca) = &instance.ca_file {
        builder = builder.tls_certs_merge(load_ca(instance, ca)?);
    }
    builder
        .build()
        .map_err(|e| Error::internal(format!("cannot set up HTTP for {}: {e}", instance.name)))
}

fn load_ca(instance: &Instance, path: &std::path::Path) -> Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path).map_err(|e| {
        Error::bad_input(format!(
            "{}: key `ca_file`: cannot read {}: {e}",
            instance.source.display(),
            path.display()
        ))
        .with_hint("point ca_file at a PEM file of CA certificates")
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
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
