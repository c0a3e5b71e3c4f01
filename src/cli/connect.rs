//! `snowbridge connect INSTANCE [--login]`: make sure a valid session exists; with `--login`,
//! log in through the browser.

use std::time::Duration;

use snowbridge::instance::Instance;
use snowbridge::secret::Secret;
use snowbridge::{Connected, Login, Result};

use super::browser_args::BrowserArgs;
use super::terminal::Terminal;

/// The longest `--timeout`: the browser's longest wait, in seconds.
const MAX_TIMEOUT_SECS: u64 = snowbridge::browser::MAX_WAIT.as_secs();
use super::{Context, output, status};

/// Arguments of `connect`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  # in a script or cron job: a valid session, or exit 4 naming the command to run
  snowbridge connect dev
  # log in through Chrome: a window for single sign-on and multi-factor
  snowbridge connect dev --login
  # fill in the form in headless Chrome (password from SNOWBRIDGE_PASSWORD or the keyring)
  snowbridge connect dev --login --headless --user jdoe
  # auth = \"oauth-pkce\": log in and press Allow in Chrome; the tokens are kept and refreshed
  snowbridge connect dev --login")]
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

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let instance = ctx.instance(&args.instance)?;
    if args.login {
        return log_in(ctx, &instance, args).await;
    }
    let connection = ctx.sb.connect(&instance.name).await?;
    let row = status::Row::of_session(&instance, connection.session(), "valid");
    if ctx.json {
        return output::json(&row);
    }
    let how = match connection.how() {
        Connected::Stored { checked: true } => {
            "stored session, checked with the instance".to_owned()
        }
        Connected::Stored { checked: false } => {
            "stored session, validated within the window".to_owned()
        }
        Connected::Imported(report) => format!("imported from Chrome: {report}"),
        Connected::Credentials(how) => how.clone(),
        _ => instance.auth.to_string(),
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

/// `connect --login`: the library's login with the person at the terminal to ask, and the
/// browser the flags name.
async fn log_in(ctx: &Context, instance: &Instance, args: Args) -> Result<()> {
    let browser = args.browser.options(std::path::PathBuf::new())?;
    let sb = ctx.sb.with_browser(browser).with_prompter(Terminal);
    let mut login = Login::default()
        .remember_me(!args.no_remember_me)
        .timeout(Duration::from_secs(args.timeout));
    if let Some(user) = args.user {
        login = login.user(user);
    }
    if let Some(code) = args.mfa_code {
        login = login.one_time_code(Secret::from(code));
    }
    let connection = sb.login(&instance.name, login).await?;
    let row = status::Row::of_session(instance, connection.session(), "valid");
    if ctx.json {
        return output::json(&row);
    }
    let who = row
        .user
        .as_deref()
        .map(|u| format!(" as {u}"))
        .unwrap_or_default();
    let text = match connection.how() {
        Connected::LoggedIn => format!(
            "{}: logged in{who}; session saved and checked over REST",
            instance.name
        ),
        Connected::Authorized => format!(
            "{}: signed in{who} (authorization_code grant); tokens saved and checked over REST",
            instance.name
        ),
        Connected::Credentials(how) => format!(
            "{}: signed in{who} ({how}); session saved and checked over REST",
            instance.name
        ),
        _ => format!(
            "{}: signed in{who} ({}); session saved and checked over REST",
            instance.name, instance.auth
        ),
    };
    output::line(&text)
}
