//! `POST /api/v1/capacity/metrics`: samples in, all or nothing, idempotent per target, metric
//! and instant.
use std::collections::HashSet;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{Auth, scopes::CapacityIngest},
    error::Problem,
    tenancy::begin_scoped,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    AnalyticsService,
    domain::capacity::{FUTURE_SKEW, MAX_BATCH, TargetType, is_metric_name},
    store::capacity::{self as store, NewSample},
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(ingest);
}

/// A batch of 5,000 samples with long names stays well under this.
const MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CapacitySample)]
pub struct SampleIn {
    /// `service` or `ci`.
    pub target_type: TargetType,
    /// A CI or service of the tenant (its own or shared with it).
    pub target_id: Uuid,
    /// Lower-case letters, digits and `_` (e.g. `disk_used_percent`).
    pub metric: String,
    pub value: f64,
    /// Not in the future (5 minutes of clock skew are allowed).
    pub observed_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"samples": [{"target_type": "ci", "target_id": "01a24233-c456-7186-af34-ba4716863c54", "metric": "disk_used_percent", "value": 71.5, "observed_at": "2026-12-07T10:00:00Z"}]}))]
#[schema(as = CapacitySamples)]
pub struct SamplesIn {
    /// 1 to 5,000 samples.
    pub samples: Vec<SampleIn>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"accepted": 4998, "duplicates": 2}))]
#[schema(as = CapacityIngested)]
pub struct Ingested {
    /// Samples stored.
    pub accepted: u64,
    /// Samples already stored (same target, metric and `observed_at`), or repeated in the batch.
    pub duplicates: u64,
}

/// Ingest capacity samples.
///
/// Up to 5,000 samples, stored all or nothing: any invalid sample is a 422 naming it
/// (`/samples/3/value`) and nothing is stored. A sample already stored is counted in
/// `duplicates`, so a batch may be sent again safely. Thresholds on the samples' targets and
/// metrics get a new forecast at once.
#[utoipa::path(
    tag = "capacity",
    operation_id = "ingestCapacityMetrics",
    request_body = SamplesIn,
    responses((status = 202, description = "Stored", body = Ingested), (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"), (status = 413, description = "Body over 4 MiB", body = Problem, content_type = "application/problem+json"), (status = 422, description = "A sample is invalid, or the batch is empty or over 5,000", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["capacity:ingest"]))
)]
#[post("/metrics")]
pub async fn ingest(
    state: web::Data<AnalyticsService>,
    auth: Auth<CapacityIngest>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: SamplesIn = platform::json::parse_limited(&req, payload, MAX_BODY).await?;
    let samples = check(body.samples, Utc::now())?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let mut unknown = Vec::new();
    for kind in [TargetType::Ci, TargetType::Service] {
        let ids: Vec<Uuid> = samples
            .iter()
            .filter(|s| s.target_type == kind)
            .map(|s| s.target_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let known = store::known_targets(&txn, tenant, kind, &ids).await?;
        unknown.extend(
            samples
                .iter()
                .enumerate()
                .filter(|(_, s)| s.target_type == kind && !known.contains(&s.target_id))
                .map(|(i, _)| i),
        );
    }
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(ApiError::validation(
            unknown
                .into_iter()
                .take(100)
                .map(|i| {
                    FieldError::new(
                        format!("/samples/{i}/target_id"),
                        "unknown_reference",
                        "no CI or service of this type with this id in the tenant's CMDB",
                    )
                })
                .collect(),
        ));
    }
    let accepted = store::insert_samples(&txn, tenant, &samples).await?;
    let watched: HashSet<_> = samples
        .iter()
        .map(|s| (s.target_type, s.target_id, s.metric.clone()))
        .collect();
    let due = store::make_due(&txn, tenant, &watched, Utc::now()).await?;
    txn.commit().await?;
    if due > 0 {
        state.forecaster.wake();
    }
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(Ingested {
        accepted,
        duplicates: samples.len() as u64 - accepted,
    }))
}

/// Every sample's fields checked at once (the first 100 errors), or the samples to store.
fn check(samples: Vec<SampleIn>, now: DateTime<Utc>) -> Result<Vec<NewSample>, ApiError> {
    if samples.is_empty() || samples.len() > MAX_BATCH {
        return Err(ApiError::field(
            "/samples",
            if samples.is_empty() {
                "empty"
            } else {
                "too_many"
            },
            format!("send 1 to {MAX_BATCH} samples"),
        ));
    }
    let mut errors = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        if !is_metric_name(&s.metric) {
            errors.push(FieldError::new(
                format!("/samples/{i}/metric"),
                "invalid_metric",
                "lower-case letters, digits and _, starting with a letter, at most 64",
            ));
        }
        if !s.value.is_finite() {
            errors.push(FieldError::new(
                format!("/samples/{i}/value"),
                "not_finite",
                "must be a finite number",
            ));
        }
        if s.observed_at > now + FUTURE_SKEW {
            errors.push(FieldError::new(
                format!("/samples/{i}/observed_at"),
                "in_future",
                "must not be in the future",
            ));
        }
    }
    if !errors.is_empty() {
        errors.truncate(100);
        return Err(ApiError::validation(errors));
    }
    // The same sample twice in one batch is stored once: the second is a duplicate.
    Ok(samples
        .into_iter()
        .map(|s| NewSample {
            target_type: s.target_type,
            target_id: s.target_id,
            metric: s.metric,
            value: s.value,
            observed_at: s.observed_at,
        })
        .collect())
}
