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

use crate::error::{Error, ErrorKind, Result};
use crate::paths::{self, Dirs};

/// How snowbridge gets into an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    /// A browser session (login through Chrome, or imported from the user's Chrome).
    Browser,
    /// HTTP Basic with username and password.
    Basic,
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
        let file: InstanceFile = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let invalid = |key: &str, problem: String, fix: &str| {
            Error::bad_input(format!("{}: key `{key}`: {problem}", display_path(path)))
                .with_hint(fix.to_owned())
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
                "oauth",
                format!("auth = \"{}\" needs an [oauth] section", file.auth),
                "add [oauth] with client_id = \"...\"",
            ));
        }
        if file.auth == AuthMethod::Mtls && mtls.is_none() {
            return Err(invalid(
                "mtls",
                "auth = \"mtls\" needs an [mtls] section".into(),
                "add [mtls] with cert = \"client.pem\" and key = \"client.key\"",
            ));
        }
        if file.auth == AuthMethod::Jwt && oauth.as_ref().is_some_and(|o| o.jwt_key.is_none()) {
            return Err(invalid(
                "oauth.jwt_key",
                "auth = \"jwt\" needs the key that signs assertions".into(),
                "add jwt_key = \"jwt-private.pem\" under [oauth]",
            ));
        }
        if let Some(source) = &import_chrome_check(&file.import_chrome) {
            return Err(invalid(
                "import_chrome.browser",
                format!("{source:?} is not a browser snowbridge knows"),
                "use one of chrome, chromium, edge, brave",
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
                    "check the path, or run `snowbridge instances` to see the files it knows",
                )
            } else {
                err
            }
        })?;
        Instance::parse(&name, path, &text)
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

/// Turns a TOML error into one naming the file, the line, the key and the fix.
fn toml_error(path: &Path, text: &str, err: &toml::de::Error) -> Error {
    let line = err
        .span()
        // Counted in bytes: a span that ends inside a character must not panic a `str` slice.
        .map(|span| {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            before.iter().filter(|&&b| b == b'\n').count() + 1
        });
    let message = err.message().trim();
    let location = match line {
        Some(line) => format!("{}:{line}", display_path(path)),
        None => display_path(path),
    };
    let hint = if message.starts_with("unknown field") {
        "fix the key's spelling (the keys it knows are listed above) or remove it".to_owned()
    } else if message.starts_with("missing field") {
        "add the key; see instances/example.toml for a commented example".to_owned()
    } else if message.contains("unknown variant") {
        "use one of the values listed above".to_owned()
    } else {
        "fix the file; see instances/example.toml for a commented example".to_owned()
    };
    Error::bad_input(format!("{location}: {message}")).with_hint(hint)
}

/// Where an instance file was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Bundled with the project (`instances/` beside `Cargo.toml`).
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
}

impl Catalog {
    /// Reads the project's instance files and the user's.
    pub fn load(dirs: &Dirs) -> Result<Catalog> {
        Catalog::load_from(&[
            (Origin::Project, paths::project_instances()),
            (Origin::User, dirs.user_instances()),
        ])
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
        Ok(Catalog { entries })
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
                    .with_hint(e.hint().unwrap_or("fix the instance file").to_owned())),
            },
            None => {
                let known: BTreeMap<&str, ()> =
                    self.entries.iter().map(|e| (e.name.as_str(), ())).collect();
                let known: Vec<&str> = known.into_keys().collect();
                Err(Error::new(
                    ErrorKind::Usage,
                    format!("no instance called {name:?}"),
                )
                .with_hint(format!(
                    "known: {}; add one by writing instances/{name}.toml under the configuration folder (see `snowbridge instances`)",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                )))
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
    fn a_wrong_type_names_the_key() {
        let err =
            parse("url = \"https://a.service-now.com\"\ntimeout_secs = \"ten\"\n").unwrap_err();
        assert!(err.to_string().contains("dev.toml:2"), "{err}");
    }

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        let err = parse("url = \"http://acme.service-now.com\"").unwrap_err();
        assert!(err.to_string().contains("key `url`"), "{err}");
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
    }
}
