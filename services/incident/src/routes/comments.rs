//! `/api/v1/incidents/{id}/comments`: public comments and internal work notes.
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{IncidentReadOwn, IncidentWriteOwn},
    },
    json::Json,
    pagination::{Page, PageQuery},
    tenancy::begin_scoped,
    validate::{Validator, multiline, with_more},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::shared::{check_works, find_visible, move_to, reads_all, works_all};
use crate::{
    IncidentService,
    domain::incident::Visibility,
    events,
    store::incidents::{self, Comment},
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(comment).service(comments);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "body": "Could you send a screenshot of the error?",
    "visibility": "public"
}))]
pub struct CommentIn {
    pub body: String,
    /// `public` (default; the caller sees it) or `internal` (a work note for agents).
    #[serde(default = "public")]
    pub visibility: Visibility,
}

fn public() -> Visibility {
    Visibility::Public
}

/// A comment's checked text and visibility.
pub struct NewComment {
    pub body: String,
    pub visibility: Visibility,
}

impl TryFrom<CommentIn> for NewComment {
    type Error = Vec<FieldError>;

    fn try_from(input: CommentIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let body = v.check(multiline("/body", &input.body, 20_000));
        if body.as_deref() == Some("") {
            v.push(FieldError::new("/body", "required", "must not be empty"));
        }
        let parsed = body.map(|body| NewComment {
            body,
            visibility: input.visibility,
        });
        v.finish_with(parsed)
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a1b48e-7770-75a1-87a1-3ec9b8ae42e9",
    "incident_id": "01a1b420-9a70-720a-8f2b-6af20c44fed0",
    "author_id": "01a24233-c45f-769f-8803-48c30e8f1d48",
    "visibility": "internal",
    "body": "Asked the caller for details.",
    "created_at": "2026-11-07T05:49:58Z"
}))]
pub struct CommentOut {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub author_id: Uuid,
    pub visibility: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

platform::page_schema!(CommentPage, CommentOut);

fn comment_out(c: &Comment) -> CommentOut {
    CommentOut {
        id: c.id,
        incident_id: c.incident_id,
        author_id: c.author_id,
        visibility: c.visibility.as_str().to_string(),
        body: c.body.clone(),
        created_at: c.created_at,
    }
}

/// Add a public comment or an internal work note.
///
/// Requesters add public comments to their own incidents only; the caller's public comment ends
/// "awaiting caller".
#[utoipa::path(
    tag = "incidents",
    operation_id = "commentIncident",
    params(("id" = Uuid, Path, description = "The incident's id.")),
    request_body = CommentIn,
    responses((status = 201, description = "Created", body = CommentOut)),
    security(("bearer" = ["incident:write_own"]))
)]
#[post("/{id}/comments")]
pub async fn comment(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentWriteOwn>,
    id: web::Path<Uuid>,
    body: Json<CommentIn>,
) -> Result<HttpResponse, ApiError> {
    let p = &auth.principal;
    let work_note_by_requester = !works_all(p) && body.visibility == Visibility::Internal;
    let limits = work_note_by_requester.then(|| {
        FieldError::new(
            "/visibility",
            "not_allowed",
            "only the tenant's agents write work notes",
        )
    });
    let new = with_more(NewComment::try_from(body.0), limits.into_iter().collect())?;
    let tenant = auth.tenant_id();
    let sla = state.sla.tracking(&auth.tenant).await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let inc = find_visible(&txn, tenant, p, *id).await?;
    check_works(p, &inc)?;
    let public = new.visibility == Visibility::Public;
    let c = incidents::add_comment(&txn, &inc, p.subject, new.visibility, new.body).await?;
    // The caller's public comment ends "awaiting caller".
    let resumed = if inc.caller_id == Some(p.subject) && public {
        incidents::status_of(&inc).on_caller_comment()
    } else {
        None
    };
    let inc = match resumed {
        Some(next) => move_to(&txn, &sla, inc, &next).await?,
        None => incidents::touch(&txn, inc).await?,
    };
    events::incident_commented(&txn, &inc, &c, public).await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(comment_out(&c)))
}

/// Comments of an incident, oldest first, a page at a time.
///
/// Public comments and internal work notes; requesters never see internal work notes.
#[utoipa::path(
    tag = "incidents",
    operation_id = "listIncidentComments",
    params(("id" = Uuid, Path, description = "The incident's id."), PageQuery),
    responses((status = 200, description = "OK", body = CommentPage)),
    security(("bearer" = ["incident:read_own"]))
)]
#[get("/{id}/comments")]
pub async fn comments(
    state: web::Data<IncidentService>,
    auth: Auth<IncidentReadOwn>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = query.validate()?;
    let p = &auth.principal;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let inc = find_visible(&txn, tenant, p, *id).await?;
    let rows = incidents::comments(&txn, &inc, !reads_all(p), page.after, page.limit + 1).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, page.limit, |c| c.id)
        .map(|c| comment_out(&c))
        .respond(&req))
}
