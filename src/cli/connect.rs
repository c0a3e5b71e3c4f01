//! `snowbridge connect INSTANCE`: make sure a valid session exists.

use snowbridge::Result;
use snowbridge::obtain::{self, Connected};

use super::{Context, output, status};

/// Arguments of `connect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The instance's name.
    instance: String,
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let instance = ctx.instance(&args.instance)?;
    let (session, how) = obtain::connect(&instance, ctx.vault()).await?;
    session.save()?;
    let row = status::Row::of_session(&instance, &session, "valid");
    if ctx.json {
        return output::json(&row);
    }
    let how = match how {
        Connected::Stored { checked: true } => "stored session, checked with the instance",
        Connected::Stored { checked: false } => "stored session, validated within the window",
    };
    output::line(&format!(
        "{}: session valid{} ({how})",
        instance.name,
        row.user
            .as_deref()
            .map(|u| format!(" for {u}"))
            .unwrap_or_default()
    ))
}
