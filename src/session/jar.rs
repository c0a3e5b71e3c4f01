//! The cookie jar behind the HTTP session: reqwest_cookie_store's store, plus the time each
//! cookie was last set by the instance, so that rotated cookies can be merged back into the
//! vault and the newer of two processes' values wins.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use cookie_store::{CookieDomain, CookieExpiration, RawCookie};
use reqwest::header::HeaderValue;
use reqwest_cookie_store::CookieStoreMutex;
use time::OffsetDateTime;

use crate::cookie::{Cookie, SameSite};
use crate::secret::Secret;
use crate::vault::KeptCookie;

type Key = (String, String, String);

/// A cookie jar that reqwest fills and the vault empties.
#[derive(Debug, Default)]
pub struct Jar {
    store: CookieStoreMutex,
    set_at: Mutex<HashMap<Key, OffsetDateTime>>,
    /// How many times the instance (or a browser) has changed the jar: the session compares it
    /// with the count it last wrote to tell whether anything is left to save.
    changes: AtomicU64,
}

impl Jar {
    /// A jar holding `cookies`, each with the time it was set.
    pub fn from_kept(cookies: &[KeptCookie]) -> Jar {
        let jar = Jar::default();
        {
            let mut store = lock(jar.store.lock());
            let mut set_at = lock(jar.set_at.lock());
            for kept in cookies {
                let c = &kept.cookie;
                if let Some(url) = origin_of(c)
                    && store.insert_raw(&to_raw(c), &url).is_ok()
                {
                    set_at.insert(key_of(c), kept.set_at);
                }
            }
        }
        jar
    }

    /// Every unexpired cookie with the time the instance set it.
    pub fn kept(&self) -> Vec<KeptCookie> {
        let store = lock(self.store.lock());
        let set_at = lock(self.set_at.lock());
        store
            .iter_unexpired()
            .map(|c| {
                let cookie = from_store(c);
                let at = set_at
                    .get(&key_of(&cookie))
                    .copied()
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                KeptCookie { cookie, set_at: at }
            })
            .collect()
    }

    /// The times of cookies the instance removed (set expired) while this jar was in use.
    pub fn removed(&self) -> Vec<(Key, OffsetDateTime)> {
        let store = lock(self.store.lock());
        let set_at = lock(self.set_at.lock());
        store
            .iter_any()
            .filter(|c| c.is_expired())
            .map(|c| {
                let key = (
                    String::from(&c.domain),
                    String::from(&c.path),
                    c.name().to_owned(),
                );
                let at = set_at
                    .get(&key)
                    .copied()
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                (key, at)
            })
            .collect()
    }

    /// How many changes the jar has taken since it was made (from the instance's `Set-Cookie`
    /// headers and [`Jar::absorb`]); only ever grows.
    pub(crate) fn changes(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// Takes in cookies seen elsewhere (a browser using the same session); those that differ
    /// from the jar's are marked as set now.
    pub fn absorb(&self, cookies: &[Cookie]) {
        let now = OffsetDateTime::now_utc();
        let mut store = lock(self.store.lock());
        let mut set_at = lock(self.set_at.lock());
        for c in cookies {
            let same = store
                .get(&c.domain, &c.path, &c.name)
                .is_some_and(|have| from_store(have) == *c);
            if same {
                continue;
            }
            if let Some(url) = origin_of(c)
                && store.insert_raw(&to_raw(c), &url).is_ok()
            {
                set_at.insert(key_of(c), now);
                self.changes.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

impl reqwest::cookie::CookieStore for Jar {
    fn set_cookies(&self, headers: &mut dyn Iterator<Item = &HeaderValue>, url: &url::Url) {
        let headers: Vec<&HeaderValue> = headers.collect();
        if headers.is_empty() {
            return;
        }
        let now = OffsetDateTime::now_utc();
        {
            let mut set_at = lock(self.set_at.lock());
            for header in &headers {
                let parsed = std::str::from_utf8(header.as_bytes())
                    .ok()
                    .and_then(|text| cookie_store::Cookie::parse(text, url).ok());
                if let Some(c) = parsed {
                    set_at.insert(
                        (
                            String::from(&c.domain),
                            String::from(&c.path),
                            c.name().to_owned(),
                        ),
                        now,
                    );
                }
            }
        }
        self.store.set_cookies(&mut headers.into_iter(), url);
        // Counted after the store holds them, so a save that sees the count sees the cookies.
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    fn cookies(&self, url: &url::Url) -> Option<HeaderValue> {
        self.store.cookies(url)
    }
}

fn lock<T>(result: std::sync::LockResult<T>) -> T {
    // A panic elsewhere while holding the lock leaves the cookies themselves intact.
    result.unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn key_of(c: &Cookie) -> Key {
    (c.domain.clone(), c.path.clone(), c.name.clone())
}

/// A URL from which the cookie could have been set: its own host, path and scheme.
fn origin_of(c: &Cookie) -> Option<url::Url> {
    let scheme = if c.secure { "https" } else { "http" };
    let host = c.domain.trim_start_matches('.');
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    url::Url::parse(&format!("{scheme}://{host}{}", c.path)).ok()
}

/// Our cookie as the `cookie` crate's, with a Domain attribute only for domain cookies.
pub fn to_raw(c: &Cookie) -> RawCookie<'static> {
    let mut builder = RawCookie::build((c.name.clone(), c.value.expose().to_owned()))
        .path(c.path.clone())
        .secure(c.secure)
        .http_only(c.http_only);
    if !c.host_only {
        builder = builder.domain(c.domain.clone());
    }
    if let Some(same_site) = c.same_site {
        builder = builder.same_site(same_site.into());
    }
    if let Some(at) = c.expires {
        builder = builder.expires(at);
    }
    builder.build()
}

/// Ours as the `cookie` crate's (which cookie_store and reqwest speak).
impl From<SameSite> for cookie::SameSite {
    fn from(s: SameSite) -> cookie::SameSite {
        match s {
            SameSite::Strict => cookie::SameSite::Strict,
            SameSite::Lax => cookie::SameSite::Lax,
            SameSite::None => cookie::SameSite::None,
        }
    }
}

/// The `cookie` crate's as ours.
fn same_site_of(s: cookie::SameSite) -> SameSite {
    match s {
        cookie::SameSite::Strict => SameSite::Strict,
        cookie::SameSite::Lax => SameSite::Lax,
        cookie::SameSite::None => SameSite::None,
    }
}

fn from_store(c: &cookie_store::Cookie<'_>) -> Cookie {
    let (domain, host_only) = match &c.domain {
        CookieDomain::HostOnly(host) => (host.clone(), true),
        CookieDomain::Suffix(domain) => (domain.trim_start_matches('.').to_owned(), false),
        CookieDomain::NotPresent | CookieDomain::Empty => (String::new(), true),
    };
    Cookie {
        name: c.name().to_owned(),
        value: Secret::new(c.value()),
        domain,
        host_only,
        path: String::from(&c.path),
        secure: c.secure().unwrap_or(false),
        http_only: c.http_only().unwrap_or(false),
        same_site: c.same_site().map(same_site_of),
        expires: match c.expires {
            CookieExpiration::AtUtc(at) => Some(at),
            CookieExpiration::SessionEnd => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::cookie::CookieStore as _;

    fn kept(name: &str, host_only: bool, expires: Option<OffsetDateTime>) -> KeptCookie {
        KeptCookie {
            cookie: Cookie {
                name: name.into(),
                value: Secret::new(format!("{name}-value")),
                domain: "acme.service-now.com".into(),
                host_only,
                path: "/".into(),
                secure: true,
                http_only: true,
                same_site: Some(SameSite::None),
                expires,
            },
            set_at: OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_700_000_000),
        }
    }

    #[test]
    fn cookies_go_through_the_jar_with_every_attribute() {
        let persistent =
            OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() + time::Duration::days(10);
        let cookies = vec![
            kept("JSESSIONID", true, None),
            kept("glide_user_route", false, Some(persistent)),
        ];
        let jar = Jar::from_kept(&cookies);
        let mut back = jar.kept();
        back.sort_by(|a, b| a.cookie.name.cmp(&b.cookie.name));
        assert_eq!(back, cookies);
    }

    #[test]
    fn rotated_cookies_carry_the_time_they_were_set() {
        let jar = Jar::from_kept(&[kept("glide_session_store", true, None)]);
        let url = url::Url::parse("https://acme.service-now.com/api/now/table/incident").unwrap();
        let header = HeaderValue::from_static(
            "glide_session_store=NEW; Max-Age=1800; Path=/; HttpOnly; SameSite=None; Secure",
        );
        let before = OffsetDateTime::now_utc();
        jar.set_cookies(&mut [&header].into_iter(), &url);
        let kept = jar.kept();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].cookie.value.expose(), "NEW");
        assert!(kept[0].set_at >= before);
        let sent = reqwest::cookie::CookieStore::cookies(&jar, &url).unwrap();
        assert_eq!(sent.to_str().unwrap(), "glide_session_store=NEW");
    }

    #[test]
    fn a_cookie_the_instance_clears_is_reported_removed() {
        let jar = Jar::from_kept(&[kept("glide_user", true, None)]);
        let url = url::Url::parse("https://acme.service-now.com/").unwrap();
        let header = HeaderValue::from_static("glide_user=; Max-Age=0; Path=/; HttpOnly; Secure");
        jar.set_cookies(&mut [&header].into_iter(), &url);
        assert!(jar.kept().is_empty());
        assert_eq!(jar.removed().len(), 1);
    }
}
