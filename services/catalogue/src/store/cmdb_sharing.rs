//! What CMDB writes are checked against besides the CIs themselves: grants of shared CIs,
//! tenants' relationship and reconciliation rules, and the identities that keep CIs unique.
use std::collections::BTreeMap;

use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    Statement, Value as SqlValue,
};
use uuid::Uuid;

use super::{
    cmdb::Ci,
    cmdb_entities::{ci_grant, ci_identity, recon_rule, rel_rule},
    entities::ci,
};
use crate::domain::{
    cmdb::ClassTree,
    cmdb_graph::{RelRule, RelType},
    cmdb_reconcile::{IdentityKey, ReconRule, stored_keys},
};

fn uuids(tenants: &[TenantId]) -> Vec<Uuid> {
    tenants.iter().map(|t| t.as_uuid()).collect()
}

/// The tenants `ci` is shared with, in id order.
pub async fn grantees(txn: &DatabaseTransaction, ci: Uuid) -> Result<Vec<Uuid>, DbErr> {
    Ok(ci_grant::Entity::find()
        .filter(ci_grant::Column::CiId.eq(ci))
        .order_by_asc(ci_grant::Column::TenantId)
        .all(txn)
        .await?
        .into_iter()
        .map(|g| g.tenant_id)
        .collect())
}

/// Shares `ci` with exactly `tenants` (none: private again) and marks it so.
pub async fn set_grants(txn: &DatabaseTransaction, ci: Ci, tenants: &[Uuid]) -> Result<Ci, DbErr> {
    ci_grant::Entity::delete_many()
        .filter(ci_grant::Column::CiId.eq(ci.id))
        .exec(txn)
        .await?;
    if !tenants.is_empty() {
        let now = platform::record::now();
        ci_grant::Entity::insert_many(tenants.iter().map(|t| ci_grant::ActiveModel {
            ci_id: Set(ci.id),
            tenant_id: Set(*t),
            owner_id: Set(ci.tenant_id),
            created_at: Set(now),
        }))
        .exec_without_returning(txn)
        .await?;
    }
    let shared = !tenants.is_empty();
    let mut am: ci::ActiveModel = ci.into();
    am.shared = Set(shared);
    am.update(txn).await
}

pub type RelRuleRow = rel_rule::Model;

/// The relationship rules `lineage` (the acting tenant and its ancestors) defined.
pub async fn rel_rules(
    txn: &DatabaseTransaction,
    lineage: &[TenantId],
) -> Result<Vec<RelRuleRow>, DbErr> {
    rel_rule::Entity::find()
        .filter(rel_rule::Column::TenantId.is_in(uuids(lineage)))
        .order_by_asc(rel_rule::Column::Id)
        .all(txn)
        .await
}

/// A stored rule as the graph checks it (`None`: a type this build no longer knows).
pub fn as_rule(row: &RelRuleRow) -> Option<RelRule> {
    let (rel_type, _) = RelType::parse(&row.rel_type)?;
    let limit = |v: Option<i32>| v.and_then(|n| u32::try_from(n).ok());
    Some(RelRule {
        source_class: row.source_class.clone(),
        rel_type,
        target_class: row.target_class.clone(),
        max_targets: limit(row.max_targets),
        max_sources: limit(row.max_sources),
    })
}

/// The built-in rules and those `lineage` defined.
pub async fn all_rel_rules(
    txn: &DatabaseTransaction,
    lineage: &[TenantId],
) -> Result<Vec<RelRule>, DbErr> {
    let mut rules = crate::domain::cmdb_graph::built_in_rules();
    rules.extend(rel_rules(txn, lineage).await?.iter().filter_map(as_rule));
    Ok(rules)
}

pub async fn insert_rel_rule(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    rule: &RelRule,
) -> Result<RelRuleRow, DbErr> {
    let limit = |v: Option<u32>| v.and_then(|n| i32::try_from(n).ok());
    rel_rule::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.as_uuid()),
        source_class: Set(rule.source_class.clone()),
        rel_type: Set(rule.rel_type.as_str().into()),
        target_class: Set(rule.target_class.clone()),
        max_targets: Set(limit(rule.max_targets)),
        max_sources: Set(limit(rule.max_sources)),
        created_at: Set(platform::record::now()),
    }
    .insert(txn)
    .await
}

pub async fn find_rel_rule(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<RelRuleRow>, DbErr> {
    rel_rule::Entity::find_by_id(id)
        .filter(rel_rule::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

pub async fn delete_rel_rule(txn: &DatabaseTransaction, id: Uuid) -> Result<(), DbErr> {
    rel_rule::Entity::delete_by_id(id).exec(txn).await?;
    Ok(())
}

pub type ReconRuleRow = recon_rule::Model;

/// The reconciliation rules `lineage` defined.
pub async fn recon_rules(
    txn: &DatabaseTransaction,
    lineage: &[TenantId],
) -> Result<Vec<ReconRuleRow>, DbErr> {
    recon_rule::Entity::find()
        .filter(recon_rule::Column::TenantId.is_in(uuids(lineage)))
        .order_by_asc(recon_rule::Column::Id)
        .all(txn)
        .await
}

pub fn as_recon_rule(row: &ReconRuleRow) -> ReconRule {
    ReconRule {
        class: row.class.clone(),
        attribute: row.attribute.clone(),
        precedence: serde_json::from_value(row.precedence.clone()).unwrap_or_default(),
        stale_after_days: row.stale_after_days.and_then(|d| u32::try_from(d).ok()),
    }
}

pub async fn insert_recon_rule(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    rule: &ReconRule,
) -> Result<ReconRuleRow, DbErr> {
    recon_rule::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        class: Set(rule.class.clone()),
        attribute: Set(rule.attribute.clone()),
        precedence: Set(serde_json::json!(rule.precedence)),
        stale_after_days: Set(rule.stale_after_days.and_then(|d| i32::try_from(d).ok())),
        ..recon_rule::ActiveModel::new()
    }
    .insert(txn)
    .await
}

pub async fn find_recon_rule(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<ReconRuleRow>, DbErr> {
    recon_rule::Entity::find_by_id(id)
        .filter(recon_rule::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

pub async fn delete_recon_rule(txn: &DatabaseTransaction, id: Uuid) -> Result<(), DbErr> {
    recon_rule::Entity::delete_by_id(id).exec(txn).await?;
    Ok(())
}

/// An identity within a tenant: the root of the CI's class and one of its keys.
pub type Identity = (String, IdentityKey);

/// The CIs `identities` name in `tenant`'s CMDB.
pub async fn identified(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    identities: &[Identity],
) -> Result<BTreeMap<Identity, Uuid>, DbErr> {
    // One index range per class root and rule, its values as a list: a statement the
    // planner keeps on the primary key however many values it has (an OR of triples it
    // does not). Bounded lists keep each within every backend's parameter limit.
    let mut groups: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for (root, key) in identities {
        groups
            .entry((root.as_str(), key.rule.as_str()))
            .or_default()
            .push(key.value.as_str());
    }
    let mut found = BTreeMap::new();
    for ((root, rule), values) in groups {
        for chunk in values.chunks(1_000) {
            let rows = if txn.get_database_backend() == DbBackend::Postgres {
                seek_identities(txn, tenant, root, rule, chunk).await?
            } else {
                ci_identity::Entity::find()
                    .filter(ci_identity::Column::TenantId.eq(tenant.as_uuid()))
                    .filter(ci_identity::Column::ClassRoot.eq(root))
                    .filter(ci_identity::Column::Rule.eq(rule))
                    .filter(ci_identity::Column::Value.is_in(chunk.iter().copied()))
                    .all(txn)
                    .await?
            };
            for r in rows {
                let key = IdentityKey {
                    rule: r.rule,
                    value: r.value,
                };
                found.insert((r.class_root, key), r.ci_id);
            }
        }
    }
    Ok(found)
}

/// One primary-key seek per value. A plain `value IN (…)` is planned from statistics, and
/// during an import the table grows faster than they are refreshed: PostgreSQL then read
/// the tenant's whole rule range per lookup (36,000 rows filtered for each list of 1,000
/// at 36,000 CIs). The fenced lateral subquery keeps the seek whatever the statistics say.
async fn seek_identities(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    root: &str,
    rule: &str,
    values: &[&str],
) -> Result<Vec<ci_identity::Model>, DbErr> {
    let mut params: Vec<SqlValue> = vec![tenant.as_uuid().into(), root.into(), rule.into()];
    let mut rows = Vec::with_capacity(values.len());
    for v in values {
        params.push((*v).into());
        rows.push(format!("(${})", params.len()));
    }
    let sql = format!(
        "SELECT i.tenant_id, i.class_root, i.rule, i.value, i.ci_id \
         FROM (VALUES {}) AS wanted(value) \
         CROSS JOIN LATERAL (SELECT * FROM cmdb_ci_identities c \
           WHERE c.tenant_id = $1 AND c.class_root = $2 AND c.rule = $3 \
             AND c.value = wanted.value OFFSET 0) AS i",
        rows.join(", ")
    );
    ci_identity::Model::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        params,
    ))
    .all(txn)
    .await
}

/// Records that `ci` holds each of `identities` where no other CI does; returns those another
/// CI holds (after waiting for a concurrent writer of the same identity to finish).
pub async fn claim(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    claims: &[(Identity, Uuid)],
) -> Result<Vec<(Identity, Uuid)>, DbErr> {
    // In key order, so two writers claiming overlapping keys wait for each other rather than
    // deadlock.
    let mut claims = claims.to_vec();
    claims.sort();
    for chunk in claims.chunks(500) {
        ci_identity::Entity::insert_many(chunk.iter().map(|((root, key), ci)| {
            ci_identity::ActiveModel {
                tenant_id: Set(tenant.as_uuid()),
                class_root: Set(root.clone()),
                rule: Set(key.rule.clone()),
                value: Set(key.value.clone()),
                ci_id: Set(*ci),
            }
        }))
        .on_conflict_do_nothing()
        .exec_without_returning(txn)
        .await?;
    }
    let wanted: Vec<Identity> = claims.iter().map(|(i, _)| i.clone()).collect();
    let held = identified(txn, tenant, &wanted).await?;
    Ok(claims
        .iter()
        .filter_map(|(identity, ci)| match held.get(identity) {
            Some(holder) if holder != ci => Some((identity.clone(), *holder)),
            _ => None,
        })
        .collect())
}

/// Drops every identity `ci` holds (before its new ones are claimed).
pub async fn release(txn: &DatabaseTransaction, tenant: TenantId, ci: Uuid) -> Result<(), DbErr> {
    ci_identity::Entity::delete_many()
        .filter(ci_identity::Column::TenantId.eq(tenant.as_uuid()))
        .filter(ci_identity::Column::CiId.eq(ci))
        .exec(txn)
        .await?;
    Ok(())
}

/// The root of the class tree a CI at `class_path` is in: identities are unique within it,
/// so a server and a Linux server with one serial number are one CI.
pub fn class_root(class_path: &str) -> &str {
    class_path.split('/').next().unwrap_or(class_path)
}

/// Gives `ci` the identities its current values satisfy under `tree`'s rules; returns those
/// another CI already holds (the caller then refuses the write).
pub async fn reidentify(
    txn: &DatabaseTransaction,
    tree: &ClassTree,
    ci: &Ci,
) -> Result<Vec<(Identity, Uuid)>, DbErr> {
    let tenant = TenantId(ci.tenant_id);
    release(txn, tenant, ci.id).await?;
    let Some(class) = tree.get(&ci.class) else {
        return Ok(Vec::new());
    };
    let root = class_root(&ci.class_path).to_string();
    let claims: Vec<(Identity, Uuid)> =
        stored_keys(&tree.identification_rules(class), &ci.name, &ci.attributes)
            .into_iter()
            .map(|k| ((root.clone(), k), ci.id))
            .collect();
    claim(txn, tenant, &claims).await
}
