//! Signing-key rotation (platform operators).
use actix_web::{HttpResponse, post, web};
use platform::{
    ApiError,
    auth::{Auth, scopes::SigningKeyRotate},
    tenancy::begin_scoped,
};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::{Identity, store::audit};

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "client": {
        "id": "01a24233-c9a1-75e7-9b5b-52d175f9e68b",
        "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
        "name": "Acme monitoring",
        "scopes": [
            "incident:read",
            "incident:write"
        ],
        "status": "active",
        "created_at": "2026-12-04T17:56:59.937802Z",
        "updated_at": "2026-12-04T17:57:00.011103Z"
    },
    "client_secret": "cs_TKywFNHc2SJ0jFXvwtHSwtXVTj7p5pydkU6ZF3RQK-k"
}))]
pub struct RotatedOut {
    /// The new active key id; the previous key stays in the JWKS for 24 hours.
    pub kid: String,
}

/// Rotate the token signing key.
///
/// A new key signs from now on; the old one stays published in the JWKS for a day so the tokens it
/// signed verify until they expire.
#[utoipa::path(
    tag = "signing-keys",
    operation_id = "rotateSigningKey",
    responses((status = 200, description = "OK", body = RotatedOut)),
    security(("bearer" = ["signing_key:rotate"]))
)]
#[post("/signing-keys/rotate")]
pub async fn rotate(
    state: web::Data<Identity>,
    auth: Auth<SigningKeyRotate>,
) -> Result<HttpResponse, ApiError> {
    let kid = state.keys.rotate().await?;
    state.auth.verifier.invalidate().await;
    let tenant = auth.principal.home_tenant;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    audit::append(
        &txn,
        tenant,
        audit::Entry {
            actor_id: Some(auth.principal.subject),
            action: "signing_key.rotated",
            target_type: "signing_key",
            target_id: None,
            data: json!({"kid": kid}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(RotatedOut { kid }))
}
