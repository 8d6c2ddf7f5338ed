//! Requests and their items (RITMs).
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
    sea_query::{LockBehavior, LockType},
};
use serde_json::Value;
use uuid::Uuid;

use super::{
    entities::{request, request_item},
    json::{from_json, from_json_opt, to_json, to_json_opt},
};
use crate::domain::{
    item::{ApprovalPolicy, FulfilmentPlan},
    request::{ApprovalState, RitmState},
};

pub type Request = request::Model;
pub type RequestItem = request_item::Model;

/// A request item about to be recorded: what was ordered, pinned as it was at submission.
pub struct NewRequestItem {
    pub number: String,
    pub item_id: Uuid,
    pub item_tenant_id: Uuid,
    pub item_version: i64,
    pub service_id: Uuid,
    pub name: String,
    pub quantity: i32,
    pub variables: Value,
    pub approval_policy: Option<ApprovalPolicy>,
    pub fulfilment_plan: FulfilmentPlan,
    pub price_amount: Option<String>,
    pub currency: Option<String>,
    pub state: RitmState,
    pub approval_state: ApprovalState,
}

impl request_item::Model {
    pub fn approval_policy(&self) -> Result<Option<ApprovalPolicy>, DbErr> {
        from_json_opt(
            "request_items",
            "approval_policy",
            self.id,
            self.approval_policy.as_ref(),
        )
    }
    pub fn fulfilment_plan(&self) -> Result<FulfilmentPlan, DbErr> {
        from_json(
            "request_items",
            "fulfilment_plan",
            self.id,
            &self.fulfilment_plan,
        )
    }
}

pub async fn insert_request(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    number: String,
    requester: Uuid,
    suggestion_session: Option<Uuid>,
) -> Result<Request, DbErr> {
    request::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        number: Set(number),
        requester_id: Set(requester),
        state: Set("open".into()),
        suggestion_session_id: Set(suggestion_session),
        ..request::ActiveModel::new()
    }
    .insert(txn)
    .await
}

pub async fn insert_item(
    txn: &DatabaseTransaction,
    r: &Request,
    new: NewRequestItem,
) -> Result<RequestItem, DbErr> {
    request_item::ActiveModel {
        tenant_id: Set(r.tenant_id),
        request_id: Set(r.id),
        number: Set(new.number),
        requester_id: Set(r.requester_id),
        item_id: Set(new.item_id),
        item_tenant_id: Set(new.item_tenant_id),
        item_version: Set(new.item_version),
        service_id: Set(new.service_id),
        name: Set(new.name),
        quantity: Set(new.quantity),
        variables: Set(new.variables),
        approval_policy: Set(to_json_opt(new.approval_policy.as_ref())?),
        fulfilment_plan: Set(to_json(&new.fulfilment_plan)?),
        price_amount: Set(new.price_amount),
        currency: Set(new.currency),
        state: Set(new.state),
        approval_state: Set(new.approval_state),
        approval_step: Set(0),
        fulfilment_stage: Set(0),
        close_reason: Set(None),
        ..request_item::ActiveModel::new()
    }
    .insert(txn)
    .await
}

pub async fn find(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Request>, DbErr> {
    request::Entity::find_by_id(id)
        .filter(request::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

/// Up to `limit` requests of `tenant` after `after` (in id order), optionally one requester's.
pub async fn list(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    requester: Option<Uuid>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Request>, DbErr> {
    let mut q = request::Entity::find().filter(request::Column::TenantId.eq(tenant.as_uuid()));
    if let Some(requester) = requester {
        q = q.filter(request::Column::RequesterId.eq(requester));
    }
    if let Some(after) = after {
        q = q.filter(request::Column::Id.gt(after));
    }
    q.order_by_asc(request::Column::Id)
        .limit(limit)
        .all(txn)
        .await
}

pub async fn items_of(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    requests: &[Uuid],
) -> Result<Vec<RequestItem>, DbErr> {
    request_item::Entity::find()
        .filter(request_item::Column::TenantId.eq(tenant.as_uuid()))
        .filter(request_item::Column::RequestId.is_in(requests.iter().copied()))
        .order_by_asc(request_item::Column::Id)
        .all(txn)
        .await
}

/// How [`lock_item`] treats an item another transaction holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// Wait for it (a decision or a task move).
    Wait,
    /// Pass it over: `None` (a worker, which comes back on its next tick).
    Skip,
}

/// The request item `id`, locked for the rest of the transaction: its approvals and tasks move
/// it one decision at a time, however many approvers vote at once. (SQLite has one writer and
/// no row locks.)
pub async fn lock_item(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
    busy: Busy,
) -> Result<Option<RequestItem>, DbErr> {
    let q = request_item::Entity::find_by_id(id)
        .filter(request_item::Column::TenantId.eq(tenant.as_uuid()));
    if txn.get_database_backend() != sea_orm::DbBackend::Postgres {
        return q.one(txn).await;
    }
    match busy {
        Busy::Wait => q.lock(LockType::Update).one(txn).await,
        Busy::Skip => {
            q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .one(txn)
                .await
        }
    }
}

pub async fn find_item(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<RequestItem>, DbErr> {
    request_item::Entity::find_by_id(id)
        .filter(request_item::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

/// What a request item's move changes.
pub struct ItemMove {
    pub state: RitmState,
    pub approval_state: ApprovalState,
    pub approval_step: i32,
    pub fulfilment_stage: i32,
    pub close_reason: Option<String>,
}

pub async fn move_item(
    txn: &DatabaseTransaction,
    i: RequestItem,
    to: ItemMove,
) -> Result<RequestItem, DbErr> {
    let mut am: request_item::ActiveModel = i.into();
    am.state = Set(to.state);
    am.approval_state = Set(to.approval_state);
    am.approval_step = Set(to.approval_step);
    am.fulfilment_stage = Set(to.fulfilment_stage);
    am.close_reason = Set(to.close_reason);
    am.update(txn).await
}

pub async fn close_request(txn: &DatabaseTransaction, r: Request) -> Result<Request, DbErr> {
    let mut am: request::ActiveModel = r.into();
    am.state = Set("closed".into());
    am.update(txn).await
}

/// How many request items of `service` (in the tenants the transaction sees) are still open.
pub async fn open_items_of_service(
    txn: &DatabaseTransaction,
    tenants: &[TenantId],
    service: Uuid,
) -> Result<u64, DbErr> {
    request_item::Entity::find()
        .filter(request_item::Column::TenantId.is_in(tenants.iter().map(|t| t.as_uuid())))
        .filter(request_item::Column::ServiceId.eq(service))
        .filter(request_item::Column::State.is_not_in([
            RitmState::Fulfilled,
            RitmState::Rejected,
            RitmState::Canceled,
        ]))
        .count(txn)
        .await
}

/// Records a request item's SLA standing as the incident service announced it (`version`:
/// the announcement's); an older announcement than the one recorded changes nothing. The
/// standing is derived, so the item's own version stays.
pub async fn record_sla(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    sla: &events::incident::RequestItemSlaChanged,
    version: i64,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    request_item::Entity::update_many()
        .col_expr(
            request_item::Column::SlaState,
            Expr::value(sla.sla_state.clone()),
        )
        .col_expr(request_item::Column::SlaDueAt, Expr::value(sla.sla_due_at))
        .col_expr(request_item::Column::SlaVersion, Expr::value(version))
        .filter(request_item::Column::Id.eq(sla.request_item_id))
        .filter(request_item::Column::TenantId.eq(tenant.as_uuid()))
        .filter(request_item::Column::SlaVersion.lt(version))
        .exec(txn)
        .await?;
    Ok(())
}
