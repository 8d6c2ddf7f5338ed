//! The incident service's schema (SQLite and PostgreSQL), with forced RLS on PostgreSQL.
use platform::tenancy::{enforce_rls, tenant_predicate};
use sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

mod channel;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Incidents),
            Box::new(M0002People),
            Box::new(M0003Search),
            Box::new(M0004Problems),
            Box::new(M0005Classification),
            Box::new(M0006Sla),
            Box::new(M0007Idempotency),
            Box::new(M0008DeadLetterSender),
            Box::new(M0009Queue),
            Box::new(M0010Portfolio),
            Box::new(M0011UserManagers),
            Box::new(M0012RequestItemSla),
            Box::new(M0013CmdbCis),
            Box::new(M0014CmdbGraph),
            Box::new(M0015CmdbEdgesByCi),
            Box::new(M0016CapacityIncidents),
            Box::new(channel::M0017Channel),
        ]
    }
}

struct M0001Incidents;

impl MigrationName for M0001Incidents {
    fn name(&self) -> &str {
        "m20261125_000001_incidents"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0001Incidents {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("incidents")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("number", 16))
                .col(string_len("title", 200))
                .col(text("description"))
                .col(uuid_null("caller_id"))
                .col(small_integer("impact"))
                .col(small_integer("urgency"))
                .col(small_integer("priority"))
                .col(string_len("state", 16))
                .col(string_len_null("hold_reason", 32))
                .col(string_len_null("resolution_code", 64))
                .col(text_null("resolution_notes"))
                .col(uuid("created_by"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        for (name, cols, unique) in [
            ("incidents_tenant_number", vec!["tenant_id", "number"], true),
            ("incidents_tenant_id", vec!["tenant_id", "id"], false),
            (
                "incidents_queue",
                vec!["tenant_id", "state", "priority", "id"],
                false,
            ),
        ] {
            let mut idx = Index::create();
            idx.name(name).table("incidents").if_not_exists();
            for c in cols {
                idx.col(c);
            }
            if unique {
                idx.unique();
            }
            m.create_index(idx.take()).await?;
        }
        m.create_table(
            Table::create()
                .table("incident_counters")
                .if_not_exists()
                .col(uuid("tenant_id").primary_key())
                .col(big_integer("next"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("incident_comments")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("incident_id"))
                .col(uuid("author_id"))
                .col(string_len("visibility", 16))
                .col(text("body"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("comments_incident")
                .table("incident_comments")
                .col("tenant_id")
                .col("incident_id")
                .col("id")
                .if_not_exists()
                .take(),
        )
        .await?;
        bus::migration::create_outbox(m).await?;
        bus::migration::create_inbox(m).await?;
        bus::migration::create_tenant_directory(m).await?;
        enforce_rls(
            m.get_connection(),
            &["incidents", "incident_counters", "incident_comments"],
            &tenant_predicate("tenant_id"),
        )
        .await?;
        Ok(())
    }
}

/// Identity's users and groups as this service knows them (from events), and assignment.
struct M0002People;

impl MigrationName for M0002People {
    fn name(&self) -> &str {
        "m20261125_000002_people"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002People {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        bus::migration::create_people(m).await?;
        for col in ["assignment_group_id", "assignee_id"] {
            m.alter_table(
                Table::alter()
                    .table("incidents")
                    .add_column(uuid_null(col))
                    .take(),
            )
            .await?;
        }
        Ok(())
    }
}

/// Full-text search (PostgreSQL): a generated `tsvector` over title and description, and an
/// expression index over comment bodies. SQLite searches with `LIKE` instead.
struct M0003Search;

impl MigrationName for M0003Search {
    fn name(&self) -> &str {
        "m20261125_000003_search"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0003Search {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            for sql in [
                "ALTER TABLE incidents ADD COLUMN IF NOT EXISTS search tsvector GENERATED ALWAYS AS \
                 (to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(description, ''))) STORED",
                "CREATE INDEX IF NOT EXISTS incidents_search ON incidents USING gin (search)",
                "CREATE INDEX IF NOT EXISTS comments_search ON incident_comments \
                 USING gin (to_tsvector('simple', body))",
            ] {
                m.get_connection().execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }
}

/// Problems, their numbers and the incidents linked to them.
struct M0004Problems;

impl MigrationName for M0004Problems {
    fn name(&self) -> &str {
        "m20261125_000004_problems"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0004Problems {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("problems")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("number", 16))
                .col(string_len("title", 200))
                .col(text("description"))
                .col(text("root_cause"))
                .col(text("workaround"))
                .col(boolean("known_error"))
                .col(string_len("state", 16))
                .col(text_null("resolution_notes"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("problems_tenant_number")
                .table("problems")
                .col("tenant_id")
                .col("number")
                .unique()
                .if_not_exists()
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("problem_counters")
                .if_not_exists()
                .col(uuid("tenant_id").primary_key())
                .col(big_integer("next"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("problem_incidents")
                .if_not_exists()
                .col(uuid("tenant_id"))
                .col(uuid("problem_id"))
                .col(uuid("incident_id"))
                .primary_key(
                    Index::create()
                        .col("tenant_id")
                        .col("problem_id")
                        .col("incident_id"),
                )
                .take(),
        )
        .await?;
        enforce_rls(
            m.get_connection(),
            &["problems", "problem_counters", "problem_incidents"],
            &tenant_predicate("tenant_id"),
        )
        .await?;
        Ok(())
    }
}

/// Category, parent/child, major incidents and priority overrides.
struct M0005Classification;

impl MigrationName for M0005Classification {
    fn name(&self) -> &str {
        "m20261125_000005_classification"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0005Classification {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            string_len_null("category", 64),
            string_len_null("subcategory", 64),
            uuid_null("parent_id"),
            boolean("major").default(false).take(),
            boolean("priority_overridden").default(false).take(),
        ] {
            m.alter_table(Table::alter().table("incidents").add_column(col).take())
                .await?;
        }
        m.create_index(
            Index::create()
                .name("incidents_parent")
                .table("incidents")
                .col("tenant_id")
                .col("parent_id")
                .if_not_exists()
                .take(),
        )
        .await?;
        Ok(())
    }
}

/// The SLA engine: calendars and definitions (per tenant, inherited down the tree), calendar
/// snapshots that clocks pin, clocks and their marks. The scheduler reads due clocks across
/// tenants by declaring `app.sla_scheduler` (and nothing else may); everything else is scoped.
/// Also the affected service and configuration item of an incident.
struct M0006Sla;

impl MigrationName for M0006Sla {
    fn name(&self) -> &str {
        "m20261125_000006_sla"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0006Sla {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in ["service_id", "configuration_item_id"] {
            m.alter_table(
                Table::alter()
                    .table("incidents")
                    .add_column(uuid_null(col))
                    .take(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table("sla_calendars")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("name", 200))
                .col(boolean("is_default"))
                .col(text("spec"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("sla_definitions")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("name", 200))
                .col(string_len("kind", 16))
                .col(big_integer("target_seconds"))
                .col(uuid_null("calendar_id"))
                .col(text("rules"))
                .col(boolean("active"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("sla_calendar_snapshots")
                .if_not_exists()
                .col(uuid("tenant_id"))
                .col(string_len("digest", 64))
                .col(text("spec"))
                .primary_key(Index::create().col("tenant_id").col("digest"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("sla_clocks")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("incident_id"))
                .col(uuid("definition_id"))
                .col(string_len("name", 200))
                .col(string_len("kind", 16))
                .col(big_integer("target_seconds"))
                .col(string_len("calendar_digest", 64))
                .col(text("rules"))
                .col(string_len("status", 16))
                .col(big_integer("elapsed_seconds"))
                .col(timestamp_with_time_zone("since"))
                .col(small_integer("reached"))
                .col(timestamp_with_time_zone_null("due_at"))
                .col(timestamp_with_time_zone_null("next_fire_at"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("sla_clock_events")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("clock_id"))
                .col(timestamp_with_time_zone("at"))
                .col(text("mark"))
                .take(),
        )
        .await?;
        for sql in [
            "CREATE UNIQUE INDEX IF NOT EXISTS sla_calendars_one_default ON sla_calendars (tenant_id) \
             WHERE is_default",
            "CREATE INDEX IF NOT EXISTS sla_definitions_tenant ON sla_definitions (tenant_id, id)",
            "CREATE UNIQUE INDEX IF NOT EXISTS sla_clocks_incident ON sla_clocks \
             (tenant_id, incident_id, definition_id)",
            // Only clocks with a threshold ahead, in firing order: a tick stays cheap however
            // many clocks are paused, stopped or far from due.
            "CREATE INDEX IF NOT EXISTS sla_clocks_due ON sla_clocks (next_fire_at) \
             WHERE next_fire_at IS NOT NULL",
            "CREATE INDEX IF NOT EXISTS sla_clock_events_clock ON sla_clock_events (tenant_id, clock_id, id)",
        ] {
            m.get_connection().execute_unprepared(sql).await?;
        }
        let db = m.get_connection();
        enforce_rls(
            db,
            &["sla_calendars", "sla_definitions"],
            &tenant_predicate("tenant_id"),
        )
        .await?;
        enforce_rls(
            db,
            &["sla_calendar_snapshots", "sla_clocks", "sla_clock_events"],
            &format!(
                "{} OR current_setting('app.sla_scheduler', true) = 'on'",
                tenant_predicate("tenant_id")
            ),
        )
        .await?;
        Ok(())
    }
}

/// `Idempotency-Key` claims and the responses they produced.
struct M0007Idempotency;

impl MigrationName for M0007Idempotency {
    fn name(&self) -> &str {
        "m20261125_000007_idempotency"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0007Idempotency {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("idempotency_keys")
                .if_not_exists()
                .col(uuid("tenant_id"))
                .col(uuid("principal_id"))
                .col(string_len("key", 255))
                .col(string_len("request_hash", 64))
                .col(small_integer("status"))
                .col(text("body"))
                .col(text_null("location"))
                .col(timestamp_with_time_zone("created_at"))
                .primary_key(
                    Index::create()
                        .col("tenant_id")
                        .col("principal_id")
                        .col("key"),
                )
                .take(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at)",
            )
            .await?;
        // The scheduler prunes expired keys across tenants (under `app.sla_scheduler`).
        enforce_rls(
            m.get_connection(),
            &["idempotency_keys"],
            &format!(
                "{} OR current_setting('app.sla_scheduler', true) = 'on'",
                tenant_predicate("tenant_id")
            ),
        )
        .await?;
        Ok(())
    }
}

/// The producing service of each in-process dead letter, checked again on replay (ADR 19).
struct M0008DeadLetterSender;

impl MigrationName for M0008DeadLetterSender {
    fn name(&self) -> &str {
        "m20261125_000008_dead_letter_sender"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0008DeadLetterSender {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        bus::migration::add_dead_letter_sender(m).await
    }
}

/// The queue orders (`?sort=`): the incident's earliest running SLA deadline as a column
/// (`sla_due_at`, 9999-12-31 when no clock runs), and for each order a per-tenant index (an
/// agent's queue) and a global one (the MSP's `?tenant=*`, read in order and filtered by RLS).
struct M0009Queue;

impl MigrationName for M0009Queue {
    fn name(&self) -> &str {
        "m20261205_000009_queue"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0009Queue {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let no_due = match db.get_database_backend() {
            DbBackend::Postgres => "'9999-12-31 00:00:00+00'",
            _ => "'9999-12-31T00:00:00+00:00'",
        };
        m.alter_table(
            Table::alter()
                .table("incidents")
                .add_column(
                    timestamp_with_time_zone("sla_due_at")
                        .default(Expr::cust(no_due))
                        .take(),
                )
                .take(),
        )
        .await?;
        // Incidents opened before this column: their earliest running deadline.
        db.execute_unprepared(
            "UPDATE incidents SET sla_due_at = (SELECT min(c.due_at) FROM sla_clocks c \
             WHERE c.tenant_id = incidents.tenant_id AND c.incident_id = incidents.id) \
             WHERE EXISTS (SELECT 1 FROM sla_clocks c WHERE c.tenant_id = incidents.tenant_id \
             AND c.incident_id = incidents.id AND c.due_at IS NOT NULL)",
        )
        .await?;
        for (key, name) in [
            ("priority", "priority"),
            ("created_at", "created"),
            ("updated_at", "updated"),
            ("sla_due_at", "sla_due"),
        ] {
            for (scope, lead) in [("tenant", Some("tenant_id")), ("all", None)] {
                let mut idx = Index::create();
                idx.name(format!("incidents_{scope}_{name}"))
                    .table("incidents")
                    .if_not_exists();
                if let Some(lead) = lead {
                    idx.col(lead);
                }
                m.create_index(idx.col(key).col("id").take()).await?;
            }
        }
        for (key, name) in [("created_at", "created"), ("updated_at", "updated")] {
            m.create_index(
                Index::create()
                    .name(format!("problems_tenant_{name}"))
                    .table("problems")
                    .col("tenant_id")
                    .col(key)
                    .col("id")
                    .if_not_exists()
                    .take(),
            )
            .await?;
        }
        Ok(())
    }
}

/// The catalogue's portfolio as projected from its events: which services an incident may
/// name (one in `transition` or `live`).
struct M0010Portfolio;

impl MigrationName for M0010Portfolio {
    fn name(&self) -> &str {
        "m20261205_000010_portfolio"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0010Portfolio {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        bus::migration::create_portfolio_projection(m).await
    }
}

struct M0011UserManagers;

impl MigrationName for M0011UserManagers {
    fn name(&self) -> &str {
        "m20261206_000011_user_managers"
    }
}

/// Users' line managers in the people projection (identity's `user.manager_changed`).
#[async_trait::async_trait]
impl MigrationTrait for M0011UserManagers {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        bus::migration::add_user_manager(m).await
    }
}

/// SLA clocks of the catalogue's request items: definitions say what they apply to, a clock
/// names its subject (an incident or a request item), and the request items' states are
/// projected from the catalogue's events.
struct M0012RequestItemSla;

impl MigrationName for M0012RequestItemSla {
    fn name(&self) -> &str {
        "m20261206_000012_request_item_sla"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0012RequestItemSla {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("sla_definitions")
                .add_column(string_len("applies_to", 16).default("incident"))
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("sla_clocks")
                .rename_column("incident_id", "subject_id")
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("sla_clocks")
                .add_column(string_len("subject", 16).default("incident"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("sla_request_items")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("number", 32))
                .col(string_len("state", 32))
                .col(big_integer("version"))
                .take(),
        )
        .await?;
        enforce_rls(
            m.get_connection(),
            &["sla_request_items"],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}

/// The catalogue's CIs as projected from its events: which CI an incident may name.
struct M0013CmdbCis;

impl MigrationName for M0013CmdbCis {
    fn name(&self) -> &str {
        "m20261206_000013_cmdb_cis"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0013CmdbCis {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        bus::migration::create_cmdb_projection(m).await
    }
}

/// The catalogue's relationships and each business service CI's portfolio service: an
/// incident's affected services are the business services upstream of its CI. The shared
/// projection (`bus::cmdb`) now creates both tables whole; a database migrated when this
/// step added them gets what it lacks.
struct M0014CmdbGraph;

impl MigrationName for M0014CmdbGraph {
    fn name(&self) -> &str {
        "m20261207_000014_cmdb_graph"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0014CmdbGraph {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if !m.has_column("cmdb_cis", "service_id").await? {
            m.alter_table(
                Table::alter()
                    .table("cmdb_cis")
                    .add_column(uuid_null("service_id"))
                    .take(),
            )
            .await?;
        }
        bus::migration::create_cmdb_projection(m).await
    }
}

/// The CMDB projection's relationships indexed by CI first (`bus::migration`).
struct M0015CmdbEdgesByCi;

impl MigrationName for M0015CmdbEdgesByCi {
    fn name(&self) -> &str {
        "m20261207_000015_cmdb_edges_by_ci"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0015CmdbEdgesByCi {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        bus::migration::index_cmdb_relationships_by_ci(
            m,
            false,
            &["cmdb_relationships_source", "cmdb_relationships_target"],
        )
        .await
    }
}

/// The incidents opened for analytics' capacity thresholds, by threshold: a threshold gets a
/// new incident only while none of its incidents is open. A link table rather than a column
/// under a unique index over open incidents: such an index would refuse reopening an old
/// incident once a newer one is open.
struct M0016CapacityIncidents;

impl MigrationName for M0016CapacityIncidents {
    fn name(&self) -> &str {
        "m20261208_000016_capacity_incidents"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0016CapacityIncidents {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("capacity_incidents")
                .if_not_exists()
                .col(uuid("tenant_id"))
                .col(uuid("threshold_id"))
                .col(uuid("incident_id"))
                .primary_key(
                    Index::create()
                        .col("tenant_id")
                        .col("threshold_id")
                        .col("incident_id"),
                )
                .take(),
        )
        .await?;
        enforce_rls(
            m.get_connection(),
            &["capacity_incidents"],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}
