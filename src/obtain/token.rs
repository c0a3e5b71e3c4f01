//! The token endpoint, `POST /oauth_token.do`: form-encoded bodies, every parameter in the body
//! (never the query string), the client's credentials in the body as `client_id` /
//! `client_secret` (RFC 6749 section 2.3.1), as new instances require.
//!
//! The password, refresh-token, client-credentials and authorization-code grants go through
//! the `oauth2` crate (with `AuthType::RequestBody`); the JWT bearer grant (RFC 7523) is a plain
//! form post, since `oauth2` has no such grant. Every refusal looks alike on the wire (`401`
//! `access_denied`), so the error says which grant was tried and what to check for it.
//!
//! [`Renewer`] is what a Bearer [`Session`](crate::session::Session) renews through: a refresh
//! for the password grant (and `oauth-pkce`), the grant run again for client credentials and
//! JWT.

use std::sync::Mutex;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RefreshToken, RequestTokenError,
    ResourceOwnerPassword, ResourceOwnerUsername, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;
use time::OffsetDateTime;

use super::jwt::{self, Maker};
use super::secrets::{self, Given, Kind, Source};
use crate::error::{Error, ErrorKind, NextStep, Result};
use crate::instance::{AuthMethod, Instance};
use crate::secret::Secret;
use crate::session::envelope;
use crate::session::{Renew, Renewal};
use crate::vault::Tokens;

/// The JWT bearer grant's `grant_type` (RFC 7523 section 2.1).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The access token's lifetime when a reply names none: ServiceNow's default, 30 minutes.
const DEFAULT_LIFETIME: time::Duration = time::Duration::seconds(1800);

/// How far the instance's clock (its `Date` header) may be from ours before a refused JWT is
/// blamed on the clock.
const CLOCK_TOLERANCE: time::Duration = time::Duration::seconds(30);

type Client =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// A time as RFC 3339 text, for messages.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// The token endpoint of one instance, for one OAuth application.
pub struct Endpoint {
    instance: Instance,
    http: reqwest::Client,
    url: url::Url,
    client_id: String,
    scopes: Vec<String>,
}

/// A grant's outcome before it becomes [`Tokens`].
struct Reply {
    access_token: Secret,
    refresh_token: Option<Secret>,
    expires_in: Option<std::time::Duration>,
    scope: Option<String>,
}

/// The transport error of the `oauth2` crate's HTTP calls.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Transport(reqwest::Error);

impl Endpoint {
    /// The endpoint of `instance`'s `[oauth]` application.
    pub fn new(instance: &Instance) -> Result<Endpoint> {
        let oauth = instance.oauth.as_ref().ok_or_else(|| {
            Error::bad_input(format!(
                "{}: auth = \"{}\" needs an [oauth] section",
                instance.source.display(),
                instance.auth
            ))
        })?;
        Ok(Endpoint {
            instance: instance.clone(),
            http: crate::session::plain_client(instance)?,
            url: instance.join("/oauth_token.do")?,
            client_id: oauth.client_id.clone(),
            scopes: oauth.scopes.clone(),
        })
    }

    /// The application's client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    fn client(&self, secret: Option<&Secret>) -> Client {
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_token_uri(TokenUrl::from_url(self.url.clone()))
            .set_auth_type(AuthType::RequestBody);
        match secret {
            Some(secret) => client.set_client_secret(ClientSecret::new(secret.expose().to_owned())),
            None => client,
        }
    }

    fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        self.scopes.iter().map(|s| Scope::new(s.clone()))
    }

    /// The HTTP client `oauth2` calls: the instance's reqwest client (its CA file, no redirects).
    async fn call(
        http: reqwest::Client,
        request: oauth2::HttpRequest,
    ) -> std::result::Result<oauth2::HttpResponse, Transport> {
        let (parts, body) = request.into_parts();
        let response = http
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(Transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(Transport)?;
        let mut out = http::Response::new(bytes.to_vec());
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }

    fn reply_of(
        &self,
        result: std::result::Result<
            BasicTokenResponse,
            RequestTokenError<Transport, BasicErrorResponse>,
        >,
        refused: impl FnOnce() -> Error,
    ) -> Result<Reply> {
        match result {
            Ok(r) => Ok(Reply {
                access_token: Secret::new(r.access_token().secret().as_str()),
                refresh_token: r.refresh_token().map(|t| Secret::new(t.secret().as_str())),
                expires_in: r.expires_in(),
                scope: r
                    .scopes()
                    .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
            }),
            Err(RequestTokenError::ServerResponse(_)) => Err(refused()),
            Err(RequestTokenError::Request(Transport(e))) => {
                Err(crate::session::transport_error(&self.instance, &e))
            }
            Err(RequestTokenError::Parse(_, body)) => Err(self.not_a_reply(&body)),
            Err(RequestTokenError::Other(why)) => Err(Error::new(
                ErrorKind::Instance,
                format!(
                    "{}: the token endpoint answered oddly: {why}",
                    self.instance.name
                ),
            )),
        }
    }

    fn not_a_reply(&self, body: &[u8]) -> Error {
        Error::new(
            ErrorKind::Instance,
            format!(
                "{}: {} answered with something that is not a token reply: {}",
                self.instance.name,
                self.url,
                envelope::complaint(body)
            ),
        )
        .with_hint("check `url` in the instance file, and that OAuth is active on the instance")
    }

    /// The password grant (RFC 6749 section 4.3).
    async fn password(
        &self,
        user: &str,
        password: &Secret,
        secret: &Secret,
        refused: impl FnOnce() -> Error,
    ) -> Result<Reply> {
        let http = self.http.clone();
        let client = self.client(Some(secret));
        let user = ResourceOwnerUsername::new(user.to_owned());
        let password = ResourceOwnerPassword::new(password.expose().to_owned());
        let result = client
            .exchange_password(&user, &password)
            .add_scopes(self.scopes())
            .request_async(&|r| Endpoint::call(http.clone(), r))
            .await;
        self.reply_of(result, refused)
    }

    /// The refresh-token grant (RFC 6749 section 6).
    async fn refresh(
        &self,
        refresh_token: &Secret,
        secret: Option<&Secret>,
        refused: impl FnOnce() -> Error,
    ) -> Result<Reply> {
        let http = self.http.clone();
        let client = self.client(secret);
        let token = RefreshToken::new(refresh_token.expose().to_owned());
        let result = client
            .exchange_refresh_token(&token)
            .request_async(&|r| Endpoint::call(http.clone(), r))
            .await;
        self.reply_of(result, refused)
    }

    /// The client-credentials grant (RFC 6749 section 4.4).
    async fn client_credentials(
        &self,
        secret: &Secret,
        refused: impl FnOnce() -> Error,
    ) -> Result<Reply> {
        let http = self.http.clone();
        let client = self.client(Some(secret));
        let result = client
            .exchange_client_credentials()
            .add_scopes(self.scopes())
            .request_async(&|r| Endpoint::call(http.clone(), r))
            .await;
        self.reply_of(result, refused)
    }

    /// The authorization-code grant (RFC 6749 section 4.1.3) with the PKCE verifier (RFC 7636
    /// section 4.5), for `oauth-pkce`: `secret` for a private client, `None` for a public one.
    /// `redirect_uri` must be the one the authorize call carried.
    pub async fn authorization_code(
        &self,
        code: &Secret,
        redirect_uri: &url::Url,
        verifier: &Secret,
        secret: Option<&Secret>,
    ) -> Result<Tokens> {
        let issued_at = OffsetDateTime::now_utc();
        let http = self.http.clone();
        let client = self
            .client(secret)
            .set_redirect_uri(oauth2::RedirectUrl::from_url(redirect_uri.clone()));
        let result = client
            .exchange_code(oauth2::AuthorizationCode::new(code.expose().to_owned()))
            .set_pkce_verifier(oauth2::PkceCodeVerifier::new(verifier.expose().to_owned()))
            .request_async(&|r| Endpoint::call(http.clone(), r))
            .await;
        let reply = self.reply_of(result, || {
            Error::new(
                ErrorKind::LoginRequired,
                format!(
                    "{} refused to exchange the authorization code (authorization_code grant, \
                     client {}): the code expired or was used, the redirect URI or the PKCE \
                     verifier does not match, or the client secret is wrong",
                    self.instance.name, self.client_id
                ),
            )
            .with_step(NextStep::LogIn {
                instance: self.instance.name.clone(),
            })
        })?;
        Ok(tokens(reply, issued_at, "authorization_code", None, None))
    }

    /// The JWT bearer grant (RFC 7523 section 2.1): `assertion`, `client_id`, `client_secret`
    /// in a form body. A plain form post: `oauth2` has no JWT bearer grant. On a refusal, the
    /// instance's `Date` is returned too, to tell a clock that disagrees.
    async fn jwt_bearer(
        &self,
        assertion: &Secret,
        secret: &Secret,
    ) -> Result<std::result::Result<Reply, Option<OffsetDateTime>>> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", JWT_BEARER),
            ("assertion", assertion.expose()),
            ("client_id", &self.client_id),
            ("client_secret", secret.expose()),
        ];
        let scope = self.scopes.join(" ");
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        let response = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| crate::session::transport_error(&self.instance, &e))?;
        let status = response.status();
        let date = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()
            });
        let body = response
            .bytes()
            .await
            .map_err(|e| crate::session::transport_error(&self.instance, &e))?;
        if status.is_success() {
            let reply: WireReply =
                serde_json::from_slice(&body).map_err(|_| self.not_a_reply(&body))?;
            return Ok(Ok(Reply {
                access_token: reply.access_token,
                refresh_token: reply.refresh_token,
                expires_in: reply.expires_in.map(std::time::Duration::from_secs),
                scope: reply.scope,
            }));
        }
        match serde_json::from_slice::<WireRefusal>(&body) {
            Ok(_) if status.is_client_error() => Ok(Err(date)),
            _ => Err(self.not_a_reply(&body)),
        }
    }
}

/// A token endpoint's success reply (RFC 6749 section 5.1), for the JWT bearer grant.
#[derive(Deserialize)]
struct WireReply {
    access_token: Secret,
    refresh_token: Option<Secret>,
    #[serde(default, deserialize_with = "number_or_text")]
    expires_in: Option<u64>,
    scope: Option<String>,
}

/// Its refusal (RFC 6749 section 5.2).
#[derive(Deserialize)]
struct WireRefusal {
    #[allow(dead_code)]
    error: String,
}

fn number_or_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        Some(Either::Number(n)) => Some(n),
        Some(Either::Text(t)) => t.trim().parse().ok(),
        None => None,
    })
}

fn tokens(
    reply: Reply,
    issued_at: OffsetDateTime,
    grant: &str,
    kept_refresh: Option<&Secret>,
    jti: Option<String>,
) -> Tokens {
    let lifetime = reply
        .expires_in
        .and_then(|d| time::Duration::try_from(d).ok())
        .unwrap_or(DEFAULT_LIFETIME);
    Tokens {
        access_token: reply.access_token,
        // A refresh reply may leave the refresh token out: the old one goes on.
        refresh_token: reply.refresh_token.or_else(|| kept_refresh.cloned()),
        expires_at: issued_at + lifetime,
        issued_at,
        grant: grant.to_owned(),
        scope: reply.scope,
        jti,
    }
}

/// Renews a Bearer session's tokens as its method says.
pub struct Renewer {
    endpoint: Endpoint,
    method: AuthMethod,
    /// What a person typed for this connection; the password leaves after its grant.
    given: Mutex<Given>,
    jwt: Option<Maker>,
    /// `jti`s of assertions exchanged by this process.
    used_jti: Mutex<Vec<String>>,
}

impl Renewer {
    /// The renewer of `instance` (a token method), with secrets a person gave (if any).
    pub fn new(instance: &Instance, given: Given) -> Result<Renewer> {
        let jwt = match instance.auth {
            AuthMethod::Jwt => Some(Maker::for_instance(instance)?),
            _ => None,
        };
        Ok(Renewer {
            endpoint: Endpoint::new(instance)?,
            method: instance.auth,
            given: Mutex::new(given),
            jwt,
            used_jti: Mutex::new(Vec::new()),
        })
    }

    fn instance(&self) -> &Instance {
        &self.endpoint.instance
    }

    fn given(&self) -> std::sync::MutexGuard<'_, Given> {
        self.given
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn find(&self, kind: Kind) -> Option<(Secret, Source)> {
        let given = self.given().clone();
        secrets::find(self.instance(), kind, &given)
    }

    fn require(&self, kind: Kind) -> Result<(Secret, Source)> {
        self.find(kind)
            .ok_or_else(|| secrets::missing(self.instance(), kind))
    }

    async fn run(&self, current: Option<&Tokens>) -> Result<Tokens> {
        match self.method {
            AuthMethod::OauthPassword | AuthMethod::OauthPkce => {
                self.refresh_or_log_in(current).await
            }
            AuthMethod::OauthClientCredentials => {
                let (secret, source) = self.require(Kind::ClientSecret)?;
                let issued_at = OffsetDateTime::now_utc();
                let reply = self
                    .endpoint
                    .client_credentials(&secret, || self.client_credentials_refused(source))
                    .await?;
                Ok(tokens(reply, issued_at, "client_credentials", None, None))
            }
            AuthMethod::Jwt => self.jwt_grant(current).await,
            other => Err(Error::internal(format!(
                "auth = \"{other}\" has no tokens to renew"
            ))),
        }
    }

    /// A typed password first (a new login), else the refresh token, else a password at hand
    /// without a person; else login required.
    async fn refresh_or_log_in(&self, current: Option<&Tokens>) -> Result<Tokens> {
        let name = self.instance().name.clone();
        let typed = self.given().get(Kind::Password).is_some();
        let refresh_token = current.and_then(|t| t.refresh_token.as_ref());
        if let (false, Some(refresh_token)) = (typed, refresh_token) {
            let secret = self.find(Kind::ClientSecret);
            if secret.is_none() && self.method == AuthMethod::OauthPassword {
                return Err(secrets::missing(self.instance(), Kind::ClientSecret));
            }
            let issued_at = OffsetDateTime::now_utc();
            let refused = || self.refresh_refused(secret.as_ref().map(|s| s.1));
            match self
                .endpoint
                .refresh(refresh_token, secret.as_ref().map(|s| &s.0), refused)
                .await
            {
                Ok(reply) => {
                    return Ok(tokens(
                        reply,
                        issued_at,
                        "refresh_token",
                        Some(refresh_token),
                        None,
                    ));
                }
                Err(e) if e.is_login_required() && self.method == AuthMethod::OauthPassword => {
                    if self.find(Kind::Password).is_none() {
                        return Err(e);
                    }
                    tracing::info!("the refresh token was refused; running the password grant");
                }
                Err(e) => return Err(e),
            }
        }
        if self.method == AuthMethod::OauthPkce {
            return Err(Error::login_required(
                &name,
                format!(
                    "{name} has no refresh token: the authorization code flow needs a person at the browser"
                ),
            ));
        }
        let Some((password, password_source)) = self.find(Kind::Password) else {
            return Err(Error::login_required(
                &name,
                format!(
                    "{name} has no usable token, and the password grant needs the password of {}",
                    self.instance().username.as_deref().unwrap_or("the user")
                ),
            )
            .with_hint("the password is used once, then only the tokens are kept")
            .with_steps([
                NextStep::log_in_with_prompts(&name),
                NextStep::GiveSecret {
                    instance: name.clone(),
                    kind: Kind::Password,
                    keyring: false,
                },
            ]));
        };
        let (secret, secret_source) = self.require(Kind::ClientSecret)?;
        let user = self.instance().username.clone().unwrap_or_default();
        let issued_at = OffsetDateTime::now_utc();
        let reply = self
            .endpoint
            .password(&user, &password, &secret, || {
                self.password_refused(&user, password_source, secret_source)
            })
            .await?;
        // Used for one grant; from here on the refresh token does the work.
        self.given().take(Kind::Password);
        Ok(tokens(reply, issued_at, "password", None, None))
    }

    async fn jwt_grant(&self, current: Option<&Tokens>) -> Result<Tokens> {
        let maker = self
            .jwt
            .as_ref()
            .ok_or_else(|| Error::internal("a JWT session without its assertion maker"))?;
        let (secret, source) = self.require(Kind::ClientSecret)?;
        let assertion = maker.assertion(self.endpoint.client_id()).await?;
        if let Maker::Command { .. } = maker {
            let mut used = self
                .used_jti
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            used.extend(current.and_then(|t| t.jti.clone()));
            jwt::check_printed(&assertion, &used, &self.instance().name)?;
        }
        let issued_at = OffsetDateTime::now_utc();
        let outcome = self.endpoint.jwt_bearer(&assertion.jwt, &secret).await?;
        if let Some(jti) = &assertion.jti {
            self.used_jti
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(jti.clone());
        }
        match outcome {
            Ok(reply) => Ok(tokens(reply, issued_at, JWT_BEARER, None, assertion.jti)),
            Err(date) => Err(self.jwt_refused(maker, &assertion, source, date)),
        }
    }

    fn password_refused(&self, user: &str, password: Source, secret: Source) -> Error {
        let name = &self.instance().name;
        let (hint, steps) = match password {
            Source::Given => (
                "check the password as you type it".to_owned(),
                vec![NextStep::log_in_with_prompts(name)],
            ),
            Source::Environment => (
                "check SNOWBRIDGE_PASSWORD, or unset it to type the password".to_owned(),
                vec![NextStep::log_in_with_prompts(name)],
            ),
            Source::Keyring => (
                "the password in the OS keyring may be an old one".to_owned(),
                vec![
                    NextStep::give_secret(name, Kind::Password),
                    NextStep::log_in_with_prompts(name),
                ],
            ),
        };
        Error::new(
            ErrorKind::LoginRequired,
            format!(
                "{name} refused the password grant for {user} (client {}): the password ({}) or \
                 the client secret ({}) is wrong, or the account is locked or not allowed this \
                 application",
                self.endpoint.client_id,
                secrets::describe_source(Kind::Password, password),
                secrets::describe_source(Kind::ClientSecret, secret)
            ),
        )
        .with_hint(format!("{hint}; the client secret may be the wrong one"))
        .with_steps(steps)
        .with_step(NextStep::give_secret(name, Kind::ClientSecret))
    }

    fn refresh_refused(&self, secret: Option<Source>) -> Error {
        let name = &self.instance().name;
        Error::login_required(
            name,
            format!(
                "{name} no longer takes the stored refresh token (refresh_token grant, client \
                 {}): it was revoked or has expired (refresh tokens live 100 days by default), \
                 or the client secret ({}) changed",
                self.endpoint.client_id,
                secret
                    .map(|s| secrets::describe_source(Kind::ClientSecret, s))
                    .unwrap_or_else(|| "none, a public client".into())
            ),
        )
    }

    fn client_credentials_refused(&self, secret: Source) -> Error {
        let name = &self.instance().name;
        Error::new(
            ErrorKind::Credentials,
            format!(
                "{name} refused the client_credentials grant (client {}): check the client \
                 secret ({}), that the instance's property \
                 glide.oauth.inbound.client.credential.grant_type.enabled is true, and that the \
                 OAuth application names an OAuth Application User (the token acts as that user)",
                self.endpoint.client_id,
                secrets::describe_source(Kind::ClientSecret, secret)
            ),
        )
        .with_hint("the property and the application user are set on the instance")
        .with_step(NextStep::give_secret(name, Kind::ClientSecret))
    }

    fn jwt_refused(
        &self,
        maker: &Maker,
        assertion: &jwt::Assertion,
        secret: Source,
        date: Option<OffsetDateTime>,
    ) -> Error {
        let name = &self.instance().name;
        let client = &self.endpoint.client_id;
        let secret = secrets::describe_source(Kind::ClientSecret, secret);
        let now = OffsetDateTime::now_utc();
        if let Some(theirs) = date
            && (theirs - now).abs() > CLOCK_TOLERANCE
        {
            let skew = (theirs - now).whole_seconds();
            let lifetime = match (assertion.issued, assertion.expires) {
                (Some(iat), Some(exp)) => format!("{}s", (exp - iat).whole_seconds()),
                _ => "its lifetime".to_owned(),
            };
            return Error::new(
                ErrorKind::Credentials,
                format!(
                    "{name} refused the JWT bearer grant (client {client}), and its clock is {}s \
                     {} this machine's (its Date: {}): the assertion, valid for {lifetime}, is \
                     expired (or not yet valid) there",
                    skew.abs(),
                    if skew > 0 { "ahead of" } else { "behind" },
                    rfc3339(theirs)
                ),
            )
            .with_hint(
                "set this machine's clock right (NTP); the instance checks exp with little or no skew",
            );
        }
        let what = match maker {
            Maker::Key { .. } => format!(
                "the instance's JWT verifier map for kid {} does not hold the public half of this \
                 key (a signature it cannot verify), {} is no active user in the verifier's user \
                 field, or the client secret ({secret}) is wrong",
                assertion.kid.as_deref().unwrap_or("?"),
                assertion.subject.as_deref().unwrap_or("the subject"),
            ),
            Maker::Command { .. } => format!(
                "its signature or kid ({}) is not one the verifier map knows, its sub ({}) is no \
                 active user, its aud is not {client}, it expired by the instance's clock, its \
                 jti was used before, or the client secret ({secret}) is wrong",
                assertion.kid.as_deref().unwrap_or("none"),
                assertion.subject.as_deref().unwrap_or("none"),
            ),
        };
        Error::new(
            ErrorKind::Credentials,
            format!(
                "{name} refused the JWT bearer grant (client {client}, assertion {}): {what}",
                maker.describe()
            ),
        )
        .with_hint("compare the verifier map's certificate with jwt_key's public key and jwt_kid")
        .with_step(NextStep::give_secret(name, Kind::ClientSecret))
    }
}

impl Renew for Renewer {
    fn renew<'a>(&'a self, current: Option<&'a Tokens>) -> Renewal<'a> {
        Box::pin(self.run(current))
    }

    fn grant(&self) -> &str {
        match self.method {
            AuthMethod::OauthClientCredentials => "client_credentials",
            AuthMethod::Jwt => JWT_BEARER,
            _ => "refresh_token",
        }
    }
}
