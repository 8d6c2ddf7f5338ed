//! Signing-key rotation (platform operators).
use actix_web::{HttpResponse, post, web};
use platform::{
    ApiError,
    auth::{Auth, scopes::SigningKeyRotate},
    error::Problem,
    tenancy::begin_scoped,
};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::{Identity, store::audit};

#[derive(Serialize, ToSchema)]
pub struct RotatedOut {
    /// The new active key id; the previous key stays in the JWKS for 24 hours.
    pub kid: String,
}

/// Rotate the token signing key.
#[utoipa::path(
    tag = "signing-keys",
    operation_id = "rotateSigningKey",
    responses((status = 200, description = "OK", body = RotatedOut), (status = "4XX", description = "Client error: problem+json naming the field or reason", body = Problem, content_type = "application/problem+json")),
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
