//! `snowbridge resolve INSTANCE RECORD --code CODE --notes TEXT [--close]`: reads the incident,
//! checks the code against the instance's own choices, decides from where the incident stands
//! what may change (never backwards, never a resolution rewritten: `incident::plan`), then the
//! Table API first; where the state change is refused by an ACL and the instance allows it, the
//! form's "Resolve Incident" (and "Close Incident") UI actions in the browser. A data-policy
//! refusal is missing input: it is reported, never worked around.

use std::time::Duration;

use serde::Serialize;
use snowbridge::api::incident::{self, CloseCodes, Incident, Plan, Resolution};
use snowbridge::fallback::{self, FallbackOptions};
use snowbridge::instance::Fallback;
use snowbridge::session::Session;
use snowbridge::{Error, Result};

use super::attach::ui_can_help;
use super::browser_args::BrowserArgs;
use super::{Context, output};

/// Arguments of `resolve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  snowbridge resolve dev INC0010002 --code 'Solution provided' --notes 'Replaced the toner'
  # resolve, then close (closing needs itil_admin or admin)
  snowbridge resolve dev INC0010002 --code 'Solution provided' --notes 'Replaced the toner' --close

Rerunning is safe: an incident already resolved (or closed) with the code given is left as it
is (exit 0). One resolved, closed or canceled otherwise is reported and left alone (exit 1).")]
pub struct Args {
    /// The instance's name.
    instance: String,
    /// The incident: a sys_id, or a number such as INC0010002.
    record: String,
    /// The resolution code (close_code), e.g. "Solution provided": one of the instance's own
    /// codes, case-sensitive (a wrong one is refused, listing them).
    #[arg(long)]
    code: String,
    /// The resolution notes (close_notes).
    #[arg(long)]
    notes: String,
    /// Close the incident: resolve it first where it is open; a Resolved one is only closed,
    /// keeping its code and notes (closing needs itil_admin or admin).
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
    /// The state the incident is in now.
    state: Option<String>,
    /// False when the incident already was where asked and nothing was sent.
    changed: bool,
    /// "rest" or "browser"; null when nothing changed.
    path: Option<&'static str>,
    /// Why the browser was used: the REST API's refusal.
    reason: Option<String>,
    /// What was left as it stood, or not checked ("... keeps the resolution notes it has").
    remarks: Vec<String>,
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
    let name = done.number.as_deref().unwrap_or(&done.sys_id);
    let state = done.state.as_deref().unwrap_or_default();
    let text = if done.changed {
        let verb = if state == incident::state::CLOSED {
            "closed"
        } else {
            "resolved"
        };
        let how = match &done.reason {
            None => "through the REST Table API".to_owned(),
            Some(why) => format!("through the browser's UI action (the REST API refused: {why})"),
        };
        format!("{}: {name} {verb} {how}", instance.name)
    } else {
        format!(
            "{}: {name} is already {} with code {:?}; nothing changed",
            instance.name,
            incident::state::label(state).to_lowercase(),
            args.code
        )
    };
    output::line(&text)?;
    for note in &done.remarks {
        eprintln!("note: {note}");
    }
    Ok(())
}

async fn resolve(ctx: &Context, session: &Session, args: &Args) -> Result<Done> {
    let instance = session.instance();
    let record = incident::find(session, "incident", &args.record).await?;
    let found = Incident::from_record(&record)?;
    let mut remarks = Vec::new();
    // The code is checked against the instance's own choices before anything is sent; the
    // one the incident already holds needs no check.
    let mut code = args.code.clone();
    if code != found.close_code {
        match incident::close_codes(session, &found.sys_id).await {
            CloseCodes::Known { choices, source } => {
                code = incident::check_code(&instance.name, &code, &choices, source)?
                    .value
                    .clone();
            }
            CloseCodes::Unknown(why) => remarks.push(format!(
                "the resolution code was not checked before sending: {why}; the instance judges it"
            )),
        }
    }
    let wanted = Resolution {
        code: &code,
        notes: &args.notes,
        close: args.close,
    };
    let plan = incident::plan(&found, &wanted)?;
    let writes = matches!(plan, Plan::Change(change) if change.writes_resolution());
    if !writes && args.notes != found.close_notes {
        remarks.push(format!(
            "{} keeps the resolution notes it has; the notes given differ and were not written",
            found.name()
        ));
    }
    let done = |state: Option<&str>, path: Option<&'static str>, reason| Done {
        instance: instance.name.clone(),
        number: found.number.clone(),
        sys_id: found.sys_id.clone(),
        state: state.map(str::to_owned),
        changed: path.is_some(),
        path,
        reason,
        remarks: remarks.clone(),
    };
    let change = match plan {
        Plan::Unchanged => return Ok(done(Some(&found.state), None, None)),
        Plan::Change(change) => change,
    };
    match incident::apply(session, &found.sys_id, change, &code, &args.notes).await {
        Ok(updated) => Ok(done(updated.field("state"), Some("rest"), None)),
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
            let updated =
                fallback::resolve(session, &found, change, &code, &args.notes, &options).await?;
            Ok(done(
                updated.field("state"),
                Some("browser"),
                Some(e.message().to_owned()),
            ))
        }
        Err(e) if ui_can_help(&e) => Err(e.with_hint(
            "the instance file says fallback = \"never\"; set it to \"auto\" to let the browser use the form's UI action",
        )),
        Err(e) => Err(e),
    }
}
