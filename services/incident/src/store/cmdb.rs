//! The catalogue's configuration items, projected from its events: an incident may name only
//! a CI its tenant owns or is granted, and not a retired one. A CI a provider shares is
//! projected once per grantee too, so each tenant reads its rows under its own scope.
use bus::{Envelope, HandlerError};
use events::{
    Event,
    catalogue::{CiCreated, CiGrantChanged, CiRetired, CiUpdated},
};
use platform::tenancy::{TenantId, scope_to};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter,
};
use uuid::Uuid;

use super::entities::cmdb_ci;

/// Applies one of the catalogue's CI events; older versions change nothing.
pub async fn apply(txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
    bus::versions::check_lead(env)?;
    let t = env.event_type.as_str();
    let owner = env.tenantid;
    let v = env.aggregateversion;
    if t == CiCreated::event_type() {
        let e: CiCreated = env.payload()?;
        return upsert_owner(
            txn,
            owner,
            e.ci_id,
            Some((e.name, e.class_path, e.status)),
            v,
        )
        .await;
    }
    if t == CiUpdated::event_type() {
        let e: CiUpdated = env.payload()?;
        return upsert_owner(
            txn,
            owner,
            e.ci_id,
            Some((e.name, e.class_path, e.status)),
            v,
        )
        .await;
    }
    if t == CiRetired::event_type() {
        let e: CiRetired = env.payload()?;
        return upsert_owner(txn, owner, e.ci_id, None, v).await;
    }
    if t == CiGrantChanged::event_type() {
        let e: CiGrantChanged = env.payload()?;
        return regrant(txn, owner, e.ci_id, &e.tenant_ids, v).await;
    }
    Err(HandlerError::UnknownType(env.event_type.clone()))
}

fn grantees(row: &cmdb_ci::Model) -> Vec<Uuid> {
    serde_json::from_value(row.grantees.clone()).unwrap_or_default()
}

/// Widens the transaction to the owner and `tenants`, whose copies of the CI it writes.
async fn scope_with(txn: &DatabaseTransaction, owner: Uuid, tenants: &[Uuid]) -> Result<(), DbErr> {
    let mut scope = vec![TenantId(owner)];
    scope.extend(tenants.iter().map(|t| TenantId(*t)));
    scope_to(txn, &scope).await
}

async fn rows_of(txn: &DatabaseTransaction, ci: Uuid) -> Result<Vec<cmdb_ci::Model>, DbErr> {
    cmdb_ci::Entity::find()
        .filter(cmdb_ci::Column::CiId.eq(ci))
        .all(txn)
        .await
}

/// Records the owner's CI (`fields`: name, class path and status; `None`: retired) and copies
/// it to each grantee's row.
async fn upsert_owner(
    txn: &DatabaseTransaction,
    owner: Uuid,
    ci: Uuid,
    fields: Option<(String, String, String)>,
    v: i64,
) -> Result<(), HandlerError> {
    let own = cmdb_ci::Entity::find_by_id((ci, owner)).one(txn).await?;
    let shared = own.as_ref().map(grantees).unwrap_or_default();
    scope_with(txn, owner, &shared).await?;
    match own {
        Some(row) if !bus::versions::supersedes(row.version, v) => {}
        Some(_) => {
            for row in rows_of(txn, ci).await? {
                let mut am: cmdb_ci::ActiveModel = row.into();
                match &fields {
                    Some((name, class_path, status)) => {
                        am.name = Set(name.clone());
                        am.class_path = Set(class_path.clone());
                        am.status = Set(status.clone());
                    }
                    None => am.status = Set("retired".into()),
                }
                am.version = Set(v);
                am.update(txn).await?;
            }
        }
        None => {
            let (name, class_path, status) =
                fields.unwrap_or_else(|| (String::new(), String::new(), "retired".into()));
            cmdb_ci::ActiveModel {
                ci_id: Set(ci),
                tenant_id: Set(owner),
                owner_id: Set(owner),
                name: Set(name),
                class_path: Set(class_path),
                status: Set(status),
                grantees: Set(serde_json::json!([])),
                version: Set(v),
            }
            .insert(txn)
            .await?;
        }
    }
    scope_to(txn, &[TenantId(owner)]).await?;
    Ok(())
}

/// The owner's CI is shared with exactly `tenants` now: their copies follow.
async fn regrant(
    txn: &DatabaseTransaction,
    owner: Uuid,
    ci: Uuid,
    tenants: &[Uuid],
    v: i64,
) -> Result<(), HandlerError> {
    let Some(own) = cmdb_ci::Entity::find_by_id((ci, owner)).one(txn).await? else {
        // Its ci.created comes first on the owner's stream; until then, retry.
        return Err(HandlerError::Failed(format!(
            "CI {ci} is not projected yet"
        )));
    };
    if !bus::versions::supersedes(own.version, v) {
        return Ok(());
    }
    let before = grantees(&own);
    let mut everyone = before.clone();
    everyone.extend_from_slice(tenants);
    scope_with(txn, owner, &everyone).await?;
    cmdb_ci::Entity::delete_many()
        .filter(cmdb_ci::Column::CiId.eq(ci))
        .filter(cmdb_ci::Column::TenantId.ne(owner))
        .exec(txn)
        .await?;
    for tenant in tenants {
        cmdb_ci::ActiveModel {
            tenant_id: Set(*tenant),
            grantees: Set(serde_json::json!([])),
            ..own.clone().into()
        }
        .insert(txn)
        .await?;
    }
    let mut am: cmdb_ci::ActiveModel = own.into();
    am.grantees = Set(serde_json::json!(tenants));
    am.version = Set(v);
    am.update(txn).await?;
    scope_to(txn, &[TenantId(owner)]).await?;
    Ok(())
}

/// Whether `tenant` may name CI `id` on an incident: `None` if it does not see one, else
/// whether the CI is retired.
pub async fn retired(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<bool>, DbErr> {
    Ok(cmdb_ci::Entity::find_by_id((id, tenant.as_uuid()))
        .one(txn)
        .await?
        .map(|c| c.status == "retired"))
}
