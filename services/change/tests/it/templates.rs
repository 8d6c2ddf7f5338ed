//! Templates, reviews and caused incidents over HTTP on PostgreSQL: a change from a template
//! keeps its fields, a failed one suspends it until a change manager reactivates it, closing a
//! failed change needs a review, and three caused incidents are one failure.
#![allow(clippy::expect_used)]
use std::time::Duration;

use testkit::{TestApp, app, json, reqwest::Method};

use crate::{
    cab::outbox_count,
    changes::{ci, create, known, pointers, s, to},
};

async fn put(app: &TestApp, path: &str, token: &str, body: serde_json::Value) -> testkit::Res {
    app.call(Method::PUT, path, Some(token), Some(body), &[])
        .await
}

/// Runs `id` from `scheduled` to `review`.
async fn work(app: &TestApp, id: &str, token: &str) {
    for state in ["implement", "review"] {
        to(app, id, token, json!({"to": state})).await.expect(200);
    }
}

/// Links `incident` to change `id` once the change service has heard of it.
async fn link(app: &TestApp, id: &str, token: &str, incident: &str) -> testkit::Res {
    let path = format!("/api/v1/changes/{id}/caused-incidents");
    for _ in 0..100 {
        let res = app
            .post(&path, token, json!({"incident_id": incident}))
            .await;
        if res.status.as_u16() != 422 {
            return res;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the change service never heard of incident {incident}");
}

/// Publishes `body` once the change service has projected its CIs.
pub async fn publish(app: &TestApp, token: &str, body: serde_json::Value) -> serde_json::Value {
    for _ in 0..100 {
        let res = app
            .post("/api/v1/change-templates", token, body.clone())
            .await;
        if res.status.as_u16() == 201 {
            return res.body;
        }
        assert_eq!(res.code(), "validation_failed", "{}", res.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the change service never learned the CIs");
}

#[tokio::test]
async fn templates_pin_their_fields_and_failed_changes_suspend_them() {
    let app = app!();
    let cm = app.token("change-manager@globex.demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    let config = app.token("configuration-manager@globex.demo.test").await;
    known(&app, &cm).await;
    let web = ci(&app, &config, "application", "tpl-web").await;
    let other_ci = ci(&app, &config, "application", "tpl-other").await;

    let bare = app
        .post(
            "/api/v1/change-templates",
            &cm,
            json!({"slug": "restart-web", "title": "Restart", "affected_ci_ids": [web],
                   "implementation_plan": "", "backout_plan": "b", "test_plan": "t"}),
        )
        .await;
    assert_eq!(pointers(bare.expect(422)), ["/implementation_plan"]);
    let template = json!({"slug": "restart-web", "title": "Restart tpl-web", "affected_ci_ids": [web],
        "implementation_plan": "Restart.", "backout_plan": "Fail over.", "test_plan": "Health check."});
    let v1 = publish(&app, &cm, template.clone()).await;
    assert_eq!(v1["template_version"], 1);
    let v2 = app.post("/api/v1/change-templates", &cm, template).await;
    let v2 = v2.expect(201).clone();
    assert_eq!(v2["template_version"], 2);
    let old = app
        .get(&format!("/api/v1/change-templates/{}", s(&v1["id"])), &cm)
        .await;
    assert_eq!(old.expect(200)["state"], "retired");
    let tid = s(&v2["id"]);
    let versions = app
        .get("/api/v1/change-templates?slug=restart-web", &cm)
        .await;
    assert_eq!(
        versions.expect(200)["items"].as_array().map(Vec::len),
        Some(2)
    );

    let window = |day: u32| {
        json!({"type": "standard", "template_id": tid,
               "planned_start": format!("2027-04-{day:02}T20:00:00Z"),
               "planned_end": format!("2027-04-{day:02}T21:00:00Z")})
    };
    // The template's CIs and plans are its own.
    let mut changed = window(1);
    changed["affected_ci_ids"] = json!([other_ci]);
    let refused = app.post("/api/v1/changes", &cm, changed).await;
    assert_eq!(pointers(refused.expect(422)), ["/affected_ci_ids"]);
    let c = create(&app, &cm, window(1)).await;
    let id = s(&c["id"]);
    assert_eq!(c["template_version"], 2);
    assert_eq!(c["title"], "Restart tpl-web");
    assert_eq!(c["affected_ci_ids"], json!([web]));
    let edit = app
        .call(
            Method::PATCH,
            &format!("/api/v1/changes/{id}"),
            Some(&cm),
            Some(json!({"backout_plan": "Something else."})),
            &[],
        )
        .await;
    assert_eq!(pointers(edit.expect(422)), ["/backout_plan"]);

    // Closing it unsuccessful needs a review; then the template is suspended.
    to(&app, &id, &cm, json!({"to": "scheduled"}))
        .await
        .expect(200);
    work(&app, &id, &cm).await;
    let close = json!({"to": "closed", "close_code": "unsuccessful"});
    let unreviewed = to(&app, &id, &cm, close.clone()).await;
    assert_eq!(pointers(unreviewed.expect(422)), ["/pir"]);
    let review = json!({"outcome": "Restart failed; rolled back.", "objectives_met": false,
        "findings": [{"kind": "improvement", "text": "Drain the node first."},
                     {"kind": "observation", "text": "Took 20 minutes."}]});
    let path = format!("/api/v1/changes/{id}/pir");
    put(&app, &path, &cm, review.clone()).await.expect(200);
    put(&app, &path, &cm, review).await.expect(200);
    assert_eq!(outbox_count(&app, "pir.finding_recorded", "").await, 1);
    to(&app, &id, &cm, close).await.expect(200);
    let suspended = app
        .get(&format!("/api/v1/change-templates/{tid}"), &cm)
        .await;
    assert_eq!(suspended.expect(200)["state"], "suspended");
    let refused = app.post("/api/v1/changes", &cm, window(2)).await;
    assert_eq!(refused.expect(409)["code"], "template_suspended");
    // Agents may not reactivate it; a change manager may.
    let path = format!("/api/v1/change-templates/{tid}/transitions");
    let agent_try = app.post(&path, &agent, json!({"to": "active"})).await;
    assert_eq!(agent_try.status.as_u16(), 403);
    app.post(&path, &cm, json!({"to": "active"}))
        .await
        .expect(200);

    // Three incidents caused by a closed successful change: one failure, one revision.
    let c2 = create(&app, &cm, window(3)).await;
    let id2 = s(&c2["id"]);
    to(&app, &id2, &cm, json!({"to": "scheduled"}))
        .await
        .expect(200);
    work(&app, &id2, &cm).await;
    to(
        &app,
        &id2,
        &cm,
        json!({"to": "closed", "close_code": "successful"}),
    )
    .await
    .expect(200);
    for n in 0..3 {
        let inc = app
            .post(
                "/api/v1/incidents",
                &agent,
                json!({"title": format!("Web down {n}"), "description": "After the restart", "impact": 2, "urgency": 2}),
            )
            .await;
        let inc = s(&inc.expect(201)["id"]);
        let linked = link(&app, &id2, &cm, &inc).await;
        assert_eq!(linked.expect(201)["caused_incident_count"], n + 1);
        assert_eq!(linked.body["failed"], true);
        if n == 0 {
            // Linking it again changes nothing.
            assert_eq!(link(&app, &id2, &cm, &inc).await.status.as_u16(), 200);
        }
    }
    assert_eq!(outbox_count(&app, "change.incident_linked", "").await, 3);
    assert_eq!(outbox_count(&app, "change.outcome_revised", "").await, 1);
    assert_eq!(outbox_count(&app, "template.suspended", "").await, 2);

    // Other tenants: their ids are not there, and ours are not theirs.
    let initech = app.token("change-manager@initech.demo.test").await;
    let foreign = app
        .get(&format!("/api/v1/changes/{id2}/caused-incidents"), &initech)
        .await;
    assert_eq!(foreign.status.as_u16(), 404);
    let foreign = app
        .get(&format!("/api/v1/change-templates/{tid}"), &initech)
        .await;
    assert_eq!(foreign.status.as_u16(), 404);
    let initech_agent = app.token("agent@initech.demo.test").await;
    let theirs = app
        .post(
            "/api/v1/incidents",
            &initech_agent,
            json!({"title": "Theirs", "description": "x", "impact": 3, "urgency": 3}),
        )
        .await;
    let theirs = s(&theirs.expect(201)["id"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cross = app
        .post(
            &format!("/api/v1/changes/{id2}/caused-incidents"),
            &cm,
            json!({"incident_id": theirs}),
        )
        .await;
    assert_eq!(pointers(cross.expect(422)), ["/incident_id"]);
}
