//! The command line: a thin shell over the library. One file per subcommand holds its arguments
//! and a `run` function; this file parses, sets up logging, and maps errors to exit codes.

mod api;
mod attach;
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
mod status;

use std::io::Write;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use snowbridge::instance::{Catalog, Instance};
use snowbridge::paths::Dirs;
use snowbridge::vault::Vault;
use snowbridge::{Error, Result};

/// Reliable ServiceNow sessions for scripts.
#[derive(Debug, Parser)]
#[command(
    name = "snowbridge",
    version = env!("SNOWBRIDGE_VERSION"),
    about,
    propagate_version = true
)]
struct Cli {
    /// Print data as JSON.
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

/// What every command needs: the folders, the instance files, the vault.
pub struct Context {
    pub dirs: Dirs,
    pub json: bool,
    catalog: std::sync::OnceLock<Catalog>,
    vault: std::sync::OnceLock<Arc<Vault>>,
}

impl Context {
    fn new(json: bool) -> Result<Context> {
        Ok(Context {
            dirs: Dirs::from_env()?,
            json,
            catalog: std::sync::OnceLock::new(),
            vault: std::sync::OnceLock::new(),
        })
    }

    /// The instance files.
    pub fn catalog(&self) -> Result<&Catalog> {
        if let Some(c) = self.catalog.get() {
            return Ok(c);
        }
        let catalog = Catalog::load(&self.dirs)?;
        Ok(self.catalog.get_or_init(|| catalog))
    }

    /// The instance called `name`.
    pub fn instance(&self, name: &str) -> Result<Instance> {
        self.catalog()?.get(name)
    }

    /// The session vault.
    pub fn vault(&self) -> Arc<Vault> {
        self.vault
            .get_or_init(|| Arc::new(Vault::new(&self.dirs)))
            .clone()
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // Libraries that print cookie values at debug level are held at info, whatever -v says.
    let filter = format!(
        "{level},cookie_store=info,reqwest_cookie_store=info,fantoccini=info,hyper=info,hyper_util=info,rustls=info,h2=info"
    );
    let filter = std::env::var("SNOWBRIDGE_LOG").unwrap_or(filter);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    if let Command::Emulator(args) = cli.command {
        // The emulator runs its own runtime on its own thread.
        return match emulator::run(args, cli.json) {
            Ok(()) => 0,
            Err(e) => report(&e),
        };
    }
    // Ctrl-C (and SIGTERM, SIGHUP) must not leave a chromedriver or Chrome behind; installed
    // before any browser can start.
    if let Err(e) = snowbridge::browser::install_signal_cleanup() {
        tracing::warn!("{e}: a browser may outlive an interrupted snowbridge");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("snowbridge: cannot start: {e}");
            return 1;
        }
    };
    let result = runtime.block_on(async {
        let ctx = Context::new(cli.json)?;
        match cli.command {
            Command::Instances(args) => instances::run(&ctx, args),
            Command::Connect(args) => connect::run(&ctx, args).await,
            Command::Status(args) => status::run(&ctx, args).await,
            Command::Logout(args) => logout::run(&ctx, args).await,
            Command::Password(args) => password::run(&ctx, args),
            Command::Cookies(args) => cookies::run(&ctx, args),
            Command::Api(args) => api::run(&ctx, args).await,
            Command::Records(args) => records::run(&ctx, args).await,
            Command::ImportChrome(args) => import_chrome::run(&ctx, args).await,
            Command::Attach(args) => attach::run(&ctx, args).await,
            Command::Resolve(args) => resolve::run(&ctx, args).await,
            Command::Doctor(args) => doctor::run(&ctx, args).await,
            Command::Completions(args) => completions::run(&ctx, args),
            Command::Man(args) => man::run(&ctx, args),
            Command::Emulator(_) => unreachable!("handled before the runtime starts"),
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => 0,
        Err(e) => report(&e),
    }
}

fn report(e: &Error) -> i32 {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "snowbridge: {}", e.message());
    if let Some(hint) = e.hint() {
        let _ = writeln!(err, "  {hint}");
    }
    e.kind().exit_code()
}
