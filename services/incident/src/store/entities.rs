//! SeaORM entities (see `migration/`).

pub mod incident {
    use crate::domain::{
        incident::Channel,
        lifecycle::{HoldReason, State},
    };
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "incidents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub number: String,
        pub title: String,
        pub description: String,
        pub caller_id: Option<Uuid>,
        pub impact: i16,
        pub urgency: i16,
        pub priority: i16,
        pub state: State,
        pub hold_reason: Option<HoldReason>,
        pub resolution_code: Option<String>,
        pub resolution_notes: Option<String>,
        pub created_by: Uuid,
        pub version: i64,
        pub assignment_group_id: Option<Uuid>,
        pub assignee_id: Option<Uuid>,
        pub category: Option<String>,
        pub subcategory: Option<String>,
        pub parent_id: Option<Uuid>,
        pub major: bool,
        pub priority_overridden: bool,
        pub service_id: Option<Uuid>,
        pub configuration_item_id: Option<Uuid>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// How it came in; `None` before channels were kept.
        pub channel: Option<Channel>,
        /// The earliest deadline of a running SLA clock (the `sla_due` queue order), or
        /// `domain::queue::no_sla_due()`.
        pub sla_due_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod comment {
    use crate::domain::incident::Visibility;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "incident_comments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub incident_id: Uuid,
        pub author_id: Uuid,
        pub visibility: Visibility,
        pub body: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    /// A new comment gets its id and creation time here.
    impl ActiveModelBehavior for ActiveModel {
        fn new() -> Self {
            Self {
                id: sea_orm::ActiveValue::Set(Uuid::now_v7()),
                created_at: sea_orm::ActiveValue::Set(crate::store::now()),
                ..<Self as sea_orm::ActiveModelTrait>::default()
            }
        }
    }
}

pub mod problem {
    use sea_orm::entity::prelude::*;

    /// Where a problem is: open until resolved. Stored as its name (`open`, `resolved`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
    pub enum State {
        #[sea_orm(string_value = "open")]
        Open,
        #[sea_orm(string_value = "resolved")]
        Resolved,
    }

    impl State {
        /// The name stored and shown.
        pub fn as_str(self) -> &'static str {
            match self {
                State::Open => "open",
                State::Resolved => "resolved",
            }
        }
    }

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "problems")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub number: String,
        pub title: String,
        pub description: String,
        pub root_cause: String,
        pub workaround: String,
        pub known_error: bool,
        pub state: State,
        pub resolution_notes: Option<String>,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

pub mod problem_incident {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "problem_incidents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub problem_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub incident_id: Uuid,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Which incidents were opened for which capacity threshold (analytics' forecasts): a
/// threshold gets a new incident only while none of its incidents is open.
pub mod capacity_incident {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "capacity_incidents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub threshold_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub incident_id: Uuid,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod sla_calendar {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "sla_calendars")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub name: String,
        pub is_default: bool,
        /// A `CalendarSpec` as JSON.
        pub spec: String,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

pub mod sla_definition {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "sla_definitions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub name: String,
        /// `incident` or `request_item` (`domain::sla::Subject`).
        pub applies_to: String,
        pub kind: String,
        pub target_seconds: i64,
        pub calendar_id: Option<Uuid>,
        /// `Rules` as JSON.
        pub rules: String,
        pub active: bool,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

pub mod sla_calendar_snapshot {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "sla_calendar_snapshots")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub digest: String,
        pub spec: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod sla_clock {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "sla_clocks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        /// The incident's or request item's id (see `subject`).
        pub subject_id: Uuid,
        /// `incident` or `request_item` (`domain::sla::Subject`).
        pub subject: String,
        pub definition_id: Uuid,
        pub name: String,
        pub kind: String,
        pub target_seconds: i64,
        pub calendar_digest: String,
        /// The definition's `Rules` as JSON, pinned when the clock was created.
        pub rules: String,
        pub status: String,
        pub elapsed_seconds: i64,
        pub since: DateTimeUtc,
        pub reached: i16,
        pub due_at: Option<DateTimeUtc>,
        pub next_fire_at: Option<DateTimeUtc>,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod sla_clock_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "sla_clock_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub clock_id: Uuid,
        pub at: DateTimeUtc,
        /// A `Mark` as JSON.
        pub mark: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A claimed `Idempotency-Key` and the response it produced.
pub mod idempotency_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub principal_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub request_hash: String,
        pub status: i16,
        pub body: String,
        pub location: Option<String>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The catalogue's request items as their SLA clocks need them: the state each was last seen
/// in (a clock moves on the change from it) and the version of that event.
pub mod sla_request_item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "sla_request_items")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        /// `RITM0001001`.
        pub number: String,
        pub state: String,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
