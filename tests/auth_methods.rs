//! Every way in besides the browser, against the emulator over TLS, through the real CLI and
//! through the library: Basic, API key, the password grant with refresh, client credentials,
//! JWT bearer (signed by snowbridge or printed by a command), client certificates. Tokens that
//! expire during a run are renewed before any request carries an expired one; a revoked refresh
//! token is exit 4 naming the command; each refusal has its own message and exit code; auth
//! scopes are exit 5 naming the refused operation and the scope.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::{Home, stderr, stdout};
use serde_json::Value;
use snowbridge::emulator::{Control, Emulator};
use snowbridge::obtain::{self, Given, secrets::Kind};
use snowbridge::secret::Secret;
use snowbridge::session::{Call, Session};

const CONFIDENTIAL: &str = "3e57bb02663102004d010ee8f561307a";
const INTEGRATION: &str = "5c1d2e3f4a5b46c7d8e9f0a1b2c3d4e5";
const JWT_APP: &str = "9f8e7d6c5b4a43928170f6e5d4c3b2a1";
const READER: &str = "4d3c2b1a0f9e48d7c6b5a49382716055";
const WRITER: &str = "7e6f5a4b3c2d41e0f9a8b7c6d5e4f3a2";
const API_KEY: &str = "6f7e2d1c0b9a48f7e6d5c4b3a2918070";
const INCIDENT: &str = "/api/now/table/incident?sysparm_limit=1";

fn emulator() -> Emulator {
    common::emulator(|c| {
        c.tls = true;
        c.incidents = 3;
    })
}

/// A home whose instance `dev` uses the emulator over TLS with `body` (auth and sections).
fn home(emu: &Emulator, body: &str) -> Home {
    let home = Home::new("dev", emu);
    let text = format!(
        "url = \"{}\"\nca_file = {:?}\n{body}",
        emu.url().as_str().trim_end_matches('/'),
        emu.ca_pem_path().unwrap().display().to_string()
    );
    std::fs::write(home.dirs.user_instances().join("dev.toml"), text).unwrap();
    home
}

/// Runs `snowbridge args` in `home` with only the secrets in `env`.
fn run(home: &Home, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = home.command(args);
    for kind in Kind::ALL {
        cmd.env_remove(kind.env());
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run snowbridge")
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// The rows of an `api` reply's `result`.
fn rows(out: &Output) -> Vec<Value> {
    assert_eq!(code(out), 0, "{}", stderr(out));
    let v: Value = serde_json::from_str(&stdout(out)).expect("JSON on stdout");
    v["result"].as_array().cloned().unwrap_or_default()
}

/// API calls the instance answered 401: a token that had expired, or credentials refused.
fn refused_api_calls(control: &Control) -> Vec<String> {
    control
        .request_log()
        .into_iter()
        .filter(|r| r.path_and_query.starts_with("/api/") && r.status == 401)
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect()
}

fn token_grants(control: &Control) -> usize {
    control
        .request_log()
        .iter()
        .filter(|r| r.path_and_query == "/oauth_token.do" && r.status == 200)
        .count()
}

/// Makes the stored access token look expired to the next process, as if its lifetime had
/// passed (the instance still holds it): that process must renew before its first call.
fn age_stored_token(home: &Home) {
    home.vault()
        .update("dev", |slot| {
            let tokens = slot.as_mut().unwrap().tokens.as_mut().unwrap();
            let now = time::OffsetDateTime::now_utc();
            tokens.expires_at = now - time::Duration::seconds(1);
            tokens.issued_at = tokens.expires_at - time::Duration::seconds(1799);
            Ok(())
        })
        .unwrap();
}

/// Calls the API at a script's pace until the session has used `renewals` more tokens than the
/// first, asserting that no error ever reaches the caller.
async fn work_through_renewals(session: &Session, renewals: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while seen.len() <= renewals {
        assert!(
            Instant::now() < deadline,
            "only {} tokens in 60 s",
            seen.len()
        );
        let rows: Value = session
            .send_json(&Call::get(INCIDENT))
            .await
            .expect("no error reaches the caller while tokens expire");
        assert_eq!(rows["result"].as_array().map(Vec::len), Some(1));
        let issued = session.tokens().expect("a Bearer session").issued_at;
        if !seen.contains(&issued) {
            seen.push(issued);
        }
        // A script's pace between calls; the loop ends on the renewals, not on the time.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_and_api_key_work_through_the_cli_and_the_library() {
    let emu = emulator();
    let control = emu.control();
    let basic = home(&emu, "auth = \"basic\"\nusername = \"itil.user\"\n");
    let out = run(
        &basic,
        &[("SNOWBRIDGE_PASSWORD", "snowbridge")],
        &["api", "dev", INCIDENT],
    );
    assert_eq!(rows(&out).len(), 1);
    assert_eq!(
        control.request_log().last().unwrap().user.as_deref(),
        Some("itil.user")
    );
    let out = run(
        &basic,
        &[("SNOWBRIDGE_PASSWORD", "wrong")],
        &["api", "dev", INCIDENT],
    );
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("refused the user name and password of itil.user"));
    let out = run(&basic, &[], &["connect", "dev"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("SNOWBRIDGE_PASSWORD"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("snowbridge connect dev --login"),
        "{}",
        stderr(&out)
    );

    let given = Given::default().with(Kind::Password, Secret::new("snowbridge"));
    let (session, _) = obtain::sign_in(&basic.instance(), basic.vault(), given)
        .await
        .unwrap();
    let v: Value = session.send_json(&Call::get(INCIDENT)).await.unwrap();
    assert_eq!(v["result"].as_array().unwrap().len(), 1);

    let keyed = home(&emu, "auth = \"api-key\"\n");
    let out = run(
        &keyed,
        &[("SNOWBRIDGE_API_KEY", API_KEY)],
        &["api", "dev", INCIDENT],
    );
    assert_eq!(rows(&out).len(), 1);
    let out = run(
        &keyed,
        &[("SNOWBRIDGE_API_KEY", "0000")],
        &["api", "dev", INCIDENT],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refused the API key"),
        "{}",
        stderr(&out)
    );
    let given = Given::default().with(Kind::ApiKey, Secret::new(API_KEY));
    let (session, _) = obtain::sign_in(&keyed.instance(), keyed.vault(), given)
        .await
        .unwrap();
    let v: Value = session.send_json(&Call::get(INCIDENT)).await.unwrap();
    assert_eq!(v["result"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_tokens_are_renewed_before_they_expire() {
    let emu = emulator();
    let control = emu.control();
    assert!(control.update_oauth_app(INTEGRATION, |a| a.access_token_lifespan_secs = 3));
    let home = home(
        &emu,
        &format!("auth = \"oauth-client-credentials\"\n[oauth]\nclient_id = \"{INTEGRATION}\"\n"),
    );
    let secret = [("SNOWBRIDGE_CLIENT_SECRET", "integration-secret")];
    let out = run(&home, &secret, &["connect", "dev"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("client_credentials grant"),
        "{}",
        stdout(&out)
    );
    let out = run(&home, &secret, &["status", "dev", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(status[0]["auth"], "oauth-client-credentials");
    assert!(status[0]["token_expires"].is_string(), "{status}");

    // A later process finds the stored token expired: it runs the grant before its call.
    age_stored_token(&home);
    let grants = token_grants(&control);
    assert_eq!(
        rows(&run(&home, &secret, &["api", "dev", INCIDENT])).len(),
        1
    );
    assert_eq!(token_grants(&control), grants + 1);

    // Tokens that expire during a run, through the library.
    let given = Given::default().with(Kind::ClientSecret, Secret::new("integration-secret"));
    let (session, _) = obtain::sign_in(&home.instance(), home.vault(), given)
        .await
        .unwrap();
    work_through_renewals(&session, 2).await;
    assert_eq!(refused_api_calls(&control), Vec::<String>::new());
    assert_eq!(session.tokens().unwrap().grant, "client_credentials");
    assert!(
        control.oauth_refusals().is_empty(),
        "{:?}",
        control.oauth_refusals()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_grant_refreshes_and_a_revoked_refresh_token_is_exit_4() {
    let emu = emulator();
    let control = emu.control();
    assert!(control.update_oauth_app(CONFIDENTIAL, |a| a.access_token_lifespan_secs = 3));
    let home = home(
        &emu,
        &format!(
            "auth = \"oauth-password\"\nusername = \"itil.user\"\n[oauth]\nclient_id = \"{CONFIDENTIAL}\"\n"
        ),
    );
    let client = ("SNOWBRIDGE_CLIENT_SECRET", "confidential-secret");
    let out = run(
        &home,
        &[client, ("SNOWBRIDGE_PASSWORD", "wrong")],
        &["connect", "dev"],
    );
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refused the password grant for itil.user"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("SNOWBRIDGE_PASSWORD"),
        "{}",
        stderr(&out)
    );
    assert!(
        !home.vault().exists("dev"),
        "a refused grant stores nothing"
    );

    let out = run(
        &home,
        &[client, ("SNOWBRIDGE_PASSWORD", "snowbridge")],
        &["connect", "dev"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stored = home.vault().load("dev").unwrap().unwrap().tokens.unwrap();
    assert_eq!(stored.grant, "password");
    let refresh = stored.refresh_token.clone().expect("a refresh token");

    // No password from here on: the next process refreshes with the stored refresh token.
    age_stored_token(&home);
    assert_eq!(
        rows(&run(&home, &[client], &["api", "dev", INCIDENT])).len(),
        1
    );
    let renewed = home.vault().load("dev").unwrap().unwrap().tokens.unwrap();
    assert_eq!(renewed.grant, "refresh_token");
    assert_eq!(
        renewed.refresh_token.as_ref(),
        Some(&refresh),
        "kept when none comes back"
    );
    assert_ne!(renewed.access_token, stored.access_token);

    // Expiring during a run, through the library.
    let given = Given::default().with(Kind::ClientSecret, Secret::new("confidential-secret"));
    let auth = obtain::auth_for(&home.instance(), &given).unwrap();
    let record = home.vault().load("dev").unwrap().unwrap();
    let session = Session::with_auth(&home.instance(), home.vault(), record, auth).unwrap();
    work_through_renewals(&session, 2).await;
    assert_eq!(session.tokens().unwrap().grant, "refresh_token");
    assert_eq!(refused_api_calls(&control), Vec::<String>::new());

    // The instance ends the refresh token (and its access tokens) early.
    assert!(control.revoke_token(refresh.expose()));
    let out = run(&home, &[client], &["api", "dev", INCIDENT]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("no longer takes the stored refresh token"),
        "{said}"
    );
    assert!(said.contains("snowbridge connect dev --login"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_instance_ends_early_is_renewed_once_and_the_call_goes_through() {
    let emu = emulator();
    let control = emu.control();
    let home = home(
        &emu,
        &format!("auth = \"oauth-client-credentials\"\n[oauth]\nclient_id = \"{INTEGRATION}\"\n"),
    );
    let given = Given::default().with(Kind::ClientSecret, Secret::new("integration-secret"));
    let (session, _) = obtain::sign_in(&home.instance(), home.vault(), given)
        .await
        .unwrap();
    let first = session.tokens().unwrap();
    assert!(control.revoke_token(first.access_token.expose()));
    let v: Value = session.send_json(&Call::get(INCIDENT)).await.unwrap();
    assert_eq!(v["result"].as_array().unwrap().len(), 1);
    assert_ne!(session.tokens().unwrap().access_token, first.access_token);
    // The one refused call, then the grant, then the same call with the new token.
    let log: Vec<(String, u16)> = control
        .request_log()
        .into_iter()
        .map(|r| (r.path_and_query, r.status))
        .collect();
    let n = log.len();
    assert_eq!(
        log[n - 3..],
        [
            (INCIDENT.to_owned(), 401),
            ("/oauth_token.do".to_owned(), 200),
            (INCIDENT.to_owned(), 200)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_share_one_renewal() {
    let emu = emulator();
    let control = emu.control();
    let home = home(
        &emu,
        &format!("auth = \"oauth-client-credentials\"\n[oauth]\nclient_id = \"{INTEGRATION}\"\n"),
    );
    let given = Given::default().with(Kind::ClientSecret, Secret::new("integration-secret"));
    let auth = obtain::auth_for(&home.instance(), &given).unwrap();
    let session = Session::with_auth(
        &home.instance(),
        home.vault(),
        obtain::fresh_record(&home.instance()),
        auth,
    )
    .unwrap();
    let call = Call::get(INCIDENT);
    let calls = (0..8).map(|_| session.send_json::<Value>(&call));
    for reply in futures_util::future::join_all(calls).await {
        assert_eq!(reply.unwrap()["result"].as_array().unwrap().len(), 1);
    }
    assert_eq!(
        token_grants(&control),
        1,
        "one grant for eight concurrent calls"
    );
}

fn jwt_home(emu: &Emulator, key: &std::path::Path, kid: &str) -> Home {
    home(
        emu,
        &format!(
            "auth = \"jwt\"\n[oauth]\nclient_id = \"{JWT_APP}\"\njwt_key = {:?}\njwt_kid = \"{kid}\"\njwt_subject = \"itil.user\"\n",
            key.display().to_string()
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_assertions_signed_rs256_and_es256_are_fresh_for_every_exchange() {
    let emu = emulator();
    let control = emu.control();
    assert!(control.update_oauth_app(JWT_APP, |a| a.access_token_lifespan_secs = 3));
    let secret = [("SNOWBRIDGE_CLIENT_SECRET", "jwt-secret")];
    for kid in ["snowbridge-rs256", "snowbridge-es256"] {
        let (key, _) = control.jwt_key_paths(kid).unwrap().unwrap();
        let home = jwt_home(&emu, &key, kid);
        assert_eq!(
            rows(&run(&home, &secret, &["api", "dev", INCIDENT])).len(),
            1
        );
        assert_eq!(
            control.request_log().last().unwrap().user.as_deref(),
            Some("itil.user")
        );
        let given = Given::default().with(Kind::ClientSecret, Secret::new("jwt-secret"));
        let (session, _) = obtain::sign_in(&home.instance(), home.vault(), given)
            .await
            .unwrap();
        work_through_renewals(&session, 2).await;
    }
    // Each exchange had its own jti: the instance refused none as seen before.
    assert!(
        control.oauth_refusals().is_empty(),
        "{:?}",
        control.oauth_refusals()
    );
    assert_eq!(refused_api_calls(&control), Vec::<String>::new());
}

/// An assertion signed with the emulator's ES256 key, as an outside key holder would make it.
fn outside_assertion(control: &Control, jti: &str) -> String {
    let (key, _) = control.jwt_key_paths("snowbridge-es256").unwrap().unwrap();
    let key = jsonwebtoken::EncodingKey::from_ec_pem(&std::fs::read(key).unwrap()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("snowbridge-es256".into());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = serde_json::json!({"iss": JWT_APP, "aud": JWT_APP, "sub": "itil.user",
        "iat": now, "exp": now + 300, "jti": jti});
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_refusals_each_say_what_went_wrong() {
    let emu = emulator();
    let control = emu.control();
    let secret = [("SNOWBRIDGE_CLIENT_SECRET", "jwt-secret")];
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = control.jwt_key_paths("snowbridge-es256").unwrap().unwrap();

    // A key the instance's verifier map does not hold: a signature it cannot verify.
    let stranger = dir.path().join("stranger.pem");
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(&stranger, pair.serialize_pem()).unwrap();
    let home = jwt_home(&emu, &stranger, "snowbridge-es256");
    let out = run(&home, &secret, &["connect", "dev"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("refused the JWT bearer grant"), "{said}");
    assert!(
        said.contains("does not hold the public half of this key"),
        "{said}"
    );
    let why = control.oauth_refusals();
    assert!(why.last().unwrap().contains("ignature"), "{why:?}");

    // A printed assertion exchanged once, then printed again: caught before it is sent.
    let printed = dir.path().join("assertion.jwt");
    std::fs::write(&printed, outside_assertion(&control, "replayed-1")).unwrap();
    let command = home_with_command(&emu, &format!("cat {}", printed.display()));
    let out = run(&command, &secret, &["connect", "dev"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    age_stored_token(&command);
    let refusals = control.oauth_refusals().len();
    let out = run(&command, &secret, &["api", "dev", INCIDENT]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("printed the assertion with jti \"replayed-1\" again"),
        "{}",
        stderr(&out)
    );
    assert_eq!(control.oauth_refusals().len(), refusals, "nothing was sent");

    // The instance's clock an hour ahead: the assertion is expired there.
    let home = jwt_home(&emu, &key, "snowbridge-es256");
    control.advance_clock(Duration::from_secs(3600));
    let out = run(&home, &secret, &["connect", "dev"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("ahead of this machine's"), "{said}");
    assert!(said.contains("expired"), "{said}");
}

fn home_with_command(emu: &Emulator, command: &str) -> Home {
    home(
        emu,
        &format!("auth = \"jwt\"\n[oauth]\nclient_id = \"{JWT_APP}\"\njwt_command = {command:?}\n"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_names_the_grant_and_what_to_check() {
    let emu = emulator();
    let home = home(
        &emu,
        &format!("auth = \"oauth-client-credentials\"\n[oauth]\nclient_id = \"{INTEGRATION}\"\n"),
    );
    let out = run(
        &home,
        &[("SNOWBRIDGE_CLIENT_SECRET", "wrong")],
        &["connect", "dev"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("refused the client_credentials grant"),
        "{said}"
    );
    assert!(
        said.contains("client secret (from SNOWBRIDGE_CLIENT_SECRET)"),
        "{said}"
    );
    assert!(said.contains("glide.oauth.inbound.client.credential.grant_type.enabled"));
    assert!(emu.control().oauth_refusals()[0].contains("wrong client_secret"));
    let out = run(&home, &[], &["connect", "dev"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    // The tests' keyring is off: the hint names the variable and the terminal, not the keyring.
    assert!(
        stderr(&out).contains("set SNOWBRIDGE_CLIENT_SECRET"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("snowbridge connect dev --login"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_scope_can_get_and_is_refused_a_post_naming_the_scope() {
    let emu = emulator();
    let body = r#"{"short_description":"scoped"}"#;
    for (client, secret, may_write) in [
        (READER, "reader-secret", false),
        (WRITER, "writer-secret", true),
    ] {
        let home = home(
            &emu,
            &format!("auth = \"oauth-client-credentials\"\n[oauth]\nclient_id = \"{client}\"\n"),
        );
        let env = [("SNOWBRIDGE_CLIENT_SECRET", secret)];
        assert_eq!(rows(&run(&home, &env, &["api", "dev", INCIDENT])).len(), 1);
        let out = run(
            &home,
            &env,
            &["api", "dev", "/api/now/table/incident", "-d", body],
        );
        if may_write {
            assert_eq!(code(&out), 0, "{}", stderr(&out));
        } else {
            assert_eq!(code(&out), 5, "{}", stderr(&out));
            let said = stderr(&out);
            assert!(said.contains("POST /api/now/table/incident"), "{said}");
            assert!(said.contains("incident_write"), "{said}");
        }
    }
    assert_eq!(
        emu.control().count("incident", "short_description=scoped"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_run_as_their_user_and_refusals_are_told_apart() {
    let emu = emulator();
    let control = emu.control();
    let cert_home = |name: &str| {
        let files = control.client_certificate(name).unwrap();
        home(
            &emu,
            &format!(
                "auth = \"mtls\"\n[mtls]\ncert = {:?}\nkey = {:?}\n",
                files.cert.display().to_string(),
                files.key.display().to_string()
            ),
        )
    };
    let mapped = cert_home("itil.user");
    assert_eq!(rows(&run(&mapped, &[], &["api", "dev", INCIDENT])).len(), 1);
    assert_eq!(
        control.request_log().last().unwrap().user.as_deref(),
        Some("itil.user")
    );
    let (session, _) = obtain::sign_in(&mapped.instance(), mapped.vault(), Given::default())
        .await
        .unwrap();
    let v: Value = session.send_json(&Call::get(INCIDENT)).await.unwrap();
    assert_eq!(v["result"].as_array().unwrap().len(), 1);

    let out = run(
        &cert_home(Control::UNMAPPED_CERTIFICATE),
        &[],
        &["connect", "dev"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("maps it to no user"),
        "{}",
        stderr(&out)
    );

    let out = run(
        &cert_home(Control::UNTRUSTED_CERTIFICATE),
        &[],
        &["connect", "dev"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not trust the client certificate"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("400 \"The SSL certificate error\""),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_tokens_and_cookies_and_secret_say_what_to_do_instead() {
    let emu = emulator();
    let control = emu.control();
    let home = home(
        &emu,
        &format!("auth = \"oauth-client-credentials\"\n[oauth]\nclient_id = \"{INTEGRATION}\"\n"),
    );
    let secret = [("SNOWBRIDGE_CLIENT_SECRET", "integration-secret")];
    assert_eq!(code(&run(&home, &secret, &["connect", "dev"])), 0);
    let access = home
        .vault()
        .load("dev")
        .unwrap()
        .unwrap()
        .tokens
        .unwrap()
        .access_token;

    let out = run(&home, &[], &["cookies", "dev"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no browser cookies to export"),
        "{}",
        stderr(&out)
    );

    // The test's keyring is off: the command says what to use instead, before asking anything.
    let out = run(&home, &[], &["secret", "dev", "client-secret"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("SNOWBRIDGE_CLIENT_SECRET"),
        "{}",
        stderr(&out)
    );

    let out = run(&home, &[], &["logout", "dev"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("tokens were revoked"),
        "{}",
        stdout(&out)
    );
    assert!(!home.vault().exists("dev"));
    assert!(
        control
            .request_log()
            .iter()
            .any(|r| r.path_and_query.starts_with("/oauth_revoke_token.do") && r.status == 200)
    );
    assert!(
        !control.revoke_token(access.expose()),
        "already revoked by logout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_fallback_logs_in_with_a_basic_password_and_refuses_methods_without_one() {
    common::require_browser();
    let emu = emulator();
    let control = emu.control();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.txt");
    std::fs::write(&path, b"fallback through a form login").unwrap();
    let path = path.display().to_string();
    let attach = ["attach", "dev", "incident", "INC0010001", path.as_str()];

    // An API key has no password to log in through the form with: the refusal stands.
    let keyed = home(&emu, "auth = \"api-key\"\n");
    let out = run(&keyed, &[("SNOWBRIDGE_API_KEY", API_KEY)], &attach);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the UI fallback needs a browser session"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("auth = \"browser\""),
        "{}",
        stderr(&out)
    );

    // Basic has the user's password: a headless form login, then the form's dialog.
    let basic = home(&emu, "auth = \"basic\"\nusername = \"itil.user\"\n");
    let out = run(&basic, &[("SNOWBRIDGE_PASSWORD", "snowbridge")], &attach);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("through the browser"),
        "{}",
        stdout(&out)
    );
    let record = control.record("incident", "INC0010001").unwrap();
    let sys_id = record["sys_id"].as_str().unwrap();
    let attached = control.attachments(sys_id);
    assert!(
        attached.iter().any(|a| a.file_name == "triage.txt"),
        "{attached:?}"
    );
    assert!(
        !basic.vault().exists("dev"),
        "the form login stays out of the vault"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_client_key_opens_with_its_passphrase() {
    let emu = emulator();
    let files = emu.control().client_certificate("itil.user").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("client.key");
    // Encrypted as people do it (PKCS#8, PBES2 with AES-256-CBC), by OpenSSL itself.
    let made = std::process::Command::new("openssl")
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:open sesame",
        ])
        .arg("-in")
        .arg(&files.key)
        .arg("-out")
        .arg(&key)
        .status()
        .unwrap_or_else(|e| {
            panic!("this test encrypts a key with openssl: {e}\n  fix: apt-get install openssl")
        });
    assert!(made.success());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let home = home(
        &emu,
        &format!(
            "auth = \"mtls\"\n[mtls]\ncert = {:?}\nkey = {:?}\n",
            files.cert.display().to_string(),
            key.display().to_string()
        ),
    );
    let out = run(
        &home,
        &[("SNOWBRIDGE_KEY_PASSPHRASE", "open sesame")],
        &["api", "dev", INCIDENT],
    );
    assert_eq!(rows(&out).len(), 1);
    #[cfg(unix)]
    assert!(
        stderr(&out).contains("can be read by others"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &home,
        &[("SNOWBRIDGE_KEY_PASSPHRASE", "wrong")],
        &["api", "dev", INCIDENT],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not open the key"),
        "{}",
        stderr(&out)
    );
    let out = run(&home, &[], &["connect", "dev"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("SNOWBRIDGE_KEY_PASSPHRASE"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_session_file_is_replaced_by_the_methods_own_new_session() {
    let emu = emulator();
    let control = emu.control();
    let (key, _) = control.jwt_key_paths("snowbridge-es256").unwrap().unwrap();
    let methods = [
        (
            home(
                &emu,
                &format!(
                    "auth = \"oauth-client-credentials\"\n[oauth]\nclient_id = \"{INTEGRATION}\"\n"
                ),
            ),
            ("SNOWBRIDGE_CLIENT_SECRET", "integration-secret"),
        ),
        (
            jwt_home(&emu, &key, "snowbridge-es256"),
            ("SNOWBRIDGE_CLIENT_SECRET", "jwt-secret"),
        ),
        (
            home(&emu, "auth = \"basic\"\nusername = \"itil.user\"\n"),
            ("SNOWBRIDGE_PASSWORD", "snowbridge"),
        ),
    ];
    for (home, secret) in &methods {
        let method = home.instance().auth.to_string();
        let path = home.vault_path();
        let damage = || {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"garbage\n").unwrap();
        };
        let readable = || home.vault().load("dev").map(|r| r.is_some());

        // Without the secret nothing can replace it: login required, and the file is kept.
        damage();
        let out = run(home, &[], &["connect", "dev"]);
        assert_eq!(code(&out), 4, "{method}: {}", stderr(&out));
        assert_eq!(common::bytes(&path), b"garbage\n", "{method}: kept");

        // A cron job with every secret recovers by itself, and its session replaces the file.
        let out = run(home, &[*secret], &["api", "dev", INCIDENT]);
        assert_eq!(rows(&out).len(), 1, "{method}");
        assert!(
            stderr(&out).contains("cannot be used"),
            "{method}: {}",
            stderr(&out)
        );
        assert!(readable().unwrap_or(false), "{method}: replaced by `api`");

        // `connect` obtains a new session by itself, as does `connect --login`.
        for args in [&["connect", "dev"][..], &["connect", "dev", "--login"]] {
            damage();
            let out = run(home, &[*secret], args);
            assert_eq!(code(&out), 0, "{method} {args:?}: {}", stderr(&out));
            assert!(
                readable().unwrap_or(false),
                "{method} {args:?}: the new session replaced the damaged file"
            );
            let out = run(home, &[*secret], &["status", "dev", "--json"]);
            let status: Value = serde_json::from_str(&stdout(&out)).unwrap();
            assert_eq!(status[0]["state"], "valid", "{method} {args:?}: {status}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_and_a_key_that_do_not_match_are_named_both() {
    let emu = emulator();
    let control = emu.control();
    let admin = control.client_certificate("admin").unwrap();
    let itil = control.client_certificate("itil.user").unwrap();
    let (cert, key) = (
        admin.cert.display().to_string(),
        itil.key.display().to_string(),
    );
    let home = home(
        &emu,
        &format!("auth = \"mtls\"\n[mtls]\ncert = {cert:?}\nkey = {key:?}\n"),
    );
    for args in [&["connect", "dev"][..], &["api", "dev", INCIDENT]] {
        let out = run(&home, &[], args);
        assert_eq!(code(&out), 1, "{args:?}: {}", stderr(&out));
        let said = stderr(&out);
        assert!(said.contains("do not match"), "{said}");
        assert!(said.contains("the key is not the certificate's"), "{said}");
        assert!(said.contains(&cert) && said.contains(&key), "{said}");
        assert!(said.contains("openssl x509 -noout -pubkey"), "{said}");
        assert!(!said.contains("builder error"), "{said}");
    }
}
