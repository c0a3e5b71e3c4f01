//! A local ServiceNow instance emulator, for tests, demos and offline script work.
//!
//! It behaves on the wire like `servicenow-wire.md` describes a real instance, including the
//! inconvenient parts: the UI login with its `sysparm_ck` and session fixation, MFA and SSO
//! (an identity provider on a second host name of the same listener), the session cookies with
//! their lifetimes (`glide_session_store` on every reply, remember-me), idle timeouts on a
//! virtual clock, the REST token dance (`X-UserToken` / `X-UserToken-Response`,
//! `X-Is-Logged-In`), the Table, Attachment, Aggregate (`/api/now/stats`) and Batch
//! (`/api/now/v1/batch`) APIs and JSONv2 on every table, with encoded queries whose invalid
//! terms are silently dropped, rows in primary-key (sys_id) order when no `ORDERBY` is given,
//! read ACLs applied after the limit (users without itil see only incidents they called in, so
//! pages come back short while `X-Total-Count` counts every match), `Link` as instances send it
//! (absolute, `sysparm_fields` commas raw, left out when every row fits in one page), write ACLs
//! and the resolution data policy, record forms for every table with their attachment dialog
//! (the incident's with its UI actions), `414`, `429`, injected faults (a row listed twice in a page among them) and a hibernating
//! developer instance (every path answers `200` with the page asking to wake it). It also speaks
//! the other ways in: an OAuth 2 provider (`/oauth_token.do` with the password, refresh,
//! authorization code with PKCE, client credentials and JWT bearer grants; `/oauth_auth.do` with
//! its login and consent page; `/oauth_revoke_token.do`), Bearer tokens, API keys
//! (`x-sn-apikey`), auth scopes on the Table API by table and method, and client certificates on
//! the TLS listener. pysnc works against it unchanged, its OAuth flows included.
//!
//! The tables are data (`tables.toml`, read by `schema`): the out-of-box tables everyday scripts
//! touch, with their hierarchies (`task` → `incident`, `problem`, `change_request`,
//! `sc_req_item`; `cmdb_ci` → `cmdb_ci_hardware` → `cmdb_ci_computer`, `cmdb_ci_service`;
//! `sys_metadata` → `sys_script`, `sys_db_object`, `sys_dictionary`), references shown as
//! `{link, value}` with the referenced table's display value, dot-walks of any depth in
//! `sysparm_fields`, queries and `ORDERBY`, dictionary defaults and field lengths, and access by
//! role per table; `sys_db_object`, `sys_dictionary` and `sys_choice` are generated from the
//! schema. Seeded users (password `snowbridge` unless configured): `admin` (admin, sys_id
//! `6816f79cc0a8016401c5a33be04be441` as on every instance), `itil.user` (itil), `itil.admin`
//! (itil, itil_admin), `mfa.user` (itil; one-time code `123456` after the password), `sso.user`
//! (itil; no local password: logs in through the IdP at [`Emulator::idp_url`]), and callers
//! without roles (`ada.quinn`, `ben.ortiz`, ...), with departments, managers and locations.
//! Incidents are numbered from `INC0010001`. The default OAuth apps, API keys and auth scopes
//! are in `auth_config`; the README's emulator section lists them.
//!
//! This is a separate room: nothing else in the crate imports it, and it imports nothing from
//! the rest of the crate (its errors are `std::io::Error` or strings). Files by concern:
//! `server` (listener, hand-rolled TLS accept), `tls` (CA and certificates), `mtls` (client CA,
//! users' certificates, the per-request verdict), `ctx` (the outer layer: sessions, cookies,
//! headers, faults), `auth` (principals, auth scopes), `oauth` (token endpoint, revocation),
//! `authorize` (authorize call, consent page), `jwt` (assertions, verifier keys), `sessions`,
//! `ui` (pages, login, form), `sso`, `table_api`, `jsonv2`, `attachments`, `stats` (Aggregate
//! API), `batch` (Batch API), `query` (encoded queries), `rules` (ACLs, data policy, business
//! rules), `render`, `schema` (+ `tables.toml`), `store`/`seed` (SQLite), `control` and
//! `control_auth` (the test handle), `config` and `auth_config`, `state`, `clock`, `reply`.
//!
//! Deviations and choices where the wire facts leave room (all documented here once):
//! - Over plain HTTP cookies carry neither `Secure` nor `SameSite=None` (browsers drop
//!   `SameSite=None` without `Secure`); over TLS every cookie is `...; SameSite=None; Secure`.
//! - TLS offers HTTP/2 and HTTP/1.1 (ALPN `h2`, `http/1.1`; `http2 = false` for HTTP/1.1
//!   only): what instances' front door offers is not recorded, and HTTP/2 is the more plausible.
//!   Over HTTP/2 a dropped connection loses every request in flight on it, not just one.
//! - JSONv2 with no credentials answers `401` like REST by default
//!   ([`Jsonv2Unauthenticated`]); whole-call JSONv2 failures use status 400; `deleteMultiple`
//!   answers `{"records":[{"count":"N"}]}`.
//! - The SSO assertion is SAML-shaped XML signed with a per-run HMAC key, not XML-DSig.
//! - `sysparm_no_count=true` leaves out `X-Total-Count` (and the `last` link); without a count,
//!   "every row fits in one page" means the first page listed fewer rows than the limit.
//! - The repeated-row fault puts the page's first row again after its second, so the page holds
//!   one row more than the limit and loses none (where real instances put it is not recorded).
//! - Text columns compare and sort case-insensitively (SQLite's `NOCASE`, which folds ASCII
//!   letters only; instances' database collations also fold accents and other scripts); sys_ids
//!   and references stay exact.
//! - The hibernation page's shape comes from a public CI log of a real one; while hibernating the
//!   instance host sets no cookies and no instance headers, the IdP host answers as usual.
//! - Auth scopes bind OAuth tokens and API keys: the Table API by the configured policies (by
//!   default `incident_read`/`incident_write` on incident, `table_read`/`table_read_write`
//!   elsewhere), the Attachment API `attachment_read`/`attachment_write` (or the table
//!   scopes), JSONv2 `useraccount` only; `useraccount` grants all. The `403` says
//!   "User Not Authorized" with "Missing required api access scope: NAME" in `detail`
//!   (configurable: which side holds which text is unverified).
//! - OAuth: a refresh reply holds no refresh token (configurable); `expires_in` is the
//!   lifespan less one second, as instances answer 1799 for 1800; revoking a refresh token
//!   revokes its access tokens (RFC 7009); an authorization code is spent by its first exchange
//!   whatever the outcome; a logged-out authorize call goes through `login.do` (real instances
//!   use `oauth_login.do`); the consent page's ids are this emulator's (see `authorize`); a JWT
//!   without `jti` is accepted (nothing to check for replay); API keys are read on `/api/`
//!   paths only.
//! - Client certificates are mapped by their SHA-256 fingerprint; the handshake accepts any
//!   certificate and the instance layer answers an untrusted one with nginx's `400` page.
//! - In the request log, a connection closed without a reply has status 0.
//! - Element ids of the UI (login, MFA, shell, form, attachment dialog) are listed in the `ui`
//!   module docs; the attachment dialog's ids are this emulator's, real ones are unverified.
//! - A table with children is read through a view over every class's table (a merge in sys_id
//!   order), so offset paging deep into `task` with 100,000 incidents is slower than into
//!   `incident`; a write through a parent table (`PATCH /table/task/{id}`) applies the rules of
//!   the record's own class.
//! - A reference sorts by the display value of the record it names, as lists on instances do.
//! - A reference given on write may name its record by sys_id, display value, user name, name
//!   or number (instances take the sys_id or the display value).
//! - Table-level read ACLs filter rows like the incident one: a table a user may not read lists
//!   as empty pages (with `X-Total-Count`), one record as `404`; the Aggregate API answers
//!   `403` to anyone an ACL limits, as documented.
//! - Aggregate API: with `sysparm_display_value=true` a group's `value` is its display value,
//!   with `all` it carries `display_value` beside the value (unverified).
//! - Batch API: items run in order, never come back unserviced; an item that cannot be run is
//!   serviced with `400` and `error_message`; items are not in the request log.
//! - A data folder seeded from other tables (an older emulator) is refused with a message
//!   saying to delete it.

// Handlers return complete replies as their error values (the axum idiom); boxing them would
// only add noise.
#![allow(clippy::result_large_err)]

mod attachments;
mod auth;
mod auth_config;
mod authorize;
mod batch;
mod clock;
mod config;
mod control;
mod control_auth;
pub mod control_lines;
mod ctx;
mod jsonv2;
mod jwt;
mod mtls;
mod oauth;
mod query;
mod render;
mod reply;
mod rules;
mod schema;
mod seed;
mod server;
mod sessions;
mod sso;
mod state;
mod stats;
mod store;
mod table_api;
mod tls;
mod ui;

use std::net::{Ipv6Addr, SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::sync::watch;
use url::Url;

pub use auth_config::{
    ApiKey, AuthScopes, CertificateMapping, DEFAULT_REDIRECT_URI, HttpMethod, JwtKeyType,
    JwtUserField, JwtVerifier, MtlsSettings, OAuthApp, OAuthSettings, Properties,
    RefreshTokenReply, ScopeRefusal, TableAuthScope,
};
pub use config::{EmulatorConfig, Faults, Jsonv2Unauthenticated, RateLimit};
pub use control::{AttachmentInfo, Control, SessionInfo, SessionKind};
pub use control_auth::ClientCertificateFiles;
pub use state::RequestInfo;

use state::AppState;

/// Largest request body accepted (attachments of tens of MB).
const BODY_LIMIT: usize = 100 * 1024 * 1024;

/// A running emulator. Dropping it stops the server, joins its thread, and removes a temporary
/// data folder.
pub struct Emulator {
    url: Url,
    idp_url: Url,
    port: u16,
    ca_pem: Option<PathBuf>,
    state: Arc<AppState>,
    shutdown: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
    // Dropped last: the server must stop before its folder goes.
    _temp_dir: Option<tempfile::TempDir>,
}

fn invalid(message: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message.into())
}

/// What kept [`Emulator::start`] from starting, when it is the port or the data folder: the
/// inner error of the `std::io::Error` it returns (`get_ref`, then `downcast_ref`), so that a
/// caller blames the right one.
#[derive(Debug)]
pub enum StartFailure {
    /// The port could not be listened on (in use, or not allowed).
    Port {
        /// The port asked for (0: any free one).
        port: u16,
        /// Why.
        source: std::io::Error,
    },
    /// The data folder or its database cannot be used (damaged, not a database, seeded by an
    /// older emulator, not writable).
    Data {
        /// The file or folder at fault.
        path: PathBuf,
        /// Why, in words.
        why: String,
    },
}

impl std::fmt::Display for StartFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartFailure::Port { port, source } => write!(f, "port {port}: {source}"),
            StartFailure::Data { path, why } => write!(f, "{}: {why}", path.display()),
        }
    }
}

impl std::error::Error for StartFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartFailure::Port { source, .. } => Some(source),
            StartFailure::Data { .. } => None,
        }
    }
}

impl StartFailure {
    fn data(path: &std::path::Path, why: impl std::fmt::Display) -> std::io::Error {
        std::io::Error::other(StartFailure::Data {
            path: path.to_path_buf(),
            why: why.to_string(),
        })
    }
}

impl Emulator {
    /// Starts the emulator on its own thread with its own multi-thread tokio runtime, and
    /// returns once the listener is bound and accepting. Blocking.
    pub fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        config.validate().map_err(invalid)?;
        let (data_dir, temp_dir) = match &config.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| StartFailure::data(dir, e))?;
                (dir.clone(), None)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("snowbridge-emulator-")
                    .tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };

        let clock = clock::Clock::new();
        let database = data_dir.join("emulator.db");
        let (store, new) =
            store::Store::open(&database).map_err(|e| StartFailure::data(&database, e))?;
        if new {
            let now = clock.now();
            store
                .with(|conn| seed::seed(conn, config.seed, config.incidents, now))
                .map_err(|e| StartFailure::data(&database, format!("seeding it failed: {e}")))?;
        }

        let listener =
            StdListener::bind(SocketAddr::from(([127, 0, 0, 1], config.port))).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    StartFailure::Port {
                        port: config.port,
                        source: e,
                    },
                )
            })?;
        let port = listener.local_addr()?.port();
        let mut listeners = vec![listener];
        // Best effort: "localhost" may resolve to ::1 first.
        if let Ok(v6) = StdListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port))) {
            listeners.push(v6);
        }
        for l in &listeners {
            l.set_nonblocking(true)?;
        }

        // jsonwebtoken picks its crypto backend from its features; name it, so that a second
        // backend enabled elsewhere in the build cannot leave it without one.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        // A kept data folder (the CLI, a demo) gets its JWT keys at once; a temporary one (a
        // test) when asked, since an RSA key costs a quarter of a second.
        let oauth = oauth::OAuthState::prepare(
            data_dir.clone(),
            &config.oauth.apps,
            config.data_dir.is_some(),
        )?;
        let client_auth = if config.tls && config.mtls.request_client_certificate {
            let users = seed::user_names().into_iter();
            Some(mtls::ClientAuth::prepare(&data_dir, &config.mtls, users)?)
        } else {
            None
        };
        let (tls, ca_pem) = if config.tls {
            let client_verifier = client_auth.as_ref().map(|c| c.handshake_verifier());
            let server_config =
                tls::server_config(&data_dir, config.idp_host(), client_verifier, config.http2)?;
            (
                Some(tokio_rustls::TlsAcceptor::from(server_config)),
                Some(data_dir.join("ca.pem")),
            )
        } else {
            (None, None)
        };
        let scheme = if config.tls { "https" } else { "http" };
        let url = Url::parse(&format!("{scheme}://127.0.0.1:{port}/"))
            .map_err(|e| invalid(e.to_string()))?;
        let idp_url = Url::parse(&format!("{scheme}://{}:{port}/", config.idp_host()))
            .map_err(|e| invalid(e.to_string()))?;
        let idp_host = config.idp_host().to_string();

        let state = Arc::new(AppState::new(
            config,
            Arc::new(store),
            clock,
            url.clone(),
            idp_url.clone(),
            oauth,
            client_auth,
        ));
        let sites = server::Sites {
            instance: instance_router(Arc::clone(&state)),
            idp: sso::idp_router(Arc::clone(&state)),
            idp_host,
        };

        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name("snowbridge-emulator".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("snowbridge-emulator-worker")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let mut tokio_listeners = Vec::new();
                    for l in listeners {
                        match tokio::net::TcpListener::from_std(l) {
                            Ok(l) => tokio_listeners.push(l),
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return;
                            }
                        }
                    }
                    let _ = ready_tx.send(Ok(()));
                    server::serve(tokio_listeners, tls, sites, shutdown_rx).await;
                });
                runtime.shutdown_timeout(Duration::from_secs(2));
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(std::io::Error::other(
                    "the emulator thread stopped while starting",
                ));
            }
        }

        Ok(Emulator {
            url,
            idp_url,
            port,
            ca_pem,
            state,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
            _temp_dir: temp_dir,
        })
    }

    /// `http(s)://127.0.0.1:PORT/`.
    pub fn url(&self) -> Url {
        self.url.clone()
    }

    /// `http(s)://<idp host>:PORT/`: the identity provider (same listener, other host name).
    pub fn idp_url(&self) -> Url {
        self.idp_url.clone()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `DATA/ca.pem` when serving TLS.
    pub fn ca_pem_path(&self) -> Option<PathBuf> {
        self.ca_pem.clone()
    }

    /// A handle for switches and inspection, usable from any thread.
    pub fn control(&self) -> Control {
        Control::new(Arc::clone(&self.state))
    }

    /// Serves until Ctrl-C, then stops (for the CLI). Prints nothing.
    pub fn run_until_ctrl_c(self) {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            let _ = runtime.block_on(tokio::signal::ctrl_c());
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The REST APIs a Batch API item may call: Table, Attachment, Aggregate.
fn api_routes() -> Router<Arc<AppState>> {
    use attachments as att;
    use table_api as t;
    Router::new()
        .route("/api/now/table/{table}", get(t::list).post(t::create))
        .route(
            "/api/now/table/{table}/{sys_id}",
            get(t::get)
                .put(t::modify)
                .patch(t::modify)
                .delete(t::remove),
        )
        .route(
            "/api/now/{version}/table/{table}",
            get(t::versioned::list).post(t::versioned::create),
        )
        .route(
            "/api/now/{version}/table/{table}/{sys_id}",
            get(t::versioned::get)
                .put(t::versioned::modify)
                .patch(t::versioned::modify)
                .delete(t::versioned::remove),
        )
        .route("/api/now/attachment", get(att::list))
        .route("/api/now/attachment/file", post(att::upload_raw))
        .route("/api/now/attachment/upload", post(att::upload_multipart))
        .route(
            "/api/now/attachment/{sys_id}",
            get(att::meta).delete(att::remove),
        )
        .route("/api/now/attachment/{sys_id}/file", get(att::file))
        .route("/api/now/{version}/attachment", get(att::versioned::list))
        .route(
            "/api/now/{version}/attachment/file",
            post(att::versioned::upload_raw),
        )
        .route(
            "/api/now/{version}/attachment/upload",
            post(att::versioned::upload_multipart),
        )
        .route(
            "/api/now/{version}/attachment/{sys_id}",
            get(att::versioned::meta).delete(att::versioned::remove),
        )
        .route(
            "/api/now/{version}/attachment/{sys_id}/file",
            get(att::versioned::file),
        )
        .route("/api/now/stats/{table}", get(stats::aggregate))
        .route(
            "/api/now/{version}/stats/{table}",
            get(stats::versioned::aggregate),
        )
}

/// The REST APIs alone, for the Batch API's items, which run inside their batch's request
/// (its session, its outer layers).
fn item_router(state: Arc<AppState>) -> Router {
    api_routes()
        .fallback(|| async { table_api::no_such_resource() })
        .method_not_allowed_fallback(table_api::method_not_supported)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

fn instance_router(state: Arc<AppState>) -> Router {
    api_routes()
        .route("/api/now/batch", post(batch::batch))
        .route("/api/now/{version}/batch", post(batch::versioned::batch))
        .merge(oauth::router())
        .fallback(ui::dispatch)
        .method_not_allowed_fallback(table_api::method_not_supported)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            ctx::instance_layer,
        ))
        // Outermost: the load balancer judges client certificates before the instance runs.
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            mtls::layer,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}
