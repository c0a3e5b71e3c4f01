//! `snowbridge status [INSTANCE]`: per instance, valid / expired / missing, user, how obtained,
//! age, expiry, last validated.

use serde::Serialize;
use snowbridge::instance::Instance;
use snowbridge::session::{Session, Validity};
use snowbridge::vault::SessionRecord;
use snowbridge::{ErrorKind, Result};

use super::{Context, instances, output};

/// Arguments of `status`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  snowbridge status
  # one instance: exit 4 when it has no valid session
  snowbridge status dev --json")]
pub struct Args {
    /// One instance (all when left out, exit 0 whatever their states).
    ///
    /// With an instance the exit code says its state: 0 valid, 4 missing, expired, unreadable
    /// or unusable (log in), 1 unreachable, a broken instance file or a damaged session key, 2
    /// an unknown name.
    instance: Option<String>,
}

/// One line of `status`.
#[derive(Debug, Serialize)]
pub struct Row {
    pub instance: String,
    pub url: String,
    /// valid, expired, missing, unreadable, unusable, unreachable, broken (README, `status`)
    pub state: String,
    /// How the instance file says to get in (`browser`, `basic`, `oauth-password`, ...).
    pub auth: Option<String>,
    pub user: Option<String>,
    pub obtained: Option<String>,
    pub obtained_at: Option<String>,
    pub last_validated: Option<String>,
    /// When remember-me cookies stop being able to revive the session.
    pub remember_me_until: Option<String>,
    /// When the access token of a token method expires (it is renewed before then).
    pub token_expires: Option<String>,
    /// The grant that made that token.
    pub token_grant: Option<String>,
    pub detail: Option<String>,
}

impl Row {
    fn bare(instance: &Instance, state: &str, detail: Option<String>) -> Row {
        Row {
            instance: instance.name.clone(),
            url: instance.base().to_owned(),
            state: state.to_owned(),
            auth: Some(instance.auth.to_string()),
            user: None,
            obtained: None,
            obtained_at: None,
            last_validated: None,
            remember_me_until: None,
            token_expires: None,
            token_grant: None,
            detail,
        }
    }

    fn of_record(instance: &Instance, record: &SessionRecord, state: &str) -> Row {
        Row {
            user: record.user.clone(),
            obtained: Some(record.obtained.describe()),
            obtained_at: Some(output::timestamp(record.obtained_at)),
            last_validated: record.last_validated.map(output::timestamp),
            remember_me_until: record.remember_me_until().map(output::timestamp),
            token_expires: record
                .tokens
                .as_ref()
                .map(|t| output::timestamp(t.expires_at)),
            token_grant: record.tokens.as_ref().map(|t| t.grant.clone()),
            ..Row::bare(instance, state, None)
        }
    }

    /// The row of a live session.
    pub fn of_session(instance: &Instance, session: &Session, state: &str) -> Row {
        let mut row = Row::of_record(instance, session.record(), state);
        row.last_validated = session.last_validated().map(output::timestamp);
        if let Some(tokens) = session.tokens() {
            row.token_expires = Some(output::timestamp(tokens.expires_at));
            row.token_grant = Some(tokens.grant);
        }
        row
    }
}

/// An error's message and, when it has one, what to do: a row's detail.
fn with_hint(e: &snowbridge::Error) -> String {
    super::steps::message_and_advice(e)
}

async fn row_for(ctx: &Context, instance: &Instance) -> Row {
    let vault = ctx.vault();
    let record = match vault.load(&instance.name) {
        Ok(Some(record)) => record,
        Ok(None) => {
            return Row::bare(
                instance,
                "missing",
                Some(format!(
                    "no session yet: run `snowbridge connect {} --login`",
                    instance.name
                )),
            );
        }
        Err(e) => return Row::bare(instance, "unreadable", Some(with_hint(&e))),
    };
    let session = match Session::from_record(instance, vault, record.clone()) {
        Ok(s) => s,
        Err(e) => {
            return Row {
                detail: Some(with_hint(&e)),
                ..Row::of_record(instance, &record, "unusable")
            };
        }
    };
    let (state, detail) = match session.validate(false).await {
        Validity::Valid { .. } => ("valid", None),
        Validity::Forbidden(why) => ("valid", Some(format!("the check was refused: {why}"))),
        Validity::Expired(why) => ("expired", Some(why)),
        Validity::Unreachable(why) => ("unreachable", Some(why)),
    };
    if let Err(e) = session.save() {
        output::notice(&format!(
            "{}: could not save what the check learned: {}",
            instance.name,
            e.message()
        ));
    }
    Row {
        detail,
        ..Row::of_session(instance, &session, state)
    }
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let mut rows = Vec::new();
    match &args.instance {
        Some(name) => rows.push(row_for(ctx, &ctx.instance(name)?).await),
        None => {
            for entry in ctx
                .catalog()?
                .entries()
                .iter()
                .filter(|e| !e.shadowed && instances::in_use(ctx, e))
            {
                match &entry.instance {
                    Ok(instance) => rows.push(row_for(ctx, instance).await),
                    Err(e) => rows.push(Row {
                        instance: entry.name.clone(),
                        url: String::new(),
                        state: "broken".into(),
                        auth: None,
                        user: None,
                        obtained: None,
                        obtained_at: None,
                        last_validated: None,
                        remember_me_until: None,
                        token_expires: None,
                        token_grant: None,
                        detail: Some(e.to_string()),
                    }),
                }
            }
        }
    }
    if ctx.json {
        output::json(&rows)?;
    } else {
        for row in &rows {
            print_row(row)?;
        }
    }
    // One instance asked for by name: the exit code tells a script what it needs to know (0
    // valid, 4 a login is needed, 1 unreachable). Without a name the table is the answer: 0.
    match (&args.instance, rows.first()) {
        (Some(name), Some(row)) => match row.state.as_str() {
            "missing" => Err(snowbridge::Error::no_session(name)),
            // The vault's own error: a session file that cannot be decrypted is a login away
            // (4), a damaged key is not (1).
            "unreadable" if let Err(e) = ctx.vault().load(name) => Err(e),
            "expired" | "unreadable" | "unusable" => Err(snowbridge::Error::login_required(
                name,
                format!(
                    "{name}: the session is {}{}",
                    row.state,
                    row.detail
                        .as_deref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                ),
            )),
            "unreachable" => Err(snowbridge::Error::new(
                ErrorKind::Unreachable,
                format!(
                    "{name} is unreachable: {}",
                    row.detail.as_deref().unwrap_or("no detail")
                ),
            )),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

fn print_row(row: &Row) -> Result<()> {
    let mut text = format!("{}: {}", row.instance, row.state);
    if let Some(user) = &row.user {
        text.push_str(&format!(" as {user}"));
    }
    if let Some(obtained) = &row.obtained {
        text.push_str(&format!(", {obtained}"));
    }
    let age = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map(output::relative)
    };
    if let Some(at) = age(&row.obtained_at) {
        text.push_str(&format!(", obtained {at}"));
    }
    if let Some(at) = age(&row.last_validated) {
        text.push_str(&format!(", last validated {at}"));
    }
    if let Some(until) = row.remember_me_until.as_deref().and_then(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    }) {
        let left = until - time::OffsetDateTime::now_utc();
        let (amount, unit) = output::span(left);
        text.push_str(&if left.is_positive() {
            format!(", remember-me cookies valid for {amount} more {unit}")
        } else {
            format!(", remember-me cookies expired {amount} {unit} ago")
        });
    }
    if let Some(at) = age(&row.token_expires) {
        let grant = row.token_grant.as_deref().unwrap_or("token");
        text.push_str(&format!(", access token ({grant} grant) expires {at}"));
    }
    output::line(&text)?;
    if let Some(detail) = &row.detail {
        output::line(&format!("  {}", detail.replace('\n', "\n  ")))?;
    }
    Ok(())
}
