//! `snowbridge emulator`: a local ServiceNow stand-in for tests, demos and offline script work.
//! Runs until Ctrl-C or SIGTERM, then stops and removes its temporary data.

use std::path::PathBuf;

use snowbridge::emulator::{Emulator, EmulatorConfig, StartFailure};
use snowbridge::{Error, Result};

/// The port when neither `--port` nor the configuration file names one (`instances/local.toml`).
const DEFAULT_PORT: u16 = 8765;

/// Arguments of `emulator`.
///
/// A flag given on the command line wins over the `--config` file; a flag not given leaves the
/// file's value; neither gives the default. So every flag is an `Option` (or a switch that can
/// only turn a setting on), never a clap default that would hide the file's value.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  # the address instances/local.toml points at: http://127.0.0.1:8765
  snowbridge emulator
  # HTTPS, with its CA kept in ./emu/ca.pem for ca_file or curl --cacert
  snowbridge emulator --tls --data ./emu
  # the settings of a file, any of them overridden by a flag
  snowbridge emulator --config emulator.toml --port 0 --json
  # steered from another process: {\"op\":\"expire_all_sessions\"} on stdin, answers on stdout
  snowbridge emulator --port 0 --json --control")]
pub struct Args {
    /// The port on 127.0.0.1, 0 picks a free one [default: the file's `port`, else 8765].
    #[arg(long)]
    port: Option<u16>,
    /// Serve HTTPS with a generated certificate; the CA goes to DATA/ca.pem [default: the
    /// file's `tls`, else off].
    #[arg(long)]
    tls: bool,
    /// Keep the data (SQLite database, CA) here [default: the file's `data_dir`, else a
    /// temporary folder removed on exit].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// A TOML file of emulator settings (see the README); flags given here win.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// How many incidents a new database is seeded with [default: the file's `incidents`, else
    /// 50].
    #[arg(long)]
    incidents: Option<usize>,
    /// Take control commands on stdin, one JSON object a line (`{"op":"expire_all_sessions"}`),
    /// each answered by one JSON line on stdout after the address; stops when stdin closes.
    /// For tests and demos steering the emulator from another process.
    #[arg(long)]
    control: bool,
}

/// The settings: the defaults, then the file's keys, then the flags given.
fn load_config(args: &Args) -> Result<EmulatorConfig> {
    let mut config = EmulatorConfig {
        port: DEFAULT_PORT,
        ..EmulatorConfig::default()
    };
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::bad_input(format!("cannot read {}: {e}", path.display())))?;
        let bad = |e: toml::de::Error| {
            snowbridge::instance::toml_error(
                path,
                &text,
                &e,
                "see the emulator section of the README for the settings",
            )
        };
        // The keys the file names; serde's defaults stand in for the others, and `port` has a
        // default of its own here.
        let keys: toml::Table = toml::from_str(&text).map_err(bad)?;
        let file: EmulatorConfig = toml::from_str(&text).map_err(bad)?;
        let port = if keys.contains_key("port") {
            file.port
        } else {
            config.port
        };
        // A relative data_dir is taken from the file's folder, as instance files' paths are.
        let folder = path.parent().unwrap_or(std::path::Path::new(""));
        let data_dir = file.data_dir.clone().map(|dir| folder.join(dir));
        config = EmulatorConfig {
            port,
            data_dir,
            ..file
        };
    }
    if let Some(port) = args.port {
        config.port = port;
    }
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
    let emulator = Emulator::start(config.clone()).map_err(|e| start_failed(&config, &e))?;
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
    let stdin_closed = args.control.then(|| serve_control(emulator.control()));
    wait_for_stop_signal(stdin_closed);
    drop(emulator);
    Ok(())
}

/// Answers the control commands on stdin (see [`snowbridge::emulator::control_lines`]) on a
/// thread of its own; the receiver hears when stdin closes.
fn serve_control(control: snowbridge::emulator::Control) -> tokio::sync::oneshot::Receiver<()> {
    let (closed, stdin_closed) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            let answer = snowbridge::emulator::control_lines::answer(&control, &line);
            let mut out = std::io::stdout().lock();
            if writeln!(out, "{answer}")
                .and_then(|()| out.flush())
                .is_err()
            {
                break;
            }
        }
        let _ = closed.send(());
    });
    stdin_closed
}

/// Waits for Ctrl-C or SIGTERM, or for `stdin_closed` when given.
fn wait_for_stop_signal(stdin_closed: Option<tokio::sync::oneshot::Receiver<()>>) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let stdin_closed = async move {
        match stdin_closed {
            Some(closed) => {
                let _ = closed.await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    runtime.block_on(async {
        tokio::select! {
            _ = stdin_closed => {}
            _ = stop_signal() => {}
        }
    });
}

/// Why the emulator did not start, blaming the port only when the port was at fault.
fn start_failed(config: &EmulatorConfig, e: &std::io::Error) -> Error {
    let failure = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<StartFailure>());
    match failure {
        Some(StartFailure::Port { port, source }) => Error::new(
            snowbridge::ErrorKind::Internal,
            format!("cannot start the emulator on port {port}: {source}"),
        )
        .with_hint("pick another port with --port, or 0 for a free one"),
        Some(StartFailure::Data { path, why }) => {
            let hint = match &config.data_dir {
                Some(dir) => format!(
                    "delete the data folder {} to start afresh with the default data, or pick another with --data",
                    dir.display()
                ),
                None => "the temporary data folder could not be used: check the space and permissions of the system's temporary folder, or pick a folder with --data".to_owned(),
            };
            Error::new(
                snowbridge::ErrorKind::BadInput,
                format!(
                    "cannot start the emulator: {} cannot be used: {why}",
                    path.display()
                ),
            )
            .with_hint(hint)
        }
        _ => Error::new(
            snowbridge::ErrorKind::Internal,
            format!("cannot start the emulator: {e}"),
        ),
    }
}

/// Ctrl-C, or SIGTERM where there is one.
async fn stop_signal() {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Line {
        #[command(flatten)]
        args: Args,
    }

    /// The settings `emulator FLAGS` gives, with `file` (when given) as its `--config` in `dir`.
    fn settings(dir: &std::path::Path, flags: &[&str], file: Option<&str>) -> EmulatorConfig {
        let mut argv = vec!["emulator".to_owned()];
        if let Some(text) = file {
            let path = dir.join("emulator.toml");
            std::fs::write(&path, text).unwrap();
            argv.extend(["--config".to_owned(), path.display().to_string()]);
        }
        argv.extend(flags.iter().map(|f| f.to_string()));
        load_config(&Line::try_parse_from(argv).unwrap().args).unwrap()
    }

    #[test]
    fn port_from_the_flag_else_the_file_else_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        assert_eq!(settings(dir, &[], None).port, DEFAULT_PORT);
        assert_eq!(settings(dir, &[], Some("tls = false")).port, DEFAULT_PORT);
        assert_eq!(settings(dir, &[], Some("port = 9000")).port, 9000);
        assert_eq!(
            settings(dir, &["--port", "9001"], Some("port = 9000")).port,
            9001
        );
        assert_eq!(settings(dir, &["--port", "0"], Some("port = 9000")).port, 0);
        assert_eq!(settings(dir, &[], Some("port = 0")).port, 0);
    }

    #[test]
    fn incidents_from_the_flag_else_the_file_else_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        assert_eq!(settings(dir, &[], None).incidents, 50);
        assert_eq!(settings(dir, &[], Some("incidents = 7")).incidents, 7);
        let both = settings(dir, &["--incidents", "9"], Some("incidents = 7"));
        assert_eq!(both.incidents, 9);
    }

    #[test]
    fn tls_from_the_switch_else_the_file_else_off() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        assert!(!settings(dir, &[], None).tls);
        assert!(settings(dir, &[], Some("tls = true")).tls);
        assert!(settings(dir, &["--tls"], Some("tls = false")).tls);
        assert!(settings(dir, &["--tls"], None).tls);
    }

    #[test]
    fn data_from_the_flag_else_the_file_beside_it_else_a_temporary_folder() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        assert_eq!(settings(dir, &[], None).data_dir, None);
        assert_eq!(
            settings(dir, &[], Some("data_dir = \"emu\"")).data_dir,
            Some(dir.join("emu"))
        );
        assert_eq!(
            settings(dir, &["--data", "/srv/emu"], Some("data_dir = \"emu\"")).data_dir,
            Some(PathBuf::from("/srv/emu"))
        );
    }

    #[test]
    fn keys_without_a_flag_come_from_the_file_whatever_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = "password = \"pw\"\nmfa_code = \"654321\"\nport = 9000\n";
        let config = settings(dir.path(), &["--port", "0", "--tls"], Some(file));
        assert_eq!(config.password, "pw");
        assert_eq!(config.mfa_code, "654321");
        assert_eq!(config.port, 0);
    }

    #[test]
    fn a_bad_file_names_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emulator.toml");
        std::fs::write(&path, "prot = 9000\n").unwrap();
        let line = Line::try_parse_from(["emulator", "--config", path.to_str().unwrap()]).unwrap();
        let err = load_config(&line.args).unwrap_err();
        assert!(err.message().contains("emulator.toml"), "{err}");
        assert!(err.message().contains("prot"), "{err}");
        let line =
            Line::try_parse_from(["emulator", "--config", "/no/such/emulator.toml"]).unwrap();
        let err = load_config(&line.args).unwrap_err();
        assert_eq!(err.kind(), snowbridge::ErrorKind::BadInput);
        assert!(err.message().contains("/no/such/emulator.toml"), "{err}");
    }
}
