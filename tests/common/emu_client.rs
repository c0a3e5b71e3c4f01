//! Test helpers for the emulator's integration tests: a reqwest client that never follows
//! redirects or stores cookies on its own, an explicit cookie jar fed from Set-Cookie headers
//! (so tests can assert each header exactly), and a few flows (UI login, reading hidden inputs).
#![allow(dead_code)]

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, SET_COOKIE};
use snowbridge::emulator::{Emulator, EmulatorConfig};

/// An emulator with defaults and `incidents` seeded incidents.
pub fn start(incidents: usize) -> Emulator {
    Emulator::start(EmulatorConfig {
        incidents,
        ..EmulatorConfig::default()
    })
    .expect("the emulator starts")
}

/// A client with redirects off and no cookie store.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// One parsed Set-Cookie header.
#[derive(Clone, Debug)]
pub struct SetCookie {
    pub raw: String,
    pub name: String,
    pub value: String,
    pub max_age: Option<i64>,
    pub http_only: bool,
    pub secure: bool,
    pub same_site: Option<String>,
    pub path: Option<String>,
}

pub fn set_cookies(headers: &HeaderMap) -> Vec<SetCookie> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| {
            let raw = v.to_str().unwrap().to_string();
            let mut parts = raw.split(';').map(str::trim);
            let (name, value) = parts.next().unwrap().split_once('=').unwrap();
            let mut cookie = SetCookie {
                raw: raw.clone(),
                name: name.to_string(),
                value: value.to_string(),
                max_age: None,
                http_only: false,
                secure: false,
                same_site: None,
                path: None,
            };
            for attr in parts {
                let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
                match k.to_ascii_lowercase().as_str() {
                    "max-age" => cookie.max_age = Some(v.parse().unwrap()),
                    "httponly" => cookie.http_only = true,
                    "secure" => cookie.secure = true,
                    "samesite" => cookie.same_site = Some(v.to_string()),
                    "path" => cookie.path = Some(v.to_string()),
                    _ => {}
                }
            }
            cookie
        })
        .collect()
}

/// The Set-Cookie named `name`, if the reply had one.
pub fn set_cookie(headers: &HeaderMap, name: &str) -> Option<SetCookie> {
    set_cookies(headers).into_iter().find(|c| c.name == name)
}

/// A cookie jar for one host, fed explicitly.
#[derive(Clone, Debug, Default)]
pub struct Jar {
    pub cookies: BTreeMap<String, String>,
}

impl Jar {
    /// Applies a reply's Set-Cookie headers (Max-Age=0 deletes).
    pub fn absorb(&mut self, headers: &HeaderMap) {
        for c in set_cookies(headers) {
            if c.max_age == Some(0) {
                self.cookies.remove(&c.name);
            } else {
                self.cookies.insert(c.name, c.value);
            }
        }
    }

    pub fn header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }
}

/// The value of the hidden input named `name` in `html`.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let at = html.find(&marker)?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let value_at = tag.find("value=\"")? + "value=\"".len();
    let value_end = value_at + tag[value_at..].find('"')?;
    Some(unescape(&tag[value_at..value_end]))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The texts of the page's messages of `kind` ("error" or "info"): elements with class
/// `outputmsg_<kind>`, text in their `.outputmsg_text`.
pub fn messages(html: &str, kind: &str) -> Vec<String> {
    let marker = format!("<div class=\"outputmsg outputmsg_{kind}");
    html.match_indices(&marker)
        .filter_map(|(at, _)| {
            let rest = &html[at..];
            let start = rest.find("<span class=\"outputmsg_text\">")?
                + "<span class=\"outputmsg_text\">".len();
            let end = start + rest[start..].find("</span>")?;
            Some(unescape(&rest[start..end]))
        })
        .collect()
}

/// `var g_ck = '...'` from a logged-in page.
pub fn g_ck(html: &str) -> Option<String> {
    let start = html.find("var g_ck = '")? + "var g_ck = '".len();
    let end = start + html[start..].find('\'')?;
    Some(html[start..end].to_string())
}

pub fn location(headers: &HeaderMap) -> String {
    headers
        .get(reqwest::header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| v.to_str().unwrap().to_string())
}

/// A browser-like session against one emulator: jar + client, requests resolve against `base`.
pub struct Browser {
    pub base: url::Url,
    pub client: reqwest::Client,
    pub jar: Jar,
}

impl Browser {
    pub fn new(base: url::Url) -> Browser {
        Browser {
            base,
            client: client(),
            jar: Jar::default(),
        }
    }

    pub fn with_client(base: url::Url, client: reqwest::Client) -> Browser {
        Browser {
            base,
            client,
            jar: Jar::default(),
        }
    }

    pub fn url(&self, path: &str) -> url::Url {
        self.base.join(path).unwrap()
    }

    pub async fn get(&mut self, path: &str) -> reqwest::Response {
        let response = self
            .client
            .get(self.url(path))
            .header("Cookie", self.jar.header())
            .send()
            .await
            .unwrap();
        self.jar.absorb(response.headers());
        response
    }

    pub async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let response = self
            .client
            .post(self.url(path))
            .header("Cookie", self.jar.header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.jar.absorb(response.headers());
        response
    }

    /// Logs in through the UI form; returns the landing page's g_ck.
    pub async fn login(&mut self, user: &str, password: &str, remember: bool) -> String {
        let page = self.get("/login.do").await.text().await.unwrap();
        let ck = input_value(&page, "sysparm_ck").expect("login form carries sysparm_ck");
        let mut form = vec![
            ("user_name", user),
            ("user_password", password),
            ("sysparm_ck", ck.as_str()),
            ("sys_action", "sysverb_login"),
        ];
        if remember {
            form.push(("remember_me", "true"));
        }
        let posted = self.post_form("/login.do", &form).await;
        assert_eq!(posted.status(), 302, "login post redirects");
        assert_eq!(location(posted.headers()), "/login_redirect.do");
        let redirect = self.get("/login_redirect.do").await;
        assert_eq!(location(redirect.headers()), "/navpage.do");
        let nav = self.get("/navpage.do").await;
        assert_eq!(nav.status(), 200);
        g_ck(&nav.text().await.unwrap()).expect("the landing page carries g_ck")
    }

    /// A REST call with the jar's cookies and, if given, `X-UserToken`.
    pub async fn api(
        &mut self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("Cookie", self.jar.header())
            .header("Accept", "application/json");
        if let Some(token) = token {
            request = request.header("X-UserToken", token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        self.jar.absorb(response.headers());
        response
    }
}

/// A Basic-auth request builder against `emu`.
pub fn basic(
    emu: &Emulator,
    method: reqwest::Method,
    path: &str,
    user: &str,
) -> reqwest::RequestBuilder {
    client()
        .request(method, emu.url().join(path).unwrap())
        .basic_auth(user, Some("snowbridge"))
        .header("Accept", "application/json")
}
