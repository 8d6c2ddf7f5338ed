//! `/api/v1/change-windows`: blackouts and maintenance windows, once or repeating; a
//! provider's apply to its customers too (`inherited_from`).
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{ChangeManage, ChangeRead},
    },
    json::Json,
    pagination::{Page, PageQuery},
    tenancy::{TenantId, begin_scoped},
    validate::{Validator, text},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    ChangeService,
    domain::{
        change::{MAX_CIS, Window},
        window::{RRule, WindowKind},
    },
    store::windows::{self, NewWindow, WindowRow},
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get)
        .service(remove);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a20",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c50",
    "kind": "maintenance",
    "name": "Weekend maintenance",
    "starts_at": "2026-12-12T20:00:00Z",
    "ends_at": "2026-12-13T06:00:00Z",
    "time_zone": "UTC",
    "rrule": "FREQ=WEEKLY;BYDAY=SA",
    "ci_ids": [],
    "inherited_from": "01a24233-c456-7186-af34-ba4716863c50",
    "created_at": "2026-12-07T09:00:00Z"
}))]
pub struct WindowOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: WindowKind,
    pub name: String,
    /// The first occurrence.
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub time_zone: String,
    pub rrule: Option<String>,
    /// The CIs it applies to; empty: every CI.
    pub ci_ids: Vec<Uuid>,
    /// The provider whose window this is, when it is not the acting tenant's own.
    pub inherited_from: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

fn out(w: &WindowRow, acting: TenantId) -> WindowOut {
    WindowOut {
        id: w.id,
        tenant_id: w.tenant_id,
        kind: WindowKind::parse(&w.kind).unwrap_or(WindowKind::Blackout),
        name: w.name.clone(),
        starts_at: w.starts_at,
        ends_at: w.ends_at,
        time_zone: w.time_zone.clone(),
        rrule: w.rrule.clone(),
        ci_ids: serde_json::from_value(w.ci_ids.clone()).unwrap_or_default(),
        inherited_from: (w.tenant_id != acting.as_uuid()).then_some(w.tenant_id),
        created_at: w.created_at,
    }
}

platform::page_schema!(WindowPage, WindowOut);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "blackout",
    "name": "Year-end freeze",
    "starts_at": "2026-12-20T00:00:00Z",
    "ends_at": "2027-01-04T00:00:00Z",
    "time_zone": "Europe/London"
}))]
pub struct WindowIn {
    pub kind: WindowKind,
    pub name: String,
    /// The first occurrence's start.
    pub starts_at: DateTime<Utc>,
    /// After `starts_at`.
    pub ends_at: DateTime<Utc>,
    /// IANA zone (default `UTC`): repetitions keep their wall-clock times in it.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// RFC 5545 `RRULE`: `FREQ=DAILY|WEEKLY`, `INTERVAL`, `BYDAY`, `COUNT` or `UNTIL`.
    pub rrule: Option<String>,
    /// CIs the tenant sees; none: every CI.
    #[serde(default)]
    pub ci_ids: Vec<Uuid>,
}

fn utc() -> String {
    "UTC".into()
}

impl TryFrom<WindowIn> for NewWindow {
    type Error = Vec<FieldError>;

    fn try_from(input: WindowIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let name = v.check(text("/name", &input.name, 200));
        if input.ends_at <= input.starts_at {
            v.push(FieldError::new(
                "/ends_at",
                "before_start",
                "ends_at must be after starts_at",
            ));
        }
        if input.time_zone.parse::<chrono_tz::Tz>().is_err() {
            v.push(FieldError::new(
                "/time_zone",
                "invalid_time_zone",
                "an IANA time zone, e.g. Europe/London",
            ));
        }
        if let Some(Err(why)) = input.rrule.as_deref().map(RRule::parse) {
            v.push(FieldError::new("/rrule", "invalid_rrule", why));
        }
        if input.ci_ids.len() > MAX_CIS {
            v.push(FieldError::new(
                "/ci_ids",
                "too_many",
                format!("at most {MAX_CIS} CIs"),
            ));
        }
        let parsed = name.map(|name| NewWindow {
            kind: input.kind,
            name,
            first: Window {
                start: input.starts_at,
                end: input.ends_at,
            },
            time_zone: input.time_zone,
            rrule: input.rrule,
            ci_ids: input.ci_ids,
        });
        v.finish_with(parsed)
    }
}

/// Define a blackout or maintenance window.
///
/// Once, or repeating by `rrule` in `time_zone`. A blackout over a change's window blocks
/// scheduling it (an emergency change may pass with an `override_reason`); a change outside
/// every maintenance window that applies to its CIs is flagged `outside_maintenance_window`.
/// A provider's windows apply to its customers.
#[utoipa::path(
    tag = "change-windows",
    operation_id = "createChangeWindow",
    request_body = WindowIn,
    responses((status = 201, description = "Created", body = WindowOut)),
    security(("bearer" = ["change:manage"]))
)]
#[post("")]
pub async fn create(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeManage>,
    body: Json<WindowIn>,
) -> Result<HttpResponse, ApiError> {
    let new = NewWindow::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let seen = bus::cmdb::cis(&txn, tenant, &new.ci_ids).await?;
    let unknown: Vec<FieldError> = new
        .ci_ids
        .iter()
        .enumerate()
        .filter(|(_, id)| !seen.contains_key(id))
        .map(|(i, _)| {
            FieldError::new(
                format!("/ci_ids/{i}"),
                "unknown_reference",
                "no such configuration item in this tenant",
            )
        })
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::validation(unknown));
    }
    let w = windows::insert(&txn, tenant, new).await?;
    crate::workers::window_changed(&txn, tenant).await?;
    txn.commit().await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/change-windows/{}", w.id)))
        .json(out(&w, tenant)))
}

/// Windows that apply to the acting tenant.
///
/// Its own and its providers' (`inherited_from`), oldest first.
#[utoipa::path(
    tag = "change-windows",
    operation_id = "listChangeWindows",
    params(PageQuery),
    responses((status = 200, description = "OK", body = WindowPage)),
    security(("bearer" = ["change:read"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    query: web::Query<PageQuery>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = query.validate()?;
    let tenant = auth.tenant_id();
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let rows = windows::list(&txn, lineage, page.after, page.limit + 1).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |w| w.id)
        .map(|w| out(&w, tenant))
        .respond(&req))
}

/// Read a window.
///
/// The acting tenant's own or one it inherits.
#[utoipa::path(
    tag = "change-windows",
    operation_id = "getChangeWindow",
    params(("id" = Uuid, Path, description = "The window's id.")),
    responses((status = 200, description = "OK", body = WindowOut)),
    security(("bearer" = ["change:read"]))
)]
#[get("/{id}")]
pub async fn get(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let w = windows::find(&txn, lineage, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("change window"))?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&w, tenant)))
}

/// Remove a window.
///
/// Only the tenant that defined it may (403 `inherited_window` for a provider's).
#[utoipa::path(
    tag = "change-windows",
    operation_id = "deleteChangeWindow",
    params(("id" = Uuid, Path, description = "The window's id.")),
    responses((status = 204, description = "Removed")),
    security(("bearer" = ["change:manage"]))
)]
#[delete("/{id}")]
pub async fn remove(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeManage>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let w = windows::find(&txn, lineage, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("change window"))?;
    if w.tenant_id != tenant.as_uuid() {
        return Err(ApiError::forbidden(
            "inherited_window",
            "this window is a provider's; only the provider removes it",
        ));
    }
    windows::delete(&txn, w).await?;
    crate::workers::window_changed(&txn, tenant).await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
