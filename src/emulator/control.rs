//! [`Control`]: the test's handle on a running emulator. Switches faults, rate limits,
//! session-store rotation and hibernation at run time, moves the virtual clock, kills sessions, and reads what
//! happened (sessions, records, attachments, issued `glide_session_store` values, the request
//! log). Every method is synchronous and thread-safe.
//!
//! It reaches the store directly, without HTTP, and never changes how requests are judged
//! except through the documented switches.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::auth::{Principal, Via};
use super::config::{Faults, RateLimit};
use super::query::EncodedQuery;
use super::rules::{self, Channel, Policy};
use super::schema::{INCIDENT, SYS_ATTACHMENT, SYS_USER, table};
use super::sessions::{self, random_hex};
use super::state::{AppState, BearerToken, RequestInfo, lock};
use super::store::{self, Record};
use super::{EmulatorConfig, attachments};

/// A logged-in session as the emulator holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The JSESSIONID.
    pub id: String,
    /// The `user_name` logged in.
    pub user: String,
    /// How it was made.
    pub kind: SessionKind,
    /// The session's `g_ck` (what `X-UserToken` must carry).
    pub user_token: String,
}

/// How a session was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// A login through the form (a browser's session).
    Ui,
    /// An API call with credentials (Basic, a token) that started a session.
    Integration,
}

/// An attachment's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentInfo {
    /// Its sys_id.
    pub sys_id: String,
    /// The file name as stored.
    pub file_name: String,
    /// The content type as stored.
    pub content_type: String,
    /// The content's length in bytes.
    pub size_bytes: u64,
    /// SHA-256 of the content, hex.
    pub hash: String,
    /// The table of the record it belongs to.
    pub table_name: String,
    /// The record it belongs to.
    pub table_sys_id: String,
}

/// Cheap, cloneable handle on a running emulator.
#[derive(Clone)]
pub struct Control {
    state: Arc<AppState>,
}

fn into_map(record: Record) -> Map<String, Value> {
    record
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl Control {
    pub(crate) fn new(state: Arc<AppState>) -> Control {
        Control { state }
    }

    /// The shared state, for the handle's methods in other files (`control_auth`).
    pub(super) fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The next `n` API requests get `status` (a 5xx) with the error envelope.
    pub fn fail_next(&self, n: usize, status: u16) {
        lock(&self.state.queued)
            .fail
            .extend(std::iter::repeat_n(status, n));
    }

    /// The next `n` API requests have their connection closed without a reply.
    pub fn drop_next(&self, n: usize) {
        self.state
            .drop_next
            .fetch_add(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// The next API request with `method` whose path and query start with `prefix` is carried
    /// out (a record stored, an attachment kept), then its connection is closed before the reply
    /// goes out: a reply lost on the way back, as when a proxy times out after the instance acted.
    pub fn lose_next_reply_to(&self, method: &str, prefix: &str) {
        lock(&self.state.lose_reply).push((method.to_owned(), prefix.to_owned()));
    }

    /// Replaces the random faults (latency, errors, dropped connections, repeated rows).
    pub fn set_faults(&self, faults: Faults) {
        self.state.configure(|c| c.faults = faults);
    }

    /// Replaces the per-user rate limit (`None`: none), starting every window afresh.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.state.configure(|c| c.rate_limit = limit);
        lock(&self.state.windows).clear();
    }

    /// Whether every authenticated reply sets a new `glide_session_store` cookie.
    pub fn set_rotate_session_store(&self, on: bool) {
        self.state.configure(|c| c.rotate_session_store = on);
    }

    /// Puts the instance to sleep (every path answers the hibernation page, `200`) or wakes it.
    /// Sessions, records and the clock are kept, as a real instance keeps its data.
    pub fn set_hibernating(&self, on: bool) {
        self.state.configure(|c| c.hibernating = on);
    }

    /// Table API list pages of two or more rows list their first row twice (see
    /// [`Faults::repeat_row`]).
    pub fn set_repeat_row(&self, on: bool) {
        self.state.configure(|c| c.faults.repeat_row = on);
    }

    /// Changes any run-time switch (policies, timeouts, passwords, login in iframe, JSONv2
    /// behaviour...). Settings read only at start (port, tls, data_dir, incidents, seed,
    /// idp_host) have no effect here.
    pub fn configure(&self, f: impl FnOnce(&mut EmulatorConfig)) {
        self.state.configure(f);
    }

    /// The configuration as it is now.
    pub fn config(&self) -> EmulatorConfig {
        self.state.config().clone()
    }

    /// Moves the virtual clock forward: sessions idle, tokens and windows expire.
    pub fn advance_clock(&self, by: Duration) {
        self.state.clock.advance(by);
    }

    /// Kills every server-side session (remember-me cookies still work).
    pub fn expire_all_sessions(&self) {
        self.state.sessions.expire_all();
    }

    /// Every `glide_session_store` value issued, in order.
    pub fn issued_session_store(&self) -> Vec<String> {
        lock(&self.state.issued_store).clone()
    }

    /// The logged-in sessions that are still alive on the virtual clock.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.state
            .sessions
            .logged_in(self.state.now(), self.state.timeouts())
            .into_iter()
            .map(|s| SessionInfo {
                id: s.id,
                user: s.user.unwrap_or_default(),
                kind: match s.kind {
                    sessions::Kind::Integration => SessionKind::Integration,
                    _ => SessionKind::Ui,
                },
                user_token: s.g_ck,
            })
            .collect()
    }

    /// A record by sys_id or (incidents) number, with raw values.
    pub fn record(&self, table_name: &str, sys_id_or_number: &str) -> Option<Map<String, Value>> {
        let table = table(table_name)?;
        self.state.store.with(|conn| {
            let by_id = store::get(conn, table, sys_id_or_number).ok().flatten();
            let found = match by_id {
                Some(r) => Some(r),
                None if table.column("number").is_some() => {
                    store::find_by(conn, table, "number", sys_id_or_number)
                        .ok()
                        .flatten()
                }
                None => None,
            };
            found.map(into_map)
        })
    }

    /// How many records of `table_name` match the encoded `query`.
    pub fn count(&self, table_name: &str, query: &str) -> usize {
        let Some(table) = table(table_name) else {
            return 0;
        };
        let sql = EncodedQuery::parse(query).to_sql(table);
        self.state
            .store
            .with(|conn| store::count(conn, table, &sql).unwrap_or(0))
    }

    /// The sys_ids of records of `table_name` matching `query`, in its order.
    pub fn sys_ids(&self, table_name: &str, query: &str) -> Vec<String> {
        let Some(table) = table(table_name) else {
            return Vec::new();
        };
        let sql = EncodedQuery::parse(query).to_sql(table);
        self.state
            .store
            .with(|conn| store::select_ids(conn, table, &sql, None).unwrap_or_default())
    }

    /// The sys_id of user `user_name`.
    pub fn user_sys_id(&self, user_name: &str) -> Option<String> {
        self.state.store.with(|conn| {
            store::find_by(conn, &SYS_USER, "user_name", user_name)
                .ok()
                .flatten()
                .and_then(|r| r.get("sys_id").cloned())
        })
    }

    /// Attachments of record `table_sys_id`, oldest first.
    pub fn attachments(&self, table_sys_id: &str) -> Vec<AttachmentInfo> {
        let rows = self
            .state
            .store
            .with(|conn| attachments::of_record(conn, table_sys_id).unwrap_or_default());
        rows.into_iter()
            .map(|r| {
                let get = |k: &str| r.get(k).cloned().unwrap_or_default();
                AttachmentInfo {
                    sys_id: get("sys_id"),
                    file_name: get("file_name"),
                    content_type: get("content_type"),
                    size_bytes: get("size_bytes").parse().unwrap_or(0),
                    hash: get("hash"),
                    table_name: get("table_name"),
                    table_sys_id: get("table_sys_id"),
                }
            })
            .collect()
    }

    /// An attachment's bytes.
    pub fn attachment_content(&self, sys_id: &str) -> Option<Vec<u8>> {
        self.state.store.with(|conn| {
            store::get(conn, &SYS_ATTACHMENT, sys_id).ok().flatten()?;
            store::attachment_data(conn, sys_id).ok().flatten()
        })
    }

    /// Every request answered so far, in order.
    pub fn request_log(&self) -> Vec<RequestInfo> {
        lock(&self.state.log).clone()
    }

    /// Forgets the requests logged so far.
    pub fn clear_request_log(&self) {
        lock(&self.state.log).clear();
    }

    fn admin(&self, conn: &rusqlite::Connection) -> Principal {
        let sys_id = store::find_by(conn, &SYS_USER, "user_name", "admin")
            .ok()
            .flatten()
            .and_then(|r| r.get("sys_id").cloned())
            .unwrap_or_default();
        Principal {
            user: "admin".into(),
            sys_id,
            name: "System Administrator".into(),
            roles: vec!["admin".into()],
            via: Via::Basic,
        }
    }

    /// Inserts an incident as admin with the instance's rules (number, defaults, priority, data
    /// policy); returns its sys_id.
    pub fn insert_incident<I, K, V>(&self, fields: I) -> std::io::Result<String>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let fields: Vec<(String, String)> = fields
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let now = self.state.now();
        self.state.store.with(|conn| {
            let admin = self.admin(conn);
            let input = rules::incoming(conn, &INCIDENT, fields, true)
                .map_err(|e| io_error(format!("{e:?}")))?;
            let policy = Policy {
                web_service_state_acl: false,
            };
            let record = rules::insert(
                conn,
                now,
                &admin,
                &INCIDENT,
                input,
                Channel::WebService,
                policy,
            )
            .map_err(|e| io_error(format!("{e:?}")))?;
            Ok(record.get("sys_id").cloned().unwrap_or_default())
        })
    }

    /// Writes raw `fields` into a record, bypassing every rule (for setting up odd states).
    pub fn set_fields<I, K, V>(
        &self,
        table_name: &str,
        sys_id: &str,
        fields: I,
    ) -> std::io::Result<bool>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let table = table(table_name).ok_or_else(|| io_error(format!("no table {table_name}")))?;
        let changes: Record = fields
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.state
            .store
            .with(|conn| match store::class_of(conn, table, sys_id)? {
                Some(class) => store::update(conn, class, sys_id, &changes),
                None => Ok(false),
            })
            .map_err(io_error)
    }

    /// Issues a bearer token for `user` with `scopes`, valid for `ttl` on the virtual clock
    /// (the way `/oauth_token.do` will).
    pub fn issue_bearer_token(&self, user: &str, scopes: &[&str], ttl: Duration) -> String {
        let token = random_hex(32);
        lock(&self.state.tokens).insert(
            token.clone(),
            BearerToken {
                user: user.to_string(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                expires: self.state.now() + ttl,
            },
        );
        token
    }
}
