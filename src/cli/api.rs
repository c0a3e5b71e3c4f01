//! `snowbridge api INSTANCE PATH`: one authenticated request, like `gh api`; prints the reply.

use std::collections::HashSet;
use std::io::{IsTerminal, Read, Write};

use reqwest::Method;
use snowbridge::api::{SysIds, link};
use snowbridge::session::{Body, Call, Session};
use snowbridge::{Error, Result};

use super::{Context, output};

/// Arguments of `api`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  snowbridge api dev '/api/now/table/incident?sysparm_limit=1&sysparm_fields=number,state'
  # -d makes it a POST
  snowbridge api dev /api/now/table/incident -d '{\"short_description\":\"Printer on fire\"}'
  # every page of the query, the pages' results joined in one array
  snowbridge api dev '/api/now/table/incident?sysparm_query=active=true&sysparm_limit=500' --paginate")]
pub struct Args {
    /// The instance's name.
    instance: String,
    /// The path on the instance, with its query (`/api/now/table/incident?sysparm_limit=1`).
    path: String,
    /// The HTTP method (default GET, or POST with -d).
    #[arg(short = 'X', long = "method")]
    method: Option<String>,
    /// A JSON body, or @FILE to read it from a file (@- for stdin).
    #[arg(short = 'd', long = "data")]
    data: Option<String>,
    /// An extra header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Follow `Link: rel="next"` to the last page; the pages' `result` arrays are joined.
    #[arg(long)]
    paginate: bool,
}

fn read_body(data: &str) -> Result<Vec<u8>> {
    let Some(source) = data.strip_prefix('@') else {
        return Ok(data.as_bytes().to_vec());
    };
    if source == "-" {
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .map_err(|e| Error::bad_input(format!("cannot read the body from stdin: {e}")))?;
        return Ok(body);
    }
    std::fs::read(source)
        .map_err(|e| Error::usage(format!("cannot read the body file {source}: {e}")))
}

fn call_for(args: &Args, target: &str) -> Result<Call> {
    let method = match (&args.method, &args.data) {
        (Some(m), _) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| Error::usage(format!("{m:?} is not an HTTP method")))?,
        (None, Some(_)) => Method::POST,
        (None, None) => Method::GET,
    };
    let mut call = Call::new(method, target);
    if let Some(data) = &args.data {
        call = call.body(Body::Bytes(
            read_body(data)?.into(),
            "application/json".into(),
        ));
    }
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| Error::usage(format!("{header:?} is not `Name: value`")))?;
        let name = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Error::usage(format!("{name:?} is not a header name")))?;
        let value = reqwest::header::HeaderValue::from_str(value.trim())
            .map_err(|_| Error::usage(format!("{value:?} is not a header value")))?;
        call = call.header(name, value);
    }
    Ok(call)
}

pub async fn run(ctx: &Context, args: Args) -> Result<()> {
    let instance = ctx.instance(&args.instance)?;
    let session = Session::open(&instance, ctx.vault())?;
    let result = if args.paginate {
        paginate(&session, &args).await
    } else {
        single(&session, &args).await
    };
    // Rotated cookies are kept even when the call failed.
    let saved = session.save();
    result.and(saved)
}

async fn single(session: &Session, args: &Args) -> Result<()> {
    let response = session.send(&call_for(args, &args.path)?).await?;
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
    if is_json && !body.ends_with(b"\n") {
        out.write_all(b"\n").map_err(output::write_error)?;
    }
    Ok(())
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
        let page: serde_json::Value =
            snowbridge::api::envelope::parse_json(session.instance(), response).await?;
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
