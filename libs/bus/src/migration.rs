//! Migrations for the bus tables, run by each service's migrator.
use platform::tenancy::{enforce_rls, path_predicate, rls_ddl, tenant_predicate};
use sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

/// The outbox: one row per event, written in the producer's transaction. On PostgreSQL it is
/// under row-level security like every tenant table; the relay reads across tenants by
/// declaring `app.outbox_relay` (and nothing else may). No trigger notifies relays: PostgreSQL
/// serialises the commits of notifying transactions (about 900/s on a small machine), so
/// relays are woken in-process and poll (see `relay`).
pub async fn create_outbox(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table("outbox")
            .if_not_exists()
            .col(pk_uuid("id"))
            .col(uuid("tenant_id"))
            .col(string_len("routing_key", 255))
            .col(text("envelope"))
            .col(timestamp_with_time_zone("created_at"))
            .col(timestamp_with_time_zone_null("sent_at"))
            .take(),
    )
    .await?;
    // Partial: only pending rows, in claim order, so claiming stays cheap however long the
    // history of sent rows and however large the backlog (both engines support it).
    m.get_connection()
        .execute_unprepared(
            "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (created_at) WHERE sent_at IS NULL",
        )
        .await?;
    if m.get_database_backend() == DbBackend::Postgres {
        let db = m.get_connection();
        let predicate = format!(
            "{} OR current_setting('app.outbox_relay', true) = 'on'",
            tenant_predicate("tenant_id")
        );
        let mut ddl = rls_ddl("outbox", &predicate);
        // A queue-like table: vacuum and analyze it often, not after 20 % of it changed.
        ddl.push(
            "ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0.01, \
             autovacuum_analyze_scale_factor = 0.01)"
                .into(),
        );
        for sql in ddl {
            db.execute_unprepared(&sql).await?;
        }
    }
    Ok(())
}

/// The inbox (processed event ids per consumer) and the in-process dead letters.
pub async fn create_inbox(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table("inbox")
            .if_not_exists()
            .col(string_len("consumer", 64))
            .col(uuid("event_id"))
            .col(timestamp_with_time_zone("processed_at"))
            .primary_key(Index::create().col("consumer").col("event_id"))
            .take(),
    )
    .await?;
    m.create_table(
        Table::create()
            .table("dead_letters")
            .if_not_exists()
            .col(pk_uuid("id"))
            .col(string_len("consumer", 64))
            .col(string_len("routing_key", 255))
            .col(string_len_null("sender", 64))
            .col(text("body"))
            .col(text("error"))
            .col(timestamp_with_time_zone("created_at"))
            .col(timestamp_with_time_zone_null("replayed_at"))
            .take(),
    )
    .await?;
    Ok(())
}

/// Adds `dead_letters.sender` (the producing service, checked again on replay) to a table
/// created before it existed. Dead letters recorded earlier have no sender and are not replayed.
pub async fn add_dead_letter_sender(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    if m.has_column("dead_letters", "sender").await? {
        return Ok(());
    }
    m.alter_table(
        Table::alter()
            .table("dead_letters")
            .add_column(string_len_null("sender", 64))
            .take(),
    )
    .await
}

/// The tenant-directory projection. Rows are visible like identity's `tenants`: to a
/// transaction scoped to any tenant on the row's path.
pub async fn create_tenant_directory(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table("tenant_directory")
            .if_not_exists()
            .col(pk_uuid("id"))
            .col(uuid_null("parent_id"))
            .col(text("path"))
            .col(string_len("kind", 16))
            .col(string_len_uniq("slug", 63))
            .col(string_len("status", 16))
            .col(json("settings"))
            .col(big_integer("version"))
            .take(),
    )
    .await?;
    enforce_rls(
        m.get_connection(),
        &["tenant_directory"],
        &path_predicate("path"),
    )
    .await?;
    Ok(())
}

/// The people projection (`people`): identity's users and groups, each row visible to its own
/// tenant only.
pub async fn create_people(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table("directory_users")
            .if_not_exists()
            .col(pk_uuid("id"))
            .col(uuid("tenant_id"))
            .col(string_len("display_name", 200))
            .col(string_len("status", 16))
            .col(uuid_null("manager_id"))
            .col(big_integer("version"))
            .take(),
    )
    .await?;
    m.create_table(
        Table::create()
            .table("directory_groups")
            .if_not_exists()
            .col(pk_uuid("id"))
            .col(uuid("tenant_id"))
            .col(string_len("name", 200))
            .col(json("members"))
            .col(big_integer("version"))
            .take(),
    )
    .await?;
    enforce_rls(
        m.get_connection(),
        &["directory_users", "directory_groups"],
        &tenant_predicate("tenant_id"),
    )
    .await
}

/// Adds each user's line manager to the people projection (`directory_users.manager_id`), from
/// identity's `user.manager_changed` events, where [`create_people`] made the table before it
/// had the column.
pub async fn add_user_manager(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    if m.has_column("directory_users", "manager_id").await? {
        return Ok(());
    }
    m.alter_table(
        Table::alter()
            .table("directory_users")
            .add_column(uuid_null("manager_id"))
            .take(),
    )
    .await
}

/// Migrations of a service that keeps the tenant-directory projection (inbox, dead letters and
/// `tenant_directory`). Consuming services list these among their own migrations.
pub struct DirectoryMigrator;

struct M0001ConsumerTables;

impl MigrationName for M0001ConsumerTables {
    fn name(&self) -> &str {
        "m20261125_000001_bus_consumer_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0001ConsumerTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_inbox(m).await?;
        create_tenant_directory(m).await
    }
}

struct M0002DeadLetterSender;

impl MigrationName for M0002DeadLetterSender {
    fn name(&self) -> &str {
        "m20261125_000002_bus_dead_letter_sender"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002DeadLetterSender {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_dead_letter_sender(m).await
    }
}

#[async_trait::async_trait]
impl MigratorTrait for DirectoryMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001ConsumerTables),
            Box::new(M0002DeadLetterSender),
        ]
    }
}

/// The CMDB projection (`cmdb`): the catalogue's CIs, one row per tenant that sees each
/// (its owner and every grantee), and its relationships, walked from either end.
pub async fn create_cmdb_projection(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table("cmdb_cis")
            .if_not_exists()
            .col(uuid("ci_id"))
            .col(uuid("tenant_id"))
            .col(uuid("owner_id"))
            .col(string_len("name", 200))
            .col(string_len("class_path", 512))
            .col(string_len("status", 16))
            .col(json("grantees"))
            .col(big_integer("version"))
            .col(uuid_null("service_id"))
            .primary_key(Index::create().col("ci_id").col("tenant_id"))
            .take(),
    )
    .await?;
    m.create_table(
        Table::create()
            .table("cmdb_relationships")
            .if_not_exists()
            .col(pk_uuid("id"))
            .col(uuid("tenant_id"))
            .col(uuid("source_id"))
            .col(string_len("type", 24))
            .col(uuid("target_id"))
            // A deletion that arrives before its creation leaves the edge deleted.
            .col(boolean("deleted"))
            .col(big_integer("version"))
            .take(),
    )
    .await?;
    create_indexes(
        m,
        &[
            (
                "cmdb_relationships_target",
                "cmdb_relationships",
                &["tenant_id", "target_id", "type"],
                false,
            ),
            (
                "cmdb_relationships_source",
                "cmdb_relationships",
                &["tenant_id", "source_id", "type"],
                false,
            ),
        ],
    )
    .await?;
    enforce_rls(
        m.get_connection(),
        &["cmdb_cis", "cmdb_relationships"],
        &tenant_predicate("tenant_id"),
    )
    .await
}

/// Indexes `cmdb_relationships` by CI first: `(source_id, tenant_id, type[, target_id])`
/// (unique with `target_id` where `unique_edges`) and `(target_id, tenant_id, type)`, then
/// drops the indexes named in `replaced`.
///
/// A walk looks a CI's edges up by `source_id = ci` or `target_id = ci` within the tenant.
/// With indexes led by `tenant_id`, statistics that lag a bulk import (the tenant "has one
/// row") made the planner's costs tie, and it took the other direction's index for the
/// tenant alone, filtering all the tenant's relationships per CI (100-300 ms per walk of
/// 30,000 relationships). Led by the CI, only the right index fits a lookup.
pub async fn index_cmdb_relationships_by_ci(
    m: &SchemaManager<'_>,
    unique_edges: bool,
    replaced: &[&str],
) -> Result<(), DbErr> {
    let by_source: &'static [&'static str] = if unique_edges {
        &["source_id", "tenant_id", "type", "target_id"]
    } else {
        &["source_id", "tenant_id", "type"]
    };
    create_indexes(
        m,
        &[
            (
                "cmdb_relationships_by_source",
                "cmdb_relationships",
                by_source,
                unique_edges,
            ),
            (
                "cmdb_relationships_by_target",
                "cmdb_relationships",
                &["target_id", "tenant_id", "type"],
                false,
            ),
        ],
    )
    .await?;
    for name in replaced {
        m.get_connection()
            .execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
            .await?;
    }
    Ok(())
}

/// Creates each `(name, table, columns, unique)` index unless it exists.
pub async fn create_indexes(
    m: &SchemaManager<'_>,
    indexes: &[(&'static str, &'static str, &'static [&'static str], bool)],
) -> Result<(), DbErr> {
    for (name, table, cols, unique) in indexes {
        let mut index = Index::create();
        index.name(*name).table(*table).if_not_exists();
        if *unique {
            index.unique();
        }
        for col in *cols {
            index.col(*col);
        }
        m.create_index(index.take()).await?;
    }
    Ok(())
}

/// The portfolio projection (`portfolio`): the catalogue's services, per tenant.
pub async fn create_portfolio_projection(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table("portfolio_services")
            .if_not_exists()
            .col(pk_uuid("id"))
            .col(uuid("tenant_id"))
            .col(string_len("name", 200))
            .col(string_len("stage", 16))
            .col(big_integer("version"))
            .take(),
    )
    .await?;
    enforce_rls(
        m.get_connection(),
        &["portfolio_services"],
        &tenant_predicate("tenant_id"),
    )
    .await
}
