//! An HTML page where the API's JSON was expected, told apart: a login page (the instance's own,
//! a single sign-on front door's, a TLS-inspecting proxy's), a hibernating developer instance,
//! or anything else. None of them is a working session (servicenow-wire.md, "Paging and replies
//! as real instances send them").
//!
//! Pure functions of the page's text, total on any input.

/// Where a developer instance is woken when its page names no link of its own.
pub const DEVELOPER_PORTAL: &str = "https://developer.servicenow.com";

/// What an HTML page on an API path is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Page {
    /// A form asking for a password, or a single sign-on hand-off: the session is not accepted.
    Login {
        /// The page's `<title>`, when it has one.
        title: Option<String>,
    },
    /// A hibernating developer instance, and where to wake it (a `developer.servicenow.com` URL).
    Hibernating {
        /// The page's wake link, or [`DEVELOPER_PORTAL`].
        wake: String,
    },
    /// Any other page: not ServiceNow's API.
    Other {
        /// The page's `<title>`, when it has one.
        title: Option<String>,
    },
}

/// Classifies an HTML page.
///
/// Hibernation is recognised by the developer program's page (class `instance-hibernating-page`,
/// "Your instance is hibernating", as a public CI log of one shows) or a title that says so. A
/// login page is one with a password input, the instance's login form (`user_name` with
/// `login.do` or `sysverb_login`), or a SAML hand-off (`SAMLRequest`).
pub fn classify(html: &str) -> Page {
    let lower = html.to_ascii_lowercase();
    let title = title(html);
    let title_lower = title.as_deref().unwrap_or_default().to_ascii_lowercase();
    if lower.contains("instance-hibernating-page")
        || lower.contains("instance is hibernating")
        || title_lower.contains("hibernat")
    {
        return Page::Hibernating {
            wake: wake_link(html).unwrap_or_else(|| DEVELOPER_PORTAL.to_owned()),
        };
    }
    let password_input = lower.contains("type=\"password\"")
        || lower.contains("type='password'")
        || lower.contains("type=password");
    let servicenow_login = (lower.contains("login.do") || lower.contains("sysverb_login"))
        && (lower.contains("user_password") || lower.contains("user_name"));
    if password_input || servicenow_login || lower.contains("samlrequest") {
        return Page::Login { title };
    }
    Page::Other { title }
}

/// Does a body that came with no HTML content type read as an HTML page? Front doors and
/// proxies do not always label their pages (`text/plain`, `application/octet-stream`, none at
/// all), and a page is never the API's JSON whatever its label. True when, after an optional
/// byte-order mark and whitespace, the body opens with `<!doctype html`, `<html`, `<head`,
/// `<body` or `<title`, or opens with `<` and holds `<html` in its first 4 KiB. XML (`<?xml`,
/// `<response>`, which a caller may have asked for with `Accept`) is not a page.
pub fn looks_like_html(body: &[u8]) -> bool {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let head = &body[start..body.len().min(start + 4096)];
    if head.first() != Some(&b'<') {
        return false;
    }
    let lower = head.to_ascii_lowercase();
    let opens = |tag: &[u8]| lower.starts_with(tag);
    if opens(b"<?xml") {
        return false;
    }
    opens(b"<!doctype html")
        || opens(b"<html")
        || opens(b"<head")
        || opens(b"<body")
        || opens(b"<title")
        || lower.windows(5).any(|w| w == b"<html")
}

/// The text of the page's `<title>`, whitespace collapsed, the common entities decoded, at most
/// 120 characters.
pub fn title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let open = lower.find("<title")?;
    // `to_ascii_lowercase` keeps byte positions, so they index `html` too.
    let start = open + lower.get(open..)?.find('>')? + 1;
    let end = start + lower.get(start..)?.find("</title")?;
    let raw = html.get(start..end)?;
    let text = raw
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let cut: String = text.chars().take(120).collect();
    let cut = if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    };
    (!cut.is_empty()).then_some(cut)
}

/// The first `https://developer.servicenow.com...` URL in the page (a `href` or a
/// `location.href='...'`), cut at the first quote, space or angle bracket. Only that host is
/// taken, so an error message never sends a person to a link of unknown origin.
fn wake_link(html: &str) -> Option<String> {
    let at = html.find(DEVELOPER_PORTAL)?;
    let rest = html.get(at..)?;
    let end = rest
        .find(|c: char| c == '"' || c == '\'' || c == '<' || c == '>' || c.is_whitespace())
        .unwrap_or(rest.len());
    let link = rest.get(..end)?.replace("&amp;", "&");
    // `https://developer.servicenow.com.evil.example` is not the portal.
    let after = link.get(DEVELOPER_PORTAL.len()..).unwrap_or_default();
    (after.is_empty() || after.starts_with('/')).then_some(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of the developer program's page, from a public CI log of a hibernating
    /// instance answering a REST call.
    const HIBERNATING: &str = r#"<!DOCTYPE html><html><head><title>Instance Hibernating page</title>
        <style>.instance-hibernating-page{max-width:600px}</style></head><body>
        <div class="instance-hibernating-page"><h1>Your instance is hibernating</h1>
        <p class="information">Sign in to the site to wake your instance</p>
        <button onclick="location.href='https://developer.servicenow.com/dev.do#!/home?wu=true';">Sign in</button>
        </div></body></html>"#;

    #[test]
    fn a_hibernating_instance_names_where_to_wake_it() {
        assert_eq!(
            classify(HIBERNATING),
            Page::Hibernating {
                wake: "https://developer.servicenow.com/dev.do#!/home?wu=true".into()
            }
        );
        let bare = "<html><head><title>Instance Hibernating</title></head><body>zzz</body></html>";
        assert_eq!(
            classify(bare),
            Page::Hibernating {
                wake: DEVELOPER_PORTAL.into()
            }
        );
        let spoof = "<title>hibernating</title><a href=\"https://developer.servicenow.com.evil.example/x\">";
        assert_eq!(
            classify(spoof),
            Page::Hibernating {
                wake: DEVELOPER_PORTAL.into()
            }
        );
    }

    #[test]
    fn unlabelled_pages_are_told_from_json_and_xml() {
        for page in [
            "<!DOCTYPE html><html><title>Okta</title></html>",
            "\u{feff}\n  <html lang=en>",
            "<HEAD><TITLE>Blocked</TITLE></HEAD>",
            "<!-- proxy --><html>",
        ] {
            assert!(looks_like_html(page.as_bytes()), "{page:?}");
        }
        for other in [
            "{\"result\": []}",
            "<?xml version=\"1.0\"?><response><result/></response>",
            "<response><result>html</result></response>",
            "",
            "   ",
            "plain text <html",
        ] {
            assert!(!looks_like_html(other.as_bytes()), "{other:?}");
        }
    }

    #[test]
    fn login_pages_of_every_kind() {
        let instance = r#"<html><head><title>Log in | ServiceNow</title></head><body>
            <form action="login.do" method="post"><input id="user_name" name="user_name">
            <input id="user_password" name="user_password" type="password"></form></body></html>"#;
        assert_eq!(
            classify(instance),
            Page::Login {
                title: Some("Log in | ServiceNow".into())
            }
        );
        let sso = r#"<html><head><title>Sign in to your account</title></head><body>
            <form method="post" action="https://login.example.com/"><input type='password' name='passwd'></form>"#;
        assert!(matches!(classify(sso), Page::Login { .. }));
        let saml = r#"<html><body onload="document.forms[0].submit()"><form method="post"
            action="https://idp.example.com/sso"><input type="hidden" name="SAMLRequest" value="PHNhbWw+"></form>"#;
        assert!(matches!(classify(saml), Page::Login { title: None }));
    }

    #[test]
    fn anything_else_is_named_by_its_title() {
        let page = "<HTML><HEAD><TITLE>\n  Access   Denied &amp; logged\n</TITLE></HEAD><BODY>no</BODY></HTML>";
        assert_eq!(
            classify(page),
            Page::Other {
                title: Some("Access Denied & logged".into())
            }
        );
        assert_eq!(classify("<p>hello</p>"), Page::Other { title: None });
        assert_eq!(title("<title></title>"), None);
        assert_eq!(title("<title>never closed"), None);
        let long = format!("<title>{}</title>", "é".repeat(300));
        assert_eq!(title(&long).unwrap().chars().count(), 121);
    }

    #[test]
    fn odd_text_does_not_panic() {
        for text in [
            "",
            "<title",
            "<title>",
            "<tItLe x>ü</TITLE",
            "İ<title>İ</title>",
            "\u{0}",
        ] {
            let _ = classify(text);
        }
    }
}
