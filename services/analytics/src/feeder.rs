//! The improvement feeder: opens register items (ADR 42), by hand or from analytic signals
//! seen on the bus, one open item per signal (`source`, `source_ref`): a signal raised again
//! while its item is open adds an occurrence instead.
use bus::{Envelope, HandlerError};
use platform::{
    ApiError,
    numbers::Numbers,
    tenancy::{TenantId, begin_scoped},
};
use sea_orm::{DatabaseConnection, DatabaseTransaction};

use crate::{
    domain::improvement::{self, NewImprovement, Signal},
    store::improvements::{self, Improvement},
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

/// What the consumer does with each event it keeps: the signal it raises, if any, opens or
/// recurs an item in the transaction that keeps the event (so a redelivery raises nothing).
pub async fn on_event(
    txn: &DatabaseTransaction,
    db: &DatabaseConnection,
    numbers: &Numbers,
    env: &Envelope,
) -> Result<(), HandlerError> {
    let signal = improvement::signal_of(&crate::projection::observed(env))
        .map_err(|e| HandlerError::Refused(e.to_string()))?;
    if let Some(signal) = signal {
        raise(txn, db, numbers, TenantId(env.tenantid), signal)
            .await
            .map_err(|e| HandlerError::Failed(format!("{}: {}", e.code, e.detail)))?;
    }
    Ok(())
}
