//! API clients for partners (OAuth 2.0 client credentials).
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError, FieldError,
    auth::{ALL_SCOPES, Auth, scopes::ApiClientManage},
    json::Json,
    pagination::{Page, PageQuery},
    tenancy::begin_scoped,
    validate::{Validator, text},
};
use sea_orm::ActiveValue::Set;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ListQuery, refusals::ItemRefusals};
use crate::{
    Identity,
    domain::{
        api_client::{NewApiClient, parse_scopes},
        password, token,
    },
    store::{
        audit,
        clients::{self, ApiClient},
    },
};

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24233-c9a1-75e7-9b5b-52d175f9e68b",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "name": "Acme monitoring",
    "scopes": [
        "incident:read",
        "incident:write"
    ],
    "status": "active",
    "created_at": "2026-12-04T17:56:59.937802Z",
    "updated_at": "2026-12-04T17:56:59.937802Z"
}))]
pub struct ApiClientOut {
    /// The OAuth `client_id`.
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    /// `active` or `revoked`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(ApiClientPage, ApiClientOut);

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "client": {
        "id": "01a24233-c9a1-75e7-9b5b-52d175f9e68b",
        "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
        "name": "Acme monitoring",
        "scopes": [
            "incident:read",
            "incident:write"
        ],
        "status": "active",
        "created_at": "2026-12-04T17:56:59.937802Z",
        "updated_at": "2026-12-04T17:56:59.937802Z"
    },
    "client_secret": "cs_ZDNV67EVofSXdMPvDvlZ2vHjdjRN4HXtq60EqeUXnRs"
}))]
pub struct ApiClientSecretOut {
    pub client: ApiClientOut,
    /// Shown once; store it now.
    pub client_secret: String,
}

fn out(c: &ApiClient) -> ApiClientOut {
    ApiClientOut {
        id: c.id,
        tenant_id: c.tenant_id,
        name: c.name.clone(),
        scopes: c.scopes.split_whitespace().map(str::to_string).collect(),
        status: c.status.clone(),
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

async fn new_secret() -> Result<(String, String), ApiError> {
    let secret = token::generate("cs_");
    let hash = password::spawn_hash(secret.clone()).await?;
    Ok((secret, hash))
}

/// API clients of the acting tenant.
///
/// Every client of the tenant, active and revoked, a page at a time in creation order. Secrets are
/// never shown again after creation or rotation.
#[utoipa::path(
    tag = "api-clients",
    operation_id = "listApiClients",
    params(PageQuery),
    responses((status = 200, description = "OK", body = ApiClientPage)),
    security(("bearer" = ["api_client:manage"]))
)]
#[get("/api-clients")]
pub async fn list(
    state: web::Data<Identity>,
    auth: Auth<ApiClientManage>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = clients::list(&txn, tenant, page.after, page.limit + 1).await?;
    txn.commit().await?;
    Ok(Page::from_rows(rows.iter().map(out).collect(), page.limit, |c| c.id).respond(&req))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Acme monitoring",
    "scopes": [
        "incident:read",
        "incident:write"
    ]
}))]
pub struct ApiClientIn {
    #[schema(example = "RMM integration")]
    pub name: String,
    /// Scopes the client may request; each must be one you hold yourself.
    #[schema(example = json!(["incident:read", "incident:write"]))]
    pub scopes: Vec<String>,
}

impl TryFrom<ApiClientIn> for NewApiClient {
    type Error = Vec<FieldError>;

    fn try_from(body: ApiClientIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let name = v.check(text("/name", &body.name, 200));
        let scopes = parse_scopes(&body.scopes, &mut v);
        v.finish_with(name.map(|name| NewApiClient { name, scopes }))
    }
}

/// The scopes named in `names` that this caller may not grant: those it does not hold itself.
/// Names that are no scope are the parse's to report.
fn scope_refusals(auth: &Auth<ApiClientManage>, names: &[String]) -> ItemRefusals {
    let mut refusals = ItemRefusals::new("/scopes");
    for (i, name) in names.iter().enumerate() {
        if ALL_SCOPES.contains(&name.as_str()) && !auth.principal.has_scope(name) {
            refusals.refuse(
                i,
                "scope_not_grantable",
                "you can only grant scopes you hold",
            );
        }
    }
    refusals
}

/// Create an API client; the secret is in this response only.
///
/// The client authenticates with the OAuth 2.0 client-credentials grant at `/oauth/token`
/// (`client_id` is the client's `id`). Its scopes may not be broader than the creator's own (422
/// `scope_not_grantable`; an unknown scope is `unknown_scope`), and its tokens carry only the
/// granted scopes the creator still holds. The answer is never stored by the idempotency store: a
/// replay cannot show the secret again.
#[utoipa::path(
    tag = "api-clients",
    operation_id = "createApiClient",
    request_body = ApiClientIn,
    responses((status = 201, description = "Created", body = ApiClientSecretOut)),
    security(("bearer" = ["api_client:manage"]))
)]
#[post("/api-clients")]
pub async fn create(
    state: web::Data<Identity>,
    auth: Auth<ApiClientManage>,
    body: Json<ApiClientIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let refusals = scope_refusals(&auth, &body.scopes);
    let new = refusals.merge(NewApiClient::try_from(body))?;
    let (secret, hash) = new_secret().await?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let client = clients::insert(
        &txn,
        tenant,
        &new.name,
        &new.scopes,
        hash,
        auth.principal.subject,
    )
    .await?;
    audit::append(
        &txn,
        tenant,
        audit::Entry {
            actor_id: Some(auth.principal.subject),
            action: "api_client.created",
            target_type: "api_client",
            target_id: Some(client.id),
            data: json!({"name": client.name, "scopes": new.scopes}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/api-clients/{}", client.id)))
        .insert_header(("Cache-Control", "no-store"))
        .json(ApiClientSecretOut {
            client: out(&client),
            client_secret: secret,
        }))
}

/// Read an API client (never its secret).
///
/// The client's name, scopes and status (`active` or `revoked`).
#[utoipa::path(
    tag = "api-clients",
    operation_id = "getApiClient",
    params(("id" = Uuid, Path, description = "The API client's id (its OAuth `client_id`).")),
    responses((status = 200, description = "OK", body = ApiClientOut)),
    security(("bearer" = ["api_client:manage"]))
)]
#[get("/api-clients/{id}")]
pub async fn get(
    state: web::Data<Identity>,
    auth: Auth<ApiClientManage>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let client = clients::find(&txn, tenant, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("api client"))?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&client)))
}

/// Rotate an API client's secret; the old one stops working at once.
///
/// The new secret is in this response only; the client keeps its id and scopes. Revoked clients
/// answer 409 `client_revoked`.
#[utoipa::path(
    tag = "api-clients",
    operation_id = "rotateApiClientSecret",
    params(("id" = Uuid, Path, description = "The API client's id (its OAuth `client_id`).")),
    responses((status = 200, description = "OK", body = ApiClientSecretOut)),
    security(("bearer" = ["api_client:manage"]))
)]
#[post("/api-clients/{id}/rotate")]
pub async fn rotate(
    state: web::Data<Identity>,
    auth: Auth<ApiClientManage>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let (secret, hash) = new_secret().await?;
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let client = clients::find(&txn, tenant, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("api client"))?;
    if client.status != clients::ACTIVE {
        return Err(ApiError::conflict(
            "client_revoked",
            "a revoked client cannot be rotated",
        ));
    }
    let client = clients::update(&txn, client, |c| c.secret_hash = Set(hash)).await?;
    audit::append(
        &txn,
        tenant,
        audit::Entry {
            actor_id: Some(auth.principal.subject),
            action: "api_client.rotated",
            target_type: "api_client",
            target_id: Some(client.id),
            data: json!({}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(ApiClientSecretOut {
            client: out(&client),
            client_secret: secret,
        }))
}

/// Revoke an API client: no new tokens are issued to it.
///
/// Tokens already issued stay valid until they expire (at most 15 minutes). A revoked client cannot
/// be rotated (409 `client_revoked`).
#[utoipa::path(
    tag = "api-clients",
    operation_id = "revokeApiClient",
    params(("id" = Uuid, Path, description = "The API client's id (its OAuth `client_id`).")),
    responses((status = 200, description = "OK", body = ApiClientOut)),
    security(("bearer" = ["api_client:manage"]))
)]
#[post("/api-clients/{id}/revoke")]
pub async fn revoke(
    state: web::Data<Identity>,
    auth: Auth<ApiClientManage>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let client = clients::find(&txn, tenant, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("api client"))?;
    let client = clients::update(&txn, client, |c| {
        c.status = Set(clients::REVOKED.to_string())
    })
    .await?;
    audit::append(
        &txn,
        tenant,
        audit::Entry {
            actor_id: Some(auth.principal.subject),
            action: "api_client.revoked",
            target_type: "api_client",
            target_id: Some(client.id),
            data: json!({}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&client)))
}
