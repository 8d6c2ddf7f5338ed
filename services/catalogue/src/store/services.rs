//! The portfolio's services and their stage history.
use std::collections::HashMap;

use platform::{record::now, tenancy::TenantId};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entities::{service, stage_change};
use crate::domain::portfolio::{NewService, Readiness, ServiceChanges, Stage};

pub type Service = service::Model;
pub type StageChange = stage_change::Model;

pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    new: NewService,
) -> Result<Service, DbErr> {
    service::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        name: Set(new.name),
        description: Set(new.description),
        owner_id: Set(new.owner_id),
        manager_id: Set(new.manager_id),
        support_group_id: Set(new.support_group_id),
        stage: Set(Stage::Strategy),
        ..service::ActiveModel::new()
    }
    .insert(txn)
    .await
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Service>, DbErr> {
    service::Entity::find_by_id(id)
        .filter(service::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

/// Whether `tenant` has another service called `name`.
pub async fn name_taken(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    name: &str,
    except: Option<Uuid>,
) -> Result<bool, DbErr> {
    let mut q = service::Entity::find()
        .filter(service::Column::TenantId.eq(tenant.as_uuid()))
        .filter(service::Column::Name.eq(name));
    if let Some(id) = except {
        q = q.filter(service::Column::Id.ne(id));
    }
    Ok(q.one(txn).await?.is_some())
}

/// Up to `limit` services of `tenant` after `after`, in id (creation) order, optionally at one
/// stage.
pub async fn list(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    stage: Option<Stage>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Service>, DbErr> {
    let mut q = service::Entity::find().filter(service::Column::TenantId.eq(tenant.as_uuid()));
    if let Some(stage) = stage {
        q = q.filter(service::Column::Stage.eq(stage));
    }
    if let Some(after) = after {
        q = q.filter(service::Column::Id.gt(after));
    }
    q.order_by_asc(service::Column::Id)
        .limit(limit)
        .all(txn)
        .await
}

pub async fn change(
    txn: &DatabaseTransaction,
    s: Service,
    changes: ServiceChanges,
) -> Result<Service, DbErr> {
    let mut am: service::ActiveModel = s.into();
    if let Some(name) = changes.name {
        am.name = Set(name);
    }
    if let Some(description) = changes.description {
        am.description = Set(description);
    }
    if let Some(owner) = changes.owner_id {
        am.owner_id = Set(owner);
    }
    if let Some(manager) = changes.manager_id {
        am.manager_id = Set(manager);
    }
    if let Some(group) = changes.support_group_id {
        am.support_group_id = Set(group);
    }
    am.update(txn).await
}

/// Moves `s` to `to` and records the move.
pub async fn move_stage(
    txn: &DatabaseTransaction,
    s: Service,
    to: Stage,
    rationale: String,
    actor: Uuid,
) -> Result<(Service, StageChange), DbErr> {
    let change = stage_change::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(s.tenant_id),
        service_id: Set(s.id),
        from_stage: Set(s.stage),
        to_stage: Set(to),
        rationale: Set(rationale),
        actor_id: Set(actor),
        at: Set(now()),
    }
    .insert(txn)
    .await?;
    let mut am: service::ActiveModel = s.into();
    am.stage = Set(to);
    Ok((am.update(txn).await?, change))
}

/// The stage history of each of `ids`, oldest move first.
pub async fn history(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<StageChange>>, DbErr> {
    let mut out: HashMap<Uuid, Vec<StageChange>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let rows = stage_change::Entity::find()
        .filter(stage_change::Column::TenantId.eq(tenant.as_uuid()))
        .filter(stage_change::Column::ServiceId.is_in(ids.to_vec()))
        .order_by_asc(stage_change::Column::At)
        .order_by_asc(stage_change::Column::Id)
        .all(txn)
        .await?;
    for row in rows {
        out.entry(row.service_id).or_default().push(row);
    }
    Ok(out)
}

/// What the stage gates read about `s`; its open request items are counted in `reach` (the
/// tenants the transaction sees: a provider's service is ordered by its customers).
pub async fn readiness(
    txn: &DatabaseTransaction,
    s: &Service,
    reach: &[TenantId],
) -> Result<Readiness, DbErr> {
    Ok(Readiness {
        owner: s.owner_id.is_some(),
        manager: s.manager_id.is_some(),
        support_group: s.support_group_id.is_some(),
        offerings: super::offerings::count_of(txn, TenantId(s.tenant_id), s.id).await?,
        published_items: super::items::published_count(txn, TenantId(s.tenant_id), s.id).await?,
        open_request_items: super::requests::open_items_of_service(txn, reach, s.id).await?,
    })
}

/// The stage of each of `ids` that belongs to one of `tenants` (a lineage).
pub async fn stages_of(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Stage>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = service::Entity::find()
        .filter(service::Column::TenantId.is_in(tenants.iter().map(|t| t.as_uuid())))
        .filter(service::Column::Id.is_in(ids.iter().copied()))
        .all(txn)
        .await?;
    Ok(rows.into_iter().map(|s| (s.id, s.stage)).collect())
}

/// The service of `tenant` called `name`.
pub async fn find_by_name(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    name: &str,
) -> Result<Option<Service>, DbErr> {
    service::Entity::find()
        .filter(service::Column::TenantId.eq(tenant.as_uuid()))
        .filter(service::Column::Name.eq(name))
        .one(txn)
        .await
}
