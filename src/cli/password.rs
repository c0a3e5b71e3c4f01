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
    if args.delete {
        let removed = password::forget(&instance.name, &user)?;
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
        password::prompt(
            &format!("Password for {user} on {}: ", instance.name),
            &instance.name,
        )?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::bad_input(format!("cannot read the password from stdin: {e}")))?;
        Secret::from(line.trim_end_matches(['\r', '\n']).to_owned())
    };
    if secret.is_empty() {
        return Err(Error::usage("an empty password was not stored"));
    }
    password::store(&instance.name, &user, &secret)?;
    output::line(&format!(
        "{}: password of {user} stored in the OS keyring",
        instance.name
    ))
}
