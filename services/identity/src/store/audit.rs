//! The audit log: appended in the same transaction as the change it records.
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::audit_record::{self, Column, Entity};
use crate::domain::audit_chain::{Break, GENESIS, Link, check};

/// What to record.
pub struct Entry<'a> {
    pub actor_id: Option<Uuid>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<Uuid>,
    pub data: Value,
}

/// Appends `entry` to `tenant`'s chain. Appends per tenant are serialised (an advisory lock on
/// PostgreSQL; SQLite has a single writer), so the chain never forks.
pub async fn append(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    entry: Entry<'_>,
) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
            [tenant.to_string().into()],
        ))
        .await?;
    }
    let last = Entity::find()
        .filter(Column::TenantId.eq(tenant))
        .order_by_desc(Column::Seq)
        .one(txn)
        .await?;
    let (seq, prev_hash) = match &last {
        Some(r) => (r.seq + 1, r.hash.clone()),
        None => (1, GENESIS.to_string()),
    };
    let at = super::now();
    let link = Link {
        tenant_id: tenant.into(),
        seq,
        at,
        actor_id: entry.actor_id,
        action: entry.action,
        target_type: entry.target_type,
        target_id: entry.target_id,
        data: &entry.data,
        prev_hash: &prev_hash,
    };
    let hash = link.hash();
    Entity::insert(audit_record::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.into()),
        seq: Set(seq),
        at: Set(at),
        actor_id: Set(entry.actor_id),
        action: Set(entry.action.to_string()),
        target_type: Set(entry.target_type.to_string()),
        target_id: Set(entry.target_id),
        data: Set(entry.data),
        prev_hash: Set(prev_hash),
        hash: Set(hash),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// A page of `tenant`'s records in chain order, after the record `after`.
pub async fn list(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<audit_record::Model>, DbErr> {
    super::keyset(
        Entity::find().filter(Column::TenantId.eq(tenant)),
        Column::Id,
        after,
        limit,
    )
    .all(txn)
    .await
}

/// The first record that breaks the chain, and why.
pub struct Broken {
    pub record: audit_record::Model,
    pub reason: Break,
}

/// Walks the whole chain of `tenant` in order. Returns the number of records checked and the
/// first broken one, if any.
pub async fn verify(
    txn: &DatabaseTransaction,
    tenant: TenantId,
) -> Result<(u64, Option<Broken>), DbErr> {
    const BATCH: u64 = 1000;
    let mut prev: Option<(i64, String)> = None;
    let mut checked = 0u64;
    loop {
        let after = prev.as_ref().map(|(s, _)| *s).unwrap_or(0);
        let batch = Entity::find()
            .filter(Column::TenantId.eq(tenant))
            .filter(Column::Seq.gt(after))
            .order_by_asc(Column::Seq)
            .limit(BATCH)
            .all(txn)
            .await?;
        let done = (batch.len() as u64) < BATCH;
        for record in batch {
            let link = Link {
                tenant_id: record.tenant_id,
                seq: record.seq,
                at: record.at,
                actor_id: record.actor_id,
                action: &record.action,
                target_type: &record.target_type,
                target_id: record.target_id,
                data: &record.data,
                prev_hash: &record.prev_hash,
            };
            let result = check(
                &link,
                &record.hash,
                prev.as_ref().map(|(s, h)| (*s, h.as_str())),
            );
            if let Err(reason) = result {
                return Ok((checked, Some(Broken { record, reason })));
            }
            checked += 1;
            prev = Some((record.seq, record.hash));
        }
        if done {
            return Ok((checked, None));
        }
    }
}
