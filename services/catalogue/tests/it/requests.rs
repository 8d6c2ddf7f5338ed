//! Requests over HTTP on PostgreSQL: variables checked against the form with every error at
//! once, auto-approval, the manager's approval, fulfilment stage after stage, delegations, the
//! retire gate, and isolation.
#![allow(clippy::expect_used)]

use testkit::{Res, TestApp, app, json, reqwest::Method};

use crate::{
    items::laptop_form,
    knowledge::outbox_count,
    portfolio::{create_when_known, s},
};

/// Globex's live "Workplace" service with a published `new-laptop`: the item's and service's ids.
pub async fn laptop(app: &TestApp, admin: &str) -> (String, String) {
    let owner = app.user_id(admin, "service-owner@globex.demo.test").await;
    let desk = app.group_id(admin, "Service Desk").await;
    let service = create_when_known(
        app,
        admin,
        json!({"name": "Workplace", "owner_id": owner, "manager_id": owner, "support_group_id": desk}),
    )
    .await;
    let service = s(&service["id"]);
    app.post(
        "/api/v1/catalogue/offerings",
        admin,
        json!({"service_id": service, "name": "Workplace — standard"}),
    )
    .await
    .expect(201);
    let created = app
        .post(
            "/api/v1/catalogue/items",
            admin,
            json!({
                "key": "new-laptop", "name": "New laptop", "service_id": service,
                "form_schema": laptop_form(), "price_amount": "1200.00", "currency": "EUR",
                "max_quantity": 2,
                "approval_policy": {
                    "steps": [{"name": "Line manager", "approvers": [{"type": "manager"}], "rule": "any"}],
                    "auto_approve_when": {"properties": {"model": {"const": "standard-14"}}, "required": ["model"]}
                },
                "fulfilment_plan": {"stages": [
                    {"name": "Prepare", "tasks": [{"name": "Image", "group_id": desk}, {"name": "Accessories", "group_id": desk}]},
                    {"name": "Deliver", "tasks": [{"name": "Hand over", "group_id": desk}]}
                ]}
            }),
        )
        .await;
    let item = s(&created.expect(201)["id"]);
    app.post(
        &format!("/api/v1/catalogue/items/{item}/transitions"),
        admin,
        json!({"to": "published"}),
    )
    .await
    .expect(200);
    let stage = format!("/api/v1/services/{service}/stage");
    for to in ["design", "transition", "live"] {
        app.post(&stage, admin, json!({"to": to, "rationale": "Ready"}))
            .await
            .expect(200);
    }
    (item, service)
}

pub fn errors(res: &Res) -> Vec<(String, String)> {
    res.expect(422)["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| (s(&e["pointer"]), s(&e["code"])))
        .collect()
}

pub async fn tasks_of(app: &TestApp, token: &str, ritm: &str) -> Vec<serde_json::Value> {
    let listed = app
        .get(
            &format!("/api/v1/fulfilment-tasks?request_item_id={ritm}"),
            token,
        )
        .await;
    listed.expect(200)["items"]
        .as_array()
        .expect("items")
        .clone()
}

pub async fn move_task(app: &TestApp, token: &str, task: &str, to: &str) -> Res {
    app.post(
        &format!("/api/v1/fulfilment-tasks/{task}/transitions"),
        token,
        json!({"to": to}),
    )
    .await
}

#[tokio::test]
async fn a_request_is_checked_approved_by_the_manager_and_fulfilled_stage_by_stage() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let (item, service) = laptop(&app, &admin).await;
    let requester = app.token("requester@globex.demo.test").await;

    // Every problem at once, each at its pointer; nothing written.
    let bad = app
        .post(
            "/api/v1/requests",
            &requester,
            json!({"items": [{"item_id": item, "quantity": 3,
                "variables": {"model": "performance-16", "cost_center": "12", "colour": "red"}}]}),
        )
        .await;
    let got = errors(&bad);
    for expected in [
        ("/items/0/quantity", "out_of_range"),
        ("/items/0/variables/justification", "required"),
        ("/items/0/variables/cost_center", "pattern_mismatch"),
        ("/items/0/variables/colour", "unknown_variable"),
    ] {
        assert!(
            got.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} missing from {got:?}"
        );
    }
    let none = app.get("/api/v1/requests", &requester).await;
    assert_eq!(none.expect(200)["items"], json!([]));

    // A standard laptop is auto-approved and goes straight to its first stage.
    let standard = app
        .post(
            "/api/v1/requests",
            &requester,
            json!({"items": [{"item_id": item, "variables": {"model": "standard-14", "cost_center": "CC-1234"}}]}),
        )
        .await;
    let standard = standard.expect(201).clone();
    assert!(s(&standard["number"]).starts_with("REQ"));
    let ritm = &standard["items"][0];
    assert!(s(&ritm["number"]).starts_with("RITM"));
    assert_eq!(ritm["state"], "in_fulfilment");
    assert_eq!(ritm["approval_state"], "auto_approved");
    assert_eq!(ritm["price_amount"], "1200.00");

    // A performance laptop waits for the requester's manager.
    let perf = app
        .post(
            "/api/v1/requests",
            &requester,
            json!({"items": [{"item_id": item, "variables": {"model": "performance-16", "justification": "Rendering", "cost_center": "CC-1234"}}]}),
        )
        .await;
    let perf = perf.expect(201).clone();
    let ritm_id = s(&perf["items"][0]["id"]);
    assert_eq!(perf["items"][0]["state"], "pending_approval");
    let approver = app.token("approver@globex.demo.test").await;
    let queue = app
        .get("/api/v1/approvals?mine=true&state=pending", &approver)
        .await;
    let queue = queue.expect(200)["items"]
        .as_array()
        .expect("items")
        .clone();
    assert_eq!(queue.len(), 1);
    let approval = s(&queue[0]["id"]);
    let decision = format!("/api/v1/approvals/{approval}/decision");
    // Not the approver's: refused; a rejection needs its reason.
    let other = app
        .post(&decision, &admin, json!({"decision": "approve"}))
        .await;
    assert_eq!(other.expect(403)["code"], "not_eligible");
    let terse = app
        .post(&decision, &approver, json!({"decision": "reject"}))
        .await;
    assert_eq!(errors(&terse), vec![("/comment".into(), "required".into())]);
    let approved = app
        .post(
            &decision,
            &approver,
            json!({"decision": "approve", "comment": "Fine"}),
        )
        .await;
    assert_eq!(approved.expect(200)["state"], "approved");
    let again = app
        .post(
            &decision,
            &approver,
            json!({"decision": "reject", "comment": "No"}),
        )
        .await;
    assert_eq!(again.expect(409)["code"], "already_decided");
    let read = app
        .get(&format!("/api/v1/request-items/{ritm_id}"), &approver)
        .await;
    let read = read.expect(200);
    assert_eq!(read["state"], "in_fulfilment");
    assert_eq!(read["approval_state"], "approved");

    // Stage "Prepare" (two tasks in parallel), then "Deliver".
    let agent = app.token("agent@globex.demo.test").await;
    let prepare = tasks_of(&app, &agent, &ritm_id).await;
    assert_eq!(prepare.len(), 2);
    let skip = move_task(&app, &agent, &s(&prepare[0]["id"]), "done").await;
    assert_eq!(
        skip.expect(409)["extra"]["allowed"],
        json!(["in_progress", "canceled"])
    );
    for task in &prepare {
        let id = s(&task["id"]);
        move_task(&app, &agent, &id, "in_progress")
            .await
            .expect(200);
        assert_eq!(
            tasks_of(&app, &agent, &ritm_id).await.len(),
            2,
            "no stage 2 before stage 1 is done"
        );
        move_task(&app, &agent, &id, "done").await.expect(200);
    }
    let all = tasks_of(&app, &agent, &ritm_id).await;
    assert_eq!(all.len(), 3);
    let deliver = all
        .iter()
        .find(|t| t["stage"] == 1)
        .expect("the Deliver task");
    assert_eq!(deliver["name"], "Hand over");

    // Retiring the service waits for its open request items.
    let retire = app
        .post(
            &format!("/api/v1/services/{service}/stage"),
            &admin,
            json!({"to": "retired", "rationale": "Replaced"}),
        )
        .await;
    assert_eq!(
        retire.expect(409)["extra"]["blockers"],
        json!(["open_request_items"])
    );

    let id = s(&deliver["id"]);
    move_task(&app, &agent, &id, "in_progress")
        .await
        .expect(200);
    move_task(&app, &agent, &id, "done").await.expect(200);
    let done = app
        .get(&format!("/api/v1/requests/{}", s(&perf["id"])), &requester)
        .await;
    let done = done.expect(200);
    assert_eq!(done["items"][0]["state"], "fulfilled");
    assert_eq!(done["state"], "closed");

    // Another tenant finds none of it.
    let initech = app.token("admin@initech.demo.test").await;
    app.get(&format!("/api/v1/requests/{}", s(&perf["id"])), &initech)
        .await
        .expect(404);
    app.get(&format!("/api/v1/request-items/{ritm_id}"), &initech)
        .await
        .expect(404);
    app.post(&decision, &initech, json!({"decision": "approve"}))
        .await
        .expect(404);
    move_task(&app, &initech, &id, "canceled").await.expect(404);
    let theirs = app.get("/api/v1/requests", &initech).await;
    assert_eq!(theirs.expect(200)["items"], json!([]));
    // A colleague of the requester sees only their own requests.
    let colleague = app.token("service-owner@globex.demo.test").await;
    app.get(&format!("/api/v1/requests/{}", s(&perf["id"])), &colleague)
        .await
        .expect(404);
}

#[tokio::test]
async fn a_delegate_decides_for_the_approver_and_rejection_closes_the_request() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let (item, _) = laptop(&app, &admin).await;
    let requester = app.token("requester@globex.demo.test").await;
    let approver = app.token("approver@globex.demo.test").await;
    let stand_in = app.user_id(&admin, "admin@globex.demo.test").await;
    let me = app.user_id(&admin, "approver@globex.demo.test").await;

    let now = chrono::Utc::now();
    let period = |from: i64, to: i64| json!({"delegate_id": stand_in, "starts_at": now + chrono::Duration::hours(from), "ends_at": now + chrono::Duration::hours(to)});
    app.post("/api/v1/approval-delegations", &approver, period(-1, 48))
        .await
        .expect(201);
    let overlap = app
        .post("/api/v1/approval-delegations", &approver, period(24, 72))
        .await;
    assert_eq!(overlap.expect(409)["code"], "delegation_overlaps");
    let own = app
        .post(
            "/api/v1/approval-delegations",
            &approver,
            json!({"delegate_id": me, "starts_at": now, "ends_at": now + chrono::Duration::hours(1)}),
        )
        .await;
    assert_eq!(
        errors(&own),
        vec![("/delegate_id".into(), "self_delegation".into())]
    );

    let made = app
        .post(
            "/api/v1/requests",
            &requester,
            json!({"items": [{"item_id": item, "variables": {"model": "performance-16", "justification": "CAD", "cost_center": "CC-9999"}}]}),
        )
        .await;
    let made = made.expect(201).clone();
    // The delegate's queue holds the approver's approval.
    let queue = app.get("/api/v1/approvals?state=pending", &admin).await;
    let queue = queue.expect(200)["items"]
        .as_array()
        .expect("items")
        .clone();
    assert_eq!(queue.len(), 1);
    let rejected = app
        .post(
            &format!("/api/v1/approvals/{}/decision", s(&queue[0]["id"])),
            &admin,
            json!({"decision": "reject", "comment": "Not this quarter"}),
        )
        .await;
    let rejected = rejected.expect(200);
    assert_eq!(rejected["on_behalf_of"], me.as_str());
    assert_eq!(rejected["decided_by"], stand_in.as_str());
    let closed = app
        .get(&format!("/api/v1/requests/{}", s(&made["id"])), &requester)
        .await;
    let closed = closed.expect(200);
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["items"][0]["state"], "rejected");
    assert_eq!(closed["items"][0]["close_reason"], "rejected");

    // Both ends list the delegation; only the approver withdraws it, and says so on the bus.
    let given = app.get("/api/v1/approval-delegations", &approver).await;
    let given = given.expect(200).clone();
    assert_eq!(given.as_array().map(Vec::len), Some(1));
    let received = app.get("/api/v1/approval-delegations", &admin).await;
    assert_eq!(received.expect(200)[0]["delegator_id"], me.as_str());
    let revoke = format!("/api/v1/approval-delegations/{}", s(&given[0]["id"]));
    for other in [&admin, &app.token("approver@initech.demo.test").await] {
        app.call(Method::DELETE, &revoke, Some(other), None, &[])
            .await
            .expect(404);
    }
    let ended = app
        .call(Method::DELETE, &revoke, Some(&approver), None, &[])
        .await;
    let ends_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(ended.expect(200)["ends_at"].clone()).expect("ends_at");
    assert!(ends_at <= chrono::Utc::now());
    let left = app.get("/api/v1/approval-delegations", &approver).await;
    assert_eq!(left.expect(200), &json!([]));
    for event in ["approval_delegation.created", "approval_delegation.revoked"] {
        assert_eq!(outbox_count(&app, event).await, 1, "{event}");
    }
}
