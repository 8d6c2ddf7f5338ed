//! Fires due SLA thresholds. Any number of schedulers may run (one per replica): each claims due
//! clocks with `FOR UPDATE SKIP LOCKED`, records the thresholds and moves the clock's next
//! firing time in the same transaction, so every threshold is recorded and announced exactly
//! once. An incident change locks its clocks too, so a threshold and a stop never interleave.
use platform::tenancy::TenantId;
use std::{sync::Arc, time::Duration};

use bus::BusError;
use chrono::{DateTime, Utc};
use platform::tenancy::scope_to;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{LockBehavior, LockType},
};
use tokio::sync::watch;

use super::{Sla, announce, clock_of, store_clock};
use crate::store::{entities::sla_clock, sla as sla_store};

/// Clocks claimed per transaction.
const BATCH: u64 = 500;

pub struct Scheduler {
    db: DatabaseConnection,
    sla: Arc<Sla>,
}

/// What one tick did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Clocks claimed.
    pub clocks: usize,
    /// Thresholds recorded.
    pub thresholds: usize,
}

impl Scheduler {
    pub fn new(db: DatabaseConnection, sla: Arc<Sla>) -> Self {
        Scheduler { db, sla }
    }

    /// Fires every threshold due at `now`: two claim loops at once on PostgreSQL (they skip
    /// each other's rows), one on SQLite (a single writer).
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Tick, BusError> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return self.drain(now).await;
        }
        let (a, b) = tokio::join!(self.drain(now), self.drain(now));
        let (a, b) = (a?, b?);
        Ok(Tick {
            clocks: a.clocks + b.clocks,
            thresholds: a.thresholds + b.thresholds,
        })
    }

    /// Claims and fires batches until none is full.
    async fn drain(&self, now: DateTime<Utc>) -> Result<Tick, BusError> {
        let mut total = Tick::default();
        loop {
            let done = self.batch(now).await?;
            total.clocks += done.clocks;
            total.thresholds += done.thresholds;
            if (done.clocks as u64) < BATCH {
                return Ok(total);
            }
        }
    }

    async fn batch(&self, now: DateTime<Utc>) -> Result<Tick, BusError> {
        let txn = self.db.begin().await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_unprepared("SELECT set_config('app.sla_scheduler', 'on', true)")
                .await?;
        }
        let rows = sla_clock::Entity::find()
            .filter(sla_clock::Column::NextFireAt.lte(now))
            .order_by_asc(sla_clock::Column::NextFireAt)
            .limit(BATCH)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(&txn)
            .await?;
        if rows.is_empty() {
            txn.rollback().await?;
            return Ok(Tick::default());
        }
        let fired = self.fire(&txn, rows, now).await;
        // Settle explicitly either way, so the claimed rows are unlocked at once (a dropped
        // transaction releases them only later, and other schedulers would skip them).
        match fired {
            Ok(done) => {
                txn.commit().await?;
                Ok(done)
            }
            Err(e) => {
                txn.rollback().await?;
                Err(e)
            }
        }
    }

    async fn fire(
        &self,
        txn: &DatabaseTransaction,
        rows: Vec<sla_store::ClockRow>,
        now: DateTime<Utc>,
    ) -> Result<Tick, BusError> {
        // The announcements go to the outbox, which admits the claimed clocks' tenants only.
        let mut tenants: Vec<_> = rows.iter().map(|r| r.tenant_id).collect();
        tenants.sort();
        tenants.dedup();
        scope_to(txn, &TenantId::many(&tenants)).await?;
        let mut done = Tick {
            clocks: rows.len(),
            thresholds: 0,
        };
        let mut outbox = bus::outbox::Batch::default();
        let mut all_marks = Vec::new();
        let mut fired = Vec::with_capacity(rows.len());
        for mut row in rows {
            let cal = self
                .sla
                .calendars
                .get(txn, TenantId(row.tenant_id), &row.calendar_digest)
                .await?;
            let mut clock = clock_of(&row);
            let marks = clock.reach(&cal, now);
            done.thresholds += marks.len();
            store_clock(&mut row, &clock, &cal, now);
            announce(&mut outbox, &row, &marks)?;
            all_marks.extend(
                marks
                    .iter()
                    .map(|m| sla_store::mark_row(TenantId(row.tenant_id), row.id, m)),
            );
            fired.push(row);
        }
        // Three statements per batch, however many clocks fired.
        sla_store::update_fired(txn, &fired).await?;
        super::request_items::announce_fired(txn, &mut outbox, &fired, now).await?;
        sla_store::add_marks(txn, &all_marks).await?;
        outbox.append(txn).await?;
        Ok(done)
    }

    /// Forgets `Idempotency-Key`s older than their retention (housekeeping, across tenants).
    pub async fn prune_idempotency_keys(&self, now: DateTime<Utc>) -> Result<u64, BusError> {
        use crate::store::entities::idempotency_key;
        let txn = self.db.begin().await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_unprepared("SELECT set_config('app.sla_scheduler', 'on', true)")
                .await?;
        }
        let res = idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::CreatedAt.lt(now - crate::idempotency::RETENTION))
            .exec(&txn)
            .await;
        match res {
            Ok(r) => {
                txn.commit().await?;
                Ok(r.rows_affected)
            }
            Err(e) => {
                txn.rollback().await?;
                Err(e.into())
            }
        }
    }

    /// Ticks every `every` until shut down (and prunes expired idempotency keys hourly).
    pub async fn run(self: Arc<Self>, every: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_prune: Option<std::time::Instant> = None;
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
            if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                last_prune = Some(std::time::Instant::now());
                if let Err(e) = self.prune_idempotency_keys(Utc::now()).await {
                    tracing::warn!(error = %e, "pruning idempotency keys failed");
                }
            }
            let started = std::time::Instant::now();
            match self.tick(super::now()).await {
                Ok(t) if t.clocks > 0 => {
                    metrics::counter!("sla_thresholds_fired_total").increment(t.thresholds as u64);
                    metrics::histogram!("sla_tick_seconds").record(started.elapsed().as_secs_f64());
                    tracing::debug!(clocks = t.clocks, thresholds = t.thresholds, "sla tick");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "sla tick failed"),
            }
        }
    }
}
