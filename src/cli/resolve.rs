//! `snowbridge resolve INSTANCE RECORD --code CODE --notes TEXT [--close]`: the Table API first;
//! where the state change is refused by an ACL and the instance allows it, the form's
//! "Resolve Incident" (and "Close Incident") UI actions in the browser. A data-policy refusal is
//! missing input: it is reported, never worked around.

use std::time::Duration;

use serde::Serialize;
use snowbridge::api::incident;
use snowbridge::fallback::{self, FallbackOptions};
use snowbridge::instance::Fallback;
use snowbridge::session::Session;
use snowbridge::{Error, ErrorKind, Result};

use super::attach::ui_can_help;
use super::browser_args::BrowserArgs;
use super::{Context, output};

/// Arguments of `resolve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  snowbridge resolve dev INC0010001 --code 'Solution provided' --notes 'Replaced the toner'
  # resolve, then close (closing needs itil_admin or admin)
  snowbridge resolve dev INC0010001 --code 'Solution provided' --notes 'Replaced the toner' --close")]
pub struct Args {
    /// The instance's name.
    instance: String,
    /// The incident: a sys_id, or a number such as INC0010001.
    record: String,
    /// The resolution code (close_code), e.g. "Solution provided".
    #[arg(long)]
    code: String,
    /// The resolution notes (close_notes).
    #[arg(long)]
    notes: String,
    /// Close the incident after resolving it (needs itil_admin or admin).
    #[arg(long)]
    close: bool,
    #[command(flatten)]
    browser: BrowserArgs,
}

#[derive(Serialize)]
struct Done {
    instance: String,
    number: Option<String>,
    sys_id: String,
    state: Option<String>,
    /// "rest" or "browser"
    path: &'static str,
    reason: Option<String>,
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let instance = ctx.instance(&args.instance)?;
    let session = Session::open(&instance, ctx.vault())?;
    let result = resolve(ctx, &session, &args).await;
    let saved = session.save();
    let done = result?;
    saved?;
    if ctx.json {
        return output::json(&done);
    }
    let verb = if args.close { "closed" } else { "resolved" };
    let how = match &done.reason {
        None => "through the REST Table API".to_owned(),
        Some(why) => format!("through the browser's UI action (the REST API refused: {why})"),
    };
    output::line(&format!(
        "{}: {} {verb} {how}",
        instance.name,
        done.number.as_deref().unwrap_or(&done.sys_id)
    ))
}

async fn resolve(ctx: &Context, session: &Session, args: &Args) -> Result<Done> {
    let instance = session.instance();
    let record = incident::find(session, "incident", &args.record).await?;
    let sys_id = record
        .sys_id()
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Instance,
                "the incident came back without a sys_id",
            )
        })?
        .to_owned();
    let number = record.field("number").map(str::to_owned);
    match incident::resolve(session, &sys_id, &args.code, &args.notes, args.close).await {
        Ok(updated) => Ok(Done {
            instance: instance.name.clone(),
            number,
            sys_id,
            state: updated.field("state").map(str::to_owned),
            path: "rest",
            reason: None,
        }),
        Err(e) if ui_can_help(&e) && instance.fallback == Fallback::Auto => {
            tracing::info!(error = %e, "the Table API refused the state change; using the browser");
            let profile = tempfile::Builder::new()
                .prefix("snowbridge-fallback-")
                .tempdir()
                .map_err(|e| Error::internal(format!("cannot make a browser profile folder: {e}")))?;
            let options = FallbackOptions {
                browser: args.browser.options(profile.path().to_path_buf())?,
                diagnostics: ctx.dirs.diagnostics(),
                timeout: Duration::from_secs(60),
            };
            let updated = fallback::resolve(session, &sys_id, &args.code, &args.notes, args.close, &options).await?;
            Ok(Done {
                instance: instance.name.clone(),
                number,
                sys_id,
                state: updated.field("state").map(str::to_owned),
                path: "browser",
                reason: Some(e.message().to_owned()),
            })
        }
        Err(e) if ui_can_help(&e) => Err(e.with_hint(
            "the instance file says fallback = \"never\"; set it to \"auto\" to let the browser use the form's UI action",
        )),
        Err(e) => Err(e),
    }
}
