//! Change as the process runs it: the service descriptor (docs/adding-a-service.md).
use actix_web::web;
use anyhow::Context as _;
use async_trait::async_trait;
use host::{Context, Started};
use platform::settings::Settings;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{ChangeService, SCHEMA, routes};

/// Change's descriptor.
pub const SERVICE: &dyn host::Service = &Change;

struct Change;

#[async_trait]
impl host::Service for Change {
    fn name(&self) -> &'static str {
        SCHEMA
    }
    fn title(&self) -> &'static str {
        "ITSM change API"
    }
    fn api(&self, cfg: &mut ServiceConfig) {
        routes::api(cfg);
    }
    async fn migrate(&self, settings: &Settings) -> anyhow::Result<()> {
        host::migrate_schema::<crate::migration::Migrator>(settings, SCHEMA).await
    }
    async fn start(&self, ctx: &Context) -> anyhow::Result<Started> {
        let keys = ctx.verification_keys(SCHEMA)?;
        let change = web::Data::new(
            ChangeService::connect(&ctx.settings, keys)
                .await
                .context("connecting change")?,
        );
        let mut started = Started::new(
            change.db.clone(),
            change.auth.clone(),
            routes::configure(change.clone()),
        );
        started.consumers.push(change.consumer());
        started.demo = Some(std::sync::Arc::new(ChangeDemo(change.clone())));
        let workers = std::sync::Arc::new(crate::workers::Workers::new(
            change.db.clone(),
            change.auth.directory.clone(),
        ));
        started
            .schedulers
            .push(Box::new(move |stop| Box::pin(workers.clone().run(stop))));
        Ok(started)
    }
}

/// Change's part of the demo data set.
struct ChangeDemo(web::Data<ChangeService>);

#[async_trait]
impl host::demo::DemoSeed for ChangeDemo {
    async fn seed_demo(&self, demo: &mut host::demo::Demo) -> anyhow::Result<()> {
        let s = crate::seed::seed_demo(&self.0, &demo.customers)
            .await
            .map_err(|e| anyhow::anyhow!("seeding the change demo data: {e}"))?;
        demo.summaries.push(format!(
            "{} maintenance windows, {} change templates, {} approval policies, {} changes (new)",
            s.windows, s.templates, s.policies, s.changes
        ));
        Ok(())
    }
}
