//! `GET /api/v1/analytics/volumes?by=category|service|channel` (ADR 44): incidents created in
//! a period, counted by their current classification.
use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, NaiveDate, Utc};
use platform::{
    ApiError,
    auth::{Auth, RequiredScope, scopes::AnalyticsRead},
    error::Problem as ProblemJson,
    tenancy::begin_scoped,
};
use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::figures::Reach;
use crate::{
    AnalyticsService,
    domain::figures::Dimension,
    store::figures::{self as tables},
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(get_volumes);
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VolumesQuery {
    /// `category`, `service` or `channel`.
    pub by: Option<String>,
    /// First local day (`YYYY-MM-DD`, inclusive); default: 29 days before `to`.
    pub from: Option<String>,
    /// Last local day (inclusive); default: today in the tenant's time zone.
    pub to: Option<String>,
    /// `*`: also the rollup of the acting tenant and its customers, and each tenant's volumes
    /// (MSP roles); a slug or id: that tenant.
    pub tenant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Volume {
    /// The category code, service id or channel; `null`: incidents without one.
    pub key: Option<String>,
    /// The service's name, when analytics' portfolio has it (`by=service`).
    pub name: Option<String>,
    /// Incidents created in the period that are counted under the key.
    pub created: i64,
}

#[derive(Serialize, ToSchema)]
pub struct TenantVolumes {
    pub tenant_id: Uuid,
    pub items: Vec<Volume>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"by": "channel", "tenant_id": "01a24233-c456-7186-af34-ba4716863c54", "items": [{"key": "portal", "name": null, "created": 31}, {"key": "phone", "name": null, "created": 12}, {"key": null, "name": null, "created": 2}], "time_zone": "Europe/Berlin", "from": "2026-11-08", "to": "2026-12-07", "as_of": "2026-12-07T10:00:00Z"}))]
pub struct Volumes {
    pub by: String,
    /// The tenant `items` are of.
    pub tenant_id: Uuid,
    /// Largest first, then by key (incidents without one last); they add up to `incidents.created` of the summary.
    pub items: Vec<Volume>,
    pub time_zone: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub as_of: DateTime<Utc>,
    /// `?tenant=*`: the acting tenant and its customers together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollup: Option<Vec<Volume>>,
    /// `?tenant=*`: each tenant's volumes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_tenant: Option<Vec<TenantVolumes>>,
}

/// Incident volumes.
///
/// The incidents created on the local days `from`..`to`, counted by their current category,
/// service or channel: an incident reclassified later moves to its new key, so the items add
/// up to the summary's `incidents.created`.
#[utoipa::path(
    tag = "analytics",
    operation_id = "getAnalyticsVolumes",
    params(VolumesQuery),
    responses((status = 200, description = "OK", body = Volumes), (status = 400, description = "Invalid query (`by` missing or unknown)", body = ProblemJson, content_type = "application/problem+json"), (status = 403, description = "Missing scope", body = ProblemJson, content_type = "application/problem+json")),
    security(("bearer" = ["analytics:read"]))
)]
#[get("/volumes")]
pub async fn get_volumes(
    state: web::Data<AnalyticsService>,
    auth: Auth<AnalyticsRead>,
    query: web::Query<VolumesQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(volumes(&state, &auth, &query).await?))
}

/// `category`, `service` or `channel`.
fn dimension_of(raw: Option<&str>) -> Result<Dimension, ApiError> {
    let raw = raw.ok_or_else(|| {
        ApiError::bad_query("by", "required", "one of category, service, channel")
    })?;
    Dimension::parse(raw).ok_or_else(|| {
        ApiError::bad_query(
            "by",
            "unknown_dimension",
            format!("{raw:?} is not category, service or channel"),
        )
    })
}

pub(crate) async fn volumes<S: RequiredScope>(
    state: &AnalyticsService,
    auth: &Auth<S>,
    q: &VolumesQuery,
) -> Result<Volumes, ApiError> {
    let dimension = dimension_of(q.by.as_deref())?;
    let reach = Reach::from_parts(
        state,
        auth,
        q.tenant.as_deref(),
        q.from.as_deref(),
        q.to.as_deref(),
    )
    .await?;
    let txn = begin_scoped(&state.db, &reach.tenants).await?;
    let per_tenant = tables::volumes_of(
        &txn,
        &reach.tenants,
        dimension,
        reach.period.from,
        reach.period.to,
    )
    .await?;
    let names = if dimension == Dimension::Service {
        service_names(&txn, &per_tenant).await?
    } else {
        HashMap::new()
    };
    txn.commit().await?;
    let items_of = |counts: &BTreeMap<String, i64>| ranked(counts, &names);
    let empty = BTreeMap::new();
    let of = |tenant: Uuid| items_of(per_tenant.get(&tenant).unwrap_or(&empty));
    let (rollup, by_tenant) = if reach.rollup {
        let mut all: BTreeMap<String, i64> = BTreeMap::new();
        for (key, n) in per_tenant.values().flatten() {
            *all.entry(key.clone()).or_default() += n;
        }
        let each = reach
            .tenants
            .iter()
            .map(|t| TenantVolumes {
                tenant_id: t.as_uuid(),
                items: of(t.as_uuid()),
            })
            .collect();
        (Some(items_of(&all)), Some(each))
    } else {
        (None, None)
    };
    Ok(Volumes {
        by: dimension.as_str().into(),
        tenant_id: reach.own.as_uuid(),
        items: of(reach.own.as_uuid()),
        time_zone: reach.zone.name().into(),
        from: reach.period.from,
        to: reach.period.to,
        as_of: Utc::now(),
        rollup,
        by_tenant,
    })
}

/// `counts` as items, largest first, then by key (none last).
fn ranked(counts: &BTreeMap<String, i64>, names: &HashMap<Uuid, String>) -> Vec<Volume> {
    let mut items: Vec<Volume> = counts
        .iter()
        .map(|(key, created)| Volume {
            name: key
                .parse::<Uuid>()
                .ok()
                .and_then(|id| names.get(&id).cloned()),
            key: (!key.is_empty()).then(|| key.clone()),
            created: *created,
        })
        .collect();
    items.sort_by(|a, b| {
        (b.created, a.key.is_none(), &a.key).cmp(&(a.created, b.key.is_none(), &b.key))
    });
    items
}

/// The names of the services counted, as far as the reach's portfolio has them.
async fn service_names(
    txn: &DatabaseTransaction,
    per_tenant: &BTreeMap<Uuid, BTreeMap<String, i64>>,
) -> Result<HashMap<Uuid, String>, DbErr> {
    use bus::entities::portfolio_service as service;
    let ids: Vec<Uuid> = per_tenant
        .values()
        .flat_map(|counts| counts.keys())
        .filter_map(|k| k.parse().ok())
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, String)> = service::Entity::find()
        .select_only()
        .column(service::Column::Id)
        .column(service::Column::Name)
        .filter(service::Column::Id.is_in(ids))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(rows.into_iter().collect())
}
