//! The workers over HTTP on PostgreSQL: a related change or a new relationship refreshes a
//! change's conflicts within 2 s (`conflicts_changed`), and a change past its planned end is
//! announced overdue once.
#![allow(clippy::expect_used)]
use std::time::{Duration, Instant};

use testkit::{TestApp, app, json};

use crate::{
    cab::outbox_count,
    changes::{ci, create, known, relate, s, to},
};

/// Waits until change `id` has `n` `conflicts_changed` events; how long that took.
async fn until_changed(app: &TestApp, id: &str, n: i64) -> Duration {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if outbox_count(app, "change.conflicts_changed", id).await >= n {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no conflicts_changed #{n} for {id} within 10 s");
}

fn planned(cis: &[&str], start: &str, end: &str) -> serde_json::Value {
    json!({"type": "normal", "title": "Refresh", "affected_ci_ids": cis,
           "planned_start": start, "planned_end": end})
}

#[tokio::test]
async fn conflicts_are_refreshed_within_two_seconds_of_a_related_change_or_relationship() {
    let app = app!();
    let cm = app.token("change-manager@globex.demo.test").await;
    let config = app.token("configuration-manager@globex.demo.test").await;
    known(&app, &cm).await;
    let web = ci(&app, &config, "application", "rf-web").await;
    let db = ci(&app, &config, "database", "rf-db").await;
    let (start, end) = ("2027-05-01T20:00:00Z", "2027-05-01T22:00:00Z");
    let a = s(&create(&app, &cm, planned(&[&web], start, end)).await["id"]);
    create(&app, &cm, planned(&[&db], start, end)).await;
    // Unrelated CIs: nothing to announce yet.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(outbox_count(&app, "change.conflicts_changed", &a).await, 0);

    // A relationship brings the other change within reach.
    relate(&app, &config, &web, "depends_on", &db).await;
    let took = until_changed(&app, &a, 1).await;
    assert!(
        took <= Duration::from_secs(2),
        "graph event to refresh: {took:?}"
    );

    // Another change on the same CI.
    create(&app, &cm, planned(&[&web], start, end)).await;
    let took = until_changed(&app, &a, 2).await;
    assert!(
        took <= Duration::from_secs(2),
        "related change to refresh: {took:?}"
    );
}

#[tokio::test]
async fn a_change_past_its_planned_end_is_announced_overdue_once() {
    let app = app!();
    let cm = app.token("change-manager@globex.demo.test").await;
    let config = app.token("configuration-manager@globex.demo.test").await;
    known(&app, &cm).await;
    let web = ci(&app, &config, "application", "od-web").await;
    let now = chrono::Utc::now();
    let c = create(
        &app,
        &cm,
        json!({"type": "standard", "title": "Late", "affected_ci_ids": [web],
               "planned_start": (now - chrono::Duration::hours(2)).to_rfc3339(),
               "planned_end": (now + chrono::Duration::seconds(1)).to_rfc3339(),
               "implementation_plan": "a", "backout_plan": "b", "test_plan": "c"}),
    )
    .await;
    let id = s(&c["id"]);
    to(&app, &id, &cm, json!({"to": "scheduled"}))
        .await
        .expect(200);
    let start = Instant::now();
    while outbox_count(&app, "change.overdue", &id).await == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never announced overdue"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    to(&app, &id, &cm, json!({"to": "implement"}))
        .await
        .expect(200);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(outbox_count(&app, "change.overdue", &id).await, 1);
}
