//! `/api/v1/change-calendar`: subscribe a calendar client to the tenant's changes and windows.
//! A feed's token is its only credential (calendar clients hold no session): shown once,
//! stored hashed, revoked by deleting the feed.
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Duration, Utc};
use platform::{
    ApiError,
    auth::{Auth, scopes::ChangeRead},
    error::Problem,
    json::Json,
    secret,
    tenancy::{LookupKey, TenantId, begin_lookup, begin_scoped},
    validate::text,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    ChangeService,
    domain::{
        change::Window,
        ics::{self, Event, Status},
        lifecycle::State,
        window::WindowKind,
    },
    store::{
        changes::Change,
        feeds::{self, Feed},
        windows,
    },
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(revoke)
        .service(feed);
}

/// A feed shows changes that ended up to this long ago, and window occurrences from this long
/// ago to a year ahead.
const LOOK_BACK_DAYS: i64 = 90;
const LOOK_AHEAD_DAYS: i64 = 366;

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a40",
    "name": "My calendar",
    "created_by": "01a24233-c456-7186-af34-ba4716863c99",
    "created_at": "2026-12-07T09:00:00Z"
}))]
pub struct FeedOut {
    pub id: Uuid,
    pub name: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

fn out(f: &Feed) -> FeedOut {
    FeedOut {
        id: f.id,
        name: f.name.clone(),
        created_by: f.created_by,
        created_at: f.created_at,
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24a41-5f7e-7d2c-9d61-0b0f3f1c2a40",
    "name": "My calendar",
    "token": "cal_3q2-7wEXAMPLEtokenX0c5Yc4eY9mO8kqU1bVh2xg",
    "url": "/api/v1/change-calendar/cal_3q2-7wEXAMPLEtokenX0c5Yc4eY9mO8kqU1bVh2xg.ics",
    "created_at": "2026-12-07T09:00:00Z"
}))]
pub struct NewFeedOut {
    pub id: Uuid,
    pub name: String,
    /// Shown this once; only its hash is kept.
    pub token: String,
    /// Where a calendar client subscribes.
    pub url: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "My calendar"}))]
pub struct FeedIn {
    /// Default `Change calendar`.
    pub name: Option<String>,
}

/// Subscribe a calendar.
///
/// Returns the feed's token once: `GET /api/v1/change-calendar/{token}.ics` serves the
/// tenant's changes and change windows as iCalendar to whoever holds it, without signing in,
/// until the feed is deleted. The feed shows numbers, titles, times and states, never plans.
#[utoipa::path(
    tag = "change-calendar",
    operation_id = "createChangeCalendarFeed",
    request_body = FeedIn,
    responses((status = 201, description = "Created; the token is not shown again", body = NewFeedOut)),
    security(("bearer" = ["change:read"]))
)]
#[post("/feeds")]
pub async fn create(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    body: Json<FeedIn>,
) -> Result<HttpResponse, ApiError> {
    let name = match body.0.name {
        Some(n) => text("/name", &n, 200).map_err(|e| ApiError::validation(vec![e]))?,
        None => "Change calendar".to_string(),
    };
    let token = secret::generate("cal_");
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let f = feeds::insert(
        &txn,
        tenant,
        auth.principal.subject,
        name,
        secret::digest(&token),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(NewFeedOut {
        id: f.id,
        name: f.name,
        url: format!("/api/v1/change-calendar/{token}.ics"),
        token,
        created_at: f.created_at,
    }))
}

/// The caller's calendar feeds.
///
/// With `change:manage`, every feed of the tenant. Tokens are never shown again.
#[utoipa::path(
    tag = "change-calendar",
    operation_id = "listChangeCalendarFeeds",
    responses((status = 200, description = "OK", body = Vec<FeedOut>)),
    security(("bearer" = ["change:read"]))
)]
#[get("/feeds")]
pub async fn list(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let by = (!auth.principal.has_scope("change:manage")).then_some(auth.principal.subject);
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = feeds::list(&txn, tenant, by).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(out).collect::<Vec<_>>()))
}

/// Revoke a calendar feed.
///
/// Its token stops working at once (404). The caller's own feed, or any of the tenant's with
/// `change:manage`.
#[utoipa::path(
    tag = "change-calendar",
    operation_id = "deleteChangeCalendarFeed",
    params(("id" = Uuid, Path, description = "The feed's id.")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such feed of the caller's", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["change:read"]))
)]
#[delete("/feeds/{id}")]
pub async fn revoke(
    state: web::Data<ChangeService>,
    auth: Auth<ChangeRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let manager = auth.principal.has_scope("change:manage");
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let f = feeds::find(&txn, tenant, *id)
        .await?
        .filter(|f| manager || f.created_by == auth.principal.subject)
        .ok_or_else(|| ApiError::not_found("calendar feed"))?;
    feeds::revoke(&txn, f).await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An iCalendar file (RFC 5545).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct IcsFile(pub Vec<u8>);

fn status(state: State) -> Status {
    match state {
        State::Canceled => Status::Cancelled,
        State::New | State::Assess | State::Authorize => Status::Tentative,
        _ => Status::Confirmed,
    }
}

fn change_event(c: &Change) -> Option<Event> {
    let w = c.window()?;
    Some(Event {
        uid: c.id.to_string(),
        stamp: c.updated_at,
        start: w.start,
        end: w.end,
        summary: format!("{} {}", c.number, c.title),
        status: status(c.lifecycle_state()),
        sequence: c.reschedules,
        categories: "CHANGE",
    })
}

/// A change calendar (iCalendar).
///
/// RFC 5545, CRLF, lines folded at 75 octets. Each change with a window is a VEVENT whose `UID`
/// is the change's id, `SUMMARY` `<number> <title>`, `STATUS` from its state and `SEQUENCE`
/// counting its reschedules; each occurrence of a window (the tenant's and its providers')
/// is a VEVENT whose `UID` starts with the window's id. The token is the credential; an
/// unknown or revoked one is 404.
#[utoipa::path(
    tag = "change-calendar",
    operation_id = "getChangeCalendar",
    params(("token" = String, Path, description = "The feed's token, as created.")),
    responses(
        (status = 200, description = "The calendar", content((inline(IcsFile) = "text/calendar"))),
        (status = 404, description = "No such feed", body = Problem, content_type = "application/problem+json")
    ),
    security(())
)]
#[get("/{token}.ics")]
pub async fn feed(
    state: web::Data<ChangeService>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let hash = secret::digest(&token);
    let txn = begin_lookup(&state.db, LookupKey::TokenHash, &hash).await?;
    let f = feeds::by_token_hash(&txn, &hash)
        .await?
        .ok_or_else(|| ApiError::not_found("calendar feed"))?;
    txn.commit().await?;
    let tenant = TenantId(f.tenant_id);
    let now = platform::record::now();
    let lineage = state
        .auth
        .directory
        .resolve(f.tenant_id, &f.tenant_id.to_string())
        .await?
        .filter(|t| t.active)
        .ok_or_else(|| ApiError::not_found("calendar feed"))?
        .path;
    let txn = begin_scoped(&state.db, &lineage).await?;
    let windows = windows::list(&txn, &lineage, None, None).await?;
    txn.commit().await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let changes = feeds::changes_since(&txn, tenant, now - Duration::days(LOOK_BACK_DAYS)).await?;
    txn.commit().await?;
    let mut events: Vec<Event> = changes.iter().filter_map(change_event).collect();
    let range = Window {
        start: now - Duration::days(30),
        end: now + Duration::days(LOOK_AHEAD_DAYS),
    };
    for row in &windows {
        let w = windows::as_window(row);
        for occurrence in w.schedule.occurrences(range) {
            events.push(Event {
                uid: format!("{}-{}", w.id, occurrence.start.format("%Y%m%dT%H%M%SZ")),
                stamp: row.updated_at,
                start: occurrence.start,
                end: occurrence.end,
                summary: format!("{}: {}", w.kind.as_str(), row.name),
                status: Status::Confirmed,
                sequence: i32::try_from(row.version - 1).unwrap_or(0),
                categories: match w.kind {
                    WindowKind::Blackout => "BLACKOUT",
                    WindowKind::Maintenance => "MAINTENANCE",
                },
            });
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header(("Cache-Control", "private, no-store"))
        .body(ics::calendar(&f.name, &events)))
}
