//! The key-set copy replicas share through Redis: a copy sealed by a replica lets a verifier
//! work while identity is unreachable, and a key set planted in Redis by anyone else never
//! verifies a token.
use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{SigningKey, pkcs8::EncodePrivateKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::auth::{ACCESS_TOKEN_TYP, Claims, RemoteJwks, Role, Verifier};
use testkit::{TestApp, app, json};

const SHARED_KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
const ISSUER: &str = "http://itsm.test";

/// A URL where nothing listens: identity is down.
fn unreachable_jwks() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    format!("http://127.0.0.1:{port}/.well-known/jwks.json")
}

/// A platform-admin token signed by a key identity never issued.
fn forged_token(kid: &str, key: &SigningKey, tenant: uuid::Uuid) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        iss: ISSUER.into(),
        sub: uuid::Uuid::now_v7(),
        aud: "itsm".into(),
        exp: now + 600,
        nbf: now,
        iat: now,
        jti: uuid::Uuid::now_v7(),
        tid: tenant,
        roles: vec![Role::PlatformAdmin],
        scope: "incident:read".into(),
        client_id: None,
        email: None,
        name: None,
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(ACCESS_TOKEN_TYP.into());
    header.kid = Some(kid.into());
    let der = key.to_pkcs8_der().unwrap_or_else(|e| panic!("pkcs8: {e}"));
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes()))
        .unwrap_or_else(|e| panic!("sign: {e}"))
}

fn verifier(jwks: RemoteJwks) -> Verifier {
    Verifier::new(ISSUER.into(), "itsm".into(), Arc::new(jwks))
}

async fn plant(redis_url: &str, key: &str, value: &str) {
    let client = redis::Client::open(redis_url).unwrap_or_else(|e| panic!("{e}"));
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_key_set_planted_in_redis_never_verifies_a_token_while_identity_is_down() {
    let app: TestApp = app!();
    let Some(redis) = testkit::redis_url().await else {
        return;
    };
    let real = app.token("admin@globex.demo.test").await;
    let live = format!("{}/.well-known/jwks.json", app.base);
    let down = unreachable_jwks();

    // A replica that reached identity sealed its copy of the real key set; identity is down.
    let fetched = reqwest_get(&live).await;
    let sealing = RemoteJwks::new(down.clone())
        .shared_through(&redis, SHARED_KEY)
        .unwrap_or_else(|e| panic!("{e}"));
    let sealed = sealing.sealed(&fetched).unwrap_or_default();
    plant(&redis, &sealing.shared_key(), &sealed).await;
    let trusted = verifier(
        RemoteJwks::new(down.clone())
            .shared_through(&redis, SHARED_KEY)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(
        trusted.verify(&real).await.is_ok(),
        "the sealed copy verifies real tokens"
    );

    // An attacker with write access to Redis plants its own key set, unsealed and sealed with
    // a guessed key: neither is trusted by a fresh verifier nor by one that holds keys.
    let attacker = SigningKey::generate(&mut rand::rngs::OsRng);
    let kid = "planted";
    let planted = json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(attacker.verifying_key().to_bytes()),
    }]})
    .to_string();
    let forged = forged_token(kid, &attacker, uuid::Uuid::now_v7());
    for copy in [planted.clone(), format!("{}.{planted}", "00".repeat(32))] {
        plant(&redis, &sealing.shared_key(), &copy).await;
        let fresh = verifier(
            RemoteJwks::new(down.clone())
                .shared_through(&redis, SHARED_KEY)
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let refused = fresh.verify(&forged).await.err().map(|e| e.status.as_u16());
        assert!(
            matches!(refused, Some(401 | 503)),
            "fresh verifier: {refused:?}"
        );
        trusted.invalidate().await;
        let refused = trusted
            .verify(&forged)
            .await
            .err()
            .map(|e| e.status.as_u16());
        assert_eq!(refused, Some(401), "verifier holding keys");
    }
    // Without a shared key no copy is read at all.
    plant(&redis, &sealing.shared_key(), &sealed).await;
    let unshared = verifier(RemoteJwks::new(down));
    assert!(unshared.verify(&real).await.is_err());
}

async fn reqwest_get(url: &str) -> String {
    testkit::reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}
