//! `snowbridge records INSTANCE TABLE`: stream a table's records as JSON, NDJSON or CSV, each
//! once, with a progress bar when stderr is a terminal. Memory holds one page whatever the count
//! (plus the sys_ids read so far when `--query` orders the rows); the paging and its end are
//! [`snowbridge::api::table`]'s.

use std::io::{BufWriter, IsTerminal, Write};

use snowbridge::api::{DisplayValue, Query, Record, Table};
use snowbridge::session::Session;
use snowbridge::{Error, Result};

use super::{Context, output};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// CSV with a header row (field values; display values with --display-value).
    Csv,
}

/// Arguments of `records`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  snowbridge records dev incident --query 'active=true^priority=1' --fields number,short_description
  snowbridge records dev incident --limit 100 --format csv > incidents.csv
  # display values: the caller's name rather than the sys_id of the sys_user record
  snowbridge records dev incident --fields number,caller_id --display-value true --format json")]
pub struct Args {
    /// The instance's name.
    instance: String,
    /// The table (incident, sys_user, ...).
    table: String,
    /// An encoded query, like `active=true^priority=1`.
    #[arg(long, short = 'q', default_value = "")]
    query: String,
    /// Fields to return, comma separated (all when left out; sys_id is always included).
    #[arg(long, short = 'f', value_delimiter = ',')]
    fields: Vec<String>,
    /// At most this many records.
    #[arg(long, short = 'n')]
    limit: Option<u64>,
    /// The output format.
    #[arg(long, value_enum, default_value = "ndjson")]
    format: Format,
    /// Display values instead of raw values (`all` gives both).
    #[arg(long, value_parser = ["true", "false", "all"], default_value = "false")]
    display_value: String,
    /// Records per request.
    #[arg(long, default_value_t = 1000)]
    page_size: usize,
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let instance = ctx.instance(&args.instance)?;
    let session = Session::open(&instance, ctx.vault())?;
    let result = stream(&session, &args).await;
    let saved = session.save();
    result.and(saved)
}

async fn stream(session: &Session, args: &Args) -> Result<()> {
    let query = Query {
        query: args.query.clone(),
        fields: args
            .fields
            .iter()
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect(),
        display_value: match args.display_value.as_str() {
            "true" => DisplayValue::True,
            "all" => DisplayValue::All,
            _ => DisplayValue::False,
        },
        exclude_reference_link: true,
        limit: args.limit,
        page_size: args.page_size.clamp(1, 10_000),
    };
    let table = Table::new(session, &args.table);
    let mut pages = table.pages(query.clone());
    let out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut sink = match args.format {
        Format::Ndjson => Sink::Ndjson(out),
        Format::Json => Sink::Json(out, true),
        Format::Csv => Sink::Csv(Box::new(csv::Writer::from_writer(out)), None),
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos}/{len} records {per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    let mut count = 0u64;
    while let Some(rows) = pages.next().await? {
        if let (Some(bar), Some(total)) = (&bar, pages.total()) {
            bar.set_length(args.limit.map_or(total, |l| l.min(total)));
        }
        for row in &rows {
            sink.write(row, &query.fields)?;
        }
        count += rows.len() as u64;
        if let Some(bar) = &bar {
            bar.set_position(count);
        }
    }
    sink.finish()?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    tracing::info!(records = count, "done");
    Ok(())
}

type Out<'a> = BufWriter<std::io::StdoutLock<'a>>;

/// Where records go, in the chosen format.
enum Sink<'a> {
    Ndjson(Out<'a>),
    /// The writer and whether no record has been written yet.
    Json(Out<'a>, bool),
    /// The writer and the header, fixed by the first record.
    Csv(Box<csv::Writer<Out<'a>>>, Option<Vec<String>>),
}

impl Sink<'_> {
    fn write(&mut self, row: &Record, fields: &[String]) -> Result<()> {
        match self {
            Sink::Ndjson(out) => {
                serde_json::to_writer(&mut *out, row).map_err(json_error)?;
                out.write_all(b"\n").map_err(output::write_error)
            }
            Sink::Json(out, first) => {
                out.write_all(if *first { b"[\n" } else { b",\n" })
                    .map_err(output::write_error)?;
                *first = false;
                serde_json::to_writer(&mut *out, row).map_err(json_error)
            }
            Sink::Csv(writer, header) => {
                if header.is_none() {
                    let mut names: Vec<String> = if fields.is_empty() {
                        row.0.keys().cloned().collect()
                    } else {
                        fields.to_vec()
                    };
                    if !names.iter().any(|f| f == "sys_id") {
                        names.push("sys_id".into());
                    }
                    writer.write_record(names.iter()).map_err(csv_error)?;
                    *header = Some(names);
                }
                let names = header.as_deref().unwrap_or_default();
                writer
                    .write_record(names.iter().map(|f| cell(row, f)))
                    .map_err(csv_error)
            }
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Sink::Ndjson(mut out) => out.flush().map_err(output::write_error),
            Sink::Json(mut out, first) => {
                out.write_all(if first { b"[]\n" } else { b"\n]\n" })
                    .map_err(output::write_error)?;
                out.flush().map_err(output::write_error)
            }
            Sink::Csv(mut writer, _) => writer.flush().map_err(output::write_error),
        }
    }
}

fn cell(row: &Record, field: &str) -> String {
    match row.0.get(field) {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(o)) => o
            .get("display_value")
            .or_else(|| o.get("value"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned(),
        Some(other) => other.to_string(),
    }
}

fn json_error(e: serde_json::Error) -> Error {
    match e.io_error_kind() {
        Some(kind) => output::write_error(std::io::Error::from(kind)),
        None => Error::internal(format!("cannot write JSON: {e}")),
    }
}

fn csv_error(e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => output::write_error(io),
        other => Error::internal(format!("cannot write CSV: {other:?}")),
    }
}
