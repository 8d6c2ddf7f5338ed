//! Events published by the catalogue service.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Event;

macro_rules! event {
    ($ty:ident, $aggregate:literal, $name:literal, $version:literal) => {
        impl Event for $ty {
            const SERVICE: &'static str = "catalogue";
            const AGGREGATE: &'static str = $aggregate;
            const NAME: &'static str = $name;
            const VERSION: u32 = $version;
        }
    };
}

/// A service joined a tenant's portfolio (in `strategy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceCreated {
    pub service_id: Uuid,
    pub name: String,
    pub stage: String,
    pub owner_id: Option<Uuid>,
    pub manager_id: Option<Uuid>,
    pub support_group_id: Option<Uuid>,
}
event!(ServiceCreated, "service", "created", 1);

/// A service's details changed (name, description, owner, manager, support group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceUpdated {
    pub service_id: Uuid,
    pub name: String,
    pub owner_id: Option<Uuid>,
    pub manager_id: Option<Uuid>,
    pub support_group_id: Option<Uuid>,
}
event!(ServiceUpdated, "service", "updated", 1);

/// A service moved from one lifecycle stage to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceStageChanged {
    pub service_id: Uuid,
    pub from: String,
    pub to: String,
    pub rationale: String,
    pub actor_id: Uuid,
}
event!(ServiceStageChanged, "service", "stage_changed", 1);

/// A service got an offering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferingCreated {
    pub offering_id: Uuid,
    pub service_id: Uuid,
    pub name: String,
    pub support_group_id: Option<Uuid>,
}
event!(OfferingCreated, "offering", "created", 1);

/// An offering's details changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferingUpdated {
    pub offering_id: Uuid,
    pub service_id: Uuid,
    pub name: String,
    pub support_group_id: Option<Uuid>,
}
event!(OfferingUpdated, "offering", "updated", 1);

/// A category was added to a tenant's catalogue tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryCreated {
    pub category_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
}
event!(CategoryCreated, "category", "created", 1);

/// A category was renamed or moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryUpdated {
    pub category_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
}
event!(CategoryUpdated, "category", "updated", 1);

/// A catalogue item became orderable (its tenant's requesters and, for a provider's item, its
/// customers' see it in their effective catalogue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemPublished {
    pub item_id: Uuid,
    pub key: String,
    pub name: String,
    pub service_id: Uuid,
    pub version: i64,
}
event!(ItemPublished, "item", "published", 1);

/// A catalogue item stopped being orderable; requests already made go on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRetired {
    pub item_id: Uuid,
    pub key: String,
    pub service_id: Uuid,
}
event!(ItemRetired, "item", "retired", 1);
