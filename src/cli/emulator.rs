//! `snowbridge emulator`: a local ServiceNow stand-in for tests, demos and offline script work.
//! Runs until Ctrl-C or SIGTERM, then stops and removes its temporary data.

use std::path::PathBuf;

use snowbridge::emulator::{Emulator, EmulatorConfig};
use snowbridge::{Error, Result};

/// Arguments of `emulator`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8765)]
    port: u16,
    /// Serve HTTPS with a generated certificate; the CA goes to DATA/ca.pem.
    #[arg(long)]
    tls: bool,
    /// Keep the data (SQLite database, CA) here; a temporary folder otherwise.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// A TOML file of emulator settings (see the README); flags given here win.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// How many incidents a new database is seeded with.
    #[arg(long)]
    incidents: Option<usize>,
}

fn load_config(args: &Args) -> Result<EmulatorConfig> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::usage(format!("cannot read {}: {e}", path.display())))?;
            toml::from_str::<EmulatorConfig>(&text).map_err(|e| {
                Error::bad_input(format!("{}: {}", path.display(), e.message())).with_hint(
                    "fix the key; see the emulator section of the README for the settings",
                )
            })?
        }
        None => EmulatorConfig::default(),
    };
    config.port = args.port;
    config.tls |= args.tls;
    if let Some(data) = &args.data {
        config.data_dir = Some(data.clone());
    }
    if let Some(n) = args.incidents {
        config.incidents = n;
    }
    config
        .validate()
        .map_err(|why| Error::bad_input(format!("emulator settings: {why}")))?;
    Ok(config)
}

/// Runs the emulator; blocking, outside any async runtime.
pub fn run(args: Args, json: bool) -> Result<()> {
    let config = load_config(&args)?;
    let emulator = Emulator::start(config.clone()).map_err(|e| {
        Error::new(
            snowbridge::ErrorKind::Internal,
            format!("cannot start the emulator on port {}: {e}", config.port),
        )
        .with_hint("pick another port with --port, or 0 for a free one")
    })?;
    let url = emulator.url();
    if json {
        super::output::json(&serde_json::json!({
            "url": url.as_str(),
            "idp_url": emulator.idp_url().as_str(),
            "ca_file": emulator.ca_pem_path(),
            "password": config.password,
            "mfa_code": config.mfa_code,
        }))?;
    } else {
        super::output::line(&format!("snowbridge emulator: listening on {url}"))?;
        super::output::line(&format!("  identity provider: {}", emulator.idp_url()))?;
        if let Some(ca) = emulator.ca_pem_path() {
            super::output::line(&format!("  CA certificate: {}", ca.display()))?;
        }
        super::output::line(&format!(
            "  users: admin, itil.user, itil.admin, mfa.user (code {}), sso.user; password {:?}",
            config.mfa_code, config.password
        ))?;
        super::output::line("  stop with Ctrl-C")?;
    }
    wait_for_stop_signal();
    drop(emulator);
    Ok(())
}

fn wait_for_stop_signal() {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    });
}
