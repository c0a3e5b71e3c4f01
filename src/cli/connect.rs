//! `snowbridge connect INSTANCE [--login]`: make sure a valid session exists; with `--login`,
//! log in through the browser.

use std::time::Duration;

use snowbridge::instance::AuthMethod;
use snowbridge::obtain::login::{self, LoginOptions, Person};
use snowbridge::obtain::secrets::{self, Given, Kind};
use snowbridge::obtain::{self, Connected, password};
use snowbridge::secret::Secret;
use snowbridge::{Error, ErrorKind, Result};

use super::browser_args::BrowserArgs;

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

/// The person at the terminal, when there is one, logging in to `instance`.
struct Terminal {
    instance: String,
}

impl Person for Terminal {
    fn tell(&self, line: &str) {
        eprintln!("{line}");
    }

    fn one_time_code(&self, user: &str, instance: &str) -> Option<Secret> {
        if !password::can_prompt() {
            return None;
        }
        password::prompt(
            &format!("One-time code for {user} on {instance}: "),
            &self.instance,
        )
        .ok()
        .filter(|c| !c.is_empty())
    }
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let instance = ctx.instance(&args.instance)?;
    if args.login && instance.auth == AuthMethod::OauthPkce {
        return authorize(ctx, &instance, &args).await;
    }
    if args.login && instance.auth != AuthMethod::Browser {
        return sign_in_at_terminal(ctx, &instance).await;
    }
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
        Connected::Credentials(how) => how,
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
    let (options, prompted) = login_options(ctx, instance, args)?;
    let user = options.credentials.as_ref().map(|(user, _)| user.clone());
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

/// `connect --login` for `oauth-pkce`: the authorization code flow in the same browser as the
/// browser login (a person logs in and presses Allow; with credentials snowbridge does both).
async fn authorize(
    ctx: &Context,
    instance: &snowbridge::instance::Instance,
    args: &Args,
) -> Result<()> {
    let (options, prompted) = login_options(ctx, instance, args)?;
    let user = options.credentials.as_ref().map(|(user, _)| user.clone());
    let session = obtain::pkce::authorize(instance, ctx.vault(), options).await?;
    if let (Some(secret), Some(user)) = (prompted, &user) {
        offer_to_keep(&instance.name, user, &secret);
    }
    let row = status::Row::of_session(instance, &session, "valid");
    if ctx.json {
        return output::json(&row);
    }
    output::line(&format!(
        "{}: signed in{} (authorization_code grant); tokens saved and checked over REST",
        instance.name,
        row.user
            .as_deref()
            .map(|u| format!(" as {u}"))
            .unwrap_or_default()
    ))
}

/// The browser login's options from the command line, with the credentials to fill the form
/// with where they are at hand (and a password typed at the terminal, to offer keeping).
/// Without a window (asked for, or no display) snowbridge must fill the form itself: what it
/// lacks for that is said now, before a browser starts, not after it waited.
fn login_options(
    ctx: &Context,
    instance: &snowbridge::instance::Instance,
    args: &Args,
) -> Result<(LoginOptions, Option<Secret>)> {
    let browser = args
        .browser
        .options(ctx.dirs.login_profile(&instance.name))?;
    let user = args.user.clone().or(instance.username.clone());
    let headless = browser.runs_headless();
    let mut prompted = None;
    let credentials = match &user {
        Some(user) => match password::find(&instance.name, user) {
            Ok((secret, _)) => Some((user.clone(), secret)),
            Err(_) if headless && password::can_prompt() => {
                let secret = password::prompt(
                    &format!("Password for {user} on {}: ", instance.name),
                    &instance.name,
                )?;
                prompted = Some(secret.clone());
                Some((user.clone(), secret))
            }
            Err(missing) if headless => {
                return Err(no_password(instance, user, &missing, args));
            }
            // A window: the person types it there.
            Err(_) => None,
        },
        None if headless => {
            return Err(Error::new(
                ErrorKind::LoginRequired,
                format!(
                    "{} without a window needs a user name and its password to fill in the login form, and no user name is given",
                    why_headless(args)
                ),
            )
            .with_hint(format!(
                "pass --user NAME, or add username = \"...\" to {}; then store the password with `snowbridge password {}`, or set {}",
                instance.source.display(),
                instance.name,
                password::ENV
            )));
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
    Ok((options, prompted))
}

/// Why the login runs without a window, in words.
fn why_headless(args: &Args) -> &'static str {
    if args.browser.headless {
        "a login with --headless"
    } else {
        "a login with no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    }
}

/// The error for a headless login with no password at hand: what is missing and each way to
/// give it.
fn no_password(
    instance: &snowbridge::instance::Instance,
    user: &str,
    missing: &password::Missing,
    args: &Args,
) -> Error {
    let name = &instance.name;
    Error::new(
        ErrorKind::LoginRequired,
        format!(
            "{} fills in the login form itself and needs the password of {user} on {name}, which is not at hand: {missing}; no browser was started",
            why_headless(args)
        ),
    )
    .with_hint(format!(
        "give it for this run with {env}=..., store it with `snowbridge password {name}`, or run `snowbridge connect {name} --login --headless` at a terminal to type it",
        env = password::ENV
    ))
}

fn offer_to_keep(instance: &str, user: &str, secret: &Secret) {
    // SNOWBRIDGE_KEYRING=off: nothing goes to the keyring, so nothing is offered.
    if !password::can_prompt() || !password::can_keep() {
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

/// The secrets `auth` needs from a person or a store, besides the instance file.
fn needed(instance: &snowbridge::instance::Instance) -> Vec<Kind> {
    match instance.auth {
        AuthMethod::Basic => vec![Kind::Password],
        AuthMethod::ApiKey => vec![Kind::ApiKey],
        AuthMethod::OauthPassword => vec![Kind::Password, Kind::ClientSecret],
        AuthMethod::OauthClientCredentials | AuthMethod::Jwt => vec![Kind::ClientSecret],
        AuthMethod::Mtls => {
            let encrypted = instance.mtls.as_ref().is_some_and(|m| {
                std::fs::read_to_string(&m.key)
                    .is_ok_and(|k| k.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
            });
            if encrypted {
                vec![Kind::KeyPassphrase]
            } else {
                Vec::new()
            }
        }
        AuthMethod::Browser | AuthMethod::OauthPkce => Vec::new(),
    }
}

/// `connect --login` for the methods that need no browser: the secrets
/// not at hand are asked for at the terminal, the method's grant (or a first call) proves
/// them, and each typed secret may be kept in the keyring (not the password of
/// `oauth-password`: it is used once, then only the tokens are kept).
async fn sign_in_at_terminal(
    ctx: &Context,
    instance: &snowbridge::instance::Instance,
) -> Result<()> {
    let mut given = Given::default();
    let mut typed = Vec::new();
    for kind in needed(instance) {
        let at_hand = secrets::find(instance, kind, &Given::default());
        let secret = match at_hand {
            Some((secret, _)) => secret,
            None => {
                if !password::can_prompt() {
                    // Named as the method's own secret, not as the browser login's password.
                    return Err(
                        secrets::missing(instance, kind).with_note("no terminal to ask on either")
                    );
                }
                let secret = password::prompt(
                    &format!("{} for {}: ", capitalized(kind.describe()), instance.name),
                    &instance.name,
                )?;
                if secret.is_empty() {
                    return Err(Error::usage(format!("{} was empty", kind.describe())));
                }
                typed.push(kind);
                secret
            }
        };
        given = given.with(kind, secret);
    }
    let (session, how) = obtain::sign_in(instance, ctx.vault(), given.clone()).await?;
    for kind in typed {
        let once = kind == Kind::Password && instance.auth == AuthMethod::OauthPassword;
        if let (false, Some(secret)) = (once, given.get(kind)) {
            offer_to_keep_secret(instance, kind, secret);
        }
    }
    let row = status::Row::of_session(instance, &session, "valid");
    if ctx.json {
        return output::json(&row);
    }
    let how = match how {
        Connected::Credentials(how) => how,
        _ => instance.auth.to_string(),
    };
    output::line(&format!(
        "{}: signed in{} ({how}); session saved and checked over REST",
        instance.name,
        row.user
            .as_deref()
            .map(|u| format!(" as {u}"))
            .unwrap_or_default()
    ))
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn offer_to_keep_secret(instance: &snowbridge::instance::Instance, kind: Kind, secret: &Secret) {
    if !password::can_prompt() || !snowbridge::keyring::enabled() {
        return;
    }
    eprint!("Keep {} in the OS keyring? [y/N] ", kind.describe());
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_ok() && answer.trim().eq_ignore_ascii_case("y") {
        match secrets::store(instance, kind, secret) {
            Ok(()) => eprintln!("Kept in the OS keyring."),
            Err(e) => eprintln!("Not kept: {}", e.message()),
        }
    }
}
