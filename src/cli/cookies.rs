//! `snowbridge cookies INSTANCE --format netscape|json|header`: the stored session for other
//! tools. This is the one command that prints secrets, because that is what it is asked for.

use snowbridge::cookie::{Cookie, export};
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
            warn_unfit(&cookies, "the Netscape file", export::netscape_unfit);
            output::line(&export::netscape(&cookies, OffsetDateTime::now_utc()))
        }
        Format::Header => {
            let sent: Vec<&Cookie> = cookies
                .iter()
                .copied()
                .filter(|c| c.matches_url(&instance.url))
                .collect();
            warn_unfit(&sent, "the headers", export::header_unfit);
            if let Some(token) = &record.user_token
                && token.expose().chars().any(char::is_control)
            {
                output::notice(
                    "the X-UserToken is left out of the headers: it holds a control character",
                );
            }
            output::line(&export::header(
                &instance.url,
                &sent,
                record.user_token.as_ref(),
            ))
        }
        Format::Json => output::json(&export::json(
            instance.base(),
            record.user_token.as_ref(),
            record.user_agent.as_deref(),
            &cookies,
        )),
    }
}

/// Names on stderr the cookies a line format leaves out, and why (never their values);
/// `--format json` carries every cookie.
fn warn_unfit(cookies: &[&Cookie], format: &str, unfit: fn(&Cookie) -> Option<&'static str>) {
    for c in cookies {
        if let Some(why) = unfit(c) {
            output::notice(&format!(
                "cookie {:?} for {} is left out of {format}: {why}; `--format json` carries it",
                c.name, c.domain
            ));
        }
    }
}
