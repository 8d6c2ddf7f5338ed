//! `/api/v1/knowledge/suggestions` and `/api/v1/knowledge/deflection`: articles suggested for
//! what a requester is typing, what they opened, and whether it spared a ticket.
use std::collections::HashMap;

use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{KnowledgeRead, KnowledgeWrite},
    },
    json::Json,
    tenancy::begin_scoped,
    validate::text,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::articles::reach;
use crate::{
    CatalogueService,
    domain::deflection::{self, Decision, Outcome},
    events,
    store::{
        articles,
        suggestions::{self as store, NewSession},
    },
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(suggest).service(view);
}

pub fn deflection_routes(cfg: &mut ServiceConfig) {
    cfg.service(figures);
}

/// At most this many articles per suggestion.
const MAX_SUGGESTED: u64 = 5;

/// Where the text was typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionContext {
    RequestForm,
    IncidentCreate,
}

impl SuggestionContext {
    fn as_str(self) -> &'static str {
        match self {
            SuggestionContext::RequestForm => "request_form",
            SuggestionContext::IncidentCreate => "incident_create",
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "my vpn password expired", "context": "incident_create"}))]
pub struct SuggestionIn {
    /// What the requester typed so far (1–1,000 characters).
    pub text: String,
    pub context: SuggestionContext,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24b60-1a2b-7c3d-8e4f-5a6b7c8d9e01",
    "title": "Reset your VPN password",
    "snippet": "Open the reset page, enter your email and follow the link we send."
}))]
pub struct SuggestedArticle {
    /// The article's id (open it with `GET /api/v1/knowledge/articles/{id}`).
    pub id: Uuid,
    pub title: String,
    /// Plain text around the words that matched.
    pub snippet: String,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "suggestion_session_id": "01a24b63-0000-7000-8000-000000000001",
    "articles": [{
        "id": "01a24b60-1a2b-7c3d-8e4f-5a6b7c8d9e01",
        "title": "Reset your VPN password",
        "snippet": "Open the reset page, enter your email and follow the link we send."
    }]
}))]
pub struct SuggestionOut {
    /// Report views against it, and send it with the request raised anyway.
    pub suggestion_session_id: Uuid,
    /// Best first, at most five.
    pub articles: Vec<SuggestedArticle>,
}

/// Suggest articles for what a requester is typing.
///
/// Up to five published articles the caller may read (the acting tenant's and those its
/// providers share; `agents` articles only for staff), best match first: PostgreSQL full-text
/// search (`websearch_to_tsquery` syntax: quoted phrases, `-word`), SQLite FTS5 when embedded.
/// Every call opens a suggestion session; report what the requester opens with `POST
/// …/suggestions/{id}/views`.
#[utoipa::path(
    tag = "knowledge",
    operation_id = "suggestArticles",
    request_body = SuggestionIn,
    responses((status = 201, description = "Created", body = SuggestionOut)),
    security(("bearer" = ["knowledge:read"]))
)]
#[post("")]
pub async fn suggest(
    state: web::Data<CatalogueService>,
    auth: Auth<KnowledgeRead>,
    body: Json<SuggestionIn>,
) -> Result<HttpResponse, ApiError> {
    let query = text("/text", &body.text, 1_000).map_err(|e| ApiError::validation(vec![e]))?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, auth.tenant.lineage()).await?;
    let hits = articles::search(&txn, &reach(&auth), &query, MAX_SUGGESTED).await?;
    let new = NewSession {
        user_id: auth.principal.subject,
        context: body.context.as_str().to_string(),
        text: query,
        article_ids: hits.iter().map(|h| h.article.article_id).collect(),
    };
    let session = store::insert(&txn, tenant, new, platform::record::now()).await?;
    txn.commit().await?;
    let articles = hits
        .into_iter()
        .map(|h| SuggestedArticle {
            id: h.article.article_id,
            title: h.article.title,
            snippet: h.snippet,
        })
        .collect();
    Ok(
        HttpResponse::build(StatusCode::CREATED).json(SuggestionOut {
            suggestion_session_id: session.id,
            articles,
        }),
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"article_id": "01a24b60-1a2b-7c3d-8e4f-5a6b7c8d9e01", "solved": true}))]
pub struct ViewIn {
    /// One of the articles suggested in this session.
    pub article_id: Uuid,
    /// The article solved the requester's problem (deflects the session at once).
    #[serde(default)]
    pub solved: bool,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24b63-0000-7000-8000-000000000001",
    "outcome": "deflected",
    "first_viewed_at": "2026-12-06T10:00:00Z",
    "decides_at": "2026-12-06T10:30:00Z"
}))]
pub struct SessionOut {
    pub id: Uuid,
    /// `pending` until decided: `deflected` (solved, or no ticket within the window after the
    /// first view) or `raised` (a request or incident followed).
    pub outcome: Outcome,
    pub first_viewed_at: Option<DateTime<Utc>>,
    /// When a pending session that was viewed is decided, unless a ticket comes first.
    pub decides_at: Option<DateTime<Utc>>,
}

/// Report that the requester opened a suggested article.
///
/// Only the session's own requester reports on it (404 for anyone else); the article must be
/// one suggested in it (422 `not_suggested`). `solved: true` deflects the session at once
/// (`itsm.catalogue.suggestion.deflected.v1`); otherwise the first view starts the deflection
/// window (30 minutes): a request or incident by the requester within it marks the session
/// `raised`, none deflects it (worker `deflection-sweeper`).
#[utoipa::path(
    tag = "knowledge",
    operation_id = "recordSuggestionView",
    params(("id" = Uuid, Path, description = "The suggestion session's id.")),
    request_body = ViewIn,
    responses((status = 200, description = "OK", body = SessionOut)),
    security(("bearer" = ["knowledge:read"]))
)]
#[post("/{id}/views")]
pub async fn view(
    state: web::Data<CatalogueService>,
    auth: Auth<KnowledgeRead>,
    id: web::Path<Uuid>,
    body: Json<ViewIn>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let s = store::lock_own(&txn, tenant, auth.principal.subject, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("suggestion session"))?;
    if !s.suggested()?.contains(&body.article_id) {
        return Err(ApiError::validation(vec![FieldError::new(
            "/article_id",
            "not_suggested",
            "the article was not suggested in this session",
        )]));
    }
    let now = platform::record::now();
    let mut s = store::record_view(&txn, s, body.article_id, body.solved, now).await?;
    if s.outcome == Outcome::Pending {
        let decision = deflection::decide(&s.facts(), &[], now);
        if matches!(decision, Decision::Deflected { .. }) {
            s = store::decide(&txn, s, &decision, now).await?;
            events::suggestion_decided(&txn, &s, &decision).await?;
        }
    }
    txn.commit().await?;
    let decides_at = (s.outcome == Outcome::Pending)
        .then(|| s.first_viewed_at.map(|t| t + s.window()))
        .flatten();
    Ok(HttpResponse::Ok().json(SessionOut {
        id: s.id,
        outcome: s.outcome,
        first_viewed_at: s.first_viewed_at,
        decides_at,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FiguresQuery {
    /// First day (UTC, inclusive); default 30 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last day (UTC, inclusive); default today.
    pub to: Option<NaiveDate>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "article_id": "01a24b60-1a2b-7c3d-8e4f-5a6b7c8d9e01",
    "title": "Reset your VPN password",
    "views": 12,
    "solved": 5,
    "deflected": 7
}))]
pub struct ArticleFigures {
    pub article_id: Uuid,
    /// `null` for an article the caller no longer reaches.
    pub title: Option<String>,
    pub views: u64,
    /// Views marked `solved`.
    pub solved: u64,
    /// Sessions deflected with this article credited.
    pub deflected: u64,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "from": "2026-11-07",
    "to": "2026-12-06",
    "window_minutes": 30,
    "sessions": 40,
    "viewed": 25,
    "deflected": 16,
    "raised": 6,
    "deflection_ratio": 0.4,
    "by_article": [{
        "article_id": "01a24b60-1a2b-7c3d-8e4f-5a6b7c8d9e01",
        "title": "Reset your VPN password",
        "views": 12,
        "solved": 5,
        "deflected": 7
    }]
}))]
pub struct DeflectionOut {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub window_minutes: i64,
    /// Suggestion sessions started in the period.
    pub sessions: u64,
    /// Those in which an article was opened.
    pub viewed: u64,
    pub deflected: u64,
    /// Those followed by a request or incident within the window.
    pub raised: u64,
    /// `deflected / sessions`; `null` with no sessions.
    pub deflection_ratio: Option<f64>,
    /// Most deflections first.
    pub by_article: Vec<ArticleFigures>,
}

/// How often knowledge spared a ticket.
///
/// The acting tenant's suggestion sessions started between `from` and `to` (UTC days,
/// inclusive; default the last 30): how many there were, were viewed, were deflected (an
/// article marked solved, or no request or incident within 30 minutes after the first view)
/// or raised, the ratio, and per article its views, `solved` marks and deflections.
#[utoipa::path(
    tag = "knowledge",
    operation_id = "getDeflection",
    params(FiguresQuery),
    responses((status = 200, description = "OK", body = DeflectionOut)),
    security(("bearer" = ["knowledge:write"]))
)]
#[get("")]
pub async fn figures(
    state: web::Data<CatalogueService>,
    auth: Auth<KnowledgeWrite>,
    query: web::Query<FiguresQuery>,
) -> Result<HttpResponse, ApiError> {
    let to = query
        .to
        .unwrap_or_else(|| platform::record::now().date_naive());
    let from = query.from.unwrap_or(to - Duration::days(29));
    if from > to {
        return Err(ApiError::bad_query(
            "from",
            "invalid_range",
            "from is after to",
        ));
    }
    if (to - from).num_days() > 366 {
        return Err(ApiError::bad_query(
            "from",
            "range_too_long",
            "at most 366 days at a time",
        ));
    }
    let start = from.and_time(chrono::NaiveTime::MIN).and_utc();
    let end = (to + Duration::days(1))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, auth.tenant.lineage()).await?;
    let f = store::figures(&txn, tenant, start, end).await?;
    let ids: Vec<Uuid> = f.by_article.keys().copied().collect();
    let titles: HashMap<Uuid, String> = articles::titles(&txn, &ids).await?.into_iter().collect();
    txn.commit().await?;
    let mut by_article: Vec<ArticleFigures> = f
        .by_article
        .into_iter()
        .map(|(id, (views, solved, deflected))| ArticleFigures {
            article_id: id,
            title: titles.get(&id).cloned(),
            views,
            solved,
            deflected,
        })
        .collect();
    by_article.sort_by(|a, b| b.deflected.cmp(&a.deflected).then(b.views.cmp(&a.views)));
    Ok(HttpResponse::Ok().json(DeflectionOut {
        from,
        to,
        window_minutes: deflection::WINDOW_MINUTES,
        sessions: f.sessions,
        viewed: f.viewed,
        deflected: f.deflected,
        raised: f.raised,
        deflection_ratio: deflection::ratio(f.deflected, f.sessions),
        by_article,
    }))
}
