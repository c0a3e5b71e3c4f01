//! The browser login: a real Chrome on the instance's login page, filled in by snowbridge when
//! it has the credentials, or finished by a person (single sign-on, multi-factor), then every
//! cookie the instance set captured with its attributes, plus `g_ck` and the User-Agent.
//!
//! It drives the page through the login form's documented element ids (`user_name`,
//! `user_password`, `sysverb_login`) and the `g_ck` global, never through layout. It stores what
//! it captured in the vault and proves it with one REST call; it does not decide where
//! credentials come from (the caller passes them in).
//!
//! The login profile is kept for the identity provider's cookies ("remember this device") only:
//! the instance's own cookies (the session, and the 15-day remember-me cookies) are deleted from
//! the browser before it closes, so they live in the vault alone, not in a profile database
//! whose key may be Chromium's public one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::Locator;
use fantoccini::error::CmdError;

use crate::browser::{Browser, BrowserCookie, Options, PartitionKey, Wait};
use crate::cookie::Cookie;
use crate::error::{Error, ErrorKind, NextStep, Result};
use crate::instance::Instance;
use crate::prompt::{CodeRequest, Prompter};
use crate::secret::Secret;
use crate::session::{Session, Validity};
use crate::vault::{Obtained, SessionRecord, Vault};

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
    /// Whoever is at the keyboard: asked for one-time codes, told what to do at the window.
    pub prompter: Arc<dyn Prompter>,
    /// Where a failed login's screenshot and page go.
    pub diagnostics: std::path::PathBuf,
}

/// What the page showed after the form was posted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Landing {
    LoggedIn(Secret),
    /// The multi-factor page, with the error it shows (after a refused code).
    MultiFactor(Option<String>),
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
        marker: window.__snowbridge_marker || null,
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

/// Where the page stands, as [`PROBE`] reports it.
#[derive(Debug, serde::Deserialize)]
pub(super) struct Probe {
    /// Set by [`mark`] on the document it ran in; absent on a newer one.
    marker: Option<String>,
    /// `location.host` (with the port).
    pub(super) host: String,
    /// `location.pathname`.
    pub(super) path: String,
    /// `document.readyState`.
    pub(super) ready: String,
    /// `g_ck`, where the page is a logged-in one.
    pub(super) token: Option<String>,
    /// The logged-in user, where the page names one (`NOW.user_name`, `g_user`).
    pub(super) user: Option<String>,
    /// The text of the page's `.outputmsg_error`.
    pub(super) error: Option<String>,
    form: bool,
    frames: u32,
    mfa: bool,
    neterror: Option<String>,
}

/// Where the page stands; `None` while it navigates (no script can run).
pub(super) async fn probe(client: &fantoccini::Client) -> Result<Option<Probe>, CmdError> {
    crate::browser::read_page(client, PROBE).await
}

/// The instance's host as `location.host` shows it (with a port, where the URL names one).
pub(super) fn instance_host(instance: &Instance) -> String {
    let url = &instance.url;
    match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    }
}

/// Is `path` one of the pages a login passes through (login form, multi-factor, single sign-on
/// hand-off, timeouts)?
pub(super) fn is_login_path(path: &str) -> bool {
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
/// REST call and returns it. Before the browser starts, [`check_login_page`] makes sure the
/// instance's `login.do` is a way to log in (a wrong `url` fails in seconds, not at the timeout);
/// a one-time code the instance refuses is asked of the [`Prompter`] again, three codes in all.
pub async fn login(
    instance: &Instance,
    vault: Arc<Vault>,
    options: LoginOptions,
) -> Result<Session> {
    super::supported(instance)?;
    let browser = open_browser(instance, &options).await?;
    let outcome = drive(instance, &browser, &options).await;
    let captured = close_browser(instance, browser, &options, "login", outcome).await?;

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
        .with_hint("the instance may bind sessions to the browser; report this with the debug log (tracing at the debug level)")),
        Validity::Unreachable(why) => Err(Error::new(ErrorKind::Unreachable, why)),
    }
}

/// The managed Chrome of a login on `instance`, ready to be driven: [`check_login_page`] first
/// (a wrong `url` fails in seconds, before a browser starts), then Chrome started with
/// [`Options::for_instance`](crate::browser::Options::for_instance), with the instance's cookies that an interrupted login left in the profile
/// deleted. End it with [`close_browser`], whatever the outcome.
pub(super) async fn open_browser(instance: &Instance, options: &LoginOptions) -> Result<Browser> {
    check_login_page(instance, options.timeout.min(PAGE_CHECK_TIMEOUT)).await?;
    let browser = Browser::launch(&options.browser.for_instance(instance).await?).await?;
    // A login that was interrupted (killed before it could clean up) may have left some behind.
    if let Err(e) = forget_instance_cookies(instance, &browser).await {
        tracing::warn!(target: crate::NOTICE_TARGET, "{}", e.message());
    }
    Ok(browser)
}

/// Ends a browser from [`open_browser`] once `outcome` is known: the instance's cookies are
/// deleted from the profile and Chrome is closed. A failure (not a cancel) first saves the page
/// in `options.diagnostics`, in a folder named after `label`.
pub(super) async fn close_browser<T>(
    instance: &Instance,
    browser: Browser,
    options: &LoginOptions,
    label: &str,
    outcome: Result<T>,
) -> Result<T> {
    let value = match outcome {
        Ok(value) => value,
        Err(e) => {
            let e = if e.kind() == ErrorKind::Cancelled {
                e
            } else {
                match browser.diagnose(&options.diagnostics, label).await {
                    Ok(saved) => e.with_note(&format!("page saved in {}", saved.display())),
                    Err(_) => e,
                }
            };
            let _ = forget_instance_cookies(instance, &browser).await;
            let _ = browser.close().await;
            return Err(e);
        }
    };
    // What the browser gave is in hand: a failure to delete the cookies is reported, not
    // allowed to throw it away; the next login tries again.
    if let Err(e) = forget_instance_cookies(instance, &browser).await {
        tracing::warn!(target: crate::NOTICE_TARGET, "{}", e.message());
    }
    // Closing the session lets Chrome write its profile (the identity provider's "remember this
    // device" lives there).
    browser.close().await?;
    Ok(value)
}

/// How long the look at `login.do` before the browser starts may take at most.
const PAGE_CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of the login page is read: enough for its form and title.
const PAGE_LIMIT: usize = 512 * 1024;

/// Fetches the instance's `login.do` over HTTP (no browser, redirects followed) and fails fast,
/// saying what answered, when it is not a way to log in to ServiceNow: a `404`, another site's
/// page, a hibernating developer instance. A ServiceNow login form (or the page framing it, or a
/// single sign-on hand-off) passes, and so does a redirect to another host (the identity
/// provider), which only the browser can follow through. Without this a wrong `url` cost the
/// whole `--timeout` of a browser waiting for a form that never comes.
pub async fn check_login_page(instance: &Instance, timeout: Duration) -> Result<()> {
    let url = instance.join("/login.do")?;
    let builder = crate::tls::client_builder()
        .redirect(reqwest::redirect::Policy::limited(10))
        .cookie_store(true)
        .user_agent(crate::session::DEFAULT_USER_AGENT)
        .timeout(timeout)
        .connect_timeout(timeout);
    let client = crate::session::trust(builder, instance)?
        .build()
        .map_err(|e| Error::internal(format!("cannot set up HTTP for {}: {e}", instance.name)))?;
    let mut response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "text/html")
        .send()
        .await
        .map_err(|e| {
            if crate::session::probe::untrusted_certificate(&e) {
                return crate::session::probe::transport(instance, &e, timeout);
            }
            let mut cause = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(inner) = source {
                cause = inner.to_string();
                source = inner.source();
            }
            Error::new(
                ErrorKind::Unreachable,
                format!("could not open {url}: {cause}"),
            )
            .with_hint("check your network")
            .with_steps([
                NextStep::FixInstanceFile {
                    file: instance.source.clone(),
                    key: "url".into(),
                },
                NextStep::CheckSetup {
                    instance: instance.name.clone(),
                },
            ])
        })?;
    let landed = response.url().clone();
    if landed.host_str() != url.host_str()
        || landed.port_or_known_default() != url.port_or_known_default()
    {
        tracing::debug!(to = %landed, "login.do sends the browser to another host (single sign-on)");
        return Ok(());
    }
    let status = response.status();
    let mut body = Vec::new();
    while body.len() < PAGE_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Unreachable,
                    format!("{url} broke off its answer: {e}"),
                ));
            }
        }
    }
    judge_login_page(instance, &landed, status, &String::from_utf8_lossy(&body))
}

/// Is this page (from `url`, with `status`) a way to log in to ServiceNow?
fn judge_login_page(
    instance: &Instance,
    url: &url::Url,
    status: reqwest::StatusCode,
    html: &str,
) -> Result<()> {
    let lower = html.to_ascii_lowercase();
    let form = lower.contains("user_name")
        && (lower.contains("sysverb_login") || lower.contains("login.do"));
    // Some releases frame the form: the page first loaded holds an iframe on login.do.
    let framed = lower.contains("<iframe") && lower.contains("login.do");
    let hand_off = lower.contains("samlrequest");
    if status.is_success() && (form || framed || hand_off) {
        return Ok(());
    }
    let file = instance.source.display();
    if let crate::session::page::Page::Hibernating { wake } = crate::session::page::classify(html) {
        return Err(Error::new(
            ErrorKind::Unreachable,
            format!("{} is hibernating: wake it at {wake}", instance.base()),
        )
        .with_hint(format!(
            "sign in at {wake} to wake it, wait until {} opens, then log in again",
            instance.base()
        )));
    }
    let what = match crate::session::page::title(html) {
        Some(title) => format!("a page titled {title:?}"),
        None if html.trim().is_empty() => "an empty page".to_owned(),
        None => "a page without a title".to_owned(),
    };
    let reason = status.canonical_reason().unwrap_or_default();
    Err(Error::new(
        ErrorKind::Unreachable,
        format!(
            "{url} is not a ServiceNow login page: it answered HTTP {} {reason} with {what} and no login form",
            status.as_u16()
        ),
    )
    .with_hint(format!(
        "check `url` in {file}: it must be the instance's own address (https://NAME.service-now.com), not the identity provider's or another site's"
    )))
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
            match log_in_with_form(
                instance, browser, options, user, password, deadline, &login_url,
            )
            .await?
            {
                Filled::LoggedIn(token) => (token, Some(user.clone()), true),
                Filled::AtIdentityProvider(idp) => {
                    options.prompter.tell(&format!(
                        "The instance sent the browser to the identity provider at {idp}: finish the login in the browser window."
                    ));
                    let (token, seen) = wait_for_person(browser, &host, deadline).await?;
                    (token, seen.or(Some(user.clone())), false)
                }
            }
        }
        None => {
            if browser.is_headless() {
                return Err(Error::new(
                    ErrorKind::LoginRequired,
                    "an interactive login needs a browser window, and this one is headless",
                )
                .with_hint("a headless login fills the form itself")
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
            options.prompter.tell(&format!(
                "Log in to {} in the browser window (single sign-on and multi-factor prompts included); waiting up to {} minutes.",
                instance.base(),
                options.timeout.as_secs().div_ceil(60)
            ));
            let (token, user) = wait_for_person(browser, &host, deadline).await?;
            (token, user, false)
        }
    };

    let cookies = crate::browser::instance_cookies(instance, browser.all_cookies().await?);
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

/// Where filling the login form led.
pub(super) enum Filled {
    /// Logged in: the page shows `g_ck` (given here) off the login pages.
    LoggedIn(Secret),
    /// The instance sent the browser to this identity provider (host): a person must finish
    /// there, in the window (a headless browser is an error instead).
    AtIdentityProvider(String),
}

/// Fills the login form that `opened` (the URL the browser was sent to) led to with `user` and
/// `password`, and follows what comes after it: the multi-factor page (codes from
/// `options.mfa_code`, then the [`Prompter`]), the identity provider, or a refusal. Errors: login
/// required for a refused password or code, or for single sign-on in a headless browser;
/// unreachable for a page Chrome could not load; browser errors; cancelled for a closed window.
pub(super) async fn log_in_with_form(
    instance: &Instance,
    browser: &Browser,
    options: &LoginOptions,
    user: &str,
    password: &Secret,
    deadline: Instant,
    opened: &url::Url,
) -> Result<Filled> {
    let host = instance_host(instance);
    match fill_in(browser, &instance.name, &host, user, password, options, deadline).await? {
        Landing::LoggedIn(token) => Ok(Filled::LoggedIn(token)),
        Landing::IdentityProvider(idp) => {
            if browser.is_headless() {
                return Err(Error::new(
                    ErrorKind::LoginRequired,
                    format!("{user} logs in through an identity provider ({idp}): only a person can finish that"),
                )
                .with_step(NextStep::LogInWithWindow {
                    instance: instance.name.clone(),
                }));
            }
            Ok(Filled::AtIdentityProvider(idp))
        }
        Landing::MultiFactor(_) => Err(Error::internal(
            "the multi-factor page is answered inside the form filling",
        )),
        Landing::NotLoaded(error) => Err(Error::new(
            ErrorKind::Unreachable,
            format!("the browser could not load {opened}: {error}"),
        )
        .with_hint(
            "for a certificate error, name the instance's CA in the instance file (ca_file = \"...\")",
        )),
        Landing::Refused(message) => Err(Error::new(
            ErrorKind::LoginRequired,
            format!("{} refused the login of {user}: {message}", instance.name),
        )
        .with_hint("check the user name and the password")
        .with_step(NextStep::give_secret(
            &instance.name,
            crate::secret::SecretKind::Password,
        ))),
    }
}

/// Is this cookie in the browser the instance's (partitioned ones included)?
fn instance_owns(instance: &Instance, cookie: &BrowserCookie) -> bool {
    crate::cookie::domain_matches(
        &instance.url,
        &cookie.domain,
        !cookie.domain.starts_with('.'),
    )
}

/// Deletes the instance's cookies from the browser (CDP `Network.deleteCookies`, each by its
/// exact name, domain, path and partition), leaving the identity provider's and every other
/// site's, then reads back: an error names any Chrome kept.
async fn forget_instance_cookies(instance: &Instance, browser: &Browser) -> Result<()> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Delete<'a> {
        name: &'a str,
        domain: &'a str,
        path: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        partition_key: Option<serde_json::Value>,
    }
    let present = browser.browser_cookies().await?;
    for cookie in present.iter().filter(|c| instance_owns(instance, c)) {
        let partition_key = match &cookie.partition_key {
            None => None,
            Some(PartitionKey::Site {
                top_level_site,
                has_cross_site_ancestor,
            }) => Some(serde_json::json!({
                "topLevelSite": top_level_site,
                "hasCrossSiteAncestor": has_cross_site_ancestor,
            })),
            Some(PartitionKey::Legacy(site)) => Some(serde_json::json!(site)),
        };
        browser
            .cdp::<_, serde_json::Value>(
                "Network.deleteCookies",
                &Delete {
                    name: &cookie.name,
                    domain: &cookie.domain,
                    path: &cookie.path,
                    partition_key,
                },
            )
            .await?;
    }
    let kept: Vec<String> = browser
        .browser_cookies()
        .await?
        .iter()
        .filter(|c| instance_owns(instance, c))
        .map(|c| c.name.clone())
        .collect();
    if kept.is_empty() {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Browser,
            format!(
                "Chrome kept {} of {}'s cookies in the login profile {} ({}): delete that folder to remove them",
                kept.len(),
                instance.name,
                browser.profile_dir().display(),
                kept.join(", ")
            ),
        ))
    }
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
    // The page the form is posted from is not the answer to it.
    let mut stale = Some(mark(client).await?);
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

    let mut sent = 0;
    loop {
        match await_landing(browser, host, deadline, stale.as_deref()).await? {
            Landing::MultiFactor(shown) => {
                let refused = |hint: String, steps: Vec<NextStep>| {
                    let said = shown
                        .as_deref()
                        .map(|s| format!(" (the page said: {s})"))
                        .unwrap_or_default();
                    Err(Error::new(
                        ErrorKind::LoginRequired,
                        format!(
                            "the one-time code for {user} was not accepted{said}{}",
                            if sent > 1 {
                                format!(", {sent} times")
                            } else {
                                String::new()
                            }
                        ),
                    )
                    .with_hint(hint)
                    .with_steps(steps))
                };
                if sent >= CODE_TRIES {
                    return refused(
                        "check that the authenticator's clock is right".into(),
                        vec![NextStep::LogIn {
                            instance: instance.to_owned(),
                        }],
                    );
                }
                // `--mfa-code` is the first code; a person at the terminal gives the later ones.
                let code = match options.mfa_code.clone().filter(|_| sent == 0) {
                    Some(code) => Some(code),
                    None => {
                        if sent > 0 {
                            options.prompter.tell(&format!(
                                "{instance} did not accept the code{}; {} tries left.",
                                shown
                                    .as_deref()
                                    .map(|s| format!(" ({s})"))
                                    .unwrap_or_default(),
                                CODE_TRIES - sent
                            ));
                        }
                        let request = CodeRequest {
                            instance: instance.to_owned(),
                            user: user.to_owned(),
                            refused: sent,
                        };
                        crate::prompt::ask(&options.prompter, move |p| p.one_time_code(&request))
                            .await
                    }
                };
                let code = match code {
                    Some(code) => code,
                    None if sent > 0 => {
                        // The password was right: the hint must be about the code.
                        return refused(
                            "codes change every few seconds".into(),
                            vec![
                                NextStep::GiveOneTimeCode {
                                    instance: instance.to_owned(),
                                },
                                NextStep::log_in_with_prompts(instance),
                            ],
                        );
                    }
                    None => {
                        return Err(Error::new(
                            ErrorKind::LoginRequired,
                            format!("{user} needs a one-time code (multi-factor login) and there is no one to ask"),
                        )
                        .with_steps([
                            NextStep::GiveOneTimeCode {
                                instance: instance.to_owned(),
                            },
                            NextStep::log_in_with_prompts(instance),
                        ]));
                    }
                };
                stale = Some(mark(client).await?);
                submit_code(client, &code).await?;
                sent += 1;
            }
            other => return Ok(other),
        }
    }
}

/// How many one-time codes a login sends before it gives up.
const CODE_TRIES: u32 = 3;

/// Marks the document on screen, so the page that replaces it can be told apart.
async fn mark(client: &fantoccini::Client) -> Result<String> {
    let marker = uuid::Uuid::new_v4().to_string();
    client
        .execute(
            "window.__snowbridge_marker = arguments[0]; return true;",
            vec![marker.clone().into()],
        )
        .await
        .map_err(|e| browser_error("reading the multi-factor page", e))?;
    Ok(marker)
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
/// `stale` marks the page the form was posted from: it is not the answer.
async fn await_landing(
    browser: &Browser,
    host: &str,
    deadline: Instant,
    stale: Option<&str>,
) -> Result<Landing> {
    browser
        .wait_for(deadline, |c| async move {
            let Some(p) = probe(&c).await? else {
                return Ok(None);
            };
            if stale.is_some() && p.marker.as_deref() == stale {
                return Ok(None);
            }
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
                return Ok(Some(Landing::MultiFactor(
                    p.error.filter(|e| !e.is_empty()),
                )));
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
        .with_step(NextStep::AllowMoreTime)),
    }
}

/// A failed WebDriver command while `doing`: cancelled for a closed window, else a browser error.
pub(super) fn browser_error(doing: &str, e: CmdError) -> Error {
    let e = crate::browser::command_error(doing, e);
    match e.kind() {
        ErrorKind::Cancelled => Error::new(
            ErrorKind::Cancelled,
            "login cancelled: the browser window was closed",
        ),
        _ => e,
    }
}
