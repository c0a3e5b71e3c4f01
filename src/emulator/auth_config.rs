//! Settings of the ways in besides the browser: instance properties, registered OAuth
//! applications (with their JWT verifier maps), API keys, auth scopes on the Table API, and
//! client certificates on the TLS listener. Plain serde data with working defaults (the apps,
//! keys and policies the tests and the demo use), kept apart from `config` so each concern has
//! its own file; [`EmulatorConfig`](super::EmulatorConfig) holds them as sections.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The default apps' redirect URI: what an instance file's `redirect_port = 8400` gives.
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8400/callback";

/// Instance properties (`sys_properties`) the emulator honours, under their real names.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Properties {
    /// `glide.oauth.inbound.client.credential.grant_type.enabled`: whether the
    /// `client_credentials` grant is served at all (Washington DC on). On by default: the
    /// default apps include one set up for it, which on an instance means an admin turned it on.
    #[serde(rename = "glide.oauth.inbound.client.credential.grant_type.enabled")]
    pub client_credentials_grant_enabled: bool,
}

impl Default for Properties {
    fn default() -> Self {
        Properties {
            client_credentials_grant_enabled: true,
        }
    }
}

/// The OAuth 2 provider: registered applications and how grants are answered.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthSettings {
    /// The application registry (`[[oauth.apps]]`).
    pub apps: Vec<OAuthApp>,
    /// What a `refresh_token` grant's reply holds besides the new access token.
    pub refresh_token_reply: RefreshTokenReply,
    /// How long an authorization code from `/oauth_auth.do` can be exchanged.
    pub authorization_code_lifespan_secs: u64,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings {
            apps: default_apps(),
            refresh_token_reply: RefreshTokenReply::Omit,
            authorization_code_lifespan_secs: 60,
        }
    }
}

/// A `refresh_token` grant's reply: the documentation says it returns only an access token, and
/// also that it "always returns the current refresh token" (unverified which holds).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTokenReply {
    /// No `refresh_token` in the reply: the client keeps the one it has.
    Omit,
    /// The same refresh token again.
    Repeat,
}

/// One OAuth application ("OAuth API endpoint for external clients").
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthApp {
    /// A label for pages and logs.
    pub name: String,
    /// The application's client id (32 hex digits on real instances).
    pub client_id: String,
    /// `None`: a public client, which must use PKCE and can use no grant needing a secret.
    pub client_secret: Option<String>,
    /// The URIs `/oauth_auth.do` may redirect to, compared exactly.
    pub redirect_uris: Vec<String>,
    /// The auth scopes the app holds; its tokens carry these (or those asked for among them).
    pub scopes: Vec<String>,
    /// How long its access tokens live, in seconds (1800 on real instances by default).
    pub access_token_lifespan_secs: u64,
    /// How long its refresh tokens live, in seconds (8,640,000, 100 days, by default).
    pub refresh_token_lifespan_secs: u64,
    /// The "OAuth Application User" a `client_credentials` token acts as; without one the
    /// grant is refused.
    pub application_user: Option<String>,
    /// The JWT verifier maps: keys that may sign `jwt-bearer` assertions, by `kid`.
    pub jwt_verifiers: Vec<JwtVerifier>,
    /// Which user field an assertion's `sub` names.
    pub jwt_user_field: JwtUserField,
    /// Seconds an assertion's `exp` (and `nbf`) may be off.
    pub jwt_clock_skew_secs: u64,
}

impl Default for OAuthApp {
    fn default() -> Self {
        OAuthApp {
            name: String::new(),
            client_id: String::new(),
            client_secret: None,
            redirect_uris: Vec::new(),
            scopes: vec!["useraccount".to_string()],
            access_token_lifespan_secs: 1800,
            refresh_token_lifespan_secs: 100 * 86_400,
            application_user: None,
            jwt_verifiers: Vec::new(),
            jwt_user_field: JwtUserField::UserName,
            jwt_clock_skew_secs: 0,
        }
    }
}

impl OAuthApp {
    /// A public client (no secret): PKCE only.
    pub fn is_public(&self) -> bool {
        self.client_secret.is_none()
    }
}

/// A key of a JWT verifier map.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct JwtVerifier {
    /// The `kid` an assertion's header names.
    pub kid: String,
    /// The PEM public key (or certificate) signatures are checked with. `None`: the emulator
    /// makes a key pair of `key_type` at start and writes it to `DATA/jwt/<kid>.key` (private,
    /// PKCS#8) and `DATA/jwt/<kid>.pem` (public), reused across restarts.
    pub public_key: Option<String>,
    /// The kind of key made when `public_key` is absent.
    pub key_type: JwtKeyType,
}

impl Default for JwtVerifier {
    fn default() -> Self {
        JwtVerifier {
            kid: String::new(),
            public_key: None,
            key_type: JwtKeyType::Rsa,
        }
    }
}

/// RSA 2048 (RS256/384/512) or EC P-256 (ES256).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JwtKeyType {
    /// RSA 2048: RS256, RS384, RS512.
    Rsa,
    /// EC P-256: ES256.
    Ec,
}

/// The `sys_user` field a JWT's `sub` is matched against.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JwtUserField {
    /// `user_name`.
    UserName,
    /// `email`.
    Email,
}

impl JwtUserField {
    /// The column name.
    pub fn column(self) -> &'static str {
        match self {
            JwtUserField::UserName => "user_name",
            JwtUserField::Email => "email",
        }
    }
}

/// An API key ("REST API Key") issued for a user.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// The value sent as `x-sn-apikey`.
    pub key: String,
    /// The user requests with the key run as.
    pub user: String,
    /// Auth scopes the key is limited to; `useraccount` (the default) allows everything.
    #[serde(default = "useraccount")]
    pub scopes: Vec<String>,
}

fn useraccount() -> Vec<String> {
    vec!["useraccount".to_string()]
}

/// Auth scopes ("REST API Auth Scope") on the Table API.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthScopes {
    /// Policies by table and method (`[[auth_scopes.table]]`).
    pub table: Vec<TableAuthScope>,
    /// Where the refusal's envelope names the scope.
    pub refusal: ScopeRefusal,
}

impl Default for AuthScopes {
    fn default() -> Self {
        use HttpMethod::*;
        let policy = |table: &str, methods: &[HttpMethod], scopes: &[&str]| TableAuthScope {
            table: table.to_string(),
            methods: methods.to_vec(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        AuthScopes {
            table: vec![
                policy("incident", &[Get], &["incident_read", "incident_write"]),
                policy("incident", &[Post, Put, Patch, Delete], &["incident_write"]),
                policy("*", &[Get], &["table_read", "table_read_write"]),
                policy("*", &[Post, Put, Patch, Delete], &["table_read_write"]),
            ],
            refusal: ScopeRefusal::Detail,
        }
    }
}

/// One policy: calls of `methods` on `table` need one of `scopes` (or `useraccount`). The
/// policies of a table replace the `"*"` ones for it; a call no policy covers needs no scope.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TableAuthScope {
    /// A table name, or `"*"` for every table without policies of its own.
    pub table: String,
    /// The methods covered; empty covers all.
    #[serde(default)]
    pub methods: Vec<HttpMethod>,
    /// The auth scopes a token must hold (any one of them) for the calls covered.
    pub scopes: Vec<String>,
}

/// The Table API's methods.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// Reads.
    Get,
    /// Inserts.
    Post,
    /// Updates (whole record).
    Put,
    /// Updates (fields given).
    Patch,
    /// Deletes.
    Delete,
}

impl HttpMethod {
    /// The method of a request, if the Table API has it.
    pub fn of(method: &axum::http::Method) -> Option<HttpMethod> {
        use axum::http::Method;
        Some(match *method {
            Method::GET | Method::HEAD => HttpMethod::Get,
            Method::POST => HttpMethod::Post,
            Method::PUT => HttpMethod::Put,
            Method::PATCH => HttpMethod::Patch,
            Method::DELETE => HttpMethod::Delete,
            _ => return None,
        })
    }
}

/// Which side of the `403` envelope carries "Missing required api access scope: NAME" (which
/// text sits where is unverified).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ScopeRefusal {
    /// `{"message":"User Not Authorized","detail":"Missing required api access scope: NAME"}`.
    Detail,
    /// `{"message":"Missing required api access scope: NAME","detail":"User Not Authorized"}`.
    Message,
}

/// Client certificates on the TLS listener.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct MtlsSettings {
    /// With `tls`: ask for a client certificate in the handshake (optional: a request without
    /// one falls through to the other methods), and make the client CA and the users'
    /// certificates in `DATA/clients/`.
    pub request_client_certificate: bool,
    /// More "User to Certificate Mappings", besides each seeded user's own certificate.
    pub mappings: Vec<CertificateMapping>,
}

impl Default for MtlsSettings {
    fn default() -> Self {
        MtlsSettings {
            request_client_certificate: true,
            mappings: Vec::new(),
        }
    }
}

/// A PEM certificate file mapped to a user.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CertificateMapping {
    /// The PEM certificate a client presents.
    pub certificate: PathBuf,
    /// The `user_name` it logs in as.
    pub user: String,
}

/// The default applications (see the README's emulator section).
fn default_apps() -> Vec<OAuthApp> {
    let app = |name: &str, client_id: &str, secret: Option<&str>| OAuthApp {
        name: name.to_string(),
        client_id: client_id.to_string(),
        client_secret: secret.map(String::from),
        redirect_uris: vec![DEFAULT_REDIRECT_URI.to_string()],
        ..OAuthApp::default()
    };
    let scoped = |mut app: OAuthApp, scope: &str| {
        app.scopes = vec![scope.to_string()];
        app.application_user = Some("itil.user".to_string());
        app
    };
    vec![
        app(
            "snowbridge confidential",
            "3e57bb02663102004d010ee8f561307a",
            Some("confidential-secret"),
        ),
        app("snowbridge pkce", "b7a0c9d4e5f6471a8b2c3d4e5f60718a", None),
        OAuthApp {
            application_user: Some("itil.user".to_string()),
            ..app(
                "snowbridge integration",
                "5c1d2e3f4a5b46c7d8e9f0a1b2c3d4e5",
                Some("integration-secret"),
            )
        },
        OAuthApp {
            jwt_verifiers: vec![
                JwtVerifier {
                    kid: "snowbridge-rs256".to_string(),
                    key_type: JwtKeyType::Rsa,
                    public_key: None,
                },
                JwtVerifier {
                    kid: "snowbridge-es256".to_string(),
                    key_type: JwtKeyType::Ec,
                    public_key: None,
                },
            ],
            ..app(
                "snowbridge jwt",
                "9f8e7d6c5b4a43928170f6e5d4c3b2a1",
                Some("jwt-secret"),
            )
        },
        scoped(
            app(
                "incident reader",
                "4d3c2b1a0f9e48d7c6b5a49382716055",
                Some("reader-secret"),
            ),
            "incident_read",
        ),
        scoped(
            app(
                "incident writer",
                "7e6f5a4b3c2d41e0f9a8b7c6d5e4f3a2",
                Some("writer-secret"),
            ),
            "incident_write",
        ),
    ]
}

/// The default API keys: one for `itil.user` with every scope, one limited to `incident_read`.
pub fn default_api_keys() -> Vec<ApiKey> {
    vec![
        ApiKey {
            key: "6f7e2d1c0b9a48f7e6d5c4b3a2918070".to_string(),
            user: "itil.user".to_string(),
            scopes: useraccount(),
        },
        ApiKey {
            key: "a1b2c3d4e5f60718293a4b5c6d7e8f90".to_string(),
            user: "itil.user".to_string(),
            scopes: vec!["incident_read".to_string()],
        },
    ]
}

const TEN_YEARS: u64 = 10 * 365 * 86_400;

fn seconds(key: &str, secs: u64) -> Result<(), String> {
    if secs == 0 || secs > TEN_YEARS {
        return Err(format!("{key} must be between 1 and {TEN_YEARS} seconds"));
    }
    Ok(())
}

/// Checks what a TOML file could get wrong in these sections; the message names the key.
pub fn validate(
    oauth: &OAuthSettings,
    api_keys: &[ApiKey],
    scopes: &AuthScopes,
) -> Result<(), String> {
    seconds(
        "oauth.authorization_code_lifespan_secs",
        oauth.authorization_code_lifespan_secs,
    )?;
    let mut client_ids = HashSet::new();
    for app in &oauth.apps {
        let at = format!("oauth.apps ({:?})", app.client_id);
        if app.client_id.trim().is_empty() {
            return Err("oauth.apps: client_id must not be empty".into());
        }
        if !client_ids.insert(app.client_id.as_str()) {
            return Err(format!("{at}: client_id is registered twice"));
        }
        if app.client_secret.as_deref().is_some_and(str::is_empty) {
            return Err(format!(
                "{at}: client_secret must not be empty (leave it out for a public client)"
            ));
        }
        seconds(
            &format!("{at}.access_token_lifespan_secs"),
            app.access_token_lifespan_secs,
        )?;
        seconds(
            &format!("{at}.refresh_token_lifespan_secs"),
            app.refresh_token_lifespan_secs,
        )?;
        if app.jwt_clock_skew_secs > 86_400 {
            return Err(format!("{at}.jwt_clock_skew_secs must be at most 86400"));
        }
        for uri in &app.redirect_uris {
            let parsed = url::Url::parse(uri)
                .map_err(|e| format!("{at}.redirect_uris: {uri:?} is not a URL: {e}"))?;
            if parsed.fragment().is_some() {
                return Err(format!(
                    "{at}.redirect_uris: {uri:?} must not have a fragment"
                ));
            }
        }
        if app.is_public() && (app.application_user.is_some() || !app.jwt_verifiers.is_empty()) {
            return Err(format!(
                "{at}: a public client (no client_secret) can have neither an application_user \
                 nor jwt_verifiers"
            ));
        }
        if app.application_user.as_deref().is_some_and(str::is_empty) {
            return Err(format!("{at}.application_user must not be empty"));
        }
        let mut kids = HashSet::new();
        for verifier in &app.jwt_verifiers {
            let kid_ok = !verifier.kid.is_empty()
                && verifier
                    .kid
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && !verifier.kid.starts_with('.');
            if !kid_ok {
                return Err(format!(
                    "{at}.jwt_verifiers: kid {:?} may hold letters, digits, '-', '_' and '.' \
                     only (it names files in DATA/jwt/)",
                    verifier.kid
                ));
            }
            if !kids.insert(verifier.kid.as_str()) {
                return Err(format!(
                    "{at}.jwt_verifiers: kid {:?} is listed twice",
                    verifier.kid
                ));
            }
            if let Some(pem) = &verifier.public_key {
                super::jwt::decoding_key(pem).map_err(|e| {
                    format!("{at}.jwt_verifiers ({:?}).public_key: {e}", verifier.kid)
                })?;
            }
        }
    }
    for key in api_keys {
        if key.key.trim().is_empty() || key.user.trim().is_empty() {
            return Err("api_keys: key and user must not be empty".into());
        }
    }
    for policy in &scopes.table {
        if policy.table.trim().is_empty() || policy.scopes.is_empty() {
            return Err(format!(
                "auth_scopes.table ({:?}): table and scopes must not be empty",
                policy.table
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_hold_one_app_of_each_kind() {
        let oauth = OAuthSettings::default();
        assert!(validate(&oauth, &default_api_keys(), &AuthScopes::default()).is_ok());
        assert!(oauth.apps.iter().any(|a| a.is_public()));
        assert!(oauth.apps.iter().any(|a| a.application_user.is_some()));
        assert!(oauth.apps.iter().any(|a| !a.jwt_verifiers.is_empty()));
        assert_eq!(oauth.refresh_token_reply, RefreshTokenReply::Omit);
    }

    #[test]
    fn bad_apps_are_named() {
        let mut oauth = OAuthSettings::default();
        oauth.apps[1].client_id = oauth.apps[0].client_id.clone();
        let error = validate(&oauth, &[], &AuthScopes::default()).unwrap_err();
        assert!(error.contains("registered twice"), "{error}");

        let mut oauth = OAuthSettings::default();
        oauth.apps[0].access_token_lifespan_secs = 0;
        let error = validate(&oauth, &[], &AuthScopes::default()).unwrap_err();
        assert!(error.contains("access_token_lifespan_secs"), "{error}");

        let mut oauth = OAuthSettings::default();
        oauth.apps[3].jwt_verifiers[0].public_key = Some("not a key".into());
        let error = validate(&oauth, &[], &AuthScopes::default()).unwrap_err();
        assert!(error.contains("public_key"), "{error}");

        let mut oauth = OAuthSettings::default();
        oauth.apps[3].jwt_verifiers[0].kid = "../escape".into();
        let error = validate(&oauth, &[], &AuthScopes::default()).unwrap_err();
        assert!(error.contains("kid"), "{error}");
    }

    #[test]
    fn toml_sections() {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Doc {
            properties: Properties,
            oauth: OAuthSettings,
            auth_scopes: AuthScopes,
        }
        let doc: Doc = toml::from_str(
            r#"
            [properties]
            "glide.oauth.inbound.client.credential.grant_type.enabled" = false
            [oauth]
            refresh_token_reply = "repeat"
            [[oauth.apps]]
            client_id = "abc"
            client_secret = "s"
            access_token_lifespan_secs = 5
            [[oauth.apps.jwt_verifiers]]
            kid = "k1"
            key_type = "ec"
            [auth_scopes]
            refusal = "message"
            [[auth_scopes.table]]
            table = "incident"
            methods = ["GET"]
            scopes = ["incident_read"]
            "#,
        )
        .unwrap();
        assert!(!doc.properties.client_credentials_grant_enabled);
        assert_eq!(doc.oauth.refresh_token_reply, RefreshTokenReply::Repeat);
        assert_eq!(
            doc.oauth.apps.len(),
            1,
            "listing apps replaces the defaults"
        );
        assert_eq!(doc.oauth.apps[0].access_token_lifespan_secs, 5);
        assert_eq!(doc.oauth.apps[0].scopes, ["useraccount"]);
        assert_eq!(doc.oauth.apps[0].jwt_verifiers[0].key_type, JwtKeyType::Ec);
        assert_eq!(doc.auth_scopes.table[0].methods, [HttpMethod::Get]);
        assert_eq!(doc.auth_scopes.refusal, ScopeRefusal::Message);
        assert!(toml::from_str::<OAuthSettings>("refresh_token_reply = \"rotate\"").is_err());
    }

    #[test]
    fn the_readme_example_loads() {
        let readme = include_str!("../../README.md");
        let section = &readme[readme.find("## The emulator").unwrap()..];
        let start = section.find("```toml\n").unwrap() + "```toml\n".len();
        let end = start + section[start..].find("```").unwrap();
        let config: crate::emulator::EmulatorConfig = toml::from_str(&section[start..end])
            .unwrap_or_else(|e| panic!("the README's emulator settings: {e}"));
        config.validate().unwrap();
        assert_eq!(config.oauth.apps.len(), 1);
        assert_eq!(
            config.oauth.apps[0].jwt_verifiers[0].key_type,
            JwtKeyType::Ec
        );
        assert_eq!(config.api_keys.len(), 1);
        assert!(config.properties.client_credentials_grant_enabled);
    }
}
