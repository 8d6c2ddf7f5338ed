//! The change service's background work, on timers its writes and consumers set
//! (`store::timers`): `change-conflict-refresh` re-checks a change's conflicts after any write,
//! window or graph event that may move them and announces `conflicts_changed` when the set
//! differs; `change-overdue` announces a change whose planned end passed while it was
//! scheduled or being implemented, once.
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use platform::{
    ApiError,
    tenancy::{TenantDirectory, TenantId, begin_scoped},
};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use tokio::sync::watch;
use uuid::Uuid;

use crate::{
    domain::{
        change::Window,
        conflict::{self, Conflict, Planned, RELATED_DEPTH},
        lifecycle::State,
    },
    events,
    store::{
        changes::{self, Change},
        timers::{self, CONFLICTS, OVERDUE},
        windows,
    },
};

/// How often the workers look for due timers: a re-check lands well within 2 s of the write.
const TICK: Duration = Duration::from_millis(250);
/// Timers claimed per transaction.
const BATCH: u64 = 200;
/// A re-check that failed is tried again this much later.
const RETRY: chrono::Duration = chrono::Duration::seconds(5);

pub struct Workers {
    db: DatabaseConnection,
    directory: Arc<dyn TenantDirectory>,
}

impl Workers {
    pub fn new(db: DatabaseConnection, directory: Arc<dyn TenantDirectory>) -> Self {
        Workers { db, directory }
    }

    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let now = platform::record::now();
            match self.refresh_conflicts(now).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(worker = "change-conflict-refresh", changes = n),
                Err(e) => tracing::warn!(worker = "change-conflict-refresh", error = %e),
            }
            match self.announce_overdue(now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(worker = "change-overdue", changes = n),
                Err(e) => tracing::warn!(worker = "change-overdue", error = %e),
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// Claims due timers of `kind` (deleting them in a short transaction of their own).
    async fn claim(&self, kind: &str, now: DateTime<Utc>) -> Result<Vec<(Uuid, Uuid)>, ApiError> {
        let txn = self.db.begin().await?;
        let claimed = timers::claim(&txn, kind, now, BATCH).await?;
        txn.commit().await?;
        Ok(claimed)
    }

    /// Re-checks the conflicts of every change whose timer is due; how many it checked.
    pub async fn refresh_conflicts(&self, now: DateTime<Utc>) -> Result<usize, ApiError> {
        let claimed = self.claim(CONFLICTS, now).await?;
        for (change, tenant) in &claimed {
            let tenant = TenantId(*tenant);
            if let Err(e) = self.refresh_one(tenant, *change, now).await {
                tracing::warn!(worker = "change-conflict-refresh", %change, error = %e);
                let txn = begin_scoped(&self.db, &[tenant]).await?;
                timers::set(&txn, tenant, &[*change], CONFLICTS, now + RETRY).await?;
                txn.commit().await?;
            }
        }
        Ok(claimed.len())
    }

    async fn refresh_one(
        &self,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let lineage = self
            .directory
            .resolve(tenant.as_uuid(), &tenant.as_uuid().to_string())
            .await?
            .map(|t| t.path)
            .unwrap_or_else(|| vec![tenant]);
        let applying = {
            let txn = begin_scoped(&self.db, &lineage).await?;
            let rows = windows::list(&txn, &lineage, None, None).await?;
            txn.commit().await?;
            rows.iter().map(windows::as_window).collect::<Vec<_>>()
        };
        let txn = begin_scoped(&self.db, &[tenant]).await?;
        let Some(c) = changes::find(&txn, tenant, id).await? else {
            return Ok(txn.commit().await?);
        };
        // A closed or canceled change, or one without a window, has no conflicts.
        let found = match c.window().filter(|_| !c.lifecycle_state().is_terminal()) {
            Some(window) => conflicts(&txn, &c, window, &applying).await?,
            None => Vec::new(),
        };
        let json = serde_json::to_string(&found).map_err(ApiError::internal)?;
        let fingerprint = platform::secret::digest(&json);
        if timers::record_conflicts(&txn, tenant, c.id, fingerprint, found.len(), now).await? {
            events::conflicts_changed(&txn, &c, &found, now).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Announces every change whose planned end passed while it was scheduled or being
    /// implemented, once; how many timers it took.
    pub async fn announce_overdue(&self, now: DateTime<Utc>) -> Result<usize, ApiError> {
        let claimed = self.claim(OVERDUE, now).await?;
        for (id, tenant) in &claimed {
            let tenant = TenantId(*tenant);
            let txn = begin_scoped(&self.db, &[tenant]).await?;
            if let Some(c) = changes::find_for_update(&txn, tenant, *id).await?
                && c.overdue_at.is_none()
                && matches!(c.lifecycle_state(), State::Scheduled | State::Implement)
                && c.planned_end.is_some_and(|end| end <= now)
            {
                let c = changes::mark_overdue(&txn, c, now).await?;
                events::overdue(&txn, &c).await?;
            }
            txn.commit().await?;
        }
        Ok(claimed.len())
    }
}

async fn conflicts(
    txn: &DatabaseTransaction,
    c: &Change,
    window: Window,
    applying: &[conflict::ChangeWindow],
) -> Result<Vec<Conflict>, ApiError> {
    let tenant = TenantId(c.tenant_id);
    let cis = changes::cis_of(txn, tenant, &[c.id])
        .await?
        .remove(&c.id)
        .unwrap_or_default();
    let planned = Planned {
        id: Some(c.id),
        window,
        cis,
        assignee: c.assignee_id,
    };
    let others = windows::others(txn, tenant, window).await?;
    let near = bus::cmdb::around(txn, tenant, &planned.cis, RELATED_DEPTH).await?;
    Ok(conflict::conflicts(&planned, &near, &others, applying))
}

/// After a write to `c` (whose window was `before`): re-check it and every open change
/// overlapping its old or new window, and announce it overdue at its planned end.
pub async fn touched(
    txn: &DatabaseTransaction,
    c: &Change,
    before: Option<Window>,
) -> Result<(), DbErr> {
    let tenant = TenantId(c.tenant_id);
    let now = platform::record::now();
    let mut ids = vec![c.id];
    for w in [before, c.window()].into_iter().flatten() {
        ids.extend(
            windows::others(txn, tenant, w)
                .await?
                .into_iter()
                .map(|o| o.id),
        );
    }
    ids.sort();
    ids.dedup();
    timers::set(txn, tenant, &ids, CONFLICTS, now).await?;
    if let Some(end) = c.planned_end {
        timers::set(txn, tenant, &[c.id], OVERDUE, end).await?;
    }
    Ok(())
}

/// The most changes one window or graph event re-checks at once.
const FAN_OUT: u64 = 10_000;

/// After a window of `tenant` changed: re-check its open changes.
pub async fn window_changed(txn: &DatabaseTransaction, tenant: TenantId) -> Result<(), DbErr> {
    let now = platform::record::now();
    let ids = timers::open_changes(txn, tenant, None, now, FAN_OUT).await?;
    timers::set(txn, tenant, &ids, CONFLICTS, now).await?;
    Ok(())
}

/// After the graph changed around `cis`: re-check the open changes naming a CI within
/// [`RELATED_DEPTH`] of them.
pub async fn graph_changed(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    near: &[Uuid],
) -> Result<(), DbErr> {
    let now = platform::record::now();
    let ids = timers::open_changes(txn, tenant, Some(near), now, FAN_OUT).await?;
    timers::set(txn, tenant, &ids, CONFLICTS, now).await?;
    Ok(())
}
