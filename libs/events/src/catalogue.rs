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

/// A requester submitted a request of one or more items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestSubmitted {
    pub request_id: Uuid,
    pub number: String,
    pub requester_id: Uuid,
    pub request_item_ids: Vec<Uuid>,
}
event!(RequestSubmitted, "request", "submitted", 1);

/// Every item of a request is closed (fulfilled, rejected or canceled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestClosed {
    pub request_id: Uuid,
    pub number: String,
}
event!(RequestClosed, "request", "closed", 1);

/// A request item moved (`from` is null when it was just submitted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestItemStateChanged {
    pub request_item_id: Uuid,
    pub request_id: Uuid,
    pub number: String,
    pub item_id: Uuid,
    pub from: Option<String>,
    pub to: String,
    pub approval_state: String,
    pub close_reason: Option<String>,
}
event!(RequestItemStateChanged, "request_item", "state_changed", 1);

/// An approver was asked to approve a step of a request item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequested {
    pub approval_id: Uuid,
    pub request_item_id: Uuid,
    pub step: i32,
    pub approver_id: Uuid,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}
event!(ApprovalRequested, "approval", "requested", 1);

/// An approver (or their delegate) decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecided {
    pub approval_id: Uuid,
    pub request_item_id: Uuid,
    pub step: i32,
    /// `approved` or `rejected`.
    pub decision: String,
    pub decided_by: Uuid,
    pub on_behalf_of: Option<Uuid>,
}
event!(ApprovalDecided, "approval", "decided", 1);

/// A pending approval is due a reminder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalReminderDue {
    pub approval_id: Uuid,
    pub request_item_id: Uuid,
    pub approver_id: Uuid,
}
event!(ApprovalReminderDue, "approval", "reminder_due", 1);

/// A pending approval expired; its request item is rejected (`approval_expired`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalExpired {
    pub approval_id: Uuid,
    pub request_item_id: Uuid,
    pub approver_id: Uuid,
}
event!(ApprovalExpired, "approval", "expired", 1);

/// An approver let someone decide for them between `starts_at` and `ends_at` (one level: the
/// delegate's own delegations do not pass on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDelegationCreated {
    pub delegation_id: Uuid,
    pub delegator_id: Uuid,
    pub delegate_id: Uuid,
    pub starts_at: chrono::DateTime<chrono::Utc>,
    pub ends_at: chrono::DateTime<chrono::Utc>,
}
event!(
    ApprovalDelegationCreated,
    "approval_delegation",
    "created",
    1
);

/// An approver withdrew a delegation; it is no longer in force from `ends_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDelegationRevoked {
    pub delegation_id: Uuid,
    pub delegator_id: Uuid,
    pub delegate_id: Uuid,
    pub ends_at: chrono::DateTime<chrono::Utc>,
}
event!(
    ApprovalDelegationRevoked,
    "approval_delegation",
    "revoked",
    1
);

/// A fulfilment task was opened for a stage of a request item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FulfilmentTaskCreated {
    pub task_id: Uuid,
    pub number: String,
    pub request_item_id: Uuid,
    pub stage: i32,
    pub name: String,
    pub group_id: Uuid,
}
event!(FulfilmentTaskCreated, "fulfilment_task", "created", 1);

/// A fulfilment task moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FulfilmentTaskStateChanged {
    pub task_id: Uuid,
    pub request_item_id: Uuid,
    pub from: String,
    pub to: String,
}
event!(
    FulfilmentTaskStateChanged,
    "fulfilment_task",
    "state_changed",
    1
);

/// A knowledge article version was published (superseding the one published before, if any).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticlePublished {
    pub article_id: Uuid,
    /// Per-tenant number, e.g. `KB0001001`.
    pub number: String,
    pub version: i32,
    pub title: String,
    /// `requesters` or `agents`.
    pub audience: String,
    pub share_with_customers: bool,
    pub published_by: Uuid,
    /// The version this one replaced, if one was published.
    pub supersedes_version: Option<i32>,
}
event!(ArticlePublished, "article", "published", 1);

/// A knowledge article was withdrawn: no version of it is published any more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleRetired {
    pub article_id: Uuid,
    pub number: String,
    pub version: i32,
    pub retired_by: Uuid,
}
event!(ArticleRetired, "article", "retired", 1);

/// The knowledge suggested to a requester answered them: they marked an article solved, or
/// raised no request or incident within the deflection window after viewing one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestionDeflected {
    pub session_id: Uuid,
    pub user_id: Uuid,
    /// The article credited: the one marked solved, else the last one viewed.
    pub article_id: Option<Uuid>,
    /// `solved` or `no_ticket_in_window`.
    pub reason: String,
}
event!(SuggestionDeflected, "suggestion", "deflected", 1);

/// A configuration item was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiCreated {
    pub ci_id: Uuid,
    pub name: String,
    pub class: String,
    pub class_path: String,
    pub status: String,
    pub service_id: Option<Uuid>,
}
event!(CiCreated, "ci", "created", 1);

/// A configuration item changed; `changed` names the fields that did (`name`, `status`,
/// `attributes.<name>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiUpdated {
    pub ci_id: Uuid,
    pub name: String,
    pub class_path: String,
    pub status: String,
    pub changed: Vec<String>,
}
event!(CiUpdated, "ci", "updated", 1);

/// A configuration item was retired: it stays, and still counts for impact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiRetired {
    pub ci_id: Uuid,
    pub class_path: String,
}
event!(CiRetired, "ci", "retired", 1);

/// Two configuration items were related (`source_id` `type` `target_id`, forward).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiRelationshipCreated {
    pub relationship_id: Uuid,
    pub source_id: Uuid,
    #[serde(rename = "type")]
    pub rel_type: String,
    pub target_id: Uuid,
}
event!(CiRelationshipCreated, "ci_relationship", "created", 1);

/// A provider's CI is shared with exactly `tenant_ids` now (empty: no longer shared).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiGrantChanged {
    pub ci_id: Uuid,
    pub class_path: String,
    pub tenant_ids: Vec<Uuid>,
    pub version: i64,
}
event!(CiGrantChanged, "ci_grant", "changed", 1);

/// A CMDB import finished: how its rows ended (the four counts sum to `rows_total`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiImportCompleted {
    pub import_id: Uuid,
    pub source: String,
    /// `completed` or `failed`.
    pub status: String,
    pub rows_total: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub failed: i64,
}
event!(CiImportCompleted, "ci_import", "completed", 1);

/// A relationship between two configuration items was removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiRelationshipDeleted {
    pub relationship_id: Uuid,
    pub source_id: Uuid,
    #[serde(rename = "type")]
    pub rel_type: String,
    pub target_id: Uuid,
}
event!(CiRelationshipDeleted, "ci_relationship", "deleted", 1);
