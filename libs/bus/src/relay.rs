//! The relay: moves committed outbox rows to the transport, in batches, marking them sent only
//! after the transport confirmed every message. Rows are claimed with `FOR UPDATE SKIP LOCKED`
//! (PostgreSQL), so any number of relays can run; a relay that dies between publishing and
//! marking leaves its rows pending, and they are published again (consumers deduplicate).
use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, LockBehavior, LockType},
};
use tokio::sync::{Notify, watch};

use crate::{BusError, Message, entities::outbox};

/// Publishes messages; returns only when every one is confirmed (or fails as a whole).
#[async_trait]
pub trait Transport: Send + Sync {
    async fn publish(&self, batch: &[Message]) -> Result<(), BusError>;
}

/// A point where a relay can be told to fail, to test crash recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// The transport confirmed the batch, the rows are not yet marked sent.
    AfterPublishBeforeMark,
}

/// Returns true to make the relay fail at that point.
pub type FaultHook = Arc<dyn Fn(FaultPoint) -> bool + Send + Sync>;

/// Pending outbox rows and the age of the oldest.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct OutboxStats {
    pub pending: u64,
    pub oldest_pending_age_secs: f64,
}

/// How long a woken relay waits for the producer's commit before claiming.
const COMMIT_WINDOW: Duration = Duration::from_millis(5);

#[derive(Clone)]
pub struct Relay {
    /// The service whose outbox this relay drains.
    producer: &'static str,
    db: DatabaseConnection,
    parallelism: usize,
    transport: Arc<dyn Transport>,
    batch_size: u64,
    poll_interval: Duration,
    retention: Duration,
    fault: Option<FaultHook>,
    /// Producers of this process append → the first loop claims.
    wake: Arc<Notify>,
    /// A loop met a full batch → another loop joins in.
    backlog: Arc<Notify>,
}

/// Starts a transaction that may read and mark every tenant's outbox rows.
async fn relay_txn(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, BusError> {
    let txn = db.begin().await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        // The claim must walk the pending index in order whatever the statistics say: with a
        // backlog the planner has not analyzed yet it would sort every pending row per claim.
        txn.execute_unprepared(
            "SELECT set_config('app.outbox_relay', 'on', true), \
             set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true)",
        )
        .await?;
    }
    Ok(txn)
}

impl Relay {
    /// A relay for the outbox of service `producer` in `db`; every message it hands to
    /// `transport` names `producer` as its origin.
    pub fn new(
        producer: &'static str,
        db: DatabaseConnection,
        transport: Arc<dyn Transport>,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        crate::outbox::register_relay(&wake);
        Self {
            producer,
            db,
            transport,
            parallelism: 4,
            batch_size: 500,
            poll_interval: Duration::from_millis(100),
            retention: Duration::from_secs(24 * 3600),
            fault: None,
            wake,
            backlog: Arc::new(Notify::new()),
        }
    }

    pub fn batch_size(mut self, n: u64) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Claim loops run concurrently (each claims its own rows with `SKIP LOCKED`), so database
    /// and broker round trips overlap.
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        self
    }

    pub fn retention(mut self, d: Duration) -> Self {
        self.retention = d;
        self
    }

    pub fn with_fault(mut self, hook: FaultHook) -> Self {
        self.fault = Some(hook);
        self
    }

    /// Publishes one batch; returns how many rows it sent.
    pub async fn tick(&self) -> Result<usize, BusError> {
        let txn = relay_txn(&self.db).await?;
        let pg = txn.get_database_backend() == DbBackend::Postgres;
        let mut q = outbox::Entity::find()
            .filter(outbox::Column::SentAt.is_null())
            .order_by_asc(outbox::Column::CreatedAt)
            .limit(self.batch_size);
        if pg {
            q = q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = q.all(&txn).await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(0);
        }
        let batch: Vec<Message> = rows
            .into_iter()
            .map(|r| Message {
                id: r.id,
                producer: self.producer,
                routing_key: r.routing_key,
                body: r.envelope.into_bytes(),
            })
            .collect();
        // On PostgreSQL the claim (row locks) lasts until the rows are marked. SQLite has one
        // connection per database and no row locks: holding it while consumers apply the batch
        // would deadlock two services whose events flow both ways (each relay holding its own
        // database while the other's consumer waits for it), so it is released first; a batch
        // published twice (a crash before marking) is deduplicated by the consumers' inbox.
        let claim = if pg {
            Some(txn)
        } else {
            txn.commit().await?;
            None
        };
        // Every early return rolls back explicitly, so the claimed rows are unlocked at once for
        // the next claim (a dropped transaction would release them only eventually).
        if let Err(e) = self.transport.publish(&batch).await {
            metrics::counter!("bus_publish_failed_total").increment(batch.len() as u64);
            if let Some(txn) = claim {
                txn.rollback().await?;
            }
            return Err(e);
        }
        if self
            .fault
            .as_ref()
            .is_some_and(|f| f(FaultPoint::AfterPublishBeforeMark))
        {
            if let Some(txn) = claim {
                txn.rollback().await?;
            }
            return Err(BusError::Fault(
                "relay stopped after publishing, before marking",
            ));
        }
        let txn = match claim {
            Some(txn) => txn,
            None => relay_txn(&self.db).await?,
        };
        let ids: Vec<uuid::Uuid> = batch.iter().map(|m| m.id).collect();
        outbox::Entity::update_many()
            .col_expr(outbox::Column::SentAt, Expr::value(chrono::Utc::now()))
            .filter(outbox::Column::Id.is_in(ids))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        metrics::counter!("bus_published_total").increment(batch.len() as u64);
        Ok(batch.len())
    }

    /// Deletes rows sent longer ago than the retention period.
    pub async fn prune(&self) -> Result<u64, BusError> {
        let cutoff = chrono::Utc::now()
            - chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::days(1));
        let txn = relay_txn(&self.db).await?;
        let res = outbox::Entity::delete_many()
            .filter(outbox::Column::SentAt.lt(cutoff))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(res.rows_affected)
    }

    /// Publishes until `shutdown` turns true: back-to-back while rows are pending, then waits
    /// for an in-process producer's wake-up or the poll interval. Backs off while the broker or
    /// the database is down.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        // SQLite has one writer: concurrent loops would only queue on it.
        let n = if self.db.get_database_backend() == DbBackend::Postgres {
            self.parallelism
        } else {
            1
        };
        let loops = (0..n).map(|i| self.clone().run_loop(shutdown.clone(), i == 0));
        futures_util::future::join_all(loops).await;
    }

    async fn run_loop(self, mut shutdown: watch::Receiver<bool>, housekeeping: bool) {
        let mut backoff = Duration::from_millis(100);
        // The first loop follows the steady stream: woken by this process's producers, and
        // polling for other processes' rows. The others join only while there is a backlog, so
        // a trickle of events costs one claim per wake-up, not one per loop.
        let (wake, poll) = if housekeeping {
            (self.wake.clone(), self.poll_interval)
        } else {
            (self.backlog.clone(), self.poll_interval * 20)
        };
        let mut last_prune = std::time::Instant::now();
        let mut last_stats = std::time::Instant::now() - Duration::from_secs(60);
        while !*shutdown.borrow() {
            if housekeeping && last_stats.elapsed() > Duration::from_secs(5) {
                last_stats = std::time::Instant::now();
                if let Ok(s) = stats(&self.db).await {
                    metrics::gauge!("bus_outbox_pending").set(s.pending as f64);
                    metrics::gauge!("bus_outbox_oldest_pending_age_seconds")
                        .set(s.oldest_pending_age_secs);
                }
            }
            match self.tick().await {
                Ok(n) if n as u64 == self.batch_size => {
                    // A backlog: bring another loop in, then claim again at once.
                    self.backlog.notify_one();
                    backoff = Duration::from_millis(100);
                    continue;
                }
                Ok(_) => {
                    backoff = Duration::from_millis(100);
                    if housekeeping && last_prune.elapsed() > Duration::from_secs(60) {
                        last_prune = std::time::Instant::now();
                        if let Err(e) = self.prune().await {
                            tracing::warn!(error = %e, "outbox prune failed");
                        }
                    }
                    tokio::select! {
                        _ = wake.notified() => {
                            if housekeeping {
                                // The producer that woke us commits within milliseconds;
                                // claiming at once would find nothing yet. The pause also
                                // gathers a batch.
                                tokio::time::sleep(COMMIT_WINDOW).await;
                            }
                        }
                        _ = tokio::time::sleep(poll) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "relay tick failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// Pending rows and the oldest one's age, across tenants.
pub async fn stats(db: &DatabaseConnection) -> Result<OutboxStats, BusError> {
    let txn = relay_txn(db).await?;
    let pending = outbox::Entity::find()
        .filter(outbox::Column::SentAt.is_null())
        .count(&txn)
        .await?;
    let oldest = outbox::Entity::find()
        .filter(outbox::Column::SentAt.is_null())
        .order_by_asc(outbox::Column::CreatedAt)
        .one(&txn)
        .await?;
    txn.commit().await?;
    Ok(OutboxStats {
        pending,
        oldest_pending_age_secs: oldest
            .map(|o| {
                (chrono::Utc::now() - o.created_at)
                    .num_milliseconds()
                    .max(0) as f64
                    / 1000.0
            })
            .unwrap_or(0.0),
    })
}
