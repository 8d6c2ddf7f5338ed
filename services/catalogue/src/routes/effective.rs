//! `/api/v1/catalogue/effective`: what the caller may order in the acting tenant, from its own
//! published items and those of the providers above it, each as the overrides on the way down
//! leave it. Admins may ask why (`explain=true`).
use std::collections::HashSet;

use actix_web::{HttpRequest, HttpResponse, get, web};
use platform::{
    ApiError,
    auth::{Auth, Principal, UserId, scopes::CatalogueRead},
    pagination::{Page, PageQuery},
    tenancy::{TenantId, begin_scoped},
};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    CatalogueService,
    domain::{
        effective::{self, Effective, Explained, Hidden, Inherited, Viewer},
        item::FormSchema,
        portfolio::Stage,
    },
    store::{
        items::{self, Item},
        overrides, services,
    },
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24b5e-8a20-7b1e-8c2d-3e4f5a6b7c81",
    "key": "new-laptop",
    "name": "New laptop",
    "description": "A standard or performance laptop, delivered to your desk.",
    "service_id": "01a24b5e-6f10-7a7e-9d3c-5b8f2e1c4d20",
    "category_id": null,
    "form_schema": {"type": "object", "properties": {"model": {"type": "string", "enum": ["standard-14", "performance-16"]}}},
    "price_amount": "1150.00",
    "currency": "EUR",
    "max_quantity": 10,
    "needs_approval": true,
    "source_tenant_id": "01a24233-c456-7186-af34-ba4716863c50"
}))]
pub struct EffectiveItemOut {
    pub id: Uuid,
    pub key: String,
    pub name: String,
    pub description: String,
    pub service_id: Uuid,
    pub category_id: Option<Uuid>,
    #[schema(value_type = FormSchema)]
    pub form_schema: Value,
    pub price_amount: Option<String>,
    pub currency: Option<String>,
    pub max_quantity: i32,
    /// Whether a request for it goes through an approval policy (unless auto-approved).
    pub needs_approval: bool,
    /// The tenant whose item it is (the acting tenant's own, or a provider above it).
    pub source_tenant_id: Uuid,
    /// With `explain=true`: whether the caller may order it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible: Option<bool>,
    /// With `explain=true`, for an item the caller may not order: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Hidden>,
    /// With `explain=true`: each overridable field, its value and where it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Vec<Explained>>,
}

platform::page_schema!(EffectiveItemPage, EffectiveItemOut);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EffectiveQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only the items of this category.
    pub category_id: Option<Uuid>,
    /// Also the items the caller may not order, each with `visible`, `reason` and `explain`
    /// (needs `catalogue:write`).
    #[serde(default)]
    pub explain: bool,
}

/// The items the caller may order in the acting tenant.
///
/// The acting tenant's published items and those of every provider above it, never a sibling's;
/// each with the overrides of the tenants in between applied (the nearest wins), minus those
/// hidden by a tenant, not available to the tenant or to the caller's groups, or whose service
/// is not live. Provider costs never appear. `explain=true` (`catalogue:write`) lists the
/// others too, with `visible`, `reason` (`hidden_by_tenant`, `not_available_to_tenant`,
/// `not_available_to_group`, `service_not_live`) and `explain` `[{field, value,
/// from_tenant_id, rule: own|inherited|override}]`.
#[utoipa::path(
    tag = "items",
    operation_id = "listEffectiveItems",
    params(EffectiveQuery),
    responses((status = 200, description = "OK", body = EffectiveItemPage)),
    security(("bearer" = ["catalogue:read"]))
)]
#[get("")]
pub async fn list(
    state: web::Data<CatalogueService>,
    auth: Auth<CatalogueRead>,
    query: web::Query<EffectiveQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .validate()?;
    if query.explain && !auth.principal.has_scope("catalogue:write") {
        return Err(ApiError::forbidden(
            "insufficient_scope",
            "explain=true needs catalogue:write",
        ));
    }
    let lineage = auth.tenant.lineage();
    let txn = begin_scoped(&state.db, lineage).await?;
    // Overrides hide items, so a page is filled from as many batches as it takes.
    let batch = page.limit + 1;
    let mut after = page.after;
    let mut kept = Vec::new();
    while kept.len() as u64 <= page.limit {
        let rows = items::published_in(&txn, lineage, query.category_id, after, batch).await?;
        let exhausted = (rows.len() as u64) < batch;
        after = rows.last().map(|i| i.id);
        for (i, e) in view(&txn, lineage, &auth.principal, rows).await? {
            if e.hidden.is_some() && !query.explain {
                continue;
            }
            kept.push(EffectiveItemOut {
                id: i.id,
                key: i.key,
                name: e.name,
                description: i.description,
                service_id: i.service_id,
                category_id: i.category_id,
                form_schema: i.form_schema,
                price_amount: e.price_amount,
                currency: i.currency,
                max_quantity: i.max_quantity,
                needs_approval: e.approval_policy.is_some(),
                source_tenant_id: i.tenant_id,
                visible: query.explain.then_some(e.hidden.is_none()),
                reason: e.hidden,
                explain: query.explain.then_some(e.explain),
            });
        }
        if exhausted {
            break;
        }
    }
    txn.commit().await?;
    Ok(Page::from_rows(kept, page.limit, |i| i.id).respond(&req))
}

/// `rows` (published items of `lineage`, the acting tenant last) as `caller` sees them in the
/// acting tenant: three queries (overrides, service stages, the caller's groups) for them all.
pub async fn view(
    txn: &DatabaseTransaction,
    lineage: &[TenantId],
    caller: &Principal,
    rows: Vec<Item>,
) -> Result<Vec<(Item, Effective)>, ApiError> {
    let acting = lineage.last().map_or(Uuid::nil(), |t| t.as_uuid());
    let ids: Vec<Uuid> = rows.iter().map(|i| i.id).collect();
    let service_ids: Vec<Uuid> = rows.iter().map(|i| i.service_id).collect();
    let stages = services::stages_of(txn, lineage, &service_ids).await?;
    let found = overrides::of_items(txn, lineage, &ids).await?;
    let found = found
        .iter()
        .map(|o| o.parsed().map(|p| (o.item_id, p)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut group_ids = Vec::new();
    for i in &rows {
        group_ids.extend(i.availability()?.group_ids);
    }
    let groups = if caller.is_client {
        HashSet::new()
    } else {
        bus::people::member_of(txn, UserId(caller.subject), &group_ids).await?
    };
    let mut out = Vec::with_capacity(rows.len());
    for i in rows {
        let path = below(lineage, i.tenant_id);
        let base = Inherited {
            tenant_id: i.tenant_id,
            name: i.name.clone(),
            approval_policy: i.approval_policy()?,
            price_amount: i.price_amount.clone(),
            availability: i.availability()?,
        };
        let on_item: Vec<_> = found
            .iter()
            .filter(|(item, _)| *item == i.id)
            .map(|(_, o)| o.clone())
            .collect();
        let live = stages.get(&i.service_id) == Some(&Stage::Live);
        let viewer = Viewer {
            acting,
            path: &path,
            groups: &groups,
        };
        let e = effective::resolve(&base, &on_item, live, &viewer);
        out.push((i, e));
    }
    Ok(out)
}

/// The tenants of `lineage` (root first) below `owner`: those whose overrides apply to an item
/// of `owner`.
fn below(lineage: &[TenantId], owner: Uuid) -> Vec<Uuid> {
    lineage
        .iter()
        .map(|t| t.as_uuid())
        .skip_while(|t| *t != owner)
        .skip(1)
        .collect()
}
