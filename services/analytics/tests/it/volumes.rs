//! Volumes over HTTP on PostgreSQL: incidents counted by category, service and channel as
//! incident classifies them, a reclassified incident moving rather than counting twice, the
//! MSP rollup, bad queries named, other tenants' incidents absent.
#![allow(clippy::expect_used)]
use std::time::Duration;

use serde_json::{Value, json};
use testkit::{TestApp, app, reqwest::Method};

use crate::store::known;

const VOLUMES: &str = "/api/v1/analytics/volumes";

/// `key → created` of a volumes answer's `items`.
fn counts(items: &Value) -> Vec<(Value, i64)> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|i| (i["key"].clone(), i["created"].as_i64().expect("created")))
        .collect()
}

/// Polls `query` until its items are `expected`.
async fn volumes_until(
    app: &TestApp,
    token: &str,
    query: &str,
    expected: &[(Value, i64)],
) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        last = app
            .get(&format!("{VOLUMES}?{query}"), token)
            .await
            .expect(200)
            .clone();
        if counts(&last["items"]) == expected {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{query} never showed {expected:?}: {last}");
}

async fn open(app: &TestApp, token: &str, body: Value) -> Value {
    app.post("/api/v1/incidents", token, body)
        .await
        .expect(201)
        .clone()
}

#[tokio::test]
async fn incidents_are_counted_by_their_current_classification_and_channel() {
    let app = app!();
    let agent = app.token("agent@globex.demo.test").await;
    known(&app, &agent).await;
    let requester = app.token("requester@globex.demo.test").await;
    open(
        &app,
        &agent,
        json!({"title": "Switch down", "impact": 2, "urgency": 2, "category": "network"}),
    )
    .await;
    open(
        &app,
        &agent,
        json!({"title": "Mail bounce", "impact": 3, "urgency": 3, "channel": "email"}),
    )
    .await;
    let mine = open(
        &app,
        &requester,
        json!({"title": "Laptop will not boot", "impact": 3, "urgency": 2}),
    )
    .await;
    assert_eq!(mine["channel"], "portal");
    // The agent classifies the requester's incident: it moves from none to `hardware`.
    let path = format!("/api/v1/incidents/{}", mine["id"].as_str().expect("id"));
    let etag = format!("\"{}\"", mine["version"]);
    app.call(
        Method::PATCH,
        &path,
        Some(&agent),
        Some(json!({"category": "hardware"})),
        &[("If-Match", etag.as_str())],
    )
    .await
    .expect(200);

    let by_category = volumes_until(
        &app,
        &agent,
        "by=category",
        &[
            (json!("hardware"), 1),
            (json!("network"), 1),
            (Value::Null, 1),
        ],
    )
    .await;
    assert_eq!(by_category["by"], "category");
    volumes_until(
        &app,
        &agent,
        "by=channel",
        &[
            (json!("email"), 1),
            (json!("phone"), 1),
            (json!("portal"), 1),
        ],
    )
    .await;
    volumes_until(&app, &agent, "by=service", &[(Value::Null, 3)]).await;
    let summary = app
        .get("/api/v1/analytics/summary", &agent)
        .await
        .expect(200)
        .clone();
    assert_eq!(summary["incidents"]["created"], 3);

    // The MSP sees each customer's and the rollup; initech sees none of globex's.
    let msp = app.token("msp-agent@demo.test").await;
    known(&app, &msp).await;
    let rolled = app
        .get(&format!("{VOLUMES}?by=channel&tenant=*"), &msp)
        .await
        .expect(200)
        .clone();
    let total: i64 = counts(&rolled["rollup"]).iter().map(|(_, n)| n).sum();
    assert_eq!(total, 3, "{rolled}");
    let globex = app.tenant_id("globex").await;
    let theirs = rolled["by_tenant"]
        .as_array()
        .expect("by_tenant")
        .iter()
        .find(|t| t["tenant_id"] == globex.as_str())
        .expect("globex");
    assert_eq!(counts(&theirs["items"]).len(), 3);
    let initech = app.token("agent@initech.demo.test").await;
    known(&app, &initech).await;
    let none = app
        .get(&format!("{VOLUMES}?by=category"), &initech)
        .await
        .expect(200)
        .clone();
    assert_eq!(none["items"], json!([]));
    let foreign = app
        .get(&format!("{VOLUMES}?by=category&tenant=globex"), &initech)
        .await;
    assert_eq!(foreign.status.as_u16(), 400);

    // Bad queries name `by`; requesters have no figures.
    for query in ["", "by=colour", "by=category&from=2026-12-07&to=2026-12-01"] {
        let res = app.get(&format!("{VOLUMES}?{query}"), &agent).await;
        assert_eq!(res.status.as_u16(), 400, "{query}: {}", res.body);
    }
    let missing = app.get(VOLUMES, &agent).await;
    assert_eq!(missing.body["errors"][0]["pointer"], "/query/by");
    assert_eq!(
        app.get(&format!("{VOLUMES}?by=channel"), &requester)
            .await
            .status
            .as_u16(),
        403
    );

    // Exported as CSV; a key that would start a formula is defused.
    open(
        &app,
        &agent,
        json!({"title": "Odd code", "impact": 3, "urgency": 3, "category": "-sum"}),
    )
    .await;
    let analyst = app.token("analyst@globex.demo.test").await;
    let mut csv = String::new();
    for _ in 0..150 {
        let res = app
            .get(
                "/api/v1/analytics/export.csv?report=volumes&by=category",
                &analyst,
            )
            .await;
        assert_eq!(res.status.as_u16(), 200);
        csv = res.text();
        if csv.contains("'-sum") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        csv.starts_with("tenant_id,scope,key,name,created\r\n"),
        "{csv}"
    );
    assert!(csv.contains(",tenant,'-sum,,1\r\n"), "{csv}");
    let no_by = app
        .get("/api/v1/analytics/export.csv?report=volumes", &analyst)
        .await;
    assert_eq!(no_by.status.as_u16(), 400);
}
