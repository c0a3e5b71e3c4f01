//! What `api` sends besides the path: the body of `-d BODY|@FILE|@-` and the `-H` headers,
//! checked before anything goes out.
//!
//! A JSON body is decoded to UTF-8 from the encodings files have on the desks that write them
//! (UTF-8 with a byte-order mark; UTF-16 LE or BE with one, as PowerShell's `Out-File` and `>`
//! write) and must parse as JSON; otherwise it is refused, naming where it came from, the line
//! and the column, and nothing is sent. An empty body is refused unless asked for. A body with
//! a `-H Content-Type` that is not JSON goes as its bytes are, unchecked (an image to the
//! Attachment API). Headers that snowbridge owns (the session's cookies and token, the
//! credentials, what HTTP computes) cannot be set with `-H`, and no error repeats a header's
//! value, which may be a secret.

use std::fmt;
use std::io::Read;
use std::path::PathBuf;

use mime_guess::mime;
use reqwest::header::{HeaderName, HeaderValue};
use snowbridge::{Error, ErrorKind, Result};

/// Where a body came from, as messages name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The text of `-d` itself.
    Argument,
    /// `-d @FILE`.
    File(PathBuf),
    /// `-d @-`.
    Stdin,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Argument => f.write_str("the -d body"),
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Stdin => f.write_str("the body read from stdin"),
        }
    }
}

impl Origin {
    /// A body from the command line is bad usage (exit 2); one from a file or stdin is input
    /// that could not be used (exit 1), as a broken instance file is.
    fn kind(&self) -> ErrorKind {
        match self {
            Origin::Argument => ErrorKind::Usage,
            Origin::File(_) | Origin::Stdin => ErrorKind::BadInput,
        }
    }
}

/// A body ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestBody {
    /// The bytes: UTF-8 JSON, or a non-JSON body exactly as read.
    pub bytes: bytes::Bytes,
    /// Its Content-Type: `application/json`, or the one `-H` gave.
    pub content_type: String,
}

/// The default Content-Type of a `-d` body.
const JSON: &str = "application/json";

/// Reads the body `-d` names (`TEXT`, `@FILE`, `@-` for stdin) and makes it ready to send
/// as `content_type` (`None`: JSON). Errors name the origin: an unreadable file or stdin, or
/// (for JSON) undecodable bytes or invalid JSON with the line and column, are
/// [`ErrorKind::BadInput`] (exit 1) from a file or stdin and [`ErrorKind::Usage`] (exit 2) from
/// the argument; so is an empty (or all-whitespace) body without `allow_empty`.
pub fn read(data: &str, content_type: Option<&str>, allow_empty: bool) -> Result<RequestBody> {
    let (origin, raw) = load(data)?;
    prepare(&origin, raw, content_type, allow_empty)
}

/// Reads the bytes of `-d` from where it points.
fn load(data: &str) -> Result<(Origin, Vec<u8>)> {
    let Some(source) = data.strip_prefix('@') else {
        return Ok((Origin::Argument, data.as_bytes().to_vec()));
    };
    if source == "-" {
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .map_err(|e| Error::bad_input(format!("cannot read the body from stdin: {e}")))?;
        return Ok((Origin::Stdin, body));
    }
    let path = PathBuf::from(source);
    let body = std::fs::read(&path)
        .map_err(|e| Error::bad_input(format!("cannot read the body file {source}: {e}")))?;
    Ok((Origin::File(path), body))
}

/// Checks and decodes `raw` from `origin`; see [`read`].
pub fn prepare(
    origin: &Origin,
    raw: Vec<u8>,
    content_type: Option<&str>,
    allow_empty: bool,
) -> Result<RequestBody> {
    let content_type = content_type.unwrap_or(JSON);
    let is_blank = raw.iter().all(u8::is_ascii_whitespace);
    if is_blank && !allow_empty {
        return Err(Error::new(
            origin.kind(),
            format!(
                "{origin} is empty{}: nothing was sent",
                if raw.is_empty() {
                    ""
                } else {
                    " (only whitespace)"
                }
            ),
        )
        .with_hint(
            "to send a request without a body, leave out -d (give the method with -X); \
             to send this empty body as it is, add --allow-empty-body",
        ));
    }
    if !is_json(content_type) || (is_blank && allow_empty) {
        return Ok(RequestBody {
            bytes: raw.into(),
            content_type: content_type.to_owned(),
        });
    }
    let text = decode(origin, raw)?;
    check_json(origin, &text)?;
    Ok(RequestBody {
        bytes: text.into_bytes().into(),
        content_type: content_type.to_owned(),
    })
}

/// Is `content_type` JSON (`application/json`, or any `+json` type)?
fn is_json(content_type: &str) -> bool {
    content_type
        .parse::<mime::Mime>()
        .is_ok_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
}

/// Text from bytes in UTF-8 (a byte-order mark dropped) or UTF-16 with a byte-order mark.
/// Hand-written on std's `str::from_utf8` and `char::decode_utf16`: the three BOMs are all
/// there is to sniff, and errors must name the line and column, which decoding crates do not.
pub fn decode(origin: &Origin, raw: Vec<u8>) -> Result<String> {
    const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
    let fail = |message: String| {
        Error::new(
            origin.kind(),
            format!("{origin} {message}: nothing was sent"),
        )
        .with_hint(
            "save the body as UTF-8 (with or without a byte-order mark) or as UTF-16 with one \
             (PowerShell: Out-File -Encoding utf8)",
        )
    };
    if raw.starts_with(b"\xFF\xFE\x00\x00") || raw.starts_with(b"\x00\x00\xFE\xFF") {
        return Err(fail("is UTF-32, which snowbridge does not decode".into()));
    }
    let utf16 = match raw.get(..2) {
        Some(b"\xFF\xFE") => Some(u16::from_le_bytes as fn([u8; 2]) -> u16),
        Some(b"\xFE\xFF") => Some(u16::from_be_bytes as fn([u8; 2]) -> u16),
        _ => None,
    };
    if let Some(unit) = utf16 {
        let units = &raw[2..];
        let mut text = String::with_capacity(units.len() / 2);
        let code_units = units.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
        for decoded in char::decode_utf16(code_units) {
            match decoded {
                Ok(c) => text.push(c),
                Err(_) => {
                    let (line, column) = end_position(&text);
                    return Err(fail(format!(
                        "is not valid UTF-16 at line {line}, column {column} (a lone surrogate)"
                    )));
                }
            }
        }
        if units.len() % 2 == 1 {
            let (line, column) = end_position(&text);
            return Err(fail(format!(
                "is not valid UTF-16: it ends in half a character, at line {line}, column {column}"
            )));
        }
        return Ok(text);
    }
    let body = raw.strip_prefix(UTF8_BOM).unwrap_or(&raw);
    match std::str::from_utf8(body) {
        Ok(text) => Ok(text.to_owned()),
        Err(e) => {
            let valid = std::str::from_utf8(&body[..e.valid_up_to()]).unwrap_or_default();
            let (line, column) = end_position(valid);
            let mut message = format!(
                "is not UTF-8 text: byte {} (line {line}, column {column}) is not part of a UTF-8 character",
                e.valid_up_to()
                    + 1
                    + if body.len() < raw.len() {
                        UTF8_BOM.len()
                    } else {
                        0
                    }
            );
            if looks_like_bomless_utf16(body) {
                message.push_str("; it looks like UTF-16 without a byte-order mark");
            }
            Err(fail(message))
        }
    }
}

/// UTF-16 text of mostly ASCII has a zero in every other byte.
fn looks_like_bomless_utf16(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(64)];
    sample.len() >= 4 && sample.iter().filter(|b| **b == 0).count() * 3 >= sample.len()
}

/// The 1-based line and column (in characters) just after the end of `text`.
fn end_position(text: &str) -> (usize, usize) {
    let line = text.matches('\n').count() + 1;
    let last = text.rsplit('\n').next().unwrap_or_default();
    (line, last.chars().count() + 1)
}

/// Refuses `text` that is not one JSON value, naming the line and column (in characters).
pub fn check_json(origin: &Origin, text: &str) -> Result<()> {
    let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) else {
        return Ok(());
    };
    // serde_json counts columns in bytes, and puts an error found on reading a line break at
    // column 0 of the next line; people count characters, and see the end of the line.
    let lines: Vec<&str> = text.split('\n').collect();
    let (line, column) = match (e.line(), e.column()) {
        (line, 0) if line > 1 => {
            let previous = lines.get(line - 2).copied().unwrap_or("");
            (
                line - 1,
                previous.trim_end_matches('\r').chars().count() + 1,
            )
        }
        (line, column) => {
            let line_text = lines.get(line.saturating_sub(1)).copied().unwrap_or("");
            let mut upto = column.min(line_text.len());
            while !line_text.is_char_boundary(upto) {
                upto -= 1;
            }
            (line, line_text[..upto].chars().count())
        }
    };
    let what = e.to_string();
    let what = what
        .rsplit_once(" at line ")
        .map_or(what.as_str(), |(what, _)| what);
    let mut err = Error::new(
        origin.kind(),
        format!(
            "{origin} is not valid JSON: {what} at line {line}, column {column}: nothing was sent"
        ),
    );
    if text.contains('\0') {
        err = err.with_hint(
            "it holds NUL characters: it may be UTF-16 without a byte-order mark; save it as UTF-8",
        );
    }
    Err(err)
}

/// Headers that snowbridge sets itself, and why a `-H` may not replace them.
const OWNED: &[(&str, &str)] = &[
    (
        "cookie",
        "the session's cookies go with every call, rotated ones included",
    ),
    (
        "x-usertoken",
        "the session's CSRF token goes with every call and is renewed when the instance offers a fresh one",
    ),
    (
        "authorization",
        "snowbridge authenticates the call with the instance's session or token; a second credential would make the instance pick one",
    ),
    (
        "x-sn-apikey",
        "snowbridge authenticates the call with the instance's session or token; a second credential would make the instance pick one",
    ),
    ("host", "the instance's URL decides it"),
    (
        "accept",
        "snowbridge asks for JSON and reads the reply as JSON",
    ),
    (
        "user-agent",
        "the session goes with the User-Agent of the browser it came from, which some instances check",
    ),
    ("content-length", "it is computed from the body"),
    ("transfer-encoding", "the HTTP client frames the body"),
    ("connection", "the HTTP client manages its connections"),
    ("keep-alive", "the HTTP client manages its connections"),
    ("upgrade", "the HTTP client manages its connections"),
    ("te", "the HTTP client manages its connections"),
    (
        "proxy-authorization",
        "proxies are the HTTP client's (HTTPS_PROXY)",
    ),
];

/// The `-H` headers, parsed.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    /// Headers to add to the call, values marked sensitive (kept out of logs).
    pub extra: Vec<(HeaderName, HeaderValue)>,
    /// A `Content-Type` given with `-H`: the body's.
    pub content_type: Option<String>,
}

/// Parses `-H 'Name: value'` arguments. Errors ([`ErrorKind::Usage`]) say which argument (by
/// position and, once it is known to be one, by name) and never repeat a value.
pub fn headers(raw: &[String]) -> Result<Headers> {
    let mut out = Headers::default();
    for (i, header) in raw.iter().enumerate() {
        let nth = ordinal(i + 1);
        let (name, value) = header.split_once(':').ok_or_else(|| {
            Error::usage(format!(
                "the {nth} -H has no `:` (its text is not shown; it may hold a secret)"
            ))
            .with_hint("write headers as -H 'Name: value'")
        })?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            Error::usage(format!(
                "the {nth} -H does not start with a header name (letters, digits and !#$%&'*+-.^_`|~ before the `:`)"
            ))
            .with_hint("write headers as -H 'Name: value'")
        })?;
        if let Some((_, why)) = OWNED.iter().find(|(owned, _)| name.as_str() == *owned) {
            return Err(Error::usage(format!(
                "-H {name} is refused: snowbridge sets this header itself ({why})"
            )));
        }
        let mut value = HeaderValue::from_str(value.trim()).map_err(|_| {
            Error::usage(format!(
                "the value of -H {name} holds a line break or another character a header cannot carry (the value is not shown)"
            ))
        })?;
        if name == reqwest::header::CONTENT_TYPE {
            let text = value
                .to_str()
                .map_err(|_| Error::usage(format!("the value of -H {name} is not ASCII text")))?;
            out.content_type = Some(text.to_owned());
            continue;
        }
        value.set_sensitive(true);
        out.extra.push((name, value));
    }
    Ok(out)
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Origin {
        Origin::File("body.json".into())
    }

    fn utf16(text: &str, little: bool) -> Vec<u8> {
        let mut out = if little {
            vec![0xFF, 0xFE]
        } else {
            vec![0xFE, 0xFF]
        };
        for unit in text.encode_utf16() {
            out.extend(if little {
                unit.to_le_bytes()
            } else {
                unit.to_be_bytes()
            });
        }
        out
    }

    const TEXT: &str = "{\"short_description\": \"Drucker: Papierstau – ünïcödé ✓ 日本語 🖨\"}";

    #[test]
    fn bom_utf8_and_utf16_decode_to_the_same_text() {
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend(TEXT.as_bytes());
        for raw in [
            TEXT.as_bytes().to_vec(),
            bom,
            utf16(TEXT, true),
            utf16(TEXT, false),
        ] {
            let body = prepare(&file(), raw, None, false).unwrap();
            assert_eq!(body.bytes, TEXT.as_bytes());
            assert_eq!(body.content_type, "application/json");
        }
    }

    #[test]
    fn undecodable_bytes_are_refused_with_where() {
        let e = decode(&file(), b"{\n  \"a\": \"\xC3\x28\"}".to_vec()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadInput);
        assert!(
            e.message().starts_with("body.json is not UTF-8"),
            "{}",
            e.message()
        );
        assert!(e.message().contains("line 2, column 9"), "{}", e.message());
        let e = decode(&Origin::Argument, b"\xFF\xFE\x00\xD8".to_vec()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Usage);
        assert!(e.message().contains("lone surrogate"), "{}", e.message());
        let e = decode(&Origin::Stdin, b"\xFE\xFF\x00{\x00".to_vec()).unwrap_err();
        assert!(e.message().contains("half a character"), "{}", e.message());
        let e = decode(&file(), b"\xFF\xFE\x00\x00{\x00\x00\x00".to_vec()).unwrap_err();
        assert!(e.message().contains("UTF-32"), "{}", e.message());
        let mut bomless = utf16("{\"a\": \"é\"}", true);
        bomless.drain(..2);
        bomless.push(0xFF);
        let e = decode(&file(), bomless).unwrap_err();
        assert!(e.message().contains("UTF-16 without"), "{}", e.message());
    }

    #[test]
    fn invalid_json_is_refused_with_line_and_column_in_characters() {
        let e = check_json(&file(), "{\n  \"é\": 1,\n  \"b\": tru\n}").unwrap_err();
        assert_eq!(
            e.message(),
            "body.json is not valid JSON: expected ident at line 3, column 11: nothing was sent"
        );
        let e = check_json(&file(), "{\"ü\": 1} x").unwrap_err();
        assert!(
            e.message()
                .contains("trailing characters at line 1, column 10"),
            "{}",
            e.message()
        );
        assert!(check_json(&file(), " [1, {\"a\": null}]\n").is_ok());
    }

    #[test]
    fn empty_bodies_need_asking_for() {
        for raw in [&b""[..], b" \r\n\t"] {
            let e = prepare(&Origin::Stdin, raw.to_vec(), None, false).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BadInput);
            let e = prepare(&Origin::Argument, raw.to_vec(), None, false).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Usage);
            assert!(e.message().contains("empty"), "{}", e.message());
            assert!(e.hint().unwrap().contains("--allow-empty-body"));
            let body = prepare(&Origin::Stdin, raw.to_vec(), None, true).unwrap();
            assert_eq!(body.bytes, raw);
        }
    }

    #[test]
    fn bodies_of_other_types_go_as_they_are() {
        let png = b"\xFF\xFE\x89PNG\r\n\x1a\n\xC3\x28".to_vec();
        let body = prepare(&file(), png.clone(), Some("image/png"), false).unwrap();
        assert_eq!(body.bytes, png);
        assert_eq!(body.content_type, "image/png");
        let e = prepare(
            &file(),
            b"{".to_vec(),
            Some("application/vnd.api+json; charset=utf-8"),
            false,
        )
        .unwrap_err();
        assert!(e.message().contains("not valid JSON"), "{}", e.message());
    }

    #[test]
    fn header_errors_never_show_a_value() {
        let secret = "s3cr3t-token-value";
        for (raw, says) in [
            (format!("Bearer {secret}"), "1st -H has no `:`"),
            (
                format!("X Bad: {secret}"),
                "does not start with a header name",
            ),
            (format!("X-Note: a\x01{secret}"), "value of -H x-note"),
            (
                format!("Authorization: Bearer {secret}"),
                "-H authorization is refused",
            ),
            (
                format!("cookie: JSESSIONID={secret}"),
                "-H cookie is refused",
            ),
            (format!("X-UserToken: {secret}"), "the session's CSRF token"),
            (
                format!("Content-Length: {secret}"),
                "computed from the body",
            ),
        ] {
            let e = headers(&[raw]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Usage);
            let all = format!("{} {}", e.message(), e.hint().unwrap_or_default());
            assert!(all.contains(says), "{all}");
            assert!(!all.contains(secret), "{all}");
        }
    }

    #[test]
    fn headers_parse_and_content_type_goes_to_the_body() {
        let parsed = headers(&[
            "X-Request-Id:  abc ".to_owned(),
            "Content-Type: application/xml".to_owned(),
            "X-Empty:".to_owned(),
        ])
        .unwrap();
        assert_eq!(parsed.content_type.as_deref(), Some("application/xml"));
        let names: Vec<(&str, &[u8])> = parsed
            .extra
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        assert_eq!(names, [("x-request-id", &b"abc"[..]), ("x-empty", b"")]);
        assert!(parsed.extra.iter().all(|(_, v)| v.is_sensitive()));
        assert_eq!(ordinal(2), "2nd");
        assert_eq!(ordinal(12), "12th");
        assert_eq!(ordinal(23), "23rd");
    }
}
