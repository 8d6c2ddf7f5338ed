//! Offerings of the portfolio's services.
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entities::offering;
use crate::domain::offering::{NewOffering, OfferingChanges};

pub type Offering = offering::Model;

pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    new: NewOffering,
) -> Result<Offering, DbErr> {
    offering::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        service_id: Set(new.service_id),
        name: Set(new.name),
        description: Set(new.description),
        support_group_id: Set(new.support_group_id),
        ..offering::ActiveModel::new()
    }
    .insert(txn)
    .await
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Offering>, DbErr> {
    offering::Entity::find_by_id(id)
        .filter(offering::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

/// Whether `service` has another offering called `name`.
pub async fn name_taken(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    service: Uuid,
    name: &str,
    except: Option<Uuid>,
) -> Result<bool, DbErr> {
    let mut q = offering::Entity::find()
        .filter(offering::Column::TenantId.eq(tenant.as_uuid()))
        .filter(offering::Column::ServiceId.eq(service))
        .filter(offering::Column::Name.eq(name));
    if let Some(id) = except {
        q = q.filter(offering::Column::Id.ne(id));
    }
    Ok(q.one(txn).await?.is_some())
}

/// Up to `limit` offerings of `tenant` after `after`, in id order, optionally of one service.
pub async fn list(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    service: Option<Uuid>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Offering>, DbErr> {
    let mut q = offering::Entity::find().filter(offering::Column::TenantId.eq(tenant.as_uuid()));
    if let Some(service) = service {
        q = q.filter(offering::Column::ServiceId.eq(service));
    }
    if let Some(after) = after {
        q = q.filter(offering::Column::Id.gt(after));
    }
    q.order_by_asc(offering::Column::Id)
        .limit(limit)
        .all(txn)
        .await
}

pub async fn change(
    txn: &DatabaseTransaction,
    o: Offering,
    changes: OfferingChanges,
) -> Result<Offering, DbErr> {
    let mut am: offering::ActiveModel = o.into();
    if let Some(name) = changes.name {
        am.name = Set(name);
    }
    if let Some(description) = changes.description {
        am.description = Set(description);
    }
    if let Some(group) = changes.support_group_id {
        am.support_group_id = Set(group);
    }
    am.update(txn).await
}

/// How many offerings `service` has.
pub async fn count_of(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    service: Uuid,
) -> Result<u64, DbErr> {
    offering::Entity::find()
        .filter(offering::Column::TenantId.eq(tenant.as_uuid()))
        .filter(offering::Column::ServiceId.eq(service))
        .count(txn)
        .await
}
