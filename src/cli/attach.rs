//! `snowbridge attach INSTANCE TABLE RECORD FILE...`: the Attachment API first; where it is
//! refused and the instance allows it, the record form's attachment dialog in the browser.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use snowbridge::api::attachment::{Attached, LocalFile};
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
  snowbridge attach dev incident INC0010002 error.log
  snowbridge attach dev incident INC0010002 screenshot.png trace.txt
  # a record by sys_id; Chrome without a window if the browser fallback is needed
  snowbridge attach dev incident 9d385017c611228701d22104cc95c371 error.log --headless")]
pub struct Args {
    /// The instance's name.
    instance: String,
    /// The record's table (incident, ...).
    table: String,
    /// The record: a sys_id, or a number such as INC0010002.
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
    /// The files' names, in the order given.
    files: Vec<String>,
    /// Each file with the attachment the instance holds for it.
    attachments: Vec<AttachmentOut>,
    /// "rest" or "browser"
    path: &'static str,
    /// Why the browser was used.
    reason: Option<String>,
}

#[derive(Serialize)]
struct AttachmentOut {
    /// The local file as given.
    file: String,
    /// The attachment's sys_id.
    sys_id: String,
    /// Its name as the instance lists it.
    file_name: String,
}

/// May this refusal be worked around through the UI?
pub fn ui_can_help(e: &Error) -> bool {
    e.kind() == ErrorKind::Forbidden && matches!(e.refusal(), Some(Refusal::Acl | Refusal::Other))
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let instance = ctx.instance(&args.instance)?;
    // Every file is read (and hashed) before anything is sent: a typo fails the run whole.
    let mut files = Vec::with_capacity(args.files.len());
    for path in &args.files {
        files.push(LocalFile::read(path).await?);
    }
    let session = Session::open(&instance, ctx.vault())?;
    let mut attached = Vec::new();
    let result = attach(ctx, &session, &args, &files, &mut attached).await;
    let saved = session.save();
    let route = result.map_err(|e| partial(e, &files, &attached))?;
    saved?;
    let done = Done {
        instance: instance.name.clone(),
        table: args.table.clone(),
        sys_id: route.sys_id,
        files: files.iter().map(|f| f.name.clone()).collect(),
        attachments: attached
            .iter()
            .map(|a| AttachmentOut {
                file: a.file.path.display().to_string(),
                sys_id: a.attachment.sys_id.clone(),
                file_name: a.attachment.file_name.clone(),
            })
            .collect(),
        path: route.path,
        reason: route.reason,
    };
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
        names(files.iter()),
        done.table,
        args.record
    ))
}

/// File names, quoted where spaces or quotes would make them ambiguous.
fn names<'a>(files: impl Iterator<Item = &'a LocalFile>) -> String {
    files
        .map(|f| {
            if f.name
                .chars()
                .all(|c| c.is_alphanumeric() || "._-+@".contains(c))
            {
                f.name.clone()
            } else {
                format!("{:?}", f.name)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `e`, saying which files were attached before it and which were not tried.
fn partial(e: Error, files: &[LocalFile], attached: &[Attached]) -> Error {
    if files.len() < 2 {
        return e;
    }
    let done = names(attached.iter().map(|a| &a.file));
    let left = names(files.iter().skip(attached.len() + 1));
    let failed = files.get(attached.len()).map(|f| names(std::iter::once(f)));
    let mut note = match failed {
        Some(failed) => format!("failed on {failed}"),
        None => String::new(),
    };
    note.push_str(&format!(
        "; attached before it: {}",
        if done.is_empty() { "none" } else { &done }
    ));
    if !left.is_empty() {
        note.push_str(&format!("; not tried: {left}"));
    }
    e.with_note(&note)
}

/// How the files went in.
struct Route {
    /// The record's sys_id.
    sys_id: String,
    /// "rest" or "browser".
    path: &'static str,
    /// Why the browser was used.
    reason: Option<String>,
}

/// Attaches `files` in order, pushing each onto `attached` once the instance holds it.
async fn attach(
    ctx: &Context,
    session: &Session,
    args: &Args,
    files: &[LocalFile],
    attached: &mut Vec<Attached>,
) -> Result<Route> {
    let instance = session.instance();
    let record = incident::find(session, &args.table, &args.record).await?;
    let sys_id = record
        .sys_id()
        .ok_or_else(|| Error::new(ErrorKind::Instance, "the record came back without a sys_id"))?
        .to_owned();
    let api = Attachments::new(session);
    // What the record holds before: an upload whose reply is lost is judged against it.
    let mut held = match api.held(&args.table, &sys_id).await {
        Ok(held) => held,
        Err(e) if e.is_login_required() => return Err(e),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the record's attachments; a lost reply will count as a failure");
            None
        }
    };
    for (i, file) in files.iter().enumerate() {
        match api
            .upload_judged(&args.table, &sys_id, file, &mut held)
            .await
        {
            Ok(attachment) => attached.push(Attached {
                file: file.clone(),
                attachment,
            }),
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
                fallback::attach(
                    session,
                    &args.table,
                    &sys_id,
                    &files[i..],
                    &options,
                    attached,
                )
                .await?;
                return Ok(Route {
                    sys_id,
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
    Ok(Route {
        sys_id,
        path: "rest",
        reason: None,
    })
}
