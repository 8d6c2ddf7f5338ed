//! `Idempotency-Key` on creates: a retried request with the same key and body gets the first
//! response again (`Idempotent-Replayed: true`) instead of a second incident; the same key with
//! another body is refused (422). The key is claimed in the create's own transaction, so two
//! concurrent requests with one key serialise on it (PostgreSQL waits for the first to commit)
//! and exactly one creates. Keys belong to one principal of one tenant and last 24 hours.
use actix_web::{HttpRequest, HttpResponse, http::StatusCode};
use chrono::{DateTime, Utc};
use platform::ApiError;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, prelude::Expr,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::store::entities::idempotency_key as row;

/// How long a key is remembered.
pub const RETENTION: chrono::Duration = chrono::Duration::hours(24);

/// A key this request claimed; the response is recorded with [`complete`].
pub struct Claimed {
    tenant: Uuid,
    principal: Uuid,
    key: String,
}

pub enum Claim {
    /// No key given, or the key is new: go ahead.
    Proceed(Option<Claimed>),
    /// The key was used before with the same body: answer this.
    Replay(HttpResponse),
}

fn header(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(raw) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    match raw.to_str() {
        Ok(k)
            if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..0x7f).contains(&b)) =>
        {
            Ok(Some(k.to_string()))
        }
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Idempotency-Key is 1-255 visible ASCII characters",
        )),
    }
}

fn fingerprint(route: &str, body: &impl Serialize) -> String {
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(body).unwrap_or_default());
    hex::encode(h.finalize())
}

/// Claims the request's `Idempotency-Key` (if any) for `route` in `txn`.
pub async fn claim(
    txn: &DatabaseTransaction,
    req: &HttpRequest,
    tenant: Uuid,
    principal: Uuid,
    route: &str,
    body: &impl Serialize,
    now: DateTime<Utc>,
) -> Result<Claim, ApiError> {
    let Some(key) = header(req)? else {
        return Ok(Claim::Proceed(None));
    };
    let hash = fingerprint(route, body);
    let pk = (tenant, principal, key.clone());
    // An expired key is forgotten first, so it can be used again.
    row::Entity::delete_many()
        .filter(row::Column::TenantId.eq(tenant))
        .filter(row::Column::PrincipalId.eq(principal))
        .filter(row::Column::Key.eq(key.clone()))
        .filter(row::Column::CreatedAt.lt(now - RETENTION))
        .exec(txn)
        .await?;
    let inserted = row::Entity::insert(row::ActiveModel {
        tenant_id: Set(tenant),
        principal_id: Set(principal),
        key: Set(key.clone()),
        request_hash: Set(hash.clone()),
        status: Set(0),
        body: Set(String::new()),
        location: Set(None),
        created_at: Set(now),
    })
    .on_conflict_do_nothing_on([
        row::Column::TenantId,
        row::Column::PrincipalId,
        row::Column::Key,
    ])
    .exec_without_returning(txn)
    .await?;
    if matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        return Ok(Claim::Proceed(Some(Claimed {
            tenant,
            principal,
            key,
        })));
    }
    let earlier = row::Entity::find_by_id(pk)
        .one(txn)
        .await?
        .ok_or_else(|| ApiError::internal("idempotency key vanished"))?;
    if earlier.request_hash != hash {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        ));
    }
    let status = StatusCode::from_u16(earlier.status as u16)
        .map_err(|_| ApiError::internal("stored status"))?;
    let mut res = HttpResponse::build(status);
    res.insert_header(("Idempotent-Replayed", "true"))
        .content_type("application/json");
    if let Some(location) = earlier.location {
        res.insert_header(("Location", location));
    }
    Ok(Claim::Replay(res.body(earlier.body)))
}

/// Records the response of a claimed request (in the same transaction as its effect).
pub async fn complete(
    txn: &DatabaseTransaction,
    claimed: Option<Claimed>,
    status: StatusCode,
    body: &impl Serialize,
    location: Option<&str>,
) -> Result<(), ApiError> {
    let Some(c) = claimed else {
        return Ok(());
    };
    row::Entity::update_many()
        .col_expr(row::Column::Status, Expr::value(status.as_u16() as i16))
        .col_expr(
            row::Column::Body,
            Expr::value(serde_json::to_string(body).map_err(ApiError::internal)?),
        )
        .col_expr(
            row::Column::Location,
            Expr::value(location.map(str::to_string)),
        )
        .filter(row::Column::TenantId.eq(c.tenant))
        .filter(row::Column::PrincipalId.eq(c.principal))
        .filter(row::Column::Key.eq(c.key))
        .exec(txn)
        .await?;
    Ok(())
}
