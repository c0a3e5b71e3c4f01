//! The browser: a real Chrome driven through chromedriver over WebDriver.
//!
//! Owns finding chromedriver and Chrome, starting them with a dedicated profile, making sure
//! they die with snowbridge (orderly close, drop, panic, Ctrl-C, or snowbridge killed), the
//! Chrome DevTools passthrough with browser-wide cookie reading and seeding, waiting on
//! conditions, and diagnostics captures. It knows nothing of ServiceNow, logins or the vault:
//! the login flows and fallback actions are built on top of [`Browser`].
//!
//! ```no_run
//! # async fn demo() -> snowbridge::Result<()> {
//! use snowbridge::browser::{Browser, Options};
//! let browser = Browser::launch(&Options::new("/tmp/profile")).await?;
//! browser.client().goto("http://127.0.0.1:8080/").await.ok();
//! let cookies = browser.all_cookies().await?;
//! browser.close().await?;
//! # let _ = cookies; Ok(()) }
//! ```

mod cdp;
mod chrome;
mod diagnose;
mod driver;
mod locate;
mod profile;
mod reaper;
mod trust;
mod wait;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use url::Url;

pub use cdp::{BrowserCookie, PartitionKey};
pub use chrome::{SANDBOX_ENV, VersionMismatch, version_mismatch};
pub use locate::{CHROME_ENV, CHROMEDRIVER_ENV, find_chrome, find_chromedriver};
pub use reaper::{install_signal_cleanup, kill_all};
pub use trust::verified_spki;
pub use wait::{MAX_WAIT, Wait};
pub(crate) use wait::{deadline_in, is_closed, poll_until};

use crate::cookie::Cookie;
use crate::error::{Error, ErrorKind, Result};
use driver::Driver;

/// How long Chrome may take to start and open a session.
const SESSION_TIMEOUT: Duration = Duration::from_secs(90);
/// How long an orderly close may take before the processes are killed anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a drop without close waits for Chrome to quit cleanly before the kill.
const DROP_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often [`Browser::wait_for`] checks its condition: 20 ms after the first check, the
/// interval doubling to 200 ms (a page that is there at once is seen at once; a person's
/// minutes of typing cost five checks a second).
const WAIT_POLL: (Duration, Duration) = (Duration::from_millis(20), Duration::from_millis(200));

/// How to start (or reach) a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// chromedriver to run; else `$SNOWBRIDGE_CHROMEDRIVER`, else `chromedriver` on `PATH`.
    pub chromedriver: Option<PathBuf>,
    /// Chrome to run; else `$SNOWBRIDGE_CHROME`, else the usual names and places.
    pub chrome: Option<PathBuf>,
    /// A WebDriver already running (`--webdriver URL`): nothing is started or killed, and Chrome
    /// is the driver's choice unless `chrome` is set.
    pub webdriver_url: Option<Url>,
    /// `Some(true)` headless, `Some(false)` a window; `None`: a window where a display exists.
    pub headless: Option<bool>,
    /// The dedicated profile folder (one per instance). Chrome 136+ refuses automation of the
    /// person's default profile, and two Chromes cannot share one folder.
    pub profile_dir: PathBuf,
    /// Window size in pixels; headless defaults to 1280x1024.
    pub window_size: Option<(u32, u32)>,
    /// Base64 SHA-256 hashes of certificate public keys (SPKI) Chrome should accept without a
    /// trusted chain (`--ignore-certificate-errors-spki-list`): the emulator's, a test server's.
    pub trusted_spki: Vec<String>,
    /// More Chrome arguments, after ours.
    pub extra_args: Vec<String>,
}

impl Options {
    /// Defaults for a browser on the profile folder `profile_dir`.
    pub fn new(profile_dir: impl Into<PathBuf>) -> Options {
        Options {
            profile_dir: profile_dir.into(),
            ..Options::default()
        }
    }
}

/// A Chrome session: the WebDriver client, and (unless attached to an outside WebDriver) the
/// chromedriver and Chrome processes, which end with it.
///
/// End it with [`Browser::close`] where possible (the session is closed so Chrome shuts down
/// cleanly); dropping it also closes the session, bounded by a short timeout, then kills.
pub struct Browser {
    client: Client,
    driver: Option<Driver>,
    session_id: Option<String>,
    chrome_pid: Option<u32>,
    headless: bool,
    profile_dir: PathBuf,
    open: bool,
}

impl Options {
    /// These options for a browser on `instance`: where the instance file names a `ca_file`,
    /// the instance's certificate, once verified against it, is made acceptable to Chrome
    /// (which cannot be given CA certificates for one run) by its public key's hash.
    ///
    /// Errors: [`ErrorKind::BadInput`] naming the file and key for a `ca_file` that cannot be
    /// read or does not verify the instance's certificate.
    pub async fn for_instance(&self, instance: &crate::instance::Instance) -> Result<Options> {
        let mut options = self.clone();
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
        let pin = verified_spki(&instance.url, &pem)
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

    /// True when Chrome will run without a window: asked for, or (Linux) no display found
    /// (`DISPLAY` and `WAYLAND_DISPLAY` unset), as [`Browser::launch`] decides it.
    pub fn runs_headless(&self) -> bool {
        chrome::decide_headless(self.headless, &|name| std::env::var_os(name))
    }
}

/// Opens a WebDriver session at `url`. chromedriver on loopback speaks plain HTTP, so that
/// connection gets no TLS set-up (no CA store read); an `https` WebDriver gets rustls with the
/// system's roots. The outer error: the client could not be set up; the inner: the session.
async fn webdriver_session(
    url: &Url,
    capabilities: fantoccini::wd::Capabilities,
) -> Result<std::result::Result<Client, fantoccini::error::NewSessionError>> {
    if url.scheme() == "http" {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        // WebDriver commands are small request/reply pairs: no Nagle delay between them.
        http.set_nodelay(true);
        let mut builder = ClientBuilder::new(http);
        builder.capabilities(capabilities);
        return Ok(builder.connect(url.as_str()).await);
    }
    crate::tls::install_default();
    let mut builder = ClientBuilder::rustls().map_err(|e| {
        Error::new(
            ErrorKind::Browser,
            format!("cannot set up the WebDriver client: {e}"),
        )
        .with_hint("install the system's CA certificates (`apt-get install ca-certificates`)")
    })?;
    builder.capabilities(capabilities);
    Ok(builder.connect(url.as_str()).await)
}

impl Browser {
    /// Starts chromedriver and Chrome (or reaches `options.webdriver_url`) and opens a session.
    pub async fn launch(options: &Options) -> Result<Browser> {
        let env = |name: &str| std::env::var_os(name);
        let headless = chrome::decide_headless(options.headless, &env);
        let profile_dir = profile::prepare(&options.profile_dir)?;
        let (mut driver, url, binary) = match &options.webdriver_url {
            Some(url) => (None, with_trailing_slash(url), options.chrome.clone()),
            None => {
                let chromedriver = find_chromedriver(options.chromedriver.as_deref())?;
                let chrome = find_chrome(options.chrome.as_deref())?;
                let driver = Driver::start(&chromedriver).await?;
                let url = driver.url().clone();
                (Some(driver), url, Some(chrome))
            }
        };
        let launch = chrome::Launch {
            headless,
            host: chrome::Host::probe().await,
            profile_dir: &profile_dir,
            window_size: options.window_size,
            trusted_spki: &options.trusted_spki,
            extra_args: &options.extra_args,
        };
        let capabilities = launch.capabilities(binary.as_deref());
        let client = match tokio::time::timeout(
            SESSION_TIMEOUT,
            webdriver_session(&url, capabilities),
        )
        .await
        {
            Ok(Ok(Ok(client))) => client,
            Ok(Ok(Err(e))) => {
                let output = driver.as_mut().map(Driver::output_tail).unwrap_or_default();
                return Err(chrome::session_error(e, &output));
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Browser,
                    format!("Chrome did not start within {}s", SESSION_TIMEOUT.as_secs()),
                ));
            }
        };
        let session_id = client
            .session_id()
            .await
            .map_err(|e| command_error("reading the WebDriver session", e))?;
        let chrome_pid = client
            .capabilities()
            .and_then(|caps| caps.get("goog:processID"))
            .and_then(serde_json::Value::as_u64)
            .and_then(|pid| u32::try_from(pid).ok());
        tracing::debug!(
            headless,
            profile = %profile_dir.display(),
            driver = driver.as_ref().map(Driver::version).unwrap_or("outside"),
            "browser session open"
        );
        Ok(Browser {
            client,
            driver,
            session_id,
            chrome_pid,
            headless,
            profile_dir,
            open: true,
        })
    }

    /// The WebDriver client, for navigation, forms and scripts.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Chrome's main process id, when chromedriver reported it.
    pub fn chrome_pid(&self) -> Option<u32> {
        self.chrome_pid
    }

    /// chromedriver's process id (on Unix also the process group Chrome runs in); `None` when
    /// attached to an outside WebDriver.
    pub fn driver_pid(&self) -> Option<u32> {
        self.driver.as_ref().map(Driver::pid)
    }

    /// True when Chrome runs without a window.
    pub fn is_headless(&self) -> bool {
        self.headless
    }

    /// The profile folder Chrome runs in (absolute).
    pub fn profile_dir(&self) -> &Path {
        &self.profile_dir
    }

    /// Closes the session (Chrome shuts down cleanly and writes its profile), then ends
    /// chromedriver. A window the person already closed is not an error.
    pub async fn close(mut self) -> Result<()> {
        self.open = false;
        let ended = tokio::time::timeout(CLOSE_TIMEOUT, self.client.clone().close()).await;
        if let Some(driver) = self.driver.as_mut() {
            driver.kill();
        }
        match ended {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if is_closed(&e) => Ok(()),
            Ok(Err(e)) => Err(command_error("closing the browser", e)),
            Err(_) => Err(Error::new(
                ErrorKind::Browser,
                format!(
                    "Chrome did not close within {}s and was killed",
                    CLOSE_TIMEOUT.as_secs()
                ),
            )),
        }
    }

    /// Sends the DevTools command `cmd` (e.g. `"Browser.getVersion"`) and decodes its result.
    pub async fn cdp<P, R>(&self, cmd: &str, params: &P) -> Result<R>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        cdp::execute(&self.client, cmd, params)
            .await
            .map_err(|e| command_error(&format!("running the DevTools command {cmd}"), e))
    }

    /// Every cookie in the browser, for every site, HttpOnly ones included, as Chrome reports
    /// them (partitioned ones too).
    pub async fn browser_cookies(&self) -> Result<Vec<BrowserCookie>> {
        let none = serde_json::json!({});
        let listed =
            match cdp::execute::<_, cdp::CookieList>(&self.client, "Storage.getCookies", &none)
                .await
            {
                Err(e) if !is_closed(&e) => {
                    tracing::debug!(
                        "Storage.getCookies failed ({e}); trying Network.getAllCookies"
                    );
                    cdp::execute(&self.client, "Network.getAllCookies", &none).await
                }
                other => other,
            };
        listed
            .map(|list| list.cookies)
            .map_err(|e| command_error("reading the browser's cookies", e))
    }

    /// Every unpartitioned cookie in the browser, HttpOnly ones included, with host-only,
    /// Secure, SameSite and expiry as Chrome keeps them.
    pub async fn all_cookies(&self) -> Result<Vec<Cookie>> {
        let found = self.browser_cookies().await?;
        let cookies: Vec<Cookie> = found.iter().filter_map(BrowserCookie::to_cookie).collect();
        if cookies.len() < found.len() {
            tracing::debug!(
                skipped = found.len() - cookies.len(),
                "partitioned cookies left out"
            );
        }
        Ok(cookies)
    }

    /// Puts `cookies` into the browser as they are (host-only stays host-only, expiry to the
    /// microsecond), before any page of theirs is opened. Expired cookies are skipped; of two
    /// with the same domain, path and name the later wins. Chrome drops cookies it will not
    /// keep without a word, so they are read back: any missing is an error naming them.
    pub async fn set_cookies(&self, cookies: &[Cookie]) -> Result<()> {
        let now = OffsetDateTime::now_utc();
        let mut wanted: Vec<&Cookie> = Vec::new();
        for cookie in cookies.iter().filter(|c| !c.is_expired_at(now)) {
            wanted.retain(|kept| kept.key() != cookie.key());
            wanted.push(cookie);
        }
        if wanted.is_empty() {
            return Ok(());
        }
        #[derive(Serialize)]
        struct SetCookies<'a> {
            cookies: Vec<cdp::CookieParam<'a>>,
        }
        let params = SetCookies {
            cookies: wanted
                .iter()
                .map(|c| cdp::CookieParam::from_cookie(c))
                .collect(),
        };
        let set =
            match cdp::execute::<_, serde_json::Value>(&self.client, "Storage.setCookies", &params)
                .await
            {
                Err(e) if !is_closed(&e) => {
                    tracing::debug!("Storage.setCookies failed ({e}); trying Network.setCookies");
                    cdp::execute(&self.client, "Network.setCookies", &params).await
                }
                other => other,
            };
        set.map_err(|e| command_error("putting cookies into the browser", e))?;

        let present = self.browser_cookies().await?;
        let refused: Vec<&str> = wanted
            .iter()
            .filter(|w| !present.iter().any(|found| cdp::same_cookie(found, w)))
            .map(|c| c.name.as_str())
            .collect();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Browser,
                format!(
                    "Chrome refused {} of {} cookies: {}",
                    refused.len(),
                    wanted.len(),
                    refused.join(", ")
                ),
            ))
        }
    }

    /// The User-Agent the browser sends (`navigator.userAgent`; `Browser.getVersion` where no
    /// page can run a script).
    pub async fn user_agent(&self) -> Result<String> {
        match self
            .client
            .execute("return navigator.userAgent", Vec::new())
            .await
        {
            Ok(serde_json::Value::String(ua)) if !ua.is_empty() => return Ok(ua),
            Err(e) if is_closed(&e) => return Err(command_error("reading the User-Agent", e)),
            _ => {}
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Version {
            user_agent: String,
        }
        let version: Version = self
            .cdp("Browser.getVersion", &serde_json::json!({}))
            .await?;
        Ok(version.user_agent)
    }

    /// Checks `check` (20 ms after the first check, then at intervals doubling to 200 ms) until
    /// it yields `Some` ([`Wait::Ready`]), the window is
    /// closed ([`Wait::Closed`]) or `deadline` passes ([`Wait::TimedOut`]). Any other error
    /// from the check ends the wait as an error: a check that expects transient failures
    /// (a page still loading) should answer `Ok(None)` for them.
    pub async fn wait_for<T, F, Fut>(&self, deadline: Instant, mut check: F) -> Result<Wait<T>>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<Option<T>, CmdError>>,
    {
        enum Stop {
            Closed,
            Failed(CmdError),
        }
        let outcome = poll_until(deadline, WAIT_POLL, || {
            let checking = check(self.client.clone());
            async move {
                match checking.await {
                    Ok(found) => Ok(found),
                    Err(e) if is_closed(&e) => Err(Stop::Closed),
                    Err(e) => Err(Stop::Failed(e)),
                }
            }
        })
        .await;
        match outcome {
            Ok(Some(found)) => Ok(Wait::Ready(found)),
            Ok(None) => Ok(Wait::TimedOut),
            Err(Stop::Closed) => Ok(Wait::Closed),
            Err(Stop::Failed(e)) => Err(command_error("waiting on the browser", e)),
        }
    }

    /// Saves the page's URL, HTML and a screenshot into a new owner-only folder under `dir`
    /// (named after the time and `label`) and returns that folder. Parts that cannot be
    /// captured are listed in its `errors.txt`.
    pub async fn diagnose(&self, dir: &Path, label: &str) -> Result<PathBuf> {
        diagnose::capture(&self.client, dir, label).await
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let Some(driver) = self.driver.as_mut() else {
            return;
        };
        let session_id = self.session_id.as_deref().filter(|_| self.open);
        // Up to DROP_CLOSE_TIMEOUT waiting on chromedriver: not on a runtime's worker.
        crate::blocking::wait(|| {
            if let Some(session_id) = session_id {
                driver.end_session_blocking(session_id, DROP_CLOSE_TIMEOUT);
            }
            driver.kill();
        });
    }
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("session_id", &self.session_id)
            .field("chrome_pid", &self.chrome_pid)
            .field("headless", &self.headless)
            .field("profile_dir", &self.profile_dir)
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

/// Where the page stands, as `script` reports it: a script that returns `JSON.stringify` of an
/// object read into `T`. `None` while the page navigates (no script can run then) or when the
/// report does not read as `T`; an error only when the window is gone.
pub(crate) async fn read_page<T: DeserializeOwned>(
    client: &Client,
    script: &str,
) -> std::result::Result<Option<T>, CmdError> {
    match client.execute(script, vec![]).await {
        Ok(serde_json::Value::String(text)) => Ok(serde_json::from_str(&text).ok()),
        Ok(_) => Ok(None),
        Err(e) if is_closed(&e) => Err(e),
        // A page in the middle of navigating cannot run scripts; ask again.
        Err(_) => Ok(None),
    }
}

/// The cookies of `instance` among those a browser holds: the ones a request to its host would
/// carry by domain (any path), not expired. The identity provider's and other sites' are left
/// out.
pub fn instance_cookies(instance: &crate::instance::Instance, cookies: Vec<Cookie>) -> Vec<Cookie> {
    let now = time::OffsetDateTime::now_utc();
    cookies
        .into_iter()
        .filter(|c| c.is_for_host_of(&instance.url) && !c.is_expired_at(now))
        .collect()
}

/// A failed WebDriver command as the crate's error: [`ErrorKind::Cancelled`] when the window
/// was closed, [`ErrorKind::Browser`] otherwise.
pub(crate) fn command_error(doing: &str, err: CmdError) -> Error {
    if is_closed(&err) {
        Error::new(
            ErrorKind::Cancelled,
            format!("the browser window was closed (while {doing})"),
        )
    } else {
        Error::new(
            ErrorKind::Browser,
            format!("the browser failed while {doing}: {err}"),
        )
        .with_source(err)
    }
}

/// fantoccini joins endpoint paths onto the URL: without a trailing slash `/wd/hub` would lose
/// its last segment.
fn with_trailing_slash(url: &Url) -> Url {
    let mut url = url.clone();
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browser_can_move_between_tasks_and_threads() {
        fn send_and_sync<T: Send + Sync>() {}
        send_and_sync::<Browser>();
        send_and_sync::<Options>();
    }

    #[test]
    fn webdriver_urls_keep_their_path() {
        let url = Url::parse("http://grid:4444/wd/hub").unwrap();
        assert_eq!(
            with_trailing_slash(&url).join("session").unwrap().as_str(),
            "http://grid:4444/wd/hub/session"
        );
        let root = Url::parse("http://127.0.0.1:9515").unwrap();
        assert_eq!(
            with_trailing_slash(&root).as_str(),
            "http://127.0.0.1:9515/"
        );
    }
}
