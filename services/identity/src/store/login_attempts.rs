//! Login attempts per (account, client address): a budget of password verifications that is
//! spent by compare-and-set before each verification, so however many requests arrive at once
//! no more than `FREE_ATTEMPTS` verifications run before the back-off applies. Keyed on the
//! address as well as the email, so a stranger elsewhere cannot lock an administrator out, and
//! on the email as typed (not the user), so an unknown address answers exactly like a known
//! one. Not tenant data: this runs before anyone is authenticated, and rows hold no tenant.
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, Value};

use crate::domain::lockout::{FREE_ATTEMPTS, lock_after};

/// A row untouched this long starts over (a full budget, no failures).
const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Whether a verification may run now.
pub enum Claim {
    Granted,
    /// The budget is spent: wait this long.
    Refused(Duration),
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn statement(db: &DatabaseConnection, sql: &str, values: Vec<Value>) -> Statement {
    let backend = db.get_database_backend();
    // `$n` for PostgreSQL, `?n` (the same numbered parameters) for SQLite.
    let sql = match backend {
        DbBackend::Sqlite => sql.replace('$', "?"),
        _ => sql.to_string(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// Spends one verification of `(email, address)`'s budget, atomically.
pub async fn claim(
    db: &DatabaseConnection,
    email: &str,
    address: &str,
    now: DateTime<Utc>,
) -> Result<Claim, DbErr> {
    let now_ms = ms(now);
    let stale = now_ms - FORGET_AFTER.as_millis() as i64;
    let fresh_budget = i64::from(FREE_ATTEMPTS) - 1;
    // The upsert's WHERE makes a refused claim change nothing and return no row.
    let granted = db
        .query_one_raw(statement(
            db,
            "INSERT INTO login_attempts (email, client_addr, budget, failures, locked_until_ms, updated_at_ms) \
             VALUES ($1, $2, $3, 0, NULL, $4) \
             ON CONFLICT (email, client_addr) DO UPDATE SET \
               budget = CASE WHEN login_attempts.updated_at_ms < $5 THEN $3 ELSE login_attempts.budget - 1 END, \
               failures = CASE WHEN login_attempts.updated_at_ms < $5 THEN 0 ELSE login_attempts.failures END, \
               locked_until_ms = CASE WHEN login_attempts.updated_at_ms < $5 THEN NULL ELSE login_attempts.locked_until_ms END, \
               updated_at_ms = $4 \
             WHERE login_attempts.updated_at_ms < $5 \
                OR (login_attempts.budget > 0 AND (login_attempts.locked_until_ms IS NULL OR login_attempts.locked_until_ms <= $4)) \
             RETURNING budget",
            vec![
                email.into(),
                address.into(),
                fresh_budget.into(),
                now_ms.into(),
                stale.into(),
            ],
        ))
        .await?;
    if granted.is_some() {
        return Ok(Claim::Granted);
    }
    let row = db
        .query_one_raw(statement(
            db,
            "SELECT locked_until_ms FROM login_attempts WHERE email = $1 AND client_addr = $2",
            vec![email.into(), address.into()],
        ))
        .await?;
    let until: Option<i64> = match row {
        Some(r) => r.try_get("", "locked_until_ms")?,
        None => None,
    };
    let wait = until.map_or(1, |u| (u - now_ms).max(1000));
    Ok(Claim::Refused(Duration::from_millis(wait as u64)))
}

/// Records a failed verification: after `FREE_ATTEMPTS` consecutive failures the pair is locked
/// for a period that doubles with each further failure, and then allowed one verification.
/// Returns the consecutive failures and the lock, if one started.
pub async fn failed(
    db: &DatabaseConnection,
    email: &str,
    address: &str,
    now: DateTime<Utc>,
) -> Result<(u32, Option<Duration>), DbErr> {
    let row = db
        .query_one_raw(statement(
            db,
            "UPDATE login_attempts SET failures = failures + 1, updated_at_ms = $3 \
             WHERE email = $1 AND client_addr = $2 RETURNING failures",
            vec![email.into(), address.into(), ms(now).into()],
        ))
        .await?;
    let failures: i64 = match row {
        Some(r) => r.try_get("", "failures")?,
        None => 0,
    };
    let failures = u32::try_from(failures).unwrap_or(u32::MAX);
    let lock = lock_after(failures);
    if let Some(lock) = lock {
        let until = ms(now) + lock.as_millis() as i64;
        db.execute_raw(statement(
            db,
            "UPDATE login_attempts SET budget = 1, \
               locked_until_ms = CASE WHEN locked_until_ms > $3 THEN locked_until_ms ELSE $3 END \
             WHERE email = $1 AND client_addr = $2",
            vec![email.into(), address.into(), until.into()],
        ))
        .await?;
    }
    Ok((failures, lock))
}

/// A successful login starts the pair over.
pub async fn succeeded(db: &DatabaseConnection, email: &str, address: &str) -> Result<(), DbErr> {
    db.execute_raw(statement(
        db,
        "DELETE FROM login_attempts WHERE email = $1 AND client_addr = $2",
        vec![email.into(), address.into()],
    ))
    .await?;
    Ok(())
}
