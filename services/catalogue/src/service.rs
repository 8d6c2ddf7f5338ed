//! The catalogue as the process runs it: the service descriptor (docs/adding-a-service.md).
use std::sync::Arc;

use actix_web::web;
use anyhow::{Context as _, anyhow};
use async_trait::async_trait;
use host::{Context, Demo, DemoSeed, Started};
use platform::settings::Settings;
use utoipa_actix_web::service_config::ServiceConfig;

use bus::consumer::{Handler, HandlerError};
use events::{
    Envelope, Event,
    incident::{IncidentCreated, RequestItemSlaChanged},
};
use platform::tenancy::TenantId;
use sea_orm::DatabaseTransaction;

use crate::{
    CatalogueService, SCHEMA,
    importer::Importer,
    routes, seed, seed_cmdb, seed_knowledge,
    store::{requests, suggestions},
    workers::{self, ApprovalWorkers, Job},
};

/// `cmdb-import` workers per process.
const IMPORT_WORKERS: usize = 2;

/// The catalogue's descriptor.
pub const SERVICE: &dyn host::Service = &Catalogue;

struct Catalogue;

#[async_trait]
impl host::Service for Catalogue {
    fn name(&self) -> &'static str {
        SCHEMA
    }
    fn title(&self) -> &'static str {
        "ITSM catalogue API"
    }
    fn api(&self, cfg: &mut ServiceConfig) {
        routes::api(cfg);
    }
    async fn migrate(&self, settings: &Settings) -> anyhow::Result<()> {
        host::migrate_schema::<crate::migration::Migrator>(settings, SCHEMA).await
    }
    async fn start(&self, ctx: &Context) -> anyhow::Result<Started> {
        let keys = ctx.verification_keys(SCHEMA)?;
        let catalogue = web::Data::new(
            CatalogueService::connect(&ctx.settings, keys)
                .await
                .context("connecting catalogue")?,
        );
        if !platform::db::text_match_is_leakproof(&catalogue.db).await? {
            tracing::warn!(
                statement = platform::db::TEXT_MATCH_LEAKPROOF,
                "knowledge search cannot use its index under row-level security: run the \
                 statement once in this database as a superuser (README, PostgreSQL)"
            );
        }
        let mut started = Started::new(
            catalogue.db.clone(),
            catalogue.auth.clone(),
            routes::configure(catalogue.clone()),
        );
        started.consumers.push(
            catalogue
                .identity
                .consumer_with(Some(Arc::new(IncidentEvents))),
        );
        let workers = Arc::new(ApprovalWorkers::new(catalogue.db.clone()));
        for job in [Job::Reminder, Job::Expiry, Job::Deflection] {
            let workers = workers.clone();
            started.schedulers.push(Box::new(move |stop| {
                Box::pin(workers.run(job, workers::TICK, stop))
            }));
        }
        // Two import workers per process: a large import does not hold up a small one.
        for _ in 0..IMPORT_WORKERS {
            let importer = Arc::new(Importer::new(
                catalogue.db.clone(),
                catalogue.imports.clone(),
            ));
            started
                .schedulers
                .push(Box::new(move |stop| Box::pin(importer.run(stop))));
        }
        started.demo = Some(Arc::new(CatalogueDemo(catalogue)));
        Ok(started)
    }
}

/// The incident service's events: an incident a requester raised counts against the
/// deflection of the suggestions they viewed; a request item's SLA standing is shown on it.
struct IncidentEvents;

#[async_trait]
impl Handler for IncidentEvents {
    fn consumer(&self) -> &'static str {
        crate::CONSUMER
    }
    fn bindings(&self) -> Vec<String> {
        vec![
            "incident.incident.created".into(),
            "incident.request_item_sla.changed".into(),
        ]
    }
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        let tenant = TenantId(env.tenantid);
        if env.event_type == RequestItemSlaChanged::event_type() {
            bus::versions::check_lead(env)?;
            let sla: RequestItemSlaChanged = env.payload()?;
            requests::record_sla(txn, tenant, &sla, env.aggregateversion).await?;
            return Ok(());
        }
        if env.event_type != IncidentCreated::event_type() {
            return Err(HandlerError::UnknownType(env.event_type.clone()));
        }
        let created: IncidentCreated = env
            .payload()
            .map_err(|e| HandlerError::Invalid(e.to_string()))?;
        if let Some(caller) = created.caller_id {
            suggestions::raised(
                txn,
                tenant,
                created.incident_id,
                caller,
                "incident",
                env.time,
                None,
            )
            .await?;
        }
        Ok(())
    }
}

/// The demo portfolio of each demo customer.
struct CatalogueDemo(web::Data<CatalogueService>);

#[async_trait]
impl DemoSeed for CatalogueDemo {
    async fn seed_demo(&self, demo: &mut Demo) -> anyhow::Result<()> {
        let seeded = seed::seed_demo(&self.0, &demo.customers)
            .await
            .map_err(|e| anyhow!("seeding the catalogue demo data: {e}"))?;
        let articles = seed_knowledge::seed_demo(&self.0, &demo.customers)
            .await
            .map_err(|e| anyhow!("seeding the knowledge demo data: {e}"))?;
        let cis = seed_cmdb::seed_demo(&self.0, &demo.customers)
            .await
            .map_err(|e| anyhow!("seeding the CMDB demo data: {e}"))?;
        demo.summaries.push(format!(
            "{} portfolio services, {} catalogue items, {} customer overrides, {} requests, {} \
             articles, {} CIs (new)",
            seeded.services, seeded.items, seeded.overrides, seeded.requests, articles, cis
        ));
        Ok(())
    }
}
