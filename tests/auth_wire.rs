//! snowbridge's token requests checked against the wire facts, independently of the emulator: a
//! minimal token endpoint written here records what each grant sends. Form-encoded body, every
//! parameter in the body and none in the query string, the client's credentials in the body
//! (no HTTP Basic), the grant's own fields, and for the JWT bearer grant an assertion with the
//! `kid` header and the claims RFC 7523 asks for, fresh for every exchange.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};
use snowbridge::instance::Instance;
use snowbridge::obtain::{self, Given, secrets::Kind};
use snowbridge::secret::Secret;
use snowbridge::session::{Call, Session};
use snowbridge::vault::{KeyPolicy, Vault};

/// One request the endpoint saw.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: Option<String>,
    content_type: Option<String>,
    authorization: Option<String>,
    form: BTreeMap<String, String>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn record(
    State(log): State<Log>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let seen = Seen {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        content_type: header("content-type"),
        authorization: header("authorization"),
        form: url::form_urlencoded::parse(&body).into_owned().collect(),
    };
    let n = {
        let mut log = log.lock().unwrap();
        log.push(seen.clone());
        log.len()
    };
    if seen.path == "/oauth_token.do" {
        let mut reply = json!({"access_token": format!("access-{n}"), "scope": "useraccount",
            "token_type": "Bearer", "expires_in": 1799});
        if seen.form.get("grant_type").map(String::as_str) == Some("password") {
            reply["refresh_token"] = json!("refresh-1");
        }
        return (StatusCode::OK, axum::Json(reply));
    }
    (StatusCode::OK, axum::Json(json!({"result": []})))
}

/// The endpoint on a random loopback port; its log.
async fn endpoint() -> (String, Log) {
    let log: Log = Arc::default();
    let app = Router::new()
        .route("/oauth_token.do", post(record))
        .fallback(record)
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, log)
}

struct Place {
    dir: tempfile::TempDir,
}

impl Place {
    fn new() -> Place {
        Place {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn instance(&self, url: &str, body: &str) -> Instance {
        let path = self.dir.path().join("wire.toml");
        std::fs::write(&path, format!("url = \"{url}\"\n{body}")).unwrap();
        Instance::load(&path).unwrap()
    }

    fn vault(&self) -> Arc<Vault> {
        Arc::new(
            Vault::with_policy(
                self.dir.path().join("sessions"),
                KeyPolicy {
                    file: self.dir.path().join("vault.key"),
                    use_keyring: false,
                    keyring_timeout: std::time::Duration::from_secs(1),
                },
            )
            .on_notice(|_| {}),
        )
    }
}

fn grants(log: &Log) -> Vec<Seen> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|s| s.path == "/oauth_token.do")
        .cloned()
        .collect()
}

fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What every token request must look like, whatever the grant.
fn assert_wire_shape(seen: &Seen) {
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.query, None, "no parameter in the query string");
    assert_eq!(
        seen.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        seen.authorization, None,
        "client credentials in the body, not Basic"
    );
}

#[tokio::test]
async fn the_password_and_refresh_grants_send_the_documented_form() {
    let (url, log) = endpoint().await;
    let place = Place::new();
    let instance = place.instance(
        &url,
        "auth = \"oauth-password\"\nusername = \"svc.user\"\n[oauth]\nclient_id = \"cid-1\"\nscopes = [\"useraccount\"]\n",
    );
    let given = Given::default()
        .with(Kind::Password, Secret::new("p@ss word&="))
        .with(Kind::ClientSecret, Secret::new("s3cret"));
    let (session, _) = obtain::sign_in(&instance, place.vault(), given.clone())
        .await
        .unwrap();
    let sent = grants(&log);
    assert_eq!(sent.len(), 1);
    assert_wire_shape(&sent[0]);
    assert_eq!(
        sent[0].form,
        form(&[
            ("grant_type", "password"),
            ("username", "svc.user"),
            ("password", "p@ss word&="),
            ("client_id", "cid-1"),
            ("client_secret", "s3cret"),
            ("scope", "useraccount"),
        ])
    );
    // API calls carry the access token as a Bearer token.
    let api = log.lock().unwrap().last().cloned().unwrap();
    assert!(api.path.starts_with("/api/now/table/"));
    assert_eq!(api.authorization.as_deref(), Some("Bearer access-1"));
    drop(session);

    // The stored token, due: the next session refreshes before its call.
    place
        .vault()
        .update("wire", |slot| {
            let t = slot.as_mut().unwrap().tokens.as_mut().unwrap();
            t.expires_at = time::OffsetDateTime::now_utc();
            Ok(())
        })
        .unwrap();
    let without_password = Given::default().with(Kind::ClientSecret, Secret::new("s3cret"));
    let auth = obtain::auth_for(&instance, &without_password).unwrap();
    let record = place.vault().load("wire").unwrap().unwrap();
    let session = Session::with_auth(&instance, place.vault(), record, auth).unwrap();
    session
        .send(&Call::get("/api/now/table/incident"))
        .await
        .unwrap();
    let sent = grants(&log);
    assert_eq!(sent.len(), 2);
    assert_wire_shape(&sent[1]);
    assert_eq!(
        sent[1].form,
        form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "refresh-1"),
            ("client_id", "cid-1"),
            ("client_secret", "s3cret"),
        ])
    );
    let api = log.lock().unwrap().last().cloned().unwrap();
    assert_eq!(api.authorization.as_deref(), Some("Bearer access-3"));
}

#[tokio::test]
async fn client_credentials_and_jwt_bearer_send_the_documented_form() {
    let (url, log) = endpoint().await;
    let place = Place::new();
    let instance = place.instance(
        &url,
        "auth = \"oauth-client-credentials\"\n[oauth]\nclient_id = \"cid-2\"\n",
    );
    let given = Given::default().with(Kind::ClientSecret, Secret::new("cc-secret"));
    obtain::sign_in(&instance, place.vault(), given)
        .await
        .unwrap();
    let sent = grants(&log);
    assert_wire_shape(&sent[0]);
    assert_eq!(
        sent[0].form,
        form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "cid-2"),
            ("client_secret", "cc-secret"),
        ])
    );

    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let key = place.dir.path().join("signer.pem");
    std::fs::write(&key, pair.serialize_pem()).unwrap();
    let place2 = Place::new();
    let instance = place2.instance(
        &url,
        &format!(
            "auth = \"jwt\"\n[oauth]\nclient_id = \"cid-3\"\njwt_key = {:?}\njwt_kid = \"kid-7\"\njwt_subject = \"svc.jwt\"\n",
            key.display().to_string()
        ),
    );
    let given = Given::default().with(Kind::ClientSecret, Secret::new("jwt-secret"));
    let auth = obtain::auth_for(&instance, &given).unwrap();
    let session = Session::with_auth(
        &instance,
        place2.vault(),
        obtain::fresh_record(&instance),
        auth,
    )
    .unwrap();
    session
        .send(&Call::get("/api/now/table/incident"))
        .await
        .unwrap();
    // A second exchange, as when the token nears its expiry.
    place2
        .vault()
        .update("wire", |slot| {
            let t = slot.as_mut().unwrap().tokens.as_mut().unwrap();
            t.expires_at = time::OffsetDateTime::now_utc();
            Ok(())
        })
        .unwrap();
    let auth = obtain::auth_for(&instance, &given).unwrap();
    let record = place2.vault().load("wire").unwrap().unwrap();
    let session = Session::with_auth(&instance, place2.vault(), record, auth).unwrap();
    session
        .send(&Call::get("/api/now/table/incident"))
        .await
        .unwrap();

    let sent: Vec<Seen> = grants(&log).into_iter().skip(1).collect();
    assert_eq!(sent.len(), 2);
    let public = jsonwebtoken::DecodingKey::from_ec_pem(pair.public_key_pem().as_bytes()).unwrap();
    let mut jtis = Vec::new();
    for seen in &sent {
        assert_wire_shape(seen);
        let mut fields = seen.form.clone();
        let assertion = fields.remove("assertion").expect("assertion=");
        assert_eq!(
            fields,
            form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("client_id", "cid-3"),
                ("client_secret", "jwt-secret"),
            ])
        );
        let header = jsonwebtoken::decode_header(&assertion).unwrap();
        assert_eq!(header.kid.as_deref(), Some("kid-7"));
        assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&["cid-3"]);
        validation.set_issuer(&["cid-3"]);
        let claims: Value = jsonwebtoken::decode(&assertion, &public, &validation)
            .expect("signed by the key, aud and iss the client id, exp ahead")
            .claims;
        assert_eq!(claims["sub"], "svc.jwt");
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert!(exp > iat && exp - iat <= 300, "a short exp: {claims}");
        jtis.push(claims["jti"].as_str().unwrap().to_owned());
    }
    assert_ne!(jtis[0], jtis[1], "a fresh jti for every exchange");
}
