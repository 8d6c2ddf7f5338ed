//! Analytics as the process runs it: the service descriptor (docs/adding-a-service.md).
use actix_web::web;
use anyhow::Context as _;
use async_trait::async_trait;
use host::{Context, Started};
use platform::settings::Settings;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{AnalyticsService, SCHEMA, routes};

/// Analytics' descriptor.
pub const SERVICE: &dyn host::Service = &Analytics;

struct Analytics;

#[async_trait]
impl host::Service for Analytics {
    fn name(&self) -> &'static str {
        SCHEMA
    }
    fn title(&self) -> &'static str {
        "ITSM analytics API"
    }
    fn api(&self, cfg: &mut ServiceConfig) {
        routes::api(cfg);
    }
    async fn migrate(&self, settings: &Settings) -> anyhow::Result<()> {
        host::migrate_schema::<crate::migration::Migrator>(settings, SCHEMA).await
    }
    async fn start(&self, ctx: &Context) -> anyhow::Result<Started> {
        let keys = ctx.verification_keys(SCHEMA)?;
        let analytics = web::Data::new(
            AnalyticsService::connect(&ctx.settings, keys)
                .await
                .context("connecting analytics")?,
        );
        let mut started = Started::new(
            analytics.db.clone(),
            analytics.auth.clone(),
            routes::configure(analytics.clone()),
        );
        started.consumers.push(analytics.consumer());
        let forecaster = analytics.forecaster.clone();
        started
            .schedulers
            .push(Box::new(move |stop| Box::pin(forecaster.run(stop))));
        started.demo = Some(std::sync::Arc::new(AnalyticsDemo(analytics)));
        Ok(started)
    }
}

/// Analytics' part of the demo data set: capacity thresholds.
struct AnalyticsDemo(web::Data<AnalyticsService>);

#[async_trait]
impl host::demo::DemoSeed for AnalyticsDemo {
    async fn seed_demo(&self, demo: &mut host::demo::Demo) -> anyhow::Result<()> {
        let made = crate::seed::seed_demo(&self.0, &demo.customers)
            .await
            .map_err(|e| anyhow::anyhow!("seeding the analytics demo data: {e}"))?;
        demo.summaries
            .push(format!("{made} capacity thresholds (new)"));
        Ok(())
    }
}
