//! SeaORM entities (see `migration.rs`).

/// A service of a tenant's portfolio.
pub mod service {
    use sea_orm::entity::prelude::*;

    use crate::domain::portfolio::Stage;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "services")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub name: String,
        pub description: String,
        pub owner_id: Option<Uuid>,
        pub manager_id: Option<Uuid>,
        pub support_group_id: Option<Uuid>,
        pub stage: Stage,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// A service's move from one stage to another: who, when and why.
pub mod stage_change {
    use sea_orm::entity::prelude::*;

    use crate::domain::portfolio::Stage;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "service_stage_changes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub service_id: Uuid,
        pub from_stage: Stage,
        pub to_stage: Stage,
        pub rationale: String,
        pub actor_id: Uuid,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An offering of a service.
pub mod offering {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "offerings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub service_id: Uuid,
        pub name: String,
        pub description: String,
        pub support_group_id: Option<Uuid>,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// A category of the catalogue, in its tenant's tree.
pub mod category {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "categories")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub parent_id: Option<Uuid>,
        pub name: String,
        pub description: String,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// A catalogue item: what a requester orders, on a form.
pub mod item {
    use sea_orm::entity::prelude::*;

    use crate::domain::item::ItemState;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "items")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub key: String,
        pub name: String,
        pub description: String,
        pub service_id: Uuid,
        pub offering_id: Option<Uuid>,
        pub category_id: Option<Uuid>,
        pub state: ItemState,
        pub form_schema: Json,
        pub price_amount: Option<String>,
        pub currency: Option<String>,
        pub cost_amount: Option<String>,
        pub max_quantity: i32,
        pub availability: Json,
        pub approval_policy: Option<Json>,
        pub fulfilment_plan: Json,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// A tenant's override of an item it inherits from a provider above it.
pub mod item_override {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "item_overrides")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub item_id: Uuid,
        pub hidden: Option<bool>,
        pub name: Option<String>,
        pub approval_policy: Option<Json>,
        pub price_amount: Option<String>,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// A request: what one requester ordered at once.
pub mod request {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub number: String,
        pub requester_id: Uuid,
        /// `open` until every item of it is closed.
        pub state: String,
        pub suggestion_session_id: Option<Uuid>,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// A request item (RITM): one catalogue item ordered, with what it was ordered on pinned.
pub mod request_item {
    use sea_orm::entity::prelude::*;

    use crate::domain::request::{ApprovalState, RitmState};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "request_items")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub request_id: Uuid,
        pub number: String,
        pub requester_id: Uuid,
        pub item_id: Uuid,
        pub item_tenant_id: Uuid,
        pub item_version: i64,
        pub service_id: Uuid,
        pub name: String,
        pub quantity: i32,
        pub variables: Json,
        pub approval_policy: Option<Json>,
        pub fulfilment_plan: Json,
        pub price_amount: Option<String>,
        pub currency: Option<String>,
        pub state: RitmState,
        pub approval_state: ApprovalState,
        pub approval_step: i32,
        pub fulfilment_stage: i32,
        pub close_reason: Option<String>,
        /// Where the item stands against its SLA (`pending`, `on_track`, `at_risk`, `paused`,
        /// `breached`, `met`, `canceled`), as the incident service's SLA engine announced it;
        /// None while no clock runs for it.
        pub sla_state: Option<String>,
        pub sla_due_at: Option<DateTimeUtc>,
        /// The version of the announcement `sla_state` comes from.
        pub sla_version: i64,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// One approver's vote on one step of a request item's approval.
pub mod approval {
    use sea_orm::entity::prelude::*;

    use crate::domain::request::VoteState;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "approvals")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub request_item_id: Uuid,
        pub step: i32,
        pub approver_id: Uuid,
        pub state: VoteState,
        pub decided_by: Option<Uuid>,
        pub on_behalf_of: Option<Uuid>,
        pub comment: Option<String>,
        pub decided_at: Option<DateTimeUtc>,
        pub remind_at: DateTimeUtc,
        pub reminded_at: Option<DateTimeUtc>,
        pub expires_at: DateTimeUtc,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// A fulfilment task of a request item's stage.
pub mod fulfilment_task {
    use sea_orm::entity::prelude::*;

    use crate::domain::request::TaskState;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "fulfilment_tasks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub request_item_id: Uuid,
        pub number: String,
        pub stage: i32,
        pub name: String,
        pub group_id: Uuid,
        pub state: TaskState,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// An approver's stand-in for a period.
pub mod delegation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "approval_delegations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub delegator_id: Uuid,
        pub delegate_id: Uuid,
        pub starts_at: DateTimeUtc,
        pub ends_at: DateTimeUtc,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// One version of a knowledge article.
pub mod article {
    use sea_orm::entity::prelude::*;

    use crate::domain::article::{ArticleState, Audience};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "knowledge_articles")]
    pub struct Model {
        /// The version's own id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        /// The article's id, shared by its versions.
        pub article_id: Uuid,
        pub number: String,
        pub article_version: i32,
        /// Whether this is the article's newest version.
        pub newest: bool,
        pub state: ArticleState,
        pub title: String,
        pub body: String,
        pub audience: Audience,
        pub share_with_customers: bool,
        /// Who wrote or edited this version (`[uuid]`).
        pub contributor_ids: Json,
        pub author_id: Uuid,
        pub published_by: Option<Uuid>,
        pub published_at: Option<DateTimeUtc>,
        pub retired_at: Option<DateTimeUtc>,
        /// The row's revision (its `ETag`).
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// An article version linked to an incident or problem.
pub mod article_link {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "knowledge_links")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub article_id: Uuid,
        pub article_tenant_id: Uuid,
        pub article_version: i32,
        pub target_type: String,
        pub target_id: Uuid,
        pub created_by: Uuid,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The articles suggested to one requester for one text, and what became of it.
pub mod suggestion_session {
    use sea_orm::entity::prelude::*;

    use crate::domain::deflection::Outcome;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "knowledge_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub user_id: Uuid,
        pub context: String,
        pub text: String,
        /// The articles suggested (`[uuid]`).
        pub article_ids: Json,
        pub window_minutes: i32,
        pub first_viewed_at: Option<DateTimeUtc>,
        pub last_viewed_article_id: Option<Uuid>,
        pub solved_article_id: Option<Uuid>,
        pub solved_at: Option<DateTimeUtc>,
        pub outcome: Outcome,
        pub deflected_article_id: Option<Uuid>,
        pub decided_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A suggested article a requester opened.
pub mod suggestion_view {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "knowledge_views")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub session_id: Uuid,
        pub article_id: Uuid,
        pub solved: bool,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A request or incident a user raised (the request's or incident's id).
pub mod raised {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "knowledge_raised")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub user_id: Uuid,
        /// `request` or `incident`.
        pub kind: String,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A tenant's own CMDB class (the built-in ones live in code: `domain::cmdb::built_in`).
pub mod cmdb_class {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cmdb_classes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub key: String,
        pub name: String,
        pub parent: Option<String>,
        pub path: String,
        /// The attributes it adds to its parent's.
        pub attribute_schema: Json,
        pub identification_rules: Json,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// A configuration item.
pub mod ci {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cmdb_cis")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub class: String,
        pub class_path: String,
        pub name: String,
        pub status: String,
        pub service_id: Option<Uuid>,
        pub attributes: Json,
        /// `{attribute: {source, updated_at}}`.
        pub attribute_sources: Json,
        pub shared: bool,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// One changed field of a CI: who, when, from which source, old and new.
pub mod ci_history {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cmdb_ci_history")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub ci_id: Uuid,
        pub at: DateTimeUtc,
        pub actor_id: Option<Uuid>,
        pub source: String,
        pub import_id: Option<Uuid>,
        pub field: String,
        pub old: Option<Json>,
        pub new: Option<Json>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A relationship between two CIs, in its type's forward direction.
pub mod ci_relationship {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cmdb_relationships")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub source_id: Uuid,
        #[sea_orm(column_name = "type")]
        pub rel_type: String,
        pub target_id: Uuid,
        /// `manual` for the API, else the import's source.
        pub source: String,
        pub created_by: Option<Uuid>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
