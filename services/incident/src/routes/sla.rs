//! `/api/v1/sla/calendars`, `/api/v1/sla/definitions` and `/api/v1/incidents/{id}/sla`.
//!
//! Calendars and definitions belong to a tenant and are inherited by the tenants below it: a
//! customer sees (and its incidents follow) its MSP's definitions and calendars as well as its
//! own, and edits only its own.
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use chrono::{DateTime, Utc};
use platform::tenancy::TenantId;
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{IncidentRead, SlaAdmin},
    },
    json::Json,
    precondition::check_if_match,
    tenancy::begin_scoped,
    validate::{Validator, text},
};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    IncidentService,
    domain::{
        calendar::{Calendar, CalendarSpec, Holiday, WorkingHours},
        sla::{Kind, Rules, Subject},
    },
    store::sla::{
        self as sla_store, CalendarRow, DefinitionRow, NewCalendar, NewDefinition, parse_kind,
    },
};

/// Calendars and definitions, under `/api/v1/sla`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create_calendar)
        .service(list_calendars)
        .service(get_calendar)
        .service(replace_calendar)
        .service(create_definition)
        .service(list_definitions)
        .service(get_definition)
        .service(replace_definition);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Office hours Berlin",
    "is_default": true,
    "time_zone": "Europe/Berlin",
    "weekly_hours": [
        {
            "day": "monday",
            "start": "09:00",
            "end": "17:00"
        },
        {
            "day": "tuesday",
            "start": "09:00",
            "end": "17:00"
        }
    ],
    "holidays": [
        {
            "date": "2026-12-25",
            "name": "Christmas Day"
        }
    ]
}))]
pub struct CalendarIn {
    #[schema(example = "Office hours Berlin")]
    pub name: String,
    /// The calendar this tenant's (and, unless they set their own, its customers') definitions
    /// use when they name none.
    #[serde(default)]
    pub is_default: bool,
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    pub weekly_hours: Vec<WorkingHours>,
    #[serde(default)]
    pub holidays: Vec<Holiday>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24233-c4ab-7019-b656-3d220c24cd78",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "name": "Office hours",
    "is_default": true,
    "inherited": false,
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
        },
        {
            "date": "2027-01-01",
            "name": "New Year's Day"
        }
    ],
    "version": 1,
    "created_at": "2026-11-03T17:56:58Z",
    "updated_at": "2026-11-03T17:56:58Z"
}))]
pub struct CalendarOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub is_default: bool,
    /// Defined by an ancestor (the MSP): read-only here.
    pub inherited: bool,
    pub time_zone: String,
    pub weekly_hours: Vec<WorkingHours>,
    pub holidays: Vec<Holiday>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn calendar_out(row: &CalendarRow, acting: TenantId) -> Result<CalendarOut, ApiError> {
    let spec: CalendarSpec =
        serde_json::from_str(&row.spec).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(CalendarOut {
        id: row.id,
        tenant_id: row.tenant_id,
        name: row.name.clone(),
        is_default: row.is_default,
        inherited: TenantId(row.tenant_id) != acting,
        time_zone: spec.time_zone,
        weekly_hours: spec.weekly_hours,
        holidays: spec.holidays,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn respond<T: Serialize>(
    mut res: actix_web::HttpResponseBuilder,
    version: i64,
    body: &T,
) -> HttpResponse {
    res.insert_header(("ETag", format!("\"{version}\"")))
        .json(body)
}

/// A transaction that sees the acting tenant's rows and its ancestors'.
async fn begin_lineage<S: platform::auth::RequiredScope>(
    state: &IncidentService,
    auth: &Auth<S>,
) -> Result<DatabaseTransaction, ApiError> {
    Ok(begin_scoped(&state.db, auth.tenant.lineage()).await?)
}

impl TryFrom<CalendarIn> for NewCalendar {
    type Error = Vec<FieldError>;

    fn try_from(body: CalendarIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let name = v.check(text("/name", &body.name, 200));
        let spec = CalendarSpec {
            time_zone: body.time_zone,
            weekly_hours: body.weekly_hours,
            holidays: body.holidays,
        };
        if let Err(errors) = Calendar::parse(&spec, "") {
            for e in errors {
                v.push(e);
            }
        }
        if spec.holidays.len() > 1000 {
            v.push(FieldError::new(
                "/holidays",
                "too_many",
                "at most 1000 holidays",
            ));
        }
        if spec.weekly_hours.len() > 100 {
            v.push(FieldError::new(
                "/weekly_hours",
                "too_many",
                "at most 100 spans",
            ));
        }
        let parsed = name.map(|name| NewCalendar {
            name,
            is_default: body.is_default,
            spec,
        });
        v.finish_with(parsed)
    }
}

/// Create a business calendar.
///
/// An IANA time zone, weekly working hours and holidays; SLA clocks count working seconds on it.
/// `is_default` makes it the calendar of this tenant's definitions (and its customers') that name
/// none.
#[utoipa::path(
    tag = "sla",
    operation_id = "createSlaCalendar",
    request_body = CalendarIn,
    responses((status = 201, description = "Created", body = CalendarOut)),
    security(("bearer" = ["sla:admin"]))
)]
#[post("/calendars")]
pub async fn create_calendar(
    state: web::Data<IncidentService>,
    auth: Auth<SlaAdmin>,
    body: Json<CalendarIn>,
) -> Result<HttpResponse, ApiError> {
    let new = NewCalendar::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let row = sla_store::insert_calendar(&txn, tenant, &new).await?;
    txn.commit().await?;
    state.sla.invalidate();
    let mut res = HttpResponse::Created();
    res.insert_header(("Location", format!("/api/v1/sla/calendars/{}", row.id)));
    Ok(respond(res, row.version, &calendar_out(&row, tenant)?))
}

/// Business calendars of the acting tenant and those it inherits.
///
/// A customer sees its MSP's calendars (`inherited: true`, read-only for it) beside its own.
#[utoipa::path(
    tag = "sla",
    operation_id = "listSlaCalendars",
    responses((status = 200, description = "OK", body = Vec<CalendarOut>)),
    security(("bearer" = ["incident:read"]))
)]
#[get("/calendars")]
pub async fn list_calendars(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentRead>,
) -> Result<HttpResponse, ApiError> {
    let txn = begin_lineage(&state, &auth).await?;
    let rows = sla_store::calendars(&txn, auth.tenant.lineage()).await?;
    txn.commit().await?;
    let out = rows
        .iter()
        .map(|r| calendar_out(r, auth.tenant_id()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(out))
}

async fn find_calendar(
    txn: &DatabaseTransaction,
    path: &[TenantId],
    id: Uuid,
) -> Result<CalendarRow, ApiError> {
    sla_store::calendars(txn, path)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| ApiError::not_found("calendar"))
}

/// Read a calendar (own or inherited).
///
/// The answer's `ETag` is the calendar's version, for `If-Match` on replace.
#[utoipa::path(
    tag = "sla",
    operation_id = "getSlaCalendar",
    params(("id" = Uuid, Path, description = "The calendar's id.")),
    responses((status = 200, description = "OK", body = CalendarOut)),
    security(("bearer" = ["incident:read"]))
)]
#[get("/calendars/{id}")]
pub async fn get_calendar(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let txn = begin_lineage(&state, &auth).await?;
    let row = find_calendar(&txn, auth.tenant.lineage(), *id).await?;
    txn.commit().await?;
    Ok(respond(
        HttpResponse::Ok(),
        row.version,
        &calendar_out(&row, auth.tenant_id())?,
    ))
}

fn inherited() -> ApiError {
    ApiError::forbidden(
        "inherited",
        "this belongs to a tenant above yours; create your own instead",
    )
}

/// Replace a calendar.
///
/// Running clocks keep the calendar they started with; clocks started afterwards use the new one.
/// `If-Match` guards against lost updates (412 `precondition_failed`); a calendar inherited from a
/// tenant above is read-only (403 `inherited`).
#[utoipa::path(
    tag = "sla",
    operation_id = "replaceSlaCalendar",
    request_body = CalendarIn,
    params(("id" = Uuid, Path, description = "The calendar's id."), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    responses((status = 200, description = "OK", body = CalendarOut)),
    security(("bearer" = ["sla:admin"]))
)]
#[put("/calendars/{id}")]
pub async fn replace_calendar(
    state: web::Data<IncidentService>,
    auth: Auth<SlaAdmin>,
    id: web::Path<Uuid>,
    body: Json<CalendarIn>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let new = NewCalendar::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let txn = begin_lineage(&state, &auth).await?;
    let row = find_calendar(&txn, auth.tenant.lineage(), *id).await?;
    if TenantId(row.tenant_id) != tenant {
        return Err(inherited());
    }
    check_if_match(&req, row.version)?;
    let row = sla_store::replace_calendar(&txn, row, &new).await?;
    txn.commit().await?;
    state.sla.invalidate();
    Ok(respond(
        HttpResponse::Ok(),
        row.version,
        &calendar_out(&row, tenant)?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "P1 resolution",
    "kind": "resolution",
    "target_seconds": 14400,
    "rules": {
        "applies_when": [
            {
                "field": "priority",
                "op": "eq",
                "value": 1
            }
        ],
        "pause_when": [
            {
                "field": "state",
                "op": "eq",
                "value": "on_hold"
            }
        ],
        "stop_when": [
            {
                "field": "state",
                "op": "in",
                "value": [
                    "resolved",
                    "closed",
                    "canceled"
                ]
            }
        ]
    },
    "active": true
}))]
pub struct DefinitionIn {
    #[schema(example = "P1 resolution")]
    pub name: String,
    /// What its clocks measure: incidents (the default) or the catalogue's request items
    /// (whose conditions test their `state` only, and whose kind is `resolution`).
    #[serde(default = "incidents")]
    pub applies_to: Subject,
    pub kind: Kind,
    /// Working seconds of the calendar, from 60 to ten years.
    #[schema(example = 14400)]
    pub target_seconds: i64,
    /// A calendar of this tenant or an ancestor; none: the tenant's default calendar (its own,
    /// else its MSP's, else around the clock in UTC).
    pub calendar_id: Option<Uuid>,
    /// Start, pause, stop and reset conditions; omitted: the usual rules of the kind.
    pub rules: Option<Rules>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

fn incidents() -> Subject {
    Subject::Incident
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24233-c4ac-7093-ab3c-ad83f45635b3",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "name": "P1/P2 response",
    "applies_to": "incident",
    "kind": "response",
    "target_seconds": 1800,
    "calendar_id": "01a24233-c4ac-7093-ab3c-ad823daba007",
    "rules": {
        "applies_when": [
            {
                "field": "priority",
                "op": "in",
                "value": [
                    1,
                    2
                ]
            }
        ],
        "start_when": [],
        "pause_when": [],
        "stop_when": [
            {
                "field": "state",
                "op": "ne",
                "value": "new"
            }
        ],
        "reset_when": []
    },
    "active": true,
    "inherited": false,
    "version": 1,
    "created_at": "2026-11-03T17:56:58Z",
    "updated_at": "2026-11-03T17:56:58Z"
}))]
pub struct DefinitionOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub applies_to: Subject,
    pub kind: Kind,
    pub target_seconds: i64,
    pub calendar_id: Option<Uuid>,
    pub rules: Rules,
    pub active: bool,
    /// Defined by an ancestor (the MSP): read-only here.
    pub inherited: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn definition_out(row: &DefinitionRow, acting: TenantId) -> Result<DefinitionOut, ApiError> {
    Ok(DefinitionOut {
        id: row.id,
        tenant_id: row.tenant_id,
        name: row.name.clone(),
        applies_to: Subject::parse(&row.applies_to)
            .ok_or_else(|| ApiError::internal("stored applies_to"))?,
        kind: parse_kind(&row.kind).ok_or_else(|| ApiError::internal("stored kind"))?,
        target_seconds: row.target_seconds,
        calendar_id: row.calendar_id,
        rules: serde_json::from_str(&row.rules).map_err(|e| ApiError::internal(e.to_string()))?,
        active: row.active,
        inherited: TenantId(row.tenant_id) != acting,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

const MAX_TARGET: i64 = 10 * 365 * 24 * 3600;

/// Checks a definition; the calendar must be visible from the acting tenant.
async fn checked_definition(
    txn: &DatabaseTransaction,
    path: &[TenantId],
    body: DefinitionIn,
) -> Result<NewDefinition, ApiError> {
    let mut v = Validator::new();
    let name = v.check(text("/name", &body.name, 200));
    if !(60..=MAX_TARGET).contains(&body.target_seconds) {
        v.push(FieldError::new(
            "/target_seconds",
            "out_of_range",
            "from 60 seconds to ten years",
        ));
    }
    let rules = body.rules.unwrap_or_else(|| match body.applies_to {
        Subject::Incident => Rules::default_for(body.kind),
        Subject::RequestItem => Rules::for_request_item(),
    });
    for e in rules.check(body.applies_to, "/rules") {
        v.push(e);
    }
    if body.applies_to == Subject::RequestItem && body.kind != Kind::Resolution {
        v.push(FieldError::new(
            "/kind",
            "not_applicable",
            "a request item's clock measures its fulfilment: `resolution`",
        ));
    }
    if let Some(c) = body.calendar_id
        && !sla_store::calendars(txn, path)
            .await?
            .iter()
            .any(|r| r.id == c)
    {
        v.push(FieldError::new(
            "/calendar_id",
            "unknown_reference",
            "no such calendar in this tenant or above it",
        ));
    }
    let parsed = name.map(|name| NewDefinition {
        name,
        applies_to: body.applies_to,
        kind: body.kind,
        target_seconds: body.target_seconds,
        calendar_id: body.calendar_id,
        rules,
        active: body.active,
    });
    Ok(v.finish_with(parsed)?)
}

/// Create an SLA definition.
///
/// A response or resolution target in working seconds on a calendar, with the conditions that
/// select incidents (`applies_when`) and start, pause, stop and reset the clock. Omitted rules are
/// the usual ones of the kind.
#[utoipa::path(
    tag = "sla",
    operation_id = "createSlaDefinition",
    request_body = DefinitionIn,
    responses((status = 201, description = "Created", body = DefinitionOut)),
    security(("bearer" = ["sla:admin"]))
)]
#[post("/definitions")]
pub async fn create_definition(
    state: web::Data<IncidentService>,
    auth: Auth<SlaAdmin>,
    body: Json<DefinitionIn>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_lineage(&state, &auth).await?;
    let new = checked_definition(&txn, auth.tenant.lineage(), body.0).await?;
    let row = sla_store::insert_definition(&txn, tenant, &new).await?;
    txn.commit().await?;
    state.sla.invalidate();
    let mut res = HttpResponse::Created();
    res.insert_header(("Location", format!("/api/v1/sla/definitions/{}", row.id)));
    Ok(respond(res, row.version, &definition_out(&row, tenant)?))
}

/// SLA definitions of the acting tenant and those it inherits.
///
/// A customer's incidents follow its MSP's definitions (`inherited: true`) as well as its own.
#[utoipa::path(
    tag = "sla",
    operation_id = "listSlaDefinitions",
    responses((status = 200, description = "OK", body = Vec<DefinitionOut>)),
    security(("bearer" = ["incident:read"]))
)]
#[get("/definitions")]
pub async fn list_definitions(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentRead>,
) -> Result<HttpResponse, ApiError> {
    let txn = begin_lineage(&state, &auth).await?;
    let rows = sla_store::definitions(&txn, auth.tenant.lineage()).await?;
    txn.commit().await?;
    let out = rows
        .iter()
        .map(|r| definition_out(r, auth.tenant_id()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(out))
}

async fn find_definition(
    txn: &DatabaseTransaction,
    path: &[TenantId],
    id: Uuid,
) -> Result<DefinitionRow, ApiError> {
    sla_store::definitions(txn, path)
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| ApiError::not_found("definition"))
}

/// Read a definition (own or inherited).
///
/// The answer's `ETag` is the definition's version, for `If-Match` on replace.
#[utoipa::path(
    tag = "sla",
    operation_id = "getSlaDefinition",
    params(("id" = Uuid, Path, description = "The definition's id.")),
    responses((status = 200, description = "OK", body = DefinitionOut)),
    security(("bearer" = ["incident:read"]))
)]
#[get("/definitions/{id}")]
pub async fn get_definition(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let txn = begin_lineage(&state, &auth).await?;
    let row = find_definition(&txn, auth.tenant.lineage(), *id).await?;
    txn.commit().await?;
    Ok(respond(
        HttpResponse::Ok(),
        row.version,
        &definition_out(&row, auth.tenant_id())?,
    ))
}

/// Replace a definition.
///
/// E.g. deactivate it with `"active": false`. Clocks already running keep the rules and target they
/// started with. `If-Match` guards against lost updates (412 `precondition_failed`); a definition
/// inherited from a tenant above is read-only (403 `inherited`).
#[utoipa::path(
    tag = "sla",
    operation_id = "replaceSlaDefinition",
    request_body = DefinitionIn,
    params(("id" = Uuid, Path, description = "The definition's id."), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    responses((status = 200, description = "OK", body = DefinitionOut)),
    security(("bearer" = ["sla:admin"]))
)]
#[put("/definitions/{id}")]
pub async fn replace_definition(
    state: web::Data<IncidentService>,
    auth: Auth<SlaAdmin>,
    id: web::Path<Uuid>,
    body: Json<DefinitionIn>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_lineage(&state, &auth).await?;
    let row = find_definition(&txn, auth.tenant.lineage(), *id).await?;
    if TenantId(row.tenant_id) != tenant {
        return Err(inherited());
    }
    check_if_match(&req, row.version)?;
    let new = checked_definition(&txn, auth.tenant.lineage(), body.0).await?;
    let row = sla_store::replace_definition(&txn, row, &new).await?;
    txn.commit().await?;
    state.sla.invalidate();
    Ok(respond(
        HttpResponse::Ok(),
        row.version,
        &definition_out(&row, tenant)?,
    ))
}
