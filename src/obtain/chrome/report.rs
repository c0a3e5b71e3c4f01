//! What an import found, kept, skipped and why, in a form a person can read.
//!
//! [`Report`] is plain data the CLI can print (its `Display` is one paragraph) or serialize
//! field by field. It holds cookie names and reasons, never values.

use std::fmt;
use std::path::PathBuf;

use super::decrypt::Reason;

/// One cookie that matched but could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The cookie's name.
    pub name: String,
    /// Its `host_key` as stored (a leading dot marks a domain cookie).
    pub host_key: String,
    /// Why it was left out.
    pub reason: Reason,
}

/// The outcome of one import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The URL the cookies were chosen for.
    pub url: url::Url,
    /// The live database they were read from (a private copy was what was opened).
    pub database: PathBuf,
    /// `meta.version` of the database.
    pub meta_version: u32,
    /// Rows stored for the URL's host or its parent domains.
    pub candidates: usize,
    /// Cookies a request to the URL would carry (domain, path and Secure rules).
    pub found: usize,
    /// Cookies imported.
    pub imported: usize,
    /// Names of matching cookies already expired.
    pub expired: Vec<String>,
    /// Names of matching partitioned (third-party context) cookies, left out.
    pub partitioned: Vec<String>,
    /// Matching cookies that could not be decrypted, each with its reason.
    pub undecryptable: Vec<Skipped>,
    /// Where the keys came from, or why they could not be had.
    pub notes: Vec<String>,
}

impl Report {
    pub(crate) fn new(url: &url::Url, database: PathBuf, meta_version: u32) -> Report {
        Report {
            url: url.clone(),
            database,
            meta_version,
            candidates: 0,
            found: 0,
            imported: 0,
            expired: Vec::new(),
            partitioned: Vec::new(),
            undecryptable: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// True when at least one cookie was skipped because the key did not fit.
    pub fn wrong_key(&self) -> bool {
        self.undecryptable
            .iter()
            .any(|s| matches!(s.reason, Reason::WrongKey { .. }))
    }

    /// The report of a dry run, where nothing was stored: "Would import 2 of 6 cookies ...".
    pub fn as_dry_run(&self) -> impl fmt::Display + '_ {
        Paragraph {
            report: self,
            dry_run: true,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Paragraph {
            report: self,
            dry_run: false,
        }
        .fmt(f)
    }
}

/// The report as one paragraph, in the past tense or, for a dry run, the conditional.
struct Paragraph<'a> {
    report: &'a Report,
    dry_run: bool,
}

impl fmt::Display for Paragraph<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let this = self.report;
        let host = this.url.host_str().unwrap_or("");
        if this.found == 0 {
            write!(
                f,
                "No cookies for {host} in {} ({} stored for the host and its parent domains, none \
                 sent to {}). Chrome writes cookies to disk at most every 30 seconds: if you just \
                 logged in, wait half a minute or close the browser, then try again.",
                this.database.display(),
                this.candidates,
                this.url
            )?;
        } else {
            write!(
                f,
                "{} {} of {} cookies for {host} from {}.",
                if self.dry_run {
                    "Would import"
                } else {
                    "Imported"
                },
                this.imported,
                this.found,
                this.database.display()
            )?;
        }
        if !this.expired.is_empty() {
            write!(f, " Expired: {}.", this.expired.join(", "))?;
        }
        if !this.partitioned.is_empty() {
            write!(
                f,
                " Left out as partitioned (set in a third-party frame): {}.",
                this.partitioned.join(", ")
            )?;
        }
        for skipped in &this.undecryptable {
            write!(f, " {} not decrypted: {}.", skipped.name, skipped.reason)?;
        }
        for note in &this.notes {
            write!(f, " {note}.")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_import_explains_chromes_write_delay() {
        let r = Report::new(
            &url::Url::parse("https://acme.example/").unwrap(),
            PathBuf::from("/p/Cookies"),
            24,
        );
        let text = r.to_string();
        assert!(text.contains("No cookies for acme.example"), "{text}");
        assert!(text.contains("30 seconds"), "{text}");
    }

    #[test]
    fn skipped_cookies_are_named_with_their_reason() {
        let mut r = Report::new(
            &url::Url::parse("https://acme.example/").unwrap(),
            PathBuf::from("/p/Cookies"),
            24,
        );
        r.found = 2;
        r.imported = 1;
        r.undecryptable.push(Skipped {
            name: "glide_session_store".into(),
            host_key: "acme.example".into(),
            reason: Reason::AppBound,
        });
        let text = r.to_string();
        assert!(text.starts_with("Imported 1 of 2 cookies"), "{text}");
        let dry = r.as_dry_run().to_string();
        assert!(dry.starts_with("Would import 1 of 2 cookies"), "{dry}");
        assert!(
            text.contains("glide_session_store not decrypted: app-bound"),
            "{text}"
        );
        assert!(!r.wrong_key());
    }
}
