//! `itsm analytics rebuild`: replays the event store into the shadow tables beside live
//! consumption, then swaps them in, in one transaction.
//!
//! Figures are per tenant, so each tenant's events are replayed on their own, in `seq` order,
//! in memory, and written to the shadow tables. Live consumption goes on meanwhile. The swap
//! transaction then locks the live figure tables against writes (`EXCLUSIVE`: reads go on; a
//! consumer's write waits), replays again the tenants that received events since the replay
//! began, and copies each tenant's shadow rows over its live ones. With `--verify` it first
//! digests (SHA-256) the live rows and the replayed rows, tenant by tenant in key order.
use std::{collections::HashMap, time::Instant};

use chrono_tz::Tz;
use platform::tenancy::{TenantId, begin_scoped, scope_to};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    domain::figures::{self, Observed, Rows, Ticket},
    store::{
        events::entity as kept,
        figures::{self as tables, LIVE, SHADOW},
        zones::Zones,
    },
};

/// The projections a rebuild can replay.
pub const PROJECTIONS: [&str; 1] = ["figures"];

/// Events read per round trip.
const PAGE: u64 = 5_000;

/// What a rebuild did.
#[derive(Debug, Default)]
pub struct Report {
    pub tenants: usize,
    /// Events replayed (those of tenants replayed twice count twice).
    pub events: u64,
    /// Tenants replayed again inside the swap: they received events meanwhile.
    pub replayed_in_swap: usize,
    /// Every event that could not be folded, with why (the rebuild goes on without it).
    pub errors: Vec<String>,
    /// `--verify`: the SHA-256 of the live rows and of the replayed rows.
    pub digests: Option<(String, String)>,
    pub seconds: f64,
}

/// Replays every tenant under `root` (the platform's root tenant: scoping to it shows the whole
/// tenant directory). `progress` is told (events replayed, events in the store).
pub async fn rebuild(
    db: &DatabaseConnection,
    root: Uuid,
    verify: bool,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Report, DbErr> {
    let started = Instant::now();
    let mut report = Report::default();
    let tenants = tenants_under(db, root).await?;
    report.tenants = tenants.len();
    let zones = Zones::default();
    let mut zone_of = HashMap::new();
    for t in &tenants {
        let txn = begin_scoped(db, &[*t]).await?;
        zone_of.insert(*t, zones.of(&txn, t.as_uuid()).await?.unwrap_or(Tz::UTC));
        txn.commit().await?;
    }
    let txn = begin_scoped(db, &tenants).await?;
    let upto = last_seq(&txn).await?;
    txn.commit().await?;
    let total = u64::try_from(upto).unwrap_or(0);

    for t in &tenants {
        let txn = begin_scoped(db, &[*t]).await?;
        replay(
            &txn,
            *t,
            zone_of[t],
            Some(upto),
            &mut report,
            &mut *progress,
            total,
        )
        .await?;
        txn.commit().await?;
    }

    let txn = db.begin().await?;
    lock_live(&txn).await?;
    scope_to(&txn, &tenants).await?;
    let changed = tenants_since(&txn, upto).await?;
    report.replayed_in_swap = changed.len();
    for t in &changed {
        scope_to(&txn, &[*t]).await?;
        let zone = zone_of.get(t).copied().unwrap_or(Tz::UTC);
        replay(&txn, *t, zone, None, &mut report, &mut *progress, total).await?;
    }
    let (mut live, mut rebuilt) = (Sha256::new(), Sha256::new());
    for t in &tenants {
        scope_to(&txn, &[*t]).await?;
        if verify {
            tables::digest(&txn, LIVE, *t, &mut live).await?;
            tables::digest(&txn, SHADOW, *t, &mut rebuilt).await?;
        }
        tables::swap_in(&txn, *t).await?;
    }
    txn.commit().await?;
    if verify {
        report.digests = Some((
            hex::encode(live.finalize()),
            hex::encode(rebuilt.finalize()),
        ));
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Every tenant in the directory under `root`, `root` included.
async fn tenants_under(db: &DatabaseConnection, root: Uuid) -> Result<Vec<TenantId>, DbErr> {
    use bus::entities::tenant_directory::{Column, Entity};
    let txn = begin_scoped(db, &[TenantId(root)]).await?;
    let ids: Vec<Uuid> = Entity::find()
        .select_only()
        .column(Column::Id)
        .order_by_asc(Column::Id)
        .into_tuple()
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(ids.into_iter().map(TenantId).collect())
}

async fn last_seq(txn: &DatabaseTransaction) -> Result<i64, DbErr> {
    let last: Option<i64> = kept::Entity::find()
        .select_only()
        .column(kept::Column::Seq)
        .order_by_desc(kept::Column::Seq)
        .limit(1)
        .into_tuple()
        .one(txn)
        .await?;
    Ok(last.unwrap_or(0))
}

/// The tenants with events kept after `seq`.
async fn tenants_since(txn: &DatabaseTransaction, seq: i64) -> Result<Vec<TenantId>, DbErr> {
    let ids: Vec<Uuid> = kept::Entity::find()
        .select_only()
        .column(kept::Column::TenantId)
        .distinct()
        .filter(kept::Column::Seq.gt(seq))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(ids.into_iter().map(TenantId).collect())
}

/// Blocks writes to the live figure tables until the transaction ends (PostgreSQL; SQLite has
/// one writer at a time, which the first write takes).
async fn lock_live(txn: &DatabaseTransaction) -> Result<(), DbErr> {
    let sql = match txn.get_database_backend() {
        DbBackend::Postgres => format!("LOCK TABLE {} IN EXCLUSIVE MODE", LIVE.all().join(", ")),
        _ => format!("DELETE FROM {} WHERE 1 = 0", LIVE.daily),
    };
    txn.execute_unprepared(&sql).await.map(|_| ())
}

/// Replays `tenant`'s events (up to `upto`, or all) in memory and writes the result to its
/// shadow rows; `txn` is scoped to `tenant`.
async fn replay(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    zone: Tz,
    upto: Option<i64>,
    report: &mut Report,
    progress: &mut (dyn FnMut(u64, u64) + Send),
    total: u64,
) -> Result<(), DbErr> {
    let mut tickets: HashMap<Uuid, (i64, Ticket)> = HashMap::new();
    let mut rows = Rows::default();
    let mut after = 0i64;
    loop {
        let mut page = kept::Entity::find()
            .filter(kept::Column::TenantId.eq(tenant.as_uuid()))
            .filter(kept::Column::Seq.gt(after))
            .order_by_asc(kept::Column::Seq)
            .limit(PAGE);
        if let Some(upto) = upto {
            page = page.filter(kept::Column::Seq.lte(upto));
        }
        let events = page.all(txn).await?;
        let Some(last) = events.last() else {
            break;
        };
        after = last.seq;
        for e in &events {
            let ev = Observed {
                event_type: &e.event_type,
                time: e.time,
                data: &e.data,
            };
            let id = match figures::ticket_of(&ev) {
                Ok(id) => id,
                Err(err) => {
                    report
                        .errors
                        .push(format!("event {} (seq {}): {err}", e.id, e.seq));
                    continue;
                }
            };
            let stored = id.and_then(|id| tickets.get(&id).cloned());
            match figures::advance(stored, id, &ev, &e.subject, e.aggregate_version, zone) {
                Ok(Some(step)) => {
                    if let (Some(id), Some(facts)) = (id, step.ticket) {
                        tickets.insert(id, facts);
                    }
                    rows.add_all(&step.deltas);
                }
                Ok(None) => {}
                Err(err) => report
                    .errors
                    .push(format!("event {} (seq {}): {err}", e.id, e.seq)),
            }
        }
        report.events += events.len() as u64;
        progress(report.events, total);
    }
    tables::clear(txn, SHADOW, tenant).await?;
    tables::save_tickets(txn, SHADOW, tenant, &tickets).await?;
    tables::write(txn, SHADOW, tenant.as_uuid(), rows).await
}
