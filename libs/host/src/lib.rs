//! What a service crate exposes to the process that runs it, and the code that runs a list of
//! them. `itsm serve`, `migrate`, `seed` and `openapi`, and the test harness, iterate over one
//! list of [`Service`] descriptors (`suite::services()`), so a new service is its own crate
//! plus one line in that list (docs/adding-a-service.md).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod demo;
mod process;

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use platform::{
    auth::{AuthContext, KeySource, RemoteJwks},
    health::ReadinessCheck,
    openapi::Register,
    settings::Settings,
};
use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use utoipa_actix_web::service_config::ServiceConfig;

pub use demo::{Demo, DemoCustomer, DemoLogin, DemoSeed};
pub use process::{
    Application, Workers, amqp_urls, build, migrate, migrate_schema, start, write_openapi,
};

/// One service: its name, its documented routes, its migrations, and how it starts.
#[async_trait]
pub trait Service: Send + Sync {
    /// `--service <name>`, its database schema, its broker user `itsm-<name>`,
    /// `openapi/<name>.json` and its chart values key.
    fn name(&self) -> &'static str;
    /// The title of its OpenAPI document.
    fn title(&self) -> &'static str;
    /// Its routes without state: enough to generate the OpenAPI document.
    fn api(&self, cfg: &mut ServiceConfig);
    /// Runs its migrations in its own schema as the owner role (RLS forced) and grants the
    /// application role what it needs.
    async fn migrate(&self, settings: &Settings) -> anyhow::Result<()>;
    /// Connects as the application role and returns what the process runs for it.
    async fn start(&self, ctx: &Context) -> anyhow::Result<Started>;
}

/// What a starting service receives from the process.
pub struct Context {
    pub settings: Arc<Settings>,
    /// The keys tokens are signed with, when the service that issues them runs in this
    /// process (identity starts first).
    pub issuer_keys: Option<Arc<dyn KeySource>>,
}

impl Context {
    /// The keys `service` verifies tokens with: the issuer's own in one process; alone, the
    /// key set at `ITSM_AUTH_JWKS_URL` (a copy shared through Redis is trusted only when it is
    /// authenticated with the shared key).
    pub fn verification_keys(&self, service: &str) -> anyhow::Result<Arc<dyn KeySource>> {
        if let Some(keys) = &self.issuer_keys {
            return Ok(keys.clone());
        }
        let url = self.settings.auth_jwks_url.clone().ok_or_else(|| {
            anyhow::anyhow!("ITSM_AUTH_JWKS_URL is required to run {service} without identity")
        })?;
        let mut jwks = RemoteJwks::new(url);
        if let (Some(redis), Some(key)) = (
            &self.settings.redis_url,
            &self.settings.auth_jwks_shared_key,
        ) {
            jwks = jwks
                .shared_through(redis.expose(), key.expose().as_bytes())
                .map_err(|e| anyhow::anyhow!("ITSM_REDIS_URL: {e}"))?;
        }
        Ok(Arc::new(jwks))
    }
}

/// A background task of a service (e.g. the SLA scheduler), run until the signal turns true.
pub type Scheduler = Box<dyn FnOnce(watch::Receiver<bool>) -> BoxFuture<'static, ()> + Send>;

/// A started service: what the process serves, watches and runs for it.
pub struct Started {
    /// Its application-role connection: readiness, and the outbox its relay drains.
    pub db: DatabaseConnection,
    /// Its token verification; the edge guard and the bus operator routes use the first.
    pub auth: AuthContext,
    /// Its routes with their state.
    pub routes: Register,
    /// Readiness checks besides its database and its token verification keys, which every
    /// service has.
    pub readiness: Vec<Arc<dyn ReadinessCheck>>,
    /// Its event consumers.
    pub consumers: Vec<Arc<bus::ConsumerRunner>>,
    pub schedulers: Vec<Scheduler>,
    /// The keys it signs tokens with, lent to the services that start after it.
    pub issues_tokens: Option<Arc<dyn KeySource>>,
    /// Its part of the demo data set.
    pub demo: Option<Arc<dyn DemoSeed>>,
}

impl Started {
    /// A service with routes and nothing else yet; the other parts are set by field.
    pub fn new(db: DatabaseConnection, auth: AuthContext, routes: Register) -> Self {
        Self {
            db,
            auth,
            routes,
            readiness: Vec::new(),
            consumers: Vec::new(),
            schedulers: Vec::new(),
            issues_tokens: None,
            demo: None,
        }
    }
}
