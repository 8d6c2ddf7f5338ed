//! The approval workers on PostgreSQL with an injected clock: two of each running at once remind
//! and expire every due approval exactly once.
#![allow(clippy::expect_used)]

use catalogue::workers::{ApprovalWorkers, Job};
use chrono::{Duration, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use testkit::{app, json};

use crate::{
    items::laptop_form,
    portfolio::{create_when_known, s},
};

const REQUESTS: usize = 6;

async fn count(su: &DatabaseConnection, sql: &str) -> i64 {
    let row = su
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("query")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

#[tokio::test]
async fn two_reminder_and_two_expiry_workers_fire_each_approval_once() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let owner = app.user_id(&admin, "service-owner@globex.demo.test").await;
    let desk = app.group_id(&admin, "Service Desk").await;
    let service = create_when_known(
        &app,
        &admin,
        json!({"name": "Workplace", "owner_id": owner, "manager_id": owner, "support_group_id": desk}),
    )
    .await;
    let service = s(&service["id"]);
    app.post(
        "/api/v1/catalogue/offerings",
        &admin,
        json!({"service_id": service, "name": "Standard"}),
    )
    .await
    .expect(201);
    let item = app
        .post(
            "/api/v1/catalogue/items",
            &admin,
            json!({
                "key": "new-laptop", "name": "New laptop", "service_id": service,
                "form_schema": laptop_form(),
                "approval_policy": {"steps": [{"name": "Manager", "approvers": [{"type": "manager"}], "rule": "any"}],
                                    "remind_after_hours": 1, "expire_after_hours": 2},
                "fulfilment_plan": {"stages": [{"name": "Deliver", "tasks": [{"name": "Hand over", "group_id": desk}]}]}
            }),
        )
        .await;
    let item = s(&item.expect(201)["id"]);
    app.post(
        &format!("/api/v1/catalogue/items/{item}/transitions"),
        &admin,
        json!({"to": "published"}),
    )
    .await
    .expect(200);
    for to in ["design", "transition", "live"] {
        app.post(
            &format!("/api/v1/services/{service}/stage"),
            &admin,
            json!({"to": to, "rationale": "Ready"}),
        )
        .await
        .expect(200);
    }
    let requester = app.token("requester@globex.demo.test").await;
    let mut ritms = Vec::new();
    for _ in 0..REQUESTS {
        let made = app
            .post(
                "/api/v1/requests",
                &requester,
                json!({"items": [{"item_id": item, "variables": {"model": "performance-16", "justification": "CAD", "cost_center": "CC-1234"}}]}),
            )
            .await;
        ritms.push(s(&made.expect(201)["items"][0]["id"]));
    }

    let target = platform::db::Target::from_settings(&app.settings, "catalogue").expect("target");
    let db = platform::db::connect_app(&target, "catalogue", 10)
        .await
        .expect("app connection");
    let (a, b) = (
        ApprovalWorkers::new(db.clone()),
        ApprovalWorkers::new(db.clone()),
    );
    let su = app.superuser().await;
    let outbox = |event: &str| {
        format!(
            "SELECT count(*) AS n FROM catalogue.outbox WHERE routing_key LIKE '%approval.{event}%'"
        )
    };

    // Nothing is due yet.
    let now = Utc::now();
    assert_eq!(a.tick(Job::Reminder, now).await.expect("tick"), 0);
    assert_eq!(a.tick(Job::Expiry, now).await.expect("tick"), 0);
    // 90 minutes on: every approval is reminded, once, whichever worker took it.
    let later = now + Duration::minutes(90);
    let (x, y) = tokio::join!(a.tick(Job::Reminder, later), b.tick(Job::Reminder, later));
    assert_eq!(x.expect("tick") + y.expect("tick"), REQUESTS);
    let (x, y) = tokio::join!(a.tick(Job::Reminder, later), b.tick(Job::Reminder, later));
    assert_eq!(
        x.expect("tick") + y.expect("tick"),
        0,
        "a reminder fires once"
    );
    assert_eq!(count(&su, &outbox("reminder_due")).await, REQUESTS as i64);
    assert_eq!(a.tick(Job::Expiry, later).await.expect("tick"), 0);

    // Three hours on: every approval expires, once; its item is rejected.
    let expired = now + Duration::hours(3);
    let (x, y) = tokio::join!(a.tick(Job::Expiry, expired), b.tick(Job::Expiry, expired));
    assert_eq!(x.expect("tick") + y.expect("tick"), REQUESTS);
    let (x, y) = tokio::join!(a.tick(Job::Expiry, expired), b.tick(Job::Expiry, expired));
    assert_eq!(
        x.expect("tick") + y.expect("tick"),
        0,
        "an expiry fires once"
    );
    assert_eq!(count(&su, &outbox("expired")).await, REQUESTS as i64);
    for ritm in &ritms {
        let read = app
            .get(&format!("/api/v1/request-items/{ritm}"), &requester)
            .await;
        let read = read.expect(200);
        assert_eq!(read["state"], "rejected");
        assert_eq!(read["approval_state"], "expired");
        assert_eq!(read["close_reason"], "approval_expired");
    }
    // The approver's queue is empty again.
    let approver = app.token("approver@globex.demo.test").await;
    let queue = app.get("/api/v1/approvals?state=pending", &approver).await;
    assert_eq!(queue.expect(200)["items"], json!([]));
}
