//! The event store on PostgreSQL: every event of every service kept once, redeliveries change
//! nothing, and freshness per tenant.
#![allow(clippy::expect_used)]
use std::time::Duration;

use bus::provenance::Sender;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use testkit::{TestApp, app};

/// `SELECT count(*) FROM {rows}` as the superuser.
async fn count(app: &TestApp, rows: &str) -> i64 {
    let db = app.superuser().await;
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT count(*) AS n FROM {rows}"),
        ))
        .await
        .expect("query")
        .expect("a row");
    row.try_get("", "n").expect("a count")
}

/// Waits until analytics knows the token's tenant: identity's events reach each consumer
/// after the test app starts.
pub async fn known(app: &TestApp, token: &str) {
    for _ in 0..200 {
        if app
            .get("/api/v1/analytics/freshness", token)
            .await
            .status
            .is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("analytics never learned the token's tenant");
}

async fn freshness(app: &TestApp, token: &str, query: &str) -> Value {
    let res = app
        .get(&format!("/api/v1/analytics/freshness{query}"), token)
        .await;
    res.expect(200)["items"][0].clone()
}

#[tokio::test]
async fn every_event_is_kept_once_and_freshness_is_per_tenant() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    known(&app, &agent).await;
    let created = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"title": "Printer on fire", "description": "Third floor", "impact": 2, "urgency": 2}),
        )
        .await;
    let incident = created.expect(201)["id"].as_str().expect("id").to_string();
    let kept = format!(
        "analytics.analytics_events WHERE subject = '{incident}' \
         AND event_type = 'itsm.incident.incident.created.v1'"
    );
    let mut waited = 0;
    while count(&app, &kept).await == 0 {
        assert!(waited < 100, "the incident's event never reached the store");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let globex = freshness(&app, &agent, "").await;
    assert_eq!(globex["projection"], "events");
    assert!(globex["last_event_time"].is_string(), "{globex}");
    assert!(globex["lag_p99_seconds"].as_f64().expect("lag") >= 0.0);

    // Delivered again, through the inbox and around it: still one row.
    let envelope = {
        let db = app.superuser().await;
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "SELECT envelope FROM incident.outbox WHERE envelope LIKE '%{incident}%' \
                     AND routing_key = 'incident.incident.created'"
                ),
            ))
            .await
            .expect("query")
            .expect("the outbox row");
        row.try_get::<String>("", "envelope").expect("envelope")
    };
    let env = events::Envelope::parse(envelope.as_bytes()).expect("an envelope");
    let db = app
        .service_schema::<analytics::migration::Migrator>("analytics")
        .await;
    let identity = bus::people::IdentityProjection::new(db.clone(), analytics::CONSUMER);
    let runner = analytics::consumer(&db, &identity);
    let sender = Sender::Service(Some("incident".into()));
    runner.accept(&env, &sender).await.expect("a duplicate");
    app.superuser()
        .await
        .execute_unprepared(&format!(
            "DELETE FROM analytics.inbox WHERE event_id = '{}'",
            env.id
        ))
        .await
        .expect("inbox row removed");
    runner.accept(&env, &sender).await.expect("applied again");
    assert_eq!(count(&app, &kept).await, 1);
    // Only the service that owns a type may send it.
    let forged = Sender::Service(Some("catalogue".into()));
    assert!(runner.accept(&env, &forged).await.is_err());
}

#[tokio::test]
async fn freshness_is_for_analysts_within_their_reach() {
    let app = app!();
    let requester = app.token("requester@globex.demo.test").await;
    let res = app.get("/api/v1/analytics/freshness", &requester).await;
    assert_eq!(res.status.as_u16(), 403, "{:?}", res.body);
    assert_eq!(res.content_type(), "application/problem+json");
    let agent = app.token("agent@globex.demo.test").await;
    known(&app, &agent).await;
    let other = app
        .get("/api/v1/analytics/freshness?tenant=initech", &agent)
        .await;
    assert_eq!(other.expect(400)["errors"][0]["pointer"], "/query/tenant");
    let msp = app.token("msp-agent@demo.test").await;
    known(&app, &msp).await;
    let all = freshness(&app, &msp, "?tenant=*").await;
    assert!(all["last_event_time"].is_string(), "{all}");
}
