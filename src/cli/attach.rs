//! `snowbridge attach INSTANCE TABLE RECORD FILE...`: the Attachment API first; where it is
//! refused and the instance allows it, the record form's attachment dialog in the browser.

use std::path::PathBuf;

use serde::Serialize;
use snowbridge::api::attachment::{LocalFile, file_names};
use snowbridge::{Result, Via};

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

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let browser = args.browser.options(std::path::PathBuf::new())?;
    let connection = ctx.sb.with_browser(browser).open(&args.instance).await?;
    let report = connection
        .attach(&args.table, &args.record, &args.files)
        .await?;
    connection.close().await?;
    let instance = &args.instance;
    let files: Vec<&LocalFile> = report.attached.iter().map(|a| &a.file).collect();
    let done = Done {
        instance: instance.clone(),
        table: args.table.clone(),
        sys_id: report.sys_id.clone(),
        files: files.iter().map(|f| f.name.clone()).collect(),
        attachments: report
            .attached
            .iter()
            .map(|a| AttachmentOut {
                file: a.file.path.display().to_string(),
                sys_id: a.attachment.sys_id.clone(),
                file_name: a.attachment.file_name.clone(),
            })
            .collect(),
        path: report.via.as_str(),
        reason: match &report.via {
            Via::Browser { refusal } => Some(refusal.clone()),
            _ => None,
        },
    };
    if ctx.json {
        return output::json(&done);
    }
    let how = match &done.reason {
        None => "through the REST Attachment API".to_owned(),
        Some(why) => format!("through the browser (the REST API refused: {why})"),
    };
    output::line(&format!(
        "{instance}: attached {} to {} {} {how}",
        file_names(files.into_iter()),
        done.table,
        args.record
    ))
}
