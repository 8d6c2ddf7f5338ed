//! Catalogue items over HTTP on PostgreSQL: forms checked as JSON Schema 2020-12 with our rules,
//! policies and plans with the tenant's people, publishing (which opens a service's `live`
//! gate), costs kept from customers, scopes and isolation.
#![allow(clippy::expect_used)]

use testkit::{TestApp, app, json, reqwest::Method};

use crate::portfolio::{create_when_known, patch, s};

/// The demo `new-laptop` form.
pub fn laptop_form() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {
            "model": {"type": "string", "enum": ["standard-14", "performance-16"]},
            "justification": {"type": "string", "minLength": 1},
            "cost_center": {"type": "string", "pattern": "^CC-[0-9]{4}$"}
        },
        "required": ["model", "cost_center"],
        "if": {"properties": {"model": {"const": "performance-16"}}},
        "then": {"required": ["justification"]}
    })
}

/// A service of `token`'s tenant in `transition` (owner, manager, desk, an offering): the id.
async fn service_in_transition(app: &TestApp, token: &str, owner: &str, desk: &str) -> String {
    let service = create_when_known(
        app,
        token,
        json!({"name": "Workplace", "owner_id": owner, "manager_id": owner, "support_group_id": desk}),
    )
    .await;
    let id = s(&service["id"]);
    app.post(
        "/api/v1/catalogue/offerings",
        token,
        json!({"service_id": id, "name": "Workplace — standard"}),
    )
    .await
    .expect(201);
    let stage = format!("/api/v1/services/{id}/stage");
    for to in ["design", "transition"] {
        app.post(&stage, token, json!({"to": to, "rationale": "Ready"}))
            .await
            .expect(200);
    }
    id
}

async fn transition(app: &TestApp, token: &str, id: &str, to: &str, version: i64) -> testkit::Res {
    let etag = format!("\"{version}\"");
    app.call(
        Method::POST,
        &format!("/api/v1/catalogue/items/{id}/transitions"),
        Some(token),
        Some(json!({"to": to})),
        &[("if-match", etag.as_str())],
    )
    .await
}

#[tokio::test]
async fn an_item_is_drafted_published_and_opens_the_live_gate() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let owner = app.user_id(&admin, "service-owner@globex.demo.test").await;
    let approver = app.user_id(&admin, "approver@globex.demo.test").await;
    let desk = app.group_id(&admin, "Service Desk").await;
    let service = service_in_transition(&app, &admin, &owner, &desk).await;

    let body = json!({
        "key": "new-laptop",
        "name": "New laptop",
        "service_id": service,
        "form_schema": laptop_form(),
        "price_amount": "1200",
        "currency": "EUR",
        "max_quantity": 3,
        "approval_policy": {
            "steps": [{"name": "Manager", "approvers": [{"type": "manager"}, {"type": "user", "user_id": approver}], "rule": {"n_of": 2}}],
            "auto_approve_when": {"properties": {"model": {"const": "standard-14"}}}
        },
        "fulfilment_plan": {"stages": [
            {"name": "Prepare", "tasks": [{"name": "Image", "group_id": desk}, {"name": "Accessories", "group_id": desk}]},
            {"name": "Deliver", "tasks": [{"name": "Hand over", "group_id": desk}]}
        ]}
    });
    let created = app
        .post("/api/v1/catalogue/items", &admin, body.clone())
        .await;
    let item = created.expect(201).clone();
    assert_eq!(item["state"], "draft");
    assert_eq!(item["price_amount"], "1200.00");
    assert_eq!(item["approval_policy"]["remind_after_hours"], 24);
    assert_eq!(item["approval_policy"]["expire_after_hours"], 120);
    assert!(item.get("cost_amount").is_none());
    let id = s(&item["id"]);
    assert_eq!(
        created.headers["location"],
        format!("/api/v1/catalogue/items/{id}").as_str()
    );
    // The same key again is a conflict, not a second item.
    let again = app.post("/api/v1/catalogue/items", &admin, body).await;
    assert_eq!(again.expect(409)["code"], "key_taken");

    // Live needs a published item; a draft is not one.
    let stage = format!("/api/v1/services/{service}/stage");
    let live = app
        .post(&stage, &admin, json!({"to": "live", "rationale": "Go"}))
        .await;
    assert_eq!(
        live.expect(409)["extra"]["blockers"],
        json!(["published_item_required"])
    );
    let skipped = transition(&app, &admin, &id, "retired", 1).await;
    assert_eq!(
        skipped.expect(409)["extra"]["allowed"],
        json!(["published"])
    );
    let stale = transition(&app, &admin, &id, "published", 7).await;
    stale.expect(412);
    let published = transition(&app, &admin, &id, "published", 1).await;
    assert_eq!(published.expect(200)["state"], "published");
    app.post(&stage, &admin, json!({"to": "live", "rationale": "Go"}))
        .await
        .expect(200);

    // Lists filter by state; a requester reads but never writes.
    let listed = app
        .get("/api/v1/catalogue/items?state=published", &admin)
        .await;
    assert_eq!(listed.expect(200)["items"][0]["key"], "new-laptop");
    let requester = app.token("requester@globex.demo.test").await;
    app.get(&format!("/api/v1/catalogue/items/{id}"), &requester)
        .await
        .expect(200);
    let refused = patch(
        &app,
        &format!("/api/v1/catalogue/items/{id}"),
        &requester,
        json!({"name": "Mine"}),
        Some(2),
    )
    .await;
    refused.expect(403);

    // A change keeps the rules: the price stays a decimal, the version moves on.
    let changed = patch(
        &app,
        &format!("/api/v1/catalogue/items/{id}"),
        &admin,
        json!({"price_amount": "1250.5", "approval_policy": null}),
        Some(2),
    )
    .await;
    let changed = changed.expect(200);
    assert_eq!(changed["price_amount"], "1250.50");
    assert_eq!(changed["approval_policy"], json!(null));
    assert_eq!(changed["version"], 3);

    // Another tenant's admin finds nothing: not to read, change or publish.
    let other = app.token("admin@initech.demo.test").await;
    let path = format!("/api/v1/catalogue/items/{id}");
    app.get(&path, &other).await.expect(404);
    patch(&app, &path, &other, json!({"name": "Ours"}), Some(3))
        .await
        .expect(404);
    transition(&app, &other, &id, "retired", 3)
        .await
        .expect(404);
    let theirs = app.get("/api/v1/catalogue/items", &other).await;
    assert_eq!(theirs.expect(200)["items"], json!([]));
}

#[tokio::test]
async fn a_bad_item_is_refused_with_every_field_that_is_wrong() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let owner = app.user_id(&admin, "service-owner@globex.demo.test").await;
    let desk = app.group_id(&admin, "Service Desk").await;
    let service = service_in_transition(&app, &admin, &owner, &desk).await;
    let initech = app.token("admin@initech.demo.test").await;
    let foreign_group = app.group_id(&initech, "Service Desk").await;

    let bad = app
        .post(
            "/api/v1/catalogue/items",
            &admin,
            json!({
                "key": "New Laptop",
                "name": "New laptop",
                "service_id": service,
                "form_schema": {"type": "object", "properties": {
                    "model": {"type": "string", "$ref": "https://example.test/models.json"},
                    "note": {"maxLength": 10}
                }},
                "price_amount": "12.345",
                "cost_amount": "900.00",
                "currency": "eur",
                "max_quantity": 0,
                "approval_policy": {"steps": [{"name": "CAB", "approvers": [{"type": "manager"}], "rule": {"n_of": 2}}]},
                "fulfilment_plan": {"stages": [{"name": "Do", "tasks": [{"name": "It", "group_id": foreign_group}]}]}
            }),
        )
        .await;
    let errors = bad.expect(422)["errors"].clone();
    let pointers: Vec<(String, String)> = errors
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| (s(&e["pointer"]), s(&e["code"])))
        .collect();
    for expected in [
        ("/key", "invalid_key"),
        ("/form_schema/properties/model/$ref", "remote_ref"),
        ("/price_amount", "invalid_amount"),
        ("/currency", "invalid_currency"),
        ("/max_quantity", "out_of_range"),
    ] {
        assert!(
            pointers.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} missing from {pointers:?}"
        );
    }

    // Once the body parses, the references are checked, all at once.
    let refs = app
        .post(
            "/api/v1/catalogue/items",
            &admin,
            json!({
                "key": "new-laptop",
                "name": "New laptop",
                "service_id": service,
                "form_schema": {"type": "object", "properties": {"note": {"maxLength": 10}}},
                "cost_amount": "900.00",
                "currency": "EUR",
                "approval_policy": {"steps": [{"name": "CAB", "approvers": [{"type": "manager"}], "rule": {"n_of": 2}}]},
                "fulfilment_plan": {"stages": [{"name": "Do", "tasks": [{"name": "It", "group_id": foreign_group}]}]}
            }),
        )
        .await;
    let errors = refs.expect(422)["errors"].clone();
    let got: Vec<(String, String)> = errors
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| (s(&e["pointer"]), s(&e["code"])))
        .collect();
    assert_eq!(
        got,
        vec![(
            "/form_schema/properties/note/type".into(),
            "untyped_variable".into()
        )]
    );
    let refs = app
        .post(
            "/api/v1/catalogue/items",
            &admin,
            json!({
                "key": "new-laptop",
                "name": "New laptop",
                "service_id": service,
                "cost_amount": "900.00",
                "currency": "EUR",
                "approval_policy": {"steps": [{"name": "CAB", "approvers": [{"type": "manager"}], "rule": {"n_of": 2}}]},
                "fulfilment_plan": {"stages": [{"name": "Do", "tasks": [{"name": "It", "group_id": foreign_group}]}]}
            }),
        )
        .await;
    let errors = refs.expect(422)["errors"].clone();
    let got: Vec<(String, String)> = errors
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| (s(&e["pointer"]), s(&e["code"])))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "/approval_policy/steps/0/rule/n_of".into(),
                "out_of_range".into()
            ),
            (
                "/fulfilment_plan/stages/0/tasks/0/group_id".into(),
                "unknown_reference".into()
            ),
            ("/cost_amount".into(), "provider_only".into()),
        ]
    );
    // Nothing was written.
    let listed = app.get("/api/v1/catalogue/items", &admin).await;
    assert_eq!(listed.expect(200)["items"], json!([]));
}

#[tokio::test]
async fn a_providers_cost_is_shown_to_its_staff_only() {
    let app = app!();
    let msp = app.token("msp-admin@demo.test").await;
    let owner = app.user_id(&msp, "msp-admin@demo.test").await;
    let created = app
        .post("/api/v1/groups", &msp, json!({"name": "Fulfilment"}))
        .await;
    let group = s(&created.expect(201)["id"]);
    let service = service_in_transition(&app, &msp, &owner, &group).await;
    let created = app
        .post(
            "/api/v1/catalogue/items",
            &msp,
            json!({
                "key": "shared-mailbox",
                "name": "Shared mailbox",
                "service_id": service,
                "price_amount": "15.00",
                "cost_amount": "4.20",
                "currency": "EUR",
                "fulfilment_plan": {"stages": [{"name": "Create", "tasks": [{"name": "Create it", "group_id": group}]}]}
            }),
        )
        .await;
    let item = created.expect(201);
    assert_eq!(item["cost_amount"], "4.20");
    let agent = app.token("msp-agent@demo.test").await;
    let read = app
        .get(
            &format!("/api/v1/catalogue/items/{}", s(&item["id"])),
            &agent,
        )
        .await;
    assert_eq!(read.expect(200)["cost_amount"], "4.20");
}
