//! After the work: `GET/PUT /api/v1/changes/{id}/pir` (the post-implementation review) and
//! `/api/v1/changes/{id}/caused-incidents` (incidents the change caused, which make it a failed
//! change — once, however many).
use actix_web::{HttpResponse, get, post, put, web};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{ChangeRead, ChangeWrite},
    },
    error::Problem,
    json::Json,
    tenancy::{TenantId, begin_scoped},
};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::checks::{load, suspend_template};
use crate::{
    ChangeService,
    domain::{
        lifecycle::{CloseCode, State},
        template::{Review, failed},
    },
    events,
    store::{
        changes::{self, Change},
        incidents,
    },
};

/// Under `/api/v1/changes`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(get_review)
        .service(put_review)
        .service(caused)
        .service(link);
}

/// Read a change's post-implementation review.
///
/// 404 until one is written.
#[utoipa::path(
    tag = "changes",
    operation_id = "getChangeReview",
    params(("id" = Uuid, Path, description = "The change's id.")),
    responses((status = 200, description = "OK", body = Review)),
    security(("bearer" = ["change:read"]))
)]
#[get("/{id}/pir")]
pub async fn get_review(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let (c, _) = load(&txn, tenant, *id, false).await?;
    txn.commit().await?;
    let review = c
        .review()
        .ok_or_else(|| ApiError::not_found("post-implementation review"))?;
    Ok(HttpResponse::Ok().json(review))
}

/// Write a change's post-implementation review.
///
/// Open while the change is in `implement` or `review` (409 `review_closed` otherwise).
/// Closing an emergency change, or any change as `unsuccessful`, needs one. Each new finding
/// of kind `improvement` is published (`itsm.change.pir.finding_recorded.v1`).
#[utoipa::path(
    tag = "changes",
    operation_id = "putChangeReview",
    params(("id" = Uuid, Path, description = "The change's id.")),
    request_body = Review,
    responses(
        (status = 200, description = "OK", body = Review),
        (status = 409, description = "`review_closed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["change:write"]))
)]
#[put("/{id}/pir")]
pub async fn put_review(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeWrite>,
    id: web::Path<Uuid>,
    body: Json<Review>,
) -> Result<HttpResponse, ApiError> {
    let review = Review::check(body.0)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let (c, _) = load(&txn, tenant, *id, true).await?;
    if !matches!(c.lifecycle_state(), State::Implement | State::Review) {
        return Err(ApiError::conflict(
            "review_closed",
            "a review is written while the change is in implement or review",
        ));
    }
    let before = c.review();
    for f in review.new_improvements(before.as_ref()) {
        events::finding_recorded(&txn, &c, f).await?;
    }
    changes::set_review(&txn, c, &review).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(review))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "change_id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a10",
    "incident_ids": ["01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a60"],
    "caused_incident_count": 1,
    "failed": true
}))]
pub struct CausedOut {
    pub change_id: Uuid,
    /// Oldest link first.
    pub incident_ids: Vec<Uuid>,
    pub caused_incident_count: u32,
    /// Closed `unsuccessful` or caused an incident: one failure, however many incidents.
    pub failed: bool,
}

async fn caused_out(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    c: &Change,
) -> Result<CausedOut, ApiError> {
    let ids = incidents::caused_by(txn, tenant, c.id).await?;
    let count = u32::try_from(ids.len()).unwrap_or(u32::MAX);
    Ok(CausedOut {
        change_id: c.id,
        failed: failed(c.close_code.as_deref().and_then(CloseCode::parse), count),
        caused_incident_count: count,
        incident_ids: ids,
    })
}

/// Incidents a change caused.
///
/// With whether the change counts as failed.
#[utoipa::path(
    tag = "changes",
    operation_id = "listChangeCausedIncidents",
    params(("id" = Uuid, Path, description = "The change's id.")),
    responses((status = 200, description = "OK", body = CausedOut)),
    security(("bearer" = ["change:read"]))
)]
#[get("/{id}/caused-incidents")]
pub async fn caused(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let (c, _) = load(&txn, tenant, *id, false).await?;
    let body = caused_out(&txn, tenant, &c).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"incident_id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a60"}))]
pub struct CausedIncidentIn {
    /// An incident of the change's tenant.
    pub incident_id: Uuid,
}

/// Record that a change caused an incident.
///
/// The change then counts as failed (once, however many incidents). The first link after it
/// closed revises its outcome (`itsm.change.change.outcome_revised.v1`); the first link of a
/// change made from a template suspends the template. Linking the same incident again
/// changes nothing (200).
#[utoipa::path(
    tag = "changes",
    operation_id = "linkChangeCausedIncident",
    params(("id" = Uuid, Path, description = "The change's id.")),
    request_body = CausedIncidentIn,
    responses(
        (status = 201, description = "Linked", body = CausedOut),
        (status = 200, description = "Already linked", body = CausedOut),
        (status = 422, description = "`unknown_reference`: no such incident in this tenant", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["change:write"]))
)]
#[post("/{id}/caused-incidents")]
pub async fn link(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeWrite>,
    id: web::Path<Uuid>,
    body: Json<CausedIncidentIn>,
) -> Result<HttpResponse, ApiError> {
    let incident = body.0.incident_id;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let (c, _) = load(&txn, tenant, *id, true).await?;
    if incidents::incident_number(&txn, tenant, incident)
        .await?
        .is_none()
    {
        return Err(ApiError::validation(vec![FieldError::new(
            "/incident_id",
            "unknown_reference",
            "no such incident in this tenant",
        )]));
    }
    let before = incidents::caused_count(&txn, tenant, c.id).await?;
    let linked =
        incidents::link_incident(&txn, tenant, c.id, incident, auth.principal.subject).await?;
    if linked {
        let count = before + 1;
        events::incident_linked(&txn, &c, incident, count).await?;
        let code = c.close_code.as_deref().and_then(CloseCode::parse);
        // A failure counts once: only the link that first makes the change failed revises it.
        if c.lifecycle_state() == State::Closed && !failed(code, before) {
            events::outcome_revised(&txn, &c, count).await?;
        }
        if before == 0 {
            suspend_template(&txn, &c, format!("an incident caused by {}", c.number)).await?;
        }
    }
    let body = caused_out(&txn, tenant, &c).await?;
    txn.commit().await?;
    Ok(if linked {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}
