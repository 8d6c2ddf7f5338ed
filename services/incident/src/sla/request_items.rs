//! The catalogue's request items under SLA (ADR 31). Their state changes arrive as the
//! catalogue's `request_item.state_changed` events and move their clocks through the same
//! engine as incidents' (definitions with `applies_to: request_item`, conditions on the item's
//! `state`); every move is announced as the item's standing (`request_item_sla.changed`),
//! which the catalogue shows as its `sla_state` and `sla_due_at`.
use bus::{Envelope, HandlerError};
use chrono::{DateTime, Utc};
use events::{catalogue::RequestItemStateChanged, incident::RequestItemSlaChanged};
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter,
};

use super::{Sla, Target, config_in, move_clocks, now};
use crate::{
    domain::sla::{Facts, Subject, name_of, standing},
    store::{
        entities::sla_request_item as item,
        sla::{self as sla_store, ClockRow},
    },
};

/// Applies one `request_item.state_changed`: records the item's state (older versions change
/// nothing) and moves its clocks, at the instant the catalogue made the change.
pub async fn apply(
    sla: &Sla,
    txn: &DatabaseTransaction,
    env: &Envelope,
) -> Result<(), HandlerError> {
    bus::versions::check_lead(env)?;
    let e: RequestItemStateChanged = env.payload()?;
    let tenant = TenantId(env.tenantid);
    let known = item::Entity::find_by_id(e.request_item_id)
        .filter(item::Column::TenantId.eq(env.tenantid))
        .one(txn)
        .await?;
    let before = match known {
        Some(row) if !bus::versions::supersedes(row.version, env.aggregateversion) => {
            return Ok(());
        }
        Some(row) => {
            let before = Facts::request_item(&row.state);
            let mut am: item::ActiveModel = row.into();
            am.state = Set(e.to.clone());
            am.version = Set(env.aggregateversion);
            am.update(txn).await?;
            Some(before)
        }
        None => {
            item::ActiveModel {
                id: Set(e.request_item_id),
                tenant_id: Set(env.tenantid),
                number: Set(e.number.clone()),
                state: Set(e.to.clone()),
                version: Set(env.aggregateversion),
            }
            .insert(txn)
            .await?;
            // Its first event: a clock may have started before, under an earlier state this
            // projection missed (`from`).
            e.from.as_deref().map(Facts::request_item)
        }
    };
    let config = config_in(txn, tenant).await?;
    let target = Target {
        subject: Subject::RequestItem,
        tenant,
        id: e.request_item_id,
    };
    // The change's own instant (whole seconds), so a consumer's lag never counts.
    let at = whole_seconds(env.time).min(now());
    let clocks = move_clocks(
        txn,
        sla,
        &config.request_item_definitions,
        target,
        before.as_ref(),
        &Facts::request_item(&e.to),
        at,
    )
    .await
    .map_err(failed)?;
    let mut outbox = bus::outbox::Batch::default();
    announce(&mut outbox, target, &clocks, now()).map_err(failed)?;
    outbox.append(txn).await.map_err(failed)?;
    Ok(())
}

/// A failure of the engine: retried, then dead-lettered.
fn failed(e: bus::BusError) -> HandlerError {
    HandlerError::Failed(e.to_string())
}

fn whole_seconds(at: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    at.trunc_subsecs(0)
}

/// Announces where `target` stands now that its clocks are `clocks` (nothing without clocks).
pub(crate) fn announce(
    outbox: &mut bus::outbox::Batch,
    target: Target,
    clocks: &[ClockRow],
    now: DateTime<Utc>,
) -> Result<(), bus::BusError> {
    let summary: Vec<_> = clocks
        .iter()
        .map(|c| (sla_store::parse_status(&c.status), c.reached.max(0) as u8))
        .collect();
    let Some(state) = standing(&summary) else {
        return Ok(());
    };
    let changed = RequestItemSlaChanged {
        request_item_id: target.id,
        sla_state: name_of(state),
        sla_due_at: clocks.iter().filter_map(|c| c.due_at).min(),
        as_of: now,
    };
    // Versioned by the instant: each announcement supersedes the ones before it.
    let version = bus::outbox::version_of(Utc::now());
    outbox.push(target.tenant, target.id, version, &changed)?;
    Ok(())
}

/// Announces the standing of the request items among `fired` (clocks the scheduler moved and
/// has written), each from all its clocks.
pub(crate) async fn announce_fired(
    txn: &DatabaseTransaction,
    outbox: &mut bus::outbox::Batch,
    fired: &[ClockRow],
    now: DateTime<Utc>,
) -> Result<(), bus::BusError> {
    let mut items: Vec<_> = fired
        .iter()
        .filter(|c| c.subject == Subject::RequestItem.as_str())
        .map(|c| (c.tenant_id, c.subject_id))
        .collect();
    if items.is_empty() {
        return Ok(());
    }
    items.sort();
    items.dedup();
    let ids: Vec<_> = items.iter().map(|(_, id)| *id).collect();
    let stored = sla_store::request_item_clocks(txn, &ids).await?;
    for (tenant, id) in items {
        let clocks: Vec<ClockRow> = stored
            .iter()
            .filter(|c| c.subject_id == id)
            .cloned()
            .collect();
        let target = Target {
            subject: Subject::RequestItem,
            tenant: TenantId(tenant),
            id,
        };
        announce(outbox, target, &clocks, now)?;
    }
    Ok(())
}
