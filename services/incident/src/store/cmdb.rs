//! The catalogue's configuration items and relationships, projected from its events: an
//! incident may name only a CI its tenant owns or is granted, and not a retired one; its
//! affected services are the business services upstream of that CI. A CI a provider shares is
//! projected once per grantee too, so each tenant reads its rows under its own scope.
use bus::{Envelope, HandlerError};
use events::{
    Event,
    catalogue::{
        CiCreated, CiGrantChanged, CiRelationshipCreated, CiRelationshipDeleted, CiRetired,
        CiUpdated,
    },
};
use platform::tenancy::{TenantId, scope_to};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, sea_query::Expr,
};
use uuid::Uuid;

use super::entities::{cmdb_ci, cmdb_relationship};

/// Applies one of the catalogue's CI events; older versions change nothing.
pub async fn apply(txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
    bus::versions::check_lead(env)?;
    let t = env.event_type.as_str();
    let owner = env.tenantid;
    let v = env.aggregateversion;
    if t == CiCreated::event_type() {
        let e: CiCreated = env.payload()?;
        let fields = Some((e.name, e.class_path, e.status));
        upsert_owner(txn, owner, e.ci_id, fields, v).await?;
        if let Some(service) = e.service_id {
            cmdb_ci::Entity::update_many()
                .col_expr(cmdb_ci::Column::ServiceId, Expr::value(service))
                .filter(cmdb_ci::Column::CiId.eq(e.ci_id))
                .filter(cmdb_ci::Column::TenantId.eq(owner))
                .exec(txn)
                .await?;
        }
        return Ok(());
    }
    if t == CiRelationshipCreated::event_type() {
        let e: CiRelationshipCreated = env.payload()?;
        let edge_of = (e.relationship_id, e.source_id, e.rel_type, e.target_id);
        return edge(txn, owner, edge_of, false, v).await;
    }
    if t == CiRelationshipDeleted::event_type() {
        let e: CiRelationshipDeleted = env.payload()?;
        let edge_of = (e.relationship_id, e.source_id, e.rel_type, e.target_id);
        return edge(txn, owner, edge_of, true, v).await;
    }
    if t == CiUpdated::event_type() {
        let e: CiUpdated = env.payload()?;
        return upsert_owner(
            txn,
            owner,
            e.ci_id,
            Some((e.name, e.class_path, e.status)),
            v,
        )
        .await;
    }
    if t == CiRetired::event_type() {
        let e: CiRetired = env.payload()?;
        return upsert_owner(txn, owner, e.ci_id, None, v).await;
    }
    if t == CiGrantChanged::event_type() {
        let e: CiGrantChanged = env.payload()?;
        return regrant(txn, owner, e.ci_id, &e.tenant_ids, v).await;
    }
    Err(HandlerError::UnknownType(env.event_type.clone()))
}

fn grantees(row: &cmdb_ci::Model) -> Vec<Uuid> {
    serde_json::from_value(row.grantees.clone()).unwrap_or_default()
}

/// Widens the transaction to the owner and `tenants`, whose copies of the CI it writes.
async fn scope_with(txn: &DatabaseTransaction, owner: Uuid, tenants: &[Uuid]) -> Result<(), DbErr> {
    let mut scope = vec![TenantId(owner)];
    scope.extend(tenants.iter().map(|t| TenantId(*t)));
    scope_to(txn, &scope).await
}

async fn rows_of(txn: &DatabaseTransaction, ci: Uuid) -> Result<Vec<cmdb_ci::Model>, DbErr> {
    cmdb_ci::Entity::find()
        .filter(cmdb_ci::Column::CiId.eq(ci))
        .all(txn)
        .await
}

/// Records the owner's CI (`fields`: name, class path and status; `None`: retired) and copies
/// it to each grantee's row.
async fn upsert_owner(
    txn: &DatabaseTransaction,
    owner: Uuid,
    ci: Uuid,
    fields: Option<(String, String, String)>,
    v: i64,
) -> Result<(), HandlerError> {
    let own = cmdb_ci::Entity::find_by_id((ci, owner)).one(txn).await?;
    let shared = own.as_ref().map(grantees).unwrap_or_default();
    scope_with(txn, owner, &shared).await?;
    match own {
        Some(row) if !bus::versions::supersedes(row.version, v) => {}
        Some(_) => {
            for row in rows_of(txn, ci).await? {
                let mut am: cmdb_ci::ActiveModel = row.into();
                match &fields {
                    Some((name, class_path, status)) => {
                        am.name = Set(name.clone());
                        am.class_path = Set(class_path.clone());
                        am.status = Set(status.clone());
                    }
                    None => am.status = Set("retired".into()),
                }
                am.version = Set(v);
                am.update(txn).await?;
            }
        }
        None => {
            let (name, class_path, status) =
                fields.unwrap_or_else(|| (String::new(), String::new(), "retired".into()));
            cmdb_ci::ActiveModel {
                ci_id: Set(ci),
                tenant_id: Set(owner),
                owner_id: Set(owner),
                name: Set(name),
                class_path: Set(class_path),
                status: Set(status),
                grantees: Set(serde_json::json!([])),
                version: Set(v),
                service_id: Set(None),
            }
            .insert(txn)
            .await?;
        }
    }
    scope_to(txn, &[TenantId(owner)]).await?;
    Ok(())
}

/// Records a relationship of `tenant` (created, or `deleted`), unless a newer event did.
async fn edge(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    (id, source_id, rel_type, target_id): (Uuid, Uuid, String, Uuid),
    deleted: bool,
    v: i64,
) -> Result<(), HandlerError> {
    match cmdb_relationship::Entity::find_by_id(id).one(txn).await? {
        Some(row) if !bus::versions::supersedes(row.version, v) => {}
        Some(row) => {
            let mut am: cmdb_relationship::ActiveModel = row.into();
            am.deleted = Set(deleted);
            am.version = Set(v);
            am.update(txn).await?;
        }
        None => {
            cmdb_relationship::ActiveModel {
                id: Set(id),
                tenant_id: Set(tenant),
                source_id: Set(source_id),
                rel_type: Set(rel_type),
                target_id: Set(target_id),
                deleted: Set(deleted),
                version: Set(v),
            }
            .insert(txn)
            .await?;
        }
    }
    Ok(())
}

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

/// The owner's CI is shared with exactly `tenants` now: their copies follow.
async fn regrant(
    txn: &DatabaseTransaction,
    owner: Uuid,
    ci: Uuid,
    tenants: &[Uuid],
    v: i64,
) -> Result<(), HandlerError> {
    let Some(own) = cmdb_ci::Entity::find_by_id((ci, owner)).one(txn).await? else {
        // Its ci.created comes first on the owner's stream; until then, retry.
        return Err(HandlerError::Failed(format!(
            "CI {ci} is not projected yet"
        )));
    };
    if !bus::versions::supersedes(own.version, v) {
        return Ok(());
    }
    let before = grantees(&own);
    let mut everyone = before.clone();
    everyone.extend_from_slice(tenants);
    scope_with(txn, owner, &everyone).await?;
    cmdb_ci::Entity::delete_many()
        .filter(cmdb_ci::Column::CiId.eq(ci))
        .filter(cmdb_ci::Column::TenantId.ne(owner))
        .exec(txn)
        .await?;
    for tenant in tenants {
        cmdb_ci::ActiveModel {
            tenant_id: Set(*tenant),
            grantees: Set(serde_json::json!([])),
            ..own.clone().into()
        }
        .insert(txn)
        .await?;
    }
    let mut am: cmdb_ci::ActiveModel = own.into();
    am.grantees = Set(serde_json::json!(tenants));
    am.version = Set(v);
    am.update(txn).await?;
    scope_to(txn, &[TenantId(owner)]).await?;
    Ok(())
}

/// Whether `tenant` may name CI `id` on an incident: `None` if it does not see one, else
/// whether the CI is retired.
pub async fn retired(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<bool>, DbErr> {
    Ok(cmdb_ci::Entity::find_by_id((id, tenant.as_uuid()))
        .one(txn)
        .await?
        .map(|c| c.status == "retired"))
}
