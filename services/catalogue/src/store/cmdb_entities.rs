//! Entities of the CMDB's sharing, rules, identities and imports.

/// A provider's CI shared with a customer (`tenant_id`, the grantee).
pub mod ci_grant {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cmdb_ci_grants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub ci_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        pub owner_id: Uuid,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A tenant's own rule allowing a relationship between classes.
pub mod rel_rule {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cmdb_relationship_rules")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub source_class: String,
        #[sea_orm(column_name = "type")]
        pub rel_type: String,
        pub target_class: String,
        pub max_targets: Option<i32>,
        pub max_sources: Option<i32>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Which sources may set an attribute of a class, highest first, and when a value goes stale.
pub mod recon_rule {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cmdb_reconciliation_rules")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub class: String,
        /// An attribute's name, or `*` for the class's others.
        pub attribute: String,
        /// Source names, highest first.
        pub precedence: Json,
        pub stale_after_days: Option<i32>,
        pub version: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    platform::versioned_record!();
}

/// One identification rule a CI satisfies, with its normalised value.
pub mod ci_identity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cmdb_ci_identities")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub class_root: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub rule: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub value: String,
        pub ci_id: Uuid,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A CMDB import: its file, options and counts.
pub mod cmdb_import {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cmdb_imports")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub source: String,
        pub format: String,
        pub mode: String,
        pub empty_values: String,
        pub status: String,
        pub rows_total: i64,
        pub rows_done: i64,
        pub created: i64,
        pub updated: i64,
        pub unchanged: i64,
        pub failed: i64,
        pub skipped_attributes: i64,
        pub payload: String,
        pub created_by: Option<Uuid>,
        pub created_at: DateTimeUtc,
        pub started_at: Option<DateTimeUtc>,
        pub finished_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A row an import could not take: its file line, field and why.
pub mod cmdb_import_error {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cmdb_import_errors")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub import_id: Uuid,
        pub row: i64,
        pub field: String,
        pub message: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
