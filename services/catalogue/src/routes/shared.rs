//! What several route modules check the same way.
use actix_web::{HttpResponse, HttpResponseBuilder, http::StatusCode};
use platform::{
    ApiError, FieldError,
    auth::UserId,
    tenancy::TenantId,
    validate::{Validator, multiline, text},
};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Deserializer};
use serde_json::json;
use uuid::Uuid;

use crate::{domain::portfolio::Stage, store::services};

/// The owner, manager and support group must be identity's, of this tenant (a user another
/// tenant's id names is unknown here, never found).
pub async fn check_people(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    owner: Option<Uuid>,
    manager: Option<Uuid>,
    group: Option<Uuid>,
) -> Result<Vec<FieldError>, ApiError> {
    let mut errors = Vec::new();
    for (pointer, user) in [("/owner_id", owner), ("/manager_id", manager)] {
        if let Some(id) = user
            && !bus::people::active_user(txn, tenant, UserId(id)).await?
        {
            errors.push(FieldError::new(
                pointer,
                "unknown_reference",
                "no such active user in this tenant",
            ));
        }
    }
    if let Some(id) = group
        && bus::people::group_members(txn, tenant, id).await?.is_none()
    {
        errors.push(FieldError::new(
            "/support_group_id",
            "unknown_reference",
            "no such group in this tenant",
        ));
    }
    Ok(errors)
}

/// Why a new offering or item cannot belong to `service` (`what` it is): the service must be
/// one of the tenant's (`unknown_reference`) and not retired (`service_retired`).
pub async fn open_service(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    service: Uuid,
    what: &str,
) -> Result<Option<FieldError>, ApiError> {
    Ok(match services::find(txn, tenant, service).await? {
        None => Some(FieldError::new(
            "/service_id",
            "unknown_reference",
            "no such service in this tenant",
        )),
        Some(s) if s.stage == Stage::Retired => Some(FieldError::new(
            "/service_id",
            "service_retired",
            format!("a retired service takes no new {what}"),
        )),
        Some(_) => None,
    })
}

/// A field that may be sent as `null` (to clear it): absent is `None`, `null` is `Some(None)`.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// A name (1–200 characters) and a description (up to 20,000), checked into `v`.
pub fn name_and_description(
    v: &mut Validator,
    name: &str,
    description: &str,
) -> Option<(String, String)> {
    let name = v.check(text("/name", name, 200));
    let description = v.check(multiline("/description", description, 20_000));
    name.zip(description)
}

/// The same for a change, where each is optional: `None` when a field sent did not parse
/// (the whole change is refused), else the fields to change.
pub fn changed_name_and_description(
    v: &mut Validator,
    name: Option<String>,
    description: Option<String>,
) -> Option<(Option<String>, Option<String>)> {
    let name = name.map(|n| v.check(text("/name", &n, 200)));
    let description = description.map(|d| v.check(multiline("/description", &d, 20_000)));
    match (name, description) {
        (Some(None), _) | (_, Some(None)) => None,
        (name, description) => Some((name.flatten(), description.flatten())),
    }
}

/// The answer for a versioned record: its `ETag` (`"<version>"`, to send back as `If-Match`)
/// and, on a create, its `Location` under `collection`.
pub fn versioned(
    status: StatusCode,
    version: i64,
    collection: &str,
    id: Uuid,
) -> HttpResponseBuilder {
    let mut res = HttpResponse::build(status);
    res.insert_header(("ETag", format!("\"{version}\"")));
    if status == StatusCode::CREATED {
        res.insert_header(("Location", format!("{collection}/{id}")));
    }
    res
}

/// 409 `name_taken`, pointing at `/name`.
pub fn name_taken(detail: &'static str) -> ApiError {
    ApiError::conflict("name_taken", detail).with_extra(json!({"pointer": "/name"}))
}
