//! Instance files: what an instance is, parsed and validated in one place.
//!
//! An instance is `NAME.toml` in the project's `instances/` or in the user's own
//! `instances/` folder (the user's win on a clash). This module turns those files into
//! [`Instance`] values and every mistake in them into an error naming the file, the key and the
//! fix. It reads files and nothing else: no network, no secrets.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, ErrorKind, NextStep, Result};
use crate::paths::{self, Dirs};

/// How snowbridge gets into an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// A browser session (login through Chrome, or imported from the user's Chrome).
    Browser,
    /// HTTP Basic with username and password.
    Basic,
    /// An API key sent as `x-sn-apikey`.
    ApiKey,
    /// OAuth 2 password grant, refreshed with the refresh token.
    OauthPassword,
    /// OAuth 2 authorization code with PKCE, through the browser.
    OauthPkce,
    /// OAuth 2 client credentials.
    OauthClientCredentials,
    /// OAuth 2 JWT bearer grant.
    Jwt,
    /// Mutual TLS: a client certificate mapped to a user.
    Mtls,
}

impl AuthMethod {
    /// The name used in instance files.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Browser => "browser",
            AuthMethod::Basic => "basic",
            AuthMethod::ApiKey => "api-key",
            AuthMethod::OauthPassword => "oauth-password",
            AuthMethod::OauthPkce => "oauth-pkce",
            AuthMethod::OauthClientCredentials => "oauth-client-credentials",
            AuthMethod::Jwt => "jwt",
            AuthMethod::Mtls => "mtls",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// May the browser be used when the JSON path refuses?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Fallback {
    /// Yes, on the refusals that mean only the UI can do it.
    #[default]
    Auto,
    /// Never: report the refusal.
    Never,
}

/// Which Chrome profile to import cookies from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChromeSource {
    /// `chrome`, `chromium`, `edge` or `brave`.
    #[serde(default = "default_browser")]
    pub browser: String,
    /// The profile folder (`Default`, `Profile 1`) or the name the person gave it.
    #[serde(default)]
    pub profile: Option<String>,
    /// A user-data folder other than the browser's usual one.
    #[serde(default)]
    pub user_data_dir: Option<PathBuf>,
}

fn default_browser() -> String {
    "chrome".to_owned()
}

/// The `[oauth]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// The OAuth application's client id.
    pub client_id: String,
    /// Scopes to ask for (space separated on the wire).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The loopback port for the authorization-code redirect.
    #[serde(default)]
    pub redirect_port: Option<u16>,
    /// For the JWT bearer grant: the private key (PEM) that signs assertions.
    #[serde(default)]
    pub jwt_key: Option<PathBuf>,
    /// For the JWT bearer grant: the key id (`kid`) the instance knows the key by.
    #[serde(default)]
    pub jwt_kid: Option<String>,
    /// For the JWT bearer grant: the `sub` claim (the user); defaults to `username`.
    #[serde(default)]
    pub jwt_subject: Option<String>,
    /// For the JWT bearer grant, instead of `jwt_key`: a command (split like a shell would, run
    /// without one) that prints a fresh JWT on stdout.
    #[serde(default)]
    pub jwt_command: Option<String>,
}

/// The `[mtls]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsConfig {
    /// The client certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

/// An instance file as written, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceFile {
    url: String,
    #[serde(default = "default_auth")]
    auth: AuthMethod,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    import_chrome: Option<ChromeSource>,
    #[serde(default)]
    fallback: Fallback,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    timeout_secs: Option<u64>,
    #[serde(default)]
    validate_every_secs: Option<u64>,
    #[serde(default)]
    oauth: Option<OAuthConfig>,
    #[serde(default)]
    mtls: Option<MtlsConfig>,
}

fn default_auth() -> AuthMethod {
    AuthMethod::Browser
}

/// A validated instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    /// The name: the file name without `.toml`.
    pub name: String,
    /// The instance's base URL, without a trailing slash.
    pub url: Url,
    /// How snowbridge gets in.
    pub auth: AuthMethod,
    /// The user to log in as, when fixed.
    pub username: Option<String>,
    /// Where to import cookies from, if anywhere.
    pub import_chrome: Option<ChromeSource>,
    /// May the browser be used where the JSON path refuses.
    pub fallback: Fallback,
    /// Extra CA certificates to trust (absolute path).
    pub ca_file: Option<PathBuf>,
    /// HTTP request timeout.
    pub timeout: std::time::Duration,
    /// How long a successful validation is trusted before the next round trip.
    pub validate_every: std::time::Duration,
    /// The `[oauth]` section.
    pub oauth: Option<OAuthConfig>,
    /// The `[mtls]` section (paths absolute).
    pub mtls: Option<MtlsConfig>,
    /// The file this came from.
    pub source: PathBuf,
}

impl Instance {
    /// Parses and validates the text of the instance file `path`.
    pub fn parse(name: &str, path: &Path, text: &str) -> Result<Instance> {
        let file: InstanceFile = toml::from_str(text).map_err(|e| {
            toml_error(
                path,
                text,
                &e,
                "see instances/example.toml for a commented example",
            )
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let invalid = |key: &str, problem: String, fix: &str| {
            invalid_key(path, text, key, &problem).with_hint(fix.to_owned())
        };

        let url = Url::parse(&file.url).map_err(|e| {
            invalid(
                "url",
                format!("{:?} is not a URL ({e})", file.url),
                "write the instance's address, like url = \"https://acme.service-now.com\"",
            )
        })?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(invalid(
                    "url",
                    format!("{} is plain http on a host that is not loopback", file.url),
                    "use https:// (plain http is accepted only for 127.0.0.1, ::1 and localhost)",
                ));
            }
            other => {
                return Err(invalid(
                    "url",
                    format!("scheme {other:?} is not https"),
                    "use an https:// address",
                ));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid(
                "url",
                "the address has no host".into(),
                "write the instance's address, like url = \"https://acme.service-now.com\"",
            ));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "url",
                format!("{} has a path, query or fragment", file.url),
                "give the instance's base address only, like https://acme.service-now.com",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "url",
                "the address carries a user name or password".into(),
                "remove them from the URL: passwords come from the keyring, the environment or a prompt",
            ));
        }

        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let ca_file = file.ca_file.map(resolve);
        let mtls = file.mtls.map(|m| MtlsConfig {
            cert: resolve(m.cert),
            key: resolve(m.key),
        });
        let oauth = file.oauth.map(|mut o| {
            o.jwt_key = o.jwt_key.map(resolve);
            o
        });

        let needs_oauth = matches!(
            file.auth,
            AuthMethod::OauthPassword
                | AuthMethod::OauthPkce
                | AuthMethod::OauthClientCredentials
                | AuthMethod::Jwt
        );
        if needs_oauth && oauth.is_none() {
            return Err(invalid(
                "auth",
                format!("auth = \"{}\" needs an [oauth] section", file.auth),
                "add [oauth] with client_id = \"...\"",
            ));
        }
        if file.auth == AuthMethod::Mtls && mtls.is_none() {
            return Err(invalid(
                "auth",
                "auth = \"mtls\" needs an [mtls] section".into(),
                "add [mtls] with cert = \"client.pem\" and key = \"client.key\"",
            ));
        }
        if file.auth == AuthMethod::Jwt
            && oauth
                .as_ref()
                .is_some_and(|o| o.jwt_key.is_none() && o.jwt_command.is_none())
        {
            return Err(invalid(
                "oauth.jwt_key",
                "auth = \"jwt\" needs the key that signs assertions, or a command that prints them"
                    .into(),
                "add jwt_key = \"jwt-private.pem\" and jwt_kid = \"...\" under [oauth], or jwt_command = \"...\"",
            ));
        }
        if file.auth == AuthMethod::Jwt
            && oauth
                .as_ref()
                .is_some_and(|o| o.jwt_key.is_some() && o.jwt_command.is_some())
        {
            return Err(invalid(
                "oauth.jwt_command",
                "jwt_key and jwt_command both say where assertions come from".into(),
                "keep one of them under [oauth]",
            ));
        }
        if file.auth == AuthMethod::Jwt
            && oauth
                .as_ref()
                .is_some_and(|o| o.jwt_key.is_some() && o.jwt_kid.is_none())
        {
            return Err(invalid(
                "oauth.jwt_kid",
                "jwt_key needs the key id the instance's JWT verifier map knows it by".into(),
                "add jwt_kid = \"...\" under [oauth]",
            ));
        }
        if file.auth == AuthMethod::Jwt
            && oauth.as_ref().is_some_and(|o| {
                o.jwt_key.is_some() && o.jwt_subject.is_none() && file.username.is_none()
            })
        {
            return Err(invalid(
                "oauth.jwt_subject",
                "a signed assertion needs its subject (`sub`): the user it acts as".into(),
                "add jwt_subject = \"...\" under [oauth], or username = \"...\"",
            ));
        }
        if matches!(file.auth, AuthMethod::Basic | AuthMethod::OauthPassword)
            && file.username.as_deref().is_none_or(str::is_empty)
        {
            return Err(invalid(
                "username",
                format!("auth = \"{}\" needs the user to log in as", file.auth),
                "add username = \"...\"",
            ));
        }
        if let Some(source) = &import_chrome_check(&file.import_chrome) {
            let known = ["chrome", "chromium", "edge", "brave"];
            let fix = match closest(source, known) {
                Some(near) => format!("did you mean \"{near}\"? It is one of {}", known.join(", ")),
                None => format!("use one of {}", known.join(", ")),
            };
            return Err(invalid(
                "import_chrome.browser",
                format!("{source:?} is not a browser snowbridge knows"),
                &fix,
            ));
        }
        if file.timeout_secs == Some(0) {
            return Err(invalid(
                "timeout_secs",
                "0 would make every request fail".into(),
                "use a number of seconds, like timeout_secs = 30",
            ));
        }

        Ok(Instance {
            name: name.to_owned(),
            url,
            auth: file.auth,
            username: file.username.filter(|u| !u.is_empty()),
            import_chrome: file.import_chrome,
            fallback: file.fallback,
            ca_file,
            timeout: std::time::Duration::from_secs(file.timeout_secs.unwrap_or(30)),
            validate_every: std::time::Duration::from_secs(file.validate_every_secs.unwrap_or(60)),
            oauth,
            mtls,
            source: path.to_path_buf(),
        })
    }

    /// Reads and validates the instance file at `path`.
    pub fn load(path: &Path) -> Result<Instance> {
        let name = instance_name(path).ok_or_else(|| {
            Error::bad_input(format!(
                "{}: an instance file must be named NAME.toml",
                display_path(path)
            ))
        })?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            let err = Error::bad_input(format!("cannot read {}: {e}", display_path(path)));
            if e.kind() == std::io::ErrorKind::NotFound {
                err.with_hint(
                    "check the path; the catalogue lists the instance files snowbridge knows",
                )
            } else {
                err
            }
        })?;
        let instance = Instance::parse(&name, path, &text)?;
        instance.check_files(&text)?;
        Ok(instance)
    }

    /// Errors, naming the key and its line, when a file the instance names (`ca_file`, the
    /// `[mtls]` certificate and key, the JWT key) cannot be read: found now rather than as a
    /// TLS or login failure later.
    fn check_files(&self, text: &str) -> Result<()> {
        let mut named: Vec<(&str, &Path)> = Vec::new();
        if let Some(ca) = &self.ca_file {
            named.push(("ca_file", ca));
        }
        if let Some(mtls) = &self.mtls {
            named.push(("mtls.cert", &mtls.cert));
            named.push(("mtls.key", &mtls.key));
        }
        if let Some(key) = self.oauth.as_ref().and_then(|o| o.jwt_key.as_deref()) {
            named.push(("oauth.jwt_key", key));
        }
        for (key, file) in named {
            let problem = match std::fs::metadata(file) {
                Ok(meta) if meta.is_file() => match std::fs::File::open(file) {
                    Ok(_) => continue,
                    Err(e) => format!("{} cannot be read: {e}", file.display()),
                },
                Ok(_) => format!("{} is not a file", file.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    format!("{} does not exist", file.display())
                }
                Err(e) => format!("{} cannot be read: {e}", file.display()),
            };
            return Err(invalid_key(&self.source, text, key, &problem).with_hint(
                "put the file there, or fix the path (a relative path is taken from the instance file's folder)",
            ));
        }
        Ok(())
    }

    /// The instance's base URL as text, without a trailing slash.
    pub fn base(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    /// `path` (starting with `/`) on this instance.
    pub fn join(&self, path: &str) -> Result<Url> {
        self.url
            .join(path)
            .map_err(|e| Error::usage(format!("{path:?} is not a path on {}: {e}", self.base())))
    }
}

fn import_chrome_check(source: &Option<ChromeSource>) -> Option<String> {
    let browser = &source.as_ref()?.browser;
    (!matches!(browser.as_str(), "chrome" | "chromium" | "edge" | "brave")).then(|| browser.clone())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn instance_name(path: &Path) -> Option<String> {
    if path.extension()? != "toml" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    let valid = !stem.is_empty()
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    valid.then(|| stem.to_owned())
}

fn display_path(path: &Path) -> String {
    path.display().to_string()
}

/// A value that parsed but is not usable: `file:line: key `KEY`: problem` (the line where
/// `key` is written, when it is).
fn invalid_key(path: &Path, text: &str, key: &str, problem: &str) -> Error {
    let location = match line_of_key(text, key) {
        Some(line) => format!("{}:{line}", display_path(path)),
        None => display_path(path),
    };
    Error::bad_input(format!("{location}: key `{key}`: {problem}"))
}

/// An example of each key an instance file takes, given as the fix for a wrong value. A key
/// left out here still gets the generic fix.
const KEY_EXAMPLES: &[(&str, &str)] = &[
    ("url", "url = \"https://acme.service-now.com\""),
    ("auth", "auth = \"browser\""),
    ("username", "username = \"jdoe\""),
    (
        "import_chrome",
        "import_chrome = { browser = \"chrome\", profile = \"Default\" }",
    ),
    ("import_chrome.browser", "browser = \"chrome\""),
    ("import_chrome.profile", "profile = \"Default\""),
    (
        "import_chrome.user_data_dir",
        "user_data_dir = \"/home/jdoe/.config/google-chrome\"",
    ),
    ("fallback", "fallback = \"auto\""),
    ("ca_file", "ca_file = \"corp-root.pem\""),
    ("timeout_secs", "timeout_secs = 30"),
    ("validate_every_secs", "validate_every_secs = 60"),
    ("oauth", "[oauth] with client_id = \"...\""),
    (
        "oauth.client_id",
        "client_id = \"3e57bb02663102004d010ee8f561307a\"",
    ),
    ("oauth.scopes", "scopes = [\"useraccount\"]"),
    ("oauth.redirect_port", "redirect_port = 8400"),
    ("oauth.jwt_key", "jwt_key = \"integration-key.pem\""),
    ("oauth.jwt_kid", "jwt_kid = \"snowbridge-1\""),
    (
        "mtls",
        "[mtls] with cert = \"client.pem\" and key = \"client.key\"",
    ),
    ("mtls.cert", "cert = \"client.pem\""),
    ("mtls.key", "key = \"client.key\""),
];

/// How a key is written, for the fix of a wrong or missing value.
fn example_of(key: &str) -> Option<&'static str> {
    KEY_EXAMPLES
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, example)| *example)
}

/// The candidate closest to `word`, when one is close enough to be what was meant: at most one
/// edit (a transposition counts as one) in up to six characters, a third of them in longer
/// words. Edit distance rather than clap's Jaro score, which misses transposed letters in the
/// short names instances have (`dve` for `dev`).
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(distance, c)| *distance <= (c.chars().count() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// The words serde quotes in backticks, in order: for `unknown field `x`, expected one of `a`,
/// `b`` the unknown word first, then the expected ones.
fn backticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

/// The 1-based line and column of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The `[section]` a byte offset falls under (`None` at the top level).
fn section_at(text: &str, offset: usize) -> Option<String> {
    text[..floor_char_boundary(text, offset)]
        .lines()
        .rev()
        .find_map(|l| {
            let l = l.trim();
            l.starts_with('[')
                .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned())
        })
}

/// The dotted key whose value starts at byte `offset` (`timeout_secs`, `oauth.client_id`,
/// `import_chrome.browser` inside an inline table), read from the text before it: TOML's
/// errors carry the value's position, not its key. Hand-written because the `toml` crate's
/// errors do not expose the key path.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = floor_char_boundary(text, offset);
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let mut parents: Vec<String> = Vec::new();
    let mut key: Option<String> = None;
    let mut token = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    for c in text[line_start..offset].chars() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '=' if depth == 0 => key = Some(std::mem::take(&mut token).trim().to_owned()),
            '{' => {
                parents.extend(key.take());
                token.clear();
            }
            '}' => {
                parents.pop();
                token.clear();
            }
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                key = None;
                token.clear();
            }
            _ => token.push(c),
        }
    }
    let key = key.filter(|k| !k.is_empty())?;
    let mut path: Vec<String> = section_at(text, line_start).into_iter().collect();
    path.extend(parents);
    path.push(key);
    Some(path.join("."))
}

/// The 1-based line where the dotted `key` is written: `url` at the top level, `oauth.jwt_key`
/// under `[oauth]` (or as an inline table `oauth = { ... }`); else the line of its section.
/// Hand-written: spans from `toml::Spanned` would change the public section types.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let (section, leaf) = match key.rsplit_once('.') {
        Some((section, leaf)) => (Some(section), leaf),
        None => (None, key),
    };
    let writes = |line: &str, name: &str| {
        line.trim_start()
            .strip_prefix(name)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let mut current: Option<String> = None;
    let mut section_line = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            current = Some(
                trimmed
                    .trim_matches(|c| c == '[' || c == ']')
                    .trim()
                    .to_owned(),
            );
            if current.as_deref() == section {
                section_line.get_or_insert(i + 1);
            }
            continue;
        }
        let here = current.as_deref() == section && writes(line, leaf);
        // `import_chrome = { browser = ... }` and `oauth.jwt_key = ...` at the top level.
        let inline =
            current.is_none() && section.is_some_and(|s| writes(line, s) || writes(line, key));
        if here || inline {
            return Some(i + 1);
        }
    }
    section_line
}

/// Turns an error reading the TOML file `path` (holding `text`) into one naming the file, the
/// line, the key and the fix: "did you mean" for a mistyped key or value, an example for a
/// value of the wrong type (for the keys of instance files), else `reference` ("see ... for a
/// commented example"). Also used for the emulator's settings file.
pub fn toml_error(path: &Path, text: &str, err: &toml::de::Error, reference: &str) -> Error {
    let span = err.span();
    let location = match span.as_ref().map(|s| line_and_column(text, s.start)) {
        Some((line, _)) => format!("{}:{line}", display_path(path)),
        None => display_path(path),
    };
    let message = err.message().trim();
    let words = backticked(message);
    let section = span.as_ref().and_then(|s| section_at(text, s.start));
    let in_section = section
        .as_deref()
        .map(|s| format!(" in [{s}]"))
        .unwrap_or_default();
    let dotted = |key: &str| match &section {
        Some(s) => format!("{s}.{key}"),
        None => key.to_owned(),
    };
    if message.starts_with("unknown field")
        && let Some((unknown, expected)) = words.split_first()
    {
        let fix = match closest(unknown, expected.iter().copied()) {
            Some(near) => format!(
                "did you mean `{near}`? The keys it takes{in_section}: {}",
                expected.join(", ")
            ),
            None => format!(
                "remove it, or use one of the keys it takes{in_section}: {}",
                expected.join(", ")
            ),
        };
        return Error::bad_input(format!("{location}: unknown key `{unknown}`{in_section}"))
            .with_hint(fix);
    }
    if message.starts_with("missing field")
        && let Some(missing) = words.first()
    {
        let key = dotted(missing);
        let fix = match example_of(&key) {
            Some(example) => format!("add it, like {example}"),
            None => format!("add it; {reference}"),
        };
        return Error::bad_input(format!("{location}: the key `{key}` is missing")).with_hint(fix);
    }
    let key = span.as_ref().and_then(|s| key_at(text, s.start));
    if message.starts_with("unknown variant")
        && let Some((unknown, expected)) = words.split_first()
    {
        let what = match &key {
            Some(key) => format!("key `{key}`: "),
            None => String::new(),
        };
        let fix = match closest(unknown, expected.iter().copied()) {
            Some(near) => format!(
                "did you mean \"{near}\"? It is one of {}",
                expected.join(", ")
            ),
            None => format!("use one of {}", expected.join(", ")),
        };
        return Error::bad_input(format!("{location}: {what}unknown value \"{unknown}\""))
            .with_hint(fix);
    }
    if let Some(key) = key {
        let fix = match example_of(&key) {
            Some(example) => format!("write it like {example}"),
            None => format!("fix the value; {reference}"),
        };
        return Error::bad_input(format!("{location}: key `{key}`: {}", plain_types(message)))
            .with_hint(fix);
    }
    // A syntax error: the column helps find it.
    let location = match span.as_ref().map(|s| line_and_column(text, s.start)) {
        Some((line, column)) => format!("{}:{line}:{column}", display_path(path)),
        None => location,
    };
    Error::bad_input(format!("{location}: {}", message.replace('\n', "; ")))
        .with_hint(format!("fix the file; {reference}"))
}

/// serde's Rust type names in words a person writing a file uses.
fn plain_types(message: &str) -> String {
    ["u8", "u16", "u32", "u64", "usize", "i64"]
        .iter()
        .fold(message.to_owned(), |m, t| {
            m.replace(&format!("expected {t}"), "expected a whole number")
        })
        .replace("expected a sequence", "expected a list")
}

/// True when `a` and `b` name the same existing folder.
fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Where an instance file was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The project's `instances/` folder, found at run time ([`paths::project_instances`]):
    /// examples and the emulator's `local`, not instances the user keeps.
    Project,
    /// The user's own, under the configuration folder.
    User,
}

/// One instance file found on disk, valid or not.
#[derive(Debug)]
pub struct Entry {
    /// The instance's name.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Project or user.
    pub origin: Origin,
    /// True when a user file of the same name hides this one.
    pub shadowed: bool,
    /// The parsed instance, or what is wrong with the file.
    pub instance: Result<Instance>,
}

/// Every instance file snowbridge knows, the user's own winning on a clash.
#[derive(Debug, Default)]
pub struct Catalog {
    entries: Vec<Entry>,
    /// The folder of the user's own instance files, where a new one would go.
    user_dir: Option<PathBuf>,
}

impl Catalog {
    /// Reads the project's instance files (found as [`paths::project_instances`] says) and the
    /// user's.
    pub fn load(dirs: &Dirs) -> Result<Catalog> {
        let user = dirs.user_instances();
        // Run from inside the configuration folder, the two are one folder: list it once.
        let project = paths::project_instances().filter(|p| !same_folder(p, &user));
        let mut folders: Vec<(Origin, PathBuf)> =
            project.map(|p| (Origin::Project, p)).into_iter().collect();
        folders.push((Origin::User, user));
        Catalog::load_from(&folders)
    }

    /// Reads instance files from folders, later folders winning on a clash.
    pub fn load_from(folders: &[(Origin, PathBuf)]) -> Result<Catalog> {
        let mut entries: Vec<Entry> = Vec::new();
        for (origin, folder) in folders {
            let listing = match std::fs::read_dir(folder) {
                Ok(listing) => listing,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("cannot list", folder, e)),
            };
            let mut files: Vec<PathBuf> = listing
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            for path in files {
                let Some(name) = instance_name(&path) else {
                    continue;
                };
                for earlier in entries.iter_mut().filter(|e| e.name == name) {
                    earlier.shadowed = true;
                }
                let instance = Instance::load(&path);
                entries.push(Entry {
                    name,
                    path,
                    origin: *origin,
                    shadowed: false,
                    instance,
                });
            }
        }
        let user_dir = folders
            .iter()
            .rev()
            .find(|(origin, _)| *origin == Origin::User)
            .map(|(_, folder)| folder.clone());
        Ok(Catalog { entries, user_dir })
    }

    /// Every file found, in listing order (shadowed ones included).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The instance called `name`: the user's file if there is one, else the project's.
    pub fn get(&self, name: &str) -> Result<Instance> {
        match self.entries.iter().find(|e| e.name == name && !e.shadowed) {
            Some(entry) => match &entry.instance {
                Ok(instance) => Ok(instance.clone()),
                Err(e) => Err(Error::new(e.kind(), e.message().to_owned())
                    .with_hint(e.hint().unwrap_or("fix the instance file").to_owned())
                    .with_steps(e.next_steps().iter().cloned())),
            },
            None => {
                let known: BTreeMap<&str, ()> =
                    self.entries.iter().map(|e| (e.name.as_str(), ())).collect();
                let known: Vec<&str> = known.into_keys().collect();
                let known_list = if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                };
                let e = Error::new(ErrorKind::Usage, format!("no instance called {name:?}"));
                Err(match closest(name, known.iter().copied()) {
                    Some(near) => {
                        e.with_hint(format!("did you mean `{near}`? Known: {known_list}"))
                    }
                    None => {
                        let e = e.with_hint(format!("known: {known_list}"));
                        match &self.user_dir {
                            Some(dir) => e.with_step(NextStep::AddInstanceFile {
                                name: name.to_owned(),
                                dir: dir.clone(),
                            }),
                            None => e,
                        }
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Instance> {
        Instance::parse("dev", Path::new("/cfg/instances/dev.toml"), text)
    }

    #[test]
    fn a_minimal_file_gets_the_defaults() {
        let i = parse("url = \"https://acme.service-now.com/\"").unwrap();
        assert_eq!(i.base(), "https://acme.service-now.com");
        assert_eq!(i.auth, AuthMethod::Browser);
        assert_eq!(i.fallback, Fallback::Auto);
        assert_eq!(i.validate_every, std::time::Duration::from_secs(60));
    }

    #[test]
    fn an_unknown_key_names_the_file_line_and_key() {
        let err = parse("url = \"https://a.service-now.com\"\nusernme = \"x\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/cfg/instances/dev.toml:2"), "{text}");
        assert!(text.contains("usernme"), "{text}");
        assert!(text.contains("hint"), "{text}");
    }

    #[test]
    fn a_wrong_type_names_the_key_and_how_to_write_it() {
        let err =
            parse("url = \"https://a.service-now.com\"\ntimeout_secs = \"ten\"\n").unwrap_err();
        assert!(
            err.message().contains("dev.toml:2: key `timeout_secs`"),
            "{err}"
        );
        assert!(err.message().contains("a whole number"), "{err}");
        assert_eq!(err.hint(), Some("write it like timeout_secs = 30"));
        let err = parse("url = \"https://a.service-now.com\"\n[oauth]\nclient_id = \"x\"\nredirect_port = true\n")
            .unwrap_err();
        assert!(
            err.message()
                .contains("dev.toml:4: key `oauth.redirect_port`"),
            "{err}"
        );
        let err =
            parse("url = \"https://a.service-now.com\"\nimport_chrome = { profile = \"P\", browser = 3 }\n")
                .unwrap_err();
        assert!(
            err.message().contains("key `import_chrome.browser`"),
            "{err}"
        );
    }

    #[test]
    fn a_mistyped_key_or_value_gets_did_you_mean() {
        let err = parse("url = \"https://a.service-now.com\"\nusernme = \"x\"\n").unwrap_err();
        assert!(
            err.hint().unwrap().starts_with("did you mean `username`?"),
            "{err}"
        );
        let err =
            parse("url = \"https://a.service-now.com\"\n[oauth]\nclientid = \"x\"\n").unwrap_err();
        assert!(err.message().contains("`clientid` in [oauth]"), "{err}");
        assert!(
            err.hint().unwrap().starts_with("did you mean `client_id`?"),
            "{err}"
        );
        let err = parse("url = \"https://a.service-now.com\"\nauth = \"brower\"\n").unwrap_err();
        assert!(err.message().contains("dev.toml:2: key `auth`"), "{err}");
        assert!(
            err.hint().unwrap().starts_with("did you mean \"browser\"?"),
            "{err}"
        );
        let err =
            parse("url = \"https://a.service-now.com\"\nimport_chrome = { browser = \"chrom\" }\n")
                .unwrap_err();
        assert!(
            err.hint().unwrap().starts_with("did you mean \"chrome\"?"),
            "{err}"
        );
        let err = parse("url = \"https://a.service-now.com\"\nzzz = 1\n").unwrap_err();
        assert!(err.hint().unwrap().starts_with("remove it"), "{err}");
    }

    #[test]
    fn a_missing_key_says_how_to_add_it() {
        let err = parse("username = \"x\"\n").unwrap_err();
        assert!(err.message().contains("the key `url` is missing"), "{err}");
        assert!(err.hint().unwrap().contains("url = \"https://"), "{err}");
    }

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        let err = parse("username = \"x\"\nurl = \"http://acme.service-now.com\"").unwrap_err();
        assert!(err.to_string().contains("dev.toml:2: key `url`"), "{err}");
        assert!(parse("url = \"http://127.0.0.1:8765\"").is_ok());
        assert!(parse("url = \"http://localhost:8765\"").is_ok());
        assert!(parse("url = \"http://[::1]:8765\"").is_ok());
    }

    #[test]
    fn a_url_with_a_path_or_credentials_is_refused() {
        assert!(parse("url = \"https://a.service-now.com/navpage.do\"").is_err());
        assert!(parse("url = \"https://me:pw@a.service-now.com\"").is_err());
        assert!(parse("url = \"not a url\"").is_err());
    }

    #[test]
    fn an_unknown_auth_method_lists_the_valid_ones() {
        let err = parse("url = \"https://a.service-now.com\"\nauth = \"kerberos\"").unwrap_err();
        assert!(err.to_string().contains("oauth-password"), "{err}");
    }

    #[test]
    fn the_ways_in_are_checked_for_what_they_need() {
        let jwt =
            "url = \"https://a.service-now.com\"\nauth = \"jwt\"\n[oauth]\nclient_id = \"c\"\n";
        let err = parse(jwt).unwrap_err();
        assert!(err.to_string().contains("jwt_command"), "{err}");
        let i = parse(&format!("{jwt}jwt_command = \"get-jwt --aud c\"\n")).unwrap();
        assert_eq!(
            i.oauth.unwrap().jwt_command.as_deref(),
            Some("get-jwt --aud c")
        );
        let err = parse(&format!("{jwt}jwt_key = \"k.pem\"\n")).unwrap_err();
        assert!(err.to_string().contains("jwt_kid"), "{err}");
        let err = parse(&format!("{jwt}jwt_key = \"k.pem\"\njwt_kid = \"k\"\n")).unwrap_err();
        assert!(err.to_string().contains("jwt_subject"), "{err}");
        let i = parse(&format!(
            "{jwt}jwt_key = \"k.pem\"\njwt_kid = \"k\"\njwt_subject = \"svc\"\n"
        ))
        .unwrap();
        assert_eq!(
            i.oauth.unwrap().jwt_key.unwrap(),
            Path::new("/cfg/instances/k.pem")
        );
        assert_eq!(
            parse("url = \"https://a.service-now.com\"\nauth = \"api-key\"")
                .unwrap()
                .auth,
            AuthMethod::ApiKey
        );
        let err = parse("url = \"https://a.service-now.com\"\nauth = \"basic\"").unwrap_err();
        assert!(err.to_string().contains("username"), "{err}");
    }

    #[test]
    fn relative_paths_are_taken_from_the_files_folder() {
        let i = parse("url = \"https://a.service-now.com\"\nca_file = \"corp.pem\"").unwrap();
        assert_eq!(i.ca_file.unwrap(), Path::new("/cfg/instances/corp.pem"));
    }

    #[test]
    fn user_files_win_over_project_files() {
        let project = tempfile::tempdir().unwrap();
        let user = tempfile::tempdir().unwrap();
        std::fs::write(
            project.path().join("dev.toml"),
            "url = \"https://p.service-now.com\"",
        )
        .unwrap();
        std::fs::write(
            user.path().join("dev.toml"),
            "url = \"https://u.service-now.com\"",
        )
        .unwrap();
        std::fs::write(user.path().join("broken.toml"), "url = 3").unwrap();
        let catalog = Catalog::load_from(&[
            (Origin::Project, project.path().to_path_buf()),
            (Origin::User, user.path().to_path_buf()),
        ])
        .unwrap();
        assert_eq!(
            catalog.get("dev").unwrap().base(),
            "https://u.service-now.com"
        );
        let err = catalog.get("broken").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadInput);
        assert!(err.to_string().contains("broken.toml"), "{err}");
        let err = catalog.get("nope").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(err.to_string().contains("broken, dev"), "{err}");
        let err = catalog.get("dve").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(
            err.hint().unwrap().starts_with("did you mean `dev`?"),
            "{err}"
        );
    }

    #[test]
    fn a_file_the_instance_names_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.toml");
        std::fs::write(
            &path,
            "url = \"https://a.service-now.com\"\nca_file = \"corp.pem\"\n",
        )
        .unwrap();
        let err = Instance::load(&path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadInput);
        assert!(err.message().contains("dev.toml:2: key `ca_file`"), "{err}");
        assert!(err.message().contains("corp.pem does not exist"), "{err}");
        // So `instances` lists it as broken.
        let catalog = Catalog::load_from(&[(Origin::User, dir.path().to_path_buf())]).unwrap();
        assert!(catalog.entries()[0].instance.is_err());
        std::fs::write(dir.path().join("corp.pem"), "").unwrap();
        assert!(Instance::load(&path).is_ok());
    }

    #[test]
    fn keys_are_found_where_they_are_written() {
        let text = "url = \"x\"\n# c\nimport_chrome = { browser = \"c\" }\n[oauth]\nclient_id = \"a\"\n[mtls]\ncert = \"c\"\n";
        assert_eq!(line_of_key(text, "url"), Some(1));
        assert_eq!(line_of_key(text, "import_chrome.browser"), Some(3));
        assert_eq!(line_of_key(text, "oauth.client_id"), Some(5));
        assert_eq!(line_of_key(text, "mtls.key"), Some(6));
        assert_eq!(line_of_key(text, "ca_file"), None);
    }
}
