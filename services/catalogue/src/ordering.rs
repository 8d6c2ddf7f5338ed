//! Placing a request: each line checked against the orderer's effective catalogue (every
//! error at once), then the request and its items recorded and started (approval or
//! fulfilment) in the caller's transaction. The API's submission and the demo data both place
//! requests this way.
use platform::{
    ApiError, FieldError,
    auth::{Principal, UserId},
    tenancy::TenantId,
};
use sea_orm::DatabaseTransaction;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::{
        form::RefKind,
        item::ApprovalPolicy,
        request::{ApprovalState, RitmState},
    },
    events,
    form_cache::FormCache,
    routes::effective::view,
    store::{
        items,
        requests::{self as store, NewRequestItem, Request, RequestItem},
        suggestions,
    },
    workflow::{self, Ctx},
};

platform::named_schema!(
    /// A request item's variables: what the requester filled in on the item's form.
    Variables,
    platform::schema::free_form(
        "The variables of the item's form, by name.",
        serde_json::json!({"model": "performance-16", "justification": "3D rendering", "cost_center": "CC-1234"}),
    )
);

fn one() -> i64 {
    1
}

fn no_variables() -> Value {
    Value::Object(serde_json::Map::new())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestLineIn {
    pub item_id: Uuid,
    /// 1 to the item's `max_quantity` (default 1).
    #[serde(default = "one")]
    pub quantity: i64,
    #[serde(default = "no_variables")]
    #[schema(value_type = Variables)]
    pub variables: Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "items": [{"item_id": "01a24b5e-8a20-7b1e-8c2d-3e4f5a6b7c81", "quantity": 1,
               "variables": {"model": "performance-16", "justification": "3D rendering", "cost_center": "CC-1234"}}]
}))]
pub struct RequestIn {
    pub items: Vec<RequestLineIn>,
    /// The knowledge suggestion session the requester saw before ordering, if any.
    pub suggestion_session_id: Option<Uuid>,
}

/// Who orders, where: the requester, the acting tenant and its lineage (the providers whose
/// items it sees).
pub struct Orderer<'a> {
    pub tenant: TenantId,
    pub lineage: &'a [TenantId],
    pub principal: &'a Principal,
}

/// One line, checked: the item as the requester sees it and how its approval starts.
struct Line {
    item: items::Item,
    name: String,
    price: Option<String>,
    policy: Option<ApprovalPolicy>,
    quantity: i32,
    variables: Value,
    approval: ApprovalState,
}

/// The lines of `body`, each checked against the acting tenant's effective catalogue; every
/// error at once.
async fn check_lines(
    txn: &DatabaseTransaction,
    orderer: &Orderer<'_>,
    forms: &FormCache,
    body: RequestIn,
) -> Result<Vec<Line>, ApiError> {
    let tenant = orderer.tenant;
    let lineage = orderer.lineage;
    let requester = orderer.principal.subject;
    let mut errors = Vec::new();
    let ctx = Ctx {
        lineage,
        now: platform::record::now(),
    };
    let mut lines = Vec::new();
    for (n, line) in body.items.into_iter().enumerate() {
        let at = format!("/items/{n}");
        let found = items::find_in(txn, lineage, line.item_id)
            .await?
            .filter(|i| i.state == crate::domain::item::ItemState::Published);
        let Some(item) = found else {
            errors.push(FieldError::new(
                format!("{at}/item_id"),
                "unknown_reference",
                "no such item in this tenant's catalogue",
            ));
            continue;
        };
        let Some((item, seen)) = view(txn, lineage, orderer.principal, vec![item])
            .await?
            .into_iter()
            .next()
        else {
            continue;
        };
        if let Some(reason) = seen.hidden {
            errors.push(FieldError::new(
                format!("{at}/item_id"),
                "not_orderable",
                format!(
                    "the item is not orderable here: {}",
                    serde_json::to_value(reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ),
            ));
            continue;
        }
        let quantity = match i32::try_from(line.quantity) {
            Ok(q) if (1..=item.max_quantity).contains(&q) => q,
            _ => {
                errors.push(FieldError::new(
                    format!("{at}/quantity"),
                    "out_of_range",
                    format!("quantity is 1–{}", item.max_quantity),
                ));
                0
            }
        };
        let form = forms.form(item.id, item.version, &item.form_schema)?;
        let refs = match form.check(&format!("{at}/variables"), &line.variables) {
            Ok(refs) => refs,
            Err(more) => {
                errors.extend(more);
                continue;
            }
        };
        for r in refs {
            let known = match r.kind {
                RefKind::User => bus::people::active_user(txn, tenant, UserId(r.id)).await?,
                RefKind::Group => bus::people::group_members(txn, tenant, r.id)
                    .await?
                    .is_some(),
                // Configuration items are checked once the CMDB projects them.
                RefKind::Ci => true,
            };
            if !known {
                errors.push(FieldError::new(
                    r.pointer,
                    "unknown_reference",
                    "no such user or group in this tenant",
                ));
            }
        }
        let approval = match &seen.approval_policy {
            None => ApprovalState::NotRequired,
            Some(p) => {
                let auto = match &p.auto_approve_when {
                    Some(when) => forms.condition(when)?.matches(&line.variables),
                    None => false,
                };
                if auto {
                    ApprovalState::AutoApproved
                } else {
                    for step in 0..p.steps.len() {
                        if workflow::eligible(txn, &ctx, tenant, requester, p, step)
                            .await?
                            .is_empty()
                        {
                            errors.push(FieldError::new(
                                format!("{at}/item_id"),
                                "no_eligible_approver",
                                format!(
                                    "nobody can approve step {} ({}) for you: is your manager set?",
                                    step + 1,
                                    p.steps[step].name
                                ),
                            ));
                        }
                    }
                    ApprovalState::Pending
                }
            }
        };
        lines.push(Line {
            item,
            name: seen.name,
            price: seen.price_amount,
            policy: seen.approval_policy,
            quantity,
            variables: line.variables,
            approval,
        });
    }
    if errors.is_empty() {
        Ok(lines)
    } else {
        Err(ApiError::validation(errors))
    }
}

/// Checks `body` for `orderer` and records the request under the numbers reserved for it
/// (`number`, one of `item_numbers` per line) in `txn`, scoped to the orderer's lineage. Each
/// item starts at its first approval step, or in fulfilment when it needs no approval.
pub async fn place(
    txn: &DatabaseTransaction,
    forms: &FormCache,
    orderer: &Orderer<'_>,
    body: RequestIn,
    number: String,
    item_numbers: Vec<String>,
) -> Result<(Request, Vec<RequestItem>), ApiError> {
    let (tenant, lineage) = (orderer.tenant, orderer.lineage);
    let suggestion = body.suggestion_session_id;
    let lines = check_lines(txn, orderer, forms, body).await?;
    let ctx = Ctx {
        lineage,
        now: platform::record::now(),
    };
    if let Some(session) = suggestion
        && suggestions::lock_own(txn, tenant, orderer.principal.subject, session)
            .await?
            .is_none()
    {
        return Err(ApiError::validation(vec![FieldError::new(
            "/suggestion_session_id",
            "unknown_reference",
            "no such suggestion session of yours",
        )]));
    }
    let request =
        store::insert_request(txn, tenant, number, orderer.principal.subject, suggestion).await?;
    // A request counts against the deflection of the suggestions its requester just read.
    suggestions::raised(
        txn,
        tenant,
        request.id,
        request.requester_id,
        "request",
        request.created_at,
        suggestion,
    )
    .await?;
    let mut made = Vec::new();
    for (line, number) in lines.into_iter().zip(item_numbers) {
        let first = match line.approval {
            ApprovalState::Pending => RitmState::PendingApproval,
            _ => RitmState::InFulfilment,
        };
        let ritm = store::insert_item(
            txn,
            &request,
            NewRequestItem {
                number,
                item_id: line.item.id,
                item_tenant_id: line.item.tenant_id,
                item_version: line.item.version,
                service_id: line.item.service_id,
                name: line.name,
                quantity: line.quantity,
                variables: line.variables,
                approval_policy: line.policy.clone(),
                fulfilment_plan: line.item.fulfilment_plan()?,
                price_amount: line.price,
                currency: line.item.currency.clone(),
                state: first,
                approval_state: line.approval,
            },
        )
        .await?;
        events::request_item_moved(txn, &ritm, None).await?;
        let ritm = match (&line.policy, line.approval) {
            (Some(policy), ApprovalState::Pending) => {
                workflow::begin_step(txn, &ctx, ritm, policy, 0).await?
            }
            (_, approval) => workflow::begin_stage(txn, ritm, approval, 0).await?,
        };
        made.push(ritm);
    }
    events::request_submitted(txn, &request, &made).await?;
    Ok((request, made))
}
