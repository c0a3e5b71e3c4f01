//! A cookie as snowbridge keeps it, whatever obtained it.
//!
//! The browser login, the Chrome import and the HTTP session all speak this one plain type, so a
//! cookie keeps its attributes exactly (host-only versus domain, Secure, HttpOnly, SameSite,
//! expiry or end-of-session) on its way into the vault and back out. Conversions to and from
//! other libraries' cookie types live with the code that uses those libraries; [`export`]
//! writes cookies out for other tools.

pub mod export;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::secret::Secret;

/// The SameSite attribute. Serialized as its attribute value (`"Strict"`, `"Lax"`, `"None"`),
/// which is also how Chrome's DevTools protocol names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SameSite {
    /// Sent only to the same site.
    Strict,
    /// Sent on top-level navigations from other sites.
    Lax,
    /// Sent everywhere (Chrome keeps it only with Secure).
    None,
}

impl SameSite {
    /// The attribute's value: `Strict`, `Lax` or `None`.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// One cookie with every attribute that decides where it is sent.
///
/// It has no `Serialize`: its value is a [`Secret`], and an export that means to print values
/// builds its own struct from [`Secret::expose`] (as `snowbridge cookies` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    /// The cookie's name.
    pub name: String,
    /// Its value: a secret.
    pub value: Secret,
    /// The host (host-only) or domain (without a leading dot) it belongs to, lower case.
    pub domain: String,
    /// True when the cookie was set without a Domain attribute: sent to exactly `domain`.
    pub host_only: bool,
    /// The path it is sent under.
    pub path: String,
    /// Sent over https (and loopback) only.
    pub secure: bool,
    /// Hidden from page scripts.
    pub http_only: bool,
    /// SameSite, when the cookie set one.
    pub same_site: Option<SameSite>,
    /// When it expires; `None` for a session cookie.
    pub expires: Option<OffsetDateTime>,
}

impl Cookie {
    /// True when the cookie has an expiry and it is past at `now`.
    pub fn is_expired_at(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }

    /// True for a cookie that ends with the browser session.
    pub fn is_session(&self) -> bool {
        self.expires.is_none()
    }

    /// The key that identifies a cookie in a jar: domain, path and name.
    pub fn key(&self) -> (&str, &str, &str) {
        (&self.domain, &self.path, &self.name)
    }

    /// Would a request to `url` carry this cookie, by RFC 6265's domain, path and Secure rules?
    pub fn matches_url(&self, url: &url::Url) -> bool {
        domain_matches(url, &self.domain, self.host_only)
            && path_matches(&self.path, url.path())
            && (!self.secure || is_secure(url))
    }

    /// Would a request to `url`'s host carry this cookie by the domain rule alone (any path,
    /// Secure or not)? Whose cookie it is: the instance's, or another site's.
    pub fn is_for_host_of(&self, url: &url::Url) -> bool {
        domain_matches(url, &self.domain, self.host_only)
    }
}

/// RFC 6265 5.1.3 domain-match of `url`'s host against a cookie's `domain` (a leading dot
/// ignored): the host itself, or for a domain cookie a host under it; an IP address matches
/// only itself.
pub(crate) fn domain_matches(url: &url::Url, domain: &str, host_only: bool) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let domain = domain.trim_start_matches('.').to_ascii_lowercase();
    if host_only || host.parse::<std::net::IpAddr>().is_ok() {
        host == domain
    } else {
        host == domain || host.ends_with(&format!(".{domain}"))
    }
}

/// RFC 6265 5.1.4 path-match.
fn path_matches(cookie_path: &str, request_path: &str) -> bool {
    let request_path = if request_path.is_empty() {
        "/"
    } else {
        request_path
    };
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

/// Secure cookies go over https, and over loopback http as browsers allow.
fn is_secure(url: &url::Url) -> bool {
    match url.host() {
        _ if url.scheme() == "https" => true,
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(domain: &str, host_only: bool, path: &str, secure: bool) -> Cookie {
        Cookie {
            name: "JSESSIONID".into(),
            value: Secret::new("x"),
            domain: domain.into(),
            host_only,
            path: path.into(),
            secure,
            http_only: true,
            same_site: None,
            expires: None,
        }
    }

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn domain_cookies_match_subdomains_but_not_lookalikes() {
        let c = cookie("service-now.com", false, "/", true);
        assert!(c.matches_url(&url("https://acme.service-now.com/api")));
        assert!(c.matches_url(&url("https://service-now.com/")));
        assert!(!c.matches_url(&url("https://evilservice-now.com/")));
        assert!(!c.matches_url(&url("https://service-now.com.evil.org/")));
    }

    #[test]
    fn host_only_cookies_match_their_host_exactly() {
        let c = cookie("acme.service-now.com", true, "/", true);
        assert!(c.matches_url(&url("https://acme.service-now.com/")));
        assert!(!c.matches_url(&url("https://x.acme.service-now.com/")));
    }

    #[test]
    fn paths_and_secure_follow_rfc6265() {
        let c = cookie("acme.service-now.com", true, "/api", true);
        assert!(c.matches_url(&url("https://acme.service-now.com/api/now")));
        assert!(c.matches_url(&url("https://acme.service-now.com/api")));
        assert!(!c.matches_url(&url("https://acme.service-now.com/apix")));
        assert!(!c.matches_url(&url("http://acme.service-now.com/api")));
        let local = cookie("127.0.0.1", true, "/", true);
        assert!(local.matches_url(&url("http://127.0.0.1:8765/")));
    }
}
