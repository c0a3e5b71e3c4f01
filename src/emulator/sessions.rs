//! Server-side sessions: the JSESSIONID table (anonymous, browser and integration sessions with
//! their `g_ck` token and idle timeout), remember-me tokens (`glide_user` + `glide_user_session`),
//! pending single-sign-on requests and the identity provider's own sessions.
//!
//! In memory only, on the virtual clock. Knows nothing of HTTP or cookies' wire form; `ctx`
//! turns these into Set-Cookie headers.

use std::collections::HashMap;
use std::sync::Mutex;

use rand::Rng;
use time::OffsetDateTime;

/// What a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Not logged in (yet): holds the login form's `sysparm_ck`, or a pending MFA step.
    Anonymous,
    /// A browser login.
    Ui,
    /// Made by a Basic or Bearer call.
    Integration,
}

/// A login waiting for its one-time code.
#[derive(Clone, Debug)]
pub struct PendingMfa {
    pub user: String,
    pub remember: bool,
    pub goto: Option<String>,
}

/// A message shown once on the next page (`outputmsg_info` / `outputmsg_error`).
#[derive(Clone, Debug)]
pub struct Flash {
    pub error: bool,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    pub kind: Kind,
    pub user: Option<String>,
    /// The CSRF token (`g_ck` in pages, `sysparm_ck` in forms, `X-UserToken` on REST).
    pub g_ck: String,
    /// The session's current `glide_session_store` value.
    pub store_value: String,
    pub last_access: OffsetDateTime,
    pub pending_mfa: Option<PendingMfa>,
    pub flash: Vec<Flash>,
}

impl Session {
    pub fn logged_in(&self) -> bool {
        self.kind != Kind::Anonymous && self.user.is_some()
    }
}

/// A remember-me grant: the `glide_user` token maps to a user, `glide_user_session` must match.
#[derive(Clone, Debug)]
struct Remember {
    user: String,
    session_token: String,
    expires: OffsetDateTime,
}

/// A single-sign-on request sent to the IdP, waiting for its assertion.
#[derive(Clone, Debug)]
pub struct PendingSso {
    pub goto: Option<String>,
    pub created: OffsetDateTime,
}

/// Idle timeouts, in seconds.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub ui: u64,
    pub integration: u64,
}

impl Timeouts {
    fn of(&self, kind: Kind) -> i64 {
        let secs = match kind {
            Kind::Integration => self.integration,
            Kind::Ui | Kind::Anonymous => self.ui,
        };
        i64::try_from(secs).unwrap_or(i64::MAX)
    }
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    remember: HashMap<String, Remember>,
    pending_sso: HashMap<String, PendingSso>,
    idp_sessions: HashMap<String, (String, OffsetDateTime)>,
    created_since_sweep: usize,
}

/// Every session the emulator knows.
#[derive(Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

/// Sweep dead sessions after this many creations, so cookie-less clients cannot grow memory.
const SWEEP_EVERY: usize = 512;

/// `n` random bytes as lower-case hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill(bytes.as_mut_slice());
    hex::encode(bytes)
}

fn is_alive(session: &Session, now: OffsetDateTime, timeouts: Timeouts) -> bool {
    (now - session.last_access).whole_seconds() <= timeouts.of(session.kind)
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live session `id`, touched (its idle time restarts). A dead one is removed.
    pub fn touch(&self, id: &str, now: OffsetDateTime, timeouts: Timeouts) -> Option<Session> {
        let mut inner = self.lock();
        let alive = inner.sessions.get(id).map(|s| is_alive(s, now, timeouts))?;
        if !alive {
            inner.sessions.remove(id);
            return None;
        }
        let session = inner.sessions.get_mut(id)?;
        session.last_access = now;
        Some(session.clone())
    }

    /// The session `id` as it is now, without touching it.
    pub fn get(&self, id: &str) -> Option<Session> {
        self.lock().sessions.get(id).cloned()
    }

    /// A new session with fresh id, token and store value.
    pub fn create(
        &self,
        kind: Kind,
        user: Option<String>,
        now: OffsetDateTime,
        timeouts: Timeouts,
    ) -> Session {
        let session = Session {
            id: random_hex(16).to_ascii_uppercase(),
            kind,
            user,
            g_ck: random_hex(32),
            store_value: random_hex(16).to_ascii_uppercase(),
            last_access: now,
            pending_mfa: None,
            flash: Vec::new(),
        };
        let mut inner = self.lock();
        inner.created_since_sweep += 1;
        if inner.created_since_sweep >= SWEEP_EVERY {
            inner.created_since_sweep = 0;
            inner.sessions.retain(|_, s| is_alive(s, now, timeouts));
            inner
                .pending_sso
                .retain(|_, p| (now - p.created).whole_minutes() < 10);
        }
        inner.sessions.insert(session.id.clone(), session.clone());
        session
    }

    /// Applies `f` to session `id`; `None` when it does not exist.
    pub fn update<R>(&self, id: &str, f: impl FnOnce(&mut Session) -> R) -> Option<R> {
        self.lock().sessions.get_mut(id).map(f)
    }

    /// Ends session `id`.
    pub fn remove(&self, id: &str) -> Option<Session> {
        self.lock().sessions.remove(id)
    }

    /// Kills every session (remember-me grants survive).
    pub fn expire_all(&self) {
        self.lock().sessions.clear();
    }

    /// Every logged-in session still alive at `now`.
    pub fn logged_in(&self, now: OffsetDateTime, timeouts: Timeouts) -> Vec<Session> {
        let inner = self.lock();
        let mut out: Vec<Session> = inner
            .sessions
            .values()
            .filter(|s| s.logged_in() && is_alive(s, now, timeouts))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.last_access.cmp(&b.last_access).then(a.id.cmp(&b.id)));
        out
    }

    /// Grants remember-me to `user` for `days`: returns (`glide_user`, `glide_user_session`).
    pub fn remember(&self, user: &str, now: OffsetDateTime, days: u32) -> (String, String) {
        let user_token = random_hex(24);
        let session_token = random_hex(24);
        self.lock().remember.insert(
            user_token.clone(),
            Remember {
                user: user.to_string(),
                session_token: session_token.clone(),
                expires: now + time::Duration::days(i64::from(days)),
            },
        );
        (user_token, session_token)
    }

    /// The user a pair of remember-me cookies stands for, if the grant is valid.
    pub fn remembered(
        &self,
        user_token: &str,
        session_token: &str,
        now: OffsetDateTime,
    ) -> Option<String> {
        let inner = self.lock();
        let grant = inner.remember.get(user_token)?;
        (grant.session_token == session_token && now < grant.expires).then(|| grant.user.clone())
    }

    /// Revokes a remember-me grant (logout).
    pub fn forget(&self, user_token: &str) {
        self.lock().remember.remove(user_token);
    }

    /// Records an SSO request; returns its id (the assertion's `InResponseTo`).
    pub fn start_sso(&self, goto: Option<String>, now: OffsetDateTime) -> String {
        let id = format!("SNB{}", random_hex(16));
        self.lock()
            .pending_sso
            .insert(id.clone(), PendingSso { goto, created: now });
        id
    }

    /// Consumes the SSO request `id` (each can be answered once, within 10 minutes).
    pub fn finish_sso(&self, id: &str, now: OffsetDateTime) -> Option<PendingSso> {
        let pending = self.lock().pending_sso.remove(id)?;
        ((now - pending.created).whole_minutes() < 10).then_some(pending)
    }

    /// Starts an IdP session for `user`; returns the `idp_session` cookie value.
    pub fn idp_login(&self, user: &str, now: OffsetDateTime) -> String {
        let token = random_hex(24);
        self.lock()
            .idp_sessions
            .insert(token.clone(), (user.to_string(), now));
        token
    }

    /// The user of IdP session `token` (IdP sessions last 8 hours).
    pub fn idp_user(&self, token: &str, now: OffsetDateTime) -> Option<String> {
        let inner = self.lock();
        let (user, since) = inner.idp_sessions.get(token)?;
        ((now - *since).whole_hours() < 8).then(|| user.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        ui: 1800,
        integration: 300,
    };

    #[test]
    fn sessions_die_when_idle_past_their_kind_timeout() {
        let sessions = Sessions::default();
        let t0 = OffsetDateTime::now_utc();
        let ui = sessions.create(Kind::Ui, Some("itil.user".into()), t0, T);
        let api = sessions.create(Kind::Integration, Some("admin".into()), t0, T);
        let t1 = t0 + time::Duration::seconds(301);
        assert!(sessions.touch(&ui.id, t1, T).is_some());
        assert!(
            sessions.touch(&api.id, t1, T).is_none(),
            "integration: 5 minutes"
        );
        let t2 = t1 + time::Duration::seconds(1801);
        assert!(sessions.logged_in(t1, T).iter().all(|s| s.id == ui.id));
        assert!(sessions.touch(&ui.id, t2, T).is_none());
        assert!(sessions.logged_in(t2, T).is_empty());
    }

    #[test]
    fn touching_restarts_the_idle_time() {
        let sessions = Sessions::default();
        let t0 = OffsetDateTime::now_utc();
        let s = sessions.create(Kind::Integration, Some("admin".into()), t0, T);
        for i in 1..5 {
            let t = t0 + time::Duration::seconds(200 * i);
            assert!(sessions.touch(&s.id, t, T).is_some());
        }
    }

    #[test]
    fn remember_me_needs_both_halves_and_expires() {
        let sessions = Sessions::default();
        let t0 = OffsetDateTime::now_utc();
        let (u, s) = sessions.remember("itil.user", t0, 15);
        assert_eq!(
            sessions.remembered(&u, &s, t0).as_deref(),
            Some("itil.user")
        );
        assert!(sessions.remembered(&u, "wrong", t0).is_none());
        assert!(
            sessions
                .remembered(&u, &s, t0 + time::Duration::days(16))
                .is_none()
        );
        sessions.expire_all();
        assert!(sessions.remembered(&u, &s, t0).is_some());
        sessions.forget(&u);
        assert!(sessions.remembered(&u, &s, t0).is_none());
    }

    #[test]
    fn sso_requests_are_answered_once() {
        let sessions = Sessions::default();
        let t0 = OffsetDateTime::now_utc();
        let id = sessions.start_sso(Some("/incident_list.do".into()), t0);
        assert!(sessions.finish_sso(&id, t0).is_some());
        assert!(sessions.finish_sso(&id, t0).is_none());
    }
}
