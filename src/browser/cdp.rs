//! Chrome DevTools Protocol commands through chromedriver, and the cookies they carry.
//!
//! Owns the passthrough (`POST /session/{id}/goog/cdp/execute` as a fantoccini custom command)
//! and the CDP cookie wire format: typed structs, and their conversion to and from the crate's
//! [`Cookie`] keeping host-only, Secure, HttpOnly, SameSite and expiry exact. It does not decide
//! which cookies to read or keep: that is the caller's.

use fantoccini::Client;
use fantoccini::error::CmdError;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use crate::cookie::{Cookie, SameSite};
use crate::secret::Secret;

/// One CDP command for chromedriver's `goog/cdp/execute` endpoint.
#[derive(Debug)]
struct Execute {
    body: String,
}

impl WebDriverCompatibleCommand for Execute {
    fn endpoint(&self, base: &Url, session_id: Option<&str>) -> Result<Url, url::ParseError> {
        let session_id = session_id.ok_or(url::ParseError::EmptyHost)?;
        base.join(&format!("session/{session_id}/goog/cdp/execute"))
    }

    fn method_and_body(&self, _: &Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.clone()))
    }
}

/// Sends the CDP command `cmd` with `params` and decodes its result.
pub(crate) async fn execute<P, R>(client: &Client, cmd: &str, params: &P) -> Result<R, CmdError>
where
    P: Serialize + ?Sized,
    R: DeserializeOwned,
{
    #[derive(Serialize)]
    struct Body<'a, P: ?Sized> {
        cmd: &'a str,
        params: &'a P,
    }
    let body = serde_json::to_string(&Body { cmd, params }).map_err(CmdError::Json)?;
    let result = client.issue_cmd(Execute { body }).await?;
    serde_json::from_value(result).map_err(CmdError::Json)
}

/// A cookie as Chrome's DevTools report it (`Network.Cookie`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrowserCookie {
    /// The cookie's name.
    pub name: String,
    /// Its value.
    pub value: Secret,
    /// The host for a host-only cookie; the domain with a leading dot for a domain cookie.
    pub domain: String,
    /// The path.
    pub path: String,
    /// Expiry in seconds since the Unix epoch; meaningless when `session`.
    #[serde(default)]
    pub expires: f64,
    /// Hidden from page scripts.
    #[serde(default)]
    pub http_only: bool,
    /// Sent over secure connections only.
    #[serde(default)]
    pub secure: bool,
    /// Ends with the browser session.
    #[serde(default)]
    pub session: bool,
    /// SameSite; absent when the cookie set none.
    #[serde(default)]
    pub same_site: Option<SameSite>,
    /// For a partitioned (CHIPS) cookie, the top-level site it is kept for.
    #[serde(default)]
    pub partition_key: Option<PartitionKey>,
}

/// The partition of a partitioned cookie. Chrome reports an object; older versions a string.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PartitionKey {
    /// Chrome 119 and later.
    #[serde(rename_all = "camelCase")]
    Site {
        /// The top-level site, e.g. `https://example.com`.
        top_level_site: String,
        /// Whether a cross-site frame was in the way.
        #[serde(default)]
        has_cross_site_ancestor: bool,
    },
    /// Older Chrome: the top-level site alone.
    Legacy(String),
}

impl BrowserCookie {
    /// The crate's cookie, or `None` for a partitioned cookie (it only exists under another
    /// site's frame, and [`Cookie`] cannot say so).
    pub fn to_cookie(&self) -> Option<Cookie> {
        if self.partition_key.is_some() {
            return None;
        }
        let host_only = !self.domain.starts_with('.');
        let expires = if self.session || self.expires <= 0.0 {
            None
        } else {
            Some(time_from_secs(self.expires)?)
        };
        Some(Cookie {
            name: self.name.clone(),
            value: self.value.clone(),
            domain: self.domain.trim_start_matches('.').to_ascii_lowercase(),
            host_only,
            path: self.path.clone(),
            secure: self.secure,
            http_only: self.http_only,
            same_site: self.same_site,
            expires,
        })
    }
}

/// Reply of `Storage.getCookies` and `Network.getAllCookies`.
#[derive(Debug, Deserialize)]
pub(crate) struct CookieList {
    pub(crate) cookies: Vec<BrowserCookie>,
}

/// A cookie to set (`Network.CookieParam`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CookieParam<'a> {
    name: &'a str,
    value: &'a str,
    /// For a host-only cookie: Chrome makes a cookie given a URL (and no domain) host-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    /// For a domain cookie, with its leading dot (without one Chrome makes it host-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    path: &'a str,
    secure: bool,
    http_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    same_site: Option<SameSite>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<f64>,
}

impl<'a> CookieParam<'a> {
    pub(crate) fn from_cookie(cookie: &'a Cookie) -> CookieParam<'a> {
        let (url, domain) = if cookie.host_only {
            (Some(host_url(cookie)), None)
        } else {
            (None, Some(format!(".{}", cookie.domain)))
        };
        // Chrome drops SameSite=None without Secure: leave it unspecified instead.
        let same_site = cookie
            .same_site
            .filter(|s| *s != SameSite::None || cookie.secure);
        CookieParam {
            name: &cookie.name,
            value: cookie.value.expose(),
            url,
            domain,
            path: path_of(cookie),
            secure: cookie.secure,
            http_only: cookie.http_only,
            same_site,
            expires: cookie.expires.map(secs_from_time),
        }
    }
}

/// The cookie's path; `/` when it has none (as Chrome would store it).
fn path_of(cookie: &Cookie) -> &str {
    if cookie.path.is_empty() {
        "/"
    } else {
        &cookie.path
    }
}

/// Where Chrome would have received a host-only cookie: scheme by Secure, its host, its path.
fn host_url(cookie: &Cookie) -> String {
    let scheme = if cookie.secure { "https" } else { "http" };
    let host = if cookie.domain.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{}]", cookie.domain)
    } else {
        cookie.domain.clone()
    };
    format!("{scheme}://{host}{}", path_of(cookie))
}

/// Does `found` (read back from Chrome) stand for `wanted`?
pub(crate) fn same_cookie(found: &BrowserCookie, wanted: &Cookie) -> bool {
    let domain_ok = if wanted.host_only {
        found.domain.eq_ignore_ascii_case(&wanted.domain)
    } else {
        found
            .domain
            .strip_prefix('.')
            .is_some_and(|d| d.eq_ignore_ascii_case(&wanted.domain))
    };
    domain_ok
        && found.partition_key.is_none()
        && found.name == wanted.name
        && found.path == path_of(wanted)
        && found.value == wanted.value
}

fn time_from_secs(secs: f64) -> Option<OffsetDateTime> {
    if !secs.is_finite() {
        return None;
    }
    // Chrome keeps microseconds; going through them keeps the float's noise out.
    let micros = (secs * 1_000_000.0).round();
    if micros.abs() > 1e17 {
        return None;
    }
    OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1_000).ok()
}

fn secs_from_time(at: OffsetDateTime) -> f64 {
    (at.unix_timestamp_nanos() / 1_000) as f64 / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn browser_cookie(json: serde_json::Value) -> BrowserCookie {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn chromes_cookie_report_becomes_a_cookie() {
        let host_only = browser_cookie(serde_json::json!({
            "domain": "localhost", "expires": -1, "httpOnly": true, "name": "JSESSIONID",
            "path": "/", "priority": "Medium", "sameSite": "Strict", "secure": false,
            "session": true, "size": 9, "sourcePort": 33681, "sourceScheme": "NonSecure",
            "value": "abc"
        }))
        .to_cookie()
        .unwrap();
        assert_eq!(host_only.domain, "localhost");
        assert!(host_only.host_only);
        assert!(host_only.http_only);
        assert_eq!(host_only.same_site, Some(SameSite::Strict));
        assert_eq!(host_only.expires, None);
        assert_eq!(host_only.value.expose(), "abc");

        let domain = browser_cookie(serde_json::json!({
            "domain": ".Example.test", "expires": 1795447367.209311, "httpOnly": false,
            "name": "glide", "path": "/", "secure": true, "session": false, "value": "v"
        }))
        .to_cookie()
        .unwrap();
        assert_eq!(domain.domain, "example.test");
        assert!(!domain.host_only);
        assert_eq!(domain.same_site, None);
        assert_eq!(
            domain.expires.unwrap(),
            datetime!(2026-11-23 15:22:47.209311 UTC)
        );
    }

    #[test]
    fn partitioned_cookies_are_not_passed_off_as_plain_ones() {
        let partitioned = browser_cookie(serde_json::json!({
            "domain": "localhost", "expires": -1, "name": "p", "path": "/", "secure": true,
            "session": true, "value": "f", "sameSite": "None",
            "partitionKey": {"hasCrossSiteAncestor": false, "topLevelSite": "http://localhost"}
        }));
        assert!(matches!(
            partitioned.partition_key,
            Some(PartitionKey::Site { .. })
        ));
        assert_eq!(partitioned.to_cookie(), None);
    }

    fn cookie(domain: &str, host_only: bool, secure: bool, same_site: Option<SameSite>) -> Cookie {
        Cookie {
            name: "n".into(),
            value: Secret::new("v"),
            domain: domain.into(),
            host_only,
            path: "/api".into(),
            secure,
            http_only: true,
            same_site,
            expires: Some(datetime!(2030-01-01 0:00 UTC)),
        }
    }

    #[test]
    fn host_only_cookies_are_set_by_url_and_domain_cookies_by_dotted_domain() {
        let host_only = cookie("localhost", true, true, None);
        let json = serde_json::to_value(CookieParam::from_cookie(&host_only)).unwrap();
        assert_eq!(json["url"], "https://localhost/api");
        assert!(json.get("domain").is_none());
        assert_eq!(json["httpOnly"], true);
        assert_eq!(json["expires"], 1893456000.0);

        let domain = cookie("example.test", false, false, Some(SameSite::Lax));
        let json = serde_json::to_value(CookieParam::from_cookie(&domain)).unwrap();
        assert_eq!(json["domain"], ".example.test");
        assert!(json.get("url").is_none());
        assert_eq!(json["sameSite"], "Lax");

        let v6 = cookie("::1", true, false, None);
        let json = serde_json::to_value(CookieParam::from_cookie(&v6)).unwrap();
        assert_eq!(json["url"], "http://[::1]/api");
    }

    #[test]
    fn a_cookie_without_a_path_goes_in_under_the_root() {
        let bare = Cookie {
            path: String::new(),
            ..cookie("localhost", true, false, None)
        };
        let json = serde_json::to_value(CookieParam::from_cookie(&bare)).unwrap();
        assert_eq!(json["url"], "http://localhost/");
        assert_eq!(json["path"], "/");
    }

    #[test]
    fn same_site_none_without_secure_is_left_unspecified() {
        let insecure = cookie("localhost", true, false, Some(SameSite::None));
        let json = serde_json::to_value(CookieParam::from_cookie(&insecure)).unwrap();
        assert!(json.get("sameSite").is_none());
        let secure = cookie("localhost", true, true, Some(SameSite::None));
        let json = serde_json::to_value(CookieParam::from_cookie(&secure)).unwrap();
        assert_eq!(json["sameSite"], "None");
    }

    #[test]
    fn expiry_survives_the_round_trip_through_cdp_seconds() {
        let at = datetime!(2031-05-06 7:08:09.123456 UTC);
        assert_eq!(time_from_secs(secs_from_time(at)), Some(at));
        assert_eq!(time_from_secs(f64::NAN), None);
        assert_eq!(time_from_secs(1e300), None);
    }
}
