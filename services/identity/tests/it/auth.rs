//! Login, tokens, sessions and every way a bad token is refused.
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use testkit::{PASSWORD, app, json, reqwest::Method};

#[tokio::test]
async fn login_returns_rfc6749_tokens_and_me_describes_the_user() {
    let app = app!();
    let res = app.login_res("agent@globex.demo.test", PASSWORD).await;
    let body = res.expect(200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("rt_"))
    );
    assert_eq!(
        res.headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let token = body["access_token"].as_str().unwrap_or_default();
    let me = app.get("/api/v1/users/me", token).await;
    let me = me.expect(200);
    assert_eq!(me["email"], "agent@globex.demo.test");
    assert_eq!(me["roles"], json!(["agent"]));
    assert_eq!(me["tenant_id"], app.tenant_id("globex").await);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let app = app!();
    let a = app
        .login_res("agent@globex.demo.test", "not the password")
        .await;
    let b = app
        .login_res("nobody@globex.demo.test", "not the password")
        .await;
    a.expect(401);
    b.expect(401);
    assert_eq!(a.body["detail"], b.body["detail"]);
    assert_eq!(a.code(), "unauthorized");
}

#[tokio::test]
async fn repeated_failures_lock_the_account_with_retry_after() {
    let app = app!();
    for _ in 0..5 {
        app.login_res("analyst@globex.demo.test", "wrong password!")
            .await
            .expect(401);
    }
    let locked = app.login_res("analyst@globex.demo.test", PASSWORD).await;
    locked.expect(429);
    assert!(locked.headers.contains_key("retry-after"));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.login_res("analyst@globex.demo.test", PASSWORD)
        .await
        .expect(200);
    // The failures are in the tenant's audit chain.
    let admin = app.token("admin@globex.demo.test").await;
    let audit = app.get("/api/v1/audit?limit=200", &admin).await;
    let failures = audit.expect(200)["items"].as_array().map(|a| {
        a.iter()
            .filter(|r| r["action"] == "auth.login_failed")
            .count()
    });
    assert_eq!(failures, Some(5));
}

#[tokio::test]
async fn login_rejects_bad_input_with_problem_json() {
    let app = app!();
    let malformed = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(malformed.ok(), Some(400));
    let unknown = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "a@b.co", "password": "x", "otp": 1})),
            &[],
        )
        .await;
    assert_eq!(unknown.expect(422)["errors"][0]["pointer"], "/otp");
    let bad_email = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "nope", "password": "x"})),
            &[],
        )
        .await;
    assert_eq!(bad_email.expect(422)["errors"][0]["code"], "invalid_email");
    let not_json = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base))
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(not_json.ok(), Some(415));
    let huge = "x".repeat(2 * 1024 * 1024);
    let too_big = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "a@b.co", "password": huge})),
            &[],
        )
        .await;
    too_big.expect(413);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = app!();
    let first = app.login_res("agent@initech.demo.test", PASSWORD).await;
    let rt1 = first.body["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let second = app
        .token_endpoint(&[("grant_type", "refresh_token"), ("refresh_token", &rt1)])
        .await;
    let rt2 = second.expect(200)["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_ne!(rt1, rt2);
    assert!(second.body["access_token"].is_string());

    // Replaying the used token is refused and revokes the whole family, including rt2.
    let replay = app
        .token_endpoint(&[("grant_type", "refresh_token"), ("refresh_token", &rt1)])
        .await;
    assert_eq!(replay.expect(400)["error"], "invalid_grant");
    let after = app
        .token_endpoint(&[("grant_type", "refresh_token"), ("refresh_token", &rt2)])
        .await;
    assert_eq!(after.expect(400)["error"], "invalid_grant");

    let admin = app.token("admin@initech.demo.test").await;
    let audit = app.get("/api/v1/audit?limit=200", &admin).await;
    let reuse = audit.expect(200)["items"]
        .as_array()
        .map(|a| a.iter().any(|r| r["action"] == "auth.refresh_token_reused"));
    assert_eq!(reuse, Some(true));
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc6749() {
    let app = app!();
    let r = app.token_endpoint(&[("grant_type", "password")]).await;
    assert_eq!(r.expect(400)["error"], "unsupported_grant_type");
    let r = app.token_endpoint(&[]).await;
    assert_eq!(r.expect(400)["error"], "invalid_request");
    let r = app
        .token_endpoint(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt_forged"),
        ])
        .await;
    assert_eq!(r.expect(400)["error"], "invalid_grant");
    let r = app
        .token_endpoint(&[
            ("grant_type", "client_credentials"),
            ("client_id", "not-a-uuid"),
            ("client_secret", "x"),
        ])
        .await;
    assert_eq!(r.expect(401)["error"], "invalid_client");
    // RFC 6749 §5.2: the media type is application/json, not problem+json.
    assert_eq!(r.content_type(), "application/json");
    assert_eq!(
        r.headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    // A client that used HTTP Basic is challenged with Basic.
    let basic = app
        .client_credentials_basic("0190a6b2-0000-7000-8000-000000000000", "wrong-secret")
        .await;
    assert_eq!(basic.expect(401)["error"], "invalid_client");
    assert_eq!(basic.content_type(), "application/json");
    assert!(
        basic
            .headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Basic"))
    );
    let json_body = app
        .call(
            Method::POST,
            "/oauth/token",
            None,
            Some(json!({"grant_type": "refresh_token"})),
            &[],
        )
        .await;
    json_body.expect(400);
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let app = app!();
    let login = app.login_res("approver@globex.demo.test", PASSWORD).await;
    let rt = login.body["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    app.call(
        Method::POST,
        "/api/v1/auth/logout",
        None,
        Some(json!({"refresh_token": rt})),
        &[],
    )
    .await
    .expect(204);
    let r = app
        .token_endpoint(&[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .await;
    r.expect(400);
    // Unknown tokens are accepted silently; bad shapes are not.
    app.call(
        Method::POST,
        "/api/v1/auth/logout",
        None,
        Some(json!({"refresh_token": "rt_unknown"})),
        &[],
    )
    .await
    .expect(204);
    app.call(
        Method::POST,
        "/api/v1/auth/logout",
        None,
        Some(json!({"refresh_token": ""})),
        &[],
    )
    .await
    .expect(422);
}

#[tokio::test]
async fn jwks_and_discovery_are_published() {
    let app = app!();
    let jwks = app
        .call(Method::GET, "/.well-known/jwks.json", None, None, &[])
        .await;
    let key = &jwks.expect(200)["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    let oidc = app
        .call(
            Method::GET,
            "/.well-known/openid-configuration",
            None,
            None,
            &[],
        )
        .await;
    let oidc = oidc.expect(200);
    assert_eq!(oidc["issuer"], "http://itsm.test");
    assert!(
        oidc["jwks_uri"]
            .as_str()
            .is_some_and(|u| u.ends_with("/.well-known/jwks.json"))
    );
}

#[tokio::test]
async fn signing_key_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key() {
    let app = app!();
    let old = app.token("agent@globex.demo.test").await;
    let platform = app.token("platform-admin@demo.test").await;
    let rotated = app
        .post("/api/v1/signing-keys/rotate", &platform, json!({}))
        .await;
    let kid = rotated.expect(200)["kid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    app.get("/api/v1/users/me", &old).await.expect(200);
    let fresh = app.login_res("agent@globex.demo.test", PASSWORD).await;
    let token = fresh.body["access_token"].as_str().unwrap_or_default();
    let header = jsonwebtoken::decode_header(token).map(|h| h.kid);
    assert_eq!(header.ok().flatten(), Some(kid));
    let jwks = app
        .call(Method::GET, "/.well-known/jwks.json", None, None, &[])
        .await;
    assert_eq!(jwks.body["keys"].as_array().map(Vec::len), Some(2));
    // Only the platform operator may rotate.
    let msp = app.token("msp-admin@demo.test").await;
    assert_eq!(
        app.post("/api/v1/signing-keys/rotate", &msp, json!({}))
            .await
            .expect(403)["code"],
        "insufficient_scope"
    );
}

/// Builds a token with our claims, signed by `key`/`alg` and with `kid`.
fn forge(claims: serde_json::Value, alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
    let mut h = Header::new(alg);
    h.typ = Some("at+jwt".into());
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, &claims, key).unwrap_or_default()
}

#[tokio::test]
async fn forged_expired_and_misaddressed_tokens_are_refused() {
    let app = app!();
    let good = app.token("admin@globex.demo.test").await;
    let parts: Vec<&str> = good.split('.').collect();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap_or_default())
            .unwrap_or_default();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap_or_default())
            .unwrap_or_default();
    let kid = header["kid"].as_str().unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let with = |k: &str, v: serde_json::Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    let attacker = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let attacker_der = {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        attacker
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default()
    };
    let attacker_key = EncodingKey::from_ed_der(&attacker_der);
    let jwks = app
        .call(Method::GET, "/.well-known/jwks.json", None, None, &[])
        .await;
    let public_x = jwks.body["keys"][0]["x"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "at+jwt", "kid": kid}).to_string()),
        parts[1]
    );
    let mut tampered_claims = claims.clone();
    tampered_claims["roles"] = json!(["platform_admin"]);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(tampered_claims.to_string()),
        parts[2]
    );

    let cases = vec![
        (
            "expired",
            forge(
                with("exp", json!(now - 3600)),
                Algorithm::EdDSA,
                kid,
                &attacker_key,
            ),
        ),
        ("unsigned", unsigned),
        (
            "hs256 with the public key",
            forge(
                claims.clone(),
                Algorithm::HS256,
                kid,
                &EncodingKey::from_secret(public_x.as_bytes()),
            ),
        ),
        (
            "unknown kid",
            forge(claims.clone(), Algorithm::EdDSA, "k-unknown", &attacker_key),
        ),
        (
            "known kid, wrong key",
            forge(claims.clone(), Algorithm::EdDSA, kid, &attacker_key),
        ),
        ("tampered claims", tampered),
        ("garbage", "not.a.jwt".to_string()),
    ];
    for (name, token) in cases {
        let r = app.get("/api/v1/users/me", &token).await;
        assert_eq!(r.status.as_u16(), 401, "{name}: {}", r.body);
        assert_eq!(r.content_type(), "application/problem+json", "{name}");
    }
    // Signed with the service's real key (read from the database as the superuser), but
    // with a claim that must be refused.
    let db = app.superuser().await;
    let row = sea_orm::ConnectionTrait::query_one_raw(
        &db,
        sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT kid, sealed_with, private_pkcs8 FROM signing_keys WHERE status = 'active'",
        ),
    )
    .await
    .ok()
    .flatten();
    // Stored sealed under the test key-encryption key: open it as identity does.
    let sealed = row.and_then(|r| {
        Some((
            r.try_get::<String>("", "kid").ok()?,
            r.try_get::<String>("", "sealed_with").ok()?,
            r.try_get::<Vec<u8>>("", "private_pkcs8").ok()?,
        ))
    });
    let der = sealed
        .and_then(|(kid, kek, sealed)| {
            identity::domain::key_wrap::Keyring::parse(testkit::KEY_ENCRYPTION_KEY)
                .ok()?
                .open(&kek, &kid, &sealed)
                .ok()
        })
        .unwrap_or_default();
    let real = EncodingKey::from_ed_der(&der);
    assert_eq!(
        app.get(
            "/api/v1/users/me",
            &forge(claims.clone(), Algorithm::EdDSA, kid, &real)
        )
        .await
        .status
        .as_u16(),
        200,
        "control: a re-signed copy of a valid token works"
    );
    let mut no_typ = Header::new(Algorithm::EdDSA);
    no_typ.kid = Some(kid.into());
    let signed_cases = vec![
        (
            "expired",
            forge(with("exp", json!(now - 3600)), Algorithm::EdDSA, kid, &real),
        ),
        (
            "not yet valid",
            forge(with("nbf", json!(now + 3600)), Algorithm::EdDSA, kid, &real),
        ),
        (
            "wrong issuer",
            forge(
                with("iss", json!("https://evil.example")),
                Algorithm::EdDSA,
                kid,
                &real,
            ),
        ),
        (
            "wrong audience",
            forge(
                with("aud", json!("someone-else")),
                Algorithm::EdDSA,
                kid,
                &real,
            ),
        ),
        (
            "no audience",
            forge(
                {
                    let mut c = claims.clone();
                    c.as_object_mut().map(|o| o.remove("aud"));
                    c
                },
                Algorithm::EdDSA,
                kid,
                &real,
            ),
        ),
        (
            "not an access token",
            jsonwebtoken::encode(&no_typ, &claims, &real).unwrap_or_default(),
        ),
    ];
    for (name, token) in signed_cases {
        let r = app.get("/api/v1/users/me", &token).await;
        assert_eq!(r.status.as_u16(), 401, "{name}: {}", r.body);
        assert_eq!(r.content_type(), "application/problem+json", "{name}");
    }
    let no_token = app
        .call(Method::GET, "/api/v1/users/me", None, None, &[])
        .await;
    no_token.expect(401);
    assert_eq!(
        no_token
            .headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
}
