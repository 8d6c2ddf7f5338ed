//! Another tenant's ids are 404 on every change resource added for risk, the CAB, templates,
//! reviews, caused incidents and calendar feeds; its approvers never see our changes waiting.
#![allow(clippy::expect_used)]
use testkit::{app, json, reqwest::Method};

use crate::{
    changes::{ci, create, known, s, to},
    templates::publish,
};

#[tokio::test]
async fn another_tenants_ids_are_not_found_on_every_change_resource() {
    let app = app!();
    let cm = app.token("change-manager@globex.demo.test").await;
    let config = app.token("configuration-manager@globex.demo.test").await;
    known(&app, &cm).await;
    let cab = app.group_id(&cm, "CAB").await;
    let policy = app
        .post(
            "/api/v1/change-approval-policies",
            &cm,
            json!({"name": "normal", "change_types": ["normal"],
                   "stages": [{"name": "CAB", "group_id": cab, "rule": "any"}]}),
        )
        .await;
    let policy = s(&policy.expect(201)["id"]);
    let db = ci(&app, &config, "database", "iso-db").await;
    let c = create(
        &app,
        &cm,
        json!({"type": "normal", "title": "Isolated", "affected_ci_ids": [db],
               "planned_start": "2027-06-05T21:00:00Z", "planned_end": "2027-06-05T22:00:00Z",
               "implementation_plan": "a", "backout_plan": "b", "test_plan": "c"}),
    )
    .await;
    let id = s(&c["id"]);
    to(&app, &id, &cm, json!({"to": "assess"}))
        .await
        .expect(200);
    to(&app, &id, &cm, json!({"to": "authorize"}))
        .await
        .expect(200);
    let template = publish(
        &app,
        &cm,
        json!({"slug": "iso", "title": "Iso", "affected_ci_ids": [db],
               "implementation_plan": "a", "backout_plan": "b", "test_plan": "c"}),
    )
    .await;
    let template = s(&template["id"]);
    let feed = app
        .post("/api/v1/change-calendar/feeds", &cm, json!({}))
        .await;
    let feed = s(&feed.expect(201)["id"]);

    for email in [
        "change-manager@initech.demo.test",
        "approver@initech.demo.test",
    ] {
        let other = app.token(email).await;
        let calls = [
            (
                Method::GET,
                format!("/api/v1/change-approval-policies/{policy}"),
                None,
            ),
            (
                Method::PUT,
                format!("/api/v1/change-approval-policies/{policy}"),
                Some(json!({"name": "x", "change_types": ["normal"],
                            "stages": [{"name": "CAB", "group_id": cab, "rule": "any"}]})),
            ),
            (
                Method::DELETE,
                format!("/api/v1/change-approval-policies/{policy}"),
                None,
            ),
            (Method::GET, format!("/api/v1/changes/{id}/approvals"), None),
            (
                Method::POST,
                format!("/api/v1/changes/{id}/votes"),
                Some(json!({"decision": "approve", "reason": "x"})),
            ),
            (Method::GET, format!("/api/v1/changes/{id}/risk"), None),
            (Method::GET, format!("/api/v1/changes/{id}/pir"), None),
            (
                Method::PUT,
                format!("/api/v1/changes/{id}/pir"),
                Some(json!({"outcome": "x", "objectives_met": true})),
            ),
            (
                Method::GET,
                format!("/api/v1/changes/{id}/caused-incidents"),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/change-templates/{template}"),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/change-templates/{template}/transitions"),
                Some(json!({"to": "suspended"})),
            ),
            (
                Method::DELETE,
                format!("/api/v1/change-calendar/feeds/{feed}"),
                None,
            ),
        ];
        for (method, path, body) in calls {
            let res = app
                .call(method.clone(), &path, Some(&other), body, &[])
                .await;
            let status = res.status.as_u16();
            // 404 where the caller may use the route, 403 where its role may not at all.
            assert!(
                status == 404 || (status == 403 && res.code() == "insufficient_scope"),
                "{email} {method} {path}: {status} {}",
                res.body
            );
        }
        let waiting = app.get("/api/v1/changes/awaiting-my-vote", &other).await;
        if waiting.status.as_u16() == 200 {
            assert_eq!(waiting.body["items"], json!([]), "{email}");
        }
    }
}
