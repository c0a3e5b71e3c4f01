//! `snowbridge instances`: the instance files it knows, and where each is defined.

use serde::Serialize;
use snowbridge::Result;
use snowbridge::instance::{Entry, Origin};

use super::{Context, output};

/// Arguments of `instances`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  snowbridge instances
  # name, url, auth, origin, file and what is wrong with a broken file, as JSON
  snowbridge instances --json")]
pub struct Args {}

#[derive(Serialize)]
struct Row<'a> {
    name: &'a str,
    url: Option<String>,
    auth: Option<String>,
    origin: Origin,
    file: String,
    shadowed: bool,
    error: Option<String>,
}

/// Whether `doctor` and `status` without an instance named cover `entry`: the user's own
/// instances, and the project's (the example to copy, the emulator's `local`) only once the user
/// has a session for one, so an example is never reported as an instance that fails. A broken
/// file always counts.
pub fn in_use(ctx: &Context, entry: &Entry) -> bool {
    entry.origin == Origin::User
        || entry.instance.is_err()
        || ctx.vault().path(&entry.name).exists()
}

pub fn run(ctx: &Context, _args: Args) -> Result<()> {
    let catalog = ctx.catalog()?;
    let rows: Vec<Row> = catalog
        .entries()
        .iter()
        .map(|e| Row {
            name: &e.name,
            url: e.instance.as_ref().ok().map(|i| i.base().to_owned()),
            auth: e.instance.as_ref().ok().map(|i| i.auth.to_string()),
            origin: e.origin,
            file: e.path.display().to_string(),
            shadowed: e.shadowed,
            error: e.instance.as_ref().err().map(|err| err.to_string()),
        })
        .collect();
    if ctx.json {
        return output::json(&rows);
    }
    output::line(&format!(
        "user instance files: {}",
        ctx.dirs.user_instances().display()
    ))?;
    if rows.is_empty() {
        return output::line(
            "no instances yet: write NAME.toml in that folder (see instances/example.toml)",
        );
    }
    for row in &rows {
        let status = match (&row.error, row.shadowed) {
            (Some(err), _) => format!("BROKEN: {}", err.replace('\n', " ")),
            (None, true) => "(hidden by the user's file of the same name)".to_owned(),
            (None, false) => format!(
                "{} {}",
                row.url.as_deref().unwrap_or(""),
                row.auth.as_deref().unwrap_or("")
            ),
        };
        output::line(&format!(
            "{:<16} {:<8} {}\n{:<16} {:<8} {}",
            row.name,
            format!("{:?}", row.origin).to_lowercase(),
            status,
            "",
            "",
            row.file
        ))?;
    }
    Ok(())
}
