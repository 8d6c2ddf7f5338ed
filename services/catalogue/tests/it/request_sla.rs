//! A request item's SLA over HTTP on PostgreSQL: the incident service's SLA engine runs its
//! clocks from the catalogue's events, and the catalogue shows where the item stands.
#![allow(clippy::expect_used)]

use std::time::Duration;

use serde_json::Value;
use testkit::{TestApp, app, json};

use crate::{
    portfolio::s,
    requests::{errors, laptop, move_task, tasks_of},
};

/// GETs `path` until `done` holds for the body of a 200 (the services learn from each other's
/// events), and returns that body.
async fn until(app: &TestApp, token: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = None;
    for _ in 0..150 {
        let res = app.get(path, token).await;
        if res.status.as_u16() == 200 && done(&res.body) {
            return res.body;
        }
        last = Some((res.status, res.body));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never got there; last answer {last:?}");
}

#[tokio::test]
async fn a_request_items_clock_runs_in_fulfilment_and_its_standing_reaches_the_item() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;

    // The incident service learns the tenant from identity's events.
    until(&app, &admin, "/api/v1/sla/definitions", |_| true).await;

    // A definition for request items: their state only, and a resolution clock.
    let wrong = app
        .post(
            "/api/v1/sla/definitions",
            &admin,
            json!({"name": "Bad", "applies_to": "request_item", "kind": "response",
                   "target_seconds": 3600,
                   "rules": {"applies_when": [{"field": "priority", "op": "eq", "value": 1}],
                             "stop_when": [{"field": "state", "op": "eq", "value": "resolved"}]}}),
        )
        .await;
    let mut got = errors(&wrong);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("/kind".into(), "not_applicable".into()),
            (
                "/rules/applies_when/0/field".into(),
                "not_applicable".into()
            ),
            ("/rules/stop_when/0/value".into(), "invalid_value".into()),
        ]
    );
    let created = app
        .post(
            "/api/v1/sla/definitions",
            &admin,
            json!({"name": "Laptop fulfilment", "applies_to": "request_item",
                   "kind": "resolution", "target_seconds": 8 * 3600}),
        )
        .await;
    let created = created.expect(201);
    assert_eq!(created["applies_to"], "request_item");
    assert_eq!(
        created["rules"]["pause_when"],
        json!([{"field": "state", "op": "eq", "value": "awaiting_requester"}])
    );

    // A standard laptop is auto-approved: in fulfilment at once, so its clock runs.
    let (item, _) = laptop(&app, &admin).await;
    let requester = app.token("requester@globex.demo.test").await;
    let submitted = app
        .post(
            "/api/v1/requests",
            &requester,
            json!({"items": [{"item_id": item, "variables": {"model": "standard-14", "cost_center": "CC-1234"}}]}),
        )
        .await;
    let ritm = s(&submitted.expect(201)["items"][0]["id"]);
    let agent = app.token("agent@globex.demo.test").await;
    let clocks_path = format!("/api/v1/sla/clocks?subject=request_item:{ritm}");
    let running = until(&app, &agent, &clocks_path, |b| {
        b["state"] == "in_fulfilment" && b["clocks"][0]["status"] == "running"
    })
    .await;
    assert_eq!(running["clocks"].as_array().map(Vec::len), Some(1));
    assert_eq!(running["clocks"][0]["name"], "Laptop fulfilment");
    assert_eq!(running["clocks"][0]["marks"][0]["mark"], "started");
    let item_path = format!("/api/v1/request-items/{ritm}");
    let on_track = until(&app, &requester, &item_path, |b| {
        b["sla_state"] == "on_track"
    })
    .await;
    assert!(on_track["sla_due_at"].is_string(), "{on_track}");

    // Waiting for the requester pauses the clock, and the tasks wait too.
    let moves = format!("/api/v1/request-items/{ritm}/transitions");
    let skip = app.post(&moves, &agent, json!({"to": "fulfilled"})).await;
    assert_eq!(
        skip.expect(409)["extra"]["allowed"],
        json!(["awaiting_requester"])
    );
    app.post(&moves, &requester, json!({"to": "awaiting_requester"}))
        .await
        .expect(403);
    let initech = app.token("agent@initech.demo.test").await;
    app.post(&moves, &initech, json!({"to": "awaiting_requester"}))
        .await
        .expect(404);
    let waiting = app
        .post(&moves, &agent, json!({"to": "awaiting_requester"}))
        .await;
    assert_eq!(waiting.expect(200)["state"], "awaiting_requester");
    let task = s(&tasks_of(&app, &agent, &ritm).await[0]["id"]);
    let held = move_task(&app, &agent, &task, "in_progress").await;
    assert_eq!(held.expect(409)["code"], "awaiting_requester");
    let paused = until(&app, &agent, &clocks_path, |b| {
        b["state"] == "awaiting_requester" && b["clocks"][0]["status"] == "paused"
    })
    .await;
    assert_eq!(paused["clocks"][0]["marks"][1]["mark"], "paused");
    until(&app, &requester, &item_path, |b| b["sla_state"] == "paused").await;
    let resumed = app
        .post(&moves, &agent, json!({"to": "in_fulfilment"}))
        .await;
    assert_eq!(resumed.expect(200)["state"], "in_fulfilment");
    until(&app, &agent, &clocks_path, |b| {
        b["clocks"][0]["status"] == "running"
    })
    .await;

    // Fulfilled: the clock stops within its target, and the item says so.
    for stage in 0..2 {
        let tasks = tasks_of(&app, &agent, &ritm).await;
        for task in tasks.iter().filter(|t| t["stage"] == stage) {
            let id = s(&task["id"]);
            move_task(&app, &agent, &id, "in_progress")
                .await
                .expect(200);
            move_task(&app, &agent, &id, "done").await.expect(200);
        }
    }
    let met = until(&app, &requester, &item_path, |b| b["sla_state"] == "met").await;
    assert_eq!(met["state"], "fulfilled");
    assert!(met["sla_due_at"].is_null());
    let stopped = app.get(&clocks_path, &agent).await;
    assert_eq!(stopped.expect(200)["clocks"][0]["status"], "stopped");

    // Unhappy paths: a malformed subject names the parameter; an unknown or another tenant's
    // item is not found; a requester holds no `request:fulfil`.
    for bad in ["nonsense", "request_item:42", &format!("incident:{ritm}")] {
        let res = app
            .get(&format!("/api/v1/sla/clocks?subject={bad}"), &agent)
            .await;
        assert_eq!(res.expect(422)["errors"][0]["pointer"], "/subject", "{bad}");
    }
    let unknown = uuid::Uuid::now_v7();
    app.get(
        &format!("/api/v1/sla/clocks?subject=request_item:{unknown}"),
        &agent,
    )
    .await
    .expect(404);
    app.get(&clocks_path, &initech).await.expect(404);
    app.get(&clocks_path, &requester).await.expect(403);
}
