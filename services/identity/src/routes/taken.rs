//! Answers that a platform-wide unique value is taken (a user's email, a tenant's slug). Such a
//! 409 tells the caller the value exists somewhere on the platform, possibly beyond its reach,
//! so each one is written to the caller's own audit chain and spends the caller's disclosure
//! budget (`platform::ratelimit::DisclosureBudget`): once it is spent the answer is 429, and
//! the caller's creates are refused before anything is looked up until a unit comes back.
use actix_web::http::StatusCode;
use platform::{ApiError, auth::Principal, tenancy::begin_scoped};
use serde_json::json;

use crate::{Identity, store::audit};

fn too_many(retry_after: std::time::Duration) -> ApiError {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_conflicts",
        format!("too many creates of values that were already taken; retry in {secs} s"),
    )
    .retry_after(secs.max(1))
}

/// Refuses (429 `too_many_conflicts`) a create by a principal whose budget is spent, before
/// anything is looked up, so the refusal does not depend on what was asked.
pub fn check_budget(state: &Identity, principal: &Principal) -> Result<(), ApiError> {
    match state.disclosures.refused(principal.subject) {
        Some(retry_after) => Err(too_many(retry_after)),
        None => Ok(()),
    }
}

/// A value that was found taken.
pub struct Taken<'a> {
    /// The action the caller attempted, e.g. `user.invite`.
    pub attempted: &'static str,
    /// The problem code, e.g. `email_taken`.
    pub code: &'static str,
    /// The JSON Pointer of the field.
    pub pointer: &'a str,
    /// The value the caller sent.
    pub value: &'a str,
    /// What the 409 says.
    pub detail: &'static str,
}

/// The answer for a create that found a value taken: 409 naming the field, or 429 once the
/// principal's budget is spent. Either is appended to the caller's home tenant's audit chain
/// (in a transaction of its own: the create's may have been aborted by the violation).
pub async fn answer(state: &Identity, principal: &Principal, taken: Taken<'_>) -> ApiError {
    let spent = state.disclosures.spend(principal.subject).await;
    let status = if spent.is_ok() { 409 } else { 429 };
    let home = principal.home_tenant;
    let recorded = async {
        let txn = begin_scoped(&state.db, &[home]).await?;
        audit::append(
            &txn,
            home,
            audit::Entry {
                actor_id: Some(principal.subject),
                action: "unique_value_taken",
                target_type: "principal",
                target_id: Some(principal.subject),
                data: json!({
                    "attempted": taken.attempted,
                    "code": taken.code,
                    "pointer": taken.pointer,
                    "value": taken.value,
                    "status": status,
                }),
            },
        )
        .await?;
        txn.commit().await
    }
    .await;
    if let Err(e) = recorded {
        return e.into();
    }
    match spent {
        Ok(()) => ApiError::conflict(taken.code, taken.detail)
            .with_extra(json!({"pointer": taken.pointer})),
        Err(retry_after) => too_many(retry_after),
    }
}
