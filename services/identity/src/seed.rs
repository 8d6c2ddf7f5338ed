//! Seeding: the platform root tenant, and the demo MSP with its customers and one user per
//! role. Idempotent: running it again keeps the data and resets the demo passwords.
use platform::{
    ApiError,
    auth::Role,
    tenancy::{TenantKind, begin_scoped},
};
use sea_orm::{ActiveValue::Set, DatabaseConnection};
use serde_json::json;
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
pub const DEMO_MSP: &str = "demo";
pub const DEMO_CUSTOMERS: [(&str, &str); 2] =
    [("globex", "Globex Corporation"), ("initech", "Initech")];
/// Login prefix → role, for each demo customer (`<prefix>@<slug>.demo.test`).
pub const CUSTOMER_LOGINS: [(&str, Role); 6] = [
    ("admin", Role::TenantAdmin),
    ("agent", Role::Agent),
    ("change-manager", Role::ChangeManager),
    ("approver", Role::Approver),
    ("requester", Role::Requester),
    ("analyst", Role::Analyst),
];

/// A demo login.
pub struct DemoLogin {
    pub email: String,
    pub tenant: String,
    pub role: Role,
}

/// Finds the root tenant, creating it on first start.
pub async fn ensure_root(db: &DatabaseConnection) -> Result<Tenant, ApiError> {
    let id = root_id();
    let txn = begin_scoped(db, &[id]).await?;
    let root = match tenants::find_within(&txn, id, id).await? {
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
    let txn = begin_scoped(db, &[parent.id]).await?;
    let existing = tenants::resolve_within(&txn, parent.id, slug).await?;
    let t = match existing {
        Some(t) => t,
        None => {
            let id = Uuid::now_v7();
            platform::tenancy::scope_to(&txn, &[parent.id, id]).await?;
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
    let txn = begin_scoped(db, &[tenant]).await?;
    let (user, created) = match users::find_by_email(&txn, email).await? {
        Some(u) => (u, false),
        None => {
            let u = users::insert_invited(&txn, tenant, email, name).await?;
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
    users::set_roles(&txn, tenant, user.id, &[role]).await?;
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
        tenant,
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
    let msp = ensure_child(db, &root, DEMO_MSP, "Demo MSP").await?;
    for (email, name, role) in [
        ("msp-admin@demo.test", "MSP Admin", Role::MspAdmin),
        ("msp-agent@demo.test", "MSP Agent", Role::MspAgent),
    ] {
        ensure_user(db, msp.id, email, name, role, &hash).await?;
        add(email.into(), DEMO_MSP, role);
    }
    for (slug, name) in DEMO_CUSTOMERS {
        let customer = ensure_child(db, &msp, slug, name).await?;
        let mut agent = None;
        for (prefix, role) in CUSTOMER_LOGINS {
            let email = format!("{prefix}@{slug}.demo.test");
            let id = ensure_user(
                db,
                customer.id,
                &email,
                &format!("{name} {prefix}"),
                role,
                &hash,
            )
            .await?;
            if role == Role::Agent {
                agent = Some(id);
            }
            add(email, slug, role);
        }
        let txn = begin_scoped(db, &[customer.id]).await?;
        let existing = groups::list(&txn, &[customer.id], None, 10).await?;
        let desk = match existing.into_iter().find(|g| g.name == "Service Desk") {
            Some(g) => g,
            None => {
                let g =
                    groups::insert(&txn, customer.id, "Service Desk", "First-line support").await?;
                crate::events::group_created(&txn, &g).await?;
                g
            }
        };
        if let Some(agent) = agent
            && groups::add_member(&txn, customer.id, desk.id, agent).await?
        {
            let desk = groups::touch(&txn, desk).await?;
            let members = groups::members(&txn, customer.id, desk.id).await?;
            crate::events::group_members_changed(&txn, &desk, members).await?;
        }
        txn.commit().await?;
    }
    Ok(logins)
}
