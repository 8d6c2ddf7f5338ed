//! Suggestion sessions, the articles viewed in them, the tickets users raised, and the
//! deflection figures counted from them.
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType},
};
use uuid::Uuid;

use super::{
    entities::{raised, suggestion_session as session, suggestion_view as view},
    json::{from_json, to_json},
};
use crate::domain::deflection::{self, Decision, Outcome};

pub type Session = session::Model;

impl Session {
    pub fn suggested(&self) -> Result<Vec<Uuid>, DbErr> {
        from_json(
            "knowledge_sessions",
            "article_ids",
            self.id,
            &self.article_ids,
        )
    }

    pub fn window(&self) -> Duration {
        Duration::minutes(i64::from(self.window_minutes))
    }

    /// The session as the deflection rules read it.
    pub fn facts(&self) -> deflection::Session {
        deflection::Session {
            first_viewed_at: self.first_viewed_at,
            solved: self.solved_article_id.zip(self.solved_at),
            last_viewed: self.last_viewed_article_id,
            window: self.window(),
        }
    }
}

pub struct NewSession {
    pub user_id: Uuid,
    pub context: String,
    pub text: String,
    pub article_ids: Vec<Uuid>,
}

pub async fn insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    new: NewSession,
    now: DateTime<Utc>,
) -> Result<Session, DbErr> {
    session::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.as_uuid()),
        user_id: Set(new.user_id),
        context: Set(new.context),
        text: Set(new.text),
        article_ids: Set(to_json(&new.article_ids)?),
        window_minutes: Set(deflection::WINDOW_MINUTES as i32),
        first_viewed_at: Set(None),
        last_viewed_article_id: Set(None),
        solved_article_id: Set(None),
        solved_at: Set(None),
        outcome: Set(Outcome::Pending),
        deflected_article_id: Set(None),
        decided_at: Set(None),
        created_at: Set(now),
    }
    .insert(txn)
    .await
}

/// `user`'s session `id` in `tenant` (someone else's is not found), locked for the change.
pub async fn lock_own(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    user: Uuid,
    id: Uuid,
) -> Result<Option<Session>, DbErr> {
    let q = session::Entity::find_by_id(id)
        .filter(session::Column::TenantId.eq(tenant.as_uuid()))
        .filter(session::Column::UserId.eq(user));
    if txn.get_database_backend() == DbBackend::Postgres {
        q.lock(LockType::Update).one(txn).await
    } else {
        q.one(txn).await
    }
}

/// Records that the session's user opened `article` (and whether it `solved` their problem).
pub async fn record_view(
    txn: &DatabaseTransaction,
    s: Session,
    article: Uuid,
    solved: bool,
    now: DateTime<Utc>,
) -> Result<Session, DbErr> {
    view::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(s.tenant_id),
        session_id: Set(s.id),
        article_id: Set(article),
        solved: Set(solved),
        at: Set(now),
    }
    .insert(txn)
    .await?;
    let mut am: session::ActiveModel = s.clone().into();
    if s.first_viewed_at.is_none() {
        am.first_viewed_at = Set(Some(now));
    }
    am.last_viewed_article_id = Set(Some(article));
    if solved && s.solved_at.is_none() {
        am.solved_article_id = Set(Some(article));
        am.solved_at = Set(Some(now));
    }
    am.update(txn).await
}

/// Records `decision` on the pending session `s` at `now`.
pub async fn decide(
    txn: &DatabaseTransaction,
    s: Session,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Result<Session, DbErr> {
    let mut am: session::ActiveModel = s.into();
    match decision {
        Decision::Pending => return am.update(txn).await,
        Decision::Raised => am.outcome = Set(Outcome::Raised),
        Decision::Deflected { article_id, .. } => {
            am.outcome = Set(Outcome::Deflected);
            am.deflected_article_id = Set(*article_id);
        }
    }
    am.decided_at = Set(Some(now));
    am.update(txn).await
}

/// Records that `user` raised a request or incident (`kind`, id `id`) at `at` (once per id),
/// and marks their pending sessions whose window it falls in as raised. A session linked to
/// the request (`suggestion_session_id`) is raised whatever its window.
pub async fn raised(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: Uuid,
    user: Uuid,
    kind: &str,
    at: DateTime<Utc>,
    linked: Option<Uuid>,
) -> Result<(), DbErr> {
    let row = raised::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.as_uuid()),
        user_id: Set(user),
        kind: Set(kind.to_string()),
        at: Set(at),
    };
    raised::Entity::insert(row)
        .on_conflict_do_nothing_on([raised::Column::Id])
        .exec(txn)
        .await?;
    let window = Duration::minutes(deflection::WINDOW_MINUTES);
    let in_window = session::Column::FirstViewedAt
        .lte(at)
        .and(session::Column::FirstViewedAt.gte(at - window));
    let which = match linked {
        Some(linked) => in_window.or(session::Column::Id.eq(linked)),
        None => in_window,
    };
    session::Entity::update_many()
        .col_expr(session::Column::Outcome, Expr::value(Outcome::Raised))
        .col_expr(session::Column::DecidedAt, Expr::value(at))
        .filter(session::Column::TenantId.eq(tenant.as_uuid()))
        .filter(session::Column::UserId.eq(user))
        .filter(session::Column::Outcome.eq(Outcome::Pending))
        .filter(session::Column::SolvedAt.is_null())
        .filter(which)
        .exec(txn)
        .await?;
    Ok(())
}

/// Pending sessions whose window closed by `now`, up to `limit`, claimed (`SKIP LOCKED`).
pub async fn claim_due(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Session>, DbErr> {
    let q = session::Entity::find()
        .filter(session::Column::Outcome.eq(Outcome::Pending))
        .filter(
            session::Column::FirstViewedAt.lte(now - Duration::minutes(deflection::WINDOW_MINUTES)),
        )
        .order_by_asc(session::Column::FirstViewedAt)
        .limit(limit);
    if txn.get_database_backend() == DbBackend::Postgres {
        q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(txn)
            .await
    } else {
        q.all(txn).await
    }
}

/// When `user` of `tenant` raised anything within `[from, to]`.
pub async fn raised_between(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    user: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, DbErr> {
    raised::Entity::find()
        .select_only()
        .column(raised::Column::At)
        .filter(raised::Column::TenantId.eq(tenant))
        .filter(raised::Column::UserId.eq(user))
        .filter(raised::Column::At.between(from, to))
        .into_tuple()
        .all(txn)
        .await
}

/// Deflection figures of the sessions a tenant started in `[from, to)`.
#[derive(Debug, Default)]
pub struct Figures {
    pub sessions: u64,
    pub viewed: u64,
    pub deflected: u64,
    pub raised: u64,
    /// Per article: views, `solved` marks, deflections credited.
    pub by_article: BTreeMap<Uuid, (u64, u64, u64)>,
}

pub async fn figures(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Figures, DbErr> {
    let in_range = session::Column::TenantId
        .eq(tenant.as_uuid())
        .and(session::Column::CreatedAt.gte(from))
        .and(session::Column::CreatedAt.lt(to));
    let mut f = Figures::default();
    let outcomes: Vec<(Outcome, bool, i64)> = session::Entity::find()
        .select_only()
        .column(session::Column::Outcome)
        .column_as(session::Column::FirstViewedAt.is_not_null(), "viewed")
        .column_as(session::Column::Id.count(), "n")
        .filter(in_range.clone())
        .group_by(session::Column::Outcome)
        .group_by(Expr::col(session::Column::FirstViewedAt).is_not_null())
        .into_tuple()
        .all(txn)
        .await?;
    for (outcome, viewed, n) in outcomes {
        let n = n as u64;
        f.sessions += n;
        if viewed {
            f.viewed += n;
        }
        match outcome {
            Outcome::Deflected => f.deflected += n,
            Outcome::Raised => f.raised += n,
            Outcome::Pending => {}
        }
    }
    let credited: Vec<(Option<Uuid>, i64)> = session::Entity::find()
        .select_only()
        .column(session::Column::DeflectedArticleId)
        .column_as(session::Column::Id.count(), "n")
        .filter(in_range)
        .filter(session::Column::Outcome.eq(Outcome::Deflected))
        .group_by(session::Column::DeflectedArticleId)
        .into_tuple()
        .all(txn)
        .await?;
    for (article, n) in credited {
        if let Some(article) = article {
            f.by_article.entry(article).or_default().2 += n as u64;
        }
    }
    let views: Vec<(Uuid, bool, i64)> = view::Entity::find()
        .select_only()
        .column(view::Column::ArticleId)
        .column(view::Column::Solved)
        .column_as(view::Column::Id.count(), "n")
        .filter(view::Column::TenantId.eq(tenant.as_uuid()))
        .filter(view::Column::At.gte(from))
        .filter(view::Column::At.lt(to))
        .group_by(view::Column::ArticleId)
        .group_by(view::Column::Solved)
        .into_tuple()
        .all(txn)
        .await?;
    for (article, solved, n) in views {
        let entry = f.by_article.entry(article).or_default();
        entry.0 += n as u64;
        if solved {
            entry.1 += n as u64;
        }
    }
    Ok(f)
}
