//! `Idempotency-Key` on incident and problem creates, kept in PostgreSQL in the create's own
//! transaction. The edge guard (`platform::idempotency`, Redis) answers retries first; this
//! second line holds where the edge cannot: a process that dies between committing the create
//! and recording the response at the edge, or a Redis that restarts without persistence. Two
//! concurrent requests with one key serialise on it here (PostgreSQL waits for the first to
//! commit) and exactly one creates. Keys belong to one principal of one tenant and last 24 hours.
use actix_web::{HttpRequest, HttpResponse, http::StatusCode};
use chrono::{DateTime, Utc};
use platform::ApiError;
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, prelude::Expr,
};
use serde::Serialize;
use uuid::Uuid;

use crate::store::entities::idempotency_key as row;

/// How long a key is remembered.
pub const RETENTION: chrono::Duration = chrono::Duration::hours(24);

/// A key this request claimed; the response is recorded with [`complete`].
pub struct Claimed {
    tenant: TenantId,
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
    platform::idempotency::parse_key(req.headers().get("idempotency-key"))
}

fn fingerprint(route: &str, body: &impl Serialize) -> String {
    let body = serde_json::to_vec(body).unwrap_or_default();
    platform::idempotency::fingerprint(&[route.as_bytes(), &body])
}

/// Whether the request carries an `Idempotency-Key` (a malformed one is refused).
pub fn requested(req: &HttpRequest) -> Result<bool, ApiError> {
    Ok(header(req)?.is_some())
}

/// Claims the request's `Idempotency-Key` (if any) for `route` in `txn`.
pub async fn claim(
    txn: &DatabaseTransaction,
    req: &HttpRequest,
    tenant: TenantId,
    principal: Uuid,
    route: &str,
    body: &impl Serialize,
    now: DateTime<Utc>,
) -> Result<Claim, ApiError> {
    let Some(key) = header(req)? else {
        return Ok(Claim::Proceed(None));
    };
    let hash = fingerprint(route, body);
    let pk = (tenant.as_uuid(), principal, key.clone());
    // An expired key is forgotten first, so it can be used again.
    row::Entity::delete_many()
        .filter(row::Column::TenantId.eq(tenant))
        .filter(row::Column::PrincipalId.eq(principal))
        .filter(row::Column::Key.eq(key.clone()))
        .filter(row::Column::CreatedAt.lt(now - RETENTION))
        .exec(txn)
        .await?;
    let inserted = row::Entity::insert(row::ActiveModel {
        tenant_id: Set(tenant.into()),
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
