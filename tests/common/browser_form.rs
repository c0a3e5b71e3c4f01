//! A person's login in a browser the test drives itself (not snowbridge's login flow): the
//! emulator's form filled in, "Remember me" ticked, waited on until the landing page shows `g_ck`.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use snowbridge::browser::{Browser, Wait};

/// Logs `user` in through the emulator's form at `base` in `browser`; returns `g_ck`.
pub async fn log_in(browser: &Browser, base: &url::Url, user: &str, password: &str) -> String {
    let client = browser.client();
    client
        .goto(base.join("login.do").unwrap().as_str())
        .await
        .unwrap();
    for (id, text) in [("user_name", user), ("user_password", password)] {
        client
            .find(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }
    for id in ["remember_me", "sysverb_login"] {
        client
            .find(Locator::Id(id))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    let found = browser
        .wait_for(Instant::now() + Duration::from_secs(30), |c| async move {
            let token = c
                .execute("return (typeof g_ck === 'string' && g_ck) || null;", vec![])
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned));
            Ok(token)
        })
        .await
        .unwrap();
    match found {
        Wait::Ready(token) => token,
        other => panic!("the login did not finish: {other:?}"),
    }
}
