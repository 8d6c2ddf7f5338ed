//! Offerings over HTTP on PostgreSQL: a service reaches `transition` once it has one; names,
//! references, scopes and isolation.
use testkit::{app, json, reqwest::Method};

use crate::portfolio::{create_when_known, patch, s};

#[tokio::test]
async fn an_offering_opens_the_transition_gate() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let owner = app.user_id(&admin, "service-owner@globex.demo.test").await;
    let desk = app.group_id(&admin, "Service Desk").await;
    let payroll = create_when_known(
        &app,
        &admin,
        json!({"name": "Payroll", "owner_id": owner, "manager_id": owner, "support_group_id": desk}),
    )
    .await;
    let id = s(&payroll["id"]);
    let stage = format!("/api/v1/services/{id}/stage");
    app.post(
        &stage,
        &admin,
        json!({"to": "design", "rationale": "Reviewed"}),
    )
    .await
    .expect(200);
    let blocked = app
        .post(
            &stage,
            &admin,
            json!({"to": "transition", "rationale": "Build"}),
        )
        .await;
    assert_eq!(
        blocked.expect(409)["extra"]["blockers"],
        json!(["offering_required"])
    );

    let created = app
        .post(
            "/api/v1/catalogue/offerings",
            &admin,
            json!({"service_id": id, "name": "Payroll — EMEA", "support_group_id": desk}),
        )
        .await;
    let offering = created.expect(201).clone();
    assert_eq!(offering["service_id"], id.as_str());
    assert_eq!(
        created.headers["location"],
        format!("/api/v1/catalogue/offerings/{}", s(&offering["id"])).as_str()
    );
    let moved = app
        .post(
            &stage,
            &admin,
            json!({"to": "transition", "rationale": "Build"}),
        )
        .await;
    assert_eq!(moved.expect(200)["stage"], "transition");
    // Live needs a published catalogue item too.
    let live = app
        .post(&stage, &admin, json!({"to": "live", "rationale": "Go"}))
        .await;
    assert_eq!(
        live.expect(409)["extra"]["blockers"],
        json!(["published_item_required"])
    );

    // One service's offerings, and a rename with its version check.
    let listed = app
        .get(
            &format!("/api/v1/catalogue/offerings?service_id={id}"),
            &admin,
        )
        .await;
    assert_eq!(
        listed.expect(200)["items"].as_array().map(Vec::len),
        Some(1)
    );
    let path = format!("/api/v1/catalogue/offerings/{}", s(&offering["id"]));
    let stale = patch(
        &app,
        &path,
        &admin,
        json!({"name": "Payroll — Europe"}),
        Some(0),
    )
    .await;
    assert_eq!(stale.expect(412)["code"], "precondition_failed");
    let renamed = patch(
        &app,
        &path,
        &admin,
        json!({"name": "Payroll — Europe"}),
        Some(1),
    )
    .await;
    assert_eq!(renamed.expect(200)["name"], "Payroll — Europe");
    assert_eq!(renamed.body["version"], 2);
}

#[tokio::test]
async fn offerings_refuse_bad_input_and_stay_in_their_tenant() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let theirs = app.token("admin@initech.demo.test").await;
    let service = create_when_known(&app, &admin, json!({"name": "Email"})).await;
    let id = s(&service["id"]);
    let their_service = create_when_known(&app, &theirs, json!({"name": "Email"})).await;

    let bad = app
        .post(
            "/api/v1/catalogue/offerings",
            &admin,
            json!({"service_id": s(&their_service["id"]), "name": " "}),
        )
        .await;
    assert_eq!(bad.expect(422)["code"], "validation_failed");
    let pointers: Vec<String> = bad.body["errors"]
        .as_array()
        .map(|e| e.iter().map(|e| s(&e["pointer"])).collect())
        .unwrap_or_default();
    assert_eq!(pointers, vec!["/name"], "the name is checked first");
    let foreign = app
        .post(
            "/api/v1/catalogue/offerings",
            &admin,
            json!({"service_id": s(&their_service["id"]), "name": "Mail"}),
        )
        .await;
    assert_eq!(foreign.expect(422)["errors"][0]["pointer"], "/service_id");
    assert_eq!(foreign.body["errors"][0]["code"], "unknown_reference");

    let created = app
        .post(
            "/api/v1/catalogue/offerings",
            &admin,
            json!({"service_id": id, "name": "Mail"}),
        )
        .await;
    let offering = s(&created.expect(201)["id"]);
    let again = app
        .post(
            "/api/v1/catalogue/offerings",
            &admin,
            json!({"service_id": id, "name": "Mail"}),
        )
        .await;
    assert_eq!(again.expect(409)["code"], "name_taken");

    // Another tenant's offering is not found; a requester reads but does not write.
    let path = format!("/api/v1/catalogue/offerings/{offering}");
    app.get(&path, &theirs).await.expect(404);
    patch(&app, &path, &theirs, json!({"name": "Mine"}), None)
        .await
        .expect(404);
    let their_list = app.get("/api/v1/catalogue/offerings", &theirs).await;
    assert_eq!(their_list.expect(200)["items"], json!([]));
    let requester = app.token("requester@globex.demo.test").await;
    app.get(&path, &requester).await.expect(200);
    let refused = app
        .post(
            "/api/v1/catalogue/offerings",
            &requester,
            json!({"service_id": id, "name": "Mine"}),
        )
        .await;
    assert_eq!(refused.expect(403)["code"], "insufficient_scope");
    app.call(Method::GET, &path, None, None, &[])
        .await
        .expect(401);
}
