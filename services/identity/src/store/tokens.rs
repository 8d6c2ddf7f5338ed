//! Opaque tokens: one-time tokens (invitations, password resets) and refresh tokens, which
//! rotate on every use and revoke their whole family when a used one is presented again.
//!
//! A token is spent by compare-and-set in one statement (`UPDATE … WHERE used_at IS NULL …
//! RETURNING`), never read-check-write: of concurrent presentations exactly one updates the
//! row; the others find it spent once the winner commits (PostgreSQL re-checks the condition
//! on the row it waited for; SQLite has a single writer).
use chrono::{DateTime, Duration, Utc};
use platform::auth::UserId;
use platform::tenancy::TenantId;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait, Query},
};
use uuid::Uuid;

use super::entities::{one_time_token, refresh_token};
use crate::domain::token;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Invitation,
    PasswordReset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Invitation => "invitation",
            Purpose::PasswordReset => "reset",
        }
    }
    fn prefix(self) -> &'static str {
        match self {
            Purpose::Invitation => "inv_",
            Purpose::PasswordReset => "rst_",
        }
    }
}

/// Issues a one-time token; earlier unused tokens of the same purpose for the user lapse.
pub async fn issue_one_time(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    user: UserId,
    purpose: Purpose,
    ttl: Duration,
) -> Result<(String, DateTime<Utc>), DbErr> {
    let now = super::now();
    one_time_token::Entity::update_many()
        .col_expr(one_time_token::Column::UsedAt, Expr::value(now))
        .filter(one_time_token::Column::TenantId.eq(tenant))
        .filter(one_time_token::Column::UserId.eq(user))
        .filter(one_time_token::Column::Purpose.eq(purpose.as_str()))
        .filter(one_time_token::Column::UsedAt.is_null())
        .exec(txn)
        .await?;
    let secret = token::generate(purpose.prefix());
    let expires_at = now + ttl;
    one_time_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.into()),
        user_id: Set(user.into()),
        purpose: Set(purpose.as_str().to_string()),
        token_hash: Set(token::digest(&secret)),
        expires_at: Set(expires_at),
        used_at: Set(None),
        created_at: Set(now),
    }
    .insert(txn)
    .await?;
    Ok((secret, expires_at))
}

/// Marks the token used and returns it, if it is unused, unexpired and of `purpose` — in one
/// statement, so of concurrent uses exactly one gets it. The transaction must be a
/// `LookupKey::TokenHash` one for the token's hash.
pub async fn consume_one_time(
    txn: &DatabaseTransaction,
    secret: &str,
    purpose: Purpose,
) -> Result<Option<one_time_token::Model>, DbErr> {
    let now = super::now();
    let spend = one_time_token::Entity::update_many()
        .col_expr(one_time_token::Column::UsedAt, Expr::value(now))
        .filter(one_time_token::Column::TokenHash.eq(token::digest(secret)))
        .filter(one_time_token::Column::Purpose.eq(purpose.as_str()))
        .filter(one_time_token::Column::UsedAt.is_null())
        .filter(one_time_token::Column::ExpiresAt.gt(now));
    Ok(super::update_returning(txn, spend)
        .await?
        .into_iter()
        .next())
}

/// Issues a refresh token in `family` (a new family at login).
pub async fn issue_refresh(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    user: UserId,
    family: Uuid,
    ttl: Duration,
) -> Result<String, DbErr> {
    let secret = token::generate("rt_");
    let now = super::now();
    refresh_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.into()),
        family_id: Set(family),
        user_id: Set(user.into()),
        token_hash: Set(token::digest(&secret)),
        expires_at: Set(now + ttl),
        used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(now),
    }
    .insert(txn)
    .await?;
    Ok(secret)
}

/// What presenting a refresh token amounts to.
pub enum Presented {
    /// Unknown, expired or revoked.
    Invalid,
    /// Already used: someone replayed it. The family has been revoked.
    Reused(refresh_token::Model),
    /// Valid; now marked used. The caller issues its successor in the same family.
    Valid(refresh_token::Model),
}

/// Looks up and consumes a refresh token (a `LookupKey::TokenHash` transaction). The token is
/// marked used by compare-and-set: a presentation that loses the race to a concurrent one is
/// a reuse like any other, and revokes the family (including the winner's successor).
pub async fn present_refresh(txn: &DatabaseTransaction, secret: &str) -> Result<Presented, DbErr> {
    let found = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(token::digest(secret)))
        .one(txn)
        .await?;
    let now = super::now();
    let Some(t) = found else {
        return Ok(Presented::Invalid);
    };
    platform::tenancy::scope_to(txn, &[TenantId(t.tenant_id)]).await?;
    if t.revoked_at.is_some() || t.expires_at <= now {
        return Ok(Presented::Invalid);
    }
    let spent = if t.used_at.is_none() {
        // A family a reuse revoked stays revoked: a successor issued in the instant the
        // revocation ran (a new row its statement could not see) is refused on its first use.
        let revoked_member = Query::select()
            .expr(Expr::val(1))
            .from(refresh_token::Entity)
            .and_where(refresh_token::Column::TenantId.eq(t.tenant_id))
            .and_where(refresh_token::Column::FamilyId.eq(t.family_id))
            .and_where(refresh_token::Column::RevokedAt.is_not_null())
            .to_owned();
        let spend = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
            .filter(refresh_token::Column::TenantId.eq(t.tenant_id))
            .filter(refresh_token::Column::Id.eq(t.id))
            .filter(refresh_token::Column::UsedAt.is_null())
            .filter(refresh_token::Column::RevokedAt.is_null())
            .filter(Expr::exists(revoked_member).not());
        super::update_returning(txn, spend)
            .await?
            .into_iter()
            .next()
    } else {
        None
    };
    match spent {
        Some(t) => Ok(Presented::Valid(t)),
        None => {
            revoke_family(txn, TenantId(t.tenant_id), t.family_id).await?;
            Ok(Presented::Reused(t))
        }
    }
}

pub async fn revoke_family(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    family: Uuid,
) -> Result<u64, DbErr> {
    let res = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(super::now()))
        .filter(refresh_token::Column::TenantId.eq(tenant))
        .filter(refresh_token::Column::FamilyId.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    Ok(res.rows_affected)
}

/// Revokes every refresh token of a user (deactivation, password change).
pub async fn revoke_user(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    user: UserId,
) -> Result<u64, DbErr> {
    let res = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(super::now()))
        .filter(refresh_token::Column::TenantId.eq(tenant))
        .filter(refresh_token::Column::UserId.eq(user))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    Ok(res.rows_affected)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectOptions, Database, DatabaseConnection, TransactionTrait};
    use sea_orm_migration::MigratorTrait;

    use super::*;

    /// An embedded-mode (SQLite) database with one tenant and one user.
    async fn sqlite_with_user() -> Result<(DatabaseConnection, TenantId, Uuid), DbErr> {
        let mut opt = ConnectOptions::new("sqlite::memory:");
        opt.max_connections(1)
            .min_connections(1)
            .sqlx_logging(false);
        let db = Database::connect(opt).await?;
        crate::migration::Migrator::up(&db, None).await?;
        let txn = db.begin().await?;
        let tenant = TenantId(Uuid::now_v7());
        crate::store::tenants::insert_root(&txn, tenant.as_uuid(), "Root", "root").await?;
        let user = crate::store::users::insert_invited(&txn, tenant, "u@example.test", "U").await?;
        txn.commit().await?;
        Ok((db, tenant, user.id))
    }

    #[tokio::test]
    async fn on_sqlite_a_one_time_token_is_spent_once() -> Result<(), DbErr> {
        let (db, tenant, user) = sqlite_with_user().await?;
        let txn = db.begin().await?;
        let (secret, _) = issue_one_time(
            &txn,
            tenant,
            UserId(user),
            Purpose::PasswordReset,
            Duration::hours(1),
        )
        .await?;
        let first = consume_one_time(&txn, &secret, Purpose::PasswordReset).await?;
        assert_eq!(
            first.map(|t| (t.user_id, t.used_at.is_some())),
            Some((user, true))
        );
        assert!(
            consume_one_time(&txn, &secret, Purpose::PasswordReset)
                .await?
                .is_none()
        );
        txn.commit().await
    }

    #[tokio::test]
    async fn on_sqlite_a_refresh_token_presented_twice_revokes_its_family() -> Result<(), DbErr> {
        let (db, tenant, user) = sqlite_with_user().await?;
        let txn = db.begin().await?;
        let family = Uuid::now_v7();
        let first = issue_refresh(&txn, tenant, UserId(user), family, Duration::hours(1)).await?;
        let Presented::Valid(used) = present_refresh(&txn, &first).await? else {
            panic!("a fresh token is valid");
        };
        let successor = issue_refresh(
            &txn,
            tenant,
            UserId(user),
            used.family_id,
            Duration::hours(1),
        )
        .await?;
        assert!(matches!(
            present_refresh(&txn, &first).await?,
            Presented::Reused(_)
        ));
        assert!(matches!(
            present_refresh(&txn, &successor).await?,
            Presented::Invalid
        ));
        txn.commit().await
    }

    #[tokio::test]
    async fn a_successor_issued_while_its_family_was_revoked_is_refused() -> Result<(), DbErr> {
        let (db, tenant, user) = sqlite_with_user().await?;
        let txn = db.begin().await?;
        let family = Uuid::now_v7();
        let first = issue_refresh(&txn, tenant, UserId(user), family, Duration::hours(1)).await?;
        assert!(matches!(
            present_refresh(&txn, &first).await?,
            Presented::Valid(_)
        ));
        // The reuse's revocation ran; a concurrent refresh then committed its successor.
        revoke_family(&txn, tenant, family).await?;
        let escaped = issue_refresh(&txn, tenant, UserId(user), family, Duration::hours(1)).await?;
        assert!(matches!(
            present_refresh(&txn, &escaped).await?,
            Presented::Reused(_)
        ));
        assert!(matches!(
            present_refresh(&txn, &escaped).await?,
            Presented::Invalid
        ));
        txn.commit().await
    }
}
