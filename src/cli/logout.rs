//! `snowbridge logout INSTANCE`: end the session on the instance, then delete what is stored.

use snowbridge::Result;
use snowbridge::session::Session;

use super::{Context, output};

/// Arguments of `logout`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  snowbridge logout dev
  # start afresh as another user
  snowbridge logout dev && snowbridge connect dev --login --user jdoe")]
pub struct Args {
    /// The instance's name.
    instance: String,
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let instance = ctx.instance(&args.instance)?;
    let vault = ctx.vault();
    let mut ended = "no session was stored";
    match vault.load(&instance.name) {
        Ok(Some(record)) => {
            let tokens = record.tokens.is_some();
            ended = match Session::from_record(&instance, vault.clone(), record) {
                Ok(session) => match session.end_on_instance().await {
                    Ok(()) if tokens => "ended: its tokens were revoked on the instance",
                    Ok(()) => "ended on the instance",
                    Err(e) => {
                        tracing::warn!(error = %e, "could not end the session on the instance");
                        "could not be ended on the instance (it will time out there)"
                    }
                },
                // Its credentials are gone (a secret removed): what is stored is still deleted.
                Err(e) => {
                    tracing::warn!(error = %e, "could not open the session to end it");
                    "could not be ended on the instance (it will time out there)"
                }
            };
        }
        Ok(None) => {}
        // A file that cannot be read is still the user's to delete.
        Err(e) => tracing::info!(error = %e, "deleting an unreadable session file"),
    }
    let removed = vault.remove(&instance.name)?;
    if ctx.json {
        return output::json(&serde_json::json!({
            "instance": instance.name, "session": ended, "deleted": removed
        }));
    }
    output::line(&format!(
        "{}: session {ended}; {}",
        instance.name,
        if removed {
            "stored session deleted"
        } else {
            "nothing stored to delete"
        }
    ))
}
