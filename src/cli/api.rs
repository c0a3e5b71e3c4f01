//! `snowbridge api INSTANCE PATH`: one authenticated request, like `gh api`; prints the reply.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};

use reqwest::Method;
use snowbridge::api::{SysIds, link};
use snowbridge::session::{Body, Call, Session};
use snowbridge::{Error, Result};

use super::{Context, body, output};

/// Arguments of `api`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  snowbridge api dev '/api/now/table/incident?sysparm_limit=1&sysparm_fields=number,state'
  # -d makes it a POST
  snowbridge api dev /api/now/table/incident -d '{\"short_description\":\"Printer on fire\"}'
  # every page of the query, the pages' results joined in one array
  snowbridge api dev '/api/now/table/incident?sysparm_query=active=true&sysparm_limit=500' --paginate
  # the status line and headers only (X-Total-Count: how many records match)
  snowbridge api dev '/api/now/table/incident?sysparm_limit=1' -X HEAD -i")]
pub struct Args {
    /// The instance's name.
    instance: String,
    /// The path on the instance, with its query (`/api/now/table/incident?sysparm_limit=1`).
    path: String,
    /// The HTTP method (default GET, or POST with -d).
    #[arg(short = 'X', long = "method")]
    method: Option<String>,
    /// A JSON body, or @FILE to read it from a file (@- for stdin). UTF-8 (a byte-order mark
    /// allowed) or UTF-16 with a byte-order mark; checked as JSON before sending, unless -H gives
    /// a Content-Type that is not JSON (then sent as is).
    #[arg(short = 'd', long = "data")]
    data: Option<String>,
    /// Send the -d body even when it is empty (else refused: leave out -d to send none).
    #[arg(long, requires = "data")]
    allow_empty_body: bool,
    /// An extra header, `Name: value` (repeatable). The session's own (Cookie, X-UserToken,
    /// Authorization, Host, Content-Length, ...) are refused.
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Follow `Link: rel="next"` to the last page; the pages' `result` arrays are joined.
    #[arg(long)]
    paginate: bool,
    /// Print the reply's status line and headers before its body (cookie values and the CSRF
    /// token hidden); with -X HEAD, the headers are all there is.
    #[arg(short = 'i', long, conflicts_with = "paginate")]
    include: bool,
    /// The method, body and headers, checked once before anything is sent (a body from stdin
    /// can be read only once, and every page of --paginate sends the same).
    #[arg(skip)]
    prepared: Option<Prepared>,
}

/// What every request of one `api` run carries besides its target.
#[derive(Debug, Clone)]
struct Prepared {
    method: Method,
    body: Body,
    headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
}

/// Checks the method, reads and checks the body, parses the headers: every mistake is found
/// here, before the instance is asked anything.
fn prepare(args: &Args) -> Result<Prepared> {
    let method = match (&args.method, &args.data) {
        (Some(m), _) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| Error::usage(format!("{m:?} is not an HTTP method")))?,
        (None, Some(_)) => Method::POST,
        (None, None) => Method::GET,
    };
    let headers = body::headers(&args.headers)?;
    if headers.content_type.is_some() && args.data.is_none() {
        return Err(Error::usage(
            "-H Content-Type names the type of a body, and there is none (give it with -d)",
        ));
    }
    let body = match &args.data {
        Some(data) => {
            let read = body::read(data, headers.content_type.as_deref(), args.allow_empty_body)?;
            Body::Bytes(read.bytes, read.content_type)
        }
        None => Body::Empty,
    };
    Ok(Prepared {
        method,
        body,
        headers: headers.extra,
    })
}

fn call_for(args: &Args, target: &str) -> Result<Call> {
    let prepared = match &args.prepared {
        Some(prepared) => prepared.clone(),
        None => prepare(args)?,
    };
    let mut call = Call::new(prepared.method, target).body(prepared.body);
    for (name, value) in prepared.headers {
        call = call.header(name, value);
    }
    Ok(call)
}

pub async fn run(ctx: &Context, mut args: Args) -> Result<()> {
    if args.include && ctx.json {
        return Err(
            Error::usage("-i prints the reply's headers as text, which --json cannot be")
                .with_hint("leave out -i for the JSON reply alone, or --json for the headers"),
        );
    }
    args.prepared = Some(prepare(&args)?);
    let instance = ctx.instance(&args.instance)?;
    let connection = ctx.sb.open(&instance.name).await?;
    let session = connection.session();
    let result = if args.paginate {
        paginate(session, &args).await
    } else {
        single(session, &args).await
    };
    // Rotated cookies are kept even when the call failed.
    let saved = connection.close().await;
    result.and(saved)
}

async fn single(session: &Session, args: &Args) -> Result<()> {
    let response = session.send(&call_for(args, &args.path)?).await?;
    if args.include {
        output::line(&head_of(&response))?;
    }
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let body = response.bytes().await.map_err(|e| {
        Error::new(
            snowbridge::ErrorKind::Unreachable,
            format!("the reply was cut off: {e}"),
        )
    })?;
    if is_json
        && std::io::stdout().is_terminal()
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body)
    {
        return output::json(&value);
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&body).map_err(output::write_error)?;
    // An empty reply (HEAD, 204) prints nothing, not a blank line.
    if is_json && !body.is_empty() && !body.ends_with(b"\n") {
        out.write_all(b"\n").map_err(output::write_error)?;
    }
    Ok(())
}

/// The status line and headers of `response`, then the blank line that ends them, as curl
/// and gh print them with `-i`. The values that would hand out the session are hidden: each
/// `Set-Cookie`'s value (its name and attributes kept) and `X-UserToken-Response`.
fn head_of(response: &reqwest::Response) -> String {
    let mut text = format!("{:?} {}", response.version(), response.status());
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        let shown = match name.as_str() {
            "set-cookie" => match value.split_once('=') {
                Some((cookie, rest)) => {
                    let attributes = rest.split_once(';').map(|(_, a)| a).unwrap_or("");
                    format!(
                        "{cookie}=(hidden){}{attributes}",
                        if attributes.is_empty() { "" } else { ";" }
                    )
                }
                None => "(hidden)".to_owned(),
            },
            "x-usertoken-response" => "(hidden)".to_owned(),
            _ => value.into_owned(),
        };
        text.push_str(&format!("\n{name}: {shown}"));
    }
    text.push('\n');
    text
}

/// Follows `Link: rel="next"` (RFC 8288, resolved against each page's URL, on the instance's
/// origin only) until a reply names none. Bound to end: a `next` already requested, or a page
/// whose rows all carry sys_ids already read, is an error that says so.
async fn paginate(session: &Session, args: &Args) -> Result<()> {
    let mut target = args.path.clone();
    let mut requested: HashSet<String> = HashSet::new();
    let mut seen = SysIds::default();
    let mut results: Vec<serde_json::Value> = Vec::new();
    let mut pages: Vec<serde_json::Value> = Vec::new();
    loop {
        let response = session.send(&call_for(args, &target)?).await?;
        // No redirect is followed, so this is the URL asked for.
        let here = response.url().clone();
        requested.insert(here.as_str().to_owned());
        let next = link::next_target(response.headers());
        let page: serde_json::Value = session.json_of(response).await?;
        match page {
            serde_json::Value::Object(mut map)
                if map.get("result").is_some_and(|r| r.is_array()) =>
            {
                if let Some(serde_json::Value::Array(rows)) = map.remove("result") {
                    let ids: Vec<&str> = rows
                        .iter()
                        .filter_map(|r| r.get("sys_id").and_then(|v| v.as_str()))
                        .collect();
                    let fresh = ids.iter().filter(|id| seen.insert(id)).count();
                    if !ids.is_empty() && fresh == 0 {
                        return Err(stuck(session, &here, "its rows were all read before"));
                    }
                    results.extend(rows);
                }
            }
            other => pages.push(other),
        }
        let Some(next) = next else { break };
        let next = link::resolve(session.instance(), &here, &next)?;
        if requested.contains(next.as_str()) {
            return Err(stuck(session, &next, "it was requested before"));
        }
        target = next.into();
    }
    if pages.is_empty() {
        output::json(&serde_json::json!({ "result": results }))
    } else {
        // Pages that are not Table API lists are printed one after another, as gh does.
        for page in pages {
            output::json(&page)?;
        }
        Ok(())
    }
}

fn stuck(session: &Session, url: &url::Url, why: &str) -> Error {
    Error::new(
        snowbridge::ErrorKind::Instance,
        format!(
            "{}: paging does not advance at {}{}: {why}; stopped rather than loop",
            session.instance().name,
            url.path(),
            url.query().map(|q| format!("?{q}")).unwrap_or_default()
        ),
    )
}
