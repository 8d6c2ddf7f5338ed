//! Signing keys at rest on PostgreSQL: sealed under the key-encryption key, refused to start
//! without one, re-sealed when the key-encryption key rotates (tokens keep verifying), and a
//! key in the clear from before sealing is sealed on the next start.
#![allow(clippy::expect_used)] // A test fails loudly on a broken set-up.

use std::sync::Arc;

use identity::{Identity, domain::key_wrap::Keyring};
use platform::settings::Secret;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use testkit::app;

const NEW_KEK: &str = "k2:bmV3IGtleS1lbmNyeXB0aW9uIGtleSBmb3IgdGVzdHM=";

/// `(kid, sealed_with, private_pkcs8)` of every stored signing key.
async fn stored(su: &DatabaseConnection) -> Vec<(String, Option<String>, Vec<u8>)> {
    su.query_all_raw(Statement::from_string(
        DbBackend::Postgres,
        "SELECT kid, sealed_with, private_pkcs8 FROM identity.signing_keys ORDER BY created_at",
    ))
    .await
    .expect("signing keys")
    .iter()
    .map(|r| {
        (
            r.try_get("", "kid").expect("kid"),
            r.try_get("", "sealed_with").expect("sealed_with"),
            r.try_get("", "private_pkcs8").expect("private"),
        )
    })
    .collect()
}

async fn connect_with(
    app: &testkit::TestApp,
    kek: Option<&str>,
) -> Result<Identity, platform::db::DbSetupError> {
    let mut settings = (*app.settings).clone();
    settings.key_encryption_key = kek.map(|k| Secret::new(k.to_string()));
    Identity::connect(Arc::new(settings)).await
}

fn err_text(r: Result<Identity, platform::db::DbSetupError>) -> String {
    match r {
        Ok(_) => String::from("started"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn signing_keys_are_sealed_at_rest_and_the_wrapping_key_rotates() {
    let app = app!();
    let su = app.superuser().await;
    let keys = stored(&su).await;
    assert_eq!(keys.len(), 1);
    let (kid, sealed_with, private) = keys[0].clone();
    assert_eq!(sealed_with.as_deref(), Some("test"));
    // A PKCS#8 document is a DER SEQUENCE (0x30); the stored bytes are not one.
    let old_ring = Keyring::parse(testkit::KEY_ENCRYPTION_KEY).expect("test keyring");
    let pkcs8 = old_ring.open("test", &kid, &private).expect("opens");
    assert_eq!(pkcs8.first(), Some(&0x30));
    assert!(
        !private
            .windows(16)
            .any(|w| pkcs8.windows(16).any(|p| p == w))
    );
    let before = app.token("agent@globex.demo.test").await;

    // No key-encryption key on PostgreSQL: identity refuses to start, and says what to set.
    let refused = err_text(connect_with(&app, None).await);
    assert!(refused.contains("ITSM_KEY_ENCRYPTION_KEY"), "{refused}");
    let malformed = err_text(connect_with(&app, Some("k1:short")).await);
    assert!(malformed.contains("key_encryption_key"), "{malformed}");

    // Rotation: the new key first, the old one still there; every key is re-sealed.
    connect_with(
        &app,
        Some(&format!("{NEW_KEK},{}", testkit::KEY_ENCRYPTION_KEY)),
    )
    .await
    .expect("starts with both keys");
    let resealed = stored(&su).await;
    assert!(
        resealed
            .iter()
            .all(|(_, with, _)| with.as_deref() == Some("k2"))
    );
    let new_ring = Keyring::parse(NEW_KEK).expect("new keyring");
    assert_eq!(
        new_ring.open("k2", &kid, &resealed[0].2).expect("opens"),
        pkcs8
    );
    // The old key alone no longer opens them; the new one alone does.
    let stale = err_text(connect_with(&app, Some(testkit::KEY_ENCRYPTION_KEY)).await);
    assert!(stale.contains("\"k2\""), "{stale}");
    let identity = connect_with(&app, Some(NEW_KEK))
        .await
        .expect("starts with k2");
    // The signing key itself did not change: a token issued before the rotation verifies.
    app.get("/api/v1/users/me", &before).await.expect(200);

    // A key stored in the clear (before sealing existed) is sealed on the next start.
    su.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE identity.signing_keys SET private_pkcs8 = $1, sealed_with = NULL WHERE kid = $2",
        [pkcs8.clone().into(), kid.clone().into()],
    ))
    .await
    .expect("store in the clear");
    drop(identity);
    connect_with(&app, Some(NEW_KEK)).await.expect("starts");
    let sealed_again = stored(&su).await;
    assert_eq!(sealed_again[0].1.as_deref(), Some("k2"));
    assert_ne!(sealed_again[0].2, pkcs8);
}
