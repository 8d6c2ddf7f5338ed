//! Load-test customers (`load-0001` …) written in bulk for benchmarks.
use std::collections::HashMap;

use platform::{
    ApiError,
    auth::Role,
    tenancy::{TenantId, TenantKind, begin_scoped},
};
use sea_orm::DatabaseConnection;
use serde_json::json;
use uuid::Uuid;

use super::{DESK, demo_msp, ensure_root};
use crate::store::{
    groups,
    tenants::Tenant,
    users::{self, UserStatus},
};

/// Why the load-test customers could not be seeded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Precondition(String),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
}

/// A user of a load-test customer, as other services' projections need it.
#[derive(Debug, Clone)]
pub struct LoadUser {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub status: String,
    /// The aggregate version its events carry.
    pub version: i64,
}

/// The "Service Desk" group of a load-test customer.
#[derive(Debug, Clone)]
pub struct LoadGroup {
    pub id: Uuid,
    pub name: String,
    pub members: Vec<Uuid>,
    pub version: i64,
}

/// A load-test customer (`load-0001` …) with its agent, its requester and its service desk.
#[derive(Debug, Clone)]
pub struct LoadTenant {
    pub tenant: Tenant,
    pub agent: LoadUser,
    pub requester: LoadUser,
    pub desk: LoadGroup,
}

/// The load-test customers and the tenants above them (platform root, demo MSP).
#[derive(Debug, Clone)]
pub struct LoadSet {
    pub root: Tenant,
    pub msp: Tenant,
    pub tenants: Vec<LoadTenant>,
    /// How many of `tenants` this run created (the others existed).
    pub created: usize,
}

/// The slug of the `i`-th load-test customer (1-based): `load-0001`.
pub fn load_slug(i: usize) -> String {
    format!("load-{i:04}")
}

/// The login of a load-test customer's user: `agent@load-0001.demo.test`.
pub fn load_email(prefix: &str, slug: &str) -> String {
    format!("{prefix}@{slug}.demo.test")
}

/// A plausible company name for the `i`-th load-test customer.
pub fn load_company_name(i: usize) -> String {
    const FIRST: [&str; 24] = [
        "Northwind",
        "Bluewater",
        "Redwood",
        "Summit",
        "Ironbridge",
        "Silverline",
        "Harbor",
        "Granite",
        "Evergreen",
        "Lakeside",
        "Brightpath",
        "Oakridge",
        "Copperfield",
        "Westgate",
        "Pinecrest",
        "Stonehill",
        "Riverbend",
        "Highland",
        "Clearview",
        "Maplewood",
        "Crescent",
        "Fairhaven",
        "Kingsway",
        "Sunridge",
    ];
    const SECOND: [&str; 20] = [
        "Logistics",
        "Health",
        "Bank",
        "Insurance",
        "Retail",
        "Foods",
        "Energy",
        "Legal",
        "Engineering",
        "Media",
        "Pharma",
        "Hotels",
        "Airlines",
        "Telecom",
        "Manufacturing",
        "Realty",
        "Consulting",
        "Schools",
        "Motors",
        "Analytics",
    ];
    let k = i.saturating_sub(1);
    format!(
        "{} {} {i:04}",
        FIRST[k % FIRST.len()],
        SECOND[(k / FIRST.len()) % SECOND.len()]
    )
}

/// Tenants created per transaction by [`seed_load_tenants`].
const LOAD_CHUNK: usize = 100;

/// Ensures the load-test customers `load-0001` … `load-<count>` exist under the demo MSP, each
/// with an agent and a requester (`<role>@<slug>.demo.test`, password hash `password_hash`) and
/// a "Service Desk" group holding the agent, written in bulk (multi-row inserts, one
/// transaction per 100 tenants) with their audit records and events. Existing ones are kept
/// as they are. `password_hash` is only needed when a tenant is missing; `progress` is called
/// with the number of tenants done.
pub async fn seed_load_tenants(
    db: &DatabaseConnection,
    count: usize,
    password_hash: Option<&str>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<LoadSet, LoadError> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    use crate::store::entities::{group as group_e, tenant as tenant_e};

    let root = ensure_root(db).await?;
    let msp = demo_msp(db).await?.ok_or_else(|| {
        LoadError::Precondition(
            "the demo MSP is missing: seed the demo data first (itsm seed --demo)".into(),
        )
    })?;

    let slugs: Vec<String> = (1..=count).map(load_slug).collect();
    let txn = begin_scoped(db, &[TenantId(msp.id)]).await?;
    let existing: HashMap<String, Tenant> = tenant_e::Entity::find()
        .filter(tenant_e::Column::ParentId.eq(msp.id))
        .filter(tenant_e::Column::Slug.starts_with("load-"))
        .all(&txn)
        .await?
        .into_iter()
        .map(|t| (t.slug.clone(), t))
        .collect();
    txn.commit().await?;

    let mut out: Vec<Option<LoadTenant>> = vec![None; count];
    // Existing tenants: read their users and group back, a chunk at a time.
    let known: Vec<(usize, &Tenant)> = slugs
        .iter()
        .enumerate()
        .filter_map(|(i, s)| existing.get(s).map(|t| (i, t)))
        .collect();
    for chunk in known.chunks(LOAD_CHUNK) {
        let ids: Vec<Uuid> = chunk.iter().map(|(_, t)| t.id).collect();
        let txn = begin_scoped(db, &TenantId::many(&ids)).await?;
        let users: HashMap<String, users::User> = crate::store::entities::user::Entity::find()
            .filter(crate::store::entities::user::Column::TenantId.is_in(ids.clone()))
            .all(&txn)
            .await?
            .into_iter()
            .map(|u| (u.email.clone(), u))
            .collect();
        let desks: HashMap<Uuid, groups::Group> = group_e::Entity::find()
            .filter(group_e::Column::TenantId.is_in(ids.clone()))
            .filter(group_e::Column::Name.eq(DESK))
            .all(&txn)
            .await?
            .into_iter()
            .map(|g| (g.tenant_id, g))
            .collect();
        let members =
            groups::members_of(&txn, &desks.values().cloned().collect::<Vec<_>>()).await?;
        txn.commit().await?;
        for (i, t) in chunk {
            let user = |prefix: &str| {
                users
                    .get(&load_email(prefix, &t.slug))
                    .map(|u| LoadUser {
                        id: u.id,
                        email: u.email.clone(),
                        display_name: u.display_name.clone(),
                        status: u.status.clone(),
                        version: events_version(u.updated_at),
                    })
                    .ok_or_else(|| {
                        LoadError::Precondition(format!("{} has no {prefix} user", t.slug))
                    })
            };
            let desk = desks.get(&t.id).ok_or_else(|| {
                LoadError::Precondition(format!("{} has no Service Desk", t.slug))
            })?;
            out[*i] = Some(LoadTenant {
                tenant: (*t).clone(),
                agent: user("agent")?,
                requester: user("requester")?,
                desk: LoadGroup {
                    id: desk.id,
                    name: desk.name.clone(),
                    members: members.get(&desk.id).cloned().unwrap_or_default(),
                    version: events_version(desk.updated_at),
                },
            });
        }
        progress(chunk.len() as u64);
    }

    // Missing tenants: created in bulk.
    let missing: Vec<usize> = (0..count).filter(|i| out[*i].is_none()).collect();
    if !missing.is_empty() && password_hash.is_none() {
        return Err(LoadError::Precondition(
            "new load-test users need the demo password: set ITSM_DEMO_PASSWORD or pass --demo"
                .into(),
        ));
    }
    let hash = password_hash.unwrap_or_default();
    for chunk in missing.chunks(LOAD_CHUNK) {
        let created = create_load_chunk(db, &msp, chunk, hash).await?;
        for (i, t) in chunk.iter().zip(created) {
            out[*i] = Some(t);
        }
        progress(chunk.len() as u64);
    }
    Ok(LoadSet {
        root,
        msp,
        created: missing.len(),
        tenants: out.into_iter().flatten().collect(),
    })
}

fn events_version(at: chrono::DateTime<chrono::Utc>) -> i64 {
    crate::events::version_of(at)
}

/// Creates the load-test customers at (0-based) `indexes` in one transaction.
async fn create_load_chunk(
    db: &DatabaseConnection,
    msp: &Tenant,
    indexes: &[usize],
    hash: &str,
) -> Result<Vec<LoadTenant>, LoadError> {
    use sea_orm::EntityTrait;

    use crate::{
        domain::{
            audit_chain::{GENESIS, Link},
            tenant::child_path,
        },
        store::entities::{
            audit_record, group as group_e, group_member, tenant as tenant_e, user as user_e,
            user_role,
        },
    };

    let now = crate::store::now();
    // The group's members were set just after it was created: two versions, two events.
    let desk_touched = now + chrono::Duration::microseconds(1);
    let mut tenant_rows = Vec::new();
    let mut user_rows = Vec::new();
    let mut role_rows = Vec::new();
    let mut group_rows = Vec::new();
    let mut member_rows = Vec::new();
    let mut audit_rows = Vec::new();
    let mut created = Vec::new();
    for &i in indexes {
        let slug = load_slug(i + 1);
        let name = load_company_name(i + 1);
        let id = Uuid::now_v7();
        let tenant = tenant_e::Model {
            id,
            parent_id: Some(msp.id),
            path: child_path(&msp.path, id),
            kind: TenantKind::Customer.as_str().to_string(),
            name: name.clone(),
            slug: slug.clone(),
            status: crate::domain::tenant::TenantStatus::Active
                .as_str()
                .to_string(),
            created_at: now,
            updated_at: now,
        };
        let mut chain: Vec<(&str, &str, Uuid, serde_json::Value)> =
            vec![("tenant.seeded", "tenant", id, json!({"slug": slug}))];
        let mut people = Vec::new();
        for (prefix, role) in [("agent", Role::Agent), ("requester", Role::Requester)] {
            let email = load_email(prefix, &slug);
            let user = user_e::Model {
                id: Uuid::now_v7(),
                tenant_id: id,
                email: email.clone(),
                display_name: format!("{name} {prefix}"),
                password_hash: Some(hash.to_string()),
                status: UserStatus::Active.as_str().to_string(),
                manager_id: None,
                failed_logins: 0,
                locked_until: None,
                created_at: now,
                updated_at: now,
            };
            role_rows.push(user_role::Model {
                tenant_id: id,
                user_id: user.id,
                role: role.as_str().to_string(),
            });
            chain.push((
                "user.seeded",
                "user",
                user.id,
                json!({"email": email, "roles": [role]}),
            ));
            people.push((user, role));
        }
        let (agent, requester) = (people[0].0.clone(), people[1].0.clone());
        let desk = group_e::Model {
            id: Uuid::now_v7(),
            tenant_id: id,
            name: DESK.into(),
            description: "First-line support".into(),
            created_at: now,
            updated_at: desk_touched,
        };
        member_rows.push(group_member::Model {
            tenant_id: id,
            group_id: desk.id,
            user_id: agent.id,
            created_at: desk_touched,
        });
        let mut prev = GENESIS.to_string();
        for (seq, (action, target_type, target, data)) in chain.into_iter().enumerate() {
            let seq = seq as i64 + 1;
            let hash = Link {
                tenant_id: id,
                seq,
                at: now,
                actor_id: None,
                action,
                target_type,
                target_id: Some(target),
                data: &data,
                prev_hash: &prev,
            }
            .hash();
            audit_rows.push(audit_record::Model {
                id: Uuid::now_v7(),
                tenant_id: id,
                seq,
                at: now,
                actor_id: None,
                action: action.to_string(),
                target_type: target_type.to_string(),
                target_id: Some(target),
                data,
                prev_hash: std::mem::replace(&mut prev, hash.clone()),
                hash,
            });
        }
        let user_out = |u: &user_e::Model| LoadUser {
            id: u.id,
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            status: u.status.clone(),
            version: events_version(u.updated_at),
        };
        created.push(LoadTenant {
            tenant: tenant.clone(),
            agent: user_out(&agent),
            requester: user_out(&requester),
            desk: LoadGroup {
                id: desk.id,
                name: desk.name.clone(),
                members: vec![agent.id],
                version: events_version(desk.updated_at),
            },
        });
        tenant_rows.push(tenant);
        user_rows.extend(people);
        group_rows.push(desk);
    }

    let mut scope = vec![msp.id];
    scope.extend(tenant_rows.iter().map(|t| t.id));
    let txn = begin_scoped(db, &TenantId::many(&scope)).await?;
    tenant_e::Entity::insert_many(tenant_rows.iter().cloned().map(tenant_e::ActiveModel::from))
        .exec_without_returning(&txn)
        .await?;
    user_e::Entity::insert_many(
        user_rows
            .iter()
            .map(|(u, _)| user_e::ActiveModel::from(u.clone())),
    )
    .exec_without_returning(&txn)
    .await?;
    user_role::Entity::insert_many(role_rows.into_iter().map(user_role::ActiveModel::from))
        .exec_without_returning(&txn)
        .await?;
    group_e::Entity::insert_many(group_rows.iter().cloned().map(group_e::ActiveModel::from))
        .exec_without_returning(&txn)
        .await?;
    group_member::Entity::insert_many(member_rows.into_iter().map(group_member::ActiveModel::from))
        .exec_without_returning(&txn)
        .await?;
    audit_record::Entity::insert_many(audit_rows.into_iter().map(audit_record::ActiveModel::from))
        .exec_without_returning(&txn)
        .await?;
    // The same events the one-by-one path publishes, in causal order per tenant.
    for t in &tenant_rows {
        crate::events::tenant_created(&txn, t).await?;
    }
    for (u, role) in &user_rows {
        crate::events::user_created(&txn, u, &[*role]).await?;
    }
    for (g, t) in group_rows.iter().zip(&created) {
        let at_creation = groups::Group {
            updated_at: g.created_at,
            ..g.clone()
        };
        crate::events::group_created(&txn, &at_creation).await?;
        crate::events::group_members_changed(&txn, g, t.desk.members.clone()).await?;
    }
    txn.commit().await?;
    Ok(created)
}
