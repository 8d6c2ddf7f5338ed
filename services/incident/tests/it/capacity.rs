//! Analytics' capacity forecasts (`capacity.breach_predicted`) open incidents through
//! incident's consumer: one per threshold while it is open, linked to the forecast's CI when
//! the tenant has it, and seen by that tenant only.
#![allow(clippy::expect_used)] // A test fails loudly on a broken set-up.

use std::{sync::Arc, time::Duration};

use bus::{Applied, ConsumerRunner, Envelope, Sender, people::IdentityProjection};
use events::analytics::CapacityBreachPredicted;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::Value;
use testkit::{TestApp, app, json};
use uuid::Uuid;

use crate::common::{ready, s};

/// Incident's consumer on the test's incident schema, as another replica would run it.
async fn consumer(app: &TestApp) -> Arc<ConsumerRunner> {
    let db = app
        .service_schema::<incident::migration::Migrator>("incident")
        .await;
    let identity = IdentityProjection::new(db.clone(), incident::CONSUMER);
    incident::consumer(&db, &identity)
}

fn forecast(
    threshold: Uuid,
    target_type: &str,
    target: Uuid,
    status: &str,
) -> CapacityBreachPredicted {
    CapacityBreachPredicted {
        threshold_id: threshold,
        target_type: target_type.into(),
        target_id: target,
        metric: "disk_used_percent".into(),
        limit: 90.0,
        direction: "above".into(),
        status: status.into(),
        breach_at: Some(chrono::Utc::now() + chrono::Duration::days(9)),
        slope_per_day: 1.5,
        last_value: 76.5,
    }
}

/// `forecast` as analytics publishes it for `tenant`: a new envelope (a new event id) each time.
fn envelope(tenant: &str, forecast: &CapacityBreachPredicted) -> Envelope {
    let tenant = tenant.parse().expect("a tenant id");
    let version = bus::outbox::version_of(chrono::Utc::now());
    Envelope::new(tenant, forecast.threshold_id, version, forecast, None).expect("an envelope")
}

async fn deliver(runner: &ConsumerRunner, env: &Envelope) -> Applied {
    runner
        .accept(env, &Sender::Service(Some("analytics".into())))
        .await
        .expect("the forecast is applied")
}

/// The capacity incidents `token` sees, oldest first.
async fn capacity_incidents(app: &TestApp, token: &str) -> Vec<Value> {
    let list = app
        .get("/api/v1/incidents?sort=created_at&limit=200", token)
        .await;
    list.expect(200)["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["category"] == "capacity")
        .cloned()
        .collect()
}

/// One number from `sql` run as the superuser.
async fn count(app: &TestApp, sql: &str) -> i64 {
    let row = app
        .superuser()
        .await
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_string()))
        .await
        .expect("query")
        .expect("a row");
    row.try_get("", "n").expect("a count")
}

/// A CI of `token`'s tenant, created in the catalogue, once incident has projected it.
async fn projected_ci(app: &TestApp, token: &str, name: &str) -> String {
    let mut created = None;
    for _ in 0..100 {
        let res = app
            .post(
                "/api/v1/cmdb/cis",
                token,
                json!({"class": "virtual", "name": name}),
            )
            .await;
        if res.status.as_u16() == 201 {
            created = Some(s(&res.body["id"]));
            break;
        }
        assert_ne!(res.status.as_u16(), 422, "{}", res.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = created.expect("the catalogue learned the tenant");
    let projected = format!("SELECT count(*) AS n FROM incident.cmdb_cis WHERE ci_id = '{id}'");
    for _ in 0..100 {
        if count(app, &projected).await > 0 {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("incident never learned CI {id}");
}

#[tokio::test]
async fn a_forecast_opens_one_capacity_incident_on_its_ci() {
    let app = app!();
    let cm = app.token("configuration-manager@globex.demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    ready(&app, &agent).await;
    let web = projected_ci(&app, &cm, "web-01").await;
    let globex = app.tenant_id("globex").await;
    let runner = consumer(&app).await;
    let threshold = Uuid::now_v7();

    let f = forecast(
        threshold,
        "ci",
        web.parse().expect("a CI id"),
        "breach_predicted",
    );
    assert_eq!(
        deliver(&runner, &envelope(&globex, &f)).await,
        Applied::Done
    );

    let opened = capacity_incidents(&app, &agent).await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    let inc = &opened[0];
    assert_eq!(
        inc["title"],
        "Capacity: disk_used_percent on web-01 predicted to cross 90 above"
    );
    assert_eq!(inc["configuration_item_id"], web.as_str());
    assert_eq!(inc["service_id"], Value::Null);
    assert_eq!(inc["caller_id"], Value::Null);
    assert_eq!(inc["state"], "new");
    assert_eq!(
        (&inc["impact"], &inc["urgency"], &inc["priority"]),
        (&json!(2), &json!(2), &json!(3))
    );
    assert!(s(&inc["number"]).starts_with("INC"), "{inc}");
    let description = s(&inc["description"]);
    for line in [
        "Limit: 90",
        "Direction: above",
        "Slope per day: 1.5",
        "Last value: 76.5",
    ] {
        assert!(
            description.lines().any(|l| l == line),
            "{line:?} in {description}"
        );
    }
    assert!(
        description.contains(&threshold.to_string()),
        "{description}"
    );
    // Opened as the API opens one: announced, and remembered for its threshold.
    let id = s(&inc["id"]);
    let announced = format!(
        "SELECT count(*) AS n FROM incident.outbox WHERE routing_key = 'incident.incident.created' \
         AND envelope LIKE '%{id}%'"
    );
    assert_eq!(count(&app, &announced).await, 1);
    let remembered = format!(
        "SELECT count(*) AS n FROM incident.capacity_incidents \
         WHERE threshold_id = '{threshold}' AND incident_id = '{id}' AND tenant_id = '{globex}'"
    );
    assert_eq!(count(&app, &remembered).await, 1);
    let read = app.get(&format!("/api/v1/incidents/{id}"), &agent).await;
    assert_eq!(read.expect(200)["category"], "capacity");
}

#[tokio::test]
async fn a_threshold_opens_again_only_once_its_incident_is_resolved() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    ready(&app, &agent).await;
    let globex = app.tenant_id("globex").await;
    let runner = consumer(&app).await;
    let (threshold, target) = (Uuid::now_v7(), Uuid::now_v7());

    let predicted = forecast(threshold, "ci", target, "breach_predicted");
    deliver(&runner, &envelope(&globex, &predicted)).await;
    // A later forecast, now breached, while the incident is open: still the one incident.
    let breached = forecast(threshold, "ci", target, "breached");
    assert_eq!(
        deliver(&runner, &envelope(&globex, &breached)).await,
        Applied::Done
    );
    let opened = capacity_incidents(&app, &agent).await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert!(s(&opened[0]["title"]).contains("predicted to cross"));
    // Worked on, it is still open.
    let first = s(&opened[0]["id"]);
    let path = format!("/api/v1/incidents/{first}/transitions");
    app.post(&path, &agent, json!({"to": "in_progress"}))
        .await
        .expect(200);
    deliver(&runner, &envelope(&globex, &breached)).await;
    assert_eq!(capacity_incidents(&app, &agent).await.len(), 1);

    let resolved = app
        .post(
            &path,
            &agent,
            json!({"to": "resolved", "resolution_code": "fixed", "resolution_notes": "Disk grown"}),
        )
        .await;
    assert_eq!(resolved.expect(200)["state"], "resolved");
    deliver(&runner, &envelope(&globex, &breached)).await;
    let opened = capacity_incidents(&app, &agent).await;
    assert_eq!(opened.len(), 2, "{opened:?}");
    assert_eq!(opened[0]["id"], first.as_str());
    assert_eq!(opened[1]["state"], "new");
    assert!(
        s(&opened[1]["title"]).ends_with("has crossed 90 above"),
        "{}",
        opened[1]["title"]
    );
    // And the new one holds the threshold in turn.
    deliver(&runner, &envelope(&globex, &breached)).await;
    assert_eq!(capacity_incidents(&app, &agent).await.len(), 2);
}

#[tokio::test]
async fn two_forecasts_handled_at_once_open_one_incident() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    ready(&app, &agent).await;
    let globex = app.tenant_id("globex").await;
    let (one, other) = (consumer(&app).await, consumer(&app).await);
    let f = forecast(Uuid::now_v7(), "ci", Uuid::now_v7(), "breach_predicted");
    let (a, b) = (envelope(&globex, &f), envelope(&globex, &f));
    let (ra, rb) = tokio::join!(deliver(&one, &a), deliver(&other, &b));
    assert_eq!((ra, rb), (Applied::Done, Applied::Done));
    assert_eq!(capacity_incidents(&app, &agent).await.len(), 1);
}

#[tokio::test]
async fn a_redelivered_forecast_changes_nothing() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    ready(&app, &agent).await;
    let globex = app.tenant_id("globex").await;
    let runner = consumer(&app).await;
    let env = envelope(
        &globex,
        &forecast(Uuid::now_v7(), "ci", Uuid::now_v7(), "breach_predicted"),
    );
    assert_eq!(deliver(&runner, &env).await, Applied::Done);
    let before = capacity_incidents(&app, &agent).await;
    assert_eq!(before.len(), 1);
    // The inbox knows it.
    assert_eq!(deliver(&runner, &env).await, Applied::Duplicate);
    // Past the inbox too (its row gone), the open incident holds the threshold.
    app.superuser()
        .await
        .execute_unprepared(&format!(
            "DELETE FROM incident.inbox WHERE event_id = '{}'",
            env.id
        ))
        .await
        .expect("inbox row removed");
    assert_eq!(deliver(&runner, &env).await, Applied::Done);
    let after = capacity_incidents(&app, &agent).await;
    assert_eq!(after, before);
    // Only analytics may send it.
    let forged = runner
        .accept(&env, &Sender::Service(Some("catalogue".into())))
        .await;
    assert!(forged.is_err());
}

#[tokio::test]
async fn another_tenant_never_sees_a_capacity_incident() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    let theirs = app.token("agent@initech.demo.test").await;
    ready(&app, &agent).await;
    ready(&app, &theirs).await;
    let globex = app.tenant_id("globex").await;
    let runner = consumer(&app).await;
    let f = forecast(Uuid::now_v7(), "ci", Uuid::now_v7(), "breach_predicted");
    deliver(&runner, &envelope(&globex, &f)).await;
    let opened = capacity_incidents(&app, &agent).await;
    assert_eq!(opened.len(), 1);
    let id = s(&opened[0]["id"]);

    let read = app.get(&format!("/api/v1/incidents/{id}"), &theirs).await;
    read.expect(404);
    assert_eq!(capacity_incidents(&app, &theirs).await, Vec::<Value>::new());
}

#[tokio::test]
async fn an_unknown_target_still_opens_its_incident_without_a_reference() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    ready(&app, &agent).await;
    let globex = app.tenant_id("globex").await;
    let runner = consumer(&app).await;
    let (unknown_ci, unknown_service) = (Uuid::now_v7(), Uuid::now_v7());
    for f in [
        forecast(Uuid::now_v7(), "ci", unknown_ci, "breach_predicted"),
        forecast(Uuid::now_v7(), "service", unknown_service, "breached"),
    ] {
        assert_eq!(
            deliver(&runner, &envelope(&globex, &f)).await,
            Applied::Done
        );
    }
    let opened = capacity_incidents(&app, &agent).await;
    assert_eq!(opened.len(), 2, "{opened:?}");
    assert_eq!(
        opened[0]["title"],
        format!("Capacity: disk_used_percent on ci {unknown_ci} predicted to cross 90 above")
    );
    assert_eq!(
        opened[1]["title"],
        format!("Capacity: disk_used_percent on service {unknown_service} has crossed 90 above")
    );
    for inc in &opened {
        assert_eq!(inc["configuration_item_id"], Value::Null, "{inc}");
        assert_eq!(inc["service_id"], Value::Null, "{inc}");
    }
}
