//! Migrations 8 and 9 (ADR 45): the counts and histogram buckets kept one row each before them
//! become one row per tenant and day (part 0 of its parts), on PostgreSQL (as the owner, under
//! forced row-level security) and on SQLite.
#![allow(clippy::expect_used)]
use std::collections::BTreeMap;

use analytics::{
    domain::{figures::Metric, summary::Totals},
    migration::Migrator,
};
use platform::db::{Target, connect_owner};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;

/// Two tenants' rows as migration 7 left them: counts (one summing to nothing) and buckets.
fn old_rows(a: Uuid, b: Uuid) -> String {
    format!(
        "INSERT INTO analytics_daily (tenant_id, metric, day, value) VALUES \
           ('{a}', 'incidents_created', '2026-12-01', 3), \
           ('{a}', 'incidents_resolved', '2026-12-01', 0), \
           ('{a}', 'incidents_created', '2026-12-02', 1), \
           ('{b}', 'changes_closed', '2026-12-01', 2); \
         INSERT INTO analytics_histograms (tenant_id, metric, day, bucket, count) VALUES \
           ('{a}', 'mttr_seconds', '2026-12-01', 120, 2), \
           ('{a}', 'mttr_seconds', '2026-12-01', 121, 0), \
           ('{a}', 'mtta_seconds', '2026-12-03', -2147483648, 1)"
    )
}

/// Each (tenant, day) row's figures after the migration.
async fn day_rows(
    db: &impl ConnectionTrait,
    tenant_text: &str,
) -> BTreeMap<(String, String), Totals> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT {tenant_text} AS tenant, CAST(day AS TEXT) AS day, figures \
                 FROM analytics_day_parts WHERE part = 0"
            ),
        ))
        .await
        .expect("day rows");
    rows.iter()
        .map(|r| {
            let tenant: String = r.try_get("", "tenant").expect("tenant");
            let day: String = r.try_get("", "day").expect("day");
            let figures: String = r.try_get("", "figures").expect("figures");
            let totals = serde_json::from_str(&figures).expect("figures are Totals");
            ((tenant, day), totals)
        })
        .collect()
}

fn expected(a: Uuid, b: Uuid) -> BTreeMap<(String, String), Totals> {
    let day = |t: Uuid, d: &str| (t.to_string(), d.to_owned());
    let mut first = Totals::default();
    first.add_count(Metric::IncidentsCreated, 3);
    first.add_sample(Metric::MttrSeconds, 120, 2);
    let mut second = Totals::default();
    second.add_count(Metric::IncidentsCreated, 1);
    let mut third = Totals::default();
    third.add_sample(Metric::MttaSeconds, i32::MIN, 1);
    let mut other = Totals::default();
    other.add_count(Metric::ChangesClosed, 2);
    BTreeMap::from([
        (day(a, "2026-12-01"), first),
        (day(a, "2026-12-02"), second),
        (day(a, "2026-12-03"), third),
        (day(b, "2026-12-01"), other),
    ])
}

async fn old_tables_gone(db: &DatabaseConnection) -> bool {
    for table in [
        "analytics_daily",
        "analytics_histograms_shadow",
        "analytics_days",
        "analytics_days_shadow",
    ] {
        let probe = format!("SELECT 1 FROM {table}");
        if db.execute_unprepared(&probe).await.is_ok() {
            return false;
        }
    }
    true
}

#[tokio::test]
async fn postgres_rows_become_day_rows_under_forced_row_security() {
    let Some(admin) = testkit::postgres_admin().await else {
        return;
    };
    let (_, app_url, owner_url) = testkit::fresh_database(&admin).await;
    let target = Target::Postgres {
        app_url,
        owner_url: Some(owner_url),
    };
    let owner = connect_owner(&target, "analytics").await.expect("owner");
    Migrator::up(&owner, Some(7))
        .await
        .expect("migrations 1 to 7");
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    // The owner too writes only inside a scope: the policies are forced.
    let txn = owner.begin().await.expect("begin");
    txn.execute_unprepared(&format!(
        "SELECT set_config('app.tenant_ids', '{a},{b}', true)"
    ))
    .await
    .expect("scope");
    txn.execute_unprepared(&old_rows(a, b))
        .await
        .expect("old rows");
    txn.commit().await.expect("commit");

    Migrator::up(&owner, None)
        .await
        .expect("migrations 8 and 9");

    let txn = owner.begin().await.expect("begin");
    let unscoped = day_rows(&txn, "CAST(tenant_id AS TEXT)").await;
    assert!(unscoped.is_empty(), "the policies are forced again");
    txn.execute_unprepared(&format!(
        "SELECT set_config('app.tenant_ids', '{a},{b}', true)"
    ))
    .await
    .expect("scope");
    assert_eq!(
        day_rows(&txn, "CAST(tenant_id AS TEXT)").await,
        expected(a, b)
    );
    txn.commit().await.expect("commit");
    assert!(old_tables_gone(&owner).await);
}

#[tokio::test]
async fn sqlite_rows_become_day_rows() {
    let target = Target::Sqlite {
        url: "sqlite::memory:".into(),
    };
    let db = connect_owner(&target, "analytics").await.expect("sqlite");
    Migrator::up(&db, Some(7)).await.expect("migrations 1 to 7");
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    for statement in old_rows(a, b).split("; ") {
        db.execute_unprepared(statement).await.expect("old rows");
    }
    Migrator::up(&db, None).await.expect("migrations 8 and 9");
    assert_eq!(day_rows(&db, "tenant_id").await, expected(a, b));
    assert!(old_tables_gone(&db).await);
}
