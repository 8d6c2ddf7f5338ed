//! `itsm analytics rebuild`: replays the event store into the shadow tables beside live
//! consumption, then swaps them in, in one transaction.
//!
//! Figures are per tenant, so each tenant's events are replayed on their own, in `seq` order,
//! in memory, and written to the shadow tables; a few tenants at a time. Live consumption goes
//! on meanwhile. The swap transaction then locks the live figure tables against writes
//! (`EXCLUSIVE`: reads go on; a consumer's write waits), replays again the tenants that
//! received events since the replay began, and copies the shadow rows over the live ones, a
//! hundred tenants per statement. With `--verify` it first digests (SHA-256) the live rows and
//! the replayed rows, tenant by tenant in key order.
use std::{collections::HashMap, time::Instant};

use chrono_tz::Tz;
use platform::tenancy::{TenantId, begin_scoped, scope_to};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;
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

/// Tenants replayed at the same time on PostgreSQL (SQLite has one writer: one at a time).
const AT_ONCE: usize = 4;

/// Tenants cleared or swapped in per statement: enough to save round trips, few enough that
/// row-level security's check of each row against the scope stays cheap.
const BATCH: usize = 100;

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

impl Report {
    fn absorb(&mut self, replayed: Replayed) {
        self.events += replayed.events;
        self.errors.extend(replayed.errors);
    }
}

/// What the replay of one tenant did.
#[derive(Debug, Default)]
struct Replayed {
    events: u64,
    /// Every event that could not be folded, with why.
    errors: Vec<String>,
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
    // What an interrupted rebuild left behind.
    for batch in tenants.chunks(BATCH) {
        let txn = begin_scoped(db, batch).await?;
        tables::clear(&txn, SHADOW, batch).await?;
        txn.commit().await?;
    }

    // A tenant's replay alternates between this process (decoding, folding) and the database
    // (a dozen round trips), so tenants are replayed `AT_ONCE` at a time, each on a task of
    // its own, to keep both busy.
    let at_once = match db.get_database_backend() {
        DbBackend::Postgres => AT_ONCE,
        _ => 1,
    };
    let mut pending = tenants.iter().copied();
    let mut running = JoinSet::new();
    loop {
        while running.len() < at_once
            && let Some(t) = pending.next()
        {
            let (db, zone) = (db.clone(), zone_of[&t]);
            running.spawn(async move {
                let txn = begin_scoped(&db, &[t]).await?;
                let replayed = replay(&txn, t, zone, Some(upto)).await?;
                txn.commit().await?;
                Ok::<_, DbErr>(replayed)
            });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        report.absorb(done.map_err(|e| DbErr::Custom(format!("a replay task failed: {e}")))??);
        progress(report.events, total);
    }

    let txn = db.begin().await?;
    lock_live(&txn).await?;
    scope_to(&txn, &tenants).await?;
    let changed = tenants_since(&txn, upto).await?;
    report.replayed_in_swap = changed.len();
    for t in &changed {
        scope_to(&txn, &[*t]).await?;
        let zone = zone_of.get(t).copied().unwrap_or(Tz::UTC);
        tables::clear(&txn, SHADOW, &[*t]).await?;
        report.absorb(replay(&txn, *t, zone, None).await?);
        progress(report.events, total);
    }
    let (mut live, mut rebuilt) = (Sha256::new(), Sha256::new());
    if verify {
        for t in &tenants {
            scope_to(&txn, &[*t]).await?;
            tables::digest(&txn, LIVE, *t, &mut live).await?;
            tables::digest(&txn, SHADOW, *t, &mut rebuilt).await?;
        }
    }
    for batch in tenants.chunks(BATCH) {
        scope_to(&txn, batch).await?;
        tables::swap_in(&txn, batch).await?;
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
        _ => format!("DELETE FROM {} WHERE 1 = 0", LIVE.days),
    };
    txn.execute_unprepared(&sql).await.map(|_| ())
}

/// Replays `tenant`'s events (up to `upto`, or all) in memory and writes the result to its
/// shadow rows, which are empty; `txn` is scoped to `tenant`.
async fn replay(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    zone: Tz,
    upto: Option<i64>,
) -> Result<Replayed, DbErr> {
    let mut report = Replayed::default();
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
    }
    tables::save_tickets(txn, SHADOW, tenant, &tickets).await?;
    // A replay writes each day whole, to part 0.
    tables::write(txn, SHADOW, tenant.as_uuid(), 0, rows).await?;
    Ok(report)
}
