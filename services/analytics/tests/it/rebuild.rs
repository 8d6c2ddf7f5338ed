//! `rebuild` on PostgreSQL: a replay of the store gives the live figures (digests match),
//! also while incidents keep arriving; a live figure gone wrong is found and replaced.
#![allow(clippy::expect_used)]
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::json;
use testkit::{TestApp, app};

use crate::store::known;

async fn rebuild(db: &DatabaseConnection) -> analytics::rebuild::Report {
    let root = identity::seed::root_id();
    let mut seen = 0;
    let report = analytics::rebuild::rebuild(db, root, true, &mut |done, _| seen = done)
        .await
        .expect("a rebuild");
    assert_eq!(seen, report.events, "progress is reported");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report
}

fn matched(report: &analytics::rebuild::Report) -> bool {
    report
        .digests
        .as_ref()
        .is_some_and(|(live, replay)| live == replay)
}

/// Opens an incident and takes it through a reopen to its final resolution.
async fn incident_life(app: &TestApp, agent: &str, title: &str) {
    let created = app
        .post(
            "/api/v1/incidents",
            agent,
            json!({"title": title, "description": "Rebuild", "impact": 3, "urgency": 2}),
        )
        .await;
    let id = created.expect(201)["id"].as_str().expect("id").to_string();
    let path = format!("/api/v1/incidents/{id}/transitions");
    let resolve = json!({"to": "resolved", "resolution_code": "fixed", "resolution_notes": "Done"});
    for body in [
        json!({"to": "in_progress"}),
        json!({"to": "on_hold", "hold_reason": "awaiting_caller"}),
        json!({"to": "in_progress"}),
        resolve.clone(),
        json!({"to": "in_progress"}),
        resolve,
    ] {
        app.post(&path, agent, body).await.expect(200);
    }
}

/// Waits until every event published so far is in the store and folded (the consumer
/// catches up): the count of stored events stops changing.
async fn settled(app: &TestApp) {
    let mut last = -1;
    for _ in 0..100 {
        let now = app
            .superuser()
            .await
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS n FROM analytics.analytics_events".to_string(),
            ))
            .await
            .expect("query")
            .expect("row")
            .try_get::<i64>("", "n")
            .expect("count");
        if now == last {
            return;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    panic!("the store never settled");
}

#[tokio::test]
async fn a_replay_matches_the_live_figures_even_under_traffic_and_repairs_them() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    known(&app, &agent).await;
    for i in 0..3 {
        incident_life(&app, &agent, &format!("Before the rebuild {i}")).await;
    }
    settled(&app).await;
    let db = app
        .service_schema::<analytics::migration::Migrator>("analytics")
        .await;
    let first = rebuild(&db).await;
    assert!(first.tenants >= 4, "{first:?}");
    assert!(first.events > 0);
    assert!(matched(&first), "{:?}", first.digests);

    // Under traffic: incidents keep coming while the replay runs.
    let traffic = async {
        for i in 0..4 {
            incident_life(&app, &agent, &format!("During the rebuild {i}")).await;
        }
    };
    let (during, ()) = tokio::join!(rebuild(&db), traffic);
    assert!(matched(&during), "{:?}", during.digests);
    settled(&app).await;
    assert!(matched(&rebuild(&db).await));

    // A live figure gone wrong: the replay finds it and puts the right one back.
    app.superuser()
        .await
        .execute_unprepared(
            "UPDATE analytics.analytics_day_parts \
             SET figures = replace(figures, '\"incidents_created\":', '\"incidents_created\":7')",
        )
        .await
        .expect("tampered");
    let repaired = rebuild(&db).await;
    assert!(!matched(&repaired), "the tampered figure went unnoticed");
    assert!(matched(&rebuild(&db).await));
}
