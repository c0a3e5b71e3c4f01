//! `snowbridge cookies INSTANCE --format netscape|json|header`: the stored session for other
//! tools. This is the one command that prints secrets, because that is what it is asked for.

use serde::Serialize;
use snowbridge::cookie::{Cookie, SameSite};
use snowbridge::{Error, Result};
use time::OffsetDateTime;

use super::{Context, output};

/// The export formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// A Netscape cookie file (curl -b, wget --load-cookies, Python's MozillaCookieJar).
    Netscape,
    /// JSON: the cookies with every attribute, the CSRF token and the User-Agent.
    Json,
    /// HTTP headers: `Cookie:` for the instance URL and `X-UserToken:` (curl -H @file).
    Header,
}

/// Arguments of `cookies`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  # curl with the session: the Cookie and X-UserToken headers that REST calls need
  snowbridge cookies dev --format header > headers.txt
  curl -H @headers.txt 'https://acme.service-now.com/api/now/table/incident?sysparm_limit=1'
  # a cookie file for curl -b, wget --load-cookies or Python's MozillaCookieJar
  snowbridge cookies dev > cookies.txt
  # every attribute, the CSRF token and the User-Agent, for Python requests or PowerShell
  snowbridge cookies dev --format json")]
pub struct Args {
    /// The instance's name.
    instance: String,
    /// The output format [default: netscape; json with --json].
    #[arg(long, value_enum)]
    format: Option<Format>,
}

impl Args {
    /// The format asked for: `--json` is `--format json`, and refused beside another format.
    fn format(&self, json: bool) -> Result<Format> {
        match (self.format, json) {
            (None, false) => Ok(Format::Netscape),
            (None, true) | (Some(Format::Json), _) => Ok(Format::Json),
            (Some(other), true) => Err(Error::usage(format!(
                "--json asks for JSON and --format {} for another format",
                other.name()
            ))
            .with_hint("leave out --json, or use --format json (the same as --json)")),
            (Some(other), false) => Ok(other),
        }
    }
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Netscape => "netscape",
            Format::Json => "json",
            Format::Header => "header",
        }
    }
}

#[derive(Serialize)]
struct JsonCookie<'a> {
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

#[derive(Serialize)]
struct JsonExport<'a> {
    url: &'a str,
    user_token: Option<&'a str>,
    user_agent: Option<&'a str>,
    cookies: Vec<JsonCookie<'a>>,
}

pub fn run(ctx: &Context, args: Args) -> Result<()> {
    let format = args.format(ctx.json)?;
    let instance = ctx.instance(&args.instance)?;
    if instance.auth != snowbridge::instance::AuthMethod::Browser {
        // Only a browser session lives in cookies; the other methods' credentials are not ours
        // to hand out in a cookie file.
        return Err(Error::usage(format!(
            "{}: auth = \"{}\" authenticates each request itself, with no browser cookies to export",
            instance.name, instance.auth
        ))
        .with_hint(format!(
            "use `snowbridge api {} PATH`, or the library, which authenticate the same way",
            instance.name
        )));
    }
    let mut record = ctx
        .vault()
        .load(&instance.name)?
        .ok_or_else(|| Error::no_session(&instance.name))?;
    record.prune_expired(OffsetDateTime::now_utc());
    let cookies: Vec<&Cookie> = record.cookies().collect();
    match format {
        Format::Netscape => {
            let (text, left_out) = netscape(&cookies, OffsetDateTime::now_utc());
            warn_left_out("the Netscape file", &left_out);
            output::line(&text)
        }
        Format::Header => {
            let (text, left_out) = header(
                cookies.into_iter().filter(|c| c.matches_url(&instance.url)),
                record.user_token.as_ref().map(|t| t.expose()),
            );
            warn_left_out("the headers", &left_out);
            output::line(&text)
        }
        Format::Json => output::json(&JsonExport {
            url: instance.base(),
            user_token: record.user_token.as_ref().map(|t| t.expose()),
            user_agent: record.user_agent.as_deref(),
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
                    same_site: c.same_site.map(|s| match s {
                        SameSite::Strict => "Strict",
                        SameSite::Lax => "Lax",
                        SameSite::None => "None",
                    }),
                    expires: c.expires.map(|t| t.unix_timestamp()),
                })
                .collect(),
        }),
    }
}

fn warn_left_out(what: &str, left_out: &[String]) {
    if !left_out.is_empty() {
        output::notice(&format!(
            "left out of {what}, since a tab, line break or other control character in them would break its lines: {}; `--format json` carries them",
            left_out.join(", ")
        ));
    }
}

/// Can this text sit in a line of a cookie file or a header without breaking it?
fn fits_a_line(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// How a cookie left out of an export is named (never by its value).
fn named(c: &Cookie) -> String {
    if c.name.is_empty() {
        "(a cookie with no name)".to_owned()
    } else {
        c.name.escape_default().to_string()
    }
}

/// `Cookie:` and `X-UserToken:` lines (for `curl -H @file`); what would break a header line
/// is left out and named.
fn header<'a>(
    cookies: impl Iterator<Item = &'a Cookie>,
    token: Option<&str>,
) -> (String, Vec<String>) {
    let mut left_out = Vec::new();
    let mut pairs = Vec::new();
    for c in cookies {
        if c.name.is_empty() || !fits_a_line(&c.name) || !fits_a_line(c.value.expose()) {
            left_out.push(named(c));
        } else {
            pairs.push(format!("{}={}", c.name, c.value.expose()));
        }
    }
    let mut text = format!("Cookie: {}", pairs.join("; "));
    match token {
        Some(token) if fits_a_line(token) => text.push_str(&format!("\nX-UserToken: {token}")),
        Some(_) => left_out.push("the X-UserToken".to_owned()),
        None => {}
    }
    (text, left_out)
}

/// How long a session cookie (one with no expiry of its own: `JSESSIONID`, the load balancer's)
/// is written to live in a Netscape file, from the export. The format's `0` ("session") makes
/// Python's `MozillaCookieJar.load()` drop the line unless called with `ignore_discard=True,
/// ignore_expires=True`, so the file gives such cookies a real expiry instead. A day outlasts
/// any idle timeout an instance grants a session that is not used, and is short enough that a
/// tool saving its jar back keeps no session cookie for long; the instance ends the session on
/// its own terms whatever the file says.
const SESSION_COOKIE_LIFETIME: time::Duration = time::Duration::days(1);

/// The Netscape cookie file (`# Netscape HTTP Cookie File`, then per cookie: domain, the
/// domain flag, path, secure, expiry in Unix seconds, name, value; tab-separated) as curl,
/// wget and Python's `http.cookiejar.MozillaCookieJar` read it. Domain cookies carry a leading
/// dot and flag `TRUE`, host-only ones neither (Python asserts the two agree). HttpOnly is not
/// marked: curl's `#HttpOnly_` prefix makes wget skip the line as a comment (JSESSIONID is
/// HttpOnly), and the attribute only hides a cookie from page scripts, which none of these
/// tools run (`--format json` keeps it). Session cookies expire at `now` +
/// [`SESSION_COOKIE_LIFETIME`].
///
/// A cookie whose name, value, domain or path holds a tab, a line break or another control
/// character, or that has no name, cannot be written without changing another line's meaning:
/// it is left out, and returned by name so the caller can say so.
fn netscape(cookies: &[&Cookie], now: OffsetDateTime) -> (String, Vec<String>) {
    let mut text = String::from(
        "# Netscape HTTP Cookie File\n# Written by snowbridge: this file holds a live session; keep it private.\n\
         # Session cookies are given an expiry a day after the export (Python's MozillaCookieJar drops expiry 0).\n",
    );
    let mut left_out = Vec::new();
    let session_expiry = (now + SESSION_COOKIE_LIFETIME).unix_timestamp();
    for c in cookies {
        let value = c.value.expose();
        let domain_name = c.domain.trim_start_matches('.');
        if c.name.is_empty()
            || domain_name.is_empty()
            || ![c.name.as_str(), value, domain_name, c.path.as_str()]
                .into_iter()
                .all(fits_a_line)
        {
            left_out.push(named(c));
            continue;
        }
        // A Domain attribute never names an IP address (RFC 6265 5.3): such a cookie is
        // host-only whatever the flag says.
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
            value
        ));
    }
    (text.trim_end().to_owned(), left_out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snowbridge::secret::Secret;

    fn jsessionid() -> Cookie {
        Cookie {
            name: "JSESSIONID".into(),
            value: Secret::new("abc"),
            domain: "127.0.0.1".into(),
            host_only: true,
            path: "/".into(),
            secure: false,
            http_only: true,
            same_site: None,
            expires: None,
        }
    }

    #[test]
    fn netscape_lines_follow_curls_format_and_session_cookies_get_a_days_expiry() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let c = jsessionid();
        let d = Cookie {
            name: "glide_user_route".into(),
            host_only: false,
            http_only: false,
            secure: true,
            domain: "service-now.com".into(),
            expires: Some(OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap()),
            ..c.clone()
        };
        let (text, left_out) = netscape(&[&c, &d], now);
        assert!(left_out.is_empty());
        assert!(text.starts_with("# Netscape HTTP Cookie File\n"), "{text}");
        assert!(
            text.contains("\n127.0.0.1\tFALSE\t/\tFALSE\t1800086400\tJSESSIONID\tabc"),
            "{text}"
        );
        assert!(
            text.contains("\n.service-now.com\tTRUE\t/\tTRUE\t1900000000\tglide_user_route\tabc"),
            "{text}"
        );
    }

    #[test]
    fn headers_leave_out_what_would_add_a_line() {
        let good = jsessionid();
        let bad = Cookie {
            name: "evil".into(),
            value: Secret::new("x\r\nX-Injected: 1"),
            ..jsessionid()
        };
        let (text, left_out) = header([&good, &bad].into_iter(), Some("tok"));
        assert_eq!(text, "Cookie: JSESSIONID=abc\nX-UserToken: tok");
        assert_eq!(left_out, ["evil"]);
        let (text, left_out) = header([&good].into_iter(), Some("tok\nX: y"));
        assert_eq!(text, "Cookie: JSESSIONID=abc");
        assert_eq!(left_out, ["the X-UserToken"]);
    }

    #[test]
    fn the_domain_flag_agrees_with_the_leading_dot() {
        let now = OffsetDateTime::now_utc();
        let dotted = Cookie {
            host_only: false,
            domain: ".acme.service-now.com".into(),
            ..jsessionid()
        };
        let ip = Cookie {
            host_only: false,
            ..jsessionid()
        };
        let (text, _) = netscape(&[&dotted, &ip], now);
        assert!(text.contains("\n.acme.service-now.com\tTRUE\t"), "{text}");
        assert!(text.contains("\n127.0.0.1\tFALSE\t"), "{text}");
    }

    #[test]
    fn cookies_that_would_break_a_line_are_left_out_by_name() {
        let now = OffsetDateTime::now_utc();
        let good = jsessionid();
        let tab = Cookie {
            name: "tabbed".into(),
            value: Secret::new("a\tb"),
            ..jsessionid()
        };
        let newline = Cookie {
            name: "split".into(),
            value: Secret::new("a\nexample.com\tTRUE\t/\tFALSE\t0\tinjected\tx"),
            ..jsessionid()
        };
        let carriage = Cookie {
            name: "cr\r".into(),
            ..jsessionid()
        };
        let nameless = Cookie {
            name: String::new(),
            ..jsessionid()
        };
        let (text, left_out) = netscape(&[&good, &tab, &newline, &carriage, &nameless], now);
        assert_eq!(
            left_out,
            ["tabbed", "split", "cr\\r", "(a cookie with no name)"]
        );
        assert_eq!(
            text.lines().filter(|l| !l.starts_with("# ")).count(),
            1,
            "{text}"
        );
        assert!(!text.contains("injected"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with("# ")) {
            assert_eq!(line.split('\t').count(), 7, "{line:?}");
        }
    }
}
