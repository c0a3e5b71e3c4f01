//! `snowbridge import-chrome INSTANCE`: take the session from the user's own Chrome profile.

use std::path::PathBuf;

use serde::Serialize;
use snowbridge::obtain::chrome;
use snowbridge::{Error, Result};

use super::{Context, output, status};

/// Arguments of `import-chrome`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  # the browsers and profiles found on this machine
  snowbridge import-chrome --list
  snowbridge import-chrome dev --browser chrome --profile Default
  # read and report only: nothing stored, nothing sent to the instance
  snowbridge import-chrome dev --dry-run")]
pub struct Args {
    /// The instance's name (not needed with --list).
    #[arg(required_unless_present = "list")]
    instance: Option<String>,
    /// chrome, chromium, edge or brave (default: the instance file's, else chrome).
    #[arg(long)]
    browser: Option<String>,
    /// The profile: its folder (Default, "Profile 1") or the name you gave it.
    #[arg(long)]
    profile: Option<String>,
    /// A user-data folder other than the browser's usual one.
    #[arg(long, value_name = "DIR")]
    user_data_dir: Option<PathBuf>,
    /// List the browsers and profiles found, and their cookie files.
    #[arg(long)]
    list: bool,
    /// Read and decrypt, print the report, and store nothing (no request to the instance).
    #[arg(long)]
    dry_run: bool,
}

/// An import's report as data: the counts as numbers, each cookie left out with why.
#[derive(Serialize)]
struct ReportOut {
    /// The browser's cookie database read (through a private copy).
    database: String,
    /// Cookies stored for the instance's host or its parent domains.
    candidates: usize,
    /// Of those, the cookies a request to the instance would carry.
    found: usize,
    /// Cookies imported (with --dry-run: that would be).
    imported: usize,
    /// Found but expired.
    expired: usize,
    /// Found but partitioned (set in a third-party frame).
    partitioned: usize,
    /// Found but not decrypted.
    undecryptable: usize,
    /// Each cookie found and left out, by name (never value), with why.
    skipped: Vec<SkippedOut>,
    /// Where the keys came from, or why they could not be had.
    notes: Vec<String>,
    /// The report as the text prints it.
    summary: String,
}

#[derive(Serialize)]
struct SkippedOut {
    name: String,
    why: String,
}

impl ReportOut {
    fn of(report: &chrome::Report, dry_run: bool) -> ReportOut {
        let plain = |names: &[String], why: &str| {
            names
                .iter()
                .map(|name| SkippedOut {
                    name: name.clone(),
                    why: why.to_owned(),
                })
                .collect::<Vec<_>>()
        };
        let mut skipped = plain(&report.expired, "expired");
        skipped.extend(plain(&report.partitioned, "partitioned"));
        skipped.extend(report.undecryptable.iter().map(|s| SkippedOut {
            name: s.name.clone(),
            why: s.reason.to_string(),
        }));
        ReportOut {
            database: report.database.display().to_string(),
            candidates: report.candidates,
            found: report.found,
            imported: report.imported,
            expired: report.expired.len(),
            partitioned: report.partitioned.len(),
            undecryptable: report.undecryptable.len(),
            skipped,
            notes: report.notes.clone(),
            summary: if dry_run {
                report.as_dry_run().to_string()
            } else {
                report.to_string()
            },
        }
    }
}

#[derive(Serialize)]
struct Found {
    browser: String,
    profile: String,
    name: Option<String>,
    user_data_dir: String,
    cookies: Option<String>,
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    if args.list {
        return list(ctx, &args);
    }
    let name = args
        .instance
        .as_deref()
        .ok_or_else(|| Error::usage("which instance?"))?;
    let instance = ctx.instance(name)?;
    let configured = instance.import_chrome.as_ref();
    let browser: chrome::Browser = args
        .browser
        .clone()
        .or(configured.map(|c| c.browser.clone()))
        .unwrap_or_else(|| "chrome".into())
        .parse()?;
    let source = chrome::Source {
        browser,
        profile: args
            .profile
            .clone()
            .or(configured.and_then(|c| c.profile.clone())),
        user_data_dir: args
            .user_data_dir
            .clone()
            .or(configured.and_then(|c| c.user_data_dir.clone())),
    };
    let interactive = super::terminal::can_prompt();
    if args.dry_run {
        let import = chrome::import(&source, &instance.url, interactive).await?;
        if ctx.json {
            let names: Vec<&str> = import.cookies.iter().map(|c| c.name.as_str()).collect();
            return output::json(&serde_json::json!({
                "dry_run": true,
                "cookies": names,
                "report": ReportOut::of(&import.report, true),
            }));
        }
        return output::line(&format!(
            "{} (dry run: nothing stored, nothing sent to the instance)",
            import.report.as_dry_run()
        ));
    }
    let (connection, report) = ctx
        .sb
        .import_chrome(&instance.name, &source, interactive)
        .await?;
    if ctx.json {
        let row = status::Row::of_session(&instance, connection.session(), "valid");
        return output::json(&serde_json::json!({
            "dry_run": false,
            "status": row,
            "report": ReportOut::of(&report, false),
        }));
    }
    output::line(&report.to_string())?;
    output::line(&format!(
        "{}: session imported, saved and checked over REST",
        instance.name
    ))
}

fn list(ctx: &Context, args: &Args) -> Result<()> {
    let mut found = match (&args.user_data_dir, &args.browser) {
        (Some(dir), browser) => {
            let browser: chrome::Browser =
                browser.clone().unwrap_or_else(|| "chrome".into()).parse()?;
            chrome::profiles_in(browser, dir)
        }
        (None, _) => chrome::list(),
    };
    if let Some(browser) = &args.browser {
        let browser: chrome::Browser = browser.parse()?;
        found.retain(|p| p.browser == browser);
    }
    let rows: Vec<Found> = found
        .iter()
        .map(|p| Found {
            browser: p.browser.to_string(),
            profile: p.dir.clone(),
            name: p.name.clone(),
            user_data_dir: p.user_data_dir.display().to_string(),
            cookies: p.cookies.as_ref().map(|c| c.display().to_string()),
        })
        .collect();
    if ctx.json {
        return output::json(&rows);
    }
    if rows.is_empty() {
        return output::line(
            "no Chrome, Chromium, Edge or Brave profiles found (use --user-data-dir for other places)",
        );
    }
    for row in rows {
        output::line(&format!(
            "{:<9} {:<12} {:<20} {}",
            row.browser,
            row.profile,
            row.name
                .as_deref()
                .map(|n| format!("({n})"))
                .unwrap_or_default(),
            row.cookies.as_deref().unwrap_or("(no cookie file yet)")
        ))?;
    }
    Ok(())
}
