//! What change publishes, appended to the outbox in the same transaction as the change.
use events::{
    Event,
    change::{ChangeClosed, ChangeCreated, ChangeStateChanged},
};
use platform::{ApiError, tenancy::TenantId};
use sea_orm::DatabaseTransaction;

use crate::{domain::lifecycle::State, store::changes::Change};

async fn publish<E: Event>(
    txn: &DatabaseTransaction,
    c: &Change,
    payload: &E,
) -> Result<(), ApiError> {
    bus::outbox::append(txn, TenantId(c.tenant_id), c.id, c.version, payload).await?;
    Ok(())
}

pub async fn created(
    txn: &DatabaseTransaction,
    c: &Change,
    cis: &[uuid::Uuid],
) -> Result<(), ApiError> {
    let created = ChangeCreated {
        change_id: c.id,
        number: c.number.clone(),
        change_type: c.change_type.clone(),
        title: c.title.clone(),
        state: c.state.clone(),
        risk: c.risk.clone(),
        requested_by: c.requested_by,
        affected_ci_ids: cis.to_vec(),
        planned_start: c.planned_start.map(|t| t.to_rfc3339()),
        planned_end: c.planned_end.map(|t| t.to_rfc3339()),
    };
    publish(txn, c, &created).await
}

/// A move from `from` to where `c` is now, and its closure when it closed.
pub async fn moved(
    txn: &DatabaseTransaction,
    from: State,
    c: &Change,
    reason: Option<String>,
) -> Result<(), ApiError> {
    let changed = ChangeStateChanged {
        change_id: c.id,
        from: from.as_str().into(),
        to: c.state.clone(),
        approval_round: u32::try_from(c.approval_round).unwrap_or(0),
        reason,
    };
    publish(txn, c, &changed).await?;
    if let Some(code) = c
        .close_code
        .as_ref()
        .filter(|_| c.state == State::Closed.as_str())
    {
        let closed = ChangeClosed {
            change_id: c.id,
            close_code: code.clone(),
            risk: c.risk.clone(),
            caused_incident_count: 0,
        };
        publish(txn, c, &closed).await?;
    }
    Ok(())
}
