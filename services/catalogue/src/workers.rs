//! The catalogue's workers: `approval-reminder` announces approvals pending past their
//! reminder time, `approval-expiry` rejects request items whose approval expired, and
//! `deflection-sweeper` decides suggestion sessions whose deflection window closed. Any number
//! may run (one per replica); sessions are claimed with `FOR UPDATE SKIP LOCKED`. Reminders are claimed with `FOR UPDATE SKIP LOCKED`; an expiry takes its
//! request item's lock first (`SKIP LOCKED` too), in the order a decision takes them, so an
//! expiry and a decision never deadlock and each approval fires once.
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use platform::{
    ApiError,
    tenancy::{TenantId, scope_to},
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{LockBehavior, LockType},
};
use tokio::sync::watch;

use crate::{
    domain::{deflection, request::VoteState},
    events,
    store::{
        approvals,
        entities::approval,
        requests::{self, Busy},
        suggestions,
    },
    workflow,
};

/// Which of the two workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// `approval-reminder`.
    Reminder,
    /// `approval-expiry`.
    Expiry,
    /// `deflection-sweeper`.
    Deflection,
}

impl Job {
    pub fn name(self) -> &'static str {
        match self {
            Job::Reminder => "approval-reminder",
            Job::Expiry => "approval-expiry",
            Job::Deflection => "deflection-sweeper",
        }
    }
}

const APPROVALS: &str = "app.approval_worker";
const DEFLECTION: &str = "app.deflection_worker";

/// A session's ticket may reach us as an event a little after it was raised: sessions are
/// decided this long after their window closed.
const EVENT_GRACE: chrono::Duration = chrono::Duration::minutes(2);

/// Approvals handled per transaction.
const BATCH: u64 = 200;

/// How often the workers look.
pub const TICK: Duration = Duration::from_secs(30);

pub struct ApprovalWorkers {
    db: DatabaseConnection,
}

impl ApprovalWorkers {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// A transaction that may read every tenant's rows of the tables `flag` opens (approvals
    /// with `app.approval_worker`, suggestion sessions and raised tickets with
    /// `app.deflection_worker`), and nothing else of theirs.
    async fn across_tenants(&self, flag: &str) -> Result<DatabaseTransaction, ApiError> {
        let txn = self.db.begin().await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_unprepared(&format!("SELECT set_config('{flag}', 'on', true)"))
                .await?;
        }
        Ok(txn)
    }

    /// Reminds every approval pending past its reminder time at `now`, once.
    pub async fn remind(&self, now: DateTime<Utc>) -> Result<usize, ApiError> {
        let mut total = 0;
        loop {
            let txn = self.across_tenants(APPROVALS).await?;
            let q = approval::Entity::find()
                .filter(approval::Column::State.eq(VoteState::Pending))
                .filter(approval::Column::RemindAt.lte(now))
                .filter(approval::Column::RemindedAt.is_null())
                .order_by_asc(approval::Column::RemindAt)
                .limit(BATCH);
            let rows = if txn.get_database_backend() == DbBackend::Postgres {
                q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                    .all(&txn)
                    .await?
            } else {
                q.all(&txn).await?
            };
            let n = rows.len();
            let mut tenants: Vec<_> = rows.iter().map(|r| TenantId(r.tenant_id)).collect();
            tenants.sort();
            tenants.dedup();
            scope_to(&txn, &tenants).await?;
            for a in rows {
                let a = approvals::mark_reminded(&txn, a, now).await?;
                events::approval_changed(&txn, &a).await?;
            }
            txn.commit().await?;
            total += n;
            if (n as u64) < BATCH {
                return Ok(total);
            }
        }
    }

    /// Expires every approval pending past its expiry at `now`: its request item is rejected
    /// (`approval_expired`), once.
    pub async fn expire(&self, now: DateTime<Utc>) -> Result<usize, ApiError> {
        let txn = self.across_tenants(APPROVALS).await?;
        let due = approval::Entity::find()
            .filter(approval::Column::State.eq(VoteState::Pending))
            .filter(approval::Column::ExpiresAt.lte(now))
            .order_by_asc(approval::Column::ExpiresAt)
            .limit(BATCH * 10)
            .all(&txn)
            .await?;
        txn.commit().await?;
        let mut expired = 0;
        for a in due {
            let tenant = TenantId(a.tenant_id);
            let txn = self.db.begin().await?;
            scope_to(&txn, &[tenant]).await?;
            // The item first, as a decision locks it; one busy elsewhere is skipped this time.
            let item = requests::lock_item(&txn, tenant, a.request_item_id, Busy::Skip).await?;
            let current = approvals::find(&txn, tenant, a.id).await?;
            match (item, current) {
                (Some(item), Some(a)) if a.state == VoteState::Pending && a.expires_at <= now => {
                    workflow::expire(&txn, a, item, now).await?;
                    txn.commit().await?;
                    expired += 1;
                }
                _ => txn.rollback().await?,
            }
        }
        Ok(expired)
    }

    /// Decides every viewed suggestion session whose window closed by `now` (less the grace
    /// for late events): `raised` if its requester raised a ticket within the window, else
    /// `deflected` (announced). Each session is decided once.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<usize, ApiError> {
        let mut total = 0;
        loop {
            let txn = self.across_tenants(DEFLECTION).await?;
            let due = suggestions::claim_due(&txn, now - EVENT_GRACE, BATCH).await?;
            let n = due.len();
            let mut tenants: Vec<_> = due.iter().map(|s| TenantId(s.tenant_id)).collect();
            tenants.sort();
            tenants.dedup();
            scope_to(&txn, &tenants).await?;
            for s in due {
                let Some(first) = s.first_viewed_at else {
                    continue;
                };
                let raised = suggestions::raised_between(
                    &txn,
                    s.tenant_id,
                    s.user_id,
                    first,
                    first + s.window(),
                )
                .await?;
                let decision = deflection::decide(&s.facts(), &raised, now - EVENT_GRACE);
                let s = suggestions::decide(&txn, s, &decision, now).await?;
                events::suggestion_decided(&txn, &s, &decision).await?;
            }
            txn.commit().await?;
            total += n;
            if (n as u64) < BATCH {
                return Ok(total);
            }
        }
    }

    /// One pass of `job` at `now`: the approvals or sessions it handled.
    pub async fn tick(&self, job: Job, now: DateTime<Utc>) -> Result<usize, ApiError> {
        match job {
            Job::Reminder => self.remind(now).await,
            Job::Expiry => self.expire(now).await,
            Job::Deflection => self.sweep(now).await,
        }
    }

    /// Runs `job` every `every` until shut down.
    pub async fn run(
        self: Arc<Self>,
        job: Job,
        every: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
            match self.tick(job, platform::record::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(worker = job.name(), handled = n, "catalogue worker"),
                Err(e) => {
                    tracing::warn!(worker = job.name(), error = %e, "catalogue worker failed")
                }
            }
        }
    }
}
