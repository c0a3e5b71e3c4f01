//! The state every request handler and the [`Control`](super::Control) handle share: the
//! configuration (some of it switchable at run time), the virtual clock, the store, sessions,
//! bearer tokens, fault and rate-limit bookkeeping, and the request log.
//!
//! Holds data and small bookkeeping helpers only; HTTP lives in the handlers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use time::OffsetDateTime;
use url::Url;

use super::EmulatorConfig;
use super::clock::Clock;
use super::mtls::ClientAuth;
use super::oauth::OAuthState;
use super::sessions::{Sessions, Timeouts};
use super::store::Store;

/// One answered request, for tests to inspect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    /// The request's method.
    pub method: String,
    /// The path and query as sent.
    pub path_and_query: String,
    /// The reply's status; 0 when the connection was closed with no reply.
    pub status: u16,
    /// The user the request ran as (API principal or logged-in UI session), if any.
    pub user: Option<String>,
}

/// A bearer access token (issued by `/oauth_token.do`, or by tests through `Control`).
#[derive(Clone, Debug)]
pub struct BearerToken {
    pub user: String,
    pub scopes: Vec<String>,
    pub expires: OffsetDateTime,
}

/// Deterministic faults queued by tests.
#[derive(Default)]
pub struct Queued {
    pub fail: Vec<u16>,
}

/// A user's rate-limit window.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub start: OffsetDateTime,
    pub count: u32,
}

pub struct AppState {
    config: RwLock<EmulatorConfig>,
    pub clock: Clock,
    pub store: Arc<Store>,
    pub sessions: Sessions,
    pub tokens: Mutex<HashMap<String, BearerToken>>,
    pub queued: Mutex<Queued>,
    pub drop_next: AtomicUsize,
    /// API requests (method, path prefix) to carry out once and then close without a reply.
    pub lose_reply: Mutex<Vec<(String, String)>>,
    pub windows: Mutex<HashMap<String, Window>>,
    pub log: Mutex<Vec<RequestInfo>>,
    pub issued_store: Mutex<Vec<String>>,
    /// Key the IdP signs assertions with and the instance checks them with.
    pub saml_key: [u8; 32],
    /// This run's node id (`glide_node_id_for_js`) and load-balancer cookie value.
    pub node_id: String,
    pub pool_cookie: String,
    pub instance_url: Url,
    pub idp_url: Url,
    /// The OAuth provider's refresh tokens, codes, consents and replay checks.
    pub oauth: OAuthState,
    /// The client CA and certificate mappings; `None` unless TLS asks for client certificates.
    pub client_auth: Option<ClientAuth>,
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AppState {
    pub fn new(
        config: EmulatorConfig,
        store: Arc<Store>,
        clock: Clock,
        instance_url: Url,
        idp_url: Url,
        oauth: OAuthState,
        client_auth: Option<ClientAuth>,
    ) -> AppState {
        let saml_key: [u8; 32] = rand::random();
        AppState {
            config: RwLock::new(config),
            clock,
            store,
            sessions: Sessions::default(),
            tokens: Mutex::new(HashMap::new()),
            queued: Mutex::new(Queued::default()),
            drop_next: AtomicUsize::new(0),
            lose_reply: Mutex::new(Vec::new()),
            windows: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            issued_store: Mutex::new(Vec::new()),
            saml_key,
            node_id: super::sessions::random_hex(16),
            pool_cookie: format!("rd1o00000000000000000000ffff7f000001o{}", 16000),
            instance_url,
            idp_url,
            oauth,
            client_auth,
        }
    }

    /// The configuration as it is now (do not hold across an await).
    pub fn config(&self) -> RwLockReadGuard<'_, EmulatorConfig> {
        self.config.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes run-time switches.
    pub fn configure(&self, f: impl FnOnce(&mut EmulatorConfig)) {
        let mut config = self.config.write().unwrap_or_else(|e| e.into_inner());
        f(&mut config);
    }

    pub fn timeouts(&self) -> Timeouts {
        let config = self.config();
        Timeouts {
            ui: config.ui_session_timeout_secs,
            integration: config.integration_session_timeout_secs,
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Takes one queued "drop the connection" if any.
    pub fn take_drop(&self) -> bool {
        self.drop_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Takes the first queued "carry out, then lose the reply" that matches this request.
    pub fn take_lost_reply(&self, method: &str, path_and_query: &str) -> bool {
        let mut queued = lock(&self.lose_reply);
        match queued
            .iter()
            .position(|(m, prefix)| m == method && path_and_query.starts_with(prefix.as_str()))
        {
            Some(i) => {
                queued.remove(i);
                true
            }
            None => false,
        }
    }

    /// Takes one queued failure status if any.
    pub fn take_fail(&self) -> Option<u16> {
        let mut queued = lock(&self.queued);
        if queued.fail.is_empty() {
            None
        } else {
            Some(queued.fail.remove(0))
        }
    }

    /// Notes a `glide_session_store` value as issued.
    pub fn note_store_value(&self, value: &str) {
        lock(&self.issued_store).push(value.to_string());
    }

    pub fn log_request(&self, info: RequestInfo) {
        // The path only: a query string may carry a token (JSONv2 accepts sysparm_ck there).
        let path = info.path_and_query.split('?').next().unwrap_or("");
        tracing::debug!(
            target: "snowbridge::emulator",
            method = %info.method,
            path,
            status = info.status,
            user = info.user.as_deref().unwrap_or("-"),
            "request"
        );
        lock(&self.log).push(info);
    }

    /// Counts one request by `user` against the rate limit. `Err(seconds until reset, reset
    /// epoch, limit)` when over budget.
    pub fn rate_check(&self, user: &str) -> Result<(), (u64, i64, u32)> {
        let Some(limit) = self.config().rate_limit else {
            return Ok(());
        };
        let now = self.now();
        let window = time::Duration::seconds(i64::try_from(limit.window_secs).unwrap_or(i64::MAX));
        let mut windows = lock(&self.windows);
        let entry = windows.entry(user.to_string()).or_insert(Window {
            start: now,
            count: 0,
        });
        if now - entry.start >= window {
            *entry = Window {
                start: now,
                count: 0,
            };
        }
        let reset = entry.start + window;
        if entry.count >= limit.limit {
            let millis = (reset - now).whole_milliseconds().max(1);
            let wait = u64::try_from((millis + 999) / 1000).unwrap_or(1);
            return Err((wait, reset.unix_timestamp(), limit.limit));
        }
        entry.count += 1;
        Ok(())
    }
}
