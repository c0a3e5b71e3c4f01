//! `snowbridge connect INSTANCE [--login]`: make sure a valid session exists; with `--login`,
//! log in through the browser.

use std::time::Duration;

use snowbridge::obtain::login::{self, LoginOptions, Person};
use snowbridge::obtain::{self, Connected, password};
use snowbridge::secret::Secret;
use snowbridge::{Error, Result};

use super::browser_args::BrowserArgs;

/// The longest `--timeout`: the browser's longest wait, in seconds.
const MAX_TIMEOUT_SECS: u64 = snowbridge::browser::MAX_WAIT.as_secs();
use super::{Context, output, status};

/// Arguments of `connect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The instance's name.
    instance: String,
    /// Log in through the browser (a window for a person, or filled in with stored credentials).
    #[arg(long)]
    login: bool,
    /// The user to log in as (default: the instance file's `username`).
    #[arg(long, requires = "login")]
    user: Option<String>,
    /// The one-time code for a multi-factor login, when known up front.
    #[arg(long, requires = "login", value_name = "CODE")]
    mfa_code: Option<String>,
    /// Seconds to wait for the login to finish (1 to 604800, a week).
    #[arg(long, default_value_t = 300, requires = "login",
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    timeout: u64,
    /// Do not tick "Remember me" on the login form.
    #[arg(long, requires = "login")]
    no_remember_me: bool,
    #[command(flatten)]
    browser: BrowserArgs,
}

/// The person at the terminal, when there is one, logging in to `instance`.
struct Terminal {
    instance: String,
}

impl Person for Terminal {
    fn tell(&self, line: &str) {
        eprintln!("{line}");
    }

    fn one_time_code(&self) -> Option<Secret> {
        if !password::can_prompt() {
            return None;
        }
        password::prompt("One-time code: ", &self.instance)
            .ok()
            .filter(|c| !c.is_empty())
    }
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let instance = ctx.instance(&args.instance)?;
    if args.login {
        return log_in(ctx, &instance, &args).await;
    }
    let (session, how) = obtain::connect(&instance, ctx.vault()).await?;
    session.save()?;
    let row = status::Row::of_session(&instance, &session, "valid");
    if ctx.json {
        return output::json(&row);
    }
    let how = match how {
        Connected::Stored { checked: true } => {
            "stored session, checked with the instance".to_owned()
        }
        Connected::Stored { checked: false } => {
            "stored session, validated within the window".to_owned()
        }
        Connected::Imported(report) => format!("imported from Chrome: {report}"),
    };
    output::line(&format!(
        "{}: session valid{} ({how})",
        instance.name,
        row.user
            .as_deref()
            .map(|u| format!(" for {u}"))
            .unwrap_or_default()
    ))
}

async fn log_in(
    ctx: &Context,
    instance: &snowbridge::instance::Instance,
    args: &Args,
) -> Result<()> {
    let browser = args
        .browser
        .options(ctx.dirs.login_profile(&instance.name))?;
    let user = args.user.clone().or(instance.username.clone());
    let headless_asked = browser.headless == Some(true);
    // Credentials are used when at hand; a headless run may also ask for the password.
    let mut prompted = None;
    let credentials = match &user {
        Some(user) => match password::stored(&instance.name, user) {
            Some((secret, _)) => Some((user.clone(), secret)),
            None if headless_asked => {
                let secret = password::prompt(
                    &format!("Password for {user} on {}: ", instance.name),
                    &instance.name,
                )?;
                prompted = Some(secret.clone());
                Some((user.clone(), secret))
            }
            None => None,
        },
        None if headless_asked => {
            return Err(
                Error::usage("a headless login needs a user name").with_hint(format!(
                    "pass --user NAME, or add username = \"...\" to {}",
                    instance.source.display()
                )),
            );
        }
        None => None,
    };
    let options = LoginOptions {
        browser,
        credentials,
        mfa_code: args.mfa_code.clone().map(Secret::from),
        remember_me: !args.no_remember_me,
        timeout: Duration::from_secs(args.timeout),
        person: Box::new(Terminal {
            instance: instance.name.clone(),
        }),
        diagnostics: ctx.dirs.diagnostics(),
    };
    let session = login::login(instance, ctx.vault(), options).await?;
    if let (Some(secret), Some(user)) = (prompted, &user) {
        offer_to_keep(&instance.name, user, &secret);
    }
    let row = status::Row::of_session(instance, &session, "valid");
    if ctx.json {
        return output::json(&row);
    }
    output::line(&format!(
        "{}: logged in{}; session saved and checked over REST",
        instance.name,
        row.user
            .as_deref()
            .map(|u| format!(" as {u}"))
            .unwrap_or_default()
    ))
}

fn offer_to_keep(instance: &str, user: &str, secret: &Secret) {
    if !password::can_prompt() {
        return;
    }
    eprint!("Keep this password in the OS keyring for the next login? [y/N] ");
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_ok() && answer.trim().eq_ignore_ascii_case("y") {
        match password::store(instance, user, secret) {
            Ok(()) => eprintln!("Password kept in the OS keyring."),
            Err(e) => eprintln!("Not kept: {}", e.message()),
        }
    }
}
