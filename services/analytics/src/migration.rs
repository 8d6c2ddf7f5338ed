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
            Box::new(M0006Capacity),
            Box::new(M0007Volumes),
            Box::new(M0008DayRows),
            Box::new(M0009DayParts),
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

/// Capacity (ADR 43): samples, thresholds with their latest forecast, and the catalogue's CMDB
/// and portfolio as projected here (what a sample or threshold may be about). The forecaster
/// claims due thresholds across tenants by declaring `app.capacity_forecaster`.
struct M0006Capacity;

impl MigrationName for M0006Capacity {
    fn name(&self) -> &str {
        "m20261208_000006_capacity"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0006Capacity {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        bus::migration::create_cmdb_projection(m).await?;
        bus::migration::create_portfolio_projection(m).await?;
        m.create_table(
            Table::create()
                .table("capacity_samples")
                .if_not_exists()
                .col(uuid("tenant_id"))
                .col(string_len("target_type", 8))
                .col(uuid("target_id"))
                .col(string_len("metric", 64))
                .col(timestamp_with_time_zone("observed_at"))
                .col(double("value"))
                // One sample per target, metric and instant: a resent batch is a duplicate.
                .primary_key(
                    Index::create()
                        .col("tenant_id")
                        .col("target_type")
                        .col("target_id")
                        .col("metric")
                        .col("observed_at"),
                )
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("capacity_thresholds")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("target_type", 8))
                .col(uuid("target_id"))
                .col(string_len("metric", 64))
                .col(double("limit_value"))
                .col(string_len("direction", 8))
                .col(integer("lookback_days"))
                .col(integer("horizon_days"))
                .col(string_len("action", 16))
                .col(big_integer("version"))
                // The version of the latest event about the threshold (edits and breaches).
                .col(big_integer("event_version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                // When the forecaster next computes it (new samples make it due at once).
                .col(timestamp_with_time_zone("due_at"))
                .col(string_len("status", 24))
                .col(double_null("slope_per_day"))
                .col(timestamp_with_time_zone_null("breach_at"))
                .col(integer("samples"))
                .col(double_null("last_value"))
                .col(timestamp_with_time_zone_null("forecast_at"))
                .take(),
        )
        .await?;
        for (name, cols, unique) in [
            (
                "capacity_thresholds_target",
                &[
                    "tenant_id",
                    "target_type",
                    "target_id",
                    "metric",
                    "direction",
                ][..],
                true,
            ),
            ("capacity_thresholds_due", &["due_at"][..], false),
        ] {
            let mut index = Index::create();
            index.name(name).table("capacity_thresholds");
            for col in cols {
                index.col(*col);
            }
            if unique {
                index.unique();
            }
            m.create_index(index.take()).await?;
        }
        enforce_rls(
            m.get_connection(),
            &["capacity_samples", "capacity_thresholds"],
            &format!(
                "{} OR current_setting('app.capacity_forecaster', true) = 'on'",
                tenant_predicate("tenant_id")
            ),
        )
        .await
    }
}

/// Incident volumes by category, service and channel (ADR 44), per tenant, dimension, key
/// (`''` for none) and local day of creation; live and shadow, like the other figure tables.
struct M0007Volumes;

impl MigrationName for M0007Volumes {
    fn name(&self) -> &str {
        "m20261208_000007_volumes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0007Volumes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["analytics_volumes", "analytics_volumes_shadow"] {
            m.create_table(
                Table::create()
                    .table(table)
                    .if_not_exists()
                    .col(uuid("tenant_id"))
                    .col(string_len("dimension", 32))
                    .col(string_len("key", 80))
                    .col(date("day"))
                    .col(big_integer("count"))
                    .primary_key(
                        Index::create()
                            .col("tenant_id")
                            .col("dimension")
                            .col("key")
                            .col("day"),
                    )
                    .take(),
            )
            .await?;
        }
        enforce_rls(
            m.get_connection(),
            &["analytics_volumes", "analytics_volumes_shadow"],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}

/// Counts and histograms in one row per tenant and local day (`analytics_days`, live and
/// shadow), their JSON the day's `Totals`, instead of one row per metric and day and one per
/// histogram bucket: a 1,000-tenant rollup reads 30,000 rows rather than some 600,000. The
/// rows kept so far are converted, and the old tables dropped.
struct M0008DayRows;

impl MigrationName for M0008DayRows {
    fn name(&self) -> &str {
        "m20261208_000008_day_rows"
    }
}

/// The old rows as day rows: `{"counts": {metric: n}, "sketches": {metric: {bucket: n}}}`.
const CONVERT_DAYS_POSTGRES: &str = "\
INSERT INTO analytics_days (tenant_id, day, figures) \
SELECT k.tenant_id, k.day, json_build_object( \
  'counts', coalesce((SELECT json_object_agg(d.metric, d.value) FROM analytics_daily d \
    WHERE d.tenant_id = k.tenant_id AND d.day = k.day AND d.value <> 0), '{}'::json), \
  'sketches', coalesce((SELECT json_object_agg(h.metric, h.buckets) FROM ( \
    SELECT metric, json_object_agg(bucket::text, count) AS buckets FROM analytics_histograms \
    WHERE tenant_id = k.tenant_id AND day = k.day AND count <> 0 GROUP BY metric) h), '{}'::json) \
)::text \
FROM (SELECT tenant_id, day FROM analytics_daily UNION SELECT tenant_id, day FROM analytics_histograms) k";

const CONVERT_DAYS_SQLITE: &str = "\
INSERT INTO analytics_days (tenant_id, day, figures) \
SELECT k.tenant_id, k.day, json_object( \
  'counts', coalesce((SELECT json_group_object(d.metric, d.value) FROM analytics_daily d \
    WHERE d.tenant_id = k.tenant_id AND d.day = k.day AND d.value <> 0), json_object()), \
  'sketches', coalesce((SELECT json_group_object(h.metric, json(h.buckets)) FROM ( \
    SELECT metric, json_group_object(CAST(bucket AS TEXT), count) AS buckets \
    FROM analytics_histograms \
    WHERE tenant_id = k.tenant_id AND day = k.day AND count <> 0 GROUP BY metric) h), json_object()) \
) \
FROM (SELECT tenant_id, day FROM analytics_daily UNION SELECT tenant_id, day FROM analytics_histograms) k";

#[async_trait::async_trait]
impl MigrationTrait for M0008DayRows {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["analytics_days", "analytics_days_shadow"] {
            m.create_table(
                Table::create()
                    .table(table)
                    .if_not_exists()
                    .col(uuid("tenant_id"))
                    .col(date("day"))
                    .col(text("figures"))
                    .primary_key(Index::create().col("tenant_id").col("day"))
                    .take(),
            )
            .await?;
        }
        enforce_rls(
            m.get_connection(),
            &["analytics_days", "analytics_days_shadow"],
            &tenant_predicate("tenant_id"),
        )
        .await?;
        let convert = match m.get_connection().get_database_backend() {
            sea_orm::DbBackend::Postgres => CONVERT_DAYS_POSTGRES,
            _ => CONVERT_DAYS_SQLITE,
        };
        convert_as_owner(
            m,
            &["analytics_daily", "analytics_histograms"],
            "analytics_days",
            convert,
        )
        .await?;
        // A rebuild empties the shadow tables when it swaps, so theirs are not converted.
        for table in [
            "analytics_daily",
            "analytics_histograms",
            "analytics_daily_shadow",
            "analytics_histograms_shadow",
        ] {
            m.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}

/// Each day row split into parts (`analytics_day_parts`, live and shadow): an event adds to its
/// ticket's part, one of eight, so concurrent events of one tenant and day no longer all queue
/// on one row lock. With one row per day, consumption at 1,000 events/s over three tenants fell
/// behind (lag p99 124 s). The rows kept so far become part 0; the day tables are dropped.
struct M0009DayParts;

impl MigrationName for M0009DayParts {
    fn name(&self) -> &str {
        "m20261208_000009_day_parts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0009DayParts {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["analytics_day_parts", "analytics_day_parts_shadow"] {
            m.create_table(
                Table::create()
                    .table(table)
                    .if_not_exists()
                    .col(uuid("tenant_id"))
                    .col(date("day"))
                    .col(small_integer("part"))
                    .col(text("figures"))
                    .primary_key(Index::create().col("tenant_id").col("day").col("part"))
                    .take(),
            )
            .await?;
        }
        enforce_rls(
            m.get_connection(),
            &["analytics_day_parts", "analytics_day_parts_shadow"],
            &tenant_predicate("tenant_id"),
        )
        .await?;
        convert_as_owner(
            m,
            &["analytics_days"],
            "analytics_day_parts",
            "INSERT INTO analytics_day_parts (tenant_id, day, part, figures) \
             SELECT tenant_id, day, 0, figures FROM analytics_days",
        )
        .await?;
        for table in ["analytics_days", "analytics_days_shadow"] {
            m.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}

/// Runs `convert` (reading every tenant's rows of `from`, writing them to `to`) as the tables'
/// owner. The policies bind the owner too (FORCE), so on PostgreSQL they are lifted for the
/// conversion inside the migration's transaction and forced on `to` again after; with
/// `row_security = off`, any policy still in force is an error rather than a conversion of
/// nothing.
async fn convert_as_owner(
    m: &SchemaManager<'_>,
    from: &[&str],
    to: &str,
    convert: &str,
) -> Result<(), DbErr> {
    let db = m.get_connection();
    let postgres = db.get_database_backend() == sea_orm::DbBackend::Postgres;
    if postgres {
        for table in from.iter().chain([&to]) {
            db.execute_unprepared(&format!("ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY"))
                .await?;
        }
        db.execute_unprepared("SET LOCAL row_security = off")
            .await?;
    }
    db.execute_unprepared(convert).await?;
    if postgres {
        db.execute_unprepared("SET LOCAL row_security = on").await?;
        db.execute_unprepared(&format!("ALTER TABLE {to} FORCE ROW LEVEL SECURITY"))
            .await?;
    }
    Ok(())
}
