//! The catalogue's CMDB as other services project it from its events (incident: which CI an
//! incident may name and its affected services; change: the graph its conflicts and impact
//! follow). A CI a provider shares is projected once per grantee too, so each tenant reads its
//! rows under its own scope; a relationship deleted before its creation arrives is kept as a
//! tombstone. The tables come from `migration::create_cmdb_projection`.
use events::{
    Event,
    catalogue::{
        CiCreated, CiGrantChanged, CiRelationshipCreated, CiRelationshipDeleted, CiRetired,
        CiUpdated,
    },
};
use platform::tenancy::{TenantId, scope_to};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryFilter, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    Envelope, HandlerError,
    entities::{cmdb_ci, cmdb_relationship},
};

/// The routing keys of the catalogue's CI, grant and relationship events.
pub const BINDINGS: [&str; 3] = [
    "catalogue.ci.*",
    "catalogue.ci_grant.changed",
    "catalogue.ci_relationship.*",
];

/// Whether `event_type` is one [`apply`] takes.
pub fn handles(event_type: &str) -> bool {
    event_type.starts_with("itsm.catalogue.ci.")
        || event_type.starts_with("itsm.catalogue.ci_relationship.")
        || event_type == CiGrantChanged::event_type()
}

/// Applies one of the catalogue's CI events; older versions change nothing.
pub async fn apply(txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
    crate::versions::check_lead(env)?;
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
        Some(row) if !crate::versions::supersedes(row.version, v) => {}
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
        Some(row) if !crate::versions::supersedes(row.version, v) => {}
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
    if !crate::versions::supersedes(own.version, v) {
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

/// The CIs among `ids` that `tenant` sees (its own and those shared with it), by id.
pub async fn cis(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, cmdb_ci::Model>, DbErr> {
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let rows = cmdb_ci::Entity::find()
            .filter(cmdb_ci::Column::TenantId.eq(tenant.as_uuid()))
            .filter(cmdb_ci::Column::CiId.is_in(chunk.to_vec()))
            .all(txn)
            .await?;
        out.extend(rows.into_iter().map(|c| (c.ci_id, c)));
    }
    Ok(out)
}

/// One way a walk steps along a relationship: from the CI in column `at` to the one in `to`
/// (`source_id` / `target_id`), for every type or for `connected_to` only (followed both ways).
#[derive(Debug, Clone, Copy)]
pub struct Arm {
    pub at: &'static str,
    pub to: &'static str,
    pub connected_to_only: bool,
}

impl Arm {
    pub const fn new(at: &'static str, to: &'static str, connected_to_only: bool) -> Self {
        Self {
            at,
            to,
            connected_to_only,
        }
    }

    /// The same edges walked the other way: back to the CI a step came from.
    pub const fn reversed(self) -> Self {
        Self::new(self.to, self.at, self.connected_to_only)
    }
}

/// A walk's step from each row's CI (`ci`, e.g. `w.ci`) along `arms` of the relationships
/// `filter` (on `r`) keeps: the FROM-clause fragment to append after the walk's table, and the
/// expressions for the CI reached, the relationship's id and its type.
pub struct StepSql {
    pub join: String,
    pub other: String,
    pub id: String,
    pub rel_type: String,
}

/// The SQL of a walk's step ([`StepSql`]), at most two arms.
///
/// On PostgreSQL each arm is its own index lookup in a `LATERAL` union: a join on
/// `a = ci OR b = ci` cannot use the `(tenant_id, source_id|target_id)` indexes per CI, and when
/// the statistics lag a tenant's growth (a bulk import) the planner scanned all the tenant's
/// relationships once per level instead (64 ms for a depth-2 walk of 10,000 relationships,
/// 0.6 ms as lookups). SQLite has no `LATERAL` and plans the `OR` as two index lookups itself.
pub fn step(backend: DbBackend, ci: &str, arms: &[Arm], filter: &str) -> StepSql {
    let only = |a: &Arm| {
        if a.connected_to_only {
            " AND r.type = 'connected_to'"
        } else {
            ""
        }
    };
    if backend == DbBackend::Postgres {
        let lookups: Vec<String> = arms
            .iter()
            .map(|a| {
                format!(
                    "SELECT r.{to} AS other, r.id AS id, CAST(r.type AS TEXT) AS rel_type \
                     FROM cmdb_relationships r WHERE r.{at} = {ci} AND {filter}{only}",
                    to = a.to,
                    at = a.at,
                    only = only(a),
                )
            })
            .collect();
        return StepSql {
            join: format!(" CROSS JOIN LATERAL ({}) e", lookups.join(" UNION ALL ")),
            other: "e.other".into(),
            id: "e.id".into(),
            rel_type: "e.rel_type".into(),
        };
    }
    let matches: Vec<String> = arms
        .iter()
        .map(|a| format!("(r.{} = {ci}{})", a.at, only(a)))
        .collect();
    let other = match arms {
        [a, b] => format!(
            "CASE WHEN r.{} = {ci} THEN r.{} ELSE r.{} END",
            a.at, a.to, b.to
        ),
        [a] => format!("r.{}", a.to),
        _ => "NULL".into(),
    };
    StepSql {
        join: format!(
            " JOIN cmdb_relationships r ON ({}) AND {filter}",
            matches.join(" OR ")
        ),
        other,
        id: "r.id".into(),
        rel_type: "CAST(r.type AS TEXT)".into(),
    }
}

/// Upstream (who needs a CI): from an edge's target to its source, `connected_to` both ways.
pub const UPSTREAM: [Arm; 2] = [
    Arm::new("target_id", "source_id", false),
    Arm::new("source_id", "target_id", true),
];
/// Downstream (what a CI needs): from an edge's source to its target, `connected_to` both ways.
pub const DOWNSTREAM: [Arm; 2] = [
    Arm::new("source_id", "target_id", false),
    Arm::new("target_id", "source_id", true),
];
/// Either way along every type.
const EITHER: [Arm; 2] = [
    Arm::new("source_id", "target_id", false),
    Arm::new("target_id", "source_id", false),
];

/// A CI reached walking upstream: at its shortest `depth` from the nearest root, and one
/// CI one step nearer (`None` for a root).
#[derive(Debug, Clone, PartialEq, Eq, sea_orm::FromQueryResult)]
pub struct Reached {
    pub ci: Uuid,
    pub depth: i32,
    pub from_ci: Option<Uuid>,
}

/// What depends on `roots` within `depth` of `tenant`'s relationships (a shared CI is walked
/// through the tenant's own): each CI once per CI one step nearer at its shortest depth. One
/// recursive query; the recursion carries CIs and depths only, so paths do not multiply.
pub async fn upstream(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    roots: &[Uuid],
    depth: u32,
) -> Result<Vec<Reached>, DbErr> {
    use sea_orm::{ConnectionTrait, FromQueryResult, Statement, Value};
    if roots.is_empty() {
        return Ok(Vec::new());
    }
    let backend = txn.get_database_backend();
    let mut values: Vec<Value> = vec![i64::from(depth).into(), tenant.as_uuid().into()];
    let p = |n: usize| match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    };
    let mut root_ps = Vec::with_capacity(roots.len());
    for r in roots {
        values.push((*r).into());
        root_ps.push(format!("({})", p(values.len())));
    }
    let (depth_p, tenant_p) = (p(1), p(2));
    let live = format!("r.tenant_id = {tenant_p} AND NOT r.deleted");
    let out = step(backend, "u.ci", &UPSTREAM, &live);
    let back = step(backend, "b.ci", &UPSTREAM.map(Arm::reversed), &live);
    let sql = format!(
        "WITH RECURSIVE roots(ci) AS (VALUES {roots}), \
         up(ci, depth) AS ( \
           SELECT ci, 0 FROM roots \
           UNION \
           SELECT {out_other}, u.depth + 1 FROM up u{out_join} WHERE u.depth < {depth_p} \
         ), \
         best(ci, depth) AS (SELECT ci, MIN(depth) FROM up GROUP BY ci) \
         SELECT b.ci, CAST(b.depth AS INTEGER) AS depth, CAST(NULL AS {uuid}) AS from_ci \
           FROM best b WHERE b.depth = 0 \
         UNION ALL \
         SELECT b.ci, CAST(b.depth AS INTEGER) AS depth, {back_other} AS from_ci \
         FROM best b{back_join} WHERE b.depth > 0",
        roots = root_ps.join(", "),
        out_other = out.other,
        out_join = out.join,
        back_other = back.other,
        back_join = back.join,
        uuid = if backend == DbBackend::Postgres {
            "uuid"
        } else {
            "BLOB"
        },
    );
    let reached = Reached::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .all(txn)
        .await?;
    Ok(from_one_level_nearer(reached, roots, |r| {
        (r.ci, r.depth, r.from_ci)
    }))
}

/// Of the edges a walk's last step found into each reached CI, those from a CI reached one
/// level nearer (`roots` at 0): the ways each CI was reached at its shortest depth. `parts`
/// gives a row's CI, depth and the CI its edge comes from (`None` for a root's own row). A CI
/// listed at several depths (a look one level past the walk finds CIs reached before) is at
/// its least.
///
/// Kept in code, not SQL: joining the walk to itself on depth let PostgreSQL, which under
/// row-level security estimates a recursive CTE at a handful of rows, pair every reached CI
/// with every other and probe the relationships once per pair (quadratic in the CIs reached).
pub fn from_one_level_nearer<T>(
    rows: Vec<T>,
    roots: &[Uuid],
    parts: impl Fn(&T) -> (Uuid, i32, Option<Uuid>),
) -> Vec<T> {
    let mut depth_of: std::collections::HashMap<Uuid, i32> =
        roots.iter().map(|r| (*r, 0)).collect();
    for r in &rows {
        let (ci, depth, _) = parts(r);
        depth_of
            .entry(ci)
            .and_modify(|d| *d = (*d).min(depth))
            .or_insert(depth);
    }
    rows.into_iter()
        .filter(|r| {
            let (_, depth, from) = parts(r);
            from.is_none_or(|f| depth_of.get(&f) == Some(&(depth - 1)))
        })
        .collect()
}

/// Whether a CI of `class_path` is a business service (or a subclass of one).
pub fn is_business_service(class_path: &str) -> bool {
    class_path == "business_service" || class_path.starts_with("business_service/")
}

/// Each CI within `depth` relationships of one of `roots`, either direction, in `tenant`'s
/// relationships: the root it is nearest and how far (roots at 0). One recursive query.
pub async fn around(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    roots: &[Uuid],
    depth: u32,
) -> Result<std::collections::HashMap<Uuid, (Uuid, u32)>, DbErr> {
    use sea_orm::{ConnectionTrait, FromQueryResult, Statement, Value};
    #[derive(FromQueryResult)]
    struct Near {
        root: Uuid,
        ci: Uuid,
        depth: i32,
    }
    let mut out = std::collections::HashMap::new();
    if roots.is_empty() {
        return Ok(out);
    }
    let backend = txn.get_database_backend();
    let mut values: Vec<Value> = vec![i64::from(depth).into(), tenant.as_uuid().into()];
    let p = |n: usize| match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    };
    let mut root_ps = Vec::with_capacity(roots.len());
    for r in roots {
        values.push((*r).into());
        root_ps.push(format!("({})", p(values.len())));
    }
    let live = format!("r.tenant_id = {} AND NOT r.deleted", p(2));
    let either = step(backend, "n.ci", &EITHER, &live);
    let sql = format!(
        "WITH RECURSIVE roots(ci) AS (VALUES {roots}), \
         near(root, ci, depth) AS ( \
           SELECT ci, ci, 0 FROM roots \
           UNION \
           SELECT n.root, {other}, n.depth + 1 FROM near n{join} WHERE n.depth < {depth} \
         ) \
         SELECT root, ci, CAST(MIN(depth) AS INTEGER) AS depth FROM near GROUP BY root, ci",
        roots = root_ps.join(", "),
        other = either.other,
        join = either.join,
        depth = p(1),
    );
    let rows = Near::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .all(txn)
        .await?;
    for n in rows {
        let d = u32::try_from(n.depth).unwrap_or(u32::MAX);
        let better = out
            .get(&n.ci)
            .is_none_or(|(root, best): &(Uuid, u32)| (d, n.root) < (*best, *root));
        if better {
            out.insert(n.ci, (n.root, d));
        }
    }
    Ok(out)
}
