//! `/api/v1/knowledge/articles`: knowledge written by a tenant's staff, reviewed, published by
//! someone other than its writers, and read by requesters and agents (a provider's articles
//! reach its customers when shared). Links pin the version an incident or problem relied on.
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, patch, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth, Principal, RequiredScope,
        scopes::{KnowledgeRead, KnowledgeWrite},
    },
    error::Problem as ProblemJson,
    json::Json,
    pagination::{Page, PageQuery},
    precondition::check_if_match,
    tenancy::{TenantId, begin_scoped},
    validate::{Validator, multiline, text},
};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::shared::versioned;
use crate::{
    CatalogueService,
    domain::article::{ArticleState, Audience, MAX_BODY, MAX_TITLE, Refusal},
    events,
    store::articles::{self as store, Article, Content, ContentChanges, Link, Reach},
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get)
        .service(update)
        .service(transition)
        .service(versions)
        .service(create_link)
        .service(list_links);
}

const COLLECTION: &str = "/api/v1/knowledge/articles";

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24b60-1a2b-7c3d-8e4f-5a6b7c8d9e01",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c50",
    "number": "KB0001001",
    "version": 2,
    "state": "published",
    "title": "Reset your VPN password",
    "body": "Open https://vpn.example.test/reset, enter your email and follow the link we send.",
    "audience": "requesters",
    "share_with_customers": true,
    "author_id": "01a24233-c456-7186-af34-ba4716863c61",
    "published_by": "01a24233-c456-7186-af34-ba4716863c62",
    "published_at": "2026-12-06T09:00:00Z",
    "retired_at": null,
    "published_version": 2,
    "inherited": true,
    "created_at": "2026-12-06T08:00:00Z",
    "updated_at": "2026-12-06T09:00:00Z"
}))]
pub struct ArticleOut {
    /// The article's id (the same for all its versions).
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub number: String,
    /// This version's number (1, 2, …).
    pub version: i32,
    pub state: ArticleState,
    pub title: String,
    pub body: String,
    pub audience: Audience,
    /// Whether the provider's customers (tenants below it) read it too once published.
    pub share_with_customers: bool,
    /// Who wrote this version.
    pub author_id: Uuid,
    pub published_by: Option<Uuid>,
    pub published_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    /// The version readers see, if one is published.
    pub published_version: Option<i32>,
    /// A provider's article shared with the acting tenant (read-only here).
    pub inherited: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(ArticlePage, ArticleOut);

fn out(a: Article, published_version: Option<i32>, acting: TenantId) -> ArticleOut {
    ArticleOut {
        inherited: a.tenant_id != acting.as_uuid(),
        id: a.article_id,
        tenant_id: a.tenant_id,
        number: a.number,
        version: a.article_version,
        state: a.state,
        title: a.title,
        body: a.body,
        audience: a.audience,
        share_with_customers: a.share_with_customers,
        author_id: a.author_id,
        published_by: a.published_by,
        published_at: a.published_at,
        retired_at: a.retired_at,
        published_version,
        created_at: a.created_at,
        updated_at: a.updated_at,
    }
}

/// The answer for one version; its `ETag` is the row's revision (for `If-Match`).
fn respond(
    a: Article,
    published_version: Option<i32>,
    acting: TenantId,
    status: StatusCode,
) -> HttpResponse {
    versioned(status, a.version, COLLECTION, a.article_id).json(out(a, published_version, acting))
}

/// The published version, among `rows`.
fn published_of(rows: &[Article]) -> Option<i32> {
    rows.iter()
        .find(|r| r.state == ArticleState::Published)
        .map(|r| r.article_version)
}

/// Whether the caller reads articles written for agents: staff, not requesters.
pub fn reads_agent_articles(p: &Principal) -> bool {
    p.has_scope("knowledge:write") || p.has_scope("incident:read")
}

/// Which published articles the caller reaches in the acting tenant.
pub fn reach<S: RequiredScope>(auth: &Auth<S>) -> Reach<'_> {
    Reach {
        lineage: auth.tenant.lineage(),
        agents: reads_agent_articles(&auth.principal),
    }
}

/// The versions of the acting tenant's article `id`, oldest first (404 when it has none).
async fn load(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Vec<Article>, ApiError> {
    let rows = store::versions(txn, tenant, id).await?;
    if rows.is_empty() {
        return Err(ApiError::not_found("article"));
    }
    Ok(rows)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "VPN disconnects every hour",
    "body": "The client drops the tunnel when the laptop sleeps. Turn off sleep on battery.",
    "audience": "requesters",
    "share_with_customers": false
}))]
pub struct ArticleIn {
    pub title: String,
    pub body: String,
    /// `requesters` (default) or `agents`.
    pub audience: Option<Audience>,
    /// Whether customers read it too once published (default `false`).
    #[serde(default)]
    pub share_with_customers: bool,
}

fn check_title(v: &mut Validator, title: &str) -> Option<String> {
    v.check(text("/title", title, MAX_TITLE))
}

fn check_body(v: &mut Validator, body: &str) -> Option<String> {
    let body = v.check(multiline("/body", body, MAX_BODY))?;
    if body.is_empty() {
        v.push(FieldError::new("/body", "required", "must not be empty"));
        return None;
    }
    Some(body)
}

impl TryFrom<ArticleIn> for Content {
    type Error = Vec<FieldError>;

    fn try_from(input: ArticleIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let title = check_title(&mut v, &input.title);
        let body = check_body(&mut v, &input.body);
        let parsed = title.zip(body).map(|(title, body)| Content {
            title,
            body,
            audience: input.audience.unwrap_or(Audience::Requesters),
            share_with_customers: input.share_with_customers,
        });
        v.finish_with(parsed)
    }
}

/// Write an article.
///
/// Its first version, a `draft` by the caller. Move it to `review`, then have someone else
/// publish it (`POST …/{id}/transitions`).
#[utoipa::path(
    tag = "knowledge",
    operation_id = "createArticle",
    request_body = ArticleIn,
    responses((status = 201, description = "Created", body = ArticleOut)),
    security(("bearer" = ["knowledge:write"]))
)]
#[post("")]
pub async fn create(
    state: web::Data<CatalogueService>,
    auth: Auth<KnowledgeWrite>,
    body: Json<ArticleIn>,
) -> Result<HttpResponse, ApiError> {
    let content = Content::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let number = state
        .numbers
        .next(&state.db, "knowledge_article_numbers", "KB", tenant)
        .await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let a = store::insert(&txn, tenant, number, content, auth.principal.subject).await?;
    txn.commit().await?;
    Ok(respond(a, None, tenant, StatusCode::CREATED))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Staff: only articles whose newest version is in this state.
    pub state: Option<ArticleState>,
}

/// The articles the caller works on or reads, a page at a time.
///
/// Staff (`knowledge:write`): the acting tenant's articles, each as its newest version, in any
/// state (`state` filters). Everyone else: the published articles they may read — the acting
/// tenant's and those its providers share with customers; requesters never see `agents` ones.
#[utoipa::path(
    tag = "knowledge",
    operation_id = "listArticles",
    params(ListQuery),
    responses((status = 200, description = "OK", body = ArticlePage)),
    security(("bearer" = ["knowledge:read"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<CatalogueService>,
    auth: Auth<KnowledgeRead>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate()?;
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    let staff = auth.principal.has_scope("knowledge:write");
    let rows = if staff {
        let tenant = auth.tenant_id();
        store::list_newest(&txn, tenant, query.state, page.after, page.limit + 1).await?
    } else {
        store::list_published(&txn, &reach(&auth), page.after, page.limit + 1).await?
    };
    txn.commit().await?;
    let acting = auth.tenant_id();
    Ok(Page::from_rows(rows, page.limit, |a| a.article_id)
        .map(|a| {
            let published = (a.state == ArticleState::Published).then_some(a.article_version);
            out(a, published, acting)
        })
        .respond(&req))
}

/// Read an article.
///
/// Staff of the article's tenant read its newest version (whatever its state) with
/// `published_version`; everyone else reads the published version, if they may (404
/// otherwise).
#[utoipa::path(
    tag = "knowledge",
    operation_id = "getArticle",
    params(("id" = Uuid, Path, description = "The article's id.")),
    responses((status = 200, description = "OK", body = ArticleOut)),
    security(("bearer" = ["knowledge:read"]))
)]
#[get("/{id}")]
pub async fn get(
    state: web::Data<CatalogueService>,
    auth: Auth<KnowledgeRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let txn = begin_scoped(&state.db, auth.tenant.lineage()).await?;
    if auth.principal.has_scope("knowledge:write") {
        let rows = store::versions(&txn, auth.tenant_id(), *id).await?;
        let published = published_of(&rows);
        if let Some(newest) = rows.into_iter().last() {
            txn.commit().await?;
            return Ok(respond(newest, published, auth.tenant_id(), StatusCode::OK));
        }
    }
    let a = store::published(&txn, &reach(&auth), *id)
        .await?
        .ok_or_else(|| ApiError::not_found("article"))?;
    txn.commit().await?;
    let version = a.article_version;
    Ok(respond(a, Some(version), auth.tenant_id(), StatusCode::OK))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Turn off sleep on battery, then reconnect."}))]
pub struct ArticlePatch {
    pub title: Option<String>,
    pub body: Option<String>,
    pub audience: Option<Audience>,
    pub share_with_customers: Option<bool>,
}

impl TryFrom<ArticlePatch> for ContentChanges {
    type Error = Vec<FieldError>;

    fn try_from(input: ArticlePatch) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let title = input.title.map(|t| check_title(&mut v, &t));
        let body = input.body.map(|b| check_body(&mut v, &b));
        let changes = ContentChanges {
            title: title.flatten(),
            body: body.flatten(),
            audience: input.audience,
            share_with_customers: input.share_with_customers,
        };
        v.finish_with(Some(changes))
    }
}

fn refused(r: Refusal) -> ApiError {
    match r {
        Refusal::NotAllowed { allowed } => ApiError::conflict(
            "transition_not_allowed",
            "the article cannot move there from where it is",
        )
        .with_extra(json!({ "allowed": allowed })),
        Refusal::InReview => ApiError::conflict(
            "in_review",
            "the version is in review: send it back to draft to edit it",
        )
        .with_extra(json!({ "allowed": [ArticleState::Draft] })),
        Refusal::PublisherIsContributor => ApiError::forbidden(
            "publisher_is_author",
            "whoever wrote or edited a version may not publish it",
        ),
    }
}

/// Edit an article.
///
/// A draft is edited in place (the editor joins its writers); a published or retired article
/// gets a new draft version, which supersedes the published one once it is published itself
/// (readers keep the published one until then). A version in review is not edited (409
/// `in_review`). Send `If-Match` with the `ETag` of the newest version.
#[utoipa::path(
    tag = "knowledge",
    operation_id = "updateArticle",
    params(("id" = Uuid, Path, description = "The article's id.")),
    request_body = ArticlePatch,
    responses((status = 200, description = "OK", body = ArticleOut), (status = 409, description = "`in_review`", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["knowledge:write"]))
)]
#[patch("/{id}")]
pub async fn update(
    state: web::Data<CatalogueService>,
    auth: Auth<KnowledgeWrite>,
    id: web::Path<Uuid>,
    body: Json<ArticlePatch>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let changes = ContentChanges::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = load(&txn, tenant, *id).await?;
    if let Some(newest) = rows.last() {
        check_if_match(&req, newest.version)?;
    }
    let effect = store::lifecycle(&rows)?
        .edit(auth.principal.subject)
        .map_err(refused)?;
    let now = platform::record::now();
    let rows = store::apply(&txn, rows, &[effect], &changes, auth.principal.subject, now).await?;
    txn.commit().await?;
    let published = published_of(&rows);
    let newest = rows
        .into_iter()
        .last()
        .ok_or_else(|| ApiError::not_found("article"))?;
    Ok(respond(newest, published, tenant, StatusCode::OK))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "published"}))]
pub struct ArticleTransitionIn {
    pub to: ArticleState,
}

/// Move an article through review and publication.
///
/// The working version `draft` → `review` → `published` (or back to `draft`); publishing needs
/// `knowledge:publish` and someone who did not write or edit the version (403
/// `publisher_is_author`), and retires the version published before. `retired` withdraws the
/// published version (`knowledge:publish`). Any other move: 409 `transition_not_allowed` with
/// `allowed`. Announced: `itsm.catalogue.article.published.v1`, `…retired.v1`.
#[utoipa::path(
    tag = "knowledge",
    operation_id = "transitionArticle",
    params(("id" = Uuid, Path, description = "The article's id.")),
    request_body = ArticleTransitionIn,
    responses((status = 200, description = "OK", body = ArticleOut), (status = 409, description = "`transition_not_allowed` (with `allowed`)", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["knowledge:write"]))
)]
#[post("/{id}/transitions")]
pub async fn transition(
    state: web::Data<CatalogueService>,
    auth: Auth<KnowledgeWrite>,
    id: web::Path<Uuid>,
    body: Json<ArticleTransitionIn>,
) -> Result<HttpResponse, ApiError> {
    let to = body.0.to;
    let needs_publish = matches!(to, ArticleState::Published | ArticleState::Retired);
    if needs_publish && !auth.principal.has_scope("knowledge:publish") {
        return Err(ApiError::forbidden(
            "insufficient_scope",
            "publishing and retiring need knowledge:publish",
        ));
    }
    let tenant = auth.tenant_id();
    let actor = auth.principal.subject;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = load(&txn, tenant, *id).await?;
    let before = published_of(&rows);
    let effects = store::lifecycle(&rows)?
        .transition(to, actor)
        .map_err(refused)?;
    let now = platform::record::now();
    let rows = store::apply(&txn, rows, &effects, &ContentChanges::default(), actor, now).await?;
    let after = published_of(&rows);
    match to {
        ArticleState::Published => {
            if let Some(a) = rows.iter().find(|r| Some(r.article_version) == after) {
                events::article_published(&txn, a, before).await?;
            }
        }
        ArticleState::Retired => {
            if let Some(a) = rows.iter().find(|r| Some(r.article_version) == before) {
                events::article_retired(&txn, a, actor).await?;
            }
        }
        _ => {}
    }
    txn.commit().await?;
    let newest = rows
        .into_iter()
        .last()
        .ok_or_else(|| ApiError::not_found("article"))?;
    Ok(respond(newest, after, tenant, StatusCode::OK))
}

/// Every version of an article.
///
/// The acting tenant's article, oldest version first, each with its state (staff only).
#[utoipa::path(
    tag = "knowledge",
    operation_id = "listArticleVersions",
    params(("id" = Uuid, Path, description = "The article's id.")),
    responses((status = 200, description = "OK", body = ArticlePage)),
    security(("bearer" = ["knowledge:write"]))
)]
#[get("/{id}/versions")]
pub async fn versions(
    state: web::Data<CatalogueService>,
    auth: Auth<KnowledgeWrite>,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = load(&txn, tenant, *id).await?;
    txn.commit().await?;
    let published = published_of(&rows);
    let n = rows.len() as u64;
    Ok(Page::from_rows(rows, n, |a| a.id)
        .map(|a| out(a, published, tenant))
        .respond(&req))
}

/// What a link points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkTarget {
    Incident,
    Problem,
}

impl LinkTarget {
    fn as_str(self) -> &'static str {
        match self {
            LinkTarget::Incident => "incident",
            LinkTarget::Problem => "problem",
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"target_type": "incident", "target_id": "01a24b61-0000-7000-8000-000000000001"}))]
pub struct LinkIn {
    pub target_type: LinkTarget,
    pub target_id: Uuid,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24b62-0000-7000-8000-000000000001",
    "article_id": "01a24b60-1a2b-7c3d-8e4f-5a6b7c8d9e01",
    "article_version": 2,
    "target_type": "incident",
    "target_id": "01a24b61-0000-7000-8000-000000000001",
    "created_by": "01a24233-c456-7186-af34-ba4716863c61",
    "created_at": "2026-12-06T10:00:00Z"
}))]
pub struct LinkOut {
    pub id: Uuid,
    pub article_id: Uuid,
    /// The version pinned: the one published when the link was made.
    pub article_version: i32,
    pub target_type: String,
    pub target_id: Uuid,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

platform::page_schema!(LinkPage, LinkOut);

fn link_out(l: Link) -> LinkOut {
    LinkOut {
        id: l.id,
        article_id: l.article_id,
        article_version: l.article_version,
        target_type: l.target_type,
        target_id: l.target_id,
        created_by: l.created_by,
        created_at: l.created_at,
    }
}

/// Link an article to an incident or problem.
///
/// Pins the version published now (409 `not_published` when none is), so the incident keeps
/// the answer it relied on when the article changes. The article is one the caller reads (the
/// acting tenant's, or a provider's shared one); the incident or problem is referenced by id.
/// One link per article and target (409 `already_linked`).
#[utoipa::path(
    tag = "knowledge",
    operation_id = "linkArticle",
    params(("id" = Uuid, Path, description = "The article's id.")),
    request_body = LinkIn,
    responses((status = 201, description = "Created", body = LinkOut), (status = 409, description = "`not_published` or `already_linked`", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["knowledge:write"]))
)]
#[post("/{id}/links")]
pub async fn create_link(
    state: web::Data<CatalogueService>,
    auth: Auth<KnowledgeWrite>,
    id: web::Path<Uuid>,
    body: Json<LinkIn>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let target = body.0.target_type.as_str();
    let txn = begin_scoped(&state.db, auth.tenant.lineage()).await?;
    let Some(a) = store::published(&txn, &reach(&auth), *id).await? else {
        return Err(if store::versions(&txn, tenant, *id).await?.is_empty() {
            ApiError::not_found("article")
        } else {
            ApiError::conflict("not_published", "only a published article can be linked")
        });
    };
    if store::find_link(&txn, tenant, a.article_id, target, body.target_id)
        .await?
        .is_some()
    {
        return Err(ApiError::conflict(
            "already_linked",
            "the article is already linked to it",
        ));
    }
    let now = platform::record::now();
    let l = store::link(
        &txn,
        tenant,
        &a,
        target,
        body.target_id,
        auth.principal.subject,
        now,
    )
    .await?;
    txn.commit().await?;
    let location = format!("{COLLECTION}/{}/links", l.article_id);
    Ok(HttpResponse::build(StatusCode::CREATED)
        .insert_header(("Location", location))
        .json(link_out(l)))
}

/// The links of an article.
///
/// The acting tenant's links of it, oldest first, each with the version it pinned.
#[utoipa::path(
    tag = "knowledge",
    operation_id = "listArticleLinks",
    params(("id" = Uuid, Path, description = "The article's id.")),
    responses((status = 200, description = "OK", body = LinkPage)),
    security(("bearer" = ["knowledge:write"]))
)]
#[get("/{id}/links")]
pub async fn list_links(
    state: web::Data<CatalogueService>,
    auth: Auth<KnowledgeWrite>,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    const MAX: u64 = 1_000;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, auth.tenant.lineage()).await?;
    let known = !store::versions(&txn, tenant, *id).await?.is_empty()
        || store::published(&txn, &reach(&auth), *id).await?.is_some();
    if !known {
        return Err(ApiError::not_found("article"));
    }
    let rows = store::links(&txn, tenant, *id, MAX).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows, MAX, |l| l.id)
        .map(link_out)
        .respond(&req))
}
