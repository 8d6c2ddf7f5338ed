//! What an item names beyond its own fields (groups, users, a category, tenants), looked up in
//! the acting tenant: shared by items and the overrides of inherited items.
use std::collections::HashMap;

use platform::{
    ApiError, FieldError,
    auth::{Auth, RequiredScope, UserId},
    tenancy::{TenantId, TenantKind},
};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use crate::{
    domain::item::{self as rules, ApprovalPolicy, Availability, FulfilmentPlan},
    store::categories,
};

/// Whether the caller sees what an item costs its provider: the provider's own staff
/// (roles that act for the tenants below), never a customer.
pub fn sees_cost<S: RequiredScope>(auth: &Auth<S>) -> bool {
    auth.principal.reaches_descendants() && auth.tenant.kind != TenantKind::Customer
}

/// What an item names beyond its own fields, to look up in the acting tenant.
pub struct References<'a> {
    pub policy: Option<&'a ApprovalPolicy>,
    pub plan: Option<&'a FulfilmentPlan>,
    pub availability: Option<&'a Availability>,
    /// The tenants the caller reaches (`Auth::list_scope(Some("*"))`, read before the
    /// transaction: the directory must not wait for the transaction's connection).
    pub reach: &'a [TenantId],
    pub category: Option<Uuid>,
    pub cost: bool,
}

/// Every reference an item makes, checked: its groups, users, category and tenants must be the
/// acting tenant's (or within its reach), and only a provider's staff set a cost.
pub async fn check_references<S: RequiredScope>(
    txn: &DatabaseTransaction,
    auth: &Auth<S>,
    refs: References<'_>,
) -> Result<Vec<FieldError>, ApiError> {
    let tenant = auth.tenant_id();
    let mut errors = Vec::new();
    let mut sizes = HashMap::new();
    let groups = refs
        .policy
        .into_iter()
        .flat_map(ApprovalPolicy::groups)
        .chain(refs.plan.into_iter().flat_map(FulfilmentPlan::groups));
    for group in groups {
        if let Some(members) = bus::people::group_members(txn, tenant, group).await? {
            sizes.insert(group, u32::try_from(members.len()).unwrap_or(u32::MAX));
        }
    }
    if let Some(policy) = refs.policy {
        errors.extend(rules::check_policy("/approval_policy", policy, &sizes));
        for (i, step) in policy.steps.iter().enumerate() {
            for (j, approver) in step.approvers.iter().enumerate() {
                if let rules::Approver::User { user_id } = approver
                    && !bus::people::active_user(txn, tenant, UserId(*user_id)).await?
                {
                    errors.push(FieldError::new(
                        format!("/approval_policy/steps/{i}/approvers/{j}/user_id"),
                        "unknown_reference",
                        "no such active user in this tenant",
                    ));
                }
            }
        }
    }
    if let Some(plan) = refs.plan {
        errors.extend(rules::check_plan("/fulfilment_plan", plan, |g| {
            sizes.contains_key(&g)
        }));
    }
    if let Some(availability) = refs.availability {
        for (i, t) in availability.tenant_ids.iter().enumerate() {
            if !refs.reach.contains(&TenantId(*t)) {
                errors.push(FieldError::new(
                    format!("/availability/tenant_ids/{i}"),
                    "unknown_reference",
                    "no such tenant within your reach",
                ));
            }
        }
    }
    if let Some(category) = refs.category
        && categories::find(txn, tenant, category).await?.is_none()
    {
        errors.push(FieldError::new(
            "/category_id",
            "unknown_reference",
            "no such category in this tenant",
        ));
    }
    if refs.cost && !sees_cost(auth) {
        errors.push(FieldError::new(
            "/cost_amount",
            "provider_only",
            "only a provider's staff set what an item costs",
        ));
    }
    Ok(errors)
}
