//! The emulator's OAuth 2 provider over TLS, with plain reqwest: every grant's success and its
//! refusals (always the one documented `401`), refresh, revocation, token expiry, the
//! authorization code flow through the login, the identity provider and the consent page, auth
//! scopes on the Table API, and API keys (which auth scopes bind too).

#[path = "common/emu_client.rs"]
mod emu_client;

use std::time::Duration;

use emu_client::{g_ck, input_value, location};
use reqwest::StatusCode;
use serde_json::{Value, json};
use snowbridge::emulator::{
    Control, DEFAULT_REDIRECT_URI, Emulator, EmulatorConfig, JwtUserField, JwtVerifier, OAuthApp,
    RefreshTokenReply, ScopeRefusal,
};

const CONFIDENTIAL: (&str, &str) = ("3e57bb02663102004d010ee8f561307a", "confidential-secret");
const PKCE: &str = "b7a0c9d4e5f6471a8b2c3d4e5f60718a";
const INTEGRATION: (&str, &str) = ("5c1d2e3f4a5b46c7d8e9f0a1b2c3d4e5", "integration-secret");
const JWT_APP: (&str, &str) = ("9f8e7d6c5b4a43928170f6e5d4c3b2a1", "jwt-secret");
const READER: (&str, &str) = ("4d3c2b1a0f9e48d7c6b5a49382716055", "reader-secret");
const WRITER: (&str, &str) = ("7e6f5a4b3c2d41e0f9a8b7c6d5e4f3a2", "writer-secret");
const VERIFIER: &str = "a-pkce-verifier-of-more-than-forty-three-characters-0123456789";

fn start() -> Emulator {
    Emulator::start(EmulatorConfig {
        tls: true,
        incidents: 3,
        ..EmulatorConfig::default()
    })
    .expect("the emulator starts")
}

/// A client trusting only the emulator's CA, following no redirects.
fn client(emu: &Emulator) -> reqwest::Client {
    let pem = std::fs::read(emu.ca_pem_path().unwrap()).unwrap();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap()
}

/// POSTs `form` to the token endpoint; the reply's status and JSON body.
async fn token(emu: &Emulator, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = client(emu)
        .post(emu.url().join("/oauth_token.do").unwrap())
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Asserts the documented refusal, and that the emulator refused for `why`.
fn assert_refused(reply: &(StatusCode, Value), control: &Control, why: &str) {
    assert_eq!(reply.0, StatusCode::UNAUTHORIZED, "{}", reply.1);
    assert_eq!(
        reply.1,
        json!({"error_description": "access_denied", "error": "server_error"})
    );
    let refusals = control.oauth_refusals();
    let last = refusals.last().map(String::as_str).unwrap_or("");
    assert!(last.contains(why), "refused for {last:?}, expected {why:?}");
}

fn password_form<'a>(app: (&'a str, &'a str), password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "password"),
        ("client_id", app.0),
        ("client_secret", app.1),
        ("username", "itil.user"),
        ("password", password),
    ]
}

/// A Table API GET with `access_token`; the status and who the emulator ran it as.
async fn get_incidents(emu: &Emulator, access_token: &str) -> (StatusCode, Value) {
    let response = client(emu)
        .get(
            emu.url()
                .join("/api/now/table/incident?sysparm_limit=1")
                .unwrap(),
        )
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn refresh_form<'a>(app: (&'a str, &'a str), refresh_token: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("grant_type", "refresh_token"),
        ("client_id", app.0),
        ("client_secret", app.1),
        ("refresh_token", refresh_token),
    ]
}

fn client_credentials_form<'a>(app: (&'a str, &'a str)) -> [(&'a str, &'a str); 3] {
    [
        ("grant_type", "client_credentials"),
        ("client_id", app.0),
        ("client_secret", app.1),
    ]
}

fn last_user(control: &Control) -> Option<String> {
    control.request_log().last().and_then(|r| r.user.clone())
}

fn text(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {value}"))
        .to_string()
}

#[tokio::test]
async fn password_grant_then_refresh() {
    let emu = start();
    let control = emu.control();

    let (status, reply) = token(&emu, &password_form(CONFIDENTIAL, "snowbridge")).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["token_type"], "Bearer");
    assert_eq!(reply["scope"], "useraccount");
    assert_eq!(reply["expires_in"], 1799);
    let access = text(&reply, "access_token");
    let refresh = text(&reply, "refresh_token");
    assert_ne!(access, refresh);

    let (status, body) = get_incidents(&emu, &access).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"].as_array().unwrap().len(), 1);
    assert_eq!(last_user(&control).as_deref(), Some("itil.user"));

    // A refresh gives a new access token and, by default, no refresh token.
    let refreshed = token(&emu, &refresh_form(CONFIDENTIAL, &refresh)).await;
    assert_eq!(refreshed.0, 200, "{}", refreshed.1);
    let renewed = text(&refreshed.1, "access_token");
    assert_ne!(renewed, access);
    assert!(
        refreshed.1.get("refresh_token").is_none(),
        "{}",
        refreshed.1
    );
    assert_eq!(get_incidents(&emu, &renewed).await.0, 200);

    // Configured to repeat it, the same refresh token comes back.
    control.set_refresh_token_reply(RefreshTokenReply::Repeat);
    let repeated = token(&emu, &refresh_form(CONFIDENTIAL, &refresh)).await;
    assert_eq!(repeated.1["refresh_token"], refresh.as_str());

    // Client credentials as HTTP Basic, as OAuth libraries send them.
    let response = client(&emu)
        .post(emu.url().join("/oauth_token.do").unwrap())
        .basic_auth(CONFIDENTIAL.0, Some(CONFIDENTIAL.1))
        .form(&[
            ("grant_type", "password"),
            ("username", "itil.admin"),
            ("password", "snowbridge"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(
        get_incidents(&emu, &text(&reply, "access_token")).await.0,
        200
    );
    assert_eq!(last_user(&control).as_deref(), Some("itil.admin"));
}

#[tokio::test]
async fn token_endpoint_refusals_all_look_alike() {
    let emu = start();
    let control = emu.control();

    let wrong_secret = token(&emu, &password_form((CONFIDENTIAL.0, "nope"), "snowbridge")).await;
    assert_refused(&wrong_secret, &control, "wrong client_secret");

    let wrong_password = token(&emu, &password_form(CONFIDENTIAL, "wrong")).await;
    assert_refused(&wrong_password, &control, "wrong password");

    let unknown_client = token(&emu, &password_form(("0000", "x"), "snowbridge")).await;
    assert_refused(&unknown_client, &control, "no application");

    // sso.user has no local password on the instance.
    let mut sso = password_form(CONFIDENTIAL, "snowbridge");
    sso[3] = ("username", "sso.user");
    assert_refused(&token(&emu, &sso).await, &control, "wrong password");

    // A JSON body is not read.
    let response = client(&emu)
        .post(emu.url().join("/oauth_token.do").unwrap())
        .json(&json!({
            "grant_type": "password", "client_id": CONFIDENTIAL.0,
            "client_secret": CONFIDENTIAL.1, "username": "itil.user", "password": "snowbridge"
        }))
        .send()
        .await
        .unwrap();
    let json_body = (response.status(), response.json().await.unwrap());
    assert_refused(
        &json_body,
        &control,
        "not application/x-www-form-urlencoded",
    );

    // Nor is the query string.
    let mut url = emu.url().join("/oauth_token.do").unwrap();
    url.query_pairs_mut()
        .extend_pairs(password_form(CONFIDENTIAL, "snowbridge"));
    let response = client(&emu)
        .post(url)
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    let in_query = (response.status(), response.json().await.unwrap());
    assert_refused(&in_query, &control, "no client_id");

    // Basic and body naming different clients.
    let response = client(&emu)
        .post(emu.url().join("/oauth_token.do").unwrap())
        .basic_auth(INTEGRATION.0, Some(INTEGRATION.1))
        .form(&password_form(CONFIDENTIAL, "snowbridge"))
        .send()
        .await
        .unwrap();
    let mixed = (response.status(), response.json().await.unwrap());
    assert_refused(&mixed, &control, "client_id differs");

    let unknown_grant = token(
        &emu,
        &[
            ("grant_type", "implicit"),
            ("client_id", CONFIDENTIAL.0),
            ("client_secret", CONFIDENTIAL.1),
        ],
    )
    .await;
    assert_refused(&unknown_grant, &control, "unsupported grant_type");

    // A public client has no secret to prove, so no password grant.
    let public = token(
        &emu,
        &[
            ("grant_type", "password"),
            ("client_id", PKCE),
            ("username", "itil.user"),
            ("password", "snowbridge"),
        ],
    )
    .await;
    assert_refused(&public, &control, "public client");

    // After all that, the right request still works.
    let ok = token(&emu, &password_form(CONFIDENTIAL, "snowbridge")).await;
    assert_eq!(ok.0, 200);
    // GET is no way to the token endpoint.
    let get = client(&emu)
        .get(emu.url().join("/oauth_token.do").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
}

#[tokio::test]
async fn tokens_expire_on_the_instance_clock() {
    let emu = start();
    let control = emu.control();
    assert!(control.update_oauth_app(CONFIDENTIAL.0, |app| {
        app.access_token_lifespan_secs = 3;
        app.refresh_token_lifespan_secs = 20;
    }));
    let (_, reply) = token(&emu, &password_form(CONFIDENTIAL, "snowbridge")).await;
    assert_eq!(reply["expires_in"], 2);
    let access = text(&reply, "access_token");
    let refresh = text(&reply, "refresh_token");
    assert_eq!(get_incidents(&emu, &access).await.0, 200);

    control.advance_clock(Duration::from_secs(4));
    let (status, body) = get_incidents(&emu, &access).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error": {"message": "User Not Authenticated",
            "detail": "Required to provide Auth information"}, "status": "failure"})
    );

    let refreshing = refresh_form(CONFIDENTIAL, &refresh);
    let (status, renewed) = token(&emu, &refreshing).await;
    assert_eq!(status, 200);
    assert_eq!(
        get_incidents(&emu, &text(&renewed, "access_token")).await.0,
        200
    );

    control.advance_clock(Duration::from_secs(21));
    assert_refused(
        &token(&emu, &refreshing).await,
        &control,
        "expired refresh token",
    );
}

#[tokio::test]
async fn revoked_tokens_stop_working() {
    let emu = start();
    let control = emu.control();
    let (_, reply) = token(&emu, &password_form(CONFIDENTIAL, "snowbridge")).await;
    let access = text(&reply, "access_token");
    let refresh = text(&reply, "refresh_token");

    // No authentication needed; revoking the refresh token takes its access tokens along.
    let mut url = emu.url().join("/oauth_revoke_token.do").unwrap();
    url.query_pairs_mut().append_pair("token", &refresh);
    let revoked = client(&emu).post(url).send().await.unwrap();
    assert_eq!(revoked.status(), 200);
    let refreshed = token(&emu, &refresh_form(CONFIDENTIAL, &refresh)).await;
    assert_refused(&refreshed, &control, "unknown or revoked refresh token");
    assert_eq!(get_incidents(&emu, &access).await.0, 401);

    // An access token alone.
    let (_, reply) = token(&emu, &password_form(CONFIDENTIAL, "snowbridge")).await;
    let access = text(&reply, "access_token");
    let mut url = emu.url().join("/oauth_revoke_token.do").unwrap();
    url.query_pairs_mut().append_pair("token", &access);
    assert_eq!(client(&emu).post(url).send().await.unwrap().status(), 200);
    assert_eq!(get_incidents(&emu, &access).await.0, 401);

    let without = client(&emu)
        .post(emu.url().join("/oauth_revoke_token.do").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 400);
}

#[tokio::test]
async fn client_credentials_act_as_the_application_user() {
    let emu = start();
    let control = emu.control();
    let form = client_credentials_form(INTEGRATION);
    let (status, reply) = token(&emu, &form).await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply.get("refresh_token").is_none(), "{reply}");
    assert_eq!(reply["expires_in"], 1799);
    assert_eq!(
        get_incidents(&emu, &text(&reply, "access_token")).await.0,
        200
    );
    assert_eq!(last_user(&control).as_deref(), Some("itil.user"));

    let wrong = token(
        &emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", INTEGRATION.0),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_refused(&wrong, &control, "wrong client_secret");

    // An app without an OAuth Application User cannot use the grant.
    let no_user = token(&emu, &client_credentials_form(CONFIDENTIAL)).await;
    assert_refused(&no_user, &control, "no OAuth Application User");

    // Nor any app while the property is off.
    control.set_client_credentials_grant_enabled(false);
    assert_refused(
        &token(&emu, &form).await,
        &control,
        "glide.oauth.inbound.client.credential.grant_type.enabled",
    );
    control.set_client_credentials_grant_enabled(true);
    assert_eq!(token(&emu, &form).await.0, 200);
}

/// Signs claims with the private key the emulator made for `kid`.
fn sign(control: &Control, kid: &str, claims: &Value) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let (private, _) = control
        .jwt_key_paths(kid)
        .unwrap()
        .expect("a default verifier has this kid");
    let pem = std::fs::read(private).unwrap();
    let (key, alg) = if kid.contains("es256") {
        (EncodingKey::from_ec_pem(&pem).unwrap(), Algorithm::ES256)
    } else {
        (EncodingKey::from_rsa_pem(&pem).unwrap(), Algorithm::RS256)
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn claims(sub: &str, jti: &str, exp_in: i64) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({"iss": JWT_APP.0, "aud": JWT_APP.0, "sub": sub, "iat": now,
           "exp": now + exp_in, "jti": jti})
}

async fn jwt_grant(emu: &Emulator, assertion: &str) -> (StatusCode, Value) {
    token(
        emu,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("client_id", JWT_APP.0),
            ("client_secret", JWT_APP.1),
            ("assertion", assertion),
        ],
    )
    .await
}

#[tokio::test]
async fn jwt_bearer_assertions() {
    let emu = start();
    let control = emu.control();

    for (kid, jti) in [("snowbridge-rs256", "jti-1"), ("snowbridge-es256", "jti-2")] {
        let (status, reply) =
            jwt_grant(&emu, &sign(&control, kid, &claims("itil.admin", jti, 60))).await;
        assert_eq!(status, 200, "{kid}: {reply}");
        assert!(reply.get("refresh_token").is_none(), "{reply}");
        assert_eq!(
            get_incidents(&emu, &text(&reply, "access_token")).await.0,
            200
        );
        assert_eq!(last_user(&control).as_deref(), Some("itil.admin"));
    }

    // The same jti again is a replay, even in a new assertion.
    let replay = sign(
        &control,
        "snowbridge-rs256",
        &claims("itil.admin", "jti-1", 50),
    );
    assert_refused(&jwt_grant(&emu, &replay).await, &control, "seen before");

    let expired = sign(
        &control,
        "snowbridge-rs256",
        &claims("itil.admin", "jti-3", -5),
    );
    assert_refused(&jwt_grant(&emu, &expired).await, &control, "expired");

    // Signed by a key the verifier map does not hold, under its kid.
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let forged = {
        use jsonwebtoken::{Algorithm, EncodingKey, Header};
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("snowbridge-es256".into());
        let key = EncodingKey::from_ec_pem(other.serialize_pem().as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &claims("itil.admin", "jti-4", 60), &key).unwrap()
    };
    assert_refused(&jwt_grant(&emu, &forged).await, &control, "does not verify");

    let mut wrong_aud = claims("itil.admin", "jti-5", 60);
    wrong_aud["aud"] = json!("someone-else");
    let wrong_aud = sign(&control, "snowbridge-rs256", &wrong_aud);
    assert_refused(
        &jwt_grant(&emu, &wrong_aud).await,
        &control,
        "does not verify",
    );

    let unknown_user = sign(&control, "snowbridge-rs256", &claims("nobody", "jti-6", 60));
    assert_refused(
        &jwt_grant(&emu, &unknown_user).await,
        &control,
        "no active user",
    );

    // pysnc's ServiceNowJWTAuth sends the JWT in an "Authentication" header: not read.
    let response = client(&emu)
        .post(emu.url().join("/oauth_token.do").unwrap())
        .header(
            "Authentication",
            format!(
                "Bearer {}",
                sign(
                    &control,
                    "snowbridge-rs256",
                    &claims("itil.admin", "jti-7", 60)
                )
            ),
        )
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("client_id", JWT_APP.0),
            ("client_secret", JWT_APP.1),
        ])
        .send()
        .await
        .unwrap();
    let in_header = (response.status(), response.json().await.unwrap());
    assert_refused(&in_header, &control, "no assertion");

    // `sub` matched against the email field when the app says so.
    control.update_oauth_app(JWT_APP.0, |app| app.jwt_user_field = JwtUserField::Email);
    let by_email = sign(
        &control,
        "snowbridge-es256",
        &claims("itil.admin@example.com", "jti-8", 60),
    );
    let (status, reply) = jwt_grant(&emu, &by_email).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        get_incidents(&emu, &text(&reply, "access_token")).await.0,
        200
    );
    assert_eq!(last_user(&control).as_deref(), Some("itil.admin"));
}

/// The authorize URL for `client_id` with a PKCE challenge of [`VERIFIER`].
fn authorize_url(emu: &Emulator, client_id: &str, state: Option<&str>) -> url::Url {
    let mut url = emu.url().join("/oauth_auth.do").unwrap();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", DEFAULT_REDIRECT_URI)
            .append_pair("scope", "useraccount")
            .append_pair("code_challenge", &snowbridge_pkce_challenge(VERIFIER))
            .append_pair("code_challenge_method", "S256");
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    url
}

/// The S256 challenge, computed here independently of the emulator.
fn snowbridge_pkce_challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

/// A browser with a jar that logs in through the form on the way to `target`, ending on the
/// consent page; returns the browser and the page.
async fn through_login_to_consent(
    emu: &Emulator,
    target: &url::Url,
    user: &str,
) -> (emu_client::Browser, String) {
    let mut browser = emu_client::Browser::with_client(emu.url(), client(emu));
    let first = browser.get(target.as_str()).await;
    assert_eq!(
        first.status(),
        302,
        "a logged-out browser is sent to log in"
    );
    let to_login = location(first.headers());
    assert!(
        to_login.starts_with("/login.do?sysparm_goto_url="),
        "{to_login}"
    );
    let form = browser.get(&to_login).await.text().await.unwrap();
    let ck = input_value(&form, "sysparm_ck").unwrap();
    let goto = input_value(&form, "sysparm_goto_url").unwrap();
    assert!(goto.starts_with("/oauth_auth.do?"), "{goto}");
    let posted = browser
        .post_form(
            "/login.do",
            &[
                ("user_name", user),
                ("user_password", "snowbridge"),
                ("sysparm_ck", &ck),
                ("sys_action", "sysverb_login"),
                ("sysparm_goto_url", &goto),
            ],
        )
        .await;
    assert_eq!(posted.status(), 302);
    let redirect = browser.get(&location(posted.headers())).await;
    let back = location(redirect.headers());
    assert_eq!(back, goto, "the login returns to the authorize call");
    let consent = browser.get(&back).await;
    assert_eq!(consent.status(), 200);
    let html = consent.text().await.unwrap();
    (browser, html)
}

/// Presses `button` (`allow` or `deny`) on the consent page; the redirect's query pairs.
async fn press(
    browser: &mut emu_client::Browser,
    html: &str,
    button: &str,
) -> Vec<(String, String)> {
    assert!(html.contains(&format!("id=\"oauth_{button}\"")), "{html}");
    let ck = input_value(html, "sysparm_ck").unwrap();
    let request = input_value(html, "oauth_request").unwrap();
    let pressed = browser
        .post_form(
            "/oauth_auth.do",
            &[
                ("sysparm_ck", ck.as_str()),
                ("oauth_request", request.as_str()),
                ("action", button),
            ],
        )
        .await;
    assert_eq!(pressed.status(), 302);
    let to = url::Url::parse(&location(pressed.headers())).unwrap();
    assert_eq!(
        format!("{}://{}{}", to.scheme(), to.authority(), to.path()),
        DEFAULT_REDIRECT_URI
    );
    to.query_pairs().into_owned().collect()
}

fn pair<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn code_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", PKCE),
        ("code", code),
        ("redirect_uri", DEFAULT_REDIRECT_URI),
        ("code_verifier", verifier),
    ]
}

#[tokio::test]
async fn authorization_code_with_pkce_through_login_and_consent() {
    let emu = start();
    let control = emu.control();
    let (mut browser, html) =
        through_login_to_consent(&emu, &authorize_url(&emu, PKCE, Some("st-1")), "itil.user").await;
    assert!(
        g_ck(&html).is_some(),
        "the consent page is a logged-in page"
    );
    assert!(html.contains("id=\"oauth_deny\""));
    let pairs = press(&mut browser, &html, "allow").await;
    assert_eq!(pair(&pairs, "state"), Some("st-1"));
    let code = pair(&pairs, "code").unwrap().to_string();

    // The wrong verifier: refused, and the code is spent.
    let wrong = "another-verifier-which-is-also-long-enough-to-be-valid-0000";
    assert_refused(
        &token(&emu, &code_form(&code, wrong)).await,
        &control,
        "does not match the code_challenge",
    );
    assert_refused(
        &token(&emu, &code_form(&code, VERIFIER)).await,
        &control,
        "already used",
    );

    // Again, with the right verifier.
    let consent = browser
        .get(authorize_url(&emu, PKCE, Some("st-2")).as_str())
        .await;
    let html = consent.text().await.unwrap();
    let pairs = press(&mut browser, &html, "allow").await;
    let code = pair(&pairs, "code").unwrap().to_string();
    let (status, reply) = token(&emu, &code_form(&code, VERIFIER)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        get_incidents(&emu, &text(&reply, "access_token")).await.0,
        200
    );
    assert_eq!(last_user(&control).as_deref(), Some("itil.user"));
    assert_refused(
        &token(&emu, &code_form(&code, VERIFIER)).await,
        &control,
        "already used",
    );

    // A public client refreshes with its id alone.
    let (status, renewed) = token(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", PKCE),
            ("refresh_token", &text(&reply, "refresh_token")),
        ],
    )
    .await;
    assert_eq!(status, 200, "{renewed}");

    // redirect_uri must be the authorize call's.
    let html = browser
        .get(authorize_url(&emu, PKCE, Some("st-3")).as_str())
        .await
        .text()
        .await
        .unwrap();
    let pairs = press(&mut browser, &html, "allow").await;
    let code = pair(&pairs, "code").unwrap().to_string();
    let mut form = code_form(&code, VERIFIER);
    form[3] = ("redirect_uri", "http://127.0.0.1:8401/callback");
    assert_refused(&token(&emu, &form).await, &control, "redirect_uri");

    // Codes are short lived.
    let html = browser
        .get(authorize_url(&emu, PKCE, Some("st-4")).as_str())
        .await
        .text()
        .await
        .unwrap();
    let pairs = press(&mut browser, &html, "allow").await;
    let code = pair(&pairs, "code").unwrap().to_string();
    control.advance_clock(Duration::from_secs(61));
    assert_refused(
        &token(&emu, &code_form(&code, VERIFIER)).await,
        &control,
        "expired authorization code",
    );
}

#[tokio::test]
async fn deny_missing_state_and_bad_requests() {
    let emu = start();
    let control = emu.control();

    // Without state: the instance's message, and no redirect with a code.
    let mut browser = emu_client::Browser::with_client(emu.url(), client(&emu));
    let missing = browser.get(authorize_url(&emu, PKCE, None).as_str()).await;
    assert_eq!(missing.status(), 400);
    assert!(missing.headers().get("location").is_none());
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("Missing State parameter in request.")
    );

    // An unregistered redirect URI is never redirected to.
    let mut url = authorize_url(&emu, PKCE, Some("s"));
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            let v = if k == "redirect_uri" {
                "https://evil.example/cb".to_string()
            } else {
                v
            };
            (k, v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let evil = browser.get(url.as_str()).await;
    assert_eq!(evil.status(), 400);
    assert!(evil.headers().get("location").is_none());

    // A public client must send a code challenge.
    let mut no_pkce = emu.url().join("/oauth_auth.do").unwrap();
    no_pkce
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", PKCE)
        .append_pair("redirect_uri", DEFAULT_REDIRECT_URI)
        .append_pair("state", "s-9");
    let refused = browser.get(no_pkce.as_str()).await;
    let to = url::Url::parse(&location(refused.headers())).unwrap();
    let pairs: Vec<(String, String)> = to.query_pairs().into_owned().collect();
    assert_eq!(pair(&pairs, "error"), Some("invalid_request"));
    assert_eq!(pair(&pairs, "state"), Some("s-9"));

    // Deny on the consent page of a confidential client.
    let (mut browser, html) = through_login_to_consent(
        &emu,
        &authorize_url(&emu, CONFIDENTIAL.0, Some("deny-me")),
        "itil.admin",
    )
    .await;
    let pairs = press(&mut browser, &html, "deny").await;
    assert_eq!(pair(&pairs, "error"), Some("access_denied"));
    assert_eq!(pair(&pairs, "state"), Some("deny-me"));
    assert_eq!(pair(&pairs, "code"), None);

    // Allow, then a wrong secret at the exchange.
    let html = browser
        .get(authorize_url(&emu, CONFIDENTIAL.0, Some("ok")).as_str())
        .await
        .text()
        .await
        .unwrap();
    let pairs = press(&mut browser, &html, "allow").await;
    let code = pair(&pairs, "code").unwrap().to_string();
    let mut form = code_form(&code, VERIFIER);
    form[1] = ("client_id", CONFIDENTIAL.0);
    form.push(("client_secret", "wrong"));
    assert_refused(&token(&emu, &form).await, &control, "wrong client_secret");

    // A consent form answered without its session's token is not honoured.
    let html = browser
        .get(authorize_url(&emu, CONFIDENTIAL.0, Some("x")).as_str())
        .await
        .text()
        .await
        .unwrap();
    let request = input_value(&html, "oauth_request").unwrap();
    let forged = browser
        .post_form(
            "/oauth_auth.do",
            &[
                ("sysparm_ck", "forged"),
                ("oauth_request", &request),
                ("action", "allow"),
            ],
        )
        .await;
    assert_eq!(location(forged.headers()), "/security_interceptor.do");
}

#[tokio::test]
async fn sso_user_authorizes_through_the_identity_provider() {
    let emu = start();
    let target = authorize_url(&emu, PKCE, Some("sso-state"));
    let mut browser = emu_client::Browser::with_client(emu.url(), client(&emu));
    let to_login = location(browser.get(target.as_str()).await.headers());
    let form = browser.get(&to_login).await.text().await.unwrap();
    let ck = input_value(&form, "sysparm_ck").unwrap();
    let goto = input_value(&form, "sysparm_goto_url").unwrap();
    let posted = browser
        .post_form(
            "/login.do",
            &[
                ("user_name", "sso.user"),
                ("user_password", ""),
                ("sysparm_ck", &ck),
                ("sys_action", "sysverb_login"),
                ("sysparm_goto_url", &goto),
            ],
        )
        .await;
    let to_idp = location(posted.headers());
    assert!(to_idp.starts_with(emu.idp_url().as_str()), "{to_idp}");

    let mut idp = emu_client::Browser::with_client(emu.idp_url(), client(&emu));
    let idp_form = idp.get(&to_idp).await.text().await.unwrap();
    let signed_in = idp
        .post_form(
            "/idp/sso",
            &[
                ("idp_username", "sso.user"),
                ("idp_password", "snowbridge"),
                (
                    "SAMLRequest",
                    &input_value(&idp_form, "SAMLRequest").unwrap(),
                ),
                ("RelayState", &input_value(&idp_form, "RelayState").unwrap()),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    let consumed = browser
        .post_form(
            "/navpage.do",
            &[
                (
                    "SAMLResponse",
                    &input_value(&signed_in, "SAMLResponse").unwrap(),
                ),
                (
                    "RelayState",
                    &input_value(&signed_in, "RelayState").unwrap(),
                ),
            ],
        )
        .await;
    assert_eq!(
        location(consumed.headers()),
        goto,
        "back to the authorize call"
    );
    let html = browser.get(&goto).await.text().await.unwrap();
    assert!(html.contains("sso.user"), "{html}");
    let pairs = press(&mut browser, &html, "allow").await;
    let (status, reply) = token(&emu, &code_form(pair(&pairs, "code").unwrap(), VERIFIER)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        get_incidents(&emu, &text(&reply, "access_token")).await.0,
        200
    );
    assert_eq!(last_user(&emu.control()).as_deref(), Some("sso.user"));
}

async fn post_incident(emu: &Emulator, access_token: &str) -> (StatusCode, Value) {
    let response = client(emu)
        .post(emu.url().join("/api/now/table/incident").unwrap())
        .bearer_auth(access_token)
        .json(&json!({"short_description": "scoped"}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn app_token(emu: &Emulator, app: (&str, &str)) -> String {
    let (status, reply) = token(emu, &client_credentials_form(app)).await;
    assert_eq!(status, 200, "{reply}");
    text(&reply, "access_token")
}

#[tokio::test]
async fn auth_scopes_per_table_and_method() {
    let emu = start();
    let control = emu.control();

    let reader = app_token(&emu, READER).await;
    assert_eq!(get_incidents(&emu, &reader).await.0, 200);
    let (status, body) = post_incident(&emu, &reader).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"error": {"message": "User Not Authorized",
            "detail": "Missing required api access scope: incident_write"}, "status": "failure"})
    );

    let writer = app_token(&emu, WRITER).await;
    assert_eq!(get_incidents(&emu, &writer).await.0, 200);
    assert_eq!(post_incident(&emu, &writer).await.0, 201);

    // useraccount grants everything; Basic is never scoped.
    let all = app_token(&emu, INTEGRATION).await;
    assert_eq!(post_incident(&emu, &all).await.0, 201);
    let basic = client(&emu)
        .post(emu.url().join("/api/now/table/incident").unwrap())
        .basic_auth("itil.user", Some("snowbridge"))
        .json(&json!({"short_description": "basic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 201);

    // Other tables fall under the "*" policies.
    let users = client(&emu)
        .get(
            emu.url()
                .join("/api/now/table/sys_user?sysparm_limit=1")
                .unwrap(),
        )
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 403);

    // The other placement of the text.
    control.set_scope_refusal(ScopeRefusal::Message);
    let (_, body) = post_incident(&emu, &reader).await;
    assert_eq!(
        body["error"]["message"],
        "Missing required api access scope: incident_write"
    );
    // And with no policy on the table, scoped tokens pass.
    control.set_table_auth_scopes(Vec::new());
    assert_eq!(post_incident(&emu, &reader).await.0, 201);
}

#[tokio::test]
async fn api_keys_by_header_or_query() {
    let emu = start();
    let control = emu.control();
    let plain = client(&emu);
    let full = "6f7e2d1c0b9a48f7e6d5c4b3a2918070";
    let read_only = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

    let by_header = plain
        .get(emu.url().join("/api/now/table/incident").unwrap())
        .header("x-sn-apikey", full)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), 200);
    assert_eq!(last_user(&control).as_deref(), Some("itil.user"));

    let mut url = emu.url().join("/api/now/table/incident").unwrap();
    url.query_pairs_mut().append_pair("x-sn-apikey", full);
    assert_eq!(plain.get(url).send().await.unwrap().status(), 200);

    let wrong = plain
        .get(emu.url().join("/api/now/table/incident").unwrap())
        .header("x-sn-apikey", "not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong.json::<Value>().await.unwrap(),
        json!({"error": {"message": "User Not Authenticated",
            "detail": "Required to provide Auth information"}, "status": "failure"})
    );

    // A key limited to incident_read: scopes apply to API keys.
    let read = |method: reqwest::Method| {
        plain
            .request(method, emu.url().join("/api/now/table/incident").unwrap())
            .header("x-sn-apikey", read_only)
            .json(&json!({"short_description": "by key"}))
    };
    assert_eq!(
        read(reqwest::Method::GET).send().await.unwrap().status(),
        200
    );
    let refused = read(reqwest::Method::POST).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"]["detail"],
        "Missing required api access scope: incident_write"
    );

    // Keys come and go at run time.
    control.add_api_key("fresh-key", "itil.admin", &["useraccount"]);
    let fresh = plain
        .post(emu.url().join("/api/now/table/incident").unwrap())
        .header("x-sn-apikey", "fresh-key")
        .json(&json!({"short_description": "by a new key"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 201);
    assert_eq!(last_user(&control).as_deref(), Some("itil.admin"));
    assert!(control.remove_api_key("fresh-key"));
    let gone = plain
        .get(emu.url().join("/api/now/table/incident").unwrap())
        .header("x-sn-apikey", "fresh-key")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 401);
}

#[tokio::test]
async fn apps_registered_at_run_time() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let emu = start();
    let control = emu.control();
    // The integration's own key pair; the instance holds only the public half.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let app = OAuthApp {
        name: "run-time app".into(),
        client_id: "run-time-client".into(),
        client_secret: Some("run-time-secret".into()),
        access_token_lifespan_secs: 5,
        jwt_verifiers: vec![JwtVerifier {
            kid: "integration-key".into(),
            public_key: Some(key.public_key_pem()),
            ..JwtVerifier::default()
        }],
        ..OAuthApp::default()
    };
    control.register_oauth_app(app.clone()).unwrap();
    assert!(
        control.jwt_key_paths("integration-key").unwrap().is_none(),
        "the emulator holds no private half of a configured public key"
    );

    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("integration-key".into());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"aud": "run-time-client", "sub": "admin", "exp": now + 30, "jti": "r1"});
    let signing = EncodingKey::from_rsa_pem(key.serialize_pem().as_bytes()).unwrap();
    let assertion = jsonwebtoken::encode(&header, &claims, &signing).unwrap();
    let (status, reply) = token(
        &emu,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("client_id", "run-time-client"),
            ("client_secret", "run-time-secret"),
            ("assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["expires_in"], 4);
    let access = text(&reply, "access_token");
    assert_eq!(get_incidents(&emu, &access).await.0, 200);
    assert_eq!(last_user(&control).as_deref(), Some("admin"));
    assert!(control.revoke_token(&access));
    assert_eq!(get_incidents(&emu, &access).await.0, 401);

    // A registration that would not validate changes nothing.
    let mut bad = app;
    bad.client_id = "bad-client".into();
    bad.jwt_verifiers[0].public_key = Some("not a key".into());
    let error = control.register_oauth_app(bad).unwrap_err().to_string();
    assert!(error.contains("public_key"), "{error}");
    assert!(control.oauth_app("bad-client").is_none());
}
