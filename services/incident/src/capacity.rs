//! Analytics' capacity forecasts (`capacity.breach_predicted`) open incidents: one per
//! threshold at a time. A forecast for a threshold whose incident is still open (new, in
//! progress or on hold) changes nothing; once that incident is resolved, closed or canceled,
//! the next forecast opens a new one. The incident is opened in the consumer's transaction,
//! the way the API opens one (number, SLA clocks, `incident.created`), so a redelivered event
//! (skipped by the inbox) or a failed one leaves no incident behind.
use bus::{BusError, Envelope, HandlerError};
use events::analytics::CapacityBreachPredicted;
use platform::{ApiError, numbers::Numbers, tenancy::TenantId};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};

use crate::{
    domain::capacity::{self, RAISED_BY_PLATFORM, Target},
    opening,
    sla::Sla,
    store::{self, incidents},
};

/// What opening an incident needs besides the event's transaction.
pub struct Opener<'a> {
    /// Incident numbers are taken in short transactions of their own.
    pub db: &'a DatabaseConnection,
    pub numbers: &'a Numbers,
    pub sla: &'a Sla,
}

/// Applies one `capacity.breach_predicted` of `env`'s tenant in `txn`.
pub async fn apply(
    opener: &Opener<'_>,
    txn: &DatabaseTransaction,
    env: &Envelope,
) -> Result<(), HandlerError> {
    let forecast: CapacityBreachPredicted = env.payload()?;
    // The envelope's subject is the threshold: a payload about another one is not analytics'.
    if env.subject != forecast.threshold_id.to_string() {
        return Err(HandlerError::Refused(format!(
            "subject {} is not the forecast's threshold {}",
            env.subject, forecast.threshold_id
        )));
    }
    let tenant = TenantId(env.tenantid);
    let threshold = forecast.threshold_id;
    store::capacity::lock_threshold(txn, tenant, threshold).await?;
    if store::capacity::open_incident(txn, tenant, threshold)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let target = target_of(txn, tenant, &forecast).await?;
    let new = capacity::new_incident(&forecast, target);
    let sla = opener.sla.tracking_in(txn, tenant).await?;
    let number = opening::next_number(opener.db, opener.numbers, tenant).await?;
    let opened = opening::prepare(tenant, number, RAISED_BY_PLATFORM, new, &sla).map_err(failed)?;
    let id = opened.incident.id;
    incidents::create(txn, opened.incident, opened.events, opened.clocks)
        .await
        .map_err(bus_failed)?;
    store::capacity::link(txn, tenant, threshold, id).await?;
    Ok(())
}

/// The forecast's target as the incident names it: a CI the tenant sees in its CMDB and that
/// is not retired, or a service of its portfolio that takes incidents (the rules the API
/// applies to `configuration_item_id` and `service_id`). Anything else is named in the text
/// only: the forecast still opens its incident.
async fn target_of(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    forecast: &CapacityBreachPredicted,
) -> Result<Target, DbErr> {
    let id = forecast.target_id;
    Ok(match forecast.target_type.as_str() {
        "ci" => match store::cmdb::find(txn, tenant, id).await? {
            Some(ci) => Target {
                configuration_item_id: (!store::cmdb::is_retired(&ci)).then_some(id),
                name: Some(ci.name),
                service_id: None,
            },
            None => Target::default(),
        },
        "service" => match store::portfolio::find(txn, tenant, id).await? {
            Some(service) => Target {
                service_id: store::portfolio::takes(&service).then_some(id),
                name: Some(service.name),
                configuration_item_id: None,
            },
            None => Target::default(),
        },
        _ => Target::default(),
    })
}

/// An error opening the incident: retried, then dead-lettered.
fn failed(e: ApiError) -> HandlerError {
    HandlerError::Failed(format!(
        "opening a capacity incident: {}: {}",
        e.code, e.detail
    ))
}

/// A database error stays one, so an outage is waited out rather than counted as a failure.
fn bus_failed(e: BusError) -> HandlerError {
    match e {
        BusError::Db(db) => HandlerError::Db(db),
        other => HandlerError::Failed(format!("opening a capacity incident: {other}")),
    }
}
