//! Conflicts of a change (`GET /api/v1/changes/{id}/conflicts`), of a plan not yet a change
//! (`POST /api/v1/changes/conflict-check`), and free slots (`GET /api/v1/changes/next-slot`),
//! checked on every read against the tenant's changes, CMDB and windows.
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Duration, Utc};
use platform::{
    ApiError,
    auth::{Auth, scopes::ChangeRead},
    json::Json,
    tenancy::begin_scoped,
    validate::Validator,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::checks::{conflicts_of, windows_of};
use crate::{
    ChangeService,
    domain::{
        change::{self, Window},
        conflict::{self, Conflict, Planned, RELATED_DEPTH},
    },
    store::windows,
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(check).service(next_slot).service(of_change);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "conflicts": [{
        "kind": "related_ci", "ci_id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a11", "depth": 2,
        "other_change_id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a30", "window_id": null,
        "overlap_start": "2026-12-12T21:00:00Z", "overlap_end": "2026-12-12T22:00:00Z"
    }],
    "checked_at": "2026-12-07T09:00:00Z"
}))]
pub struct ConflictsOut {
    pub conflicts: Vec<Conflict>,
    pub checked_at: DateTime<Utc>,
}

fn answer(conflicts: Vec<Conflict>) -> HttpResponse {
    HttpResponse::Ok().json(ConflictsOut {
        conflicts,
        checked_at: crate::store::now(),
    })
}

/// A change's conflicts.
///
/// Other open changes of the tenant at overlapping times on the same CI (`same_ci`) or one
/// within two relationships either way (`related_ci`, with `depth`) or with the same assignee
/// (`assignee_double_booked`); blackouts over its window; a window outside every maintenance
/// window that applies (`outside_maintenance_window`). Checked now; a change without a window
/// has none.
#[utoipa::path(
    tag = "changes",
    operation_id = "getChangeConflicts",
    params(("id" = Uuid, Path, description = "The change's id.")),
    responses((status = 200, description = "OK", body = ConflictsOut)),
    security(("bearer" = ["change:read"]))
)]
#[get("/{id}/conflicts")]
pub async fn of_change(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let windows = windows_of(&state.db, auth.tenant.lineage()).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let (c, cis) = super::checks::load(&txn, tenant, *id, false).await?;
    let found = match c.window() {
        Some(window) => {
            let planned = Planned {
                id: Some(c.id),
                window,
                cis,
                assignee: c.assignee_id,
            };
            conflicts_of(&txn, tenant, &planned, &windows).await?
        }
        None => Vec::new(),
    };
    txn.commit().await?;
    Ok(answer(found))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "affected_ci_ids": ["01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a11"],
    "planned_start": "2026-12-12T20:00:00Z",
    "planned_end": "2026-12-12T22:00:00Z"
}))]
pub struct CheckIn {
    pub affected_ci_ids: Vec<Uuid>,
    pub planned_start: DateTime<Utc>,
    /// After `planned_start`.
    pub planned_end: DateTime<Utc>,
    pub assignee_id: Option<Uuid>,
}

/// Check a plan for conflicts without recording it.
///
/// The same checks as a change's conflicts, for CIs, a window and an assignee not yet a
/// change.
#[utoipa::path(
    tag = "changes",
    operation_id = "checkChangeConflicts",
    request_body = CheckIn,
    responses((status = 200, description = "OK", body = ConflictsOut)),
    security(("bearer" = ["change:read"]))
)]
#[post("/conflict-check")]
pub async fn check(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    body: Json<CheckIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let mut v = Validator::new();
    let window = Window::parse(&mut v, Some(body.planned_start), Some(body.planned_end));
    let cis = change::ci_ids(&mut v, body.affected_ci_ids);
    let (window, cis) = v.finish_with((|| Some((window??, cis?)))())?;
    let tenant = auth.tenant_id();
    let windows = windows_of(&state.db, auth.tenant.lineage()).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let planned = Planned {
        id: None,
        window,
        cis,
        assignee: body.assignee_id,
    };
    let found = conflicts_of(&txn, tenant, &planned, &windows).await?;
    txn.commit().await?;
    Ok(answer(found))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotQuery {
    /// How long the work takes, 1–10,080 minutes.
    pub duration_minutes: u32,
    /// The CIs, comma-separated.
    pub affected_ci_ids: String,
    /// The earliest start (default: now).
    pub after: Option<DateTime<Utc>>,
    /// How many slots, 1–10 (default 3).
    pub count: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct Slot {
    pub planned_start: DateTime<Utc>,
    pub planned_end: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"slots": [
    {"planned_start": "2026-12-12T20:00:00Z", "planned_end": "2026-12-12T22:00:00Z"}
]}))]
pub struct SlotsOut {
    /// Free windows within 90 days, earliest first.
    pub slots: Vec<Slot>,
}

/// How far ahead free slots are looked for.
const HORIZON_DAYS: i64 = 90;

/// Free slots for a change.
///
/// The earliest windows of `duration_minutes` from `after` in which work on these CIs would
/// conflict with no other change, blackout or maintenance window (within 90 days).
#[utoipa::path(
    tag = "changes",
    operation_id = "nextChangeSlots",
    params(SlotQuery),
    responses((status = 200, description = "OK", body = SlotsOut)),
    security(("bearer" = ["change:read"]))
)]
#[get("/next-slot")]
pub async fn next_slot(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    query: web::Query<SlotQuery>,
) -> Result<HttpResponse, ApiError> {
    let bad = |name: &str, detail: &str| ApiError::bad_query(name, "invalid", detail.to_string());
    if !(1..=10_080).contains(&query.duration_minutes) {
        return Err(bad("duration_minutes", "1 to 10080 minutes"));
    }
    let count = query.count.unwrap_or(3);
    if !(1..=10).contains(&count) {
        return Err(bad("count", "1 to 10"));
    }
    let cis: Vec<Uuid> = query
        .affected_ci_ids
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim().parse::<Uuid>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("affected_ci_ids", "comma-separated CI ids"))?;
    if cis.is_empty() || cis.len() > change::MAX_CIS {
        return Err(bad("affected_ci_ids", "1 to 500 CI ids"));
    }
    let after = query.after.unwrap_or_else(crate::store::now);
    let duration = Duration::minutes(i64::from(query.duration_minutes));
    let horizon = Duration::days(HORIZON_DAYS);
    let tenant = auth.tenant_id();
    let windows = windows_of(&state.db, auth.tenant.lineage()).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let near = bus::cmdb::around(&txn, tenant, &cis, RELATED_DEPTH).await?;
    let span = Window {
        start: after,
        end: after + horizon + duration,
    };
    let others = windows::others(&txn, tenant, span).await?;
    txn.commit().await?;
    let want = conflict::SlotRequest {
        cis: &cis,
        after,
        duration,
        horizon,
        count,
    };
    let slots = conflict::free_slots(&want, &near, &others, &windows);
    Ok(HttpResponse::Ok().json(SlotsOut {
        slots: slots
            .into_iter()
            .map(|w| Slot {
                planned_start: w.start,
                planned_end: w.end,
            })
            .collect(),
    }))
}
