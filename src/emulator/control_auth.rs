//! [`Control`]'s switches and views for the ways in besides the browser: OAuth applications
//! and the client-credentials property, why token requests were refused, JWT verifier keys,
//! API keys, auth scopes, and the client certificates in `DATA/clients/`. Kept apart from
//! `control` so each concern has its own file; the handle is the same.

use std::io;
use std::path::PathBuf;

use super::auth_config::{ApiKey, OAuthApp, RefreshTokenReply, ScopeRefusal, TableAuthScope};
use super::control::Control;
use super::{mtls, oauth};

/// A client certificate and its key, as files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertificateFiles {
    /// The PEM certificate.
    pub cert: PathBuf,
    /// The PEM private key (0600).
    pub key: PathBuf,
}

impl Control {
    /// The registered OAuth applications.
    pub fn oauth_apps(&self) -> Vec<OAuthApp> {
        self.state().config().oauth.apps.clone()
    }

    /// The application with `client_id`.
    pub fn oauth_app(&self, client_id: &str) -> Option<OAuthApp> {
        oauth::registered_app(self.state(), client_id)
    }

    /// Registers `app`, replacing one with the same client id. Refused (and nothing changed)
    /// when the result would not validate. Key pairs of its JWT verifiers that name no public
    /// key are made by [`Control::jwt_key_paths`].
    pub fn register_oauth_app(&self, app: OAuthApp) -> io::Result<()> {
        let mut config = self.config();
        config.oauth.apps.retain(|a| a.client_id != app.client_id);
        config.oauth.apps.push(app.clone());
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.configure(|c| c.oauth.apps = config.oauth.apps);
        Ok(())
    }

    /// Changes the application with `client_id` in place (lifespans, secret, redirect URIs,
    /// scopes, application user...); `false` when there is none. Not validated: tests may set
    /// odd values on purpose.
    pub fn update_oauth_app(&self, client_id: &str, f: impl FnOnce(&mut OAuthApp)) -> bool {
        let mut found = false;
        self.configure(|c| {
            if let Some(app) = c.oauth.apps.iter_mut().find(|a| a.client_id == client_id) {
                f(app);
                found = true;
            }
        });
        found
    }

    /// Sets the property `glide.oauth.inbound.client.credential.grant_type.enabled`.
    pub fn set_client_credentials_grant_enabled(&self, on: bool) {
        self.configure(|c| c.properties.client_credentials_grant_enabled = on);
    }

    /// Whether a `refresh_token` grant's reply repeats the refresh token.
    pub fn set_refresh_token_reply(&self, reply: RefreshTokenReply) {
        self.configure(|c| c.oauth.refresh_token_reply = reply);
    }

    /// Why token requests were refused, oldest first (the client only ever sees the one
    /// refusal, `401 access_denied`).
    pub fn oauth_refusals(&self) -> Vec<String> {
        self.state().oauth.refusals()
    }

    /// Revokes an access or refresh token as `/oauth_revoke_token.do` does; `true` when it was
    /// live.
    pub fn revoke_token(&self, token: &str) -> bool {
        oauth::revoke_token(self.state(), token)
    }

    /// The private (PKCS#8 PEM) and public key files of JWT verifier `kid`
    /// (`DATA/jwt/<kid>.key`, `.pem`), made now if they are not yet; `None` when no app has a
    /// verifier of that kid without a configured `public_key`.
    pub fn jwt_key_paths(&self, kid: &str) -> io::Result<Option<(PathBuf, PathBuf)>> {
        let verifier = self
            .oauth_apps()
            .into_iter()
            .flat_map(|a| a.jwt_verifiers)
            .find(|v| v.kid == kid && v.public_key.is_none());
        match verifier {
            Some(v) => self.state().oauth.key_paths(kid, v.key_type).map(Some),
            None => Ok(None),
        }
    }

    /// Accepts `key` as an API key of `user`, limited to `scopes` (`useraccount`: all).
    pub fn add_api_key(&self, key: &str, user: &str, scopes: &[&str]) {
        let api_key = ApiKey {
            key: key.to_string(),
            user: user.to_string(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        self.configure(|c| {
            c.api_keys.retain(|k| k.key != api_key.key);
            c.api_keys.push(api_key);
        });
    }

    /// Stops accepting `key`; `true` when it was accepted.
    pub fn remove_api_key(&self, key: &str) -> bool {
        let mut removed = false;
        self.configure(|c| {
            let before = c.api_keys.len();
            c.api_keys.retain(|k| k.key != key);
            removed = c.api_keys.len() != before;
        });
        removed
    }

    /// Replaces the Table API's auth scope policies.
    pub fn set_table_auth_scopes(&self, policies: Vec<TableAuthScope>) {
        self.configure(|c| c.auth_scopes.table = policies);
    }

    /// Which side of the `403` envelope names the missing scope.
    pub fn set_scope_refusal(&self, refusal: ScopeRefusal) {
        self.configure(|c| c.auth_scopes.refusal = refusal);
    }

    /// `DATA/clients/ca.pem`, the CA client certificates must chain to (with TLS and
    /// `mtls.request_client_certificate`).
    pub fn client_ca_pem_path(&self) -> Option<PathBuf> {
        let auth = self.state().client_auth.as_ref()?;
        Some(auth.dir().join("ca.pem"))
    }

    /// The certificate and key files `DATA/clients/<name>.pem` and `.key`: `name` is a seeded
    /// user (mapped to that user), `"unmapped"` (valid, mapped to nobody) or `"untrusted"`
    /// (signed by another CA).
    pub fn client_certificate(&self, name: &str) -> Option<ClientCertificateFiles> {
        let auth = self.state().client_auth.as_ref()?;
        let files = ClientCertificateFiles {
            cert: auth.dir().join(format!("{name}.pem")),
            key: auth.dir().join(format!("{name}.key")),
        };
        (files.cert.exists() && files.key.exists()).then_some(files)
    }

    /// Maps the (first) certificate in `pem` to `user`.
    pub fn map_client_certificate(&self, pem: &[u8], user: &str) -> io::Result<()> {
        let auth = self.state().client_auth.as_ref().ok_or_else(|| {
            io::Error::other("client certificates are off (no tls, or mtls turned off)")
        })?;
        auth.map(pem, user)
    }

    /// Removes every certificate mapping to `user`: its certificate then counts as unmapped.
    pub fn unmap_client_certificates(&self, user: &str) {
        if let Some(auth) = &self.state().client_auth {
            auth.unmap_user(user);
        }
    }

    /// The name of the certificate signed by the client CA and mapped to nobody.
    pub const UNMAPPED_CERTIFICATE: &'static str = mtls::UNMAPPED;
    /// The name of the certificate signed by another CA.
    pub const UNTRUSTED_CERTIFICATE: &'static str = mtls::UNTRUSTED;
}
