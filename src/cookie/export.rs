//! The session written out for other tools: a Netscape cookie file (curl, wget, Python's
//! `MozillaCookieJar`), JSON, and HTTP headers (`curl -H @file`).
//!
//! Pure formatting of cookies already chosen: nothing here reads the vault or prints. The line
//! formats have no escaping, so a cookie whose fields would break a line (a tab or a line break
//! in its value, a domain a reader takes for a comment) is left out of them, and
//! [`netscape_unfit`] / [`header_unfit`] say why, for the caller to tell the person.

use serde::Serialize;

use super::{Cookie, SameSite};
use crate::secret::Secret;

/// One cookie in the JSON export.
#[derive(Debug, Serialize)]
pub struct JsonCookie<'a> {
    name: &'a str,
    value: &'a str,
    domain: &'a str,
    #[serde(rename = "hostOnly")]
    host_only: bool,
    path: &'a str,
    secure: bool,
    #[serde(rename = "httpOnly")]
    http_only: bool,
    #[serde(rename = "sameSite")]
    same_site: Option<&'static str>,
    /// Unix seconds; absent for session cookies.
    expires: Option<i64>,
}

/// The JSON export: `{"url", "user_token", "user_agent", "cookies": [{"name", "value",
/// "domain", "hostOnly", "path", "secure", "httpOnly", "sameSite": "Strict"|"Lax"|"None"|null,
/// "expires": unix seconds|null}]}`. Serialize it to get the text.
#[derive(Debug, Serialize)]
pub struct JsonExport<'a> {
    url: &'a str,
    user_token: Option<&'a str>,
    user_agent: Option<&'a str>,
    cookies: Vec<JsonCookie<'a>>,
}

/// The JSON export of `cookies` for the instance at `url` (its base, as text), with the CSRF
/// token and the User-Agent the session uses. Every cookie fits: JSON escapes everything.
pub fn json<'a>(
    url: &'a str,
    user_token: Option<&'a Secret>,
    user_agent: Option<&'a str>,
    cookies: &[&'a Cookie],
) -> JsonExport<'a> {
    JsonExport {
        url,
        user_token: user_token.map(|t| t.expose()),
        user_agent,
        cookies: cookies
            .iter()
            .map(|c| JsonCookie {
                name: &c.name,
                value: c.value.expose(),
                domain: &c.domain,
                host_only: c.host_only,
                path: &c.path,
                secure: c.secure,
                http_only: c.http_only,
                same_site: c.same_site.map(SameSite::as_str),
                expires: c.expires.map(|t| t.unix_timestamp()),
            })
            .collect(),
    }
}

/// How long a session cookie (one with no expiry of its own: `JSESSIONID`, the load balancer's)
/// is written to live in a Netscape file, from the export. The format's `0` ("session") makes
/// Python's `MozillaCookieJar.load()` drop the line unless called with `ignore_discard=True,
/// ignore_expires=True`, so the file gives such cookies a real expiry instead. A day outlasts
/// any idle timeout an instance grants a session that is not used, and is short enough that a
/// tool saving its jar back keeps no session cookie for long; the instance ends the session on
/// its own terms whatever the file says.
pub const SESSION_COOKIE_LIFETIME: time::Duration = time::Duration::days(1);

/// Why `c` cannot be a line of a Netscape cookie file, or `None` when it can. The format has
/// one cookie per line and tab-separated fields with no escaping; readers (curl, wget, Python's
/// `MozillaCookieJar`) skip lines starting with `#` or `$`, require the domain's leading dot to
/// agree with the include-subdomains field, and read an empty name as a value.
pub fn netscape_unfit(c: &Cookie) -> Option<&'static str> {
    let breaks_line = |s: &str| s.chars().any(char::is_control);
    let domain = c.domain.trim_start_matches('.');
    if [c.name.as_str(), c.value.expose(), domain, &c.path]
        .into_iter()
        .any(breaks_line)
    {
        Some(
            "a field holds a tab, a line break or another control character, which the format cannot carry",
        )
    } else if c.name.is_empty() {
        Some("it has no name, which readers take for a value")
    } else if domain.is_empty()
        || domain.starts_with(['.', '#', '$'])
        || domain.starts_with(char::is_whitespace)
    {
        Some("its domain is empty or starts with a character readers take for a comment or a dot")
    } else {
        None
    }
}

/// The Netscape cookie file (`# Netscape HTTP Cookie File`, then per cookie: domain, the
/// domain flag, path, secure, expiry in Unix seconds, name, value; tab-separated, no final
/// newline) as curl, wget and Python's `http.cookiejar.MozillaCookieJar` read it. Domain
/// cookies carry a leading dot and flag `TRUE`, host-only ones neither (Python asserts the two
/// agree); a Domain attribute never names an IP address (RFC 6265 5.3), so such a cookie is
/// written host-only. HttpOnly is not marked: curl's `#HttpOnly_` prefix makes wget skip the
/// line as a comment (JSESSIONID is HttpOnly), and the attribute only hides a cookie from page
/// scripts, which none of these tools run (the JSON export keeps it). Session cookies expire at
/// `now` + [`SESSION_COOKIE_LIFETIME`]. Cookies that [`netscape_unfit`] refuses are left out.
pub fn netscape(cookies: &[&Cookie], now: time::OffsetDateTime) -> String {
    let mut text = String::from(
        "# Netscape HTTP Cookie File\n# Written by snowbridge: this file holds a live session; keep it private.\n\
         # Session cookies are given an expiry a day after the export (Python's MozillaCookieJar drops expiry 0).\n",
    );
    let session_expiry = (now + SESSION_COOKIE_LIFETIME).unix_timestamp();
    for c in cookies.iter().filter(|c| netscape_unfit(c).is_none()) {
        let domain_name = c.domain.trim_start_matches('.');
        let host_only = c.host_only || domain_name.parse::<std::net::IpAddr>().is_ok();
        let domain = if host_only {
            domain_name.to_owned()
        } else {
            format!(".{domain_name}")
        };
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            domain,
            if host_only { "FALSE" } else { "TRUE" },
            if c.path.is_empty() { "/" } else { &c.path },
            if c.secure { "TRUE" } else { "FALSE" },
            c.expires
                .map(|t| t.unix_timestamp())
                .unwrap_or(session_expiry),
            c.name,
            c.value.expose()
        ));
    }
    // Only the last newline goes: trailing spaces are part of the last cookie's value.
    text.trim_end_matches('\n').to_owned()
}

/// Why `c` cannot go into a `Cookie:` header line, or `None` when it can: a control character
/// would end or split the line, a `;` in either part (or `=` in the name) would split the pair.
pub fn header_unfit(c: &Cookie) -> Option<&'static str> {
    let control = |s: &str| s.chars().any(char::is_control);
    if control(&c.name) || control(c.value.expose()) {
        Some("its name or value holds a control character, which a header line cannot carry")
    } else if c.name.is_empty() || c.name.contains(['=', ';']) || c.value.expose().contains(';') {
        Some("its name is empty or holds `=` or `;`, or its value holds `;`")
    } else {
        None
    }
}

/// HTTP headers for the cookies a request to `url` carries: `Cookie: a=1; b=2`, then
/// `X-UserToken: <token>` when there is a token (and it holds no control character). Cookies
/// that [`header_unfit`] refuses are left out. No final newline.
pub fn header(url: &url::Url, cookies: &[&Cookie], user_token: Option<&Secret>) -> String {
    let pairs: Vec<String> = cookies
        .iter()
        .filter(|c| c.matches_url(url) && header_unfit(c).is_none())
        .map(|c| format!("{}={}", c.name, c.value.expose()))
        .collect();
    let mut text = format!("Cookie: {}", pairs.join("; "));
    if let Some(token) = user_token.filter(|t| !t.expose().chars().any(char::is_control)) {
        text.push_str(&format!("\nX-UserToken: {}", token.expose()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(name: &str, value: &str) -> Cookie {
        Cookie {
            name: name.into(),
            value: Secret::new(value),
            domain: "127.0.0.1".into(),
            host_only: true,
            path: "/".into(),
            secure: false,
            http_only: true,
            same_site: None,
            expires: None,
        }
    }

    fn now() -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn netscape_lines_follow_curls_format_and_session_cookies_get_a_days_expiry() {
        let c = cookie("JSESSIONID", "abc");
        let d = Cookie {
            host_only: false,
            http_only: false,
            domain: "service-now.com".into(),
            ..c.clone()
        };
        let text = netscape(&[&c, &d], now());
        let day = 1_800_000_000 + 86_400;
        assert!(
            text.contains(&format!(
                "\n127.0.0.1\tFALSE\t/\tFALSE\t{day}\tJSESSIONID\tabc"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "\n.service-now.com\tTRUE\t/\tFALSE\t{day}\tJSESSIONID\tabc"
            )),
            "{text}"
        );
        assert!(!text.contains("#HttpOnly_"), "{text}");
    }

    #[test]
    fn an_ip_domain_is_written_host_only() {
        let c = Cookie {
            host_only: false,
            ..cookie("a", "1")
        };
        let text = netscape(&[&c], now());
        assert!(text.contains("\n127.0.0.1\tFALSE\t"), "{text}");
    }

    #[test]
    fn a_value_with_a_tab_or_line_break_adds_no_line_or_field() {
        let good = cookie("glide_user_route", "r1");
        let sneaky = cookie("x", "a\n127.0.0.1\tFALSE\t/\tFALSE\t0\tinjected\tvalue");
        let tabbed = cookie("y", "a\tb");
        let text = netscape(&[&sneaky, &good, &tabbed], now());
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("# ")).collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert!(lines[0].ends_with("\tglide_user_route\tr1"), "{text}");
        assert!(netscape_unfit(&sneaky).is_some() && netscape_unfit(&tabbed).is_some());
        assert_eq!(netscape_unfit(&good), None);
    }

    #[test]
    fn the_last_values_trailing_spaces_survive() {
        let text = netscape(&[&cookie("a", "padded  ")], now());
        assert!(text.ends_with("\ta\tpadded  "), "{text:?}");
    }

    #[test]
    fn domains_readers_would_skip_or_refuse_are_left_out() {
        for domain in ["", "#x", "$x", " x", ".", ".#x"] {
            let c = Cookie {
                domain: domain.into(),
                ..cookie("a", "1")
            };
            assert!(netscape_unfit(&c).is_some(), "{domain:?}");
        }
        assert!(netscape_unfit(&cookie("", "1")).is_some());
    }

    #[test]
    fn header_lines_cannot_be_split_or_injected() {
        let url = url::Url::parse("http://127.0.0.1:8765/").unwrap();
        let good = cookie("JSESSIONID", "abc");
        let evil = cookie("x", "1\r\nX-Evil: yes");
        let split = cookie("y", "1; admin=true");
        let token = Secret::new("tok\nX-Evil: yes");
        let text = header(&url, &[&good, &evil, &split], Some(&token));
        assert_eq!(text, "Cookie: JSESSIONID=abc");
        let text = header(&url, &[&good], Some(&Secret::new("tok")));
        assert_eq!(text, "Cookie: JSESSIONID=abc\nX-UserToken: tok");
    }

    #[test]
    fn json_carries_every_attribute() {
        let c = Cookie {
            same_site: Some(SameSite::Lax),
            expires: Some(time::macros::datetime!(2030-01-01 0:00 UTC)),
            ..cookie("a", "tab\there")
        };
        let token = Secret::new("t");
        let v = serde_json::to_value(json("http://x", Some(&token), Some("ua"), &[&c])).unwrap();
        assert_eq!(v["user_token"], "t");
        assert_eq!(v["cookies"][0]["value"], "tab\there");
        assert_eq!(v["cookies"][0]["sameSite"], "Lax");
        assert_eq!(v["cookies"][0]["expires"], 1_893_456_000);
        assert_eq!(v["cookies"][0]["hostOnly"], true);
    }
}
