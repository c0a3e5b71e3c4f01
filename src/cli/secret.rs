//! `snowbridge secret INSTANCE KIND [--delete]`: keep (or remove) one of an instance's secrets
//! in the OS keyring (`password`, `client-secret`, `api-key`, `key-passphrase`), read from a
//! prompt, or one line of stdin when it is not a terminal. `snowbridge password INSTANCE` is the
//! short form of `secret INSTANCE password`.

use std::io::IsTerminal;

use snowbridge::obtain::secrets::{self, Kind};
use snowbridge::secret::Secret;
use snowbridge::{Error, Result};

use super::{Context, output};

/// Arguments of `secret`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  # the client secret of an OAuth application, typed at a prompt
  snowbridge secret dev client-secret
  # from a secrets manager, without a terminal
  vault kv get -field=key secret/servicenow | snowbridge secret dev api-key
  snowbridge secret dev key-passphrase --delete")]
pub struct Args {
    /// The instance's name.
    instance: String,
    /// Which secret: password, client-secret, api-key or key-passphrase.
    #[arg(value_parser = ["password", "client-secret", "api-key", "key-passphrase"])]
    kind: String,
    /// Remove the stored secret instead.
    #[arg(long)]
    delete: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<()> {
    let instance = ctx.instance(&args.instance)?;
    let kind = Kind::parse(&args.kind)
        .ok_or_else(|| Error::usage(format!("{:?} is not a kind of secret", args.kind)))?;
    if kind == Kind::Password && instance.username.is_none() {
        // The password is kept per user: without one there is nothing to keep it under.
        return Err(Error::usage(format!(
            "which user? {} names no username",
            instance.source.display()
        ))
        .with_hint(format!(
            "add username = \"...\" to the instance file, or run `snowbridge password {} --user NAME`",
            instance.name
        )));
    }
    if args.delete {
        let removed = secrets::forget(&instance, kind)?;
        return output::line(&format!(
            "{}: {}",
            instance.name,
            if removed {
                format!("{kind} removed from the OS keyring")
            } else {
                format!("no {kind} was stored")
            }
        ));
    }
    if !snowbridge::keyring::enabled() {
        // Refused before asking for anything: typing a secret that cannot be kept loses it.
        return secrets::store(&instance, kind, &Secret::default());
    }
    let secret = if std::io::stdin().is_terminal() {
        let typed = super::terminal::read_secret(
            &format!("{} ({kind}) for {}: ", kind.describe(), instance.name),
            &instance.name,
        )?;
        if typed.is_empty() {
            return Err(
                Error::bad_input(format!("nothing was typed: no {kind} was stored")).with_hint(
                    format!("run it again and type {} at the prompt", kind.describe()),
                ),
            );
        }
        typed
    } else {
        super::password::read_piped(
            kind.as_str(),
            &format!("snowbridge secret {} {kind}", instance.name),
        )?
    };
    secrets::store(&instance, kind, &secret)?;
    output::line(&format!(
        "{}: {kind} stored in the OS keyring",
        instance.name
    ))
}
