//! The audit log and its verification.
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use platform::{
    ApiError,
    auth::{Auth, scopes::AuditRead},
    pagination::{Page, PageQuery},
    tenancy::begin_scoped,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ListQuery;
use crate::{Identity, store::audit};

#[derive(Serialize, ToSchema)]
pub struct AuditRecordOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Position in the tenant's chain, from 1.
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    #[schema(example = "user.roles_changed")]
    pub action: String,
    pub target_type: String,
    pub target_id: Option<Uuid>,
    #[schema(value_type = AuditData)]
    pub data: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

platform::page_schema!(AuditRecordPage, AuditRecordOut);

platform::named_schema!(
    /// What an audit record says about its action (documentation only).
    AuditData,
    platform::schema::free_form(
        "What the action changed or attempted; members depend on `action`.",
        serde_json::json!({"before": ["requester"], "after": ["requester", "approver"]}),
    )
);

/// The acting tenant's audit records, oldest first.
///
/// Every security-relevant and data-changing action of the tenant, a page at a time. Each record
/// holds the hash of the one before it; `GET /api/v1/audit/verify` checks the whole chain.
#[utoipa::path(
    tag = "audit",
    operation_id = "listAuditRecords",
    params(PageQuery),
    responses((status = 200, description = "OK", body = AuditRecordPage)),
    security(("bearer" = ["audit:read"]))
)]
#[get("/audit")]
pub async fn list(
    state: web::Data<Identity>,
    auth: Auth<AuditRead>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let rows = audit::list(&txn, tenant, page.after, page.limit + 1).await?;
    txn.commit().await?;
    let items = rows
        .into_iter()
        .map(|r| AuditRecordOut {
            id: r.id,
            tenant_id: r.tenant_id,
            seq: r.seq,
            at: r.at,
            actor_id: r.actor_id,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            data: r.data,
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
        .collect();
    Ok(Page::from_rows(items, page.limit, |r| r.id).respond(&req))
}

#[derive(Serialize, ToSchema)]
pub struct BrokenRecordOut {
    pub id: Uuid,
    pub seq: i64,
    /// `hash_mismatch`, `prev_hash_mismatch` or `sequence_gap`.
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "valid": true,
    "checked": 13,
    "first_broken": null
}))]
pub struct VerifyOut {
    pub tenant_id: Uuid,
    /// True when every record matches its hash and links to its predecessor.
    pub valid: bool,
    /// Records verified before the first broken one (all of them when valid).
    pub checked: u64,
    pub first_broken: Option<BrokenRecordOut>,
}

/// Verify the acting tenant's audit chain.
///
/// Recomputes every record's hash from its content and the previous record's hash, and names the
/// first record that does not match (`first_broken`), if any.
#[utoipa::path(
    tag = "audit",
    operation_id = "verifyAuditChain",
    responses((status = 200, description = "OK", body = VerifyOut)),
    security(("bearer" = ["audit:read"]))
)]
#[get("/audit/verify")]
pub async fn verify(
    state: web::Data<Identity>,
    auth: Auth<AuditRead>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let (checked, broken) = audit::verify(&txn, tenant).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(VerifyOut {
        tenant_id: tenant.as_uuid(),
        valid: broken.is_none(),
        checked,
        first_broken: broken.map(|b| BrokenRecordOut {
            id: b.record.id,
            seq: b.record.seq,
            reason: b.reason.as_str().to_string(),
        }),
    }))
}
