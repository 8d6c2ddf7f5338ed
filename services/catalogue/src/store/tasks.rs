//! Fulfilment tasks.
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entities::fulfilment_task;
use crate::domain::request::TaskState;

pub type Task = fulfilment_task::Model;

pub async fn open(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    request_item: Uuid,
    stage: i32,
    number: String,
    name: String,
    group: Uuid,
) -> Result<Task, DbErr> {
    fulfilment_task::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        request_item_id: Set(request_item),
        number: Set(number),
        stage: Set(stage),
        name: Set(name),
        group_id: Set(group),
        state: Set(TaskState::Open),
        ..fulfilment_task::ActiveModel::new()
    }
    .insert(txn)
    .await
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Task>, DbErr> {
    fulfilment_task::Entity::find_by_id(id)
        .filter(fulfilment_task::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

/// A request item's tasks (of one stage, or all), oldest first.
pub async fn of_item(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    request_item: Uuid,
    stage: Option<i32>,
) -> Result<Vec<Task>, DbErr> {
    let mut q = fulfilment_task::Entity::find()
        .filter(fulfilment_task::Column::TenantId.eq(tenant.as_uuid()))
        .filter(fulfilment_task::Column::RequestItemId.eq(request_item));
    if let Some(stage) = stage {
        q = q.filter(fulfilment_task::Column::Stage.eq(stage));
    }
    q.order_by_asc(fulfilment_task::Column::Id).all(txn).await
}

/// Up to `limit` tasks of `tenant` after `after`, optionally of one request item or group.
pub async fn list(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    request_item: Option<Uuid>,
    group: Option<Uuid>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Task>, DbErr> {
    let mut q = fulfilment_task::Entity::find()
        .filter(fulfilment_task::Column::TenantId.eq(tenant.as_uuid()));
    if let Some(item) = request_item {
        q = q.filter(fulfilment_task::Column::RequestItemId.eq(item));
    }
    if let Some(group) = group {
        q = q.filter(fulfilment_task::Column::GroupId.eq(group));
    }
    if let Some(after) = after {
        q = q.filter(fulfilment_task::Column::Id.gt(after));
    }
    q.order_by_asc(fulfilment_task::Column::Id)
        .limit(limit)
        .all(txn)
        .await
}

pub async fn set_state(txn: &DatabaseTransaction, t: Task, to: TaskState) -> Result<Task, DbErr> {
    let mut am: fulfilment_task::ActiveModel = t.into();
    am.state = Set(to);
    am.update(txn).await
}
