//! The CMDB's classes, CIs, their history and their relationships.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition,
    DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use super::{
    cmdb_entities::ci_grant,
    entities::{ci, ci_history, ci_relationship, cmdb_class},
};
use crate::domain::{
    cmdb::{ClassDef, ClassTree, FieldChange},
    cmdb_graph::RelType,
};

pub type Ci = ci::Model;
pub type HistoryRow = ci_history::Model;

/// The classes `lineage` (the acting tenant and its ancestors, in its scope) sees.
pub async fn classes(txn: &DatabaseTransaction, lineage: &[TenantId]) -> Result<ClassTree, DbErr> {
    let ids: Vec<Uuid> = lineage.iter().map(|t| t.as_uuid()).collect();
    let rows = cmdb_class::Entity::find()
        .filter(cmdb_class::Column::TenantId.is_in(ids))
        .all(txn)
        .await?;
    let defined = rows
        .into_iter()
        .map(|r| {
            let rules: Vec<Vec<String>> =
                serde_json::from_value(r.identification_rules).unwrap_or_default();
            (
                ClassDef {
                    key: r.key,
                    name: r.name,
                    parent: r.parent,
                    attribute_schema: r.attribute_schema,
                    identification_rules: rules,
                },
                r.tenant_id,
                r.path,
            )
        })
        .collect();
    Ok(ClassTree::new(defined))
}

pub async fn insert_class(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    def: ClassDef,
    path: String,
) -> Result<cmdb_class::Model, DbErr> {
    cmdb_class::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        key: Set(def.key),
        name: Set(def.name),
        parent: Set(def.parent),
        path: Set(path),
        attribute_schema: Set(def.attribute_schema),
        identification_rules: Set(serde_json::json!(def.identification_rules)),
        ..cmdb_class::ActiveModel::new()
    }
    .insert(txn)
    .await
}

/// A new CI's fields, checked.
pub struct NewCiRow {
    pub class: String,
    pub class_path: String,
    pub name: String,
    pub status: String,
    pub service_id: Option<Uuid>,
    pub attributes: Value,
    pub attribute_sources: Value,
}

pub async fn insert_ci(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    new: NewCiRow,
) -> Result<Ci, DbErr> {
    ci::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        class: Set(new.class),
        class_path: Set(new.class_path),
        name: Set(new.name),
        status: Set(new.status),
        service_id: Set(new.service_id),
        attributes: Set(new.attributes),
        attribute_sources: Set(new.attribute_sources),
        shared: Set(false),
        ..ci::ActiveModel::new()
    }
    .insert(txn)
    .await
}

/// The CIs `tenants` may read: their own, and those shared with one of them. (Row-level
/// security says the same on PostgreSQL; this is the application's half.)
pub fn visible_to(tenants: &[TenantId]) -> Condition {
    let uuids =
        |tenants: &[TenantId]| -> Vec<Uuid> { tenants.iter().map(|t| t.as_uuid()).collect() };
    let granted = sea_orm::sea_query::Query::select()
        .column(ci_grant::Column::CiId)
        .from(ci_grant::Entity)
        .and_where(ci_grant::Column::TenantId.is_in(uuids(tenants)))
        .to_owned();
    Condition::any()
        .add(ci::Column::TenantId.is_in(uuids(tenants)))
        .add(
            Condition::all()
                .add(ci::Column::Shared.eq(true))
                .add(ci::Column::Id.in_subquery(granted)),
        )
}

/// A CI `tenants` may read.
pub async fn find_visible_ci(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    id: Uuid,
) -> Result<Option<Ci>, DbErr> {
    ci::Entity::find_by_id(id)
        .filter(visible_to(tenants))
        .one(txn)
        .await
}

/// A new CI of `tenant` made at `at`, not yet stored (see [`insert_cis`]).
pub fn new_ci(tenant: TenantId, new: NewCiRow, at: DateTime<Utc>) -> Ci {
    Ci {
        id: Uuid::now_v7(),
        tenant_id: tenant.as_uuid(),
        class: new.class,
        class_path: new.class_path,
        name: new.name,
        status: new.status,
        service_id: new.service_id,
        attributes: new.attributes,
        attribute_sources: new.attribute_sources,
        shared: false,
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

/// Stores `cis` (made by [`new_ci`]) with as few statements as the backend allows.
pub async fn insert_cis(txn: &DatabaseTransaction, cis: &[Ci]) -> Result<(), DbErr> {
    use sea_orm::IntoActiveModel;
    for chunk in cis.chunks(500) {
        ci::Entity::insert_many(
            chunk
                .iter()
                .map(|c| c.clone().into_active_model().reset_all()),
        )
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}

/// The CIs of `tenant` under class `path` whose name, case-folded, is `name`.
pub async fn cis_named(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    path: &str,
    name: &str,
) -> Result<Vec<Ci>, DbErr> {
    use sea_orm::sea_query::{Expr, ExprTrait, Func};
    ci::Entity::find()
        .filter(ci::Column::TenantId.eq(tenant.as_uuid()))
        .filter(
            Condition::any()
                .add(ci::Column::ClassPath.eq(path))
                .add(ci::Column::ClassPath.starts_with(format!("{path}/"))),
        )
        .filter(Expr::expr(Func::lower(Expr::col(ci::Column::Name))).eq(name))
        .limit(2)
        .all(txn)
        .await
}

pub async fn find_ci(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Ci>, DbErr> {
    ci::Entity::find_by_id(id)
        .filter(ci::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

/// What a list keeps.
#[derive(Debug, Default)]
pub struct CiFilter {
    /// A class path: CIs of that class and its subclasses.
    pub class_path: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
}

/// The CIs `tenants` may read that `filter` keeps, oldest first.
pub async fn list_cis(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    filter: &CiFilter,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Ci>, DbErr> {
    let mut q = ci::Entity::find().filter(visible_to(tenants));
    if let Some(path) = &filter.class_path {
        q = q.filter(
            Condition::any()
                .add(ci::Column::ClassPath.eq(path.as_str()))
                .add(ci::Column::ClassPath.starts_with(format!("{path}/"))),
        );
    }
    if let Some(name) = &filter.name {
        q = q.filter(ci::Column::Name.eq(name.as_str()));
    }
    if let Some(status) = &filter.status {
        q = q.filter(ci::Column::Status.eq(status.as_str()));
    }
    if let Some(after) = after {
        q = q.filter(ci::Column::Id.gt(after));
    }
    q.order_by_asc(ci::Column::Id).limit(limit).all(txn).await
}

/// Stores `ci` changed to `name`, `status` and `attributes` (the version moves on).
pub async fn update_ci(
    txn: &DatabaseTransaction,
    ci: Ci,
    name: String,
    status: String,
    attributes: Value,
    attribute_sources: Value,
) -> Result<Ci, DbErr> {
    let mut am: ci::ActiveModel = ci.into();
    am.name = Set(name);
    am.status = Set(status);
    am.attributes = Set(attributes);
    am.attribute_sources = Set(attribute_sources);
    am.update(txn).await
}

/// Who made a change, and through what.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub actor_id: Option<Uuid>,
    pub source: String,
    pub import_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

impl Provenance {
    /// A change made through the API by `actor`, now.
    pub fn manual(actor: Uuid) -> Provenance {
        Provenance {
            actor_id: Some(actor),
            source: "manual".into(),
            import_id: None,
            at: platform::record::now(),
        }
    }
}

pub async fn append_history(
    txn: &DatabaseTransaction,
    ci: &Ci,
    by: &Provenance,
    changes: Vec<FieldChange>,
) -> Result<(), DbErr> {
    if changes.is_empty() {
        return Ok(());
    }
    let rows = changes.into_iter().map(|c| history_row(ci, by, c));
    ci_history::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// The history of many CIs, one statement per few hundred entries.
pub async fn append_histories(
    txn: &DatabaseTransaction,
    entries: &[(Ci, Vec<FieldChange>)],
    by: &Provenance,
) -> Result<(), DbErr> {
    let rows: Vec<ci_history::ActiveModel> = entries
        .iter()
        .flat_map(|(ci, changes)| changes.iter().map(move |c| history_row(ci, by, c.clone())))
        .collect();
    for chunk in rows.chunks(500) {
        ci_history::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

fn history_row(ci: &Ci, by: &Provenance, c: FieldChange) -> ci_history::ActiveModel {
    ci_history::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(ci.tenant_id),
        ci_id: Set(ci.id),
        at: Set(by.at),
        actor_id: Set(by.actor_id),
        source: Set(by.source.clone()),
        import_id: Set(by.import_id),
        field: Set(c.field),
        old: Set((!c.old.is_null()).then_some(c.old)),
        new: Set((!c.new.is_null()).then_some(c.new)),
    }
}

/// A CI's history, oldest first: up to `limit` entries after `after`, or every entry up to
/// `until` (inclusive).
pub async fn history(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    ci: Uuid,
    after: Option<Uuid>,
    until: Option<DateTime<Utc>>,
    limit: Option<u64>,
) -> Result<Vec<HistoryRow>, DbErr> {
    let mut q = ci_history::Entity::find()
        .filter(ci_history::Column::TenantId.eq(tenant.as_uuid()))
        .filter(ci_history::Column::CiId.eq(ci));
    if let Some(after) = after {
        q = q.filter(ci_history::Column::Id.gt(after));
    }
    if let Some(until) = until {
        q = q.filter(ci_history::Column::At.lte(until));
    }
    let q = q.order_by_asc(ci_history::Column::Id);
    match limit {
        Some(limit) => q.limit(limit).all(txn).await,
        None => q.all(txn).await,
    }
}

pub type Relationship = ci_relationship::Model;

/// Stores `source` `rel_type` `target` (forward); a unique violation means it exists.
pub async fn insert_relationship(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    edge: (Uuid, RelType, Uuid),
    by: &Provenance,
) -> Result<Relationship, DbErr> {
    let (source_id, rel_type, target_id) = edge;
    ci_relationship::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.as_uuid()),
        source_id: Set(source_id),
        rel_type: Set(rel_type.as_str().into()),
        target_id: Set(target_id),
        source: Set(by.source.clone()),
        created_by: Set(by.actor_id),
        created_at: Set(by.at),
    }
    .insert(txn)
    .await
}

/// The relationship `source` `rel_type` `target` of `tenant`, if recorded.
pub async fn find_edge(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    (source, rel_type, target): (Uuid, RelType, Uuid),
) -> Result<Option<Relationship>, DbErr> {
    ci_relationship::Entity::find()
        .filter(ci_relationship::Column::TenantId.eq(tenant.as_uuid()))
        .filter(ci_relationship::Column::SourceId.eq(source))
        .filter(ci_relationship::Column::RelType.eq(rel_type.as_str()))
        .filter(ci_relationship::Column::TargetId.eq(target))
        .one(txn)
        .await
}

/// Stores `edges` (`source`, type, `target`, forward; checked by the caller) with as few
/// statements as the backend allows: how bulk loads write a graph.
pub async fn insert_relationships(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    edges: &[(Uuid, RelType, Uuid)],
    by: &Provenance,
) -> Result<(), DbErr> {
    for chunk in edges.chunks(500) {
        ci_relationship::Entity::insert_many(chunk.iter().map(
            |(source_id, rel_type, target_id)| ci_relationship::ActiveModel {
                id: Set(Uuid::now_v7()),
                tenant_id: Set(tenant.as_uuid()),
                source_id: Set(*source_id),
                rel_type: Set(rel_type.as_str().into()),
                target_id: Set(*target_id),
                source: Set(by.source.clone()),
                created_by: Set(by.actor_id),
                created_at: Set(by.at),
            },
        ))
        .on_conflict_do_nothing()
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}

pub async fn find_relationship(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Relationship>, DbErr> {
    ci_relationship::Entity::find_by_id(id)
        .filter(ci_relationship::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

pub async fn delete_relationship(txn: &DatabaseTransaction, r: Relationship) -> Result<(), DbErr> {
    ci_relationship::Entity::delete_by_id(r.id)
        .exec(txn)
        .await?;
    Ok(())
}

/// How many `rel_type` edges leave `ci` (`outgoing`) or arrive at it.
pub async fn degree(
    txn: &DatabaseTransaction,
    ci: Uuid,
    rel_type: RelType,
    outgoing: bool,
) -> Result<u64, DbErr> {
    let end = if outgoing {
        ci_relationship::Column::SourceId
    } else {
        ci_relationship::Column::TargetId
    };
    ci_relationship::Entity::find()
        .filter(end.eq(ci))
        .filter(ci_relationship::Column::RelType.eq(rel_type.as_str()))
        .count(txn)
        .await
}

/// The hosts above `ci`, `hosted_on` edge by edge (bounded: a stored loop cannot spin), as
/// the map `closes_cycle` walks.
pub async fn hosting_above(
    txn: &DatabaseTransaction,
    ci: Uuid,
) -> Result<BTreeMap<Uuid, Vec<Uuid>>, DbErr> {
    let mut map: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    let mut frontier = vec![ci];
    for _ in 0..64 {
        if frontier.is_empty() {
            break;
        }
        let rows = ci_relationship::Entity::find()
            .filter(ci_relationship::Column::SourceId.is_in(frontier.clone()))
            .filter(ci_relationship::Column::RelType.eq(RelType::HostedOn.as_str()))
            .all(txn)
            .await?;
        frontier = rows
            .iter()
            .map(|r| r.target_id)
            .filter(|t| !map.contains_key(t))
            .collect();
        for r in rows {
            map.entry(r.source_id).or_default().push(r.target_id);
        }
    }
    Ok(map)
}

/// The relationships of `tenants` touching `ci` (either end) or all, oldest first.
pub async fn list_relationships(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    ci: Option<Uuid>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Relationship>, DbErr> {
    let ids: Vec<Uuid> = tenants.iter().map(|t| t.as_uuid()).collect();
    let mut q =
        ci_relationship::Entity::find().filter(ci_relationship::Column::TenantId.is_in(ids));
    if let Some(ci) = ci {
        q = q.filter(
            Condition::any()
                .add(ci_relationship::Column::SourceId.eq(ci))
                .add(ci_relationship::Column::TargetId.eq(ci)),
        );
    }
    if let Some(after) = after {
        q = q.filter(ci_relationship::Column::Id.gt(after));
    }
    q.order_by_asc(ci_relationship::Column::Id)
        .limit(limit)
        .all(txn)
        .await
}

/// One step of an impact walk as the database found it: `ci` reached at `depth` by edge `via`
/// (of type `rel_type`) from `from_ci`. A CI reached several ways appears once per way.
#[derive(Debug, Clone, sea_orm::FromQueryResult)]
pub struct Step {
    pub ci: Uuid,
    pub depth: i32,
    pub via: Uuid,
    pub rel_type: String,
    pub from_ci: Uuid,
}

/// Each CI reached from `root` within `depth` edges of `types` (all when empty) in
/// `direction`, among `tenants`' relationships, with every edge that reached it at its
/// shortest depth, and the CIs one edge past `depth` (at `depth + 1`; some may have been
/// reached nearer): one recursive query. Upstream follows an edge from its target to its
/// source (who needs the CI); `connected_to` is followed both ways.
///
/// The walk stops once it holds more than `max_nodes` CIs besides the root: every level before
/// the one it stopped in is complete, so each CI found is at its shortest depth, and the
/// caller's cut to `max_nodes` marks the result truncated. (A hub's walk reaching half of
/// 100,000 CIs took 16 s before `max_nodes` was applied; it now stops early.)
pub async fn walk(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    root: Uuid,
    upstream: bool,
    (depth, max_nodes): (u32, usize),
    types: &[RelType],
) -> Result<Vec<Step>, DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value as SqlValue};
    let backend = txn.get_database_backend();
    let mut values: Vec<SqlValue> = Vec::new();
    let mut param = |v: SqlValue| {
        values.push(v);
        // Numbered, so a value may be used more than once (the root is, three times).
        match backend {
            DbBackend::Postgres => format!("${}", values.len()),
            _ => format!("?{}", values.len()),
        }
    };
    let root_p = param(root.into());
    let depth_p = param(i64::from(depth).into());
    // The walk's rows are (CI, depth) pairs, a CI at most once per level, produced level by
    // level: past this many rows it holds at least `max_nodes + 2` CIs, the root included.
    let pairs = (max_nodes as u64 + 2) * (u64::from(depth) + 1);
    let cap_p = param(i64::try_from(pairs).unwrap_or(i64::MAX).into());
    let tenant_ps: Vec<String> = tenants.iter().map(|t| param(t.as_uuid().into())).collect();
    let type_ps: Vec<String> = types.iter().map(|t| param(t.as_str().into())).collect();
    let mut live = format!("r.tenant_id IN ({})", tenant_ps.join(", "));
    if !type_ps.is_empty() {
        live.push_str(&format!(" AND r.type IN ({})", type_ps.join(", ")));
    }
    let arms = if upstream {
        bus::cmdb::UPSTREAM
    } else {
        bus::cmdb::DOWNSTREAM
    };
    let (out, past) = (
        bus::cmdb::step(backend, "w.ci", &arms, &live),
        bus::cmdb::step(backend, "b.ci", &arms, &live),
    );
    let back = bus::cmdb::step(backend, "b.ci", &arms.map(bus::cmdb::Arm::reversed), &live);
    // The recursion carries CIs and depths only, so many paths to one CI are one row per
    // level rather than one per path (a hub's neighbours would otherwise multiply at each
    // level). Then each reached CI's edges back towards the root, with the CI at their other
    // end (`from_one_level_nearer` keeps those from a CI one level nearer), and one look past
    // the last level: a CI found only there was cut by the depth. (Walking one level deeper
    // instead reached several times the CIs and read all of their edges.)
    let sql = format!(
        "WITH RECURSIVE walk(ci, depth) AS ( \
           SELECT {root_p}, 0 \
           UNION \
           SELECT {out_other}, w.depth + 1 FROM walk w{out_join} WHERE w.depth < {depth_p} \
         ), \
         cut(ci, depth) AS (SELECT ci, depth FROM walk LIMIT {cap_p}), \
         best(ci, depth) AS (SELECT ci, MIN(depth) FROM cut GROUP BY ci) \
         SELECT b.ci, b.depth, {back_id} AS via, {back_type} AS rel_type, {back_other} AS from_ci \
         FROM best b{back_join} WHERE b.depth > 0 \
         UNION ALL \
         SELECT {past_other}, b.depth + 1, {past_id}, {past_type}, b.ci \
         FROM best b{past_join} WHERE b.depth = {depth_p}",
        out_other = out.other,
        out_join = out.join,
        back_id = back.id,
        back_type = back.rel_type,
        back_other = back.other,
        back_join = back.join,
        past_other = past.other,
        past_id = past.id,
        past_type = past.rel_type,
        past_join = past.join,
    );
    let steps = Step::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .all(txn)
        .await?;
    Ok(bus::cmdb::from_one_level_nearer(steps, &[root], |s| {
        (s.ci, s.depth, Some(s.from_ci))
    }))
}

/// The CIs with `ids` that `tenants` may read.
pub async fn cis_by_id(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    ids: Vec<Uuid>,
) -> Result<Vec<Ci>, DbErr> {
    let mut out = Vec::with_capacity(ids.len());
    // Bounded lists keep each statement within every backend's parameter limit.
    for chunk in ids.chunks(500) {
        out.extend(
            ci::Entity::find()
                .filter(visible_to(tenants))
                .filter(ci::Column::Id.is_in(chunk.to_vec()))
                .all(txn)
                .await?,
        );
    }
    Ok(out)
}
