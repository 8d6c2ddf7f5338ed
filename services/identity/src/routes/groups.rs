//! Assignment groups and their members.
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use platform::auth::UserId;
use platform::{
    ApiError, FieldError,
    auth::{
        Auth,
        scopes::{GroupRead, GroupWrite},
    },
    error::Problem,
    json::Json,
    pagination::{Page, PageQuery},
    tenancy::begin_scoped,
    validate::{Validator, multiline, text},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ListQuery, TenantFilter};
use crate::{
    Identity,
    domain::group::NewGroup,
    store::{
        audit,
        groups::{self, Group},
        is_unique_violation, users,
    },
};

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01a24233-c476-71a0-b05d-7ba78818753e",
    "tenant_id": "01a24233-c456-7186-af34-ba4716863c54",
    "name": "Service Desk",
    "description": "First-line support",
    "members": [
        "01a24233-c45f-769f-8803-48c30e8f1d48"
    ],
    "created_at": "2026-12-04T17:56:58.614338Z",
    "updated_at": "2026-12-04T17:56:58.615844Z"
}))]
pub struct GroupOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: String,
    /// Member user ids.
    pub members: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

platform::page_schema!(GroupPage, GroupOut);

fn out(g: &Group, members: Vec<Uuid>) -> GroupOut {
    GroupOut {
        id: g.id,
        tenant_id: g.tenant_id,
        name: g.name.clone(),
        description: g.description.clone(),
        members,
        created_at: g.created_at,
        updated_at: g.updated_at,
    }
}

/// Groups of the acting tenant.
///
/// A page at a time, in creation order. MSP roles pass `?tenant=*` for the whole subtree, or a
/// tenant id or slug within reach.
#[utoipa::path(
    tag = "groups",
    operation_id = "listGroups",
    params(PageQuery, TenantFilter),
    responses((status = 200, description = "OK", body = GroupPage)),
    security(("bearer" = ["group:read"]))
)]
#[get("/groups")]
pub async fn list(
    state: web::Data<Identity>,
    auth: Auth<GroupRead>,
    query: web::Query<ListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let tenants = auth.list_scope(query.tenant.as_deref()).await?;
    let txn = begin_scoped(&state.db, &tenants).await?;
    let rows = groups::list(&txn, &tenants, page.after, page.limit + 1).await?;
    let mut members = groups::members_of(&txn, &rows).await?;
    txn.commit().await?;
    let items = rows
        .iter()
        .map(|g| out(g, members.remove(&g.id).unwrap_or_default()))
        .collect();
    Ok(Page::from_rows(items, page.limit, |g| g.id).respond(&req))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Network",
    "description": "Routers, switches and Wi-Fi"
}))]
pub struct GroupIn {
    #[schema(example = "Service Desk L1")]
    pub name: String,
    #[serde(default)]
    pub description: String,
}

impl TryFrom<GroupIn> for NewGroup {
    type Error = Vec<FieldError>;

    fn try_from(body: GroupIn) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let name = v.check(text("/name", &body.name, 200));
        let description = v.check(multiline("/description", &body.description, 2000));
        let parsed = match (name, description) {
            (Some(name), Some(description)) => Some(NewGroup { name, description }),
            _ => None,
        };
        v.finish_with(parsed)
    }
}

/// Create an assignment group.
///
/// Group names are unique per tenant (409 `name_taken`, with the field's `pointer`).
#[utoipa::path(
    tag = "groups",
    operation_id = "createGroup",
    request_body = GroupIn,
    responses((status = 201, description = "Created", body = GroupOut), (status = 409, description = "`name_taken`: the tenant has a group of that name (`extra.pointer`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["group:write"]))
)]
#[post("/groups")]
pub async fn create(
    state: web::Data<Identity>,
    auth: Auth<GroupWrite>,
    body: Json<GroupIn>,
) -> Result<HttpResponse, ApiError> {
    let new = NewGroup::try_from(body.0)?;
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let group = match groups::insert(&txn, tenant, &new.name, &new.description).await {
        Ok(g) => g,
        Err(e) if is_unique_violation(&e) => {
            return Err(
                ApiError::conflict("name_taken", "a group with this name exists")
                    .with_extra(json!({"pointer": "/name"})),
            );
        }
        Err(e) => return Err(e.into()),
    };
    crate::events::group_created(&txn, &group).await?;
    audit::append(
        &txn,
        tenant,
        audit::Entry {
            actor_id: Some(auth.principal.subject),
            action: "group.created",
            target_type: "group",
            target_id: Some(group.id),
            data: json!({"name": group.name}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/groups/{}", group.id)))
        .json(out(&group, vec![])))
}

/// Read a group with its members.
///
/// The group's name, description and member user ids.
#[utoipa::path(
    tag = "groups",
    operation_id = "getGroup",
    params(("id" = Uuid, Path, description = "The group's id.")),
    responses((status = 200, description = "OK", body = GroupOut)),
    security(("bearer" = ["group:read"]))
)]
#[get("/groups/{id}")]
pub async fn get(
    state: web::Data<Identity>,
    auth: Auth<GroupRead>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let group = groups::find(&txn, tenant, *id)
        .await?
        .ok_or_else(|| ApiError::not_found("group"))?;
    let members = groups::members(&txn, tenant, group.id).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&group, members)))
}

async fn change_member(
    state: &Identity,
    auth: &Auth<GroupWrite>,
    group_id: Uuid,
    user_id: Uuid,
    add: bool,
) -> Result<HttpResponse, ApiError> {
    let tenant = auth.tenant_id();
    let txn = begin_scoped(&state.db, &[tenant]).await?;
    let group = groups::find(&txn, tenant, group_id)
        .await?
        .ok_or_else(|| ApiError::not_found("group"))?;
    users::find(&txn, tenant, UserId(user_id))
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let changed = if add {
        groups::add_member(&txn, tenant, group.id, UserId(user_id)).await?
    } else {
        groups::remove_member(&txn, tenant, group.id, UserId(user_id)).await?
    };
    if !add && !changed {
        return Err(ApiError::not_found("membership"));
    }
    let group = if changed {
        let group = groups::touch(&txn, group).await?;
        let members = groups::members(&txn, tenant, group.id).await?;
        crate::events::group_members_changed(&txn, &group, members).await?;
        group
    } else {
        group
    };
    if changed {
        audit::append(
            &txn,
            tenant,
            audit::Entry {
                actor_id: Some(auth.principal.subject),
                action: if add {
                    "group.member_added"
                } else {
                    "group.member_removed"
                },
                target_type: "group",
                target_id: Some(group.id),
                data: json!({"user_id": user_id}),
            },
        )
        .await?;
    }
    let members = groups::members(&txn, tenant, group.id).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(out(&group, members)))
}

/// Add a user to a group (idempotent).
///
/// The user must belong to the group's tenant; an unknown user and another tenant's get the same
/// 404.
#[utoipa::path(
    tag = "groups",
    operation_id = "addGroupMember",
    params(("id" = Uuid, Path, description = "The group's id."), ("user_id" = Uuid, Path, description = "The member's user id.")),
    responses((status = 200, description = "OK", body = GroupOut)),
    security(("bearer" = ["group:write"]))
)]
#[put("/groups/{id}/members/{user_id}")]
pub async fn add_member(
    state: web::Data<Identity>,
    auth: Auth<GroupWrite>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (group, user) = path.into_inner();
    change_member(&state, &auth, group, user, true).await
}

/// Remove a member from a group.
///
/// 404 `not_found` when the user is not a member.
#[utoipa::path(
    tag = "groups",
    operation_id = "removeGroupMember",
    params(("id" = Uuid, Path, description = "The group's id."), ("user_id" = Uuid, Path, description = "The member's user id.")),
    responses((status = 200, description = "OK", body = GroupOut)),
    security(("bearer" = ["group:write"]))
)]
#[delete("/groups/{id}/members/{user_id}")]
pub async fn remove_member(
    state: web::Data<Identity>,
    auth: Auth<GroupWrite>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (group, user) = path.into_inner();
    change_member(&state, &auth, group, user, false).await
}
