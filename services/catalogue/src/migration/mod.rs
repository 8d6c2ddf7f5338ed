//! The catalogue service's schema (SQLite and PostgreSQL), with forced RLS on PostgreSQL.
use platform::tenancy::{enforce_rls, tenant_predicate};
use sea_orm_migration::{prelude::*, schema::*};

mod cmdb;
mod cmdb_sharing;
mod knowledge;
mod request_item_sla;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Portfolio),
            Box::new(M0002Offerings),
            Box::new(M0003Categories),
            Box::new(M0004Items),
            Box::new(M0005ItemOverrides),
            Box::new(M0006Requests),
            Box::new(knowledge::M0007Knowledge),
            Box::new(request_item_sla::M0008RequestItemSla),
            Box::new(cmdb::M0009Cmdb),
            Box::new(cmdb_sharing::M0010CmdbSharing),
            Box::new(cmdb_sharing::M0011IdentitiesByCi),
            Box::new(cmdb_sharing::M0012CiNamesFolded),
            Box::new(cmdb_sharing::M0013EdgesByCi),
        ]
    }
}

struct M0001Portfolio;

impl MigrationName for M0001Portfolio {
    fn name(&self) -> &str {
        "m20261205_000001_portfolio"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0001Portfolio {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        bus::migration::create_outbox(m).await?;
        bus::migration::create_inbox(m).await?;
        bus::migration::add_dead_letter_sender(m).await?;
        bus::migration::create_tenant_directory(m).await?;
        bus::migration::create_people(m).await?;
        m.create_table(
            Table::create()
                .table("services")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("name", 200))
                .col(text("description"))
                .col(uuid_null("owner_id"))
                .col(uuid_null("manager_id"))
                .col(uuid_null("support_group_id"))
                .col(string_len("stage", 16))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        // A service's name is unique in its tenant: two "Payroll" services would be one too
        // many for whoever picks one on a form.
        m.create_index(
            Index::create()
                .name("services_tenant_name")
                .table("services")
                .col("tenant_id")
                .col("name")
                .unique()
                .if_not_exists()
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("service_stage_changes")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("service_id"))
                .col(string_len("from_stage", 16))
                .col(string_len("to_stage", 16))
                .col(text("rationale"))
                .col(uuid("actor_id"))
                .col(timestamp_with_time_zone("at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("service_stage_changes_service")
                .table("service_stage_changes")
                .col("tenant_id")
                .col("service_id")
                .col("at")
                .if_not_exists()
                .take(),
        )
        .await?;
        enforce_rls(
            m.get_connection(),
            &["services", "service_stage_changes"],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}

struct M0002Offerings;

impl MigrationName for M0002Offerings {
    fn name(&self) -> &str {
        "m20261205_000002_offerings"
    }
}

/// Service offerings: what a service offers (a package of it, say "Payroll — EMEA"), with the
/// group that supports it.
#[async_trait::async_trait]
impl MigrationTrait for M0002Offerings {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("offerings")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("service_id"))
                .col(string_len("name", 200))
                .col(text("description"))
                .col(uuid_null("support_group_id"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        // An offering's name is unique within its service.
        m.create_index(
            Index::create()
                .name("offerings_service_name")
                .table("offerings")
                .col("tenant_id")
                .col("service_id")
                .col("name")
                .unique()
                .if_not_exists()
                .take(),
        )
        .await?;
        enforce_rls(
            m.get_connection(),
            &["offerings"],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}

struct M0003Categories;

impl MigrationName for M0003Categories {
    fn name(&self) -> &str {
        "m20261206_000003_categories"
    }
}

/// The catalogue's categories: a tree per tenant.
#[async_trait::async_trait]
impl MigrationTrait for M0003Categories {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("categories")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid_null("parent_id"))
                .col(string_len("name", 200))
                .col(text("description"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("categories_parent")
                .table("categories")
                .col("tenant_id")
                .col("parent_id")
                .if_not_exists()
                .take(),
        )
        .await?;
        enforce_rls(
            m.get_connection(),
            &["categories"],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}

struct M0004Items;

impl MigrationName for M0004Items {
    fn name(&self) -> &str {
        "m20261206_000004_items"
    }
}

/// Catalogue items: what requesters order, each on its form, with its price, approval policy
/// and fulfilment plan.
#[async_trait::async_trait]
impl MigrationTrait for M0004Items {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("items")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("key", 64))
                .col(string_len("name", 200))
                .col(text("description"))
                .col(uuid("service_id"))
                .col(uuid_null("offering_id"))
                .col(uuid_null("category_id"))
                .col(string_len("state", 16))
                .col(json("form_schema"))
                .col(string_len_null("price_amount", 16))
                .col(string_len_null("currency", 3))
                .col(string_len_null("cost_amount", 16))
                .col(integer("max_quantity"))
                .col(json("availability"))
                .col(json_null("approval_policy"))
                .col(json("fulfilment_plan"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        // Integrations and the demo data name an item by its key, unique in its tenant.
        m.create_index(
            Index::create()
                .name("items_tenant_key")
                .table("items")
                .col("tenant_id")
                .col("key")
                .unique()
                .if_not_exists()
                .take(),
        )
        .await?;
        // The effective catalogue reads the published items of a tenant's lineage.
        m.create_index(
            Index::create()
                .name("items_tenant_state")
                .table("items")
                .col("tenant_id")
                .col("state")
                .col("id")
                .if_not_exists()
                .take(),
        )
        .await?;
        enforce_rls(
            m.get_connection(),
            &["items"],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}

struct M0005ItemOverrides;

impl MigrationName for M0005ItemOverrides {
    fn name(&self) -> &str {
        "m20261206_000005_item_overrides"
    }
}

/// A tenant's overrides of the items it inherits: one row per tenant and item.
#[async_trait::async_trait]
impl MigrationTrait for M0005ItemOverrides {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("item_overrides")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("item_id"))
                .col(boolean_null("hidden"))
                .col(string_len_null("name", 200))
                .col(json_null("approval_policy"))
                .col(string_len_null("price_amount", 16))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("item_overrides_tenant_item")
                .table("item_overrides")
                .col("tenant_id")
                .col("item_id")
                .unique()
                .if_not_exists()
                .take(),
        )
        .await?;
        enforce_rls(
            m.get_connection(),
            &["item_overrides"],
            &tenant_predicate("tenant_id"),
        )
        .await
    }
}

struct M0006Requests;

impl MigrationName for M0006Requests {
    fn name(&self) -> &str {
        "m20261206_000006_requests"
    }
}

/// Requests, their items (RITMs) with what was ordered pinned, approvals, fulfilment tasks,
/// approval delegations, the per-tenant number counters, and users' managers in the people
/// projection.
#[async_trait::async_trait]
impl MigrationTrait for M0006Requests {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for counter in ["request_numbers", "request_item_numbers"] {
            m.create_table(
                Table::create()
                    .table(counter)
                    .if_not_exists()
                    .col(pk_uuid("tenant_id"))
                    .col(big_integer("next"))
                    .take(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table("requests")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("number", 16))
                .col(uuid("requester_id"))
                .col(string_len("state", 16))
                .col(uuid_null("suggestion_session_id"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("request_items")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("request_id"))
                .col(string_len("number", 16))
                .col(uuid("requester_id"))
                .col(uuid("item_id"))
                .col(uuid("item_tenant_id"))
                .col(big_integer("item_version"))
                .col(uuid("service_id"))
                .col(string_len("name", 200))
                .col(integer("quantity"))
                .col(json("variables"))
                .col(json_null("approval_policy"))
                .col(json("fulfilment_plan"))
                .col(string_len_null("price_amount", 16))
                .col(string_len_null("currency", 3))
                .col(string_len("state", 24))
                .col(string_len("approval_state", 16))
                .col(integer("approval_step"))
                .col(integer("fulfilment_stage"))
                .col(string_len_null("close_reason", 32))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("approvals")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("request_item_id"))
                .col(integer("step"))
                .col(uuid("approver_id"))
                .col(string_len("state", 16))
                .col(uuid_null("decided_by"))
                .col(uuid_null("on_behalf_of"))
                .col(text_null("comment"))
                .col(timestamp_with_time_zone_null("decided_at"))
                .col(timestamp_with_time_zone("remind_at"))
                .col(timestamp_with_time_zone_null("reminded_at"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("fulfilment_tasks")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("request_item_id"))
                .col(string_len("number", 24))
                .col(integer("stage"))
                .col(string_len("name", 200))
                .col(uuid("group_id"))
                .col(string_len("state", 16))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("approval_delegations")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("delegator_id"))
                .col(uuid("delegate_id"))
                .col(timestamp_with_time_zone("starts_at"))
                .col(timestamp_with_time_zone("ends_at"))
                .col(big_integer("version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        bus::migration::add_user_manager(m).await?;
        for (name, table, cols) in [
            (
                "requests_requester",
                "requests",
                &["tenant_id", "requester_id", "id"][..],
            ),
            (
                "request_items_request",
                "request_items",
                &["tenant_id", "request_id"][..],
            ),
            (
                "request_items_service_state",
                "request_items",
                &["service_id", "state"][..],
            ),
            (
                "approvals_item",
                "approvals",
                &["tenant_id", "request_item_id", "step"][..],
            ),
            (
                "approvals_approver",
                "approvals",
                &["tenant_id", "approver_id", "state"][..],
            ),
            ("approvals_remind", "approvals", &["state", "remind_at"][..]),
            (
                "approvals_expire",
                "approvals",
                &["state", "expires_at"][..],
            ),
            (
                "fulfilment_tasks_item",
                "fulfilment_tasks",
                &["tenant_id", "request_item_id", "stage"][..],
            ),
            (
                "approval_delegations_delegate",
                "approval_delegations",
                &["tenant_id", "delegate_id"][..],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(table).if_not_exists();
            for col in cols {
                index.col(*col);
            }
            m.create_index(index.take()).await?;
        }
        enforce_rls(
            m.get_connection(),
            &[
                "request_numbers",
                "request_item_numbers",
                "requests",
                "request_items",
                "fulfilment_tasks",
                "approval_delegations",
            ],
            &tenant_predicate("tenant_id"),
        )
        .await?;
        // The approval workers claim due approvals across tenants by declaring
        // `app.approval_worker` (and nothing else may); everything else is scoped.
        enforce_rls(
            m.get_connection(),
            &["approvals"],
            &format!(
                "{} OR current_setting('app.approval_worker', true) = 'on'",
                tenant_predicate("tenant_id")
            ),
        )
        .await
    }
}
