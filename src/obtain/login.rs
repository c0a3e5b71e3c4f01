//! The browser login: a real Chrome on the instance's login page, filled in by snowbridge when
//! it has the credentials, or finished by a person (single sign-on, multi-factor), then every
//! cookie the instance set captured with its attributes, plus `g_ck` and the User-Agent.
//!
//! It drives the page through the login form's documented element ids (`user_name`,
//! `user_password`, `sysverb_login`) and the `g_ck` global, never through layout. It stores what
//! it captured in the vault and proves it with one REST call; it does not decide where
//! credentials come from (the caller passes them in).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::Locator;
use fantoccini::error::CmdError;
use time::OffsetDateTime;

use crate::browser::{Browser, Options, Wait};
use crate::cookie::Cookie;
use crate::error::{Error, ErrorKind, Result};
use crate::instance::Instance;
use crate::secret::Secret;
use crate::session::{Session, Validity};
use crate::vault::{Obtained, SessionRecord, Vault};

/// Who is at the keyboard, and what they can give.
pub trait Person: Send + Sync {
    /// Shows a line to the person (on the terminal).
    fn tell(&self, line: &str);
    /// Asks for the one-time code of a multi-factor login; `None` when nobody can be asked.
    fn one_time_code(&self) -> Option<Secret>;
}

/// How to log in.
pub struct LoginOptions {
    /// The browser to use; its `profile_dir` is the instance's dedicated login profile.
    pub browser: Options,
    /// Fill the form with these; `None` lets the person log in at the window.
    pub credentials: Option<(String, Secret)>,
    /// A one-time code given up front (`--mfa-code`).
    pub mfa_code: Option<Secret>,
    /// Tick "Remember me" when filling the form, so the session can outlive its idle timeout.
    pub remember_me: bool,
    /// How long to wait for the login to finish; at most [`MAX_WAIT`](crate::browser::MAX_WAIT)
    /// (longer is read as that).
    pub timeout: Duration,
    /// Whoever is at the terminal.
    pub person: Box<dyn Person>,
    /// Where a failed login's screenshot and page go.
    pub diagnostics: std::path::PathBuf,
}

/// What the page showed after the form was posted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Landing {
    LoggedIn(Secret),
    MultiFactor,
    IdentityProvider(String),
    Refused(String),
    /// Chrome showed its own error page (certificate, DNS, connection), with the error code.
    NotLoaded(String),
}

/// The script that reports where the page stands, as JSON.
const PROBE: &str = r#"
    const error = document.querySelector('.outputmsg_error');
    let token = null;
    try { token = (typeof g_ck === 'string' && g_ck) || (window.NOW && window.NOW.g_ck) || null; } catch (e) {}
    let user = null;
    try { user = (window.NOW && (window.NOW.user_name || (window.NOW.user && window.NOW.user.name))) || (window.g_user && window.g_user.userName) || null; } catch (e) {}
    return JSON.stringify({
        host: location.host,
        path: location.pathname,
        ready: document.readyState,
        token: token,
        user: user,
        error: error ? error.textContent.trim() : null,
        form: !!document.getElementById('user_name'),
        frames: window.frames.length,
        mfa: !!document.querySelector('form[action*="validate_multifactor_auth_code"]'),
        neterror: location.protocol === 'chrome-error:'
            ? ((document.querySelector('.error-code') || {}).textContent || 'the page did not load').trim()
            : null
    });
"#;

#[derive(Debug, serde::Deserialize)]
struct Probe {
    host: String,
    path: String,
    ready: String,
    token: Option<String>,
    user: Option<String>,
    error: Option<String>,
    form: bool,
    frames: u32,
    mfa: bool,
    neterror: Option<String>,
}

async fn probe(client: &fantoccini::Client) -> Result<Option<Probe>, CmdError> {
    match client.execute(PROBE, vec![]).await {
        Ok(serde_json::Value::String(text)) => Ok(serde_json::from_str(&text).ok()),
        Ok(_) => Ok(None),
        Err(e) if crate::browser::is_closed(&e) => Err(e),
        // A page in the middle of navigating cannot run scripts; ask again.
        Err(_) => Ok(None),
    }
}

fn instance_host(instance: &Instance) -> String {
    let url = &instance.url;
    match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    }
}

fn is_login_path(path: &str) -> bool {
    [
        "login.do",
        "login_redirect.do",
        "multi_factor_auth_view.do",
        "validate_multifactor_auth_code.do",
        "login_with_sso.do",
        "session_timeout.do",
        "logout_success.do",
    ]
    .iter()
    .any(|p| path.ends_with(p))
}

/// Logs in to `instance` through the browser, stores the session in `vault`, proves it with a
/// REST call and returns it.
pub async fn login(
    instance: &Instance,
    vault: Arc<Vault>,
    options: LoginOptions,
) -> Result<Session> {
    super::supported(instance)?;
    let browser = Browser::launch(&browser_options(instance, &options.browser).await?).await?;
    let outcome = drive(instance, &browser, &options).await;
    let captured = match outcome {
        Ok(captured) => captured,
        Err(e) => {
            let e = if e.kind() == ErrorKind::Cancelled {
                e
            } else {
                match browser.diagnose(&options.diagnostics, "login").await {
                    Ok(saved) => e.with_note(&format!("page saved in {}", saved.display())),
                    Err(_) => e,
                }
            };
            let _ = browser.close().await;
            return Err(e);
        }
    };
    // Closing the session lets Chrome write its profile (the identity provider's "remember this
    // device" lives there).
    browser.close().await?;

    let Captured {
        cookies,
        token,
        user_agent,
        user,
        automated,
    } = captured;
    let mut record = SessionRecord::new(
        &instance.name,
        &instance.url,
        if automated {
            Obtained::BrowserAutomated
        } else {
            Obtained::BrowserInteractive
        },
        cookies,
    );
    record.user = user;
    record.user_token = Some(token);
    record.user_agent = Some(user_agent);
    vault.store(&record)?;

    let session = Session::from_record(instance, vault, record)?;
    match session.validate(true).await {
        Validity::Valid { .. } | Validity::Forbidden(_) => {
            session.save()?;
            Ok(session)
        }
        Validity::Expired(why) => Err(Error::new(
            ErrorKind::LoginRequired,
            format!("the browser logged in, but the instance refused its cookies over REST: {why}"),
        )
        .with_hint("the instance may bind sessions to the browser; report this with `-vv` output")),
        Validity::Unreachable(why) => Err(Error::new(ErrorKind::Unreachable, why)),
    }
}

struct Captured {
    cookies: Vec<Cookie>,
    token: Secret,
    user_agent: String,
    user: Option<String>,
    automated: bool,
}

async fn drive(instance: &Instance, browser: &Browser, options: &LoginOptions) -> Result<Captured> {
    let client = browser.client();
    let login_url = instance.join("/login.do")?;
    client
        .goto(login_url.as_str())
        .await
        .map_err(|e| browser_error("opening the login page", e))?;
    let deadline = crate::browser::deadline_in(options.timeout);
    let host = instance_host(instance);

    let (token, user, automated) = match &options.credentials {
        Some((user, password)) => {
            match fill_in(
                browser,
                &instance.name,
                &host,
                user,
                password,
                options,
                deadline,
            )
            .await?
            {
                Landing::LoggedIn(token) => (token, Some(user.clone()), true),
                Landing::IdentityProvider(idp) => {
                    if browser.is_headless() {
                        return Err(Error::new(
                            ErrorKind::LoginRequired,
                            format!("{user} logs in through an identity provider ({idp}): only a person can finish that"),
                        )
                        .with_hint(format!(
                            "run `snowbridge connect {} --login` without --headless where a display is available",
                            instance.name
                        )));
                    }
                    options.person.tell(&format!(
                        "The instance sent the browser to the identity provider at {idp}: finish the login in the browser window."
                    ));
                    let (token, seen) = wait_for_person(browser, &host, deadline).await?;
                    (token, seen.or(Some(user.clone())), false)
                }
                Landing::MultiFactor => unreachable!("handled inside fill_in"),
                Landing::NotLoaded(error) => {
                    return Err(Error::new(
                        ErrorKind::Unreachable,
                        format!("the browser could not load {login_url}: {error}"),
                    )
                    .with_hint(
                        "for a certificate error, name the instance's CA in the instance file (ca_file = \"...\")",
                    ));
                }
                Landing::Refused(message) => {
                    return Err(Error::new(
                        ErrorKind::LoginRequired,
                        format!("{} refused the login of {user}: {message}", instance.name),
                    )
                    .with_hint(format!(
                        "check the user name and the password (`snowbridge password {}` stores a new one)",
                        instance.name
                    )));
                }
            }
        }
        None => {
            if browser.is_headless() {
                return Err(Error::new(
                    ErrorKind::LoginRequired,
                    "an interactive login needs a browser window, and this one is headless",
                )
                .with_hint("give credentials (username in the instance file or --user, and a password) for a headless login, or run where a display is available"));
            }
            options.person.tell(&format!(
                "Log in to {} in the browser window (single sign-on and multi-factor prompts included); waiting up to {} minutes.",
                instance.base(),
                options.timeout.as_secs().div_ceil(60)
            ));
            let (token, user) = wait_for_person(browser, &host, deadline).await?;
            (token, user, false)
        }
    };

    let cookies = instance_cookies(instance, browser.all_cookies().await?);
    if !cookies.iter().any(|c| c.name == "JSESSIONID") {
        return Err(Error::new(
            ErrorKind::Browser,
            "the login finished but the browser holds no JSESSIONID for the instance",
        ));
    }
    let user_agent = browser.user_agent().await?;
    Ok(Captured {
        cookies,
        token,
        user_agent,
        user,
        automated,
    })
}

/// The cookies a request to the instance would carry by domain (any path): the identity
/// provider's and other sites' stay in the login profile.
pub fn instance_cookies(instance: &Instance, cookies: Vec<Cookie>) -> Vec<Cookie> {
    let host = instance
        .url
        .host_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let now = OffsetDateTime::now_utc();
    cookies
        .into_iter()
        .filter(|c| {
            let domain = c.domain.trim_start_matches('.').to_ascii_lowercase();
            let domain_ok = if c.host_only || host.parse::<std::net::IpAddr>().is_ok() {
                host == domain
            } else {
                host == domain || host.ends_with(&format!(".{domain}"))
            };
            domain_ok && !c.is_expired_at(now)
        })
        .collect()
}

/// `options` for a browser on `instance`: where the instance file names a `ca_file`, the
/// instance's certificate, once verified against it, is made acceptable to Chrome (which
/// cannot be given CA certificates for one run).
pub async fn browser_options(instance: &Instance, options: &Options) -> Result<Options> {
    let mut options = options.clone();
    let Some(ca) = &instance.ca_file else {
        return Ok(options);
    };
    let in_file = |why: &str| {
        Error::bad_input(format!(
            "{}: key `ca_file`: {}: {why}",
            instance.source.display(),
            ca.display()
        ))
        .with_hint("point ca_file at a PEM file of CA certificates")
    };
    let pem = std::fs::read(ca).map_err(|e| in_file(&format!("cannot read it ({e})")))?;
    let pin = crate::browser::verified_spki(&instance.url, &pem)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::BadInput => in_file(e.message()),
            _ => e,
        })?;
    if let Some(pin) = pin
        && !options.trusted_spki.contains(&pin)
    {
        options.trusted_spki.push(pin);
    }
    Ok(options)
}

/// Fills the login form (in the page or its first frame) and follows what comes after it,
/// multi-factor page included.
async fn fill_in(
    browser: &Browser,
    instance: &str,
    host: &str,
    user: &str,
    password: &Secret,
    options: &LoginOptions,
    deadline: Instant,
) -> Result<Landing> {
    let client = browser.client();
    // The form, in the page or (some releases) in the page's first frame.
    let in_frame = browser
        .wait_for(deadline, |c| async move {
            let Some(p) = probe(&c).await? else {
                return Ok(None);
            };
            if let Some(error) = p.neterror {
                return Ok(Some(Err(Landing::NotLoaded(error))));
            }
            if p.host != host {
                return Ok(Some(Err(Landing::IdentityProvider(p.host))));
            }
            if p.ready != "complete" {
                return Ok(None);
            }
            if p.form {
                return Ok(Some(Ok(false)));
            }
            if p.frames > 0 {
                c.enter_frame(0).await?;
                let found = c.find(Locator::Id("user_name")).await.is_ok();
                c.enter_parent_frame().await?;
                if found {
                    return Ok(Some(Ok(true)));
                }
            }
            Ok(None)
        })
        .await?
        .into_result("the login form")?;
    let in_frame = match in_frame {
        Ok(in_frame) => in_frame,
        Err(landing) => return Ok(landing),
    };
    if in_frame {
        client
            .enter_frame(0)
            .await
            .map_err(|e| browser_error("entering the login frame", e))?;
    }
    let field = |id: &'static str| async move {
        client
            .find(Locator::Id(id))
            .await
            .map_err(|e| browser_error(&format!("finding #{id} on the login form"), e))
    };
    let name = field("user_name").await?;
    name.clear()
        .await
        .map_err(|e| browser_error("clearing the user name", e))?;
    name.send_keys(user)
        .await
        .map_err(|e| browser_error("typing the user name", e))?;
    let pass = field("user_password").await?;
    pass.send_keys(password.expose())
        .await
        .map_err(|e| browser_error("typing the password", e))?;
    if options.remember_me
        && let Ok(remember) = client
            .find(Locator::Css(
                "input[type=checkbox][name=remember_me], #remember_me",
            ))
            .await
        && !remember.is_selected().await.unwrap_or(true)
    {
        let _ = remember.click().await;
    }
    field("sysverb_login")
        .await?
        .click()
        .await
        .map_err(|e| browser_error("pressing Log in", e))?;
    if in_frame {
        let _ = client.enter_parent_frame().await;
    }

    let mut code_sent = false;
    loop {
        match await_landing(browser, host, deadline).await? {
            Landing::MultiFactor if code_sent => {
                // The password was right: the hint must be about the code.
                return Err(Error::new(
                    ErrorKind::LoginRequired,
                    format!("the one-time code for {user} was not accepted"),
                )
                .with_hint("pass the current code with --mfa-code (codes change every few seconds), or log in at a terminal to be asked for it"));
            }
            Landing::MultiFactor => {
                let code = match options
                    .mfa_code
                    .clone()
                    .or_else(|| options.person.one_time_code())
                {
                    Some(code) => code,
                    None => {
                        return Err(Error::new(
                            ErrorKind::LoginRequired,
                            format!("{user} needs a one-time code (multi-factor login) and there is no one to ask"),
                        )
                        .with_hint(format!(
                            "pass --mfa-code CODE, or run `snowbridge connect {instance} --login` at a terminal"
                        )));
                    }
                };
                submit_code(client, &code).await?;
                code_sent = true;
            }
            other => return Ok(other),
        }
    }
}

/// Types the one-time code into the multi-factor form and submits it.
async fn submit_code(client: &fantoccini::Client, code: &Secret) -> Result<()> {
    const FORM: &str = "form[action*='validate_multifactor_auth_code']";
    let input = client
        .find(Locator::Css(&format!(
            "{FORM} input[type=text], {FORM} input[type=number], {FORM} input[type=tel], {FORM} input[type=password]"
        )))
        .await
        .map_err(|e| browser_error("finding the code field", e))?;
    input
        .send_keys(code.expose())
        .await
        .map_err(|e| browser_error("typing the code", e))?;
    match client
        .find(Locator::Css(&format!(
            "{FORM} button[type=submit], {FORM} input[type=submit], {FORM} button"
        )))
        .await
    {
        Ok(button) => button.click().await,
        Err(_) => match client.form(Locator::Css(FORM)).await {
            Ok(form) => form.submit_direct().await,
            Err(e) => Err(e),
        },
    }
    .map_err(|e| browser_error("submitting the code", e))
}

/// Waits for what follows a posted form: logged in, a multi-factor page, the identity
/// provider, or the login page again with its error.
async fn await_landing(browser: &Browser, host: &str, deadline: Instant) -> Result<Landing> {
    browser
        .wait_for(deadline, |c| async move {
            let Some(p) = probe(&c).await? else {
                return Ok(None);
            };
            if let Some(error) = p.neterror {
                return Ok(Some(Landing::NotLoaded(error)));
            }
            if p.host != host {
                return Ok(Some(Landing::IdentityProvider(p.host)));
            }
            if p.ready != "complete" {
                return Ok(None);
            }
            if p.mfa || p.path.ends_with("multi_factor_auth_view.do") {
                return Ok(Some(Landing::MultiFactor));
            }
            if let Some(token) = p.token.filter(|t| !t.is_empty())
                && !is_login_path(&p.path)
            {
                return Ok(Some(Landing::LoggedIn(Secret::new(token))));
            }
            if let Some(error) = p.error.filter(|e| !e.is_empty()) {
                return Ok(Some(Landing::Refused(error)));
            }
            Ok(None)
        })
        .await?
        .into_result("the instance to answer the login")
}

/// Waits until a person has logged in: off the login, multi-factor and identity-provider
/// pages, `g_ck` present, the session cookie set.
async fn wait_for_person(
    browser: &Browser,
    host: &str,
    deadline: Instant,
) -> Result<(Secret, Option<String>)> {
    let outcome = browser
        .wait_for(deadline, |c| async move {
            let Some(p) = probe(&c).await? else {
                return Ok(None);
            };
            if p.host != host || p.ready != "complete" || is_login_path(&p.path) {
                return Ok(None);
            }
            Ok(p.token
                .filter(|t| !t.is_empty())
                .map(|t| (Secret::new(t), p.user)))
        })
        .await?;
    match outcome {
        Wait::Ready(found) => {
            let has_session = browser
                .all_cookies()
                .await?
                .iter()
                .any(|c| c.name == "JSESSIONID" && !c.value.is_empty());
            if has_session {
                Ok(found)
            } else {
                Err(Error::new(
                    ErrorKind::Browser,
                    "the page shows a session but no session cookie was set",
                ))
            }
        }
        Wait::Closed => Err(Error::new(
            ErrorKind::Cancelled,
            "login cancelled: the browser window was closed",
        )),
        Wait::TimedOut => Err(Error::new(
            ErrorKind::LoginRequired,
            "the login did not finish in time",
        )
        .with_hint("run it again, or give more time with --timeout")),
    }
}

fn browser_error(doing: &str, e: CmdError) -> Error {
    if crate::browser::is_closed(&e) {
        return Error::new(
            ErrorKind::Cancelled,
            "login cancelled: the browser window was closed",
        );
    }
    Error::new(
        ErrorKind::Browser,
        format!("the browser failed while {doing}: {e}"),
    )
}
