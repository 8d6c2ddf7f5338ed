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
            Box::new(M0004RiskAndCab),
            Box::new(M0005CalendarFeeds),
            Box::new(M0006TemplatesAndReviews),
            Box::new(M0007Timers),
            Box::new(M0008Delegations),
            Box::new(M0009CmdbEdgesByCi),
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

/// Risk settings, approval policies, approval rounds and their votes; a change's answers to
/// the risk questionnaire.
struct M0004RiskAndCab;

impl MigrationName for M0004RiskAndCab {
    fn name(&self) -> &str {
        "m20261207_000004_risk_and_cab"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0004RiskAndCab {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("changes")
                .add_column(json_null("risk_answers"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("change_risk_settings")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(json_null("rules"))
                .col(json_null("questionnaire"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("change_approval_policies")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("name", 200))
                .col(json("change_types"))
                .col(json("risks"))
                .col(integer("priority"))
                .col(json("stages"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("change_approval_rounds")
                .if_not_exists()
                .col(uuid("change_id"))
                .col(integer("round"))
                .col(uuid("tenant_id"))
                .col(uuid("policy_id"))
                .col(string_len("policy_name", 200))
                .col(json("stages"))
                .col(string_len("state", 16))
                .col(timestamp_with_time_zone("started_at"))
                .col(timestamp_with_time_zone_null("decided_at"))
                .primary_key(Index::create().col("change_id").col("round"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("change_votes")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("change_id"))
                .col(integer("round"))
                .col(integer("stage"))
                .col(uuid("voter_id"))
                .col(uuid_null("on_behalf_of"))
                .col(string_len("decision", 16))
                .col(text("reason"))
                .col(timestamp_with_time_zone("cast_at"))
                .take(),
        )
        .await?;
        bus::migration::create_indexes(
            m,
            &[
                (
                    "change_risk_settings_tenant",
                    "change_risk_settings",
                    &["tenant_id"],
                    true,
                ),
                (
                    "change_approval_policies_tenant",
                    "change_approval_policies",
                    &["tenant_id"],
                    false,
                ),
                (
                    "change_approval_rounds_pending",
                    "change_approval_rounds",
                    &["tenant_id", "state", "started_at"],
                    false,
                ),
                // One vote per voter, stage and round, whatever races.
                (
                    "change_votes_once",
                    "change_votes",
                    &["change_id", "round", "stage", "voter_id"],
                    true,
                ),
                (
                    "change_votes_voter",
                    "change_votes",
                    &["tenant_id", "voter_id", "change_id"],
                    false,
                ),
            ],
        )
        .await?;
        enforce_rls(
            m.get_connection(),
            &[
                "change_risk_settings",
                "change_approval_policies",
                "change_approval_rounds",
                "change_votes",
            ],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}

/// Calendar feeds, found by their token's hash before anyone is signed in.
struct M0005CalendarFeeds;

impl MigrationName for M0005CalendarFeeds {
    fn name(&self) -> &str {
        "m20261207_000005_calendar_feeds"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0005CalendarFeeds {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("change_calendar_feeds")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("name", 200))
                .col(string_len("token_hash", 64))
                .col(uuid("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .take(),
        )
        .await?;
        bus::migration::create_indexes(
            m,
            &[
                (
                    "change_calendar_feeds_token",
                    "change_calendar_feeds",
                    &["token_hash"],
                    true,
                ),
                (
                    "change_calendar_feeds_tenant",
                    "change_calendar_feeds",
                    &["tenant_id", "created_by"],
                    false,
                ),
            ],
        )
        .await?;
        // A feed is read by its token alone (a calendar client holds no session): a
        // `LookupKey::TokenHash` transaction sees the one row with that hash.
        let predicate = format!(
            "{} OR token_hash = current_setting('app.lookup_token_hash', true)",
            tenant_predicate("tenant_id")
        );
        enforce_rls(m.get_connection(), &["change_calendar_feeds"], &predicate).await
    }
}

/// Templates, post-implementation reviews, caused incidents and the incidents they name.
struct M0006TemplatesAndReviews;

impl MigrationName for M0006TemplatesAndReviews {
    fn name(&self) -> &str {
        "m20261207_000006_templates_and_reviews"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0006TemplatesAndReviews {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [
            uuid_null("template_id"),
            integer_null("template_version"),
            json_null("review"),
        ] {
            m.alter_table(Table::alter().table("changes").add_column(column).take())
                .await?;
        }
        m.create_table(
            Table::create()
                .table("change_templates")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("slug", 64))
                .col(integer("template_version"))
                .col(string_len("state", 16))
                .col(string_len("type", 16))
                .col(string_len("title", 200))
                .col(text("description"))
                .col(json("affected_ci_ids"))
                .col(text("implementation_plan"))
                .col(text("backout_plan"))
                .col(text("test_plan"))
                .col(text_null("suspended_reason"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("change_caused_incidents")
                .if_not_exists()
                .col(uuid("change_id"))
                .col(uuid("incident_id"))
                .col(uuid("tenant_id"))
                .col(uuid("linked_by"))
                .col(timestamp_with_time_zone("linked_at"))
                .primary_key(Index::create().col("change_id").col("incident_id"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("change_known_incidents")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("number", 16))
                .take(),
        )
        .await?;
        bus::migration::create_indexes(
            m,
            &[
                (
                    "change_templates_slug_version",
                    "change_templates",
                    &["tenant_id", "slug", "template_version"],
                    true,
                ),
                (
                    "change_known_incidents_tenant",
                    "change_known_incidents",
                    &["tenant_id", "id"],
                    false,
                ),
            ],
        )
        .await?;
        enforce_rls(
            m.get_connection(),
            &[
                "change_templates",
                "change_caused_incidents",
                "change_known_incidents",
            ],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}

/// Timers for the conflict-refresh and overdue workers, and the conflicts last announced.
struct M0007Timers;

impl MigrationName for M0007Timers {
    fn name(&self) -> &str {
        "m20261207_000007_timers"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0007Timers {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("changes")
                .add_column(timestamp_with_time_zone_null("overdue_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("change_timers")
                .if_not_exists()
                .col(uuid("change_id"))
                .col(string_len("kind", 16))
                .col(uuid("tenant_id"))
                .col(timestamp_with_time_zone("due_at"))
                .primary_key(Index::create().col("change_id").col("kind"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("change_conflict_sets")
                .if_not_exists()
                .col(pk_uuid("change_id"))
                .col(uuid("tenant_id"))
                .col(string_len("fingerprint", 64))
                .col(integer("conflict_count"))
                .col(timestamp_with_time_zone("checked_at"))
                .take(),
        )
        .await?;
        bus::migration::create_indexes(
            m,
            &[(
                "change_timers_due",
                "change_timers",
                &["kind", "due_at"],
                false,
            )],
        )
        .await?;
        // The workers claim due timers across tenants by declaring `app.change_workers`
        // (nothing else does); everything else is scoped to its tenant.
        let predicate = format!(
            "{} OR current_setting('app.change_workers', true) = 'on'",
            tenant_predicate("tenant_id")
        );
        enforce_rls(m.get_connection(), &["change_timers"], &predicate).await?;
        enforce_rls(
            m.get_connection(),
            &["change_conflict_sets"],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}

/// The catalogue's approval delegations (projected from its events), and one vote per stage,
/// round and *represented* approver: a delegate's vote fills their principal's place.
struct M0008Delegations;

impl MigrationName for M0008Delegations {
    fn name(&self) -> &str {
        "m20261207_000008_delegations"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0008Delegations {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("change_delegations")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("delegator_id"))
                .col(uuid("delegate_id"))
                .col(timestamp_with_time_zone("starts_at"))
                .col(timestamp_with_time_zone("ends_at"))
                .take(),
        )
        .await?;
        bus::migration::create_indexes(
            m,
            &[(
                "change_delegations_delegate",
                "change_delegations",
                &["delegate_id", "delegator_id", "ends_at"],
                false,
            )],
        )
        .await?;
        // The same statements on SQLite and PostgreSQL: an expression index on both.
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS change_votes_represented_once \
             ON change_votes (change_id, round, stage, COALESCE(on_behalf_of, voter_id))",
        )
        .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS change_votes_once")
            .await?;
        enforce_rls(
            m.get_connection(),
            &["change_delegations"],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}

/// The CMDB projection's relationships indexed by CI first (`bus::migration`).
struct M0009CmdbEdgesByCi;

impl MigrationName for M0009CmdbEdgesByCi {
    fn name(&self) -> &str {
        "m20261207_000009_cmdb_edges_by_ci"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0009CmdbEdgesByCi {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        bus::migration::index_cmdb_relationships_by_ci(
            m,
            false,
            &["cmdb_relationships_source", "cmdb_relationships_target"],
        )
        .await
    }
}
