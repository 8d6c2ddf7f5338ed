//! The figures projection: what each kept event changes in the figures' tables, in the
//! transaction that keeps it.
use bus::{Envelope, HandlerError};
use events::{Event, catalogue::SuggestionDeflected};
use sea_orm::DatabaseTransaction;

use crate::{
    domain::figures::{self, Observed, Ticket},
    store::{figures as tables, zones::Zones},
};

/// Folds `env` into its tenant's figures. An event of a ticket's own aggregate that is not
/// newer than the last one folded (a stale or replayed version) changes nothing.
pub async fn project(
    txn: &DatabaseTransaction,
    zones: &Zones,
    env: &Envelope,
) -> Result<(), HandlerError> {
    let ev = Observed {
        event_type: &env.event_type,
        time: env.time,
        data: &env.data,
    };
    let refuse = |e: figures::FigureError| HandlerError::Refused(e.to_string());
    let ticket = figures::ticket_of(&ev).map_err(refuse)?;
    if ticket.is_none() && env.event_type != SuggestionDeflected::event_type() {
        return Ok(());
    }
    let own = ticket.is_some_and(|id| env.subject == id.to_string());
    let (seen, prior) = match ticket {
        Some(id) => match tables::ticket(txn, id).await? {
            Some((seen, facts)) => {
                if own && env.aggregateversion <= seen {
                    return Ok(());
                }
                let facts: Ticket = serde_json::from_value(facts)
                    .map_err(|e| HandlerError::Failed(format!("ticket {id}'s facts: {e}")))?;
                (Some(seen), Some(facts))
            }
            None => (None, None),
        },
        None => (None, None),
    };
    let zone = zones.of(txn, env.tenantid).await?.ok_or_else(|| {
        HandlerError::Failed(format!(
            "{}: tenant {} is not in this service's directory yet",
            env.event_type, env.tenantid
        ))
    })?;
    let (facts, deltas) = figures::fold(prior, &ev, zone).map_err(refuse)?;
    if let (Some(id), Some(facts)) = (ticket, facts) {
        let version = if own {
            env.aggregateversion
        } else {
            seen.unwrap_or(0)
        };
        tables::save_ticket(txn, env.tenantid, id, version, &facts).await?;
    }
    tables::apply(txn, env.tenantid, &deltas).await?;
    Ok(())
}
