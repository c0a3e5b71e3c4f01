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
    // What became of the session on the instance, for the JSON's `session`.
    let ended: String;
    // The same, as the sentence a person reads.
    let said: String;
    match vault.load(&instance.name) {
        Ok(Some(record)) => {
            let tokens = record.tokens.is_some();
            let opened = Session::from_record(&instance, vault.clone(), record);
            (ended, said) = match opened {
                Ok(session) => match session.end_on_instance().await {
                    Ok(()) if tokens => (
                        "ended: its tokens were revoked on the instance".to_owned(),
                        "logged out: the session's tokens were revoked on the instance".to_owned(),
                    ),
                    Ok(()) => (
                        "ended on the instance".to_owned(),
                        "logged out: the session was ended on the instance".to_owned(),
                    ),
                    Err(e) => (
                        format!("could not be ended on the instance: {}", e.message()),
                        format!(
                            "the instance could not be told to end the session ({}); it ends there at its idle timeout",
                            e.message()
                        ),
                    ),
                },
                // Its credentials are gone (a secret removed): what is stored is still deleted.
                Err(e) => (
                    format!("could not be opened to end it: {}", e.message()),
                    format!(
                        "the session could not be opened to end it ({}); it ends on the instance at its idle timeout",
                        e.message()
                    ),
                ),
            };
        }
        Ok(None) => {
            ended = "none was stored".to_owned();
            said = "no session was stored".to_owned();
        }
        // A file that cannot be read is still the user's to delete.
        Err(e) => {
            ended = format!("unreadable: {}", e.message());
            said = format!("{} (nothing to end on the instance)", e.message());
        }
    }
    let removed = vault.remove(&instance.name)?;
    if ctx.json {
        return output::json(&serde_json::json!({
            "instance": instance.name, "session": ended, "deleted": removed
        }));
    }
    output::line(&format!(
        "{}: {said}; {}",
        instance.name,
        if removed {
            "the stored session was deleted"
        } else {
            "nothing to delete"
        }
    ))
}
