//! Human numbers per tenant (`INC0001001`, `REQ0001001`), for every service that numbers what
//! it records.
use std::sync::Arc;

use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use tokio::sync::Mutex;

use crate::tenancy::TenantId;

/// Human numbers per tenant (`INC0001001`), handed out from blocks of [`Numbers::BLOCK`]
/// reserved in `counter_table` with one short transaction: a create does not touch the counter
/// row at all most of the time, and never holds its lock. Within one process a tenant's numbers
/// rise; across replicas they interleave by block, and a restart leaves the rest of a block
/// unused — numbers are unique, not gapless (ADR 13).
#[derive(Default)]
pub struct Numbers {
    blocks: std::sync::Mutex<std::collections::HashMap<BlockKey, Arc<Mutex<Block>>>>,
}

/// The counter table and the tenant.
type BlockKey = (&'static str, TenantId);

#[derive(Default)]
struct Block {
    next: i64,
    end: i64,
}

impl Numbers {
    pub const BLOCK: i64 = 20;
    const FIRST: i64 = 1001;

    /// The tenant's next number from `counter_table`, with `prefix`.
    pub async fn next(
        &self,
        db: &sea_orm::DatabaseConnection,
        counter_table: &'static str,
        prefix: &str,
        tenant: TenantId,
    ) -> Result<String, DbErr> {
        let slot = match self.blocks.lock() {
            Ok(mut blocks) => blocks.entry((counter_table, tenant)).or_default().clone(),
            Err(_) => return Err(DbErr::Custom("number blocks poisoned".into())),
        };
        let mut block = slot.lock().await;
        if block.next >= block.end {
            let first = Self::reserve(db, counter_table, tenant).await?;
            *block = Block {
                next: first,
                end: first + Self::BLOCK,
            };
        }
        let n = block.next;
        block.next += 1;
        Ok(format!("{prefix}{n:07}"))
    }

    /// Moves the counter (the tenant's next unreserved number) on by a block; returns the
    /// block's first number.
    async fn reserve(
        db: &sea_orm::DatabaseConnection,
        counter_table: &'static str,
        tenant: TenantId,
    ) -> Result<i64, DbErr> {
        let txn = crate::tenancy::begin_scoped(db, &[tenant]).await?;
        let p = |n: usize| match txn.get_database_backend() {
            DbBackend::Postgres => format!("${n}"),
            _ => "?".to_string(),
        };
        let sql = format!(
            "INSERT INTO {counter_table} (tenant_id, next) VALUES ({}, {}) ON CONFLICT (tenant_id) \
             DO UPDATE SET next = {counter_table}.next + {block} RETURNING next - {block} AS n",
            p(1),
            p(2),
            block = Self::BLOCK
        );
        let row = txn
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                txn.get_database_backend(),
                sql,
                [tenant.into(), (Self::FIRST + Self::BLOCK).into()],
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("counter".into()))?;
        let n: i64 = row.try_get("", "n")?;
        txn.commit().await?;
        Ok(n)
    }
}
