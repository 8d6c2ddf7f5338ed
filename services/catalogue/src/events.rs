//! What the catalogue publishes, appended to the outbox in the same transaction as the change.
use events::{
    Event,
    catalogue::{
        CategoryCreated, CategoryUpdated, ItemPublished, ItemRetired, OfferingCreated,
        OfferingUpdated, ServiceCreated, ServiceStageChanged, ServiceUpdated,
    },
};
use platform::{ApiError, tenancy::TenantId};
use sea_orm::DatabaseTransaction;

use crate::domain::item::ItemState;
use crate::store::{
    categories::Category,
    items::Item,
    offerings::Offering,
    services::{Service, StageChange},
};

async fn publish<E: Event>(
    txn: &DatabaseTransaction,
    s: &Service,
    payload: &E,
) -> Result<(), ApiError> {
    bus::outbox::append(txn, TenantId(s.tenant_id), s.id, s.version, payload).await?;
    Ok(())
}

/// A new (`created`) or changed offering.
pub async fn offering_changed(
    txn: &DatabaseTransaction,
    o: &Offering,
    created: bool,
) -> Result<(), ApiError> {
    let tenant = TenantId(o.tenant_id);
    if created {
        let event = OfferingCreated {
            offering_id: o.id,
            service_id: o.service_id,
            name: o.name.clone(),
            support_group_id: o.support_group_id,
        };
        bus::outbox::append(txn, tenant, o.id, o.version, &event).await?;
    } else {
        let event = OfferingUpdated {
            offering_id: o.id,
            service_id: o.service_id,
            name: o.name.clone(),
            support_group_id: o.support_group_id,
        };
        bus::outbox::append(txn, tenant, o.id, o.version, &event).await?;
    }
    Ok(())
}

pub async fn service_created(txn: &DatabaseTransaction, s: &Service) -> Result<(), ApiError> {
    let event = ServiceCreated {
        service_id: s.id,
        name: s.name.clone(),
        stage: s.stage.as_str().into(),
        owner_id: s.owner_id,
        manager_id: s.manager_id,
        support_group_id: s.support_group_id,
    };
    publish(txn, s, &event).await
}

pub async fn service_updated(txn: &DatabaseTransaction, s: &Service) -> Result<(), ApiError> {
    let event = ServiceUpdated {
        service_id: s.id,
        name: s.name.clone(),
        owner_id: s.owner_id,
        manager_id: s.manager_id,
        support_group_id: s.support_group_id,
    };
    publish(txn, s, &event).await
}

pub async fn stage_changed(
    txn: &DatabaseTransaction,
    s: &Service,
    change: &StageChange,
) -> Result<(), ApiError> {
    let event = ServiceStageChanged {
        service_id: s.id,
        from: change.from_stage.as_str().into(),
        to: change.to_stage.as_str().into(),
        rationale: change.rationale.clone(),
        actor_id: change.actor_id,
    };
    publish(txn, s, &event).await
}

/// A new (`created`) or changed category.
pub async fn category_changed(
    txn: &DatabaseTransaction,
    c: &Category,
    created: bool,
) -> Result<(), ApiError> {
    let tenant = TenantId(c.tenant_id);
    let (id, parent_id, name) = (c.id, c.parent_id, c.name.clone());
    if created {
        let event = CategoryCreated {
            category_id: id,
            parent_id,
            name,
        };
        bus::outbox::append(txn, tenant, c.id, c.version, &event).await?;
    } else {
        let event = CategoryUpdated {
            category_id: id,
            parent_id,
            name,
        };
        bus::outbox::append(txn, tenant, c.id, c.version, &event).await?;
    }
    Ok(())
}

/// An item was published or retired (going back to draft is not announced: a draft is
/// nobody's business but its editors').
pub async fn item_state_changed(txn: &DatabaseTransaction, i: &Item) -> Result<(), ApiError> {
    let tenant = TenantId(i.tenant_id);
    match i.state {
        ItemState::Published => {
            let event = ItemPublished {
                item_id: i.id,
                key: i.key.clone(),
                name: i.name.clone(),
                service_id: i.service_id,
                version: i.version,
            };
            bus::outbox::append(txn, tenant, i.id, i.version, &event).await?;
        }
        ItemState::Retired => {
            let event = ItemRetired {
                item_id: i.id,
                key: i.key.clone(),
                service_id: i.service_id,
            };
            bus::outbox::append(txn, tenant, i.id, i.version, &event).await?;
        }
        ItemState::Draft => {}
    }
    Ok(())
}
