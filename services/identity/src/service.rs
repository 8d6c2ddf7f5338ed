//! Identity as the process runs it: the service descriptor (docs/adding-a-service.md).
use std::sync::Arc;

use actix_web::web;
use anyhow::{Context as _, anyhow};
use async_trait::async_trait;
use host::{Context, Demo, DemoLogin, DemoSeed, Started};
use platform::settings::Settings;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{Identity, SCHEMA, routes, seed};

/// Identity's descriptor: first in the list, it issues the tokens the others verify.
pub const SERVICE: &dyn host::Service = &IdentityService;

struct IdentityService;

#[async_trait]
impl host::Service for IdentityService {
    fn name(&self) -> &'static str {
        SCHEMA
    }
    fn title(&self) -> &'static str {
        "ITSM identity API"
    }
    fn api(&self, cfg: &mut ServiceConfig) {
        routes::api(cfg);
    }
    async fn migrate(&self, settings: &Settings) -> anyhow::Result<()> {
        Ok(crate::migrate(settings).await?)
    }
    async fn start(&self, ctx: &Context) -> anyhow::Result<Started> {
        let identity = web::Data::new(
            Identity::connect(ctx.settings.clone())
                .await
                .context("connecting identity")?,
        );
        seed::ensure_root(&identity.db)
            .await
            .map_err(|e| anyhow!("creating the root tenant: {e}"))?;
        let mut started = Started::new(
            identity.db.clone(),
            identity.auth.clone(),
            routes::configure(identity.clone()),
        );
        started.issues_tokens = Some(identity.keys.clone());
        started.demo = Some(Arc::new(IdentityDemo(identity)));
        Ok(started)
    }
}

/// The demo's tenants and people, which every other service's part is seeded for.
struct IdentityDemo(web::Data<Identity>);

#[async_trait]
impl DemoSeed for IdentityDemo {
    async fn seed_demo(&self, demo: &mut Demo) -> anyhow::Result<()> {
        let logins = seed::seed_demo(&self.0.db, &demo.password)
            .await
            .map_err(|e| anyhow!("seeding demo data: {e}"))?;
        demo.logins = logins
            .into_iter()
            .map(|l| DemoLogin {
                email: l.email,
                tenant: l.tenant,
                role: l.role.as_str().to_string(),
            })
            .collect();
        demo.customers = seed::demo_customers(&self.0.db)
            .await
            .map_err(|e| anyhow!("reading the demo customers: {e}"))?;
        Ok(())
    }
}
