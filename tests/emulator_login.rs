//! The emulator's UI login, as a client without a browser sees it: the form and its token, the
//! posted login's redirects and cookies, failures, MFA, SSO through the IdP host, logout.

#[path = "common/emu_client.rs"]
mod emu_client;

use emu_client::{Browser, g_ck, header, input_value, location, messages, set_cookie, start};
use snowbridge::emulator::{Emulator, EmulatorConfig, SessionKind};

#[tokio::test]
async fn login_form_carries_a_token_bound_to_its_session() {
    let emu = start(5);
    let mut browser = Browser::new(emu.url());
    let response = browser.get("/login.do").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(response.headers(), "x-is-logged-in").as_deref(),
        Some("false")
    );
    let jsession =
        set_cookie(response.headers(), "JSESSIONID").expect("an anonymous session is set");
    let html = response.text().await.unwrap();
    for hook in [
        "id=\"user_name\"",
        "id=\"user_password\"",
        "id=\"sysverb_login\"",
        "id=\"remember_me\"",
        "name=\"sys_action\"",
    ] {
        assert!(html.contains(hook), "login form lacks {hook}");
    }
    let ck = input_value(&html, "sysparm_ck").unwrap();
    assert_eq!(ck.len(), 64);
    assert!(
        g_ck(&html).is_none(),
        "a logged-out page must not look logged in"
    );

    // The same session gets the same token; another session another one.
    let again = browser.get("/login.do").await.text().await.unwrap();
    assert_eq!(input_value(&again, "sysparm_ck").unwrap(), ck);
    assert_eq!(browser.jar.get("JSESSIONID"), Some(jsession.value.as_str()));
    let mut other = Browser::new(emu.url());
    let theirs = other.get("/login.do").await.text().await.unwrap();
    assert_ne!(input_value(&theirs, "sysparm_ck").unwrap(), ck);
}

#[tokio::test]
async fn a_posted_login_redirects_and_sets_the_session_cookies() {
    let emu = start(5);
    let mut browser = Browser::new(emu.url());
    let html = browser.get("/login.do").await.text().await.unwrap();
    let anonymous = browser.jar.get("JSESSIONID").unwrap().to_string();
    let ck = input_value(&html, "sysparm_ck").unwrap();
    let response = browser
        .post_form(
            "/login.do",
            &[
                ("user_name", "itil.user"),
                ("user_password", "snowbridge"),
                ("sysparm_ck", &ck),
                ("sys_action", "sysverb_login"),
            ],
        )
        .await;
    assert_eq!(response.status(), 302);
    assert_eq!(location(response.headers()), "/login_redirect.do");
    assert_eq!(
        header(response.headers(), "x-is-logged-in").as_deref(),
        Some("true")
    );
    let h = response.headers();

    let jsession = set_cookie(h, "JSESSIONID").expect("a new JSESSIONID");
    assert_ne!(
        jsession.value, anonymous,
        "no session fixation: the id changes at login"
    );
    assert_eq!(jsession.max_age, None, "JSESSIONID is a session cookie");
    assert!(jsession.http_only);
    assert_eq!(jsession.path.as_deref(), Some("/"));
    assert!(
        !jsession.secure && jsession.same_site.is_none(),
        "plain HTTP: no Secure, no SameSite=None"
    );

    let route = set_cookie(h, "glide_user_route").unwrap();
    assert_eq!(route.max_age, Some(2_147_483_647));
    assert!(route.http_only);
    let store = set_cookie(h, "glide_session_store").unwrap();
    assert_eq!(store.max_age, Some(1800));
    assert!(store.http_only);
    for name in ["glide_user", "glide_user_session"] {
        let c = set_cookie(h, name).unwrap();
        assert_eq!(
            (c.value.as_str(), c.max_age),
            ("", Some(0)),
            "{name} cleared without Remember me"
        );
        assert!(c.http_only);
    }
    for name in [
        "glide_user_activity",
        "glide_node_id_for_js",
        "glide_language",
    ] {
        let c = set_cookie(h, name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(c.max_age, None, "{name} is a session cookie");
    }
    assert!(
        browser.jar.get("BIGipServerpool_emulator").is_some(),
        "the load balancer's cookie came with the first reply"
    );
    assert!(
        set_cookie(h, "BIGipServerpool_emulator").is_none(),
        "and is not re-sent"
    );

    let redirect = browser.get("/login_redirect.do").await;
    assert_eq!(redirect.status(), 302);
    assert_eq!(location(redirect.headers()), "/navpage.do");
    let nav = browser.get("/navpage.do").await;
    assert_eq!(
        header(nav.headers(), "x-is-logged-in").as_deref(),
        Some("true")
    );
    let html = nav.text().await.unwrap();
    assert!(html.contains("name=\"gsft_main\""));
    let token = g_ck(&html).unwrap();
    let sessions = emu.control().sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].user, "itil.user");
    assert_eq!(sessions[0].kind, SessionKind::Ui);
    assert_eq!(sessions[0].id, jsession.value);
    assert_eq!(sessions[0].user_token, token);
}

#[tokio::test]
async fn remember_me_sets_persistent_cookies() {
    let emu = start(1);
    let mut browser = Browser::new(emu.url());
    let html = browser.get("/login.do").await.text().await.unwrap();
    let ck = input_value(&html, "sysparm_ck").unwrap();
    let response = browser
        .post_form(
            "/login.do",
            &[
                ("user_name", "admin"),
                ("user_password", "snowbridge"),
                ("sysparm_ck", &ck),
                ("sys_action", "sysverb_login"),
                ("remember_me", "true"),
            ],
        )
        .await;
    for name in ["glide_user", "glide_user_session"] {
        let c = set_cookie(response.headers(), name).unwrap();
        assert!(!c.value.is_empty());
        assert_eq!(c.max_age, Some(15 * 86_400));
    }
}

#[tokio::test]
async fn failures_show_the_form_again_or_go_to_the_interceptor() {
    let emu = start(1);
    let mut browser = Browser::new(emu.url());
    let html = browser.get("/login.do").await.text().await.unwrap();
    let ck = input_value(&html, "sysparm_ck").unwrap();

    let wrong = browser
        .post_form(
            "/login.do",
            &[
                ("user_name", "itil.user"),
                ("user_password", "nope"),
                ("sysparm_ck", &ck),
                ("sys_action", "sysverb_login"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 200);
    assert_eq!(
        header(wrong.headers(), "x-is-logged-in").as_deref(),
        Some("false")
    );
    let page = wrong.text().await.unwrap();
    assert_eq!(messages(&page, "error"), ["User ID or password invalid"]);

    // The button's action is required.
    let no_action = browser
        .post_form(
            "/login.do",
            &[
                ("user_name", "itil.user"),
                ("user_password", "snowbridge"),
                ("sysparm_ck", &ck),
            ],
        )
        .await;
    assert_eq!(no_action.status(), 200);
    assert!(emu.control().sessions().is_empty());

    // A token from another session.
    let stale = browser
        .post_form(
            "/login.do",
            &[
                ("user_name", "itil.user"),
                ("user_password", "snowbridge"),
                ("sysparm_ck", "0000"),
                ("sys_action", "sysverb_login"),
            ],
        )
        .await;
    assert_eq!(stale.status(), 302);
    assert!(location(stale.headers()).ends_with("security_interceptor.do"));
    assert!(emu.control().sessions().is_empty());
}

#[tokio::test]
async fn an_unauthenticated_page_goes_to_login_and_login_returns_there() {
    let emu = start(3);
    let mut browser = Browser::new(emu.url());
    let id = emu.control().sys_ids("incident", "ORDERBYnumber")[0].clone();
    let target = format!("/incident.do?sys_id={id}");
    let response = browser.get(&target).await;
    assert_eq!(response.status(), 302);
    let to = location(response.headers());
    assert!(to.starts_with("/login.do"), "{to}");
    assert_eq!(
        header(response.headers(), "x-is-logged-in").as_deref(),
        Some("false")
    );

    let html = browser.get(&to).await.text().await.unwrap();
    assert_eq!(
        input_value(&html, "sysparm_goto_url").as_deref(),
        Some(target.as_str())
    );
    let ck = input_value(&html, "sysparm_ck").unwrap();
    let posted = browser
        .post_form(
            "/login.do",
            &[
                ("user_name", "itil.user"),
                ("user_password", "snowbridge"),
                ("sysparm_ck", &ck),
                ("sys_action", "sysverb_login"),
                ("sysparm_goto_url", &target),
            ],
        )
        .await;
    let next = location(posted.headers());
    let back = browser.get(&next).await;
    assert_eq!(location(back.headers()), target);
    let form = browser.get(&target).await;
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("id=\"incident.do\""));
}

#[tokio::test]
async fn logout_ends_the_session() {
    let emu = start(1);
    let mut browser = Browser::new(emu.url());
    browser.login("itil.user", "snowbridge", true).await;
    assert_eq!(emu.control().sessions().len(), 1);
    let out = browser.get("/logout.do").await;
    assert_eq!(out.status(), 302);
    assert_eq!(location(out.headers()), "/logout_success.do");
    assert_eq!(
        set_cookie(out.headers(), "glide_user").unwrap().max_age,
        Some(0)
    );
    assert!(emu.control().sessions().is_empty());
    let after = browser.get("/navpage.do").await;
    assert_eq!(after.status(), 302);
    assert!(location(after.headers()).starts_with("/login.do"));
}

#[tokio::test]
async fn mfa_user_needs_the_code() {
    let emu = start(1);
    let mut browser = Browser::new(emu.url());
    let html = browser.get("/login.do").await.text().await.unwrap();
    let ck = input_value(&html, "sysparm_ck").unwrap();
    let posted = browser
        .post_form(
            "/login.do",
            &[
                ("user_name", "mfa.user"),
                ("user_password", "snowbridge"),
                ("sysparm_ck", &ck),
                ("sys_action", "sysverb_login"),
            ],
        )
        .await;
    assert_eq!(posted.status(), 302);
    assert_eq!(location(posted.headers()), "/multi_factor_auth_view.do");
    assert_eq!(
        header(posted.headers(), "x-is-logged-in").as_deref(),
        Some("false")
    );
    assert!(
        emu.control().sessions().is_empty(),
        "not logged in before the code"
    );
    // Nothing else opens yet.
    assert_eq!(browser.get("/navpage.do").await.status(), 302);

    let page = browser
        .get("/multi_factor_auth_view.do")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"txtResponse\""));
    let ck = input_value(&page, "sysparm_ck").unwrap();
    let wrong = browser
        .post_form(
            "/validate_multifactor_auth_code.do",
            &[("sysparm_ck", &ck), ("txtResponse", "000000")],
        )
        .await;
    assert_eq!(location(wrong.headers()), "/multi_factor_auth_view.do");
    let page = browser
        .get("/multi_factor_auth_view.do")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("outputmsg_error"));
    assert!(emu.control().sessions().is_empty());

    let right = browser
        .post_form(
            "/validate_multifactor_auth_code.do",
            &[("sysparm_ck", &ck), ("txtResponse", "123456")],
        )
        .await;
    assert_eq!(right.status(), 302);
    assert_eq!(location(right.headers()), "/login_redirect.do");
    assert!(set_cookie(right.headers(), "JSESSIONID").is_some());
    let nav = browser.get("/navpage.do").await;
    assert_eq!(nav.status(), 200);
    let sessions = emu.control().sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].user, "mfa.user");
}

/// The whole SSO round trip with raw HTTP: instance → IdP (other host name) → assertion
/// auto-posted back to the instance → session.
#[tokio::test]
async fn sso_user_logs_in_through_the_identity_provider() {
    let emu = start(1);
    let idp = emu.idp_url();
    assert_eq!(idp.host_str(), Some("localhost"));
    assert_eq!(idp.port(), Some(emu.port()));
    let mut browser = Browser::new(emu.url());
    let html = browser.get("/login.do").await.text().await.unwrap();
    assert!(
        html.contains("login_with_sso.do"),
        "the login page offers external login"
    );
    let ck = input_value(&html, "sysparm_ck").unwrap();

    // sso.user has no local password: posting the name goes to the IdP.
    let posted = browser
        .post_form(
            "/login.do",
            &[
                ("user_name", "sso.user"),
                ("user_password", ""),
                ("sysparm_ck", &ck),
                ("sys_action", "sysverb_login"),
            ],
        )
        .await;
    assert_eq!(posted.status(), 302);
    let to_idp = location(posted.headers());
    assert!(
        to_idp.starts_with(idp.as_str()),
        "{to_idp} should be on {idp}"
    );

    // The IdP: its own form and cookie, on its own host.
    let mut at_idp = Browser::new(idp.clone());
    let form = at_idp.get(&to_idp).await;
    assert_eq!(form.status(), 200);
    let form = form.text().await.unwrap();
    assert!(form.contains("id=\"idp_username\""));
    let saml_request = input_value(&form, "SAMLRequest").unwrap();
    let relay = input_value(&form, "RelayState").unwrap();
    let bad = at_idp
        .post_form(
            "/idp/sso",
            &[
                ("idp_username", "sso.user"),
                ("idp_password", "x"),
                ("SAMLRequest", &saml_request),
                ("RelayState", &relay),
            ],
        )
        .await;
    assert!(bad.text().await.unwrap().contains("idp_error"));
    let signed_in = at_idp
        .post_form(
            "/idp/sso",
            &[
                ("idp_username", "sso.user"),
                ("idp_password", "snowbridge"),
                ("SAMLRequest", &saml_request),
                ("RelayState", &relay),
            ],
        )
        .await;
    assert!(set_cookie(signed_in.headers(), "idp_session").is_some());
    assert!(
        set_cookie(signed_in.headers(), "JSESSIONID").is_none(),
        "the IdP sets only its own cookie"
    );
    let auto_post = signed_in.text().await.unwrap();
    let action = format!("action=\"{}navpage.do\"", emu.url());
    assert!(
        auto_post.contains(&action),
        "auto-post targets the instance: {auto_post}"
    );
    assert!(auto_post.contains(".submit()"));
    let saml_response = input_value(&auto_post, "SAMLResponse").unwrap();

    // A forged assertion (another user under the same signature) is refused.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let xml = String::from_utf8(b64.decode(&saml_response).unwrap()).unwrap();
    assert!(xml.contains("<saml:NameID>sso.user</saml:NameID>"));
    let tampered = b64.encode(xml.replace("<saml:NameID>sso.user", "<saml:NameID>admin"));
    let mut forged = Browser::new(emu.url());
    let refused = forged
        .post_form(
            "/navpage.do",
            &[("SAMLResponse", &tampered), ("RelayState", "")],
        )
        .await;
    assert_eq!(refused.status(), 200);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Single sign-on failed")
    );

    // The browser posts the assertion cross-site: no instance cookies needed.
    let mut fresh = Browser::new(emu.url());
    let consumed = fresh
        .post_form(
            "/navpage.do",
            &[("SAMLResponse", &saml_response), ("RelayState", &relay)],
        )
        .await;
    assert_eq!(consumed.status(), 302);
    assert_eq!(location(consumed.headers()), "/navpage.do");
    assert!(set_cookie(consumed.headers(), "JSESSIONID").is_some());
    let nav = fresh.get("/navpage.do").await;
    assert_eq!(nav.status(), 200);
    assert!(g_ck(&nav.text().await.unwrap()).is_some());
    assert!(
        emu.control()
            .sessions()
            .iter()
            .any(|s| s.user == "sso.user")
    );

    // An assertion is good once.
    let mut replay = Browser::new(emu.url());
    let again = replay
        .post_form(
            "/navpage.do",
            &[("SAMLResponse", &saml_response), ("RelayState", &relay)],
        )
        .await;
    assert_eq!(again.status(), 200);

    // With the IdP session cookie, the next round trip skips the IdP form.
    let mut second = Browser::new(emu.url());
    let start_sso = second.get("/login_with_sso.do").await;
    let to_idp = location(start_sso.headers());
    let direct = at_idp.get(&to_idp).await.text().await.unwrap();
    assert!(
        direct.contains("SAMLResponse"),
        "an IdP session answers at once"
    );
}

#[tokio::test]
async fn sso_user_has_no_local_password() {
    let emu = start(1);
    let response = emu_client::basic(
        &emu,
        reqwest::Method::GET,
        "/api/now/table/sys_user?sysparm_limit=1",
        "sso.user",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn login_form_inside_an_iframe_when_configured() {
    let emu = Emulator::start(EmulatorConfig {
        incidents: 1,
        login_in_iframe: true,
        ..EmulatorConfig::default()
    })
    .unwrap();
    let mut browser = Browser::new(emu.url());
    let outer = browser.get("/login.do").await.text().await.unwrap();
    assert!(
        !outer.contains("id=\"user_name\""),
        "the first page holds no form"
    );
    let start = outer.find("src=\"").unwrap() + 5;
    let src = outer[start..start + outer[start..].find('"').unwrap()].replace("&amp;", "&");
    assert!(src.starts_with("/login.do?"));
    let inner = browser.get(&src).await.text().await.unwrap();
    assert!(inner.contains("id=\"user_name\"") && inner.contains("target=\"_top\""));
    let ck = input_value(&inner, "sysparm_ck").unwrap();
    let posted = browser
        .post_form(
            "/login.do",
            &[
                ("user_name", "admin"),
                ("user_password", "snowbridge"),
                ("sysparm_ck", &ck),
                ("sys_action", "sysverb_login"),
            ],
        )
        .await;
    assert_eq!(location(posted.headers()), "/login_redirect.do");
}
