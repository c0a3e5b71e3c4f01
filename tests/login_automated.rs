//! The automated browser login, `snowbridge connect dev --login --headless` with the password in
//! SNOWBRIDGE_PASSWORD, through a real Chromium and chromedriver against the in-process emulator:
//! the cookies it stores are the ones the instance set (every attribute, and the values the
//! emulator holds), the session works over REST, and multi-factor logins take a code up front and
//! fail clearly (and promptly) without one.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::child::run_within;
use common::{Home, emulator, hidden_value};
use snowbridge::cookie::{Cookie, SameSite};
use snowbridge::emulator::Emulator;
use snowbridge::vault::Obtained;
use time::OffsetDateTime;

/// Long enough for a browser start and a login on a slow machine; a hang fails the test.
const LOGIN_WITHIN: Duration = Duration::from_secs(120);

/// Browsers cap a cookie's lifetime at 400 days (RFC 6265bis; Chrome since 104).
const BROWSER_MAX_AGE: i64 = 400 * 86_400;

/// Slack for clocks read at slightly different moments.
const SLACK: time::Duration = time::Duration::seconds(2);

/// `snowbridge connect dev --login --headless` with the password in the environment.
fn automated_login(home: &Home, extra: &[&str]) -> (std::process::ExitStatus, String, String) {
    let mut args = vec!["connect", "dev", "--login", "--headless"];
    args.extend_from_slice(extra);
    let mut command = home.command(&args);
    command.env("SNOWBRIDGE_PASSWORD", "snowbridge");
    run_within(command, LOGIN_WITHIN)
}

/// One Set-Cookie header as the emulator sent it.
#[derive(Debug, Clone)]
struct SetCookie {
    value: String,
    domain: Option<String>,
    path: Option<String>,
    max_age: Option<i64>,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
}

fn parse_set_cookie(line: &str) -> (String, SetCookie) {
    let mut parts = line.split(';').map(str::trim);
    let (name, value) = parts.next().unwrap().split_once('=').unwrap();
    let mut cookie = SetCookie {
        value: value.to_owned(),
        domain: None,
        path: None,
        max_age: None,
        secure: false,
        http_only: false,
        same_site: None,
    };
    for attribute in parts {
        let (key, value) = attribute.split_once('=').unwrap_or((attribute, ""));
        match key.to_ascii_lowercase().as_str() {
            "domain" => cookie.domain = Some(value.to_owned()),
            "path" => cookie.path = Some(value.to_owned()),
            "max-age" => cookie.max_age = Some(value.parse().unwrap()),
            "secure" => cookie.secure = true,
            "httponly" => cookie.http_only = true,
            "samesite" => {
                cookie.same_site = Some(match value.to_ascii_lowercase().as_str() {
                    "strict" => SameSite::Strict,
                    "lax" => SameSite::Lax,
                    "none" => SameSite::None,
                    other => panic!("SameSite={other}"),
                })
            }
            "expires" => assert!(
                cookie.max_age.is_some(),
                "the emulator sends Expires only beside Max-Age: {line}"
            ),
            _ => {}
        }
    }
    (name.to_owned(), cookie)
}

/// Logs `user` in over plain HTTP exactly as the login form posts (the same fields, "Remember
/// me" as asked), follows the redirects, and applies every Set-Cookie the emulator sent in
/// order: the cookies, by name, that a browser doing the same login ends up holding.
async fn cookies_the_emulator_sets(
    emu: &Emulator,
    user: &str,
    remember: bool,
) -> BTreeMap<String, SetCookie> {
    let mut client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if let Some(ca) = emu.ca_pem_path() {
        let pem = std::fs::read(ca).unwrap();
        client = client.tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem).unwrap());
    }
    let client = client.build().unwrap();
    let mut jar: BTreeMap<String, SetCookie> = BTreeMap::new();
    let absorb = |jar: &mut BTreeMap<String, SetCookie>, reply: &reqwest::Response| {
        for line in reply.headers().get_all(reqwest::header::SET_COOKIE) {
            let (name, cookie) = parse_set_cookie(line.to_str().unwrap());
            if cookie.max_age.is_some_and(|age| age <= 0) {
                jar.remove(&name);
            } else {
                jar.insert(name, cookie);
            }
        }
    };
    let header = |jar: &BTreeMap<String, SetCookie>| {
        jar.iter()
            .map(|(name, c)| format!("{name}={}", c.value))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let base = emu.url();
    let page = client
        .get(base.join("login.do").unwrap())
        .send()
        .await
        .unwrap();
    absorb(&mut jar, &page);
    let page = page.text().await.unwrap();
    let mut form = vec![
        ("user_name", user.to_owned()),
        ("user_password", "snowbridge".to_owned()),
        ("sysparm_ck", hidden_value(&page, "sysparm_ck").unwrap()),
        ("sys_action", "sysverb_login".to_owned()),
    ];
    if remember {
        form.push(("remember_me", "true".to_owned()));
    }
    let mut reply = client
        .post(base.join("login.do").unwrap())
        .header("Cookie", header(&jar))
        .form(&form)
        .send()
        .await
        .unwrap();
    absorb(&mut jar, &reply);
    while let Some(location) = reply.headers().get("location") {
        let next = base.join(location.to_str().unwrap()).unwrap();
        reply = client
            .get(next)
            .header("Cookie", header(&jar))
            .send()
            .await
            .unwrap();
        absorb(&mut jar, &reply);
    }
    assert!(
        reply.text().await.unwrap().contains("var g_ck = '"),
        "the reference login landed logged in"
    );
    jar
}

/// The stored cookies carry exactly the names and attributes the emulator set; persistent ones
/// expire `Max-Age` (capped as browsers cap it) after a moment within `during`.
fn assert_attributes_match(
    stored: &[Cookie],
    sent: &BTreeMap<String, SetCookie>,
    host: &str,
    during: (OffsetDateTime, OffsetDateTime),
) {
    let stored_names: Vec<&str> = {
        let mut names: Vec<&str> = stored.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        names
    };
    let sent_names: Vec<&str> = sent.keys().map(String::as_str).collect();
    assert_eq!(
        stored_names, sent_names,
        "the vault holds the cookies the instance set, no more, no less"
    );
    for cookie in stored {
        let set = &sent[&cookie.name];
        let name = &cookie.name;
        assert_eq!(cookie.domain, host, "{name}: domain");
        assert_eq!(
            cookie.host_only,
            set.domain.is_none(),
            "{name}: host-only exactly when the instance gave no Domain"
        );
        assert_eq!(
            cookie.path,
            set.path.as_deref().unwrap_or("/"),
            "{name}: path"
        );
        assert_eq!(cookie.secure, set.secure, "{name}: Secure");
        assert_eq!(cookie.http_only, set.http_only, "{name}: HttpOnly");
        assert_eq!(cookie.same_site, set.same_site, "{name}: SameSite");
        match (set.max_age, cookie.expires) {
            (None, None) => {}
            (Some(age), Some(expires)) => {
                let lifetime = time::Duration::seconds(age.min(BROWSER_MAX_AGE));
                let earliest = during.0 + lifetime - SLACK;
                let latest = during.1 + lifetime + SLACK;
                assert!(
                    earliest <= expires && expires <= latest,
                    "{name}: expires {expires}, not {lifetime} after the login ({earliest} .. {latest})"
                );
            }
            (Some(age), None) => panic!("{name}: Max-Age={age} but stored as a session cookie"),
            (None, Some(at)) => panic!("{name}: a session cookie stored as expiring at {at}"),
        }
    }
}

fn value<'a>(cookies: &'a [Cookie], name: &str) -> Option<&'a str> {
    cookies
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.value.expose())
}

/// Logs itil.user in through the browser (remember me as asked; over TLS with the emulator's own
/// CA named in the instance file, or plain HTTP) and checks what the vault holds against what
/// the emulator set and holds.
async fn login_and_compare(remember: bool, tls: bool) {
    common::require_browser();
    let emu = emulator(|c| c.tls = tls);
    let home = Home::new("dev", &emu);

    let started = OffsetDateTime::now_utc();
    let extra: &[&str] = if remember { &[] } else { &["--no-remember-me"] };
    let (status, out, err) = automated_login(&home, extra);
    let ended = OffsetDateTime::now_utc();
    assert!(status.success(), "login failed ({status}): {out}\n{err}");
    assert!(out.contains("logged in as itil.user"), "{out}");

    let record = home.vault().load("dev").unwrap().expect("a stored session");
    assert_eq!(record.obtained, Obtained::BrowserAutomated);
    assert_eq!(record.user.as_deref(), Some("itil.user"));
    let ua = record.user_agent.clone().expect("the browser's User-Agent");
    assert!(ua.contains("Chrome"), "{ua}");
    let stored: Vec<Cookie> = record.cookies().cloned().collect();

    // The session the vault holds is the one the emulator holds for itil.user, and g_ck is its
    // CSRF token.
    let jsessionid = value(&stored, "JSESSIONID").expect("JSESSIONID stored");
    let live = emu
        .control()
        .sessions()
        .into_iter()
        .find(|s| s.id == jsessionid)
        .expect("the stored JSESSIONID is a live session on the instance");
    assert_eq!(live.user, "itil.user");
    assert_eq!(
        record.user_token.as_ref().map(|t| t.expose()),
        Some(live.user_token.as_str()),
        "the stored g_ck is the session's token"
    );

    // Every attribute as the emulator set it: compare with the same login done over HTTP.
    let sent = cookies_the_emulator_sets(&emu, "itil.user", remember).await;
    assert_eq!(
        sent.values()
            .all(|c| c.secure && c.same_site == Some(SameSite::None)),
        tls,
        "over TLS every cookie is Secure; SameSite=None, over plain HTTP none is"
    );
    assert_attributes_match(&stored, &sent, "127.0.0.1", (started, ended));
    // Values the emulator gives every session alike must have come through unchanged.
    for name in [
        "BIGipServerpool_emulator",
        "glide_node_id_for_js",
        "glide_language",
    ] {
        assert_eq!(
            value(&stored, name),
            sent.get(name).map(|c| c.value.as_str()),
            "{name}: value"
        );
    }
    let remembered = stored.iter().find(|c| c.name == "glide_user_session");
    if remember {
        let kept = remembered.expect("Remember me ticked: glide_user_session stored");
        assert!(!kept.is_session(), "glide_user_session is persistent");
        assert!(!kept.value.is_empty());
        assert!(value(&stored, "glide_user").is_some_and(|v| !v.is_empty()));
    } else {
        assert!(
            remembered.is_none(),
            "Remember me not ticked: {remembered:?}"
        );
    }

    // REST through the HTTP session with the captured cookies.
    let before = emu.control().request_log().len();
    let out = home.run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]);
    assert!(out.status.success(), "api failed: {}", common::stderr(&out));
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["result"].as_array().map(Vec::len), Some(1), "{reply}");
    let log = emu.control().request_log();
    let calls: Vec<_> = log[before..]
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/now/table/incident"))
        .collect();
    assert_eq!(calls.len(), 1, "one call, no token dance: {calls:?}");
    assert_eq!(calls[0].status, 200);
    assert_eq!(calls[0].user.as_deref(), Some("itil.user"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automated_login_stores_the_cookies_the_instance_set_and_rest_works() {
    login_and_compare(true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_remember_me_no_remember_me_cookies_are_kept() {
    login_and_compare(false, false).await;
}

/// Chrome does not know the emulator's CA: snowbridge verifies the instance's certificate
/// against the instance file's `ca_file` and has Chrome accept that key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_the_instances_own_ca_secure_cookies_keep_their_attributes() {
    login_and_compare(true, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_factor_login_takes_the_code_given_up_front() {
    common::require_browser();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let (status, out, err) =
        automated_login(&home, &["--user", "mfa.user", "--mfa-code", "123456"]);
    assert!(
        status.success(),
        "MFA login failed ({status}): {out}\n{err}"
    );
    assert!(out.contains("logged in as mfa.user"), "{out}");
    let record = home.vault().load("dev").unwrap().expect("a stored session");
    let jsessionid = record
        .cookies()
        .find(|c| c.name == "JSESSIONID")
        .map(|c| c.value.expose().to_owned())
        .unwrap();
    let live = emu.control().sessions();
    assert!(
        live.iter()
            .any(|s| s.id == jsessionid && s.user == "mfa.user"),
        "the stored session is mfa.user's on the instance: {live:?}"
    );
    let out = home.run(&["api", "dev", "/api/now/table/incident?sysparm_limit=1"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_one_time_code_is_a_refused_login() {
    common::require_browser();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let (status, out, err) =
        automated_login(&home, &["--user", "mfa.user", "--mfa-code", "000000"]);
    assert_eq!(status.code(), Some(4), "{out}\n{err}");
    assert!(
        err.contains("one-time code for mfa.user was not accepted"),
        "{err}"
    );
    assert!(
        err.contains("--mfa-code"),
        "the hint is about the code: {err}"
    );
    assert!(!err.contains("password"), "the password was right: {err}");
    assert!(
        home.vault().load("dev").unwrap().is_none(),
        "nothing stored"
    );
    assert!(
        !emu.control()
            .sessions()
            .iter()
            .any(|s| s.user == "mfa.user"),
        "no session was opened for mfa.user"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_refused_login_with_the_instances_message() {
    common::require_browser();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let mut command = home.command(&["connect", "dev", "--login", "--headless"]);
    command.env("SNOWBRIDGE_PASSWORD", "not-the-password");
    let (status, out, err) = run_within(command, LOGIN_WITHIN);
    assert_eq!(status.code(), Some(4), "{out}\n{err}");
    assert!(err.contains("User ID or password invalid"), "{err}");
    assert!(
        home.vault().load("dev").unwrap().is_none(),
        "nothing stored"
    );
}

/// Single sign-on needs a person at a window: a headless run says so instead of waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_login_that_lands_at_the_identity_provider_says_a_person_is_needed() {
    common::require_browser();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    let (status, out, err) = automated_login(&home, &["--user", "sso.user"]);
    assert_eq!(status.code(), Some(4), "{out}\n{err}");
    assert!(err.contains("identity provider"), "{err}");
    assert!(
        err.contains("without --headless"),
        "the hint says what to run: {err}"
    );
    assert!(
        home.vault().load("dev").unwrap().is_none(),
        "nothing stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_factor_login_without_a_code_or_a_terminal_stops_and_says_so() {
    common::require_browser();
    let emu = emulator(|_| {});
    let home = Home::new("dev", &emu);
    // The default login timeout is 5 minutes: waiting for a code would overrun LOGIN_WITHIN.
    let (status, out, err) = automated_login(&home, &["--user", "mfa.user"]);
    assert_eq!(status.code(), Some(4), "{out}\n{err}");
    assert!(err.contains("needs a one-time code"), "{err}");
    assert!(
        err.contains("--mfa-code"),
        "the hint names the option: {err}"
    );
    assert!(
        home.vault().load("dev").unwrap().is_none(),
        "nothing stored"
    );
}

/// Chrome is told to accept only a key snowbridge verified: the instance's certificate must
/// chain to the CA in the instance file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_certificate_that_chains_to_ca_file_is_pinned_for_chrome() {
    let emu = emulator(|c| c.tls = true);
    let own_ca = std::fs::read(emu.ca_pem_path().unwrap()).unwrap();
    let pin = snowbridge::browser::verified_spki(&emu.url(), &own_ca)
        .await
        .unwrap();
    let pin = pin.expect("the emulator's certificate chains to its CA");
    assert_eq!(base64_len(&pin), 32, "a SHA-256 in base64: {pin}");

    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let other_ca = params.self_signed(&key).unwrap().pem();
    let none = snowbridge::browser::verified_spki(&emu.url(), other_ca.as_bytes())
        .await
        .unwrap();
    assert_eq!(none, None, "a certificate from another CA is not pinned");
}

fn base64_len(text: &str) -> usize {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
        .len()
}
