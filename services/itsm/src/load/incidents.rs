//! Writing the planned incidents: each tenant's numbers reserved first, then the rows inserted
//! in creation-time order, a window per transaction and a few tenants per statement.
use std::{collections::HashMap, time::Instant};

use chrono::Utc;
use identity::seed::LoadTenant;
use incident::{domain::priority::Matrix, store::entities::incident as incident_e};
use indicatif::ProgressBar;
use platform::tenancy::{TenantId, scope_to};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Statement, TransactionTrait,
};
use uuid::Uuid;

use super::{plan::plan, progress::bar, rng::Rng, rows::incident_row};

/// Incidents per transaction; within one they are written in creation-time order.
const WINDOW: usize = 10_000;
/// Rows per INSERT statement (24 bound values each; under both engines' parameter limits).
const ROWS_PER_STATEMENT: usize = 1_000;
/// Tenants per statement. Row-level security re-checks every inserted row against the
/// transaction's tenant list, whose cost grows with its length, so each statement is scoped
/// to the few tenants it writes.
pub(super) const TENANTS_PER_STATEMENT: usize = 32;
/// Transactions in flight (the owner pool has two connections; PostgreSQL does the work).
const IN_FLIGHT: usize = 2;
/// The first number of a tenant (`INC0001001`), as `incidents::Numbers` hands them out.
const FIRST_NUMBER: i64 = 1001;

/// Plans `count` incidents over `tenants`, reserves their numbers and inserts them.
pub(super) async fn seed_incidents(
    owner: &DatabaseConnection,
    tenants: &[LoadTenant],
    count: u64,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut rng = Rng::from_time();
    let plan_started = Instant::now();
    let mut plan = plan(&mut rng, tenants.len(), count, now);
    // Reserve each tenant's numbers first: incidents opened meanwhile get later ones.
    let mut per_tenant = vec![0i64; tenants.len()];
    for p in &plan {
        per_tenant[p.tenant as usize] += 1;
    }
    let first = reserve_numbers(owner, tenants, &per_tenant).await?;
    for p in plan.iter_mut() {
        p.number += first[p.tenant as usize];
    }
    plan.sort_unstable_by_key(|p| p.at);
    tracing::debug!(elapsed = ?plan_started.elapsed(), "planned");

    let pb = bar(count, "incidents");
    let matrix = Matrix::default();
    let mut running = tokio::task::JoinSet::new();
    for window in plan.chunks(WINDOW) {
        let mut rows: Vec<(u32, incident_e::ActiveModel)> = window
            .iter()
            .map(|p| {
                (
                    p.tenant,
                    incident_row(&mut rng, &matrix, &tenants[p.tenant as usize], p, now),
                )
            })
            .collect();
        // Grouped by tenant within the window (stable: creation order within a tenant).
        rows.sort_by_key(|(t, _)| *t);
        let statements = statements(rows, |t| tenants[t as usize].tenant.id);
        while running.len() >= IN_FLIGHT {
            if let Some(done) = running.join_next().await {
                done??;
            }
        }
        let (db, pb) = (owner.clone(), pb.clone());
        running.spawn(async move { insert_window(&db, statements, &pb).await });
    }
    while let Some(done) = running.join_next().await {
        done??;
    }
    pb.finish_and_clear();
    Ok(())
}

/// Splits rows (sorted by tenant) into statements of at most [`ROWS_PER_STATEMENT`] rows and
/// [`TENANTS_PER_STATEMENT`] tenants, each with the tenant ids it writes.
fn statements(
    rows: Vec<(u32, incident_e::ActiveModel)>,
    tenant_id: impl Fn(u32) -> Uuid,
) -> Vec<(Vec<Uuid>, Vec<incident_e::ActiveModel>)> {
    let mut out: Vec<(Vec<Uuid>, Vec<incident_e::ActiveModel>)> = Vec::new();
    let mut last: Option<u32> = None;
    for (t, row) in rows {
        let new_tenant = last != Some(t);
        let start = match out.last() {
            None => true,
            Some((ids, rows)) => {
                rows.len() >= ROWS_PER_STATEMENT
                    || (new_tenant && ids.len() >= TENANTS_PER_STATEMENT)
            }
        };
        if start {
            out.push((Vec::new(), Vec::new()));
        }
        if let Some((ids, rows)) = out.last_mut() {
            if start || new_tenant {
                ids.push(tenant_id(t));
            }
            rows.push(row);
        }
        last = Some(t);
    }
    out
}

async fn insert_window(
    db: &DatabaseConnection,
    statements: Vec<(Vec<Uuid>, Vec<incident_e::ActiveModel>)>,
    pb: &ProgressBar,
) -> anyhow::Result<()> {
    let txn = db.begin().await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        // A bulk load: losing the last moment of it in a crash is fine.
        txn.execute_unprepared("SET LOCAL synchronous_commit = off")
            .await?;
    }
    for (tenant_ids, rows) in statements {
        let n = rows.len() as u64;
        scope_to(&txn, &TenantId::many(&tenant_ids)).await?;
        incident_e::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
        pb.inc(n);
    }
    txn.commit().await?;
    Ok(())
}

/// Advances each tenant's incident counter by its planned count; returns each tenant's first
/// number (the counter's value before, or 1001 for a tenant without incidents).
async fn reserve_numbers(
    owner: &DatabaseConnection,
    tenants: &[LoadTenant],
    counts: &[i64],
) -> anyhow::Result<Vec<i64>> {
    let backend = owner.get_database_backend();
    let index: HashMap<Uuid, usize> = tenants
        .iter()
        .enumerate()
        .map(|(i, t)| (t.tenant.id, i))
        .collect();
    let mut first = vec![FIRST_NUMBER; tenants.len()];
    let txn = owner.begin().await?;
    let todo: Vec<usize> = (0..tenants.len()).filter(|i| counts[*i] > 0).collect();
    for chunk in todo.chunks(TENANTS_PER_STATEMENT) {
        let ids: Vec<Uuid> = chunk.iter().map(|i| tenants[*i].tenant.id).collect();
        scope_to(&txn, &TenantId::many(&ids)).await?;
        let mut sql = String::from("INSERT INTO incident_counters (tenant_id, next) VALUES ");
        let mut values: Vec<sea_orm::Value> = Vec::new();
        for (k, i) in chunk.iter().enumerate() {
            let (a, b) = match backend {
                DbBackend::Postgres => (format!("${}", 2 * k + 1), format!("${}", 2 * k + 2)),
                _ => ("?".to_string(), "?".to_string()),
            };
            sql.push_str(&format!("{}({a}, {b})", if k == 0 { "" } else { ", " }));
            values.push(tenants[*i].tenant.id.into());
            values.push((FIRST_NUMBER + counts[*i]).into());
        }
        sql.push_str(&format!(
            " ON CONFLICT (tenant_id) DO UPDATE SET next = incident_counters.next + \
             (excluded.next - {FIRST_NUMBER}) RETURNING tenant_id, next"
        ));
        let rows = txn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        for row in rows {
            let id: Uuid = row.try_get("", "tenant_id")?;
            let next: i64 = row.try_get("", "next")?;
            if let Some(i) = index.get(&id) {
                first[*i] = next - counts[*i];
            }
        }
    }
    txn.commit().await?;
    Ok(first)
}

#[cfg(test)]
mod tests {
    use sea_orm::ActiveModelBehavior;

    use super::*;

    #[test]
    fn statements_respect_row_and_tenant_limits() {
        let rows: Vec<(u32, incident_e::ActiveModel)> = (0..5_000u32)
            .map(|i| (i / 40, incident_e::ActiveModel::new()))
            .collect();
        let ids: Vec<Uuid> = (0..200).map(|_| Uuid::now_v7()).collect();
        let st = statements(rows, |t| ids[t as usize]);
        assert_eq!(st.iter().map(|(_, r)| r.len()).sum::<usize>(), 5_000);
        for (tenants, rows) in &st {
            assert!(rows.len() <= ROWS_PER_STATEMENT);
            assert!(tenants.len() <= TENANTS_PER_STATEMENT);
        }
    }
}
