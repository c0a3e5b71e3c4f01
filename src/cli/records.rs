//! `snowbridge records INSTANCE TABLE`: stream a table's records as JSON, NDJSON or CSV, each
//! once, with a progress bar when stderr is a terminal. Memory holds one page whatever the count
//! (plus the sys_ids read so far when `--query` orders the rows); the paging and its end are
//! [`snowbridge::api::table`]'s.

use std::io::{BufWriter, IsTerminal, Write};

use snowbridge::api::{JsonV2, RawRecord, Table};
use snowbridge::{Connection, DisplayValue, Error, Query, Record, Result};

use super::{Context, output};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// One JSON array of records, `[]` when none matched.
    Json,
    /// One JSON record per line; no output when none matched.
    Ndjson,
    /// A header row, then a row per record; the header alone when none matched and --fields
    /// names the columns.
    Csv,
}

/// Which API reads the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Api {
    /// The Table API (`/api/now/table/TABLE`): fields as asked, display values as objects.
    Table,
    /// The JSONv2 processor (`/TABLE.do?JSONv2`): every field as a string; with
    /// --display-value all, each field's display value beside it as `dv_FIELD`.
    Jsonv2,
}

/// What `--display-value` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Shown {
    /// The stored value (a reference's sys_id, a choice's value): a string per field.
    #[value(name = "false")]
    Stored,
    /// What the form shows (the caller's name, a choice's label): a string per field.
    #[value(name = "true")]
    Display,
    /// Both: json and ndjson give each field as {"value": ..., "display_value": ...}; csv gives
    /// two columns per field, FIELD (the value) and FIELD.display_value.
    All,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
        }
    }
}

/// Arguments of `records`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  snowbridge records dev incident --query 'active=true^priority=1' --fields number,short_description
  snowbridge records dev incident --limit 100 --format csv > incidents.csv
  # display values: the caller's name rather than the sys_id of the sys_user record
  snowbridge records dev incident --fields number,caller_id --display-value true --format json
  # both: columns caller_id (the sys_id) and caller_id.display_value (the name)
  snowbridge records dev incident --fields number,caller_id --display-value all --format csv")]
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
    /// The output format [default: ndjson; json with --json].
    ///
    /// Every format carries sys_id (csv as its last column when --fields leaves it out).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// What each field holds: its stored value, its display value, or both.
    #[arg(long, value_enum, default_value = "false")]
    display_value: Shown,
    /// The API to read through.
    #[arg(long, value_enum, default_value = "table")]
    api: Api,
    /// Records per request, 1 to 10000.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    page_size: u16,
}

impl Args {
    /// The format asked for: `--json` is `--format json`, and refused beside another format.
    fn format(&self, json: bool) -> Result<Format> {
        match (self.format, json) {
            (None, false) => Ok(Format::Ndjson),
            (None, true) | (Some(Format::Json), _) => Ok(Format::Json),
            (Some(other), true) => Err(Error::usage(format!(
                "--json asks for one JSON array and --format {} for another format",
                other.name()
            ))
            .with_hint("leave out --json, or use --format json (the same as --json)")),
            (Some(other), false) => Ok(other),
        }
    }
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let format = args.format(ctx.json)?;
    let connection = ctx.sb.open(&args.instance).await?;
    let result = stream(&connection, &args, format).await;
    let saved = connection.close().await;
    result.and(saved)
}

async fn stream(connection: &Connection, args: &Args, format: Format) -> Result<()> {
    let session = connection.session();
    let query = Query {
        query: args.query.clone(),
        fields: args
            .fields
            .iter()
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect(),
        display_value: match args.display_value {
            Shown::Stored => DisplayValue::False,
            Shown::Display => DisplayValue::True,
            Shown::All => DisplayValue::All,
        },
        exclude_reference_link: true,
        limit: args.limit,
        page_size: usize::from(args.page_size),
    };
    if args.api == Api::Jsonv2 && !query.fields.is_empty() {
        return Err(Error::usage(
            "--fields needs the Table API: JSONv2 returns every field of each record",
        )
        .with_hint("leave out --fields, or read through the Table API (leave out --api jsonv2)"));
    }
    let out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut sink = match format {
        Format::Ndjson => Sink::Ndjson(out),
        Format::Json => Sink::Json(out, true),
        Format::Csv => Sink::Csv(Box::new(CsvSink {
            writer: csv::Writer::from_writer(out),
            header: None,
            // JSONv2 gives display values as fields of their own (dv_FIELD), not as objects.
            both: query.display_value == DisplayValue::All && args.api == Api::Table,
        })),
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} records {rate} {eta}")
                .map(|style| {
                    style.with_key(
                        "rate",
                        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                            let _ = w.write_str(&rate(state.per_sec()));
                        },
                    )
                })
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    let mut sized = false;
    let mut write = |row: RawRecord, total: Option<u64>| {
        if let Some(bar) = &bar {
            if !sized && let Some(total) = total {
                bar.set_length(args.limit.map_or(total, |l| l.min(total)));
                sized = true;
            }
            bar.inc(1);
        }
        sink.write(&row, &query.fields)
    };
    let count = match args.api {
        Api::Table => {
            Table::new(session, &args.table)
                .pages(query.clone())
                .for_each(write)
                .await?
        }
        Api::Jsonv2 => {
            JsonV2::new(session, &args.table)
                .for_each_raw(
                    &query.query,
                    query.page_size,
                    query.display_value,
                    query.limit,
                    |row| write(row, None),
                )
                .await?
        }
    };
    sink.finish(&query.fields)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    tracing::info!(records = count, "done");
    Ok(())
}

/// A rate for the progress bar: whole records per second with thousands separators
/// ("6,518/s"), not indicatif's four decimals.
fn rate(per_sec: f64) -> String {
    let whole = if per_sec.is_finite() && per_sec > 0.0 {
        per_sec.round() as u64
    } else {
        0
    };
    format!("{}/s", indicatif::HumanCount(whole))
}

/// Where records go, in the chosen format.
enum Sink<W: Write> {
    Ndjson(W),
    /// The writer and whether no record has been written yet.
    Json(W, bool),
    Csv(Box<CsvSink<W>>),
}

/// CSV output: the header is fixed by `--fields`, else by the first record's fields.
struct CsvSink<W: Write> {
    writer: csv::Writer<W>,
    /// The columns, once written.
    header: Option<Vec<Column>>,
    /// `--display-value all`: each field gives two columns, its value and its display value.
    both: bool,
}

/// A CSV column: which field, and which side of it.
struct Column {
    field: String,
    part: Part,
}

/// The side of a field a CSV column holds.
#[derive(Clone, Copy)]
enum Part {
    /// The field as the instance sent it (a value or a display value, by the mode).
    AsSent,
    /// `value` of a `{value, display_value}` field.
    Value,
    /// `display_value` of a `{value, display_value}` field.
    Display,
}

impl Column {
    fn name(&self) -> String {
        match self.part {
            Part::AsSent | Part::Value => self.field.clone(),
            Part::Display => format!("{}.display_value", self.field),
        }
    }
}

impl<W: Write> CsvSink<W> {
    /// The columns of `fields` (sys_id added when missing).
    fn columns(&self, fields: impl IntoIterator<Item = String>) -> Vec<Column> {
        let mut names: Vec<String> = fields.into_iter().collect();
        if !names.iter().any(|f| f == "sys_id") {
            names.push("sys_id".into());
        }
        names
            .into_iter()
            .flat_map(|field| {
                let parts: &[Part] = if self.both {
                    &[Part::Value, Part::Display]
                } else {
                    &[Part::AsSent]
                };
                parts.iter().map(move |&part| Column {
                    field: field.clone(),
                    part,
                })
            })
            .collect()
    }

    fn write_header(&mut self, columns: Vec<Column>) -> Result<()> {
        self.writer
            .write_record(columns.iter().map(Column::name))
            .map_err(csv_error)?;
        self.header = Some(columns);
        Ok(())
    }
}

impl<W: Write> Sink<W> {
    /// Writes one record: json and ndjson pass the instance's JSON text on as it came (one
    /// line; re-written compactly in the rare reply that breaks a record over lines), csv takes
    /// it apart.
    fn write(&mut self, row: &RawRecord, fields: &[String]) -> Result<()> {
        match self {
            Sink::Ndjson(out) => {
                write_compact(out, row)?;
                out.write_all(b"\n").map_err(output::write_error)
            }
            Sink::Json(out, first) => {
                out.write_all(if *first { b"[\n" } else { b",\n" })
                    .map_err(output::write_error)?;
                *first = false;
                write_compact(out, row)
            }
            Sink::Csv(csv) => {
                let row = row.parse()?;
                if csv.header.is_none() {
                    let columns = if fields.is_empty() {
                        csv.columns(row.0.keys().cloned())
                    } else {
                        csv.columns(fields.iter().cloned())
                    };
                    csv.write_header(columns)?;
                }
                let columns = csv.header.as_deref().unwrap_or_default();
                csv.writer
                    .write_record(columns.iter().map(|c| cell(&row, c)))
                    .map_err(csv_error)
            }
        }
    }

    /// Ends the output: closes the JSON array, and gives CSV its header when no record came
    /// but `fields` names the columns.
    fn finish(self, fields: &[String]) -> Result<()> {
        match self {
            Sink::Ndjson(mut out) => out.flush().map_err(output::write_error),
            Sink::Json(mut out, first) => {
                out.write_all(if first { b"[]\n" } else { b"\n]\n" })
                    .map_err(output::write_error)?;
                out.flush().map_err(output::write_error)
            }
            Sink::Csv(mut csv) => {
                if csv.header.is_none() && !fields.is_empty() {
                    let columns = csv.columns(fields.iter().cloned());
                    csv.write_header(columns)?;
                }
                csv.writer.flush().map_err(output::write_error)
            }
        }
    }
}

/// Writes `row`'s JSON on one line: as sent, unless the instance put line breaks between its
/// tokens (never inside strings, where JSON escapes them).
fn write_compact(out: &mut impl Write, row: &RawRecord) -> Result<()> {
    let json = row.json();
    let bytes = json.as_bytes();
    // `contains` on bytes is memchr: the check costs little beside the write.
    if bytes.contains(&b'\n') || bytes.contains(&b'\r') {
        serde_json::to_writer(&mut *out, &row.parse()?).map_err(json_error)
    } else {
        out.write_all(json.as_bytes()).map_err(output::write_error)
    }
}

/// The text of `column` in `row`: a string as is, a `{value, display_value}` object by the
/// column's side, nothing for a missing or null field, other JSON as JSON.
fn cell(row: &Record, column: &Column) -> String {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match row.0.get(&column.field) {
        None => String::new(),
        Some(serde_json::Value::Object(o)) => {
            let side = match column.part {
                Part::Value => o.get("value"),
                Part::Display => o.get("display_value"),
                Part::AsSent => o.get("display_value").or_else(|| o.get("value")),
            };
            side.map(text).unwrap_or_default()
        }
        Some(v) => text(v),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: serde_json::Value) -> Record {
        serde_json::from_value(json).unwrap()
    }

    fn raw(record: &Record) -> RawRecord {
        serde_json::from_str(&serde_json::to_string(record).unwrap()).unwrap()
    }

    /// What `format` writes for `rows` asked for with `fields` (and both sides with `both`).
    fn written(format: Format, both: bool, fields: &[&str], rows: &[Record]) -> String {
        let mut out = Vec::new();
        let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        {
            let mut sink = match format {
                Format::Ndjson => Sink::Ndjson(&mut out),
                Format::Json => Sink::Json(&mut out, true),
                Format::Csv => Sink::Csv(Box::new(CsvSink {
                    writer: csv::Writer::from_writer(&mut out),
                    header: None,
                    both,
                })),
            };
            for row in rows {
                sink.write(&raw(row), &fields).unwrap();
            }
            sink.finish(&fields).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_with_both_sides_has_a_value_and_a_display_value_column_per_field() {
        let row = record(serde_json::json!({
            "number": {"value": "INC0010001", "display_value": "INC0010001"},
            "caller_id": {"value": "e0ea26f7", "display_value": "Jane Doe, \"JD\""},
            "sys_id": {"value": "abc", "display_value": "abc"},
        }));
        let text = written(Format::Csv, true, &["number", "caller_id"], &[row]);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(
            header,
            [
                "number",
                "number.display_value",
                "caller_id",
                "caller_id.display_value",
                "sys_id",
                "sys_id.display_value"
            ]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(&rows[0][2], "e0ea26f7");
        assert_eq!(&rows[0][3], "Jane Doe, \"JD\"");
    }

    #[test]
    fn csv_of_plain_values_has_one_column_per_field() {
        let row = record(serde_json::json!({"number": "INC1", "caller_id": "Jane", "sys_id": "a"}));
        let text = written(Format::Csv, false, &[], &[row]);
        assert_eq!(text, "caller_id,number,sys_id\nJane,INC1,a\n");
    }

    #[test]
    fn nothing_matched_is_still_well_formed_in_every_format() {
        assert_eq!(written(Format::Json, false, &[], &[]), "[]\n");
        assert_eq!(written(Format::Ndjson, false, &[], &[]), "");
        assert_eq!(
            written(Format::Csv, false, &["number", "state"], &[]),
            "number,state,sys_id\n"
        );
        assert_eq!(
            written(Format::Csv, true, &["number"], &[]),
            "number,number.display_value,sys_id,sys_id.display_value\n"
        );
        // No fields named and no record to learn them from: no columns to name.
        assert_eq!(written(Format::Csv, false, &[], &[]), "");
    }

    #[test]
    fn json_of_records_parses_as_an_array() {
        let rows = [
            record(serde_json::json!({"sys_id": "a"})),
            record(serde_json::json!({"sys_id": "b"})),
        ];
        let text = written(Format::Json, false, &[], &rows);
        let parsed: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.len(), 2);
        let lines = written(Format::Ndjson, false, &[], &rows);
        assert_eq!(lines.lines().count(), 2);
    }

    #[test]
    fn the_rate_is_whole_records_per_second() {
        assert_eq!(rate(6517.8139), "6,518/s");
        assert_eq!(rate(0.4), "0/s");
        assert_eq!(rate(f64::NAN), "0/s");
        assert_eq!(rate(f64::INFINITY), "0/s");
    }
}
