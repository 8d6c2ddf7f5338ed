//! The incident service's projections of the seeded tenants, users and groups.
use bus::entities::{directory_group, directory_user};
use identity::seed::LoadSet;
use platform::tenancy::{TenantId, scope_to};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, TransactionTrait};

use super::incidents::TENANTS_PER_STATEMENT;

/// Writes the incident service's projections of the seeded tenants (and the tenants above
/// them), users and groups, with the versions their events carry, so the service knows them
/// before any event arrives (the events then change nothing).
pub(super) async fn project_directory(
    owner: &DatabaseConnection,
    set: &LoadSet,
) -> anyhow::Result<()> {
    use bus::entities::tenant_directory;

    let dir_row = |t: &identity::store::tenants::Tenant| tenant_directory::ActiveModel {
        id: Set(t.id),
        parent_id: Set(t.parent_id),
        path: Set(t.path.clone()),
        kind: Set(t.kind.clone()),
        slug: Set(t.slug.clone()),
        status: Set(t.status.clone()),
        settings: Set(serde_json::json!({})),
        // The version of the tenant's creation event: later changes (status, setting
        // overrides, which this row does not carry) still apply when their events arrive.
        version: Set(identity::events::version_of(t.created_at)),
    };
    // Every path starts at the root, so scoping to it makes each row visible and writable.
    let txn = owner.begin().await?;
    scope_to(&txn, &[TenantId(set.root.id)]).await?;
    for chunk in std::iter::once(&set.root)
        .chain(std::iter::once(&set.msp))
        .chain(set.tenants.iter().map(|t| &t.tenant))
        .collect::<Vec<_>>()
        .chunks(1000)
    {
        tenant_directory::Entity::insert_many(chunk.iter().map(|t| dir_row(t)))
            .on_conflict_do_nothing()
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;

    for chunk in set.tenants.chunks(TENANTS_PER_STATEMENT) {
        let txn = owner.begin().await?;
        scope_to(
            &txn,
            &chunk
                .iter()
                .map(|t| TenantId(t.tenant.id))
                .collect::<Vec<_>>(),
        )
        .await?;
        let users = chunk.iter().flat_map(|t| {
            [&t.agent, &t.requester].map(|u| directory_user::ActiveModel {
                id: Set(u.id),
                tenant_id: Set(t.tenant.id),
                display_name: Set(u.display_name.clone()),
                status: Set(u.status.clone()),
                manager_id: Set(None),
                version: Set(u.version),
            })
        });
        directory_user::Entity::insert_many(users)
            .on_conflict_do_nothing()
            .exec_without_returning(&txn)
            .await?;
        let groups = chunk.iter().map(|t| directory_group::ActiveModel {
            id: Set(t.desk.id),
            tenant_id: Set(t.tenant.id),
            name: Set(t.desk.name.clone()),
            members: Set(serde_json::json!(t.desk.members)),
            version: Set(t.desk.version),
        });
        directory_group::Entity::insert_many(groups)
            .on_conflict_do_nothing()
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
    }
    Ok(())
}
