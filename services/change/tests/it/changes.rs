//! Changes over HTTP on PostgreSQL: the lifecycle per type, what leaving `new` needs,
//! approvals by someone else, rescheduling after approval, impact through the projected
//! CMDB, bad input and other tenants' ids.
#![allow(clippy::expect_used)]
use std::time::Duration;

use testkit::reqwest::Method;
use testkit::{Res, TestApp, app, json};

pub fn s(v: &serde_json::Value) -> String {
    v.as_str().expect("a string").to_string()
}

pub fn pointers(body: &serde_json::Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| s(&e["pointer"])).collect())
        .unwrap_or_default()
}

async fn patch(app: &TestApp, path: &str, token: &str, body: serde_json::Value) -> Res {
    app.call(Method::PATCH, path, Some(token), Some(body), &[])
        .await
}

/// A CI made through the catalogue, once the catalogue knows the tenant.
pub async fn ci(app: &TestApp, token: &str, class: &str, name: &str) -> String {
    for _ in 0..100 {
        let res = app
            .post(
                "/api/v1/cmdb/cis",
                token,
                json!({"class": class, "name": name}),
            )
            .await;
        if res.status.as_u16() == 201 {
            return s(&res.body["id"]);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the catalogue never learned the tenant");
}

pub async fn relate(app: &TestApp, token: &str, source: &str, rel: &str, target: &str) {
    let body = json!({"source_id": source, "type": rel, "target_id": target});
    app.post("/api/v1/cmdb/relationships", token, body)
        .await
        .expect(201);
}

/// Waits until the change service knows `token`'s tenant (identity's events arrive
/// asynchronously).
pub async fn known(app: &TestApp, token: &str) {
    let mut last = None;
    for _ in 0..100 {
        let res = app.get("/api/v1/changes", token).await;
        if res.status.as_u16() == 200 {
            return;
        }
        last = Some(res.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the change service never learned the tenant: {last:?}");
}

/// Creates `body` as a change once the change service has projected its CIs.
pub async fn create(app: &TestApp, token: &str, body: serde_json::Value) -> serde_json::Value {
    known(app, token).await;
    for _ in 0..100 {
        let res = app.post("/api/v1/changes", token, body.clone()).await;
        if res.status.as_u16() == 201 {
            return res.body.clone();
        }
        assert_eq!(res.code(), "validation_failed", "{}", res.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the change service never learned the CIs");
}

pub async fn to(app: &TestApp, id: &str, token: &str, body: serde_json::Value) -> Res {
    app.post(&format!("/api/v1/changes/{id}/transitions"), token, body)
        .await
}

fn window(day: u32) -> (String, String) {
    (
        format!("2027-01-{day:02}T20:00:00Z"),
        format!("2027-01-{day:02}T22:00:00Z"),
    )
}

#[tokio::test]
async fn a_normal_change_is_assessed_approved_by_another_and_rescheduling_reopens_authorize() {
    let app = app!();
    let cm = app.token("change-manager@globex.demo.test").await;
    let approver = app.token("approver@globex.demo.test").await;
    let config = app.token("configuration-manager@globex.demo.test").await;
    let db = ci(&app, &config, "database", "chg-db").await;
    let (start, end) = window(9);
    let c = create(
        &app,
        &cm,
        json!({"type": "normal", "title": "Patch chg-db", "affected_ci_ids": [db],
               "planned_start": start, "planned_end": end}),
    )
    .await;
    let id = s(&c["id"]);
    assert_eq!(c["state"], "new");
    assert!(s(&c["number"]).starts_with("CHG"));
    assert_eq!(c["approval_round"], 1);

    // Not a move of a normal change from new: 409 with the moves that are.
    let illegal = to(&app, &id, &cm, json!({"to": "scheduled"})).await;
    assert_eq!(
        illegal.expect(409)["extra"]["allowed"],
        json!(["assess", "canceled"])
    );
    // Leaving new needs the three plans.
    let incomplete = to(&app, &id, &cm, json!({"to": "assess"})).await;
    assert_eq!(
        pointers(incomplete.expect(422)),
        ["/implementation_plan", "/backout_plan", "/test_plan"]
    );
    let path = format!("/api/v1/changes/{id}");
    let plans = json!({"implementation_plan": "Patch.", "backout_plan": "Restore.",
                       "test_plan": "Smoke test."});
    patch(&app, &path, &cm, plans).await.expect(200);
    to(&app, &id, &cm, json!({"to": "assess"}))
        .await
        .expect(200);
    to(&app, &id, &cm, json!({"to": "authorize"}))
        .await
        .expect(200);

    // The requester does not approve their own change; the approver does not do the work.
    let own = to(&app, &id, &cm, json!({"to": "scheduled"})).await;
    assert_eq!(own.expect(403)["code"], "own_change");
    // A rejection needs a reason, returns to new and starts another round.
    let bare = to(&app, &id, &approver, json!({"to": "new"})).await;
    assert_eq!(pointers(bare.expect(422)), ["/reason"]);
    let rejected = to(
        &app,
        &id,
        &approver,
        json!({"to": "new", "reason": "No backout test."}),
    )
    .await;
    let rejected = rejected.expect(200);
    assert_eq!(rejected["state"], "new");
    assert_eq!(rejected["approval_round"], 2);
    assert_eq!(rejected["rejection_reason"], "No backout test.");
    let rework = to(&app, &id, &approver, json!({"to": "assess"})).await;
    assert_eq!(rework.expect(403)["code"], "scope_required");
    to(&app, &id, &cm, json!({"to": "assess"}))
        .await
        .expect(200);
    to(&app, &id, &cm, json!({"to": "authorize"}))
        .await
        .expect(200);
    let approved = to(&app, &id, &approver, json!({"to": "scheduled"})).await;
    assert_eq!(approved.expect(200)["state"], "scheduled");

    // Moving an approved change's window needs another decision.
    let (start, end) = window(10);
    let moved = patch(
        &app,
        &path,
        &cm,
        json!({"planned_start": start, "planned_end": end}),
    )
    .await;
    assert_eq!(moved.expect(200)["state"], "authorize");
    to(&app, &id, &approver, json!({"to": "scheduled"}))
        .await
        .expect(200);
    to(&app, &id, &cm, json!({"to": "implement"}))
        .await
        .expect(200);
    to(&app, &id, &cm, json!({"to": "review"}))
        .await
        .expect(200);
    // Nothing is canceled in review; closing needs a close code.
    let late = to(&app, &id, &cm, json!({"to": "canceled", "reason": "late"})).await;
    assert_eq!(late.expect(409)["extra"]["allowed"], json!(["closed"]));
    let uncoded = to(&app, &id, &cm, json!({"to": "closed"})).await;
    assert_eq!(pointers(uncoded.expect(422)), ["/close_code"]);
    let closed = to(
        &app,
        &id,
        &cm,
        json!({"to": "closed", "close_code": "successful"}),
    )
    .await;
    let closed = closed.expect(200);
    assert_eq!(closed["close_code"], "successful");
    assert_eq!(closed["allowed_transitions"], json!([]));
    let frozen = patch(&app, &path, &cm, json!({"title": "Renamed"})).await;
    assert_eq!(frozen.expect(409)["code"], "change_closed");
}

#[tokio::test]
async fn standard_changes_skip_approval_and_emergency_ones_go_from_authorize_to_work() {
    let app = app!();
    let cm = app.token("change-manager@globex.demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    let approver = app.token("approver@globex.demo.test").await;
    let config = app.token("configuration-manager@globex.demo.test").await;
    let web = ci(&app, &config, "server", "chg-web").await;
    let (start, end) = window(11);
    let ready = |t: &str| {
        json!({"type": t, "title": "Restart chg-web", "affected_ci_ids": [web],
               "planned_start": start, "planned_end": end, "implementation_plan": "Restart.",
               "backout_plan": "None needed.", "test_plan": "Health check."})
    };
    let standard = s(&create(&app, &agent, ready("standard")).await["id"]);
    let assess = to(&app, &standard, &agent, json!({"to": "assess"})).await;
    assert_eq!(
        assess.expect(409)["extra"]["allowed"],
        json!(["scheduled", "canceled"])
    );
    to(&app, &standard, &agent, json!({"to": "scheduled"}))
        .await
        .expect(200);

    let emergency = s(&create(&app, &cm, ready("emergency")).await["id"]);
    to(&app, &emergency, &cm, json!({"to": "authorize"}))
        .await
        .expect(200);
    let approved = to(&app, &emergency, &approver, json!({"to": "implement"})).await;
    assert_eq!(approved.expect(200)["state"], "implement");
    // Canceling needs a reason.
    let canceled = to(&app, &emergency, &cm, json!({"to": "canceled"})).await;
    assert_eq!(pointers(canceled.expect(422)), ["/reason"]);

    let listed = app.get("/api/v1/changes?type=emergency", &agent).await;
    let items = listed.expect(200)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], emergency.as_str());
    let bad = app.get("/api/v1/changes?state=done", &agent).await;
    assert_eq!(pointers(bad.expect(400)), ["/query/state"]);
}

#[tokio::test]
async fn bad_input_names_the_field_and_another_tenants_ids_are_404() {
    let app = app!();
    let globex = app.token("change-manager@globex.demo.test").await;
    let initech = app.token("change-manager@initech.demo.test").await;
    let initech_config = app.token("configuration-manager@initech.demo.test").await;
    let globex_config = app.token("configuration-manager@globex.demo.test").await;
    let mine = ci(&app, &globex_config, "server", "chg-mine").await;
    let theirs = ci(&app, &initech_config, "server", "chg-theirs").await;
    let c = create(
        &app,
        &globex,
        json!({"type": "normal", "title": "Mine", "affected_ci_ids": [mine]}),
    )
    .await;
    let id = s(&c["id"]);

    let backwards = app
        .post(
            "/api/v1/changes",
            &globex,
            json!({"type": "normal", "title": "x", "planned_start": "2027-01-02T10:00:00Z",
                   "planned_end": "2027-01-02T10:00:00Z"}),
        )
        .await;
    assert_eq!(pointers(backwards.expect(422)), ["/planned_end"]);
    // Another tenant's CI is unknown here; the projection has had time to learn it, as it
    // learned this tenant's.
    let foreign = app
        .post(
            "/api/v1/changes",
            &globex,
            json!({"type": "normal", "title": "x", "affected_ci_ids": [mine, theirs]}),
        )
        .await;
    let foreign = foreign.expect(422);
    assert_eq!(pointers(foreign), ["/affected_ci_ids/1"]);
    assert_eq!(foreign["errors"][0]["code"], "unknown_reference");
    let untyped = app
        .post(
            "/api/v1/changes",
            &globex,
            json!({"type": "major", "title": "x"}),
        )
        .await;
    assert!(
        matches!(untyped.status.as_u16(), 400 | 422),
        "{}",
        untyped.body
    );
    let shallow = app
        .get(&format!("/api/v1/changes/{id}/impact?depth=0"), &globex)
        .await;
    assert_eq!(pointers(shallow.expect(400)), ["/query/depth"]);

    // Initech sees none of it.
    let path = format!("/api/v1/changes/{id}");
    app.get(&path, &initech).await.expect(404);
    app.get(&format!("{path}/impact"), &initech)
        .await
        .expect(404);
    patch(&app, &path, &initech, json!({"title": "Theirs"}))
        .await
        .expect(404);
    to(
        &app,
        &id,
        &initech,
        json!({"to": "canceled", "reason": "x"}),
    )
    .await
    .expect(404);
    let listed = app.get("/api/v1/changes", &initech).await;
    assert_eq!(listed.expect(200)["items"], json!([]));
    // Requesters do not see changes at all.
    let requester = app.token("requester@globex.demo.test").await;
    app.get(&path, &requester).await.expect(403);
}

#[tokio::test]
async fn impact_lists_the_business_services_upstream_with_their_paths() {
    let app = app!();
    let cm = app.token("change-manager@initech.demo.test").await;
    let config = app.token("configuration-manager@initech.demo.test").await;
    let db = ci(&app, &config, "database", "imp-db").await;
    let appl = ci(&app, &config, "application", "imp-app").await;
    let svc = ci(&app, &config, "business_service", "Imp Service").await;
    relate(&app, &config, &appl, "depends_on", &db).await;
    relate(&app, &config, &svc, "depends_on", &appl).await;
    let c = create(
        &app,
        &cm,
        json!({"type": "normal", "title": "Patch imp-db", "affected_ci_ids": [db]}),
    )
    .await;
    let path = format!("/api/v1/changes/{}/impact", s(&c["id"]));
    let mut impact = serde_json::Value::Null;
    for _ in 0..100 {
        impact = app.get(&path, &cm).await.expect(200).clone();
        if impact["services"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(impact["services"][0]["name"], "Imp Service");
    assert_eq!(impact["services"][0]["path"], json!([db, appl, svc]));
    let names: Vec<String> = impact["cis"]
        .as_array()
        .map(|a| a.iter().map(|c| s(&c["name"])).collect())
        .unwrap_or_default();
    assert_eq!(names, ["imp-db", "imp-app", "Imp Service"]);
    // One level up stops at the application.
    let near = app.get(&format!("{path}?depth=1"), &cm).await;
    assert_eq!(near.expect(200)["services"], json!([]));
}
