//! The CMDB: tenants' own classes (the built-in ones live in code), configuration items, the
//! history every change to a CI appends (always on), and the relationships between CIs.
use platform::tenancy::{enforce_rls, tenant_predicate};
use sea_orm_migration::{prelude::*, schema::*};

pub struct M0009Cmdb;

impl MigrationName for M0009Cmdb {
    fn name(&self) -> &str {
        "m20261206_000009_cmdb"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0009Cmdb {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("cmdb_classes")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("key", 48))
                .col(string_len("name", 120))
                .col(string_len_null("parent", 48))
                // Root first, keys joined by `/`: `server/linux_server`.
                .col(string_len("path", 512))
                .col(json("attribute_schema"))
                .col(json("identification_rules"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("cmdb_cis")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("class", 48))
                .col(string_len("class_path", 512))
                .col(string_len("name", 200))
                .col(string_len("status", 16))
                .col(uuid_null("service_id"))
                .col(json("attributes"))
                .col(json("attribute_sources"))
                .col(boolean("shared"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        // One row per changed field; ids are time-ordered, so a CI's history reads in order.
        m.create_table(
            Table::create()
                .table("cmdb_ci_history")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("ci_id"))
                .col(timestamp_with_time_zone("at"))
                .col(uuid_null("actor_id"))
                .col(string_len("source", 64))
                .col(uuid_null("import_id"))
                .col(string_len("field", 120))
                .col(json_null("old"))
                .col(json_null("new"))
                .take(),
        )
        .await?;
        // Stored in the forward direction of its type (`app runs_on web-01`).
        m.create_table(
            Table::create()
                .table("cmdb_relationships")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("source_id"))
                .col(string_len("type", 24))
                .col(uuid("target_id"))
                .col(string_len("source", 64))
                .col(uuid_null("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        bus::migration::create_indexes(
            m,
            &[
                (
                    "cmdb_classes_key",
                    "cmdb_classes",
                    &["tenant_id", "key"][..],
                    true,
                ),
                (
                    "cmdb_cis_class",
                    "cmdb_cis",
                    &["tenant_id", "class_path", "id"][..],
                    false,
                ),
                (
                    "cmdb_cis_name",
                    "cmdb_cis",
                    &["tenant_id", "name"][..],
                    false,
                ),
                (
                    "cmdb_relationships_edge",
                    "cmdb_relationships",
                    &["tenant_id", "source_id", "type", "target_id"][..],
                    true,
                ),
                (
                    "cmdb_relationships_target",
                    "cmdb_relationships",
                    &["tenant_id", "target_id", "type"][..],
                    false,
                ),
                (
                    "cmdb_ci_history_ci",
                    "cmdb_ci_history",
                    &["tenant_id", "ci_id", "id"][..],
                    false,
                ),
            ],
        )
        .await?;
        enforce_rls(
            m.get_connection(),
            &[
                "cmdb_classes",
                "cmdb_cis",
                "cmdb_ci_history",
                "cmdb_relationships",
            ],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}
