//! The Netscape, JSON and header exports round trip: an arbitrary cookie set written out reads
//! back, with independent minimal readers that follow the consumers' rules (Python's
//! `MozillaCookieJar` for Netscape files, any JSON parser, a `Cookie:` header split as servers
//! split it), as exactly the cookies the format can carry, to the format's precision (whole
//! seconds, no SameSite in Netscape files); no value adds a line, a field or a pair.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use snowbridge::cookie::{Cookie, SameSite, export};
use snowbridge::secret::Secret;
use time::OffsetDateTime;

#[derive(Debug, Arbitrary)]
struct CookieIn {
    name: String,
    value: String,
    domain: String,
    host_only: bool,
    path: String,
    secure: bool,
    http_only: bool,
    same_site: Option<u8>,
    expires: Option<(i64, u32)>,
}

impl CookieIn {
    fn cookie(&self) -> Cookie {
        Cookie {
            name: self.name.clone(),
            value: Secret::new(self.value.clone()),
            domain: self.domain.clone(),
            host_only: self.host_only,
            path: self.path.clone(),
            secure: self.secure,
            http_only: self.http_only,
            same_site: self.same_site.map(|s| match s % 3 {
                0 => SameSite::Strict,
                1 => SameSite::Lax,
                _ => SameSite::None,
            }),
            // Any instant the time crate holds (years -9999 to 9999).
            expires: self.expires.and_then(|(secs, nanos)| {
                OffsetDateTime::from_unix_timestamp(secs % 253_402_300_799)
                    .ok()?
                    .replace_nanosecond(nanos % 1_000_000_000)
                    .ok()
            }),
        }
    }
}

/// What a Netscape line keeps of a cookie.
#[derive(Debug, PartialEq)]
struct Line {
    domain: String,
    host_only: bool,
    path: String,
    secure: bool,
    expires: i64,
    name: String,
    value: String,
}

/// Python's `MozillaCookieJar._really_load`, minus the checks on the header line: a line is
/// 7 tab-separated fields; comments (`#`, `$`) and blank lines are skipped;
/// the include-subdomains field must agree with the domain's leading dot.
fn read_netscape(text: &str) -> Vec<Line> {
    assert!(
        !text.contains('\r'),
        "a carriage return splits lines for Python"
    );
    let mut out = Vec::new();
    for line in text.split('\n') {
        // Python's str.strip(): Unicode whitespace and the separators U+001C..U+001F.
        let stripped =
            line.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c));
        if stripped.starts_with(['#', '$']) || stripped.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [
            domain,
            include_subdomains,
            path,
            secure,
            expires,
            name,
            value,
        ] = fields[..]
        else {
            panic!("a line of {} fields: {line:?}", fields.len());
        };
        let specified = include_subdomains == "TRUE";
        assert_eq!(
            specified,
            domain.starts_with('.'),
            "Python refuses {line:?}"
        );
        assert!(
            !name.is_empty(),
            "Python reads a nameless line as a value: {line:?}"
        );
        out.push(Line {
            domain: if specified { &domain[1..] } else { domain }.to_owned(),
            host_only: !specified,
            path: path.to_owned(),
            secure: secure == "TRUE",
            expires: expires.parse().expect("an integer expiry"),
            name: name.to_owned(),
            value: value.to_owned(),
        });
    }
    out
}

/// What the export should write of `c` at `now`: the domain without its dot, host-only for an
/// IP address, `/` for an empty path, a session cookie's expiry a day ahead.
fn as_line(c: &Cookie, now: OffsetDateTime) -> Line {
    let domain = c.domain.trim_start_matches('.');
    Line {
        domain: domain.to_owned(),
        host_only: c.host_only || domain.parse::<std::net::IpAddr>().is_ok(),
        path: if c.path.is_empty() {
            "/".to_owned()
        } else {
            c.path.clone()
        },
        secure: c.secure,
        expires: c
            .expires
            .map(|t| t.unix_timestamp())
            .unwrap_or((now + export::SESSION_COOKIE_LIFETIME).unix_timestamp()),
        name: c.name.clone(),
        value: c.value.expose().to_owned(),
    }
}

fn check_json(cookies: &[&Cookie]) {
    let token = Secret::new("tok");
    let export = export::json(
        "https://acme.service-now.com",
        Some(&token),
        Some("UA"),
        cookies,
    );
    let text = serde_json::to_string(&export).expect("JSON export serializes");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON export parses");
    assert_eq!(v["user_token"], "tok");
    let read = v["cookies"].as_array().expect("a cookies array");
    assert_eq!(read.len(), cookies.len(), "every cookie fits JSON");
    for (c, r) in cookies.iter().zip(read) {
        assert_eq!(r["name"], c.name.as_str());
        assert_eq!(r["value"], c.value.expose());
        assert_eq!(r["domain"], c.domain.as_str());
        assert_eq!(r["hostOnly"], c.host_only);
        assert_eq!(r["path"], c.path.as_str());
        assert_eq!(r["secure"], c.secure);
        assert_eq!(r["httpOnly"], c.http_only);
        let same_site = c.same_site.map(|s| match s {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        });
        assert_eq!(r["sameSite"].as_str(), same_site);
        assert_eq!(r["expires"].as_i64(), c.expires.map(|t| t.unix_timestamp()));
    }
}

fn check_header(cookies: &[&Cookie]) {
    let url = url::Url::parse("https://acme.service-now.com/api/now/table/incident").expect("URL");
    let text = export::header(&url, cookies, None);
    assert_eq!(text.lines().count(), 1, "one header line: {text:?}");
    let pairs = text.strip_prefix("Cookie: ").expect("a Cookie header");
    let read: Vec<(&str, &str)> = if pairs.is_empty() {
        Vec::new()
    } else {
        pairs
            .split("; ")
            .map(|p| p.split_once('=').expect("name=value"))
            .collect()
    };
    let want: Vec<(&str, &str)> = cookies
        .iter()
        .filter(|c| c.matches_url(&url) && export::header_unfit(c).is_none())
        .map(|c| (c.name.as_str(), c.value.expose()))
        .collect();
    assert_eq!(read, want);
}

fuzz_target!(|input: Vec<CookieIn>| {
    let owned: Vec<Cookie> = input.iter().map(CookieIn::cookie).collect();
    let cookies: Vec<&Cookie> = owned.iter().collect();

    let now = OffsetDateTime::now_utc();
    let text = export::netscape(&cookies, now);
    let read = read_netscape(&text);
    let want: Vec<Line> = cookies
        .iter()
        .filter(|c| export::netscape_unfit(c).is_none())
        .map(|c| as_line(c, now))
        .collect();
    assert_eq!(read, want, "{text:?}");

    check_json(&cookies);
    check_header(&cookies);
});
