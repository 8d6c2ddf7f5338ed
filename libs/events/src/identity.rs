//! Events published by identity: the tenant tree, users, roles and groups.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Event;

macro_rules! event {
    ($ty:ident, $aggregate:literal, $name:literal, $version:literal) => {
        impl Event for $ty {
            const SERVICE: &'static str = "identity";
            const AGGREGATE: &'static str = $aggregate;
            const NAME: &'static str = $name;
            const VERSION: u32 = $version;
        }
    };
}

/// A tenant joined the tree (onboarding, or seeding).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCreated {
    pub tenant_id: Uuid,
    pub parent_id: Option<Uuid>,
    /// Ids from the root down to this tenant, inclusive.
    pub path: Vec<Uuid>,
    /// `platform`, `msp` or `customer`.
    pub kind: String,
    pub name: String,
    pub slug: String,
    /// `active` or `suspended`.
    pub status: String,
}
event!(TenantCreated, "tenant", "created", 1);

/// A tenant was suspended or reactivated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantStatusChanged {
    pub tenant_id: Uuid,
    /// `active` or `suspended`.
    pub status: String,
}
event!(TenantStatusChanged, "tenant", "status_changed", 1);

/// A tenant's setting overrides changed (`null` removes an override).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSettingsChanged {
    pub tenant_id: Uuid,
    #[schema(value_type = Object)]
    pub changes: serde_json::Map<String, serde_json::Value>,
}
event!(TenantSettingsChanged, "tenant", "settings_changed", 1);

/// A user was created (invited, onboarded or seeded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreated {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    /// `invited`, `active` or `deactivated`.
    pub status: String,
    pub roles: Vec<String>,
}
event!(UserCreated, "user", "created", 1);

/// A user's status or profile changed (activated, deactivated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdated {
    pub user_id: Uuid,
    pub display_name: String,
    pub status: String,
}
event!(UserUpdated, "user", "updated", 1);

/// A user's line manager was set or cleared (`null`): who approves what they request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserManagerChanged {
    pub user_id: Uuid,
    pub manager_id: Option<Uuid>,
}
event!(UserManagerChanged, "user", "manager_changed", 1);

/// A user's roles were replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRolesChanged {
    pub user_id: Uuid,
    pub roles: Vec<String>,
}
event!(UserRolesChanged, "user", "roles_changed", 1);

/// An assignment group was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupCreated {
    pub group_id: Uuid,
    pub name: String,
}
event!(GroupCreated, "group", "created", 1);

/// A group's membership changed; carries the full member list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupMembersChanged {
    pub group_id: Uuid,
    pub members: Vec<Uuid>,
}
event!(GroupMembersChanged, "group", "members_changed", 1);
