//! The change service's tables.

/// A change: what it does, when, to which CIs (`change_ci`), and where it is in its lifecycle.
pub mod change {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "changes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        /// Per-tenant number, e.g. `CHG0001001`.
        pub number: String,
        /// `standard`, `normal` or `emergency` (`domain::lifecycle::ChangeType`).
        #[sea_orm(column_name = "type")]
        pub change_type: String,
        /// `domain::lifecycle::State`, by name.
        pub state: String,
        pub title: String,
        pub description: String,
        pub planned_start: Option<DateTimeUtc>,
        pub planned_end: Option<DateTimeUtc>,
        pub implementation_plan: String,
        pub backout_plan: String,
        pub test_plan: String,
        pub assignee_id: Option<Uuid>,
        pub requested_by: Uuid,
        /// `low`, `moderate`, `high` or `very_high`.
        pub risk: String,
        /// Starts at 1; each rejection starts another.
        pub approval_round: i32,
        pub rejection_reason: Option<String>,
        pub close_code: Option<String>,
        /// How often its window moved once it was set (an ICS event's `SEQUENCE`).
        pub reschedules: i32,
        /// Answers to the risk questionnaire, by question key.
        pub risk_answers: Option<Json>,
        /// The template version it was made from.
        pub template_id: Option<Uuid>,
        pub template_version: Option<i32>,
        /// `domain::template::Review`, once written.
        pub review: Option<Json>,
        /// When it was announced overdue (once).
        pub overdue_at: Option<DateTimeUtc>,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// One CI a change affects.
pub mod change_ci {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_cis")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub change_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub ci_id: Uuid,
        pub tenant_id: Uuid,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A blackout or maintenance window of a tenant (its customers inherit a provider's).
pub mod change_window {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_windows")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        /// `blackout` or `maintenance`.
        pub kind: String,
        pub name: String,
        /// The first occurrence.
        pub starts_at: DateTimeUtc,
        pub ends_at: DateTimeUtc,
        /// IANA zone its repetitions keep their wall-clock times in.
        pub time_zone: String,
        pub rrule: Option<String>,
        /// The CIs it applies to; empty: every CI.
        pub ci_ids: Json,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// A tenant's risk rules and questionnaire; a customer without its own inherits its nearest
/// provider's.
pub mod risk_settings {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_risk_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// One row per tenant.
        pub tenant_id: Uuid,
        /// `[domain::risk::Rule]`, by order, if the tenant set its own (an empty list opts
        /// out of a provider's).
        pub rules: Option<Json>,
        /// `domain::risk::Questionnaire`, if the tenant has one.
        pub questionnaire: Option<Json>,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// Which changes a CAB decides, and its stages.
pub mod approval_policy {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_approval_policies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub name: String,
        /// The change types it applies to.
        pub change_types: Json,
        /// The risks it applies to; empty: every risk.
        pub risks: Json,
        /// Lower first, when several apply.
        pub priority: i32,
        /// `[domain::cab::Stage]`.
        pub stages: Json,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// One approval round of a change: the policy's stages as they were when it began.
pub mod approval_round {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_approval_rounds")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub change_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub round: i32,
        pub tenant_id: Uuid,
        pub policy_id: Uuid,
        pub policy_name: String,
        /// `[domain::cab::Stage]`, copied from the policy.
        pub stages: Json,
        /// `pending`, `approved` or `rejected`.
        pub state: String,
        pub started_at: DateTimeUtc,
        pub decided_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One vote: never updated or deleted.
pub mod vote {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_votes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub change_id: Uuid,
        pub round: i32,
        /// The stage's index in the round's stages.
        pub stage: i32,
        pub voter_id: Uuid,
        pub on_behalf_of: Option<Uuid>,
        /// `approve`, `reject` or `abstain`.
        pub decision: String,
        pub reason: String,
        pub cast_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A calendar subscription: its token, shown once, is kept only as a hash.
pub mod calendar_feed {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_calendar_feeds")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub name: String,
        /// SHA-256 of the token, hex.
        pub token_hash: String,
        pub created_by: Uuid,
        pub created_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One version of a change template.
pub mod change_template {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_templates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub slug: String,
        /// 1, 2, …: publishing the slug again makes the next.
        pub template_version: i32,
        /// `domain::template::TemplateState`, by name.
        pub state: String,
        /// `standard`, `normal` or `emergency`.
        #[sea_orm(column_name = "type")]
        pub change_type: String,
        pub title: String,
        pub description: String,
        pub affected_ci_ids: Json,
        pub implementation_plan: String,
        pub backout_plan: String,
        pub test_plan: String,
        /// Why it was last suspended.
        pub suspended_reason: Option<String>,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// An incident a change caused.
pub mod caused_incident {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_caused_incidents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub change_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub incident_id: Uuid,
        pub tenant_id: Uuid,
        pub linked_by: Uuid,
        pub linked_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The incidents the incident service announced (projected from its events), so a change
/// names only incidents of its tenant.
pub mod known_incident {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_known_incidents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub number: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Work a change's workers owe it: re-checking its conflicts, announcing it overdue.
pub mod change_timer {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_timers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub change_id: Uuid,
        /// `conflicts` or `overdue`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        pub tenant_id: Uuid,
        pub due_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The conflicts a change had when last checked, to announce only when they change.
pub mod conflict_set {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_conflict_sets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub change_id: Uuid,
        pub tenant_id: Uuid,
        /// SHA-256 of the conflicts' JSON, sorted.
        pub fingerprint: String,
        pub conflict_count: i32,
        pub checked_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An approver's stand-in for a period, as the catalogue announced it.
pub mod delegation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_delegations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub delegator_id: Uuid,
        pub delegate_id: Uuid,
        pub starts_at: DateTimeUtc,
        pub ends_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
