//! Identity: the tenant tree (platform → MSPs → customers), users, groups, roles, sessions and
//! tokens, API clients, signing keys (JWKS) and the per-tenant audit chain.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod domain;
pub mod events;
pub mod migration;
pub mod routes;
pub mod seed;
pub mod service;
pub mod store;

use std::{sync::Arc, time::Duration};

use platform::{
    auth::AuthContext,
    credential_guard::CredentialGuard,
    db::{self, DbSetupError, Target},
    ratelimit::DisclosureBudget,
    settings::Settings,
    tenancy::{CachedDirectory, TenantDirectory},
};
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

/// The PostgreSQL schema (and SQLite file) of this service.
pub const SCHEMA: &str = "identity";

/// Identity's shared state.
pub struct Identity {
    pub db: DatabaseConnection,
    pub keys: Arc<store::keys::KeyStore>,
    pub settings: Arc<Settings>,
    pub auth: AuthContext,
    /// The tenant directory the auth extractors read; invalidated on every tree change.
    pub directory: Arc<CachedDirectory>,
    /// Per-principal budget of answers that disclose a platform-wide unique value is taken.
    pub disclosures: DisclosureBudget,
    /// Per-address limits and the bound on password verifications in flight, for the
    /// endpoints anyone can reach.
    pub credentials: CredentialGuard,
}

/// The key-encryption keys from `ITSM_KEY_ENCRYPTION_KEY`: required on PostgreSQL, where a
/// database dump must not be enough to sign tokens; optional in the embedded mode.
fn keyring(
    settings: &Settings,
    target: &Target,
) -> Result<Option<Arc<domain::key_wrap::Keyring>>, DbSetupError> {
    match (&settings.key_encryption_key, target) {
        (Some(raw), _) => domain::key_wrap::Keyring::parse(raw.expose())
            .map(|ring| Some(Arc::new(ring)))
            .map_err(|e| DbSetupError::Config(format!("key_encryption_key: {e}"))),
        (None, Target::Postgres { .. }) => Err(DbSetupError::Config(
            "ITSM_KEY_ENCRYPTION_KEY (or ITSM_KEY_ENCRYPTION_KEY_FILE) is required on \
             PostgreSQL: signing keys are stored sealed under it. Generate one with \
             `echo \"k1:$(openssl rand -base64 32)\"`"
                .into(),
        )),
        (None, _) => Ok(None),
    }
}

/// How long a resolved tenant is remembered (this process invalidates on its own changes).
const DIRECTORY_TTL: Duration = Duration::from_secs(5);

impl Identity {
    /// Connects as the application role, checks it cannot bypass row-level security, and
    /// loads (or creates) the signing key.
    pub async fn connect(settings: Arc<Settings>) -> Result<Self, DbSetupError> {
        let target = Target::from_settings(&settings, SCHEMA)?;
        let db = db::connect_app(&target, SCHEMA, settings.database_max_connections).await?;
        db::assert_app_role_is_confined(&db).await?;
        let keys = Arc::new(store::keys::KeyStore::new(
            db.clone(),
            keyring(&settings, &target)?,
        ));
        keys.ensure_active().await?;
        let directory = Arc::new(CachedDirectory::new(
            Arc::new(store::directory::DbDirectory { db: db.clone() }),
            DIRECTORY_TTL,
        ));
        let dyn_directory: Arc<dyn TenantDirectory> = directory.clone();
        let auth = AuthContext::from_settings(&settings, keys.clone(), dyn_directory)
            .map_err(DbSetupError::Config)?;
        let disclosures =
            DisclosureBudget::from_settings(&settings).map_err(DbSetupError::Config)?;
        let credentials =
            CredentialGuard::from_settings(&settings).map_err(DbSetupError::Config)?;
        Ok(Self {
            credentials,
            db,
            keys,
            settings,
            auth,
            directory,
            disclosures,
        })
    }
}

/// Runs identity's migrations as the owner role and grants the application role what it needs.
pub async fn migrate(settings: &Settings) -> Result<(), DbSetupError> {
    let target = Target::from_settings(settings, SCHEMA)?;
    let owner = db::connect_owner(&target, SCHEMA).await?;
    migration::Migrator::up(&owner, None).await?;
    if let Target::Postgres { app_url, .. } = &target
        && let Some(role) = db::role_of(app_url)
    {
        db::grant_app_role(&owner, SCHEMA, &role).await?;
        migration::confine_app_role(&owner, db::ident(&role)?).await?;
    }
    owner.close().await?;
    Ok(())
}

pub use routes::configure;
pub use service::SERVICE;
