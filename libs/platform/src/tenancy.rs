//! Tenancy, failing closed: every transaction that touches tenant data first states which
//! tenants it may see (`app.tenant_ids`, transaction-local), and PostgreSQL row-level security
//! hides every other row. With nothing set, no row is visible.
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, FromQueryResult,
    Statement, TransactionTrait,
    sea_query::{Expr, PostgresQueryBuilder, SelectStatement},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

/// A tenant's id: a uuid that cannot be passed where another kind of id is meant. Stored and
/// serialized as the plain uuid.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    sea_orm::DeriveValueType,
)]
#[serde(transparent)]
pub struct TenantId(pub Uuid);

impl TenantId {
    pub fn as_uuid(self) -> Uuid {
        self.0
    }

    /// `ids` (a tenant path, say) as tenant ids.
    pub fn many(ids: &[Uuid]) -> Vec<TenantId> {
        ids.iter().copied().map(TenantId).collect()
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for TenantId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(TenantId)
    }
}

impl From<Uuid> for TenantId {
    fn from(id: Uuid) -> Self {
        TenantId(id)
    }
}

impl From<TenantId> for Uuid {
    fn from(id: TenantId) -> Self {
        id.0
    }
}

/// Where a tenant sits in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantKind {
    /// The platform operator (root).
    Platform,
    /// A managed service provider.
    Msp,
    /// A customer of an MSP (or a sub-customer).
    Customer,
}

impl TenantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantKind::Platform => "platform",
            TenantKind::Msp => "msp",
            TenantKind::Customer => "customer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "platform" => Some(TenantKind::Platform),
            "msp" => Some(TenantKind::Msp),
            "customer" => Some(TenantKind::Customer),
            _ => None,
        }
    }
}

/// What authorization needs to know about a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInfo {
    pub id: TenantId,
    pub slug: String,
    pub kind: TenantKind,
    /// Ids from the root down to this tenant, inclusive.
    pub path: Vec<TenantId>,
    pub active: bool,
    /// The tenant's request budget per minute: the lowest `api_rate_limit_per_minute` setting
    /// on its path (a provider's limit caps everything below it); None for the platform default.
    pub rate_limit_per_minute: Option<u32>,
}

impl TenantInfo {
    /// Its `path`: the scope that sees it and the tenants above it.
    pub fn lineage(&self) -> &[TenantId] {
        &self.path
    }
}

/// The per-minute limit of the tenant at the end of `path` (root first), given each tenant's
/// own override of [`crate::ratelimit::TENANT_LIMIT_SETTING`]: the lowest on the path. The
/// limit is owned by the providers above a tenant, which may only tighten it (ADR 17), so an
/// override below a provider that lowered its own value later is capped by it.
pub fn inherited_limit(
    path: &[TenantId],
    override_of: impl Fn(TenantId) -> Option<serde_json::Value>,
) -> Option<u32> {
    path.iter()
        .filter_map(|t| override_of(*t))
        .filter_map(|v| v.as_u64())
        .filter_map(|n| u32::try_from(n).ok())
        .min()
}

/// The tenant tree as seen from one tenant: itself and its descendants, nothing else.
/// Identity implements it over its own tables; other services over their projection.
#[async_trait]
pub trait TenantDirectory: Send + Sync {
    /// The tenant named by `key` (id or slug) if it is `home` or below it.
    async fn resolve(&self, home: Uuid, key: &str) -> Result<Option<TenantInfo>, ApiError>;
    /// `root` and all its descendants.
    async fn subtree(&self, root: Uuid) -> Result<Vec<Uuid>, ApiError>;
}

/// A directory in front of another that remembers answers for `ttl`. The process that changes
/// the tree (identity) calls [`CachedDirectory::invalidate`] on every change, so it never serves
/// a stale answer itself; other processes see a change within `ttl`.
pub struct CachedDirectory {
    inner: Arc<dyn TenantDirectory>,
    ttl: Duration,
    resolved: RwLock<HashMap<ResolveKey, (Instant, Option<TenantInfo>)>>,
    subtrees: RwLock<HashMap<Uuid, Cached<Arc<Vec<Uuid>>>>>,
}

/// An answer and when it was fetched.
type Cached<T> = (Instant, T);

/// `(home tenant, id or slug)` of a [`TenantDirectory::resolve`] call.
type ResolveKey = (Uuid, String);

impl CachedDirectory {
    pub fn new(inner: Arc<dyn TenantDirectory>, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            resolved: RwLock::new(HashMap::new()),
            subtrees: RwLock::new(HashMap::new()),
        }
    }

    /// Forgets every cached answer (call after any change to the tenant tree).
    pub fn invalidate(&self) {
        if let Ok(mut map) = self.resolved.write() {
            map.clear();
        }
        if let Ok(mut map) = self.subtrees.write() {
            map.clear();
        }
    }
}

#[async_trait]
impl TenantDirectory for CachedDirectory {
    async fn resolve(&self, home: Uuid, key: &str) -> Result<Option<TenantInfo>, ApiError> {
        let k = (home, key.to_string());
        if let Some((at, hit)) = self.resolved.read().ok().and_then(|m| m.get(&k).cloned())
            && at.elapsed() < self.ttl
        {
            return Ok(hit);
        }
        let fresh = self.inner.resolve(home, key).await?;
        if let Ok(mut map) = self.resolved.write() {
            if map.len() >= 10_000 {
                map.clear();
            }
            map.insert(k, (Instant::now(), fresh.clone()));
        }
        Ok(fresh)
    }

    async fn subtree(&self, root: Uuid) -> Result<Vec<Uuid>, ApiError> {
        if let Some((at, hit)) = self
            .subtrees
            .read()
            .ok()
            .and_then(|m| m.get(&root).cloned())
            && at.elapsed() < self.ttl
        {
            return Ok(hit.to_vec());
        }
        let fresh = Arc::new(self.inner.subtree(root).await?);
        if let Ok(mut map) = self.subtrees.write() {
            if map.len() >= 10_000 {
                map.clear();
            }
            map.insert(root, (Instant::now(), fresh.clone()));
        }
        Ok(fresh.to_vec())
    }
}

/// Pre-authentication lookups that may see exactly one row of one table, by a key the caller
/// must already hold (the login email, a token's hash, an API client id). Each has its own
/// narrow RLS policy clause; see the identity migrations.
#[derive(Debug, Clone, Copy)]
pub enum LookupKey {
    Email,
    TokenHash,
    ClientId,
}

impl LookupKey {
    pub fn setting(self) -> &'static str {
        match self {
            LookupKey::Email => "app.lookup_email",
            LookupKey::TokenHash => "app.lookup_token_hash",
            LookupKey::ClientId => "app.lookup_client_id",
        }
    }
}

async fn set_local(txn: &DatabaseTransaction, name: &str, value: String) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config($1, $2, true)",
            [name.into(), value.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Joins ids the way the RLS policies split them: `,` and no spaces.
pub(crate) fn join_ids(tenants: &[TenantId]) -> String {
    tenants
        .iter()
        .map(TenantId::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Scopes of at least this many tenants (an MSP's view across its customers) are sent to
/// PostgreSQL once per connection instead of with every transaction; see [`scope_to`].
pub const LARGE_SCOPE: usize = 64;

/// Whether a query over a transaction scoped to exactly `tenants` must also filter by them
/// itself. SQLite has no row-level security, so always. On PostgreSQL the policy already limits
/// every row to the scope; for a large scope repeating it as an `IN` list of a thousand ids
/// costs more to send and plan than the page it selects, so only small scopes (where the list
/// also guides the planner to the tenant's index) are repeated.
pub fn filter_in_query(backend: DbBackend, tenants: &[TenantId]) -> bool {
    backend != DbBackend::Postgres || tenants.len() < LARGE_SCOPE
}

/// Sets (or replaces) the tenants the current transaction may see.
///
/// A large scope is about 37 bytes per tenant; sending 37 KB with each transaction stalls on
/// TCP (Nagle's algorithm meets delayed acknowledgements, ~40 ms). So a large scope is kept in
/// two session settings of the connection, `app.scope_list` and `app.scope_digest` (its
/// SHA-256), and the transaction-local `app.tenant_ids` holds `#` and the digest. The policies
/// accept the session list only while its digest matches the transaction's (see
/// [`tenant_predicate`]); a transaction that sets nothing still sees nothing.
pub async fn scope_to(txn: &DatabaseTransaction, tenants: &[TenantId]) -> Result<(), DbErr> {
    let ids = join_ids(tenants);
    if tenants.len() < LARGE_SCOPE || txn.get_database_backend() != DbBackend::Postgres {
        return set_local(txn, "app.tenant_ids", ids).await;
    }
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(ids.as_bytes()));
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config('app.tenant_ids', '#' || $1, true), \
             current_setting('app.scope_digest', true) IS NOT DISTINCT FROM $1 AS cached",
            [digest.clone().into()],
        ))
        .await?;
    let cached = match row {
        Some(row) => row.try_get::<bool>("", "cached")?,
        None => false,
    };
    if !cached {
        // Session-level (`false`): kept for the connection's later transactions. Rolled back
        // with this transaction if it fails, like any setting.
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config('app.scope_list', $1, false), set_config('app.scope_digest', $2, false)",
            [ids.into(), digest.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Begins a transaction that sees only `tenants`' rows.
pub async fn begin_scoped(
    db: &DatabaseConnection,
    tenants: &[TenantId],
) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    scope_to(&txn, tenants).await?;
    Ok(txn)
}

/// Reads `select`'s rows as `M`, scoped to `tenants`, in as few round trips as the scope
/// allows. On PostgreSQL with a small scope that is one statement with no transaction around
/// it: the scope is set in a `MATERIALIZED` CTE and the query runs as a `LATERAL` subquery
/// that refers to it, so PostgreSQL must evaluate the scope first (a nested loop with the
/// one-row scope outside, which also keeps the subquery's order). Were it ever evaluated
/// later, row-level security would show nothing: the construction fails closed. Large (MSP)
/// scopes, cached per connection, and SQLite run the query in a scoped transaction.
pub async fn scoped_all<M: FromQueryResult>(
    db: &DatabaseConnection,
    tenants: &[TenantId],
    mut select: SelectStatement,
) -> Result<Vec<M>, DbErr> {
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres || tenants.len() >= LARGE_SCOPE {
        let txn = begin_scoped(db, tenants).await?;
        let rows = M::find_by_statement(backend.build(&select))
            .all(&txn)
            .await?;
        txn.commit().await?;
        return Ok(rows);
    }
    select.and_where(Expr::cust("scope.scoped IS NOT NULL"));
    let (sql, mut values) = select.build(PostgresQueryBuilder);
    values.0.push(join_ids(tenants).into());
    let sql = format!(
        "WITH scope AS MATERIALIZED (SELECT set_config('app.tenant_ids', ${}, true) AS scoped) \
         SELECT page.* FROM scope, LATERAL ({sql}) AS page",
        values.0.len()
    );
    M::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await
}

/// Begins a transaction that sees only the row(s) matching one pre-authentication key.
pub async fn begin_lookup(
    db: &DatabaseConnection,
    key: LookupKey,
    value: &str,
) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    set_local(&txn, key.setting(), value.to_string()).await?;
    Ok(txn)
}

/// The SQL expression that is true when `column` is one of the transaction's tenants. The list
/// is read in an uncorrelated sub-select, which PostgreSQL evaluates once per statement (an
/// InitPlan) instead of parsing the setting again for every row it checks — with an MSP's
/// thousand customers in scope that is the difference between microseconds and milliseconds
/// per row.
pub fn tenant_predicate(column: &str) -> String {
    format!("{column} = ANY ({SCOPE}::uuid[])")
}

/// The transaction's tenants as `uuid[]`, in an uncorrelated sub-select: the list in
/// `app.tenant_ids`, or, when that holds `#` and a digest, the connection's cached list if (and
/// only if) its digest is that one. Unset or mismatched → NULL or empty → no rows.
const SCOPE: &str = "(SELECT string_to_array(CASE WHEN left(s, 1) <> '#' THEN s \
     WHEN substr(s, 2) = current_setting('app.scope_digest', true) \
     THEN current_setting('app.scope_list', true) END, ',')::uuid[] \
     FROM (SELECT current_setting('app.tenant_ids', true) AS s) AS scope)";

/// The SQL expression that is true when any tenant on the row's materialised `path` (ids joined
/// by `/`, root first) is one of the transaction's tenants: scoping to a tenant shows it and its
/// whole subtree.
pub fn path_predicate(column: &str) -> String {
    format!("string_to_array({column}, '/')::uuid[] && {SCOPE}")
}

/// Forces row-level security with `predicate` on each of `tables` (PostgreSQL; a no-op on
/// SQLite, where the application's own tenant filter is the isolation).
pub async fn enforce_rls(
    db: &impl ConnectionTrait,
    tables: &[&str],
    predicate: &str,
) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    for table in tables {
        for sql in rls_ddl(table, predicate) {
            db.execute_unprepared(&sql).await?;
        }
    }
    Ok(())
}

/// DDL that turns on forced row-level security for `table` with `predicate` as the policy
/// (PostgreSQL only; SQLite is single-tenant per process file and scoped in the application).
pub fn rls_ddl(table: &str, predicate: &str) -> Vec<String> {
    vec![
        format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"),
        format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"),
        format!("DROP POLICY IF EXISTS tenant_isolation ON {table}"),
        format!(
            "CREATE POLICY tenant_isolation ON {table} USING ({predicate}) WITH CHECK ({predicate})"
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_id_is_a_plain_uuid_outside() {
        let id = Uuid::now_v7();
        let tenant = TenantId(id);
        assert_eq!(serde_json::json!(tenant), serde_json::json!(id.to_string()));
        assert_eq!(
            serde_json::from_value::<TenantId>(serde_json::json!(id)).ok(),
            Some(tenant)
        );
        assert_eq!(tenant.to_string(), id.to_string());
        assert_eq!(id.to_string().parse::<TenantId>().ok(), Some(tenant));
        assert_eq!(sea_orm::Value::from(tenant), sea_orm::Value::from(id));
        assert_eq!(join_ids(&[tenant, tenant]), format!("{id},{id}"));
    }

    #[test]
    fn the_lowest_override_on_the_path_is_the_limit() {
        let (root, msp, customer) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let path = [root, msp, customer].map(TenantId);
        let limits = |own: &'static [(usize, u64)]| {
            move |t: TenantId| {
                own.iter()
                    .find(|(i, _)| path[*i] == t)
                    .map(|(_, n)| serde_json::json!(n))
            }
        };
        assert_eq!(inherited_limit(&path, limits(&[])), None);
        assert_eq!(inherited_limit(&path, limits(&[(1, 600)])), Some(600));
        assert_eq!(
            inherited_limit(&path, limits(&[(1, 600), (2, 120)])),
            Some(120)
        );
        // A provider that lowers its limit caps a higher override below it.
        assert_eq!(
            inherited_limit(&path, limits(&[(0, 60), (1, 600), (2, 120)])),
            Some(60)
        );
        assert_eq!(inherited_limit(&path, limits(&[(0, 60)])), Some(60));
    }
}
