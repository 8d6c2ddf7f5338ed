//! The improvement feeder: opens register items (ADR 42), by hand or from analytic signals
//! seen on the bus, one open item per signal (`source`, `source_ref`): a signal raised again
//! while its item is open adds an occurrence instead.
use bus::{Envelope, HandlerError};
use chrono::Days;
use chrono_tz::Tz;
use events::incident;
use platform::{
    ApiError,
    numbers::Numbers,
    tenancy::{TenantId, begin_scoped},
};
use sea_orm::{DatabaseConnection, DatabaseTransaction};

use crate::{
    domain::{
        figures::{FigureError, Observed, Ticket, ticket_of},
        improvement::{self, NewImprovement, Signal},
    },
    store::{
        figures as tables,
        improvements::{self, Improvement},
        zones::Zones,
    },
};

const COUNTERS: &str = "improvement_counters";
const PREFIX: &str = "IMP";

/// Opens `new` (a manual item) in its own transaction.
pub async fn open(
    db: &DatabaseConnection,
    numbers: &Numbers,
    tenant: TenantId,
    new: NewImprovement,
) -> Result<Improvement, ApiError> {
    let number = numbers.next(db, COUNTERS, PREFIX, tenant).await?;
    let txn = begin_scoped(db, &[tenant]).await?;
    let item = insert(&txn, tenant, number, new).await?;
    txn.commit().await?;
    Ok(item)
}

/// Opens an item for `signal` of `tenant` in `txn`, or counts one more occurrence of its open
/// item. Two feeders on one signal wait for each other, so they open one item between them.
pub async fn raise(
    txn: &DatabaseTransaction,
    db: &DatabaseConnection,
    numbers: &Numbers,
    tenant: TenantId,
    signal: Signal,
) -> Result<Improvement, ApiError> {
    let now = platform::record::now();
    improvements::lock_signal(txn, tenant, signal.source, &signal.source_ref).await?;
    if let Some(item) =
        improvements::recur(txn, tenant, signal.source, &signal.source_ref, now).await?
    {
        return Ok(item);
    }
    let number = numbers.next(db, COUNTERS, PREFIX, tenant).await?;
    insert(txn, tenant, number, signal.into_new()).await
}

async fn insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    number: String,
    new: NewImprovement,
) -> Result<Improvement, ApiError> {
    let item = improvements::insert(txn, tenant, number, new, platform::record::now()).await?;
    bus::outbox::append(
        txn,
        tenant,
        item.id,
        item.version,
        &events::analytics::ImprovementCreated {
            improvement_id: item.id,
            number: item.number.clone(),
            title: item.title.clone(),
            source: item.source.clone(),
            source_ref: item.source_ref.clone(),
        },
    )
    .await?;
    Ok(item)
}

/// What the consumer does with each event it keeps, after folding it: the signal it raises,
/// if any, opens or recurs an item in the transaction that keeps the event (so a redelivery
/// raises nothing).
pub async fn on_event(
    txn: &DatabaseTransaction,
    db: &DatabaseConnection,
    numbers: &Numbers,
    trend: &Trend<'_>,
    env: &Envelope,
) -> Result<(), HandlerError> {
    let ev = crate::projection::observed(env);
    let signal = match improvement::signal_of(&ev).map_err(refuse)? {
        Some(signal) => Some(signal),
        None => breach_trend(txn, trend, &ev, env).await?,
    };
    if let Some(signal) = signal {
        raise(txn, db, numbers, TenantId(env.tenantid), signal)
            .await
            .map_err(|e| HandlerError::Failed(format!("{}: {}", e.code, e.detail)))?;
    }
    Ok(())
}

/// What the SLA breach trend is judged by.
pub struct Trend<'a> {
    pub zones: &'a Zones,
    /// `improvement_breach_ratio`.
    pub threshold: f64,
}

/// After a final resolution or a resolution breach of an incident of a service: the service's
/// `sla_breach_trend` signal, if its last 28 days (in the tenant's zone) call for one.
async fn breach_trend(
    txn: &DatabaseTransaction,
    trend: &Trend<'_>,
    ev: &Observed<'_>,
    env: &Envelope,
) -> Result<Option<Signal>, HandlerError> {
    let ends_a_resolution = if ev.is::<incident::IncidentStateChanged>() {
        ev.payload::<incident::IncidentStateChanged>()
            .map_err(refuse)?
            .to
            == "resolved"
    } else if ev.is::<incident::SlaBreached>() {
        ev.payload::<incident::SlaBreached>().map_err(refuse)?.kind == "resolution"
    } else {
        false
    };
    let Some(id) = ticket_of(ev).map_err(refuse)?.filter(|_| ends_a_resolution) else {
        return Ok(None);
    };
    let Some((_, Ticket::Incident(facts))) = tables::ticket(txn, id).await? else {
        return Ok(None);
    };
    let Some(service) = facts.classes.and_then(|c| c.service) else {
        return Ok(None);
    };
    let tenant = TenantId(env.tenantid);
    let zone = trend.zones.of(txn, env.tenantid).await?.unwrap_or(Tz::UTC);
    let today = env.time.with_timezone(&zone).date_naive();
    let window = Days::new(improvement::TREND_DAYS as u64);
    let (start, before) = (today - window + Days::new(1), today - window);
    let now = tables::service_resolutions(txn, tenant, service, start, today).await?;
    let earlier =
        tables::service_resolutions(txn, tenant, service, before - window + Days::new(1), before)
            .await?;
    let name = bus::portfolio::name_of(txn, tenant, service).await?;
    Ok(improvement::breach_trend(
        service,
        name.as_deref(),
        now,
        earlier,
        trend.threshold,
    ))
}

/// A payload that does not have its type's shape: refused, not retried.
fn refuse(e: FigureError) -> HandlerError {
    HandlerError::Refused(e.to_string())
}
