//! The analytics service's schema (SQLite and PostgreSQL), with forced RLS on PostgreSQL.
use platform::tenancy::{enforce_rls, tenant_predicate};
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(M0001EventStore)]
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
