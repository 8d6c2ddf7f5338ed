//! Database connections for both deployment modes: SQLite files under the data dir (embedded)
//! or PostgreSQL with one schema per service, an application role for serving and an owner
//! role for migrations.
use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
};

use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("cannot create data dir {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("{0}")]
    Unsafe(String),
    #[error("invalid setting: {0}")]
    Config(String),
}

/// Which database a service uses, derived from settings.
#[derive(Debug, Clone)]
pub enum Target {
    Sqlite {
        url: String,
    },
    Postgres {
        app_url: String,
        owner_url: Option<String>,
    },
}

impl Target {
    pub fn from_settings(settings: &Settings, service: &str) -> Result<Self, DbSetupError> {
        match &settings.database_url {
            Some(url) => Ok(Target::Postgres {
                app_url: url.expose().to_string(),
                owner_url: settings
                    .migration_database_url
                    .as_ref()
                    .map(|u| u.expose().to_string()),
            }),
            None => {
                std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
                    DbSetupError::DataDir(settings.data_dir.display().to_string(), e)
                })?;
                let path = settings.data_dir.join(format!("{service}.sqlite"));
                Ok(Target::Sqlite {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                })
            }
        }
    }
}

fn options(url: &str, schema: &str, max_connections: u32) -> ConnectOptions {
    let mut opt = ConnectOptions::new(url.to_string());
    opt.connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // One connection: SQLite has a single writer, and serialising here makes the
        // read-then-append of the audit chain and of human numbers race-free.
        opt.max_connections(1).min_connections(1);
    } else {
        // A connection is pinged before use only after 1 s idle, as HikariCP does: pinging on
        // every checkout is one more round trip per request, and a connection in steady use
        // has just proved itself. The price: after a database restart, a connection used in
        // the last second fails its next statement once before the pool replaces it.
        opt.max_connections(max_connections)
            .min_connections(1)
            .test_before_acquire_if_idle_for(Duration::from_secs(1))
            .set_schema_search_path(schema.to_string());
    }
    opt
}

/// Connects as the application role (serving).
pub async fn connect_app(
    target: &Target,
    schema: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    match target {
        Target::Sqlite { url } => Database::connect(options(url, schema, 1)).await,
        Target::Postgres { app_url, .. } => {
            Database::connect(options(app_url, schema, max_connections)).await
        }
    }
}

/// Connects as the owner role (migrations), creating the service's schema first.
pub async fn connect_owner(
    target: &Target,
    schema: &str,
) -> Result<DatabaseConnection, DbSetupError> {
    match target {
        Target::Sqlite { url } => Ok(Database::connect(options(url, schema, 1)).await?),
        Target::Postgres { owner_url, .. } => {
            let url = owner_url.as_deref().ok_or_else(|| {
                DbSetupError::Unsafe(
                    "migrations need ITSM_MIGRATION_DATABASE_URL (the owner role)".into(),
                )
            })?;
            ident(schema)?;
            let bootstrap = Database::connect(options(url, "public", 1)).await?;
            bootstrap
                .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await?;
            bootstrap.close().await?;
            Ok(Database::connect(options(url, schema, 2)).await?)
        }
    }
}

/// The role name in a PostgreSQL URL.
pub fn role_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.username().to_string())
        .filter(|u| !u.is_empty())
}

/// An identifier we are about to splice into DDL: only `[a-z_][a-z0-9_]*`.
pub fn ident(name: &str) -> Result<&str, DbSetupError> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(name)
    } else {
        Err(DbSetupError::Unsafe(format!(
            "unsafe SQL identifier {name:?}"
        )))
    }
}

/// Grants the application role what serving needs in `schema`, and nothing it could use to
/// escape row-level security: no ownership, no DDL.
pub async fn grant_app_role(
    owner: &DatabaseConnection,
    schema: &str,
    app_role: &str,
) -> Result<(), DbSetupError> {
    let (schema, role) = (ident(schema)?, ident(app_role)?);
    for sql in [
        format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"),
    ] {
        owner.execute_unprepared(&sql).await?;
    }
    Ok(())
}

/// Run once per database, as a superuser, before `itsm migrate` (README, "PostgreSQL").
/// Row-level security keeps a query's conditions that are not LEAKPROOF out of index scans, and
/// the full-text match `tsvector @@ tsquery` is not marked so: without this statement a
/// knowledge search reads every row the tenant may see instead of its GIN index (ADR 30). The
/// function only compares its two arguments and raises no error that depends on them.
pub const TEXT_MATCH_LEAKPROOF: &str =
    "ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF";

/// Whether [`TEXT_MATCH_LEAKPROOF`] holds in this database (always on SQLite).
pub async fn text_match_is_leakproof(db: &DatabaseConnection) -> Result<bool, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(true);
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT proleakproof FROM pg_proc \
             WHERE oid = 'pg_catalog.ts_match_vq(tsvector, tsquery)'::regprocedure",
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get("", "proleakproof")?,
        None => false,
    })
}

/// Refuses to serve as a role that would bypass row-level security.
pub async fn assert_app_role_is_confined(db: &DatabaseConnection) -> Result<(), DbSetupError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT rolsuper, rolbypassrls, \
             (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE c.relowner = r.oid AND n.nspname = current_schema()) AS owned \
             FROM pg_roles r WHERE rolname = current_user",
        ))
        .await?
        .ok_or_else(|| DbSetupError::Unsafe("current role not found".into()))?;
    let superuser: bool = row.try_get("", "rolsuper")?;
    let bypass: bool = row.try_get("", "rolbypassrls")?;
    let owned: i64 = row.try_get("", "owned")?;
    if superuser || bypass || owned > 0 {
        return Err(DbSetupError::Unsafe(format!(
            "ITSM_DATABASE_URL must name a role that is NOSUPERUSER, NOBYPASSRLS and owns no \
             tables (superuser={superuser}, bypassrls={bypass}, owned={owned}); row-level \
             security would not apply to it"
        )));
    }
    Ok(())
}

/// Readiness check: `SELECT 1`.
pub struct DbReadiness(pub DatabaseConnection);

impl crate::health::ReadinessCheck for DbReadiness {
    fn name(&self) -> &'static str {
        "database"
    }
    fn check(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            self.0
                .execute_unprepared("SELECT 1")
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}
