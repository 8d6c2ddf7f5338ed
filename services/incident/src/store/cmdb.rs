//! The catalogue's CMDB as incident reads it (projected by `bus::cmdb`): an incident may name
//! only a CI its tenant owns or is granted, and not a retired one; its affected services are
//! the business services upstream of that CI.
use bus::entities::cmdb_ci;
use platform::tenancy::TenantId;
use sea_orm::{DatabaseTransaction, DbErr, EntityTrait};
use uuid::Uuid;

/// A business service upstream of a CI: its CI, the portfolio service it stands for, and how
/// many relationships away it is.
#[derive(Debug, Clone, sea_orm::FromQueryResult)]
pub struct AffectedService {
    pub ci_id: Uuid,
    pub name: String,
    pub service_id: Option<Uuid>,
    pub depth: i32,
}

/// The business services of `tenant` upstream of `ci` within `depth` relationships of the
/// tenant's (a shared CI is walked through the tenant's own relationships): one recursive
/// query, nearest first.
pub async fn affected_services(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    ci: Uuid,
    depth: u32,
) -> Result<Vec<AffectedService>, DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
    let backend = txn.get_database_backend();
    let p = |n: usize| match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    };
    let sql = format!(
        "WITH RECURSIVE up(ci, depth) AS ( \
           SELECT {root}, 0 \
           UNION \
           SELECT CASE WHEN r.target_id = u.ci THEN r.source_id ELSE r.target_id END, u.depth + 1 \
           FROM up u JOIN cmdb_relationships r \
             ON (r.target_id = u.ci OR (r.type = 'connected_to' AND r.source_id = u.ci)) \
           WHERE u.depth < {depth} AND r.tenant_id = {tenant} AND NOT r.deleted \
         ) \
         SELECT c.ci_id, c.name, c.service_id, CAST(MIN(u.depth) AS INTEGER) AS depth \
         FROM up u JOIN cmdb_cis c ON c.ci_id = u.ci AND c.tenant_id = {tenant} \
         WHERE u.depth > 0 AND (c.class_path = 'business_service' \
           OR c.class_path LIKE 'business_service/%') \
         GROUP BY c.ci_id, c.name, c.service_id ORDER BY depth, c.name",
        root = p(1),
        depth = p(2),
        tenant = p(3),
    );
    let values: Vec<sea_orm::Value> =
        vec![ci.into(), i64::from(depth).into(), tenant.as_uuid().into()];
    AffectedService::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .all(txn)
        .await
}

/// Whether `tenant` may name CI `id` on an incident: `None` if it does not see one, else
/// whether the CI is retired.
pub async fn retired(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<bool>, DbErr> {
    Ok(find(txn, tenant, id).await?.map(|c| is_retired(&c)))
}

/// CI `id` as `tenant` sees it (one it owns or is granted), if it does.
pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<cmdb_ci::Model>, DbErr> {
    cmdb_ci::Entity::find_by_id((id, tenant.as_uuid()))
        .one(txn)
        .await
}

/// A retired CI may not be named on an incident.
pub fn is_retired(ci: &cmdb_ci::Model) -> bool {
    ci.status == "retired"
}
