//! The command line: a thin shell over the library. One file per subcommand holds its arguments
//! and a `run` function; this file parses, sets up logging, and maps errors to exit codes.

mod api;
mod attach;
mod body;
mod browser_args;
mod completions;
mod connect;
mod cookies;
mod doctor;
mod emulator;
mod import_chrome;
mod instances;
mod logout;
mod man;
mod output;
mod password;
mod records;
mod resolve;
mod secret;
mod status;
mod steps;
mod terminal;

use std::io::Write;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use snowbridge::instance::{Catalog, Instance};
use snowbridge::paths::Dirs;
use snowbridge::vault::Vault;
use snowbridge::{Error, ErrorKind, Result, Snowbridge};

/// Reliable ServiceNow sessions for scripts.
#[derive(Debug, Parser)]
#[command(
    name = "snowbridge",
    version = env!("SNOWBRIDGE_VERSION"),
    about,
    propagate_version = true,
    after_long_help = "\
Exit codes:
  0  ok
  1  failed: a file, a record, the instance, the network, the browser (files and records that
     do not exist included)
  2  the command line is wrong: an unknown command, flag or instance, a bad value, flags that
     do not go together
  4  login required: run the command the message names (snowbridge connect NAME --login)
  5  refused by the instance (ACL, data policy, OAuth scope), with its message
Under --json, errors are one line of JSON on stderr:
  {\"error\":{\"kind\":...,\"message\":...,\"hint\":...,\"exit_code\":...}}"
)]
struct Cli {
    /// Print data as JSON, and errors as one line of JSON on stderr (commands whose output is
    /// not data refuse it).
    #[arg(long, global = true)]
    json: bool,
    /// Log to stderr (-v info, -vv debug, -vvv trace). Secrets are never logged.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the instances it knows, and where each is defined.
    Instances(instances::Args),
    /// Make sure a valid session exists (never prompts or opens a browser without --login).
    Connect(connect::Args),
    /// Show each instance's session: valid, expired or missing, and more.
    Status(status::Args),
    /// End the session on the instance and delete what is stored.
    Logout(logout::Args),
    /// Store (or remove) the user's password in the OS keyring.
    Password(password::Args),
    /// Store (or remove) a secret in the OS keyring: password, client-secret, api-key, key-passphrase.
    Secret(secret::Args),
    /// Export the session's cookies for curl, wget, Python requests, PowerShell.
    Cookies(cookies::Args),
    /// Make an authenticated request and print the JSON reply, like `gh api`.
    Api(api::Args),
    /// Stream a table's records out as JSON, NDJSON or CSV.
    Records(records::Args),
    /// Import the session from your own Chrome (Chromium, Edge, Brave) profile.
    ImportChrome(import_chrome::Args),
    /// Attach files to a record: REST first, else through the browser.
    Attach(attach::Args),
    /// Resolve (or close) an incident: REST first, else the form's UI action in the browser.
    Resolve(resolve::Args),
    /// Run a local ServiceNow instance emulator (tests, demos, offline script work).
    Emulator(emulator::Args),
    /// Check the set-up (Chrome, chromedriver, keyring, folders, instances) and say what to fix.
    Doctor(doctor::Args),
    /// Print the shell completion script for bash, zsh, fish, PowerShell or elvish.
    Completions(completions::Args),
    /// Print the manual page, or write one page per command into a folder.
    Man(man::Args),
}

/// What every command needs: the library's front door (folders, instance files, vault), which
/// never prompts; `connect --login` derives one that asks the [`terminal::Terminal`].
pub struct Context {
    pub sb: Snowbridge,
    pub dirs: Dirs,
    pub json: bool,
}

impl Context {
    fn new(json: bool) -> Result<Context> {
        let sb = Snowbridge::from_env()?;
        Ok(Context {
            dirs: sb.dirs().clone(),
            sb,
            json,
        })
    }

    /// The instance files.
    pub fn catalog(&self) -> Result<&Catalog> {
        self.sb.catalog()
    }

    /// The instance called `name`.
    pub fn instance(&self, name: &str) -> Result<Instance> {
        self.sb.instance(name)
    }

    /// The session vault; its notices (the key kept in a file) reach the person through
    /// [`NoticeLayer`].
    pub fn vault(&self) -> Arc<Vault> {
        self.sb.vault().clone()
    }
}

/// Libraries that log secrets below `info`: cookie_store prints every cookie it stores with its
/// value, fantoccini and the `webdriver` types the WebDriver commands (typed passwords
/// included), hyper, h2 and rustls the traffic, reqwest the URLs it fetches (OAuth token
/// revocation carries the token in the query), zbus, secret-service and keyring the D-Bus
/// messages that carry keyring secrets. They are held at `info` whatever `-v` or
/// `SNOWBRIDGE_LOG` ask.
const QUIET_LIBRARIES: &[&str] = &[
    "cookie_store",
    "reqwest_cookie_store",
    "fantoccini",
    "webdriver",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "reqwest",
    "zbus",
    "secret_service",
    "keyring",
];

/// The filter that caps [`QUIET_LIBRARIES`] at `info` and lets everything else through; it is
/// combined (AND) with the user's filter, so no directive of theirs can lift it.
fn library_caps() -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    QUIET_LIBRARIES.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |caps, name| caps.with_target(*name, LevelFilter::INFO),
    )
}

/// Logs on stderr at the level `-v` asks (or as `SNOWBRIDGE_LOG` says, in `RUST_LOG` syntax),
/// never below `info` for the libraries that would print secrets. Without either there are no
/// log lines at all: what a user must see is printed by the commands themselves. Colours only
/// on a terminal, and never with `NO_COLOR` set.
fn init_logging(verbose: u8) {
    use std::io::IsTerminal;
    use tracing_subscriber::filter::FilterExt;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};

    let asked = std::env::var("SNOWBRIDGE_LOG").ok();
    let is_notice = |m: &tracing::Metadata<'_>| m.target() == snowbridge::NOTICE_TARGET;
    // The library's notices are for the person, not logs: shown whatever -v says.
    let notices = NoticeLayer.with_filter(tracing_subscriber::filter::filter_fn(is_notice));
    let level = match verbose {
        0 if asked.is_none() => {
            let _ = tracing_subscriber::registry().with(notices).try_init();
            return;
        }
        0 | 1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let (wanted, refused) = match asked {
        Some(text) => match EnvFilter::try_new(&text) {
            Ok(filter) => (filter, None),
            Err(e) => (EnvFilter::new(level), Some(format!("{text:?} ({e})"))),
        },
        None => (EnvFilter::new(level), None),
    };
    let colour = wants_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .with_filter(
            wanted
                .and(library_caps())
                .and(tracing_subscriber::filter::filter_fn(move |m| {
                    !is_notice(m)
                })),
        );
    let _ = tracing_subscriber::registry()
        .with(notices)
        .with(layer)
        .try_init();
    if let Some(refused) = refused {
        output::notice(&format!(
            "SNOWBRIDGE_LOG={refused} is not a log filter (e.g. `debug` or `snowbridge=trace`); logging at {level}"
        ));
    }
}

/// Prints the library's notices (events under [`snowbridge::NOTICE_TARGET`]) through
/// [`output::notice`].
struct NoticeLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NoticeLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "message" {
                    self.0 = value.to_owned();
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        output::notice(&message.0);
    }
}

/// Colours in the logs: only on a terminal, and not when `NO_COLOR` is set to anything but
/// the empty string (no-color.org).
fn wants_colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// How long an interrupted command may take to unwind (its sessions saving what they learned)
/// before the process ends anyway; a second signal ends it at once.
const UNWIND_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// How a command ended.
enum Ended {
    /// It ran to its end, well or not.
    Ran(Result<()>),
    /// A signal (SIGINT, SIGTERM, SIGHUP) stopped it; the number.
    Signalled(i32),
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => return parse_failure(&e, asks_for_json(&argv)),
    };
    output::set_json(cli.json);
    init_logging(cli.verbose);
    if let Command::Emulator(args) = cli.command {
        // The emulator runs its own runtime on its own thread.
        return match emulator::run(args, cli.json) {
            Ok(()) => 0,
            Err(e) => report(&e),
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(&Error::internal(format!("cannot start: {e}"))),
    };
    let ended = runtime.block_on(async {
        let signalled = signals::watch();
        tokio::select! {
            biased;
            // Dropping the command's future unwinds it: browsers close, sessions save.
            signal = signalled => Ended::Signalled(signal),
            result = run(cli.json, cli.command) => Ended::Ran(result),
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match ended {
        Ended::Ran(Ok(())) => 0,
        // `| head` read what it wanted: the command is done, not failed.
        Ended::Ran(Err(e)) if output::reader_gone(&e) => 0,
        Ended::Ran(Err(e)) => report(&e),
        Ended::Signalled(signal) => 128 + signal,
    }
}

async fn run(json: bool, command: Command) -> Result<()> {
    let ctx = Context::new(json)?;
    match command {
        Command::Instances(args) => instances::run(&ctx, args),
        Command::Connect(args) => connect::run(&ctx, args).await,
        Command::Status(args) => status::run(&ctx, args).await,
        Command::Logout(args) => logout::run(&ctx, args).await,
        Command::Password(args) => password::run(&ctx, args),
        Command::Secret(args) => secret::run(&ctx, args),
        Command::Cookies(args) => cookies::run(&ctx, args),
        Command::Api(args) => api::run(&ctx, args).await,
        Command::Records(args) => records::run(&ctx, args).await,
        Command::ImportChrome(args) => import_chrome::run(&ctx, args).await,
        Command::Attach(args) => attach::run(&ctx, args).await,
        Command::Resolve(args) => resolve::run(&ctx, args).await,
        Command::Doctor(args) => doctor::run(&ctx, args).await,
        Command::Completions(args) => completions::run(&ctx, args),
        Command::Man(args) => man::run(&ctx, args),
        Command::Emulator(_) => Err(Error::internal(
            "the emulator runs before the runtime starts",
        )),
    }
}

/// Ctrl-C, SIGTERM and SIGHUP: the browsers die at once, the command unwinds so what it
/// learned is saved, and the process exits with 128 + the signal.
mod signals {
    use std::future::Future;

    use super::UNWIND_PATIENCE;

    /// Ctrl-C's number, also where there are no POSIX signals.
    const SIGINT: i32 = 2;

    /// Starts listening now (inside the runtime, before the command runs) and returns a future
    /// that resolves to the first signal's number once the browsers have been killed. Behind
    /// it, a task ends the process if the command has not unwound within [`UNWIND_PATIENCE`]
    /// (stuck writing to a pipe nobody reads, or at a prompt) or when a second signal comes.
    pub(super) fn watch() -> impl Future<Output = i32> {
        let listening = listen();
        async move {
            let mut next = match listening {
                Ok(next) => next,
                Err(e) => {
                    // Without a listener, the library's handler at least takes the browsers down.
                    if let Err(e) = snowbridge::browser::install_signal_cleanup() {
                        super::output::notice(&format!(
                            "{e}: a browser may outlive an interrupted snowbridge"
                        ));
                    }
                    super::output::notice(&format!(
                        "cannot listen for Ctrl-C ({e}): an interrupted command will not save its session"
                    ));
                    return std::future::pending().await;
                }
            };
            let first = next.recv().await.unwrap_or(SIGINT);
            snowbridge::browser::kill_all();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(UNWIND_PATIENCE, next.recv()).await;
                snowbridge::browser::kill_all();
                end_now(first);
            });
            first
        }
    }

    /// The signals, as their numbers, in the order they come.
    fn listen() -> std::io::Result<tokio::sync::mpsc::UnboundedReceiver<i32>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            for (kind, number) in [
                (SignalKind::interrupt(), libc::SIGINT),
                (SignalKind::terminate(), libc::SIGTERM),
                (SignalKind::hangup(), libc::SIGHUP),
            ] {
                let mut stream = signal(kind)?;
                let tx = tx.clone();
                tokio::spawn(async move {
                    while stream.recv().await.is_some() && tx.send(number).is_ok() {}
                });
            }
        }
        #[cfg(not(unix))]
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() && tx.send(SIGINT).is_ok() {}
        });
        Ok(rx)
    }

    fn end_now(signal: i32) -> ! {
        #[cfg(unix)]
        // SAFETY: _exit ends the process at once, running nothing else.
        unsafe {
            libc::_exit(128 + signal)
        }
        #[cfg(not(unix))]
        std::process::exit(128 + signal)
    }
}

/// Prints `e` on stderr (one line of JSON under `--json`) and returns its exit code.
fn report(e: &Error) -> i32 {
    let code = e.kind().exit_code();
    print_error(
        e.kind().as_str(),
        e.message(),
        steps::advice(e).as_deref(),
        code,
    );
    code
}

/// An error on stderr: `snowbridge: MESSAGE` and the hint indented below it, or under `--json`
/// `{"error":{"kind","message","hint","exit_code"}}` on one line.
fn print_error(kind: &str, message: &str, hint: Option<&str>, code: i32) {
    /// The JSON form, fields in the documented order.
    #[derive(serde::Serialize)]
    struct Body<'a> {
        kind: &'a str,
        message: &'a str,
        hint: Option<&'a str>,
        exit_code: i32,
    }
    #[derive(serde::Serialize)]
    struct Report<'a> {
        error: Body<'a>,
    }
    let mut err = std::io::stderr().lock();
    if output::is_json() {
        let report = Report {
            error: Body {
                kind,
                message,
                hint,
                exit_code: code,
            },
        };
        if let Ok(line) = serde_json::to_string(&report) {
            let _ = writeln!(err, "{line}");
            return;
        }
    }
    let _ = writeln!(err, "snowbridge: {message}");
    if let Some(hint) = hint {
        let _ = writeln!(err, "  {hint}");
    }
}

/// True when `--json` is among the arguments (before a `--`): how a command line clap could
/// not parse still gets its error as JSON.
fn asks_for_json(argv: &[std::ffi::OsString]) -> bool {
    argv.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// clap could not parse the command line (exit 2), or it was `--help`/`--version` (exit 0):
/// help and version print as clap prints them; errors print as clap does, or under `--json`
/// as a JSON error whose message is clap's first paragraph and whose hint is the rest.
fn parse_failure(e: &clap::Error, json: bool) -> i32 {
    let code = e.exit_code();
    if !e.use_stderr() || !json {
        let _ = e.print();
        return code;
    }
    output::set_json(true);
    // Rendered as plain text: StyledStr's Display drops the colours.
    let text = e.render().to_string();
    let text = text.trim().strip_prefix("error: ").unwrap_or(text.trim());
    let (first, rest) = text.split_once("\n\n").unwrap_or((text, ""));
    let message = first.split_whitespace().collect::<Vec<_>>().join(" ");
    let hint: Vec<&str> = rest
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let hint = (!hint.is_empty()).then(|| hint.join("; "));
    print_error(ErrorKind::Usage.as_str(), &message, hint.as_deref(), code);
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn the_caps_hold_secret_printing_libraries_at_info_and_nothing_else() {
        let caps = library_caps();
        for target in [
            "cookie_store::cookie_store",
            "reqwest_cookie_store",
            "fantoccini::session",
            "hyper_util::client",
            "zbus::connection",
        ] {
            assert!(!caps.would_enable(target, &Level::DEBUG), "{target}");
            assert!(caps.would_enable(target, &Level::INFO), "{target}");
        }
        assert!(caps.would_enable("snowbridge::session", &Level::TRACE));
    }

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(wants_colour(true, None));
        assert!(wants_colour(true, Some("".into())));
        assert!(!wants_colour(true, Some("1".into())));
        assert!(!wants_colour(false, None));
    }

    #[test]
    fn json_is_seen_in_a_command_line_clap_refuses() {
        let argv =
            |words: &[&str]| -> Vec<std::ffi::OsString> { words.iter().map(Into::into).collect() };
        assert!(asks_for_json(&argv(&[
            "snowbridge",
            "connect",
            "--json",
            "--bogus"
        ])));
        assert!(asks_for_json(&argv(&["snowbridge", "--json", "nosuch"])));
        assert!(!asks_for_json(&argv(&[
            "snowbridge",
            "api",
            "dev",
            "--",
            "--json"
        ])));
        assert!(
            !asks_for_json(&argv(&["--json"])),
            "the program's own name is not a flag"
        );
    }
}
