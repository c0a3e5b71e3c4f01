//! The `Link` header (RFC 8288, section 3): a list of `<target>; name=value` entries.
//!
//! It is parsed as the grammar says, not by splitting on commas: instances write raw commas in
//! their targets (`...?sysparm_fields=number,short_description&sysparm_offset=7>;rel="next"`), and
//! quoted parameter values may hold commas and semicolons. [`parse`] is pure and total (any text
//! gives a list, malformed entries are skipped, nothing panics), so a fuzz target can call it.
//! [`resolve`] turns a target into a URL on the instance and refuses any other origin: the
//! session's cookies and token never go to a host that a header named.
//!
//! Hand-written: the crates for it (parse_link_header, http-link) are thinly kept, keep one link
//! per relation, and reject a whole header for one bad entry; the grammar is a few dozen lines.

use reqwest::header::{HeaderMap, LINK};
use url::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::instance::Instance;

/// One entry of a `Link` header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Link {
    /// The target as written between `<` and `>`: a URI reference, absolute or relative,
    /// unresolved (see [`resolve`]).
    pub target: String,
    /// The relation types of the entry's first `rel` parameter, lowercased (RFC 8288 section 3.3:
    /// several types are separated by spaces, a second `rel` is ignored, and registered types
    /// compare case-insensitively).
    pub rels: Vec<String>,
    /// Every parameter in order: names lowercased, quoted values unquoted (`\x` read as `x`), an
    /// empty value for a parameter without `=`.
    pub params: Vec<(String, String)>,
}

impl Link {
    /// True when `rel` (lowercase, such as `next`) is one of the entry's relation types.
    pub fn has_rel(&self, rel: &str) -> bool {
        self.rels.iter().any(|r| r == rel)
    }

    /// The value of the first parameter called `name` (lowercase).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses one `Link` field value into its entries, in order.
///
/// Lenient where RFC 8288 lets a parser be: whitespace around `;`, `,` and `=` is allowed, a
/// value may be a token or a quoted string, and an entry that does not start with `<...>` is
/// skipped up to the next comma outside quotes. An unterminated `<` ends the list; an
/// unterminated quoted string runs to the end of the text. Never panics.
pub fn parse(header: &str) -> Vec<Link> {
    let mut c = Cursor { s: header, at: 0 };
    let mut links = Vec::new();
    loop {
        c.skip(|b| is_space(b) || b == b',');
        match c.peek() {
            None => break,
            Some(b'<') => {}
            Some(_) => {
                c.skip_entry();
                continue;
            }
        }
        let start = c.at + 1;
        let Some(end) = c.find(start, b'>') else {
            break;
        };
        let target = c.slice(start, end).trim().to_owned();
        c.at = end + 1;
        let params = c.params();
        let rels = params
            .iter()
            .find(|(name, _)| name == "rel")
            .map(|(_, value)| {
                value
                    .split_ascii_whitespace()
                    .map(str::to_ascii_lowercase)
                    .collect()
            })
            .unwrap_or_default();
        links.push(Link {
            target,
            rels,
            params,
        });
    }
    links
}

/// The target of the first entry with relation `next` in any of the reply's `Link` fields,
/// unresolved; `None` when there is none.
pub fn next_target(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .flat_map(|value| parse(&String::from_utf8_lossy(value.as_bytes())))
        .find(|link| link.has_rel("next"))
        .map(|link| link.target)
}

/// Resolves `target` (from a `Link` of the reply to `request`) against `request`, as RFC 3986
/// section 5 says, and accepts it only on the instance's own origin (scheme, host and port).
///
/// Errors ([`ErrorKind::Instance`], exit 1) when the target is not a URI reference or names
/// another origin; nothing is sent in either case.
pub fn resolve(instance: &Instance, request: &Url, target: &str) -> Result<Url> {
    let url = request.join(target).map_err(|e| {
        Error::new(
            ErrorKind::Instance,
            format!(
                "{} sent a `Link` to the next page that is not a URL ({e}): {}",
                instance.name,
                shorten(target)
            ),
        )
    })?;
    if url.origin() != instance.url.origin() {
        let named = match url.host_str() {
            Some(host) => format!("{}://{host}{}", url.scheme(), port_suffix(&url)),
            None => shorten(target),
        };
        return Err(Error::new(
            ErrorKind::Instance,
            format!(
                "{} sent a `Link` to the next page on {named}, which is not {}: refused, since \
                 snowbridge sends the session to its own instance only",
                instance.name,
                instance.base()
            ),
        )
        .with_hint(
            "a proxy or an instance property rewrites the links; page with the instance's own URL",
        ));
    }
    Ok(url)
}

fn port_suffix(url: &Url) -> String {
    url.port().map(|p| format!(":{p}")).unwrap_or_default()
}

fn shorten(text: &str) -> String {
    let cut: String = text.chars().take(120).collect();
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// OWS in RFC 9110 is spaces and tabs; line breaks are tolerated too, from folded fields.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// A position in the header. Positions only ever stop on ASCII delimiters or the end, and
/// slices go through `get`, so no index can fall inside a UTF-8 sequence or panic.
struct Cursor<'a> {
    s: &'a str,
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.at).copied()
    }

    fn skip(&mut self, while_: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&while_) {
            self.at += 1;
        }
    }

    fn find(&self, from: usize, byte: u8) -> Option<usize> {
        let rest = self.s.as_bytes().get(from..)?;
        rest.iter().position(|b| *b == byte).map(|i| from + i)
    }

    fn slice(&self, from: usize, to: usize) -> &str {
        self.s.get(from..to).unwrap_or_default()
    }

    /// Skips a malformed entry up to and including the next comma outside a quoted string.
    fn skip_entry(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b',' => {
                    self.at += 1;
                    return;
                }
                b'"' => {
                    self.quoted();
                }
                _ => self.at += 1,
            }
        }
    }

    /// The `; name[=value]` parameters after a target, up to and including the comma that ends
    /// the entry.
    fn params(&mut self) -> Vec<(String, String)> {
        let mut params = Vec::new();
        loop {
            self.skip(is_space);
            match self.peek() {
                None => break,
                Some(b',') => {
                    self.at += 1;
                    break;
                }
                Some(b';') => self.at += 1,
                Some(_) => {
                    // Junk where a `;` belongs: skip it, quoted strings whole.
                    while let Some(b) = self.peek() {
                        match b {
                            b';' | b',' => break,
                            b'"' => {
                                self.quoted();
                            }
                            _ => self.at += 1,
                        }
                    }
                    continue;
                }
            }
            self.skip(is_space);
            let name = self.token().to_ascii_lowercase();
            if name.is_empty() {
                continue;
            }
            self.skip(is_space);
            let value = if self.peek() == Some(b'=') {
                self.at += 1;
                self.skip(is_space);
                if self.peek() == Some(b'"') {
                    self.quoted()
                } else {
                    self.token().to_owned()
                }
            } else {
                String::new()
            };
            params.push((name, value));
        }
        params
    }

    /// A token: everything up to a delimiter of this grammar or whitespace.
    fn token(&mut self) -> &str {
        let start = self.at;
        self.skip(|b| !(is_space(b) || matches!(b, b'=' | b';' | b',' | b'"' | b'<')));
        self.slice(start, self.at)
    }

    /// A quoted string starting at the `"` under the cursor, unquoted (RFC 9110 quoted-pair).
    fn quoted(&mut self) -> String {
        self.at += 1;
        let rest = self.s.get(self.at..).unwrap_or_default();
        let mut out = String::new();
        let mut escaped = false;
        for (i, ch) in rest.char_indices() {
            if escaped {
                out.push(ch);
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                self.at += i + 1;
                return out;
            } else {
                out.push(ch);
            }
        }
        self.at = self.s.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(header: &str, rel: &str) -> Vec<String> {
        parse(header)
            .into_iter()
            .filter(|l| l.has_rel(rel))
            .map(|l| l.target)
            .collect()
    }

    #[test]
    fn raw_commas_in_targets_stay_in_the_target() {
        let h = "<https://acme.service-now.com/api/now/table/incident?sysparm_fields=number,short_description&sysparm_offset=0&sysparm_limit=7>;rel=\"first\",\
                 <https://acme.service-now.com/api/now/table/incident?sysparm_fields=number,short_description&sysparm_offset=7&sysparm_limit=7>;rel=\"next\",\
                 <https://acme.service-now.com/api/now/table/incident?sysparm_fields=number,short_description&sysparm_offset=28&sysparm_limit=7>;rel=\"last\"";
        let links = parse(h);
        assert_eq!(links.len(), 3);
        assert_eq!(
            targets(h, "next"),
            [
                "https://acme.service-now.com/api/now/table/incident?sysparm_fields=number,short_description&sysparm_offset=7&sysparm_limit=7"
            ]
        );
        assert_eq!(links[2].rels, ["last"]);
    }

    #[test]
    fn quoted_values_may_hold_commas_semicolons_and_escapes() {
        let h =
            r#"</a>; title="one, two; three"; rel=next, </b>; rel="prev"; title="say \"hi\"\\""#;
        let links = parse(h);
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].target, "/a");
        assert_eq!(links[0].param("title"), Some("one, two; three"));
        assert!(links[0].has_rel("next"));
        assert_eq!(links[1].target, "/b");
        assert_eq!(links[1].param("title"), Some(r#"say "hi"\"#));
    }

    #[test]
    fn several_relations_case_and_whitespace() {
        let h = "<https://x/p?o=10> ;  REL = \"Next  last\"\t, <https://x/p?o=0>;Rel=First";
        let links = parse(h);
        assert_eq!(links[0].rels, ["next", "last"]);
        assert_eq!(links[1].rels, ["first"]);
        assert_eq!(targets(h, "last"), ["https://x/p?o=10"]);
    }

    #[test]
    fn only_the_first_rel_counts() {
        let links = parse("</a>; rel=prev; rel=next");
        assert_eq!(links[0].rels, ["prev"]);
        assert_eq!(links[0].params.len(), 2);
    }

    #[test]
    fn malformed_entries_are_skipped_not_fatal() {
        let h = r#"garbage, "quoted, junk", </ok>; rel=next; ="x"; ;; flag, </also>; rel="last""#;
        let links = parse(h);
        let names: Vec<&str> = links.iter().map(|l| l.target.as_str()).collect();
        assert_eq!(names, ["/ok", "/also"]);
        assert_eq!(links[0].param("flag"), Some(""));
        assert!(parse("<unterminated; rel=next").is_empty());
        assert_eq!(
            parse(r#"</q>; title="never closed, rel=next"#)[0].rels,
            Vec::<String>::new()
        );
        assert!(parse("").is_empty());
        assert!(parse(" , ,, ").is_empty());
    }

    #[test]
    fn any_text_parses_without_panicking() {
        let samples = [
            "<",
            ">",
            "<>",
            "\"",
            "\\",
            ";",
            "=",
            "<é>;rel=né",
            "<a>;\"",
            "<a>;x=\"\\",
            "é,ü;<ß>",
            "<a>;rel=\"\u{0}\"",
            "<a>\u{feff};rel=next",
            ";;;,,,<<>>\"\"",
        ];
        for s in samples {
            let _ = parse(s);
        }
        // Every prefix of a multi-byte text, so no cut lands inside a character unnoticed.
        let text = "<https://ü.example/ä?b=ö,ç>; rel=\"néxt ñ\"; t=ü, é <x>;rel=last";
        for end in (0..=text.len()).filter(|i| text.is_char_boundary(*i)) {
            let _ = parse(&text[..end]);
        }
    }

    fn instance() -> Instance {
        Instance::parse(
            "dev",
            std::path::Path::new("dev.toml"),
            "url = \"https://acme.service-now.com\"\nauth = \"browser\"\n",
        )
        .unwrap()
    }

    #[test]
    fn targets_resolve_against_the_request() {
        let instance = instance();
        let request =
            Url::parse("https://acme.service-now.com/api/now/table/incident?sysparm_limit=7")
                .unwrap();
        let relative = resolve(&instance, &request, "incident?sysparm_offset=7").unwrap();
        assert_eq!(
            relative.as_str(),
            "https://acme.service-now.com/api/now/table/incident?sysparm_offset=7"
        );
        let rooted = resolve(&instance, &request, "/api/now/table/incident?a=b,c").unwrap();
        assert_eq!(rooted.query(), Some("a=b,c"), "commas are kept raw");
        let absolute = resolve(
            &instance,
            &request,
            "https://acme.service-now.com:443/api/now/table/incident?sysparm_offset=14",
        )
        .unwrap();
        assert_eq!(absolute.path(), "/api/now/table/incident");
    }

    #[test]
    fn other_origins_are_refused() {
        let instance = instance();
        let request = Url::parse("https://acme.service-now.com/api/now/table/incident").unwrap();
        for target in [
            "https://evil.example/api/now/table/incident?sysparm_offset=7",
            "http://acme.service-now.com/api/now/table/incident",
            "https://acme.service-now.com:8443/api/now/table/incident",
            "//evil.example/steal",
            "https://acme.service-now.com.evil.example/x",
            "data:text/plain,hi",
        ] {
            let err = resolve(&instance, &request, target).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Instance, "{target}");
            assert!(err.message().contains("refused"), "{target}: {err}");
        }
        let err = resolve(&instance, &request, "https://evil.example/x?secret=1").unwrap_err();
        assert!(err.message().contains("https://evil.example"), "{err}");
        assert!(!err.message().contains("secret"), "{err}");
    }

    #[test]
    fn next_is_found_in_any_link_field() {
        let mut headers = HeaderMap::new();
        headers.append(LINK, "</a>;rel=first".parse().unwrap());
        headers.append(LINK, "</b,c>;rel=\"next\"".parse().unwrap());
        assert_eq!(next_target(&headers).as_deref(), Some("/b,c"));
        assert_eq!(next_target(&HeaderMap::new()), None);
    }
}
