//! Is an instance there, and is it ServiceNow? One anonymous GET of a REST path, which a
//! ServiceNow instance answers `401` with its error envelope (servicenow-wire.md, "How an expired
//! or missing session shows"). Anything else is named: a TLS certificate not trusted, a host not
//! found, nothing listening, no answer in time, an HTML page (a hibernating developer instance, a
//! login or proxy page), a redirect, another status.
//!
//! It sends no credentials, reads no vault and keeps nothing; `snowbridge doctor` uses it.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::Deserialize;

use super::{DEFAULT_USER_AGENT, header, is_page, page};
use crate::error::{Error, ErrorKind, Result};
use crate::instance::Instance;

/// The path asked: `sys_user` is a table every instance has.
pub const PROBE_PATH: &str = "/api/now/table/sys_user?sysparm_limit=1";

/// How much of a reply is read: enough for an envelope or a page's title.
const BODY_LIMIT: usize = 256 * 1024;

/// What ServiceNow's REST API answers a request without credentials.
#[derive(Deserialize)]
struct Envelope {
    error: EnvelopeError,
    status: String,
}

#[derive(Deserialize)]
struct EnvelopeError {
    message: String,
}

/// Asks `instance` the anonymous question within `timeout`. `Ok` holds how long ServiceNow took
/// to answer as ServiceNow does; the error says what answered instead, or why nothing did, and
/// what to fix (kind [`ErrorKind::Unreachable`], or [`ErrorKind::BadInput`] for an unusable
/// `ca_file`).
pub async fn probe(instance: &Instance, timeout: Duration) -> Result<Duration> {
    let builder = crate::tls::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(DEFAULT_USER_AGENT)
        .timeout(timeout)
        .connect_timeout(timeout);
    let client = super::trust(builder, instance)?
        .build()
        .map_err(|e| Error::internal(format!("cannot set up HTTP for {}: {e}", instance.name)))?;
    let url = instance.join(PROBE_PATH)?;
    let started = Instant::now();
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| transport(instance, &e, timeout))?;
    let elapsed = started.elapsed();
    let status = response.status();
    let html = is_page(response.headers());
    let location = header(response.headers(), "location");
    let mut body = Vec::new();
    while body.len() < BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Err(transport(instance, &e, timeout)),
        }
    }
    // A page is a page whatever its label (servicenow-wire.md: replies as real instances send).
    let html = html || page::looks_like_html(&body);
    judge(instance, status, html, location.as_deref(), &body).map(|()| elapsed)
}

/// What a reply says about the instance.
fn judge(
    instance: &Instance,
    status: StatusCode,
    html: bool,
    location: Option<&str>,
    body: &[u8],
) -> Result<()> {
    let base = instance.base();
    let file = instance.source.display();
    let not_servicenow = |what: String| {
        Error::new(
            ErrorKind::Unreachable,
            format!("{base} is not ServiceNow's API: {PROBE_PATH} {what}"),
        )
        .with_hint(format!(
            "open {base} in a browser to see what answers, and check `url` in {file}"
        ))
    };
    if html {
        let text = String::from_utf8_lossy(body);
        let titled =
            |title: Option<String>| title.map(|t| format!(" titled {t:?}")).unwrap_or_default();
        return Err(match page::classify(&text) {
            page::Page::Hibernating { wake } => Error::new(
                ErrorKind::Unreachable,
                format!("the instance is hibernating: wake it at {wake}"),
            )
            .with_hint(format!(
                "sign in at {wake} to wake it, wait until {base} opens, then run doctor again"
            )),
            page::Page::Login { title } => not_servicenow(format!(
                "answered with a login page{} (a single sign-on front door or a proxy in front \
                 of the instance?)",
                titled(title)
            )),
            page::Page::Other { title } => not_servicenow(format!(
                "answered with an HTML page{} (HTTP {}) instead of JSON",
                titled(title),
                status.as_u16()
            )),
        });
    }
    if status.is_redirection() {
        return Err(not_servicenow(format!(
            "was redirected to {}",
            location.unwrap_or("nowhere")
        )));
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(envelope) if status == StatusCode::UNAUTHORIZED && envelope.status == "failure" => {
            return Ok(());
        }
        Ok(envelope) if !status.is_success() => {
            return Err(Error::new(
                ErrorKind::Unreachable,
                format!(
                    "{base} answered HTTP {} to an anonymous REST call: {}",
                    status.as_u16(),
                    envelope.error.message
                ),
            )
            .with_hint(
                "the instance is there but failing; try again later, or ask its administrators",
            ));
        }
        _ => {}
    }
    let what = if status == StatusCode::UNAUTHORIZED {
        "answered 401 without ServiceNow's error envelope".to_owned()
    } else {
        format!(
            "answered HTTP {} where ServiceNow answers 401 with its error envelope",
            status.as_u16()
        )
    };
    Err(not_servicenow(what))
}

/// Whether `e` is a TLS handshake that failed over the server's certificate (not trusted,
/// expired, for another name).
pub(crate) fn untrusted_certificate(e: &reqwest::Error) -> bool {
    is_tls(e)
        && causes(e)
            .iter()
            .any(|c| c.to_ascii_lowercase().contains("certificate"))
}

/// Why nothing answered, named: a certificate, a host name, a port, a deadline.
pub(crate) fn transport(instance: &Instance, e: &reqwest::Error, timeout: Duration) -> Error {
    let base = instance.base();
    let file = instance.source.display();
    let host = instance.url.host_str().unwrap_or_default();
    let port = instance.url.port_or_known_default().unwrap_or_default();
    let causes = causes(e);
    let cause = causes.last().cloned().unwrap_or_else(|| e.to_string());
    let (message, hint) = if e.is_timeout() {
        (
            format!("{base} did not answer within {}s", timeout.as_secs()),
            "check the URL, your network or proxy (HTTPS_PROXY), and that the instance is up"
                .to_owned(),
        )
    } else if is_tls(e) {
        if untrusted_certificate(e) {
            (
                format!("{base}'s TLS certificate is not trusted ({cause})"),
                format!(
                    "if a TLS-inspecting proxy or a private CA signs it, set ca_file = \
                     \"corp-root.pem\" (its CA certificates, PEM) in {file}"
                ),
            )
        } else {
            (
                format!("the TLS handshake with {base} failed ({cause})"),
                format!("check that the scheme and port of `url` in {file} are right"),
            )
        }
    } else if causes
        .iter()
        .any(|c| c.contains("dns error") || c.contains("failed to lookup address"))
    {
        (
            format!("the host {host} was not found (DNS: {cause})"),
            format!("check the host name in `url` in {file}, and your network or VPN"),
        )
    } else if has_io_kind(e, std::io::ErrorKind::ConnectionRefused) {
        (
            format!("nothing listens at {host}:{port} (connection refused)"),
            format!(
                "check the port in `url` in {file}, and that the instance (or the emulator) is \
                 running"
            ),
        )
    } else {
        (
            format!("could not reach {base} ({cause})"),
            "check the URL, your network or proxy, and that the instance is up".to_owned(),
        )
    };
    Error::new(ErrorKind::Unreachable, message).with_hint(hint)
}

/// Every error in the chain, `io::Error`'s wrapped ones included (its `source` skips them).
fn chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut found = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        found.push(err);
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    found
}

fn causes(e: &reqwest::Error) -> Vec<String> {
    chain(e).iter().skip(1).map(|c| c.to_string()).collect()
}

fn is_tls(e: &reqwest::Error) -> bool {
    chain(e).iter().any(|c| c.is::<rustls::Error>())
}

fn has_io_kind(e: &reqwest::Error, kind: std::io::ErrorKind) -> bool {
    chain(e)
        .iter()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance() -> Instance {
        Instance::parse(
            "dev",
            std::path::Path::new("/cfg/instances/dev.toml"),
            "url = \"https://acme.service-now.com\"",
        )
        .unwrap()
    }

    const ENVELOPE: &[u8] = br#"{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}"#;

    #[test]
    fn a_401_with_the_envelope_is_servicenow() {
        assert!(judge(&instance(), StatusCode::UNAUTHORIZED, false, None, ENVELOPE).is_ok());
    }

    #[test]
    fn a_401_without_the_envelope_is_not() {
        let err = judge(
            &instance(),
            StatusCode::UNAUTHORIZED,
            false,
            None,
            b"{\"message\":\"no\"}",
        )
        .unwrap_err();
        assert!(
            err.message()
                .contains("without ServiceNow's error envelope"),
            "{err}"
        );
        assert!(
            err.hint().unwrap().contains("/cfg/instances/dev.toml"),
            "{err}"
        );
    }

    #[test]
    fn pages_are_named() {
        let hibernating = b"<html><head><title>Instance Hibernating page</title></head>\
            <body class=\"instance-hibernating-page\">Your instance is hibernating</body></html>";
        let err = judge(&instance(), StatusCode::OK, true, None, hibernating).unwrap_err();
        assert!(err.message().contains("hibernating"), "{err}");
        let proxy = b"<html><head><title>Blocked by policy</title></head></html>";
        let err = judge(&instance(), StatusCode::FORBIDDEN, true, None, proxy).unwrap_err();
        assert!(err.message().contains("\"Blocked by policy\""), "{err}");
        assert!(err.message().contains("HTTP 403"), "{err}");
    }

    #[test]
    fn a_redirect_or_another_status_is_not_servicenow() {
        let err = judge(
            &instance(),
            StatusCode::FOUND,
            false,
            Some("https://idp.example/sso"),
            b"",
        )
        .unwrap_err();
        assert!(err.message().contains("https://idp.example/sso"), "{err}");
        let err = judge(&instance(), StatusCode::NOT_FOUND, false, None, b"nope").unwrap_err();
        assert!(err.message().contains("HTTP 404"), "{err}");
    }
}
