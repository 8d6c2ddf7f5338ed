//! `/api/v1/incidents/{id}/sla` and `/api/v1/sla/clocks?subject=`: the SLA clocks of an
//! incident or a request item, each explained second by second.
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{IncidentReadOwn, RequestFulfil},
    },
    tenancy::{TenantId, begin_scoped},
};
use sea_orm::{DatabaseTransaction, EntityTrait};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::shared::find_visible;
use crate::{
    IncidentService,
    domain::{
        calendar::{Calendar, CalendarSpec},
        sla::{Event, Kind, Segment, Status, Subject, timeline},
    },
    sla::clock_of,
    store::{
        entities::sla_request_item,
        sla::{self as sla_store, ClockRow, parse_kind},
    },
};

/// Under `/api/v1/incidents`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(incident_sla);
}

/// Under `/api/v1/sla`.
pub fn subject_routes(cfg: &mut ServiceConfig) {
    cfg.service(subject_clocks);
}

#[derive(Serialize, ToSchema)]
pub struct ClockOut {
    pub id: Uuid,
    pub definition_id: Uuid,
    pub name: String,
    pub kind: Kind,
    pub status: Status,
    pub target_seconds: i64,
    /// Working seconds counted so far (since the last reset), recomputed from `marks`.
    pub elapsed_seconds: i64,
    pub remaining_seconds: i64,
    /// Elapsed share of the target, in percent (may exceed 100).
    pub percent: f64,
    pub breached: bool,
    /// The deadline while running (it moves while paused).
    pub due_at: Option<DateTime<Utc>>,
    /// The calendar this clock counts on (pinned when it started).
    pub calendar: CalendarSpec,
    /// Everything that happened to the clock, in order.
    #[schema(value_type = Vec<crate::sla::schema::SlaEvent>)]
    pub marks: Vec<Event>,
    /// Every second from the start to the stop (or now): running, paused and why, outside
    /// working hours, holidays.
    pub timeline: Vec<Segment>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "incident_id": "01a1b420-9a70-720a-8f2b-6af20c44fed0",
    "as_of": "2026-12-04T17:57:00Z",
    "clocks": [
        {
            "id": "01a24233-c4cd-705f-9fe7-53a368d03cb8",
            "definition_id": "01a24233-c4ad-707f-af23-1e816622aef8",
            "name": "P1/P2 resolution",
            "kind": "resolution",
            "status": "paused",
            "target_seconds": 28800,
            "elapsed_seconds": 7200,
            "remaining_seconds": 21600,
            "percent": 25.0,
            "breached": false,
            "due_at": null,
            "calendar": {
                "time_zone": "Europe/Berlin",
                "weekly_hours": [
                    {
                        "day": "monday",
                        "start": "08:00",
                        "end": "18:00"
                    }
                ],
                "holidays": [
                    {
                        "date": "2026-12-25",
                        "name": "Christmas Day"
                    }
                ]
            },
            "marks": [
                {
                    "at": "2026-11-07T03:49:58Z",
                    "mark": "started"
                },
                {
                    "at": "2026-11-07T05:49:58Z",
                    "mark": "paused",
                    "reason": "on_hold (awaiting_caller)"
                }
            ],
            "timeline": [
                {
                    "from": "2026-11-07T03:49:58Z",
                    "to": "2026-11-07T05:49:58Z",
                    "seconds": 7200,
                    "counts": true,
                    "kind": "running",
                    "reason": null
                },
                {
                    "from": "2026-11-07T05:49:58Z",
                    "to": "2026-12-04T17:57:00Z",
                    "seconds": 2376422,
                    "counts": false,
                    "kind": "paused",
                    "reason": "on_hold (awaiting_caller)"
                }
            ]
        }
    ]
}))]
pub struct IncidentSlaOut {
    pub incident_id: Uuid,
    /// The instant the running clocks were read at.
    pub as_of: DateTime<Utc>,
    pub clocks: Vec<ClockOut>,
}

/// The incident's SLA clocks, with their timelines.
///
/// Each clock (response, resolution) with its status, elapsed and remaining working seconds,
/// deadline, every mark (`SlaEvent`: started, paused, resumed, stopped, canceled, reset, thresholds
/// at 50/75/100 %) and a timeline of segments that explains every second of it.
#[utoipa::path(
    tag = "incidents",
    operation_id = "getIncidentSla",
    params(("id" = Uuid, Path, description = "The incident's id.")),
    responses((status = 200, description = "OK", body = IncidentSlaOut)),
    security(("bearer" = ["incident:read_own"]))
)]
#[get("/{id}/sla")]
pub async fn incident_sla(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentReadOwn>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let now = crate::sla::now();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let inc = find_visible(&txn, tenant, &auth.principal, *id).await?;
    let rows = sla_store::clocks_of(&txn, tenant, Subject::Incident, inc.id, false).await?;
    let clocks = clocks_out(&txn, tenant, rows, now).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(IncidentSlaOut {
        incident_id: inc.id,
        as_of: now,
        clocks,
    }))
}

/// Each clock with its marks and the timeline they explain, as of `now`.
async fn clocks_out(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    rows: Vec<ClockRow>,
    now: DateTime<Utc>,
) -> Result<Vec<ClockOut>, ApiError> {
    let mut clocks = Vec::with_capacity(rows.len());
    for row in rows {
        // One read of the pinned calendar: shown as is, and parsed for the replay.
        let spec = sla_store::snapshot(txn, tenant, &row.calendar_digest)
            .await?
            .ok_or_else(|| ApiError::internal("calendar snapshot missing"))?;
        let cal = Calendar::parse(&spec, "")
            .map_err(|_| ApiError::internal("stored calendar is invalid"))?;
        let marks = sla_store::events_of(txn, &row).await?;
        let replay = timeline(&cal, &marks, now);
        let clock = clock_of(&row);
        let running = clock.elapsed_at(&cal, now);
        if running != replay.elapsed_seconds {
            tracing::error!(clock = %row.id, running, replayed = replay.elapsed_seconds, "sla clock and its marks disagree");
        }
        let elapsed = replay.elapsed_seconds;
        clocks.push(ClockOut {
            id: row.id,
            definition_id: row.definition_id,
            name: row.name.clone(),
            kind: parse_kind(&row.kind).ok_or_else(|| ApiError::internal("stored kind"))?,
            status: clock.status,
            target_seconds: row.target_seconds,
            elapsed_seconds: elapsed,
            remaining_seconds: (row.target_seconds - elapsed).max(0),
            percent: (elapsed as f64 * 10_000.0 / row.target_seconds.max(1) as f64).round() / 100.0,
            breached: clock.breached() || elapsed >= row.target_seconds,
            due_at: clock.due(&cal),
            calendar: spec,
            marks,
            timeline: replay.segments,
        });
    }
    Ok(clocks)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubjectQuery {
    /// `request_item:{id}`: a request item of the catalogue.
    #[param(example = "request_item:01a24b5e-9a21-7b1e-8c2d-3e4f5a6b7c83")]
    pub subject: String,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "subject": "request_item:01a24b5e-9a21-7b1e-8c2d-3e4f5a6b7c83",
    "number": "RITM0001001",
    "state": "in_fulfilment",
    "as_of": "2026-12-06T17:57:00Z",
    "clocks": []
}))]
pub struct SubjectSlaOut {
    pub subject: String,
    /// The request item's number.
    pub number: String,
    /// Its state as the SLA engine last saw it.
    pub state: String,
    /// The instant the running clocks were read at.
    pub as_of: DateTime<Utc>,
    pub clocks: Vec<ClockOut>,
}

/// The SLA clocks of a request item, with their timelines.
///
/// A request item's clocks run on the definitions with `applies_to: request_item` (its own
/// tenant's and its MSP's): by default from `in_fulfilment`, paused while
/// `awaiting_requester`, stopped once `fulfilled`, `rejected` or `canceled`. The item's
/// `sla_state` and `sla_due_at` sum them up. An incident's clocks are at
/// `/api/v1/incidents/{id}/sla`.
#[utoipa::path(
    tag = "sla",
    operation_id = "getSubjectSlaClocks",
    params(SubjectQuery),
    responses((status = 200, description = "OK", body = SubjectSlaOut)),
    security(("bearer" = ["request:fulfil"]))
)]
#[get("/clocks")]
pub async fn subject_clocks(
    state: web::Data<IncidentService>,
    auth: Auth<RequestFulfil>,
    query: web::Query<SubjectQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = request_item_of(&query.subject)?;
    let tenant = auth.tenant_id();
    let now = crate::sla::now();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let item = sla_request_item::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .filter(|i| i.tenant_id == tenant.as_uuid())
        .ok_or_else(|| ApiError::not_found("request item"))?;
    let rows = sla_store::clocks_of(&txn, tenant, Subject::RequestItem, id, false).await?;
    let clocks = clocks_out(&txn, tenant, rows, now).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(SubjectSlaOut {
        subject: format!("{}:{id}", Subject::RequestItem.as_str()),
        number: item.number,
        state: item.state,
        as_of: now,
        clocks,
    }))
}

/// The request item named by `subject` (`request_item:{uuid}`).
fn request_item_of(subject: &str) -> Result<Uuid, ApiError> {
    let wrong = |detail: &str| {
        ApiError::validation(vec![FieldError::new("/subject", "invalid_subject", detail)])
    };
    match subject.split_once(':') {
        Some(("request_item", id)) => {
            Uuid::parse_str(id).map_err(|_| wrong("the id after `request_item:` is not a UUID"))
        }
        Some(("incident", _)) => Err(wrong(
            "an incident's clocks are at /api/v1/incidents/{id}/sla",
        )),
        _ => Err(wrong("expected `request_item:{id}`")),
    }
}
