//! How a user, and a one-time token issued for one, are shown: by the users routes, by
//! invitation acceptance (`auth`) and by onboarding (`tenants`).
use chrono::{DateTime, Utc};
use platform::auth::UserId;
use platform::tenancy::TenantId;
use platform::{ApiError, auth::Role, tenancy::begin_scoped};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    Identity,
    store::users::{self, User},
};

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24233-c45f-769f-8803-48c30e8f1d48",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "email": "agent@globex.demo.test",
    "display_name": "Globex Corporation agent",
    "status": "active",
    "roles": [
        "agent"
    ],
    "manager_id": null,
    "created_at": "2026-12-04T17:56:58.591796Z",
    "updated_at": "2026-12-04T17:56:58.592940Z"
}))]
pub struct UserOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub display_name: String,
    /// `invited`, `active` or `deactivated`.
    pub status: String,
    pub roles: Vec<Role>,
    /// The user's line manager: who approves what they request.
    pub manager_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserOut {
    /// `user`, who holds `roles`.
    pub fn new(user: &User, roles: Vec<Role>) -> Self {
        Self {
            id: user.id,
            tenant_id: user.tenant_id,
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            status: user.status.clone(),
            roles,
            manager_id: user.manager_id,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }

    /// `user` with the roles it holds now, read in a transaction of its own.
    pub async fn read(state: &Identity, user: &User) -> Result<Self, ApiError> {
        let txn = begin_scoped(&state.db, &[TenantId(user.tenant_id)]).await?;
        let roles = users::roles(&txn, TenantId(user.tenant_id), UserId(user.id)).await?;
        txn.commit().await?;
        Ok(Self::new(user, roles))
    }
}

/// A one-time token, shown once.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "token": "rst_zvX1QfgwYP7NMJoYSYULprvecW6OrengxLWDigTFRz0",
    "expires_at": "2026-12-04T18:57:00.080381Z"
}))]
pub struct OneTimeTokenOut {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}
