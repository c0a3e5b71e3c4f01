//! `snowbridge cookies INSTANCE --format netscape|json|header`: the stored session for other
//! tools. This is the one command that prints secrets, because that is what it is asked for.

use serde::Serialize;
use snowbridge::cookie::{Cookie, SameSite};
use snowbridge::{Error, Result};

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
    /// The output format.
    #[arg(long, value_enum, default_value = "netscape")]
    format: Format,
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
    let instance = ctx.instance(&args.instance)?;
    let mut record = ctx.vault().load(&instance.name)?.ok_or_else(|| {
        Error::login_required(
            &instance.name,
            format!("no stored session for {}", instance.name),
        )
    })?;
    record.prune_expired(time::OffsetDateTime::now_utc());
    let cookies: Vec<&Cookie> = record.cookies().collect();
    match args.format {
        Format::Netscape => output::line(&netscape(&cookies)),
        Format::Header => {
            let pairs: Vec<String> = cookies
                .iter()
                .filter(|c| c.matches_url(&instance.url))
                .map(|c| format!("{}={}", c.name, c.value.expose()))
                .collect();
            let mut text = format!("Cookie: {}", pairs.join("; "));
            if let Some(token) = &record.user_token {
                text.push_str(&format!("\nX-UserToken: {}", token.expose()));
            }
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

/// The Netscape cookie-file format as curl reads it (`#HttpOnly_` marks HttpOnly cookies;
/// expiry 0 is a session cookie).
fn netscape(cookies: &[&Cookie]) -> String {
    let mut text = String::from(
        "# Netscape HTTP Cookie File\n# Written by snowbridge: this file holds a live session; keep it private.\n",
    );
    for c in cookies {
        let domain = if c.host_only {
            c.domain.clone()
        } else {
            format!(".{}", c.domain)
        };
        text.push_str(&format!(
            "{}{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            if c.http_only { "#HttpOnly_" } else { "" },
            domain,
            if c.host_only { "FALSE" } else { "TRUE" },
            c.path,
            if c.secure { "TRUE" } else { "FALSE" },
            c.expires.map(|t| t.unix_timestamp()).unwrap_or(0),
            c.name,
            c.value.expose()
        ));
    }
    text.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use snowbridge::secret::Secret;

    #[test]
    fn netscape_lines_follow_curls_format() {
        let c = Cookie {
            name: "JSESSIONID".into(),
            value: Secret::new("abc"),
            domain: "127.0.0.1".into(),
            host_only: true,
            path: "/".into(),
            secure: false,
            http_only: true,
            same_site: None,
            expires: None,
        };
        let d = Cookie {
            host_only: false,
            http_only: false,
            domain: "service-now.com".into(),
            ..c.clone()
        };
        let text = netscape(&[&c, &d]);
        assert!(
            text.contains("#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\tJSESSIONID\tabc"),
            "{text}"
        );
        assert!(
            text.contains("\n.service-now.com\tTRUE\t/\tFALSE\t0\tJSESSIONID\tabc"),
            "{text}"
        );
    }
}
