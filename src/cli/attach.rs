//! `snowbridge attach INSTANCE TABLE RECORD FILE...`: the Attachment API first; where it is
//! refused and the instance allows it, the record form's attachment dialog in the browser.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use snowbridge::api::{Attachments, incident};
use snowbridge::fallback::{self, FallbackOptions};
use snowbridge::instance::Fallback;
use snowbridge::session::Session;
use snowbridge::{Error, ErrorKind, Refusal, Result};

use super::browser_args::BrowserArgs;
use super::{Context, output};

/// Arguments of `attach`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  snowbridge attach dev incident INC0010001 error.log
  snowbridge attach dev incident INC0010001 screenshot.png trace.txt
  # a record by sys_id; Chrome without a window if the browser fallback is needed
  snowbridge attach dev incident 9d385017c611228701d22104cc95c371 error.log --headless")]
pub struct Args {
    /// The instance's name.
    instance: String,
    /// The record's table (incident, ...).
    table: String,
    /// The record: a sys_id, or a number such as INC0010001.
    record: String,
    /// The files to attach.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    browser: BrowserArgs,
}

#[derive(Serialize)]
struct Done {
    instance: String,
    table: String,
    sys_id: String,
    files: Vec<String>,
    /// "rest" or "browser"
    path: &'static str,
    /// Why the browser was used.
    reason: Option<String>,
}

/// May this refusal be worked around through the UI?
pub fn ui_can_help(e: &Error) -> bool {
    e.kind() == ErrorKind::Forbidden && matches!(e.refusal(), Some(Refusal::Acl | Refusal::Other))
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let instance = ctx.instance(&args.instance)?;
    for file in &args.files {
        if !file.is_file() {
            return Err(Error::usage(format!(
                "{} is not a readable file",
                file.display()
            )));
        }
    }
    let session = Session::open(&instance, ctx.vault())?;
    let result = attach(ctx, &session, &args).await;
    let saved = session.save();
    let done = result?;
    saved?;
    if ctx.json {
        return output::json(&done);
    }
    let how = match &done.reason {
        None => "through the REST Attachment API".to_owned(),
        Some(why) => format!("through the browser (the REST API refused: {why})"),
    };
    output::line(&format!(
        "{}: attached {} to {} {} {how}",
        instance.name,
        done.files.join(", "),
        done.table,
        args.record
    ))
}

async fn attach(ctx: &Context, session: &Session, args: &Args) -> Result<Done> {
    let instance = session.instance();
    let record = incident::find(session, &args.table, &args.record).await?;
    let sys_id = record
        .sys_id()
        .ok_or_else(|| Error::new(ErrorKind::Instance, "the record came back without a sys_id"))?
        .to_owned();
    let api = Attachments::new(session);
    let mut attached = Vec::new();
    for (i, file) in args.files.iter().enumerate() {
        match api.upload(&args.table, &sys_id, file).await {
            Ok(a) => attached.push(a.file_name),
            Err(e) if ui_can_help(&e) && instance.fallback == Fallback::Auto => {
                tracing::info!(error = %e, "the Attachment API refused; using the browser");
                let profile = tempfile::Builder::new()
                    .prefix("snowbridge-fallback-")
                    .tempdir()
                    .map_err(|e| {
                        Error::internal(format!("cannot make a browser profile folder: {e}"))
                    })?;
                let options = FallbackOptions {
                    browser: args.browser.options(profile.path().to_path_buf())?,
                    diagnostics: ctx.dirs.diagnostics(),
                    timeout: Duration::from_secs(60),
                };
                let names =
                    fallback::attach(session, &args.table, &sys_id, &args.files[i..], &options)
                        .await?;
                attached.extend(names);
                return Ok(Done {
                    instance: instance.name.clone(),
                    table: args.table.clone(),
                    sys_id,
                    files: attached,
                    path: "browser",
                    reason: Some(e.message().to_owned()),
                });
            }
            Err(e) if ui_can_help(&e) => {
                return Err(e.with_hint("the instance file says fallback = \"never\"; set it to \"auto\" to let the browser attach files"));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Done {
        instance: instance.name.clone(),
        table: args.table.clone(),
        sys_id,
        files: attached,
        path: "rest",
        reason: None,
    })
}
