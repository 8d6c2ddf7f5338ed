//! The figures projection: what each kept event changes in the figures' tables, in the
//! transaction that keeps it.
use bus::{Envelope, HandlerError};
use chrono::SubsecRound;
use sea_orm::DatabaseTransaction;

use crate::{
    domain::figures::{self, Observed, Rows},
    store::{
        figures::{self as tables, LIVE},
        zones::Zones,
    },
};

/// Folds `env` into its tenant's figures (`figures::advance`: a stale or replayed version of a
/// ticket's own events changes nothing).
pub async fn project(
    txn: &DatabaseTransaction,
    zones: &Zones,
    env: &Envelope,
) -> Result<(), HandlerError> {
    // As the store keeps it (microseconds), so a replay folds exactly the same times.
    let ev = Observed {
        event_type: &env.event_type,
        time: env.time.trunc_subsecs(6),
        data: &env.data,
    };
    let refuse = |e: figures::FigureError| HandlerError::Refused(e.to_string());
    let id = figures::ticket_of(&ev).map_err(refuse)?;
    if !figures::counts(&ev, id) {
        return Ok(());
    }
    let stored = match id {
        Some(id) => tables::ticket(txn, id).await?,
        None => None,
    };
    let zone = zones.of(txn, env.tenantid).await?.ok_or_else(|| {
        HandlerError::Failed(format!(
            "{}: tenant {} is not in this service's directory yet",
            env.event_type, env.tenantid
        ))
    })?;
    let step = figures::advance(stored, id, &ev, &env.subject, env.aggregateversion, zone)
        .map_err(refuse)?;
    let Some(step) = step else {
        return Ok(());
    };
    if let (Some(id), Some(facts)) = (id, step.ticket) {
        let one = std::iter::once((id, facts)).collect();
        tables::save_tickets(txn, LIVE, platform::tenancy::TenantId(env.tenantid), &one).await?;
    }
    tables::write(txn, LIVE, env.tenantid, Rows::of(&step.deltas)).await?;
    Ok(())
}
