//! The analytics service's schema (SQLite and PostgreSQL), with forced RLS on PostgreSQL.
use platform::tenancy::{enforce_rls, tenant_predicate};
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001EventStore),
            Box::new(M0002Figures),
            Box::new(M0003ShadowFigures),
            Box::new(M0004TicketsByTenant),
            Box::new(M0005Improvements),
        ]
    }
}

/// The bus tables (the outbox for the improvement and capacity events to come), identity's
/// projection, and the event store.
struct M0001EventStore;

impl MigrationName for M0001EventStore {
    fn name(&self) -> &str {
        "m20261207_000001_event_store"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0001EventStore {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        bus::migration::create_outbox(m).await?;
        bus::migration::create_inbox(m).await?;
        bus::migration::add_dead_letter_sender(m).await?;
        bus::migration::create_tenant_directory(m).await?;
        bus::migration::create_people(m).await?;
        // Every event once, in arrival order (`seq`): what rebuilds replay. The envelope's
        // fields are columns; `data` is its payload as the producer wrote it.
        m.create_table(
            Table::create()
                .table("analytics_events")
                .if_not_exists()
                .col(big_pk_auto("seq"))
                .col(uuid_uniq("id"))
                .col(uuid("tenant_id"))
                .col(string_len("event_type", 120))
                .col(string_len("source", 60))
                .col(string_len("subject", 120))
                .col(big_integer("aggregate_version"))
                .col(timestamp_with_time_zone("time"))
                .col(timestamp_with_time_zone("applied_at"))
                .col(json("data"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("analytics_events_tenant_seq")
                .table("analytics_events")
                .col("tenant_id")
                .col("seq")
                .take(),
        )
        .await?;
        enforce_rls(
            m.get_connection(),
            &["analytics_events"],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}

/// The figures: each ticket's facts, per-day counts and histograms, open incidents by hour.
/// Every key leads with the tenant, and every query names its tenants.
struct M0002Figures;

impl MigrationName for M0002Figures {
    fn name(&self) -> &str {
        "m20261207_000002_figures"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002Figures {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_figure_tables(m, "").await
    }
}

/// The shadow figure tables a rebuild replays into beside the live ones (`*_shadow`, the same
/// columns, keys and RLS).
struct M0003ShadowFigures;

impl MigrationName for M0003ShadowFigures {
    fn name(&self) -> &str {
        "m20261207_000003_shadow_figures"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0003ShadowFigures {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_figure_tables(m, "_shadow").await
    }
}

/// Tickets by tenant (live and shadow): a rebuild clears, copies and digests them tenant by
/// tenant, which by the primary key alone reads every tenant's tickets each time.
struct M0004TicketsByTenant;

impl MigrationName for M0004TicketsByTenant {
    fn name(&self) -> &str {
        "m20261207_000004_tickets_by_tenant"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0004TicketsByTenant {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["analytics_tickets", "analytics_tickets_shadow"] {
            m.create_index(
                Index::create()
                    .name(format!("{table}_tenant_id"))
                    .table(table)
                    .col("tenant_id")
                    .col("id")
                    .if_not_exists()
                    .take(),
            )
            .await?;
        }
        Ok(())
    }
}

/// The figure tables, their names ending in `suffix`.
async fn create_figure_tables(m: &SchemaManager<'_>, suffix: &str) -> Result<(), DbErr> {
    let name = |table: &str| format!("{table}{suffix}");
    m.create_table(
        Table::create()
            .table(name("analytics_tickets"))
            .if_not_exists()
            .col(pk_uuid("id"))
            .col(uuid("tenant_id"))
            .col(big_integer("version"))
            .col(json("facts"))
            .take(),
    )
    .await?;
    m.create_table(
        Table::create()
            .table(name("analytics_daily"))
            .if_not_exists()
            .col(uuid("tenant_id"))
            .col(string_len("metric", 60))
            .col(date("day"))
            .col(big_integer("value"))
            .primary_key(Index::create().col("tenant_id").col("metric").col("day"))
            .take(),
    )
    .await?;
    m.create_table(
        Table::create()
            .table(name("analytics_histograms"))
            .if_not_exists()
            .col(uuid("tenant_id"))
            .col(string_len("metric", 60))
            .col(date("day"))
            .col(integer("bucket"))
            .col(big_integer("count"))
            .primary_key(
                Index::create()
                    .col("tenant_id")
                    .col("metric")
                    .col("day")
                    .col("bucket"),
            )
            .take(),
    )
    .await?;
    m.create_table(
        Table::create()
            .table(name("analytics_open"))
            .if_not_exists()
            .col(uuid("tenant_id"))
            .col(timestamp_with_time_zone("hour"))
            .col(big_integer("open"))
            .primary_key(Index::create().col("tenant_id").col("hour"))
            .take(),
    )
    .await?;
    let tables = [
        name("analytics_tickets"),
        name("analytics_daily"),
        name("analytics_histograms"),
        name("analytics_open"),
    ];
    let tables: Vec<&str> = tables.iter().map(String::as_str).collect();
    enforce_rls(m.get_connection(), &tables, &tenant_predicate("tenant_id")).await
}

/// The continual improvement register (ADR 42): one row per item, numbered per tenant; at most
/// one open item per signal (`source`, `source_ref`), which is how two feeders racing on one
/// signal open one item.
struct M0005Improvements;

impl MigrationName for M0005Improvements {
    fn name(&self) -> &str {
        "m20261207_000005_improvements"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0005Improvements {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("improvement_counters")
                .if_not_exists()
                .col(pk_uuid("tenant_id"))
                .col(big_integer("next"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("improvements")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("number", 16))
                .col(string_len("title", 200))
                .col(text("description"))
                .col(string_len("source", 32))
                .col(string_len_null("source_ref", 120))
                .col(small_integer("value"))
                .col(small_integer("effort"))
                .col(uuid_null("owner_id"))
                .col(integer("occurrences"))
                .col(string_len_null("target_metric", 80))
                .col(double_null("target_value"))
                .col(double_null("measured"))
                .col(string_len("status", 16))
                .col(string_len("step", 16))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("improvements_tenant_number")
                .table("improvements")
                .col("tenant_id")
                .col("number")
                .unique()
                .take(),
        )
        .await?;
        // Partial unique index: PostgreSQL and SQLite both take this text.
        m.get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX IF NOT EXISTS improvements_open_signal ON improvements \
                 (tenant_id, source, source_ref) WHERE source_ref IS NOT NULL \
                 AND status NOT IN ('closed', 'rejected')",
            )
            .await?;
        enforce_rls(
            m.get_connection(),
            &["improvements", "improvement_counters"],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}
