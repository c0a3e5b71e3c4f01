//! `snowbridge cookies INSTANCE --format netscape|json|header`: the stored session for other
//! tools. This is the one command that prints secrets, because that is what it is asked for.

use snowbridge::cookie::{Cookie, export};
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
pub struct Args {
    /// The instance's name.
    instance: String,
    /// The output format.
    #[arg(long, value_enum, default_value = "netscape")]
    format: Format,
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
        Format::Netscape => {
            warn_unfit(&cookies, "a Netscape cookie file", export::netscape_unfit);
            output::line(&export::netscape(&cookies))
        }
        Format::Header => {
            let sent: Vec<&Cookie> = cookies
                .iter()
                .copied()
                .filter(|c| c.matches_url(&instance.url))
                .collect();
            warn_unfit(&sent, "a Cookie header", export::header_unfit);
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

/// Names on stderr the cookies a line format leaves out, and why (never their values).
fn warn_unfit(cookies: &[&Cookie], format: &str, unfit: fn(&Cookie) -> Option<&'static str>) {
    for c in cookies {
        if let Some(why) = unfit(c) {
            eprintln!(
                "warning: cookie {:?} for {} is left out of {format}: {why}",
                c.name, c.domain
            );
        }
    }
}
