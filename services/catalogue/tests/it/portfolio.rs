//! The portfolio over HTTP on PostgreSQL: services with identity's people, one stage at a time
//! through the gates, the history, optimistic concurrency, scopes and isolation.
#![allow(clippy::expect_used)] // A test fails loudly on a broken set-up.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use testkit::{TestApp, app, json, reqwest::Method};

pub fn s(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Creates a service once the catalogue has learned the tenant and its people from identity's
/// events (a reference it does not know yet is a 422 until then).
pub async fn create_when_known(
    app: &TestApp,
    token: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    for _ in 0..100 {
        let res = app.post("/api/v1/services", token, body.clone()).await;
        if res.status.as_u16() == 201 {
            return res.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the catalogue never learned the tenant's people");
}

/// Waits until the catalogue has learned the tenant `token` acts in from identity's events.
pub async fn known(app: &TestApp, token: &str) {
    for _ in 0..100 {
        if app.get("/api/v1/services", token).await.status.as_u16() == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the catalogue never learned the tenant");
}

pub async fn patch(
    app: &TestApp,
    path: &str,
    token: &str,
    body: serde_json::Value,
    version: Option<i64>,
) -> testkit::Res {
    let etag = version.map(|v| format!("\"{v}\""));
    let headers: Vec<(&str, &str)> = etag.iter().map(|e| ("if-match", e.as_str())).collect();
    app.call(Method::PATCH, path, Some(token), Some(body), &headers)
        .await
}

#[tokio::test]
async fn services_move_one_stage_at_a_time_through_their_gates() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let owner = app.user_id(&admin, "service-owner@globex.demo.test").await;
    let desk = app.group_id(&admin, "Service Desk").await;
    let payroll = create_when_known(
        &app,
        &admin,
        json!({"name": "Payroll", "description": "Monthly payroll runs.",
               "owner_id": owner, "manager_id": owner, "support_group_id": desk}),
    )
    .await;
    assert_eq!(payroll["stage"], "strategy");
    assert_eq!(payroll["stage_history"], json!([]));
    assert_eq!(payroll["version"], 1);
    let id = s(&payroll["id"]);
    let path = format!("/api/v1/services/{id}");
    let stage = format!("{path}/stage");

    // A skip is refused with the stages that are one move away.
    let skip = app
        .post(
            &stage,
            &admin,
            json!({"to": "live", "rationale": "Ship it"}),
        )
        .await;
    assert_eq!(skip.expect(409)["code"], "stage_not_allowed");
    assert_eq!(skip.body["extra"]["allowed"], json!(["design"]));

    // Forward through design's gate (owner and manager), recorded with its rationale.
    let design = app
        .post(
            &stage,
            &admin,
            json!({"to": "design", "rationale": "Approved in the portfolio review."}),
        )
        .await;
    let design = design.expect(200).clone();
    assert_eq!(design["stage"], "design");
    assert_eq!(design["version"], 2);
    let history = design["stage_history"].as_array().expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["from"], "strategy");
    assert_eq!(history[0]["to"], "design");
    assert_eq!(history[0]["rationale"], "Approved in the portfolio review.");
    assert_eq!(
        history[0]["actor_id"],
        app.user_id(&admin, "admin@globex.demo.test").await
    );

    // Transition needs an offering: none yet.
    let blocked = app
        .post(
            &stage,
            &admin,
            json!({"to": "transition", "rationale": "Build done"}),
        )
        .await;
    assert_eq!(blocked.expect(409)["code"], "stage_blocked");
    assert_eq!(
        blocked.body["extra"]["blockers"],
        json!(["offering_required"])
    );

    // Back one needs no gate; the history keeps both moves.
    let back = app
        .post(
            &stage,
            &admin,
            json!({"to": "strategy", "rationale": "Rescoped"}),
        )
        .await;
    assert_eq!(back.expect(200)["stage"], "strategy");
    assert_eq!(back.body["stage_history"].as_array().map(Vec::len), Some(2));

    // A service without people cannot reach design; every unmet gate is named.
    let lake = create_when_known(&app, &admin, json!({"name": "Data Lake"})).await;
    let refused = app
        .post(
            &format!("/api/v1/services/{}/stage", s(&lake["id"])),
            &admin,
            json!({"to": "design", "rationale": "Go"}),
        )
        .await;
    assert_eq!(refused.expect(409)["code"], "stage_blocked");
    assert_eq!(
        refused.body["extra"]["blockers"],
        json!(["owner_required", "manager_required"])
    );

    // The stage a service is at keeps its people: clearing the owner at design is refused
    // and changes nothing.
    app.post(
        &stage,
        &admin,
        json!({"to": "design", "rationale": "Again"}),
    )
    .await
    .expect(200);
    let cleared = patch(&app, &path, &admin, json!({"owner_id": null}), None).await;
    assert_eq!(cleared.expect(409)["code"], "stage_blocked");
    assert_eq!(cleared.body["extra"]["blockers"], json!(["owner_required"]));
    let now = app.get(&path, &admin).await;
    assert_eq!(now.expect(200)["owner_id"], owner.as_str());
    let version = now.body["version"].as_i64().expect("version");
    assert_eq!(now.headers["etag"], format!("\"{version}\"").as_str());

    // Optimistic concurrency: a stale If-Match is 412; the current one applies.
    let stale = patch(
        &app,
        &path,
        &admin,
        json!({"name": "Payroll & Pensions"}),
        Some(version - 1),
    )
    .await;
    assert_eq!(stale.expect(412)["code"], "precondition_failed");
    let renamed = patch(
        &app,
        &path,
        &admin,
        json!({"name": "Payroll & Pensions"}),
        Some(version),
    )
    .await;
    assert_eq!(renamed.expect(200)["name"], "Payroll & Pensions");
    assert_eq!(renamed.body["version"], version + 1);

    // Each change left its event in the catalogue's outbox, in the same transaction.
    let su = app.superuser().await;
    let keys: Vec<String> = su
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT routing_key FROM catalogue.outbox",
        ))
        .await
        .expect("the outbox")
        .iter()
        .filter_map(|r| r.try_get_by_index::<String>(0).ok())
        .collect();
    for key in [
        "catalogue.service.created",
        "catalogue.service.stage_changed",
        "catalogue.service.updated",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
    }
}

#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let theirs = app.token("admin@initech.demo.test").await;
    let their_owner = app
        .user_id(&theirs, "service-owner@initech.demo.test")
        .await;
    create_when_known(&app, &admin, json!({"name": "Email"})).await;

    let empty = app
        .post(
            "/api/v1/services",
            &admin,
            json!({"name": " ", "description": "x".repeat(20_001)}),
        )
        .await;
    assert_eq!(empty.expect(422)["code"], "validation_failed");
    let pointers: Vec<String> = empty.body["errors"]
        .as_array()
        .map(|e| e.iter().map(|e| s(&e["pointer"])).collect())
        .unwrap_or_default();
    assert_eq!(pointers, vec!["/name", "/description"]);

    // Another tenant's user is unknown here, never found.
    let foreign = app
        .post(
            "/api/v1/services",
            &admin,
            json!({"name": "VPN", "owner_id": their_owner}),
        )
        .await;
    assert_eq!(foreign.expect(422)["errors"][0]["pointer"], "/owner_id");
    assert_eq!(foreign.body["errors"][0]["code"], "unknown_reference");

    let unknown_field = app
        .post(
            "/api/v1/services",
            &admin,
            json!({"name": "VPN", "stage": "live"}),
        )
        .await;
    assert!(
        unknown_field.status.is_client_error(),
        "{:?}",
        unknown_field.body
    );
    assert_eq!(unknown_field.content_type(), "application/problem+json");

    let taken = app
        .post("/api/v1/services", &admin, json!({"name": "Email"}))
        .await;
    assert_eq!(taken.expect(409)["code"], "name_taken");

    let bad_stage = app.get("/api/v1/services?stage=pipeline", &admin).await;
    assert_eq!(bad_stage.expect(400)["code"], "invalid_query");

    let list = app.get("/api/v1/services", &admin).await;
    let names: Vec<String> = list.expect(200)["items"]
        .as_array()
        .map(|a| a.iter().map(|i| s(&i["name"])).collect())
        .unwrap_or_default();
    assert_eq!(names, vec!["Email"], "nothing else was written");

    let id = s(&list.body["items"][0]["id"]);
    let no_reason = app
        .post(
            &format!("/api/v1/services/{id}/stage"),
            &admin,
            json!({"to": "design", "rationale": ""}),
        )
        .await;
    assert_eq!(no_reason.expect(422)["errors"][0]["pointer"], "/rationale");
    let no_such_stage = app
        .post(
            &format!("/api/v1/services/{id}/stage"),
            &admin,
            json!({"to": "pipeline", "rationale": "x"}),
        )
        .await;
    assert!(no_such_stage.status.is_client_error());
}

#[tokio::test]
async fn another_tenants_services_are_404_and_scopes_are_enforced() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let payroll = create_when_known(&app, &admin, json!({"name": "Payroll"})).await;
    let id = s(&payroll["id"]);
    let path = format!("/api/v1/services/{id}");

    // Initech's admin: not found anywhere, and its own list is empty.
    let theirs = app.token("admin@initech.demo.test").await;
    known(&app, &theirs).await;
    app.get(&path, &theirs).await.expect(404);
    patch(&app, &path, &theirs, json!({"name": "Mine"}), None)
        .await
        .expect(404);
    app.post(
        &format!("{path}/stage"),
        &theirs,
        json!({"to": "design", "rationale": "x"}),
    )
    .await
    .expect(404);
    let their_list = app.get("/api/v1/services", &theirs).await;
    assert_eq!(their_list.expect(200)["items"], json!([]));

    // Reading needs catalogue:read (agents, requesters); changing needs portfolio:write.
    let agent = app.token("agent@globex.demo.test").await;
    assert_eq!(app.get(&path, &agent).await.expect(200)["name"], "Payroll");
    let requester = app.token("requester@globex.demo.test").await;
    app.get("/api/v1/services", &requester).await.expect(200);
    let refused = app
        .post("/api/v1/services", &requester, json!({"name": "Mine"}))
        .await;
    assert_eq!(refused.expect(403)["code"], "insufficient_scope");
    app.call(Method::GET, &path, None, None, &[])
        .await
        .expect(401);

    // The MSP's agent reaches its customer through X-Tenant.
    let msp = app.token("msp-agent@demo.test").await;
    let via_msp = app
        .call(
            Method::GET,
            &path,
            Some(&msp),
            None,
            &[("x-tenant", "globex")],
        )
        .await;
    assert_eq!(via_msp.expect(200)["id"], id.as_str());
}
