//! Seeding: the platform root tenant, and the demo MSP with its customers and one user per
//! role. Idempotent: running it again keeps the data and resets the demo passwords.
use platform::auth::UserId;
use platform::{
    ApiError,
    auth::Role,
    tenancy::{TenantId, TenantKind, begin_scoped},
};
use sea_orm::{ActiveValue::Set, DatabaseConnection};
use serde_json::json;
use std::collections::HashMap;
use uuid::Uuid;

use crate::{
    domain::password,
    store::{
        audit, groups,
        tenants::{self, NewTenant, Tenant},
        users::{self, UserStatus},
    },
};

pub const ROOT_SLUG: &str = "platform";

/// A demo MSP and its customers (`../shared/DEMO.md`).
pub struct DemoProvider {
    pub slug: &'static str,
    pub name: &'static str,
    /// Domain of its staff's logins (`msp-admin@<domain>`, `msp-agent@<domain>`).
    pub domain: &'static str,
    /// Its customers' slugs and names.
    pub customers: &'static [(&'static str, &'static str)],
}

/// The demo MSPs: a second one exists so that every isolation test also covers an MSP reaching
/// for another MSP's customer.
pub const DEMO_PROVIDERS: [DemoProvider; 2] = [
    DemoProvider {
        slug: "demo",
        name: "Demo MSP",
        domain: "demo.test",
        customers: &[("globex", "Globex Corporation"), ("initech", "Initech")],
    },
    DemoProvider {
        slug: "umbrella",
        name: "Umbrella MSP",
        domain: "umbrella.demo.test",
        customers: &[("soylent", "Soylent")],
    },
];
/// The first demo MSP, which load-test customers join.
pub const DEMO_MSP: &str = DEMO_PROVIDERS[0].slug;
/// Login prefix → role, for each demo customer (`<prefix>@<slug>.demo.test`).
pub const CUSTOMER_LOGINS: [(&str, Role); 9] = [
    ("admin", Role::TenantAdmin),
    ("agent", Role::Agent),
    ("change-manager", Role::ChangeManager),
    ("approver", Role::Approver),
    ("requester", Role::Requester),
    ("analyst", Role::Analyst),
    ("configuration-manager", Role::ConfigurationManager),
    ("service-owner", Role::ServiceOwner),
    ("capacity-manager", Role::CapacityManager),
];
/// Each demo customer's groups: name, description and the login prefixes of its members.
pub const CUSTOMER_GROUPS: [(&str, &str, &[&str]); 3] = [
    (DESK, "First-line support", &["agent"]),
    (
        "Infrastructure",
        "Servers, networks and configuration",
        &["agent", "configuration-manager"],
    ),
    (
        "CAB",
        "Change advisory board",
        &["approver", "change-manager"],
    ),
];
/// The group that works a tenant's tickets.
const DESK: &str = "Service Desk";

/// A demo login.
pub struct DemoLogin {
    pub email: String,
    pub tenant: String,
    pub role: Role,
}

/// Finds the root tenant, creating it on first start.
pub async fn ensure_root(db: &DatabaseConnection) -> Result<Tenant, ApiError> {
    let id = root_id();
    let txn = begin_scoped(db, &[TenantId(id)]).await?;
    let root = match tenants::find_within(&txn, TenantId(id), TenantId(id)).await? {
        Some(r) => r,
        None => {
            let root = tenants::insert_root(&txn, id, "Platform operator", ROOT_SLUG).await?;
            crate::events::tenant_created(&txn, &root).await?;
            root
        }
    };
    txn.commit().await?;
    Ok(root)
}

/// The root tenant's fixed id, so every process can scope to it without a lookup.
pub fn root_id() -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001)
}

async fn ensure_child(
    db: &DatabaseConnection,
    parent: &Tenant,
    slug: &str,
    name: &str,
) -> Result<Tenant, ApiError> {
    let txn = begin_scoped(db, &[TenantId(parent.id)]).await?;
    let existing = tenants::resolve_within(&txn, TenantId(parent.id), slug).await?;
    let t = match existing {
        Some(t) => t,
        None => {
            let id = Uuid::now_v7();
            platform::tenancy::scope_to(&txn, &[TenantId(parent.id), TenantId(id)]).await?;
            let kind = if parent.kind() == TenantKind::Platform {
                TenantKind::Msp
            } else {
                TenantKind::Customer
            };
            let t = tenants::insert(
                &txn,
                NewTenant {
                    id,
                    parent,
                    name: name.into(),
                    slug: slug.into(),
                    kind,
                },
            )
            .await?;
            seeded(
                &txn,
                id,
                "tenant.seeded",
                "tenant",
                id,
                json!({"slug": slug}),
            )
            .await?;
            crate::events::tenant_created(&txn, &t).await?;
            t
        }
    };
    txn.commit().await?;
    Ok(t)
}

async fn ensure_user(
    db: &DatabaseConnection,
    tenant: Uuid,
    email: &str,
    name: &str,
    role: Role,
    hash: &str,
) -> Result<Uuid, ApiError> {
    let txn = begin_scoped(db, &[TenantId(tenant)]).await?;
    let (user, created) = match users::find_by_email(&txn, email).await? {
        Some(u) => (u, false),
        None => {
            let u = users::insert_invited(&txn, TenantId(tenant), email, name).await?;
            seeded(
                &txn,
                tenant,
                "user.seeded",
                "user",
                u.id,
                json!({"email": email, "roles": [role]}),
            )
            .await?;
            (u, true)
        }
    };
    let user = users::update(&txn, user, |u| {
        u.password_hash = Set(Some(hash.to_string()));
        u.status = Set(UserStatus::Active.as_str().to_string());
        u.failed_logins = Set(0);
        u.locked_until = Set(None);
    })
    .await?;
    users::set_roles(&txn, TenantId(tenant), UserId(user.id), &[role]).await?;
    if created {
        crate::events::user_created(&txn, &user, &[role]).await?;
    }
    txn.commit().await?;
    Ok(user.id)
}

/// Records a seeding change in the tenant's audit chain (no actor: the operator's command).
async fn seeded(
    txn: &sea_orm::DatabaseTransaction,
    tenant: Uuid,
    action: &str,
    target_type: &str,
    target: Uuid,
    data: serde_json::Value,
) -> Result<(), sea_orm::DbErr> {
    audit::append(
        txn,
        TenantId(tenant),
        audit::Entry {
            actor_id: None,
            action,
            target_type,
            target_id: Some(target),
            data,
        },
    )
    .await
}

/// Seeds the demo data; returns the logins (all with `password`).
pub async fn seed_demo(
    db: &DatabaseConnection,
    demo_password: &str,
) -> Result<Vec<DemoLogin>, ApiError> {
    let pw = demo_password.to_string();
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let root = ensure_root(db).await?;
    let mut logins = Vec::new();
    let mut add = |email: String, tenant: &str, role: Role| {
        logins.push(DemoLogin {
            email,
            tenant: tenant.into(),
            role,
        })
    };

    ensure_user(
        db,
        root.id,
        "platform-admin@demo.test",
        "Platform Admin",
        Role::PlatformAdmin,
        &hash,
    )
    .await?;
    add(
        "platform-admin@demo.test".into(),
        ROOT_SLUG,
        Role::PlatformAdmin,
    );
    for provider in &DEMO_PROVIDERS {
        let msp = ensure_child(db, &root, provider.slug, provider.name).await?;
        let mut msp_agent = None;
        for (prefix, name, role) in [
            ("msp-admin", "MSP Admin", Role::MspAdmin),
            ("msp-agent", "MSP Agent", Role::MspAgent),
        ] {
            let email = format!("{prefix}@{}", provider.domain);
            let id = ensure_user(db, msp.id, &email, name, role, &hash).await?;
            if role == Role::MspAgent {
                msp_agent = Some(id);
            }
            add(email, provider.slug, role);
        }
        // The provider's own desk fulfils what its customers order from its catalogue.
        let txn = begin_scoped(db, &[TenantId(msp.id)]).await?;
        ensure_group(
            &txn,
            TenantId(msp.id),
            DESK,
            "First-line support",
            msp_agent,
        )
        .await?;
        txn.commit().await?;
        for (slug, name) in provider.customers {
            let customer = ensure_child(db, &msp, slug, name).await?;
            let mut ids = HashMap::new();
            for (prefix, role) in CUSTOMER_LOGINS {
                let email = format!("{prefix}@{slug}.demo.test");
                let name = format!("{name} {prefix}");
                let id = ensure_user(db, customer.id, &email, &name, role, &hash).await?;
                ids.insert(prefix, id);
                add(email, slug, role);
            }
            let tenant = TenantId(customer.id);
            let txn = begin_scoped(db, &[tenant]).await?;
            // The approver is the requester's line manager: they approve what the requester
            // orders.
            if let Some(user) = users::find(&txn, tenant, UserId(ids["requester"])).await?
                && user.manager_id != Some(ids["approver"])
            {
                let user = users::update(&txn, user, |u| u.manager_id = Set(Some(ids["approver"])))
                    .await?;
                crate::events::user_manager_changed(&txn, &user).await?;
            }
            for (group, description, members) in CUSTOMER_GROUPS {
                for member in members {
                    ensure_group(&txn, tenant, group, description, Some(ids[member])).await?;
                }
            }
            txn.commit().await?;
        }
    }
    Ok(logins)
}

/// The tenant's group `name`, created if missing, with `member` in it.
async fn ensure_group(
    txn: &sea_orm::DatabaseTransaction,
    tenant: TenantId,
    name: &str,
    description: &str,
    member: Option<Uuid>,
) -> Result<groups::Group, ApiError> {
    let group = match find_group(txn, tenant, name).await? {
        Some(g) => g,
        None => {
            let g = groups::insert(txn, tenant, name, description).await?;
            crate::events::group_created(txn, &g).await?;
            g
        }
    };
    if let Some(member) = member
        && groups::add_member(txn, tenant, group.id, UserId(member)).await?
    {
        let group = groups::touch(txn, group).await?;
        let members = groups::members(txn, tenant, group.id).await?;
        crate::events::group_members_changed(txn, &group, members).await?;
        return Ok(group);
    }
    Ok(group)
}

/// The tenant's group called `name`, if any.
async fn find_group(
    txn: &sea_orm::DatabaseTransaction,
    tenant: TenantId,
    name: &str,
) -> Result<Option<groups::Group>, ApiError> {
    Ok(groups::list(txn, &[tenant], None, 100)
        .await?
        .into_iter()
        .find(|g| g.name == name))
}

/// The demo customers seeded so far, each MSP's in turn, for the other services' part of the
/// demo data.
pub async fn demo_customers(db: &DatabaseConnection) -> Result<Vec<host::DemoCustomer>, ApiError> {
    let mut out = Vec::new();
    for provider in &DEMO_PROVIDERS {
        let Some(msp) = demo_provider(db, provider.slug).await? else {
            continue;
        };
        let scope = TenantId(msp.id);
        let txn = begin_scoped(db, &[scope]).await?;
        let admin = users::find_by_email(&txn, &format!("msp-admin@{}", provider.domain)).await?;
        let agent = users::find_by_email(&txn, &format!("msp-agent@{}", provider.domain)).await?;
        let desk = find_group(&txn, scope, DESK).await?;
        txn.commit().await?;
        let (Some(provider_admin), Some(provider_desk), Some(provider_agent)) =
            (admin, desk, agent)
        else {
            continue;
        };
        for (slug, _) in provider.customers {
            let txn = begin_scoped(db, &[scope]).await?;
            let tenant = tenants::resolve_within(&txn, scope, slug).await?;
            txn.commit().await?;
            let Some(tenant) = tenant else {
                continue;
            };
            let txn = begin_scoped(db, &[TenantId(tenant.id)]).await?;
            let login = |prefix: &str| format!("{prefix}@{slug}.demo.test");
            let agent = users::find_by_email(&txn, &login("agent")).await?;
            let requester = users::find_by_email(&txn, &login("requester")).await?;
            let service_owner = users::find_by_email(&txn, &login("service-owner")).await?;
            let desk = find_group(&txn, TenantId(tenant.id), DESK).await?;
            txn.commit().await?;
            if let (Some(agent), Some(requester), Some(service_owner), Some(desk)) =
                (agent, requester, service_owner, desk)
            {
                out.push(host::DemoCustomer {
                    id: tenant.id,
                    slug: tenant.slug.clone(),
                    path: tenant.path_ids(),
                    agent: agent.id,
                    requester: requester.id,
                    service_owner: service_owner.id,
                    desk: desk.id,
                    provider_admin: provider_admin.id,
                    provider_desk: provider_desk.id,
                    provider_agent: provider_agent.id,
                });
            }
        }
    }
    Ok(out)
}

/// The demo MSP, if the demo data has been seeded.
pub async fn demo_msp(db: &DatabaseConnection) -> Result<Option<Tenant>, ApiError> {
    demo_provider(db, DEMO_MSP).await
}

/// The tenant with `slug` anywhere in the tree (for command-line tools).
pub async fn tenant_by_slug(
    db: &DatabaseConnection,
    slug: &str,
) -> Result<Option<Tenant>, ApiError> {
    demo_provider(db, slug).await
}

async fn demo_provider(db: &DatabaseConnection, slug: &str) -> Result<Option<Tenant>, ApiError> {
    let root = root_id();
    let txn = begin_scoped(db, &[TenantId(root)]).await?;
    let msp = tenants::resolve_within(&txn, TenantId(root), slug).await?;
    txn.commit().await?;
    Ok(msp)
}

mod load;
pub use load::*;
