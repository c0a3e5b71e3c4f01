//! `snowbridge resolve INSTANCE RECORD --code CODE --notes TEXT [--close]`: reads the incident,
//! checks the code against the instance's own choices, decides from where the incident stands
//! what may change (never backwards, never a resolution rewritten: `incident::plan`), then the
//! Table API first; where the state change is refused by an ACL and the instance allows it, the
//! form's "Resolve Incident" (and "Close Incident") UI actions in the browser. A data-policy
//! refusal is missing input: it is reported, never worked around.

use serde::Serialize;
use snowbridge::{IncidentState, Resolution, Result, Via};

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
    let browser = args.browser.options(std::path::PathBuf::new())?;
    let connection = ctx.sb.with_browser(browser).open(&args.instance).await?;
    let mut wanted = Resolution::new(&args.code, &args.notes);
    wanted.close = args.close;
    let resolved = connection.resolve(&args.record, &wanted).await?;
    connection.close().await?;
    let done = Done {
        instance: args.instance.clone(),
        number: resolved.number.clone(),
        sys_id: resolved.sys_id.clone(),
        state: resolved.state.as_ref().map(|s| s.value().to_owned()),
        changed: resolved.changed(),
        path: resolved.via.as_ref().map(Via::as_str),
        reason: match &resolved.via {
            Some(Via::Browser { refusal }) => Some(refusal.clone()),
            _ => None,
        },
        remarks: resolved.remarks.clone(),
    };
    if ctx.json {
        return output::json(&done);
    }
    let name = resolved.name();
    let text = if done.changed {
        let verb = if resolved.state == Some(IncidentState::Closed) {
            "closed"
        } else {
            "resolved"
        };
        let how = match &done.reason {
            None => "through the REST Table API".to_owned(),
            Some(why) => format!("through the browser's UI action (the REST API refused: {why})"),
        };
        format!("{}: {name} {verb} {how}", args.instance)
    } else {
        format!(
            "{}: {name} is already {} with code {:?}; nothing changed",
            args.instance,
            resolved
                .state
                .as_ref()
                .map(|s| s.label().to_lowercase())
                .unwrap_or_default(),
            args.code
        )
    };
    output::line(&text)?;
    for note in &done.remarks {
        output::note(note);
    }
    Ok(())
}
