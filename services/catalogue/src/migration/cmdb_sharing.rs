//! The CMDB's second part: CIs a provider shares with its customers (grants, which row-level
//! security reads), tenants' own relationship and reconciliation rules, the identities that
//! make a CI unique within its class tree, and imports with their row errors.
use platform::tenancy::{enforce_rls, tenant_predicate};
use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

pub struct M0010CmdbSharing;

impl MigrationName for M0010CmdbSharing {
    fn name(&self) -> &str {
        "m20261206_000010_cmdb_sharing"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0010CmdbSharing {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // `tenant_id` is the grantee; `owner_id` the CI's tenant.
        m.create_table(
            Table::create()
                .table("cmdb_ci_grants")
                .if_not_exists()
                .col(uuid("ci_id"))
                .col(uuid("tenant_id"))
                .col(uuid("owner_id"))
                .col(timestamp_with_time_zone("created_at"))
                .primary_key(Index::create().col("ci_id").col("tenant_id"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("cmdb_relationship_rules")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("source_class", 48))
                .col(string_len("type", 24))
                .col(string_len("target_class", 48))
                .col(integer_null("max_targets"))
                .col(integer_null("max_sources"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        // `attribute` `*` covers every attribute of the class without a rule of its own.
        m.create_table(
            Table::create()
                .table("cmdb_reconciliation_rules")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("class", 48))
                .col(string_len("attribute", 120))
                .col(json("precedence"))
                .col(integer_null("stale_after_days"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        // One row per identification rule a CI satisfies: `rule` names its attributes (joined
        // by `+`), `value` their trimmed, case-folded values (joined by a unit separator). The
        // primary key is the uniqueness the CMDB promises, also between concurrent imports.
        m.create_table(
            Table::create()
                .table("cmdb_ci_identities")
                .if_not_exists()
                .col(uuid("tenant_id"))
                .col(string_len("class_root", 48))
                .col(string_len("rule", 240))
                .col(string_len("value", 512))
                .col(uuid("ci_id"))
                .primary_key(
                    Index::create()
                        .col("tenant_id")
                        .col("class_root")
                        .col("rule")
                        .col("value"),
                )
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("cmdb_imports")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("source", 64))
                .col(string_len("format", 8))
                .col(string_len("mode", 8))
                .col(string_len("empty_values", 8))
                .col(string_len("status", 16))
                .col(big_integer("rows_total"))
                .col(big_integer("rows_done"))
                .col(big_integer("created"))
                .col(big_integer("updated"))
                .col(big_integer("unchanged"))
                .col(big_integer("failed"))
                // Attribute values a row carried that a higher source's fresh value kept.
                .col(big_integer("skipped_attributes"))
                .col(text("payload"))
                .col(uuid_null("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("started_at"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("cmdb_import_errors")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("import_id"))
                .col(big_integer("row"))
                .col(string_len("field", 240))
                .col(string_len("message", 1000))
                .take(),
        )
        .await?;
        bus::migration::create_indexes(
            m,
            &[
                (
                    "cmdb_ci_grants_grantee",
                    "cmdb_ci_grants",
                    &["tenant_id", "ci_id"][..],
                    true,
                ),
                (
                    "cmdb_relationship_rules_key",
                    "cmdb_relationship_rules",
                    &["tenant_id", "source_class", "type", "target_class"][..],
                    true,
                ),
                (
                    "cmdb_reconciliation_rules_key",
                    "cmdb_reconciliation_rules",
                    &["tenant_id", "class", "attribute"][..],
                    true,
                ),
                (
                    "cmdb_ci_identities_ci",
                    "cmdb_ci_identities",
                    &["tenant_id", "ci_id"][..],
                    false,
                ),
                (
                    "cmdb_imports_queue",
                    "cmdb_imports",
                    &["status", "created_at"][..],
                    false,
                ),
                (
                    "cmdb_import_errors_row",
                    "cmdb_import_errors",
                    &["tenant_id", "import_id", "row"][..],
                    false,
                ),
            ],
        )
        .await?;
        let db = m.get_connection();
        enforce_rls(
            db,
            &[
                "cmdb_relationship_rules",
                "cmdb_reconciliation_rules",
                "cmdb_ci_identities",
                "cmdb_import_errors",
            ],
            &tenant_predicate("tenant_id"),
        )
        .await?;
        // The import worker claims queued imports across tenants by declaring
        // `app.cmdb_import_worker`; the import's rows are then written in its tenant's scope.
        enforce_rls(
            db,
            &["cmdb_imports"],
            &format!(
                "{} OR current_setting('app.cmdb_import_worker', true) = 'on'",
                tenant_predicate("tenant_id")
            ),
        )
        .await?;
        // A grant is written by the CI's owner alone; its grantee reads it.
        enforce_rls(db, &["cmdb_ci_grants"], &tenant_predicate("owner_id")).await?;
        if db.get_database_backend() == DbBackend::Postgres {
            // Permissive policies add up, so each of these widens SELECT alone: writes stay
            // under the owner's policy.
            for sql in [
                "DROP POLICY IF EXISTS grantee_read ON cmdb_ci_grants".to_string(),
                format!(
                    "CREATE POLICY grantee_read ON cmdb_ci_grants FOR SELECT USING ({})",
                    tenant_predicate("tenant_id")
                ),
                // A grantee reads a CI shared with it.
                "DROP POLICY IF EXISTS shared_read ON cmdb_cis".to_string(),
                format!(
                    "CREATE POLICY shared_read ON cmdb_cis FOR SELECT USING (shared AND EXISTS \
                     (SELECT 1 FROM cmdb_ci_grants g WHERE g.ci_id = cmdb_cis.id AND {}))",
                    tenant_predicate("g.tenant_id")
                ),
            ] {
                db.execute_unprepared(&sql).await?;
            }
        }
        Ok(())
    }
}

/// A CI's identities by the CI alone. Led by the tenant, the index served a lookup's tenant
/// condition too, and while an import grows the table faster than its statistics follow, the
/// planner took it over the primary key for identity lookups and filtered every identity of
/// the tenant for each value (6 s per list of 1,000 at 10,000 CIs).
pub struct M0011IdentitiesByCi;

impl MigrationName for M0011IdentitiesByCi {
    fn name(&self) -> &str {
        "m20261207_000011_identities_by_ci"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0011IdentitiesByCi {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("cmdb_ci_identities_ci")
                .table("cmdb_ci_identities")
                .if_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("cmdb_ci_identities_by_ci")
                .table("cmdb_ci_identities")
                .if_not_exists()
                .col("ci_id")
                .take(),
        )
        .await
    }
}

/// CIs found by name case-folded (an import's `<class>:name=<value>` references): without it
/// each lookup read every CI of the tenant.
pub struct M0012CiNamesFolded;

impl MigrationName for M0012CiNamesFolded {
    fn name(&self) -> &str {
        "m20261207_000012_ci_names_folded"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0012CiNamesFolded {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // An expression index, the same statement on SQLite and PostgreSQL.
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS cmdb_cis_name_folded ON cmdb_cis (tenant_id, lower(name))",
            )
            .await?;
        Ok(())
    }
}

/// Relationships indexed by CI first, the edge's uniqueness kept (`bus::migration`): impact
/// walks look edges up by CI.
pub struct M0013EdgesByCi;

impl MigrationName for M0013EdgesByCi {
    fn name(&self) -> &str {
        "m20261207_000013_edges_by_ci"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0013EdgesByCi {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        bus::migration::index_cmdb_relationships_by_ci(
            m,
            true,
            &["cmdb_relationships_edge", "cmdb_relationships_target"],
        )
        .await
    }
}
