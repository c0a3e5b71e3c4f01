//! `oauth-pkce`: the authorization code grant (RFC 6749 section 4.1) with PKCE (RFC 7636) for a
//! person at the browser, as `snowbridge connect NAME --login` runs it.
//!
//! The instance's `/oauth_auth.do` opens in the managed Chrome of the browser login
//! (`login::open_browser`) with `response_type=code`, `client_id`, a loopback `redirect_uri`
//! (`http://127.0.0.1:<[oauth] redirect_port>/callback`), a random `state`, `code_challenge`
//! (S256 of a random verifier) and `scope`. A person logs in (single sign-on and multi-factor
//! included) and presses Allow; with credentials at hand snowbridge fills the login form
//! (`login::log_in_with_form`) and presses Allow itself. A one-request listener on the
//! loopback port, bound before the browser starts, catches the redirect and checks `state`;
//! the code is exchanged with the verifier ([`token::Endpoint::authorization_code`]) and the
//! tokens, proved with one REST call, are kept in the vault. From then on the session refreshes
//! like the password grant's ([`token::Renewer`]).
//!
//! Deny, a redirect without a code, another `state` and a closed window are each a refusal
//! with its own message; the timeout bounds the whole wait; Chrome and the listener are stopped
//! however it ends. This module asks no one: what the person is told goes through
//! [`Prompter::tell`](crate::prompt::Prompter::tell).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fantoccini::Locator;
use oauth2::basic::BasicClient;
use oauth2::{AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};
use url::Url;

use super::login::{self, Filled, LoginOptions};
use super::secrets::{self, Given, Kind};
use super::token;
use crate::browser::{Browser, Wait};
use crate::error::{Error, ErrorKind, NextStep, Result};
use crate::instance::{AuthMethod, Instance};
use crate::secret::Secret;
use crate::session::Session;
use crate::vault::Vault;

/// The path of the loopback redirect URI.
pub const CALLBACK_PATH: &str = "/callback";

/// The redirect URI of `instance`: `http://127.0.0.1:<redirect_port>/callback` (RFC 8252
/// section 7.3, the loopback interface), which the OAuth application on the instance must list.
/// Errors (bad input, naming the file and the key) when `[oauth] redirect_port` is missing or 0.
pub fn redirect_uri(instance: &Instance) -> Result<Url> {
    let file = instance.source.display();
    let port = instance
        .oauth
        .as_ref()
        .and_then(|o| o.redirect_port)
        .filter(|port| *port != 0)
        .ok_or_else(|| {
            Error::bad_input(format!(
                "{file}: auth = \"oauth-pkce\" needs redirect_port under [oauth] (a port from 1 \
                 to 65535): the instance redirects the browser to http://127.0.0.1:PORT{CALLBACK_PATH}"
            ))
            .with_hint(
                "add redirect_port = 8400 under [oauth], and list \
                 http://127.0.0.1:8400/callback among the redirect URLs of the OAuth application",
            )
        })?;
    Url::parse(&format!("http://127.0.0.1:{port}{CALLBACK_PATH}"))
        .map_err(|e| Error::internal(format!("the redirect URI for port {port}: {e}")))
}

/// One authorization request: the URL the browser opens, and what its answer is checked
/// against.
struct Request {
    url: Url,
    redirect_uri: Url,
    state: Secret,
    verifier: Secret,
}

impl Request {
    /// A request with a fresh `state` and PKCE verifier, built by the `oauth2` crate (RFC 7636
    /// section 4.1: 32 random bytes, base64url; S256 challenge).
    fn new(instance: &Instance) -> Result<Request> {
        let oauth = instance.oauth.as_ref().ok_or_else(|| {
            Error::bad_input(format!(
                "{}: auth = \"oauth-pkce\" needs an [oauth] section",
                instance.source.display()
            ))
        })?;
        let redirect_uri = redirect_uri(instance)?;
        let client = BasicClient::new(ClientId::new(oauth.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(instance.join("/oauth_auth.do")?))
            .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(oauth.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        Ok(Request {
            url,
            redirect_uri,
            state: Secret::new(state.secret().as_str()),
            verifier: Secret::new(verifier.secret().as_str()),
        })
    }
}

/// What a redirect to the callback brought.
#[derive(Debug, PartialEq, Eq)]
enum Callback {
    /// An authorization code, with the `state` this login sent.
    Code(Secret),
    /// `error=access_denied`: the person pressed Deny.
    Denied,
    /// Another `error` (RFC 6749 section 4.1.2.1), with its description.
    Refused {
        error: String,
        description: Option<String>,
    },
    /// The right `state`, but neither a code nor an error.
    NoCode,
    /// A `state` other than this login's (or none): not the answer to this request.
    WrongState {
        /// Whether it carried a `state` at all.
        carried: bool,
    },
}

impl Callback {
    /// Reads a callback's query against the `state` this login sent; `state` first, so nothing
    /// in a redirect that is not this login's is believed.
    fn judge(query: Option<&str>, state: &str) -> Callback {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        match get("state") {
            Some(sent) if sent == state => {}
            other => {
                return Callback::WrongState {
                    carried: other.is_some(),
                };
            }
        }
        match (get("error"), get("code")) {
            (Some("access_denied"), _) => Callback::Denied,
            (Some(error), _) => Callback::Refused {
                error: error.to_owned(),
                description: get("error_description")
                    .filter(|d| !d.is_empty())
                    .map(str::to_owned),
            },
            (None, Some(code)) if !code.is_empty() => Callback::Code(Secret::new(code)),
            (None, _) => Callback::NoCode,
        }
    }

    /// The line the browser shows for this callback.
    fn page(&self) -> &'static str {
        match self {
            Callback::Code(_) => {
                "Signed in: snowbridge has the authorization and finishes in the terminal."
            }
            Callback::Denied => "Authorization denied: snowbridge received no code.",
            Callback::Refused { .. } => {
                "The instance refused the authorization: the terminal says why."
            }
            Callback::NoCode => "The instance sent no authorization code: nothing was signed in.",
            Callback::WrongState { .. } => {
                "This redirect does not answer the sign-in snowbridge started (its state differs): \
                 it was refused."
            }
        }
    }

    /// The code, or the refusal as an error of its own.
    fn into_code(self, instance: &Instance) -> Result<Secret> {
        let name = &instance.name;
        let again = NextStep::LogIn {
            instance: name.clone(),
        };
        match self {
            Callback::Code(code) => Ok(code),
            Callback::Denied => Err(Error::new(
                ErrorKind::Cancelled,
                format!(
                    "the authorization was denied on {name}'s consent page (error=access_denied): \
                     no tokens were issued"
                ),
            )
            .with_hint("press Allow on the consent page")
            .with_step(again)),
            Callback::NoCode => Err(Error::new(
                ErrorKind::Cancelled,
                format!(
                    "{name} redirected back without an authorization code (and without an \
                     error): the authorization was refused or did not finish"
                ),
            )
            .with_hint("press Allow on the consent page")
            .with_step(again)),
            Callback::WrongState { carried } => Err(Error::new(
                ErrorKind::BadInput,
                format!(
                    "the redirect to the callback carried {} this login sent: it does not answer \
                     this authorization (an old browser tab, or a forged request), so its code \
                     was not used",
                    if carried {
                        "a state other than the one"
                    } else {
                        "no state, not the one"
                    }
                ),
            )
            .with_step(again)
            .with_hint("finish the sign-in in the window it opens")),
            Callback::Refused { error, description } => {
                let hint = match error.as_str() {
                    "invalid_scope" => format!(
                        "check `scopes` under [oauth] in {} against the OAuth application's scopes",
                        instance.source.display()
                    ),
                    _ => format!(
                        "check `client_id` under [oauth] in {} and the OAuth application on the \
                         instance (a public client needs PKCE allowed, and \
                         http://127.0.0.1:PORT/callback among its redirect URLs)",
                        instance.source.display()
                    ),
                };
                Err(Error::new(
                    ErrorKind::Instance,
                    format!(
                        "{name} refused the authorization: error={error}{}",
                        description.map(|d| format!(" ({d})")).unwrap_or_default()
                    ),
                )
                .with_hint(hint))
            }
        }
    }
}

/// The loopback listener: a task serving `127.0.0.1:<port>` until dropped, handing each
/// `GET /callback` over as a [`Callback`].
struct Loopback {
    received: tokio::sync::mpsc::Receiver<Callback>,
    server: tokio::task::JoinHandle<()>,
}

impl Loopback {
    /// Binds the port of `request`'s redirect URI (an error naming `redirect_port` when it is
    /// taken) and starts serving.
    async fn bind(instance: &Instance, request: &Request) -> Result<Loopback> {
        let port = request.redirect_uri.port().unwrap_or(80);
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(|e| port_error(instance, port, &e))?;
        let (sender, received) = tokio::sync::mpsc::channel(1);
        let server = tokio::spawn(serve(listener, request.state.clone(), sender));
        Ok(Loopback { received, server })
    }

    /// The first callback; `None` if the listener stopped.
    async fn next(&mut self) -> Option<Callback> {
        self.received.recv().await
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        // Ends the accept loop and, with its JoinSet, every connection it serves.
        self.server.abort();
    }
}

fn port_error(instance: &Instance, port: u16, e: &std::io::Error) -> Error {
    let why = match e.kind() {
        std::io::ErrorKind::AddrInUse => "is in use by another program".to_owned(),
        std::io::ErrorKind::PermissionDenied => "may not be listened on by this user".to_owned(),
        _ => format!("cannot be listened on ({e})"),
    };
    let client = instance
        .oauth
        .as_ref()
        .map(|o| o.client_id.as_str())
        .unwrap_or_default();
    Error::bad_input(format!(
        "{}: key `oauth.redirect_port`: 127.0.0.1:{port} {why}, so the redirect from {} \
         cannot be caught; no browser was started",
        instance.source.display(),
        instance.name
    ))
    .with_hint(format!(
        "stop what listens there, or set redirect_port under [oauth] to a free port and list \
         http://127.0.0.1:PORT/callback among the redirect URLs of the OAuth application \
         (client {client}) on the instance"
    ))
}

/// Accepts connections until aborted, each read on a task of its own, so a connection Chrome
/// opens speculatively and never uses holds nothing up.
async fn serve(
    listener: tokio::net::TcpListener,
    state: Secret,
    sender: tokio::sync::mpsc::Sender<Callback>,
) {
    let state = Arc::new(state);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // One connection that went wrong; the next may be the redirect.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the callback listener stopped");
                return;
            }
        };
        let (state, sender) = (state.clone(), sender.clone());
        connections.spawn(respond(stream, state, sender));
        while connections.try_join_next().is_some() {}
    }
}

/// The most a request head may take; a redirect with a code and a state is far shorter.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// How long a connection may take to send its request head.
const REQUEST_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads one request head from `stream` and answers it, then closes the connection.
///
/// Hand-written: one GET with no body is all a redirect sends, and an HTTP server crate (hyper's
/// server half and its friends) would enter every library user's build for it.
async fn respond(
    mut stream: tokio::net::TcpStream,
    state: Arc<Secret>,
    sender: tokio::sync::mpsc::Sender<Callback>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::with_capacity(1024);
    let read = tokio::time::timeout(REQUEST_PATIENCE, async {
        let mut chunk = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut chunk).await?;
            if n == 0 || head.len() + n > MAX_REQUEST_HEAD {
                return Err(std::io::Error::other("no complete request head"));
            }
            head.extend_from_slice(&chunk[..n]);
        }
        Ok(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return;
    }
    let line = head
        .split(|&b| b == b'\n')
        .next()
        .map(|l| String::from_utf8_lossy(l).trim_end().to_owned())
        .unwrap_or_default();
    let (status, body) = answer(&line, &state, &sender);
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The answer to one request line (`GET /callback?code=...&state=... HTTP/1.1`) on the loopback
/// port: a callback is judged, handed over, and answered with a short page saying the window can
/// be closed; anything else is 404 (or 405 for another method). Returns the status line's code
/// and reason, and the page.
fn answer(
    request_line: &str,
    state: &Secret,
    sender: &tokio::sync::mpsc::Sender<Callback>,
) -> (&'static str, String) {
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    if path != CALLBACK_PATH {
        return ("404 Not Found", page("Not found."));
    }
    if method != "GET" {
        return ("405 Method Not Allowed", page("The redirect is a GET."));
    }
    let callback = Callback::judge(query, state.expose());
    let text = callback.page();
    // The first callback decides; a reload of the page changes nothing.
    let _ = sender.try_send(callback);
    (
        "200 OK",
        page(&format!("{text} You can close this window.")),
    )
}

fn page(text: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>snowbridge</title>\
         </head><body><p id=\"snowbridge_callback\">{text}</p></body></html>"
    )
}

/// How much longer than the watch the drive may wait.
const DRIVE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// What the browser part ended with.
struct Caught {
    callback: Callback,
    /// The user the instance's pages named, or who snowbridge logged in as.
    user: Option<String>,
}

/// Runs the authorization code flow with PKCE for `instance` (`auth = "oauth-pkce"`), stores
/// the tokens in `vault`, proves them with a REST call and returns the session.
///
/// `options` are the browser login's: `browser` (headed for a person where a display exists),
/// `credentials` (fill the login form, then press Allow, without a person), `mfa_code` and the
/// [`Prompter`](crate::prompt::Prompter) for one-time codes, `timeout` for the whole wait (the
/// person's included), `diagnostics` for a failed page; `remember_me` is not used (the
/// browser's session is thrown away). The client secret, for a private client, comes from
/// `SNOWBRIDGE_CLIENT_SECRET` or the keyring; a public client sends none.
///
/// Errors: bad input for a missing `redirect_port` or one in use (before a browser starts);
/// cancelled for Deny, a redirect without a code or a closed window; bad input for a redirect
/// carrying another `state`; the instance's error for any other `error=`; login required for a
/// refused login or code exchange, or the timeout; the browser's errors.
pub async fn authorize(
    instance: &Instance,
    vault: Arc<Vault>,
    options: LoginOptions,
) -> Result<Session> {
    if instance.auth != AuthMethod::OauthPkce {
        return Err(Error::usage(format!(
            "{}: auth = \"{}\" has no authorization code flow (that is auth = \"oauth-pkce\")",
            instance.source.display(),
            instance.auth
        )));
    }
    if options.credentials.is_none() && options.browser.runs_headless() {
        return Err(Error::new(
            ErrorKind::LoginRequired,
            "authorizing without a person needs a user name and password to fill in the login \
             form, and none were given",
        )
        .with_steps([
            NextStep::give_secret(&instance.name, crate::secret::SecretKind::Password),
            NextStep::NameUser {
                instance: instance.name.clone(),
                file: instance.source.clone(),
            },
            NextStep::LogInWithWindow {
                instance: instance.name.clone(),
            },
        ]));
    }
    let request = Request::new(instance)?;
    // Bound before the browser opens: a port in use fails now, not after the person logged in.
    let mut loopback = Loopback::bind(instance, &request).await?;
    let browser = login::open_browser(instance, &options).await?;
    let outcome = catch(instance, &browser, &options, &request, &mut loopback).await;
    let caught = login::close_browser(instance, browser, &options, "authorize", outcome).await?;
    drop(loopback);
    let code = caught.callback.into_code(instance)?;

    let secret = secrets::find(instance, Kind::ClientSecret, &Given::default());
    let tokens = token::Endpoint::new(instance)?
        .authorization_code(
            &code,
            &request.redirect_uri,
            &request.verifier,
            secret.as_ref().map(|(s, _)| s),
        )
        .await?;
    let mut record = super::fresh_record(instance);
    record.user = caught.user.or(record.user);
    record.set_tokens(tokens);
    let auth = super::auth_for(instance, &Given::default())?;
    let session = Session::with_auth(instance, vault.clone(), record, auth)?;
    session.prove().await?;
    super::keep_tokens(&vault, &session)?;
    Ok(session)
}

/// Opens the authorization page and waits for the redirect, while snowbridge (with
/// credentials) or the person logs in and presses Allow, and while the window, the instance's
/// error page and the deadline are watched.
async fn catch(
    instance: &Instance,
    browser: &Browser,
    options: &LoginOptions,
    request: &Request,
    loopback: &mut Loopback,
) -> Result<Caught> {
    browser
        .client()
        .goto(request.url.as_str())
        .await
        .map_err(|e| login::browser_error("opening the authorization page", e))?;
    let deadline = crate::browser::deadline_in(options.timeout);
    let seen = Mutex::new(None);
    let watching = watch(instance, browser, deadline, &seen, request);
    tokio::pin!(watching);
    let filled_as = options.credentials.as_ref().map(|(user, _)| user.clone());
    // The watch reports the deadline; the drive waits a moment longer, so that one message
    // says so whichever of them is waiting.
    let driving = drive(instance, browser, options, request, deadline + DRIVE_GRACE);
    // The callback first: once the redirect is in, nothing the page does matters.
    let callback = tokio::select! {
        biased;
        callback = loopback.next() => callback,
        stop = &mut watching => return Err(stop),
        driven = driving => {
            driven?;
            tokio::select! {
                biased;
                callback = loopback.next() => callback,
                stop = &mut watching => return Err(stop),
            }
        }
    };
    let callback = callback.ok_or_else(|| {
        Error::internal(format!(
            "the listener for {} stopped before the redirect came (its debug log says why)",
            request.redirect_uri
        ))
    })?;
    let seen = seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    Ok(Caught {
        callback,
        user: seen.or(filled_as),
    })
}

/// Without a person: fills the login form and presses Allow. With one: tells them what to do.
/// Returns once its part is done; the redirect is awaited by the caller.
async fn drive(
    instance: &Instance,
    browser: &Browser,
    options: &LoginOptions,
    request: &Request,
    deadline: Instant,
) -> Result<()> {
    let allow = "press Allow to let snowbridge use the instance";
    let Some((user, password)) = &options.credentials else {
        options.prompter.tell(&format!(
            "Log in to {} in the browser window (single sign-on and multi-factor prompts \
             included), then {allow}; waiting up to {} minutes.",
            instance.base(),
            options.timeout.as_secs().div_ceil(60)
        ));
        return Ok(());
    };
    let filled = login::log_in_with_form(
        instance,
        browser,
        options,
        user,
        password,
        deadline,
        &request.url,
    )
    .await?;
    if let Filled::AtIdentityProvider(idp) = filled {
        options.prompter.tell(&format!(
            "The instance sent the browser to the identity provider at {idp}: finish the login \
             in the browser window, then {allow}."
        ));
        return Ok(());
    }
    // The consent page: its Allow button, once the instance shows it.
    let host = login::instance_host(instance);
    let host = host.as_str();
    let consent = browser
        .wait_for(deadline, |c| async move {
            let Some(p) = login::probe(&c).await? else {
                return Ok(None);
            };
            if p.host != host || p.ready != "complete" || !p.path.ends_with("oauth_auth.do") {
                return Ok(None);
            }
            Ok(c.find(Locator::Id("oauth_allow")).await.ok())
        })
        .await?;
    match consent {
        Wait::Ready(allow) => allow
            .click()
            .await
            .map_err(|e| login::browser_error("pressing Allow on the consent page", e)),
        // The watch reports these with its own words.
        Wait::Closed | Wait::TimedOut => Ok(()),
    }
}

/// Watches the browser until the window closes, the deadline passes, or the instance shows an
/// error on its authorization page; returns that as the error. Notes in `seen` the user the
/// instance's pages name. A login that lands on another logged-in page (a single sign-on
/// front door that loses where the login was going) is sent back to the authorization, once.
async fn watch(
    instance: &Instance,
    browser: &Browser,
    deadline: Instant,
    seen: &Mutex<Option<String>>,
    request: &Request,
) -> Error {
    let host = login::instance_host(instance);
    let host = host.as_str();
    let authorize = request.url.as_str();
    let sent_back = AtomicBool::new(false);
    let sent_back = &sent_back;
    let outcome = browser
        .wait_for(deadline, |c| async move {
            let Some(p) = login::probe(&c).await? else {
                return Ok(None);
            };
            if p.host != host || p.ready != "complete" {
                return Ok(None);
            }
            if let Some(user) = p.user.filter(|u| !u.is_empty()) {
                *seen
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(user);
            }
            if p.path.ends_with("oauth_auth.do") {
                return Ok(p.error.filter(|e| !e.is_empty()));
            }
            let logged_in = p.token.is_some_and(|t| !t.is_empty()) && !login::is_login_path(&p.path);
            if logged_in && !sent_back.swap(true, Ordering::SeqCst) {
                tracing::info!(path = %p.path, "logged in away from the authorization page; opening it again");
                c.goto(authorize).await?;
            }
            Ok(None)
        })
        .await;
    let name = &instance.name;
    match outcome {
        Ok(Wait::Ready(shown)) => Error::new(
            ErrorKind::Instance,
            format!("{name} refused the authorization request: {shown}"),
        )
        .with_hint(format!(
            "check `client_id` under [oauth] in {}, and that {} is among the redirect URLs of the \
             OAuth application on the instance (or change redirect_port to one that is)",
            instance.source.display(),
            request.redirect_uri
        )),
        Ok(Wait::Closed) => Error::new(
            ErrorKind::Cancelled,
            format!(
                "authorization cancelled: the browser window was closed before {name} redirected \
                 back"
            ),
        )
        .with_hint("press Allow on the consent page")
        .with_step(NextStep::LogIn {
            instance: name.clone(),
        }),
        Ok(Wait::TimedOut) => Error::new(
            ErrorKind::LoginRequired,
            format!("the authorization on {name} did not finish in time"),
        )
        .with_step(NextStep::AllowMoreTime),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_answered_by_path_and_method() {
        let (sender, mut received) = tokio::sync::mpsc::channel(1);
        let state = Secret::new("s1");
        let line = |l: &str| answer(l, &state, &sender).0;
        assert_eq!(line("GET /favicon.ico HTTP/1.1"), "404 Not Found");
        assert_eq!(line(""), "404 Not Found");
        assert_eq!(
            line("POST /callback?code=c&state=s1 HTTP/1.1"),
            "405 Method Not Allowed"
        );
        assert!(received.try_recv().is_err(), "nothing handed over yet");
        assert_eq!(line("GET /callback?code=c&state=s1 HTTP/1.1"), "200 OK");
        assert!(received.try_recv().is_ok(), "the callback is handed over");
    }

    #[test]
    fn callbacks_are_judged_state_first() {
        let judge = |q: &str| Callback::judge(Some(q), "st-1");
        assert_eq!(
            judge("code=abc&state=st-1"),
            Callback::Code(Secret::new("abc"))
        );
        assert_eq!(judge("error=access_denied&state=st-1"), Callback::Denied);
        assert_eq!(judge("state=st-1"), Callback::NoCode);
        assert_eq!(judge("code=&state=st-1"), Callback::NoCode);
        assert_eq!(
            judge("error=invalid_scope&error_description=no+such+scope&state=st-1"),
            Callback::Refused {
                error: "invalid_scope".into(),
                description: Some("no such scope".into())
            }
        );
        // Nothing in a redirect with another state, or none, is believed.
        assert_eq!(
            judge("code=abc&state=st-2"),
            Callback::WrongState { carried: true }
        );
        assert_eq!(
            judge("error=access_denied"),
            Callback::WrongState { carried: false }
        );
        assert_eq!(
            Callback::judge(None, "st-1"),
            Callback::WrongState { carried: false }
        );
    }

    #[test]
    fn each_refusal_has_its_own_message_and_kind() {
        let instance = Instance::parse(
            "dev",
            std::path::Path::new("dev.toml"),
            "url = \"https://dev.service-now.com\"\nauth = \"oauth-pkce\"\n[oauth]\nclient_id = \"c\"\nredirect_port = 8400\n",
        )
        .unwrap();
        let refusals = [
            (Callback::Denied, ErrorKind::Cancelled, "denied"),
            (
                Callback::NoCode,
                ErrorKind::Cancelled,
                "without an authorization code",
            ),
            (
                Callback::WrongState { carried: true },
                ErrorKind::BadInput,
                "a state other than",
            ),
            (
                Callback::Refused {
                    error: "invalid_request".into(),
                    description: None,
                },
                ErrorKind::Instance,
                "error=invalid_request",
            ),
        ];
        for (callback, kind, words) in refusals {
            let e = callback.into_code(&instance).unwrap_err();
            assert_eq!(e.kind(), kind, "{e}");
            assert!(e.message().contains(words), "{e}");
            assert_eq!(e.kind().exit_code(), 1);
        }
    }
}
