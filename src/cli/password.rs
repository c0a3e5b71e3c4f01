//! `snowbridge password INSTANCE [--delete]`: keep (or remove) the user's password in the OS
//! keyring, read from a prompt (or one line of stdin when it is not a terminal).

use std::io::{BufRead, IsTerminal};

use snowbridge::obtain::password;
use snowbridge::secret::Secret;
use snowbridge::{Error, Result};

use super::{Context, output};

/// Arguments of `password`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  # asks for the password of the instance file's `username`
  snowbridge password dev
  snowbridge password dev --user jdoe
  snowbridge password dev --user jdoe --delete")]
pub struct Args {
    /// The instance's name.
    instance: String,
    /// The user (default: the instance file's `username`).
    #[arg(long)]
    user: Option<String>,
    /// Remove the stored password instead.
    #[arg(long)]
    delete: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<()> {
    let instance = ctx.instance(&args.instance)?;
    let user = args.user.or(instance.username.clone()).ok_or_else(|| {
        Error::usage(format!(
            "which user? {} names no username",
            instance.source.display()
        ))
        .with_hint("pass --user NAME, or add username = \"...\" to the instance file")
    })?;
    if !snowbridge::keyring::enabled() {
        let doing = if args.delete { "removed" } else { "stored" };
        return Err(Error::bad_input(format!(
            "the OS keyring is turned off (SNOWBRIDGE_KEYRING=off): no password was {doing}"
        ))
        .with_hint(format!(
            "give the password in {} for the runs that need it, or unset SNOWBRIDGE_KEYRING to use the keyring",
            password::ENV
        )));
    }
    if args.delete {
        let removed = password::forget(&instance.name, &user)?;
        if ctx.json {
            return output::json(&serde_json::json!({
                "instance": instance.name, "user": user, "removed": removed
            }));
        }
        return output::line(&format!(
            "{}: {}",
            instance.name,
            if removed {
                format!("password of {user} removed")
            } else {
                format!("no password stored for {user}")
            }
        ));
    }
    let secret = if std::io::stdin().is_terminal() {
        let typed = super::terminal::read_secret(
            &format!("Password for {user} on {}: ", instance.name),
            &instance.name,
        )?;
        if typed.is_empty() {
            return Err(
                Error::bad_input("nothing was typed: no password was stored")
                    .with_hint("run it again and type the password at the prompt"),
            );
        }
        typed
    } else {
        read_piped(
            "password",
            &format!("snowbridge password {}", instance.name),
        )?
    };
    password::store(&instance.name, &user, &secret)?;
    if ctx.json {
        return output::json(&serde_json::json!({
            "instance": instance.name, "user": user, "stored": true
        }));
    }
    output::line(&format!(
        "{}: password of {user} stored in the OS keyring",
        instance.name
    ))
}

/// A secret piped in (`what`: "password", "client-secret"...): the first line of stdin, without
/// its line ending. `command` is the command line that reads it, for the hint.
pub fn read_piped(what: &str, command: &str) -> Result<Secret> {
    let how = format!(
        "pipe the {what} in (printf '%s\\n' \"${var}\" | {command}) or run at a terminal",
        var = if what == "password" { "PW" } else { "SECRET" }
    );
    let mut line = zeroize::Zeroizing::new(String::new());
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::bad_input(format!("cannot read the {what} from stdin: {e}")))?;
    if read == 0 {
        return Err(
            Error::bad_input(format!("nothing on stdin: no {what} was stored")).with_hint(how),
        );
    }
    let secret = line.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(Error::bad_input(format!(
            "the first line on stdin is empty: no {what} was stored"
        ))
        .with_hint(how));
    }
    Ok(Secret::from(secret.to_owned()))
}
