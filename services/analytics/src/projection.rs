//! The figures projection: what each kept event changes in the figures' tables, in the
//! transaction that keeps it.
use bus::{Envelope, HandlerError};
use chrono::SubsecRound;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement};
use uuid::Uuid;

use crate::{
    domain::figures::{self, Observed, Rows},
    store::{
        figures::{self as tables, LIVE},
        zones::Zones,
    },
};

pub(crate) fn observed(env: &Envelope) -> Observed<'_> {
    // As the store keeps it (microseconds), so a replay folds exactly the same times.
    Observed {
        event_type: &env.event_type,
        time: env.time.trunc_subsecs(6),
        data: &env.data,
    }
}

fn refuse(e: figures::FigureError) -> HandlerError {
    HandlerError::Refused(e.to_string())
}

/// The ticket `env` is about, locked for the rest of the transaction (PostgreSQL; SQLite has
/// one writer). Taken before the event is stored, so the events of one ticket are stored in
/// the order they are folded, and a replay in store order folds them in that order too, even
/// when the bus delivers them out of order to concurrent transactions.
pub async fn lock_ticket(
    txn: &DatabaseTransaction,
    env: &Envelope,
) -> Result<Option<Uuid>, HandlerError> {
    let id = figures::ticket_of(&observed(env)).map_err(refuse)?;
    if let Some(id) = id
        && txn.get_database_backend() == DbBackend::Postgres
    {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 17))",
            [id.to_string().into()],
        ))
        .await?;
    }
    Ok(id)
}

/// Folds `env`, about ticket `id` (from [`lock_ticket`]), into its tenant's figures
/// (`figures::advance`: a stale or replayed version of a ticket's own events changes nothing).
pub async fn project(
    txn: &DatabaseTransaction,
    zones: &Zones,
    env: &Envelope,
    id: Option<Uuid>,
) -> Result<(), HandlerError> {
    let ev = observed(env);
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
    // An event adds to its ticket's part of each day (an event about no ticket, to its own).
    let part = tables::part_of(id.unwrap_or(env.id));
    tables::write(txn, LIVE, env.tenantid, part, Rows::of(&step.deltas)).await?;
    Ok(())
}
