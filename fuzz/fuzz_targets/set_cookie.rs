//! `Set-Cookie` headers from the instance, through the session's jar into the vault and back:
//! whatever the headers say, the cookies the jar keeps can be sealed by a real vault (in a
//! temporary folder, key file only), opened back equal, and survive the next process's start (a jar made
//! from the kept cookies keeps the same cookies), so no rotation is ever lost or unsaveable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reqwest::cookie::CookieStore as _;
use snowbridge::session::Jar;
use snowbridge::vault::{KeyPolicy, Obtained, SessionRecord, Vault};
use std::sync::OnceLock;

const URLS: [&str; 3] = [
    "https://acme.service-now.com/api/now/table/incident",
    "https://acme.service-now.com/",
    "http://127.0.0.1:8765/login.do",
];

/// One vault for the whole run: the folder lives as long as the process.
fn vault() -> &'static Vault {
    static VAULT: OnceLock<(tempfile::TempDir, Vault)> = OnceLock::new();
    &VAULT
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a temporary folder");
            let policy = KeyPolicy {
                file: dir.path().join("vault.key"),
                use_keyring: false,
                keyring_timeout: std::time::Duration::from_secs(1),
            };
            let vault = Vault::with_policy(dir.path().join("sessions"), policy).on_notice(|_| {});
            (dir, vault)
        })
        .1
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let url = url::Url::parse(URLS[usize::from(pick) % URLS.len()]).expect("a URL");
    let headers: Vec<reqwest::header::HeaderValue> = rest
        .split(|&b| b == b'\n')
        .filter_map(|line| reqwest::header::HeaderValue::from_bytes(line).ok())
        .collect();
    let jar = Jar::default();
    jar.set_cookies(&mut headers.iter(), &url);
    let kept = jar.kept();

    let cookies = kept.iter().map(|k| k.cookie.clone()).collect();
    let record = SessionRecord::new("dev", &url, Obtained::FormLogin, cookies);
    vault()
        .store(&record)
        .expect("the vault can write every kept cookie");
    let back = vault()
        .load("dev")
        .expect("and read it back")
        .expect("the record it just wrote");
    assert_eq!(back, record);

    let again = Jar::from_kept(&kept).kept();
    let names = |k: &[snowbridge::vault::KeptCookie]| {
        let mut v: Vec<_> = k
            .iter()
            .map(|k| k.cookie.clone())
            .map(|c| (c.domain.clone(), c.path.clone(), c.name.clone(), c))
            .collect();
        v.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
        v.into_iter().map(|(_, _, _, c)| c).collect::<Vec<_>>()
    };
    assert_eq!(
        names(&again),
        names(&kept),
        "cookies lost or changed on reload"
    );
});
