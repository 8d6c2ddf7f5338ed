//! Incident as the process runs it: the service descriptor (docs/adding-a-service.md).
use std::{sync::Arc, time::Duration};

use actix_web::web;
use anyhow::{Context as _, anyhow};
use async_trait::async_trait;
use host::{Context, Demo, DemoSeed, Started};
use platform::settings::Settings;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{IncidentService, SCHEMA, routes, seed};

/// Incident's descriptor.
pub const SERVICE: &dyn host::Service = &Incident;

/// How often the SLA scheduler looks for clocks that are due.
const SLA_TICK: Duration = Duration::from_secs(1);

struct Incident;

#[async_trait]
impl host::Service for Incident {
    fn name(&self) -> &'static str {
        SCHEMA
    }
    fn title(&self) -> &'static str {
        "ITSM incident API"
    }
    fn api(&self, cfg: &mut ServiceConfig) {
        routes::api(cfg);
    }
    async fn migrate(&self, settings: &Settings) -> anyhow::Result<()> {
        host::migrate_schema::<crate::migration::Migrator>(settings, SCHEMA).await
    }
    async fn start(&self, ctx: &Context) -> anyhow::Result<Started> {
        let keys = ctx.verification_keys(SCHEMA)?;
        let incident = web::Data::new(
            IncidentService::connect(&ctx.settings, keys)
                .await
                .context("connecting incident")?,
        );
        let mut started = Started::new(
            incident.db.clone(),
            incident.auth.clone(),
            routes::configure(incident.clone()),
        );
        started.consumers.push(incident.consumer());
        let scheduler = incident.sla_scheduler();
        started.schedulers.push(Box::new(move |stop| {
            Box::pin(scheduler.run(SLA_TICK, stop))
        }));
        started.demo = Some(Arc::new(IncidentDemo(incident)));
        Ok(started)
    }
}

/// SLA set-up, incidents with running clocks and problems for each demo customer.
struct IncidentDemo(web::Data<IncidentService>);

#[async_trait]
impl DemoSeed for IncidentDemo {
    async fn seed_demo(&self, demo: &mut Demo) -> anyhow::Result<()> {
        let work = seed::seed_demo(&self.0, &demo.customers, chrono::Utc::now())
            .await
            .map_err(|e| anyhow!("seeding the incident demo data: {e}"))?;
        demo.summaries.push(format!(
            "{} incidents and {} problems in {} customers (new)",
            work.incidents, work.problems, work.customers
        ));
        Ok(())
    }
}
