//! Token signing keys (Ed25519), persisted so every replica signs with the same key and
//! restarts keep tokens valid. Rotation makes a new key active; retired keys stay published in
//! the JWKS for a day so tokens they signed verify until they expire. With a keyring
//! (`ITSM_KEY_ENCRYPTION_KEY`, required on PostgreSQL) private keys are stored sealed
//! (`domain::key_wrap`).
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Duration;
use ed25519_dalek::{SigningKey, pkcs8::EncodePrivateKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::JwkSet};
use platform::{
    ApiError,
    auth::{ACCESS_TOKEN_TYP, Claims, KeySource},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait, sea_query::Expr,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::entities::signing_key::{self, Column, Entity};
use crate::domain::key_wrap::Keyring;

const ACTIVE: &str = "active";
const RETIRED: &str = "retired";
/// Retired keys stay in the JWKS this long (well past the 15-minute token lifetime).
const PUBLISH_RETIRED_FOR: Duration = Duration::hours(24);

struct ActiveKey {
    kid: String,
    key: EncodingKey,
}

pub struct KeyStore {
    db: DatabaseConnection,
    keyring: Option<Arc<Keyring>>,
    active: RwLock<Option<Arc<ActiveKey>>>,
}

impl KeyStore {
    /// `keyring`: the key-encryption keys private keys are sealed with (None: stored in the
    /// clear, the embedded mode's default).
    pub fn new(db: DatabaseConnection, keyring: Option<Arc<Keyring>>) -> Self {
        Self {
            db,
            keyring,
            active: RwLock::new(None),
        }
    }

    /// Makes sure an active key exists (first start creates one) and, with a keyring, that every
    /// stored key is sealed under its current key-encryption key: keys in the clear and keys
    /// sealed under an older one are re-sealed, in one transaction.
    pub async fn ensure_active(&self) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        let rows = Entity::find()
            .order_by_asc(Column::CreatedAt)
            .lock_exclusive()
            .all(&txn)
            .await?;
        if let Some(ring) = &self.keyring {
            for row in rows
                .iter()
                .filter(|r| r.sealed_with.as_deref() != Some(ring.current()))
            {
                let private = self.private_key(row)?;
                Entity::update_many()
                    .col_expr(
                        Column::PrivatePkcs8,
                        Expr::value(seal(ring, &row.kid, &private)?),
                    )
                    .col_expr(Column::SealedWith, Expr::value(ring.current()))
                    .filter(Column::Kid.eq(row.kid.clone()))
                    .exec(&txn)
                    .await?;
                tracing::info!(kid = %row.kid, sealed_with = ring.current(), "signing key sealed");
            }
        }
        if !rows.iter().any(|r| r.status == ACTIVE) {
            insert_new(&txn, self.keyring.as_deref()).await?;
        }
        txn.commit().await?;
        self.reload().await
    }

    /// A stored key's PKCS#8 private key, opened if it is sealed.
    fn private_key(&self, row: &signing_key::Model) -> Result<Vec<u8>, DbErr> {
        match (&row.sealed_with, &self.keyring) {
            (None, _) => Ok(row.private_pkcs8.clone()),
            (Some(kek), Some(ring)) => ring
                .open(kek, &row.kid, &row.private_pkcs8)
                .map_err(DbErr::Custom),
            (Some(kek), None) => Err(DbErr::Custom(format!(
                "signing key {} is sealed with key-encryption key {kek:?}; set \
                 ITSM_KEY_ENCRYPTION_KEY (or ITSM_KEY_ENCRYPTION_KEY_FILE)",
                row.kid
            ))),
        }
    }

    /// Retires the active key and creates a new one. Returns the new `kid`.
    pub async fn rotate(&self) -> Result<String, DbErr> {
        let txn = self.db.begin().await?;
        Entity::update_many()
            .col_expr(Column::Status, Expr::value(RETIRED))
            .col_expr(Column::RetiredAt, Expr::value(super::now()))
            .filter(Column::Status.eq(ACTIVE))
            .exec(&txn)
            .await?;
        let kid = insert_new(&txn, self.keyring.as_deref()).await?;
        txn.commit().await?;
        self.reload().await?;
        Ok(kid)
    }

    async fn reload(&self) -> Result<(), DbErr> {
        let row = Entity::find()
            .filter(Column::Status.eq(ACTIVE))
            .order_by_desc(Column::CreatedAt)
            .one(&self.db)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("no active signing key".into()))?;
        let key = EncodingKey::from_ed_der(&self.private_key(&row)?);
        if let Ok(mut slot) = self.active.write() {
            *slot = Some(Arc::new(ActiveKey { kid: row.kid, key }));
        }
        Ok(())
    }

    /// Signs an access token with the active key.
    pub async fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        let current = self.active.read().ok().and_then(|a| a.clone());
        let active = match current {
            Some(a) => a,
            None => {
                self.reload().await?;
                self.active
                    .read()
                    .ok()
                    .and_then(|a| a.clone())
                    .ok_or_else(|| ApiError::internal("no signing key loaded"))?
            }
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYP.to_string());
        header.kid = Some(active.kid.clone());
        jsonwebtoken::encode(&header, claims, &active.key).map_err(ApiError::internal)
    }

    /// The published key set: the active key and recently retired ones.
    pub async fn jwks(&self) -> Result<PublishedKeys, DbErr> {
        let cutoff = super::now() - PUBLISH_RETIRED_FOR;
        let rows = Entity::find()
            .filter(
                Condition::any()
                    .add(Column::Status.eq(ACTIVE))
                    .add(Column::RetiredAt.gt(cutoff)),
            )
            .order_by_desc(Column::CreatedAt)
            .all(&self.db)
            .await?;
        let keys = rows
            .iter()
            .map(|r| PublishedKey {
                kty: "OKP",
                crv: "Ed25519",
                x: URL_SAFE_NO_PAD.encode(&r.public_raw),
                kid: r.kid.clone(),
                alg: "EdDSA",
                key_use: "sig",
            })
            .collect();
        Ok(PublishedKeys { keys })
    }
}

/// A JSON Web Key Set (RFC 7517): the public keys that verify access tokens.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = JwkSet, example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "k0193a1f4c2d87c3e8f0a6b1d2e3f4a5b",
    "alg": "EdDSA", "use": "sig"}]}))]
pub struct PublishedKeys {
    pub keys: Vec<PublishedKey>,
}

/// One Ed25519 public key as a JWK (RFC 8037).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Jwk)]
pub struct PublishedKey {
    /// Always `OKP`.
    pub kty: &'static str,
    /// Always `Ed25519`.
    pub crv: &'static str,
    /// The public key, base64url without padding.
    pub x: String,
    /// Key id; access tokens name it in their `kid` header.
    pub kid: String,
    /// Always `EdDSA`.
    pub alg: &'static str,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub key_use: &'static str,
}

fn seal(ring: &Keyring, kid: &str, private: &[u8]) -> Result<Vec<u8>, DbErr> {
    ring.seal(kid, private).map_err(DbErr::Custom)
}

async fn insert_new(
    txn: &sea_orm::DatabaseTransaction,
    keyring: Option<&Keyring>,
) -> Result<String, DbErr> {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| DbErr::Custom(format!("cannot encode signing key: {e}")))?;
    let kid = format!("k{}", uuid::Uuid::now_v7().simple());
    let (private, sealed_with) = match keyring {
        Some(ring) => (
            seal(ring, &kid, pkcs8.as_bytes())?,
            Some(ring.current().to_string()),
        ),
        None => (pkcs8.as_bytes().to_vec(), None),
    };
    Entity::insert(signing_key::ActiveModel {
        kid: Set(kid.clone()),
        private_pkcs8: Set(private),
        public_raw: Set(key.verifying_key().to_bytes().to_vec()),
        status: Set(ACTIVE.to_string()),
        created_at: Set(super::now()),
        retired_at: Set(None),
        sealed_with: Set(sealed_with),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(kid)
}

#[async_trait]
impl KeySource for KeyStore {
    async fn jwks(&self) -> Result<JwkSet, String> {
        let set = KeyStore::jwks(self).await.map_err(|e| e.to_string())?;
        serde_json::to_value(set)
            .and_then(serde_json::from_value)
            .map_err(|e| e.to_string())
    }
}
