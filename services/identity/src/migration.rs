//! Identity's schema. Runs unchanged on SQLite and PostgreSQL; on PostgreSQL it also turns on
//! forced row-level security for every tenant table and makes the audit log append-only.
use platform::tenancy::{path_predicate, rls_ddl, tenant_predicate};
use sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Identity),
            Box::new(M0002Outbox),
            Box::new(M0003LoginAttempts),
            Box::new(M0004SealedSigningKeys),
            Box::new(M0005UserManagers),
        ]
    }
}

struct M0001Identity;

impl MigrationName for M0001Identity {
    fn name(&self) -> &str {
        "m20261125_000001_identity"
    }
}

fn ts(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone(name)
}

fn ts_null(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone_null(name)
}

fn index(
    name: &str,
    table: &'static str,
    cols: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).table(table).if_not_exists();
    for c in cols {
        idx.col(*c);
    }
    if unique {
        idx.unique();
    }
    idx.take()
}

#[async_trait::async_trait]
impl MigrationTrait for M0001Identity {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("tenants")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid_null("parent_id"))
                .col(text("path"))
                .col(string_len("kind", 16))
                .col(string_len("name", 200))
                .col(string_len_uniq("slug", 63))
                .col(string_len("status", 16))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(index(
            "tenants_parent",
            "tenants",
            &["parent_id", "id"],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("tenant_settings")
                .if_not_exists()
                .col(uuid("tenant_id"))
                .col(string_len("key", 64))
                .col(json("value"))
                .col(ts("updated_at"))
                .primary_key(Index::create().col("tenant_id").col("key"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("users")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len_uniq("email", 254))
                .col(string_len("display_name", 200))
                .col(text_null("password_hash"))
                .col(string_len("status", 16))
                .col(integer("failed_logins").default(0))
                .col(ts_null("locked_until"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(index("users_tenant", "users", &["tenant_id", "id"], false))
            .await?;

        m.create_table(
            Table::create()
                .table("user_roles")
                .if_not_exists()
                .col(uuid("tenant_id"))
                .col(uuid("user_id"))
                .col(string_len("role", 32))
                .primary_key(Index::create().col("tenant_id").col("user_id").col("role"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("groups")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("name", 200))
                .col(text("description"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(index(
            "groups_tenant_name",
            "groups",
            &["tenant_id", "name"],
            true,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("group_members")
                .if_not_exists()
                .col(uuid("tenant_id"))
                .col(uuid("group_id"))
                .col(uuid("user_id"))
                .col(ts("created_at"))
                .primary_key(
                    Index::create()
                        .col("tenant_id")
                        .col("group_id")
                        .col("user_id"),
                )
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("one_time_tokens")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("user_id"))
                .col(string_len("purpose", 16))
                .col(string_len_uniq("token_hash", 64))
                .col(ts("expires_at"))
                .col(ts_null("used_at"))
                .col(ts("created_at"))
                .take(),
        )
        .await?;
        m.create_index(index(
            "ott_tenant_user",
            "one_time_tokens",
            &["tenant_id", "user_id"],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("refresh_tokens")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("family_id"))
                .col(uuid("user_id"))
                .col(string_len_uniq("token_hash", 64))
                .col(ts("expires_at"))
                .col(ts_null("used_at"))
                .col(ts_null("revoked_at"))
                .col(ts("created_at"))
                .take(),
        )
        .await?;
        m.create_index(index(
            "rt_tenant_family",
            "refresh_tokens",
            &["tenant_id", "family_id"],
            false,
        ))
        .await?;
        m.create_index(index(
            "rt_tenant_user",
            "refresh_tokens",
            &["tenant_id", "user_id"],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("api_clients")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("name", 200))
                .col(text("scopes"))
                .col(text("secret_hash"))
                .col(string_len("status", 16))
                .col(uuid("created_by"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(index(
            "api_clients_tenant",
            "api_clients",
            &["tenant_id", "id"],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("signing_keys")
                .if_not_exists()
                .col(string_len("kid", 64).primary_key())
                .col(blob("private_pkcs8"))
                .col(blob("public_raw"))
                .col(string_len("status", 16))
                .col(ts("created_at"))
                .col(ts_null("retired_at"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("audit_log")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(big_integer("seq"))
                .col(ts("at"))
                .col(uuid_null("actor_id"))
                .col(string_len("action", 64))
                .col(string_len("target_type", 32))
                .col(uuid_null("target_id"))
                .col(json("data"))
                .col(string_len("prev_hash", 64))
                .col(string_len("hash", 64))
                .take(),
        )
        .await?;
        m.create_index(index(
            "audit_tenant_seq",
            "audit_log",
            &["tenant_id", "seq"],
            true,
        ))
        .await?;

        if m.get_database_backend() == DbBackend::Postgres {
            let db = m.get_connection();
            let tenants_visible = path_predicate("path");
            let by_tenant = tenant_predicate("tenant_id");
            let mut ddl = rls_ddl("tenants", &tenants_visible);
            for table in [
                "tenant_settings",
                "user_roles",
                "groups",
                "group_members",
                "audit_log",
            ] {
                ddl.extend(rls_ddl(table, &by_tenant));
            }
            // Pre-authentication lookups see exactly the row whose key they already hold.
            ddl.extend(rls_ddl(
                "users",
                &format!("{by_tenant} OR email = current_setting('app.lookup_email', true)"),
            ));
            for table in ["one_time_tokens", "refresh_tokens"] {
                ddl.extend(rls_ddl(
                    table,
                    &format!(
                        "{by_tenant} OR token_hash = current_setting('app.lookup_token_hash', true)"
                    ),
                ));
            }
            ddl.extend(rls_ddl(
                "api_clients",
                &format!("{by_tenant} OR id::text = current_setting('app.lookup_client_id', true)"),
            ));
            for sql in ddl {
                db.execute_unprepared(&sql).await?;
            }
        }
        Ok(())
    }
}

/// The transactional outbox of identity's events.
struct M0002Outbox;

impl MigrationName for M0002Outbox {
    fn name(&self) -> &str {
        "m20261125_000002_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002Outbox {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        bus::migration::create_outbox(m).await
    }
}

/// Password verifications per (email as typed, client address): the login back-off
/// (`store::login_attempts`). Not tenant data — it is consulted before anyone is authenticated —
/// so it has no tenant column and no row-level policy; times are Unix milliseconds so both
/// backends compare them the same way.
struct M0003LoginAttempts;

impl MigrationName for M0003LoginAttempts {
    fn name(&self) -> &str {
        "m20261204_000003_login_attempts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0003LoginAttempts {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("login_attempts")
                .if_not_exists()
                .col(string_len("email", 320))
                .col(string_len("client_addr", 64))
                .col(big_integer("budget"))
                .col(big_integer("failures"))
                .col(big_integer_null("locked_until_ms"))
                .col(big_integer("updated_at_ms"))
                .primary_key(Index::create().col("email").col("client_addr"))
                .take(),
        )
        .await
    }
}

/// After granting the app role its table privileges: the audit log is append-only to it.
pub async fn confine_app_role(
    owner: &sea_orm::DatabaseConnection,
    app_role: &str,
) -> Result<(), DbErr> {
    if owner.get_database_backend() == DbBackend::Postgres {
        owner
            .execute_unprepared(&format!(
                "REVOKE UPDATE, DELETE ON audit_log FROM {app_role}"
            ))
            .await?;
    }
    Ok(())
}

/// Signing keys sealed at rest: `private_pkcs8` holds the AES-256-GCM envelope when
/// `sealed_with` names the key-encryption key (NULL: a plaintext key of the embedded mode or from
/// before this migration, which identity seals on its next start when it has a key).
struct M0004SealedSigningKeys;

impl MigrationName for M0004SealedSigningKeys {
    fn name(&self) -> &str {
        "m20261205_000004_sealed_signing_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0004SealedSigningKeys {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("signing_keys")
                .add_column(string_len_null("sealed_with", 32))
                .take(),
        )
        .await
    }
}

struct M0005UserManagers;

impl MigrationName for M0005UserManagers {
    fn name(&self) -> &str {
        "m20261206_000005_user_managers"
    }
}

/// Each user's line manager (a user of the same tenant): who approves what they request.
#[async_trait::async_trait]
impl MigrationTrait for M0005UserManagers {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("users")
                .add_column(uuid_null("manager_id"))
                .take(),
        )
        .await
    }
}
