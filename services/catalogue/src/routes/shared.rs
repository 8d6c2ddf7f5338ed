//! What several route modules check the same way.
use platform::{ApiError, FieldError, auth::UserId, tenancy::TenantId};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

/// The owner, manager and support group must be identity's, of this tenant (a user another
/// tenant's id names is unknown here, never found).
pub async fn check_people(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    owner: Option<Uuid>,
    manager: Option<Uuid>,
    group: Option<Uuid>,
) -> Result<Vec<FieldError>, ApiError> {
    let mut errors = Vec::new();
    for (pointer, user) in [("/owner_id", owner), ("/manager_id", manager)] {
        if let Some(id) = user
            && !bus::people::active_user(txn, tenant, UserId(id)).await?
        {
            errors.push(FieldError::new(
                pointer,
                "unknown_reference",
                "no such active user in this tenant",
            ));
        }
    }
    if let Some(id) = group
        && bus::people::group_members(txn, tenant, id).await?.is_none()
    {
        errors.push(FieldError::new(
            "/support_group_id",
            "unknown_reference",
            "no such group in this tenant",
        ));
    }
    Ok(errors)
}

/// A field that may be sent as `null` (to clear it): absent is `None`, `null` is `Some(None)`.
pub fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Uuid>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}
