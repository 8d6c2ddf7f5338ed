//! The demo data set across services (`itsm seed --demo`, `itsm serve --demo`): identity seeds
//! the tenants and people first; then each other service seeds its part for the customers
//! identity made.
use anyhow::anyhow;

/// The incident service's part: SLA set-up, incidents with clocks, problems.
pub async fn seed_work_data(
    identity: &identity::Identity,
    incident: &incident::IncidentService,
) -> anyhow::Result<incident::seed::DemoSummary> {
    let customers = identity::seed::demo_customers(&identity.db)
        .await
        .map_err(|e| anyhow!("reading the demo customers: {e}"))?
        .into_iter()
        .map(|c| incident::seed::DemoCustomer {
            id: c.tenant.id,
            slug: c.tenant.slug.clone(),
            path: c.tenant.path_ids(),
            agent: c.agent,
            requester: c.requester,
            desk: c.desk,
        })
        .collect::<Vec<_>>();
    incident::seed::seed_demo(incident, &customers, chrono::Utc::now())
        .await
        .map_err(|e| anyhow!("seeding the incident demo data: {e}"))
}
