//! The change service's schema (SQLite and PostgreSQL), with forced RLS on PostgreSQL.
use platform::tenancy::{enforce_rls, tenant_predicate};
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Changes),
            Box::new(M0002Windows),
            Box::new(M0003ChangeTimes),
        ]
    }
}

/// The bus tables, identity's and the catalogue's projections, and changes with their CIs.
struct M0001Changes;

impl MigrationName for M0001Changes {
    fn name(&self) -> &str {
        "m20261207_000001_changes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0001Changes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        bus::migration::create_outbox(m).await?;
        bus::migration::create_inbox(m).await?;
        bus::migration::add_dead_letter_sender(m).await?;
        bus::migration::create_tenant_directory(m).await?;
        bus::migration::create_people(m).await?;
        bus::migration::create_cmdb_projection(m).await?;
        m.create_table(
            Table::create()
                .table("change_counters")
                .if_not_exists()
                .col(pk_uuid("tenant_id"))
                .col(big_integer("next"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("changes")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("number", 16))
                .col(string_len("type", 16))
                .col(string_len("state", 16))
                .col(string_len("title", 200))
                .col(text("description"))
                .col(timestamp_with_time_zone_null("planned_start"))
                .col(timestamp_with_time_zone_null("planned_end"))
                .col(text("implementation_plan"))
                .col(text("backout_plan"))
                .col(text("test_plan"))
                .col(uuid_null("assignee_id"))
                .col(uuid("requested_by"))
                .col(string_len("risk", 16))
                .col(integer("approval_round"))
                .col(text_null("rejection_reason"))
                .col(string_len_null("close_code", 32))
                .col(integer("reschedules"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        // What a change touches, one row per CI: conflicts look up other changes by CI.
        m.create_table(
            Table::create()
                .table("change_cis")
                .if_not_exists()
                .col(uuid("change_id"))
                .col(uuid("ci_id"))
                .col(uuid("tenant_id"))
                .primary_key(Index::create().col("change_id").col("ci_id"))
                .take(),
        )
        .await?;
        bus::migration::create_indexes(
            m,
            &[
                (
                    "changes_tenant_number",
                    "changes",
                    &["tenant_id", "number"],
                    false,
                ),
                (
                    "changes_tenant_created",
                    "changes",
                    &["tenant_id", "created_at", "id"],
                    false,
                ),
                (
                    "change_cis_ci",
                    "change_cis",
                    &["tenant_id", "ci_id"],
                    false,
                ),
            ],
        )
        .await?;
        enforce_rls(
            m.get_connection(),
            &["changes", "change_counters", "change_cis"],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}

/// Blackout and maintenance windows; changes found by their planned windows.
struct M0002Windows;

impl MigrationName for M0002Windows {
    fn name(&self) -> &str {
        "m20261207_000002_windows"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002Windows {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("change_windows")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("kind", 16))
                .col(string_len("name", 200))
                .col(timestamp_with_time_zone("starts_at"))
                .col(timestamp_with_time_zone("ends_at"))
                .col(string_len("time_zone", 64))
                .col(text_null("rrule"))
                .col(json("ci_ids"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("change_windows_tenant")
                .table("change_windows")
                .if_not_exists()
                .col("tenant_id")
                .take(),
        )
        .await?;
        enforce_rls(
            m.get_connection(),
            &["change_windows"],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}

/// Changes found by when they end: a conflict check reads the changes overlapping a window.
struct M0003ChangeTimes;

impl MigrationName for M0003ChangeTimes {
    fn name(&self) -> &str {
        "m20261207_000003_change_times"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0003ChangeTimes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("changes_tenant_end")
                .table("changes")
                .if_not_exists()
                .col("tenant_id")
                .col("planned_end")
                .take(),
        )
        .await
    }
}
