//! Approval policies, a change's approval rounds and their votes.
use chrono::{DateTime, Utc};
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};
use uuid::Uuid;

use super::entities::{approval_policy, approval_round, delegation, vote};
use crate::domain::{
    cab::{Decision, Outcome, Stage},
    lifecycle::ChangeType,
    risk::Risk,
};

pub use approval_policy::Model as Policy;
pub use approval_round::Model as Round;
pub use vote::Model as Vote;

impl Policy {
    pub fn change_types(&self) -> Vec<ChangeType> {
        serde_json::from_value(self.change_types.clone()).unwrap_or_default()
    }

    pub fn risks(&self) -> Vec<Risk> {
        serde_json::from_value(self.risks.clone()).unwrap_or_default()
    }

    pub fn stages(&self) -> Vec<Stage> {
        serde_json::from_value(self.stages.clone()).unwrap_or_default()
    }

    /// Whether it decides changes of type `t` at `risk`.
    pub fn applies(&self, t: ChangeType, risk: Risk) -> bool {
        let risks = self.risks();
        self.change_types().contains(&t) && (risks.is_empty() || risks.contains(&risk))
    }
}

impl Round {
    pub fn stages(&self) -> Vec<Stage> {
        serde_json::from_value(self.stages.clone()).unwrap_or_default()
    }
}

impl Vote {
    pub fn decision(&self) -> Decision {
        Decision::parse(&self.decision).unwrap_or(Decision::Abstain)
    }
}

/// A policy as written.
pub struct NewPolicy {
    pub name: String,
    pub change_types: Vec<ChangeType>,
    pub risks: Vec<Risk>,
    pub priority: i32,
    pub stages: Vec<Stage>,
}

pub async fn insert_policy(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    new: NewPolicy,
) -> Result<Policy, DbErr> {
    let mut am = approval_policy::ActiveModel::new();
    am.tenant_id = Set(tenant.as_uuid());
    write(&mut am, new);
    am.insert(txn).await
}

pub async fn replace_policy(
    txn: &DatabaseTransaction,
    p: Policy,
    new: NewPolicy,
) -> Result<Policy, DbErr> {
    let mut am: approval_policy::ActiveModel = p.into();
    write(&mut am, new);
    am.update(txn).await
}

fn write(am: &mut approval_policy::ActiveModel, new: NewPolicy) {
    am.name = Set(new.name);
    am.change_types = Set(serde_json::json!(new.change_types));
    am.risks = Set(serde_json::json!(new.risks));
    am.priority = Set(new.priority);
    am.stages = Set(serde_json::json!(new.stages));
}

/// Policies of `lineage` (the tenant and its providers), by priority.
pub async fn policies(
    txn: &DatabaseTransaction,
    lineage: &[TenantId],
    after: Option<Uuid>,
    limit: impl Into<Option<u64>>,
) -> Result<Vec<Policy>, DbErr> {
    let mut q = approval_policy::Entity::find()
        .filter(approval_policy::Column::TenantId.is_in(lineage.iter().map(|t| t.as_uuid())));
    if let Some(after) = after {
        q = q.filter(approval_policy::Column::Id.gt(after));
    }
    q.order_by_asc(approval_policy::Column::Id)
        .limit(limit.into())
        .all(txn)
        .await
}

pub async fn find_policy(
    txn: &DatabaseTransaction,
    lineage: &[TenantId],
    id: Uuid,
) -> Result<Option<Policy>, DbErr> {
    approval_policy::Entity::find_by_id(id)
        .filter(approval_policy::Column::TenantId.is_in(lineage.iter().map(|t| t.as_uuid())))
        .one(txn)
        .await
}

pub async fn delete_policy(txn: &DatabaseTransaction, p: Policy) -> Result<(), DbErr> {
    approval_policy::Entity::delete_by_id(p.id)
        .exec(txn)
        .await?;
    Ok(())
}

/// Starts round `round` of change `change` under `policy`.
pub async fn start_round(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    change: Uuid,
    round: i32,
    policy: &Policy,
) -> Result<Round, DbErr> {
    approval_round::ActiveModel {
        change_id: Set(change),
        round: Set(round),
        tenant_id: Set(tenant.as_uuid()),
        policy_id: Set(policy.id),
        policy_name: Set(policy.name.clone()),
        stages: Set(policy.stages.clone()),
        state: Set(Outcome::Pending.as_str().into()),
        started_at: Set(platform::record::now()),
        decided_at: Set(None),
    }
    .insert(txn)
    .await
}

/// The change's rounds, first first.
pub async fn rounds(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    change: Uuid,
) -> Result<Vec<Round>, DbErr> {
    approval_round::Entity::find()
        .filter(approval_round::Column::TenantId.eq(tenant.as_uuid()))
        .filter(approval_round::Column::ChangeId.eq(change))
        .order_by_asc(approval_round::Column::Round)
        .all(txn)
        .await
}

pub async fn round(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    change: Uuid,
    round: i32,
) -> Result<Option<Round>, DbErr> {
    approval_round::Entity::find_by_id((change, round))
        .filter(approval_round::Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
}

pub async fn decide_round(
    txn: &DatabaseTransaction,
    r: Round,
    outcome: Outcome,
) -> Result<Round, DbErr> {
    let mut am: approval_round::ActiveModel = r.into();
    am.state = Set(outcome.as_str().into());
    am.decided_at = Set(Some(platform::record::now()));
    am.update(txn).await
}

/// The votes of a change's round, oldest first.
pub async fn votes(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    change: Uuid,
    round: i32,
) -> Result<Vec<Vote>, DbErr> {
    vote::Entity::find()
        .filter(vote::Column::TenantId.eq(tenant.as_uuid()))
        .filter(vote::Column::ChangeId.eq(change))
        .filter(vote::Column::Round.eq(round))
        .order_by_asc(vote::Column::CastAt)
        .order_by_asc(vote::Column::Id)
        .all(txn)
        .await
}

/// A vote as cast.
pub struct NewVote {
    pub change: Uuid,
    pub round: i32,
    pub stage: i32,
    pub voter: Uuid,
    pub on_behalf_of: Option<Uuid>,
    pub decision: Decision,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// Appends a vote; `None` when this voter already voted in this stage and round.
pub async fn cast(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    v: NewVote,
) -> Result<Option<Vote>, DbErr> {
    let am = vote::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.as_uuid()),
        change_id: Set(v.change),
        round: Set(v.round),
        stage: Set(v.stage),
        voter_id: Set(v.voter),
        on_behalf_of: Set(v.on_behalf_of),
        decision: Set(v.decision.as_str().into()),
        reason: Set(v.reason),
        cast_at: Set(v.at),
    };
    match am.insert(txn).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The tenant's pending rounds, oldest first.
pub async fn pending_rounds(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    limit: u64,
) -> Result<Vec<Round>, DbErr> {
    approval_round::Entity::find()
        .filter(approval_round::Column::TenantId.eq(tenant.as_uuid()))
        .filter(approval_round::Column::State.eq(Outcome::Pending.as_str()))
        .order_by_asc(approval_round::Column::StartedAt)
        .limit(limit)
        .all(txn)
        .await
}

/// The stages `voter` voted in (or had a delegate vote in for them), per (change, round) of
/// `rounds`.
pub async fn voted_in(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    voter: platform::auth::UserId,
    rounds: &[Round],
) -> Result<std::collections::HashMap<(Uuid, i32), Vec<i32>>, DbErr> {
    let mut out: std::collections::HashMap<(Uuid, i32), Vec<i32>> = Default::default();
    let changes: Vec<Uuid> = rounds.iter().map(|r| r.change_id).collect();
    for chunk in changes.chunks(500) {
        let rows = vote::Entity::find()
            .filter(vote::Column::TenantId.eq(tenant.as_uuid()))
            .filter(
                // Votes in the voter's place: their own, and their delegates' for them.
                sea_orm::Condition::any()
                    .add(
                        sea_orm::Condition::all()
                            .add(vote::Column::VoterId.eq(voter.as_uuid()))
                            .add(vote::Column::OnBehalfOf.is_null()),
                    )
                    .add(vote::Column::OnBehalfOf.eq(voter.as_uuid())),
            )
            .filter(vote::Column::ChangeId.is_in(chunk.to_vec()))
            .all(txn)
            .await?;
        for v in rows {
            out.entry((v.change_id, v.round)).or_default().push(v.stage);
        }
    }
    Ok(out)
}

/// Records a delegation the catalogue announced (again: nothing changes).
pub async fn delegation_given(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    d: &::events::catalogue::ApprovalDelegationCreated,
) -> Result<(), DbErr> {
    let row = delegation::ActiveModel {
        id: Set(d.delegation_id),
        tenant_id: Set(tenant.as_uuid()),
        delegator_id: Set(d.delegator_id),
        delegate_id: Set(d.delegate_id),
        starts_at: Set(d.starts_at),
        ends_at: Set(d.ends_at),
    };
    delegation::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(delegation::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// Ends a delegation the catalogue announced withdrawn; an earlier end stands.
pub async fn delegation_revoked(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    d: &::events::catalogue::ApprovalDelegationRevoked,
) -> Result<(), DbErr> {
    delegation::Entity::update_many()
        .col_expr(
            delegation::Column::EndsAt,
            sea_orm::sea_query::Expr::value(d.ends_at),
        )
        .filter(delegation::Column::Id.eq(d.delegation_id))
        .filter(delegation::Column::TenantId.eq(tenant.as_uuid()))
        .filter(delegation::Column::EndsAt.gt(d.ends_at))
        .exec(txn)
        .await?;
    Ok(())
}

/// Whether `delegator` has let `delegate` decide for them at `at` (one level: a delegation to
/// the delegator does not pass on). Read across the transaction's tenants, as a provider's
/// CAB member may stand in for another.
pub async fn delegated(
    txn: &DatabaseTransaction,
    delegator: Uuid,
    delegate: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(delegation::Entity::find()
        .filter(delegation::Column::DelegatorId.eq(delegator))
        .filter(delegation::Column::DelegateId.eq(delegate))
        .filter(delegation::Column::StartsAt.lte(at))
        .filter(delegation::Column::EndsAt.gt(at))
        .one(txn)
        .await?
        .is_some())
}
