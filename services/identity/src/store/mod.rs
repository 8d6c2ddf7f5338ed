//! Persistence: SeaORM entities and one repository module per aggregate. Every function takes
//! a transaction that `platform::tenancy` has already scoped, and also filters by tenant itself
//! (defence in depth: SQLite has no row-level security).
pub mod audit;
pub mod clients;
pub mod directory;
pub mod entities;
pub mod groups;
pub mod keys;
pub mod login_attempts;
pub mod settings;
pub mod tenants;
pub mod tokens;
pub mod users;

use chrono::{DateTime, SubsecRound, Utc};
use platform::tenancy::TenantId;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select, UpdateMany,
};
use uuid::Uuid;

/// One keyset page of `query` in `id` order: rows after `after`, at most `limit`.
pub fn keyset<E: EntityTrait>(
    query: Select<E>,
    id: impl ColumnTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Select<E> {
    let query = match after {
        Some(after) => query.filter(id.gt(after)),
        None => query,
    };
    query.order_by_asc(id).limit(limit)
}

/// `query` limited to `tenants`. On PostgreSQL a large (MSP-sized) scope is left to row-level
/// security alone: the transaction's cached scope already limits the rows, and repeating ~1,000
/// ids as an `IN` list costs planning time on every page (ADR 13).
pub fn within<E: EntityTrait>(
    query: Select<E>,
    tenant_column: impl ColumnTrait,
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
) -> Select<E> {
    if platform::tenancy::filter_in_query(txn.get_database_backend(), tenants) {
        query.filter(tenant_column.is_in(tenants.iter().copied()))
    } else {
        query
    }
}

/// Now, at the microsecond precision PostgreSQL keeps, so values read back compare equal.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Whether a database error is a unique-constraint violation.
pub fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Runs `update` as one `UPDATE … RETURNING *` statement and returns the rows it changed: a
/// compare-and-set when the filter states the expected current value. PostgreSQL and SQLite
/// (3.35 and later) both speak it; SeaORM uses `RETURNING` on SQLite only behind a feature, so
/// the statement is built here.
pub async fn update_returning<E: EntityTrait>(
    txn: &DatabaseTransaction,
    update: UpdateMany<E>,
) -> Result<Vec<E::Model>, DbErr> {
    let mut query = update.into_query();
    query.returning_all();
    let statement = txn.get_database_backend().build(&query);
    E::find().from_raw_sql(statement).all(txn).await
}
