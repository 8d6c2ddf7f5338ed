//! Suspension reaches down the tree in incident's projection too (ADR 20): identity's
//! suspension of an MSP, arriving as an event, refuses the MSP's customers.

use std::time::Duration;

use crate::common::ready;
use testkit::{TestApp, app, json};

/// Waits until incident answers `token` with `status`.
async fn answers(app: &TestApp, token: &str, status: u16) -> bool {
    for _ in 0..100 {
        if app.get("/api/v1/incidents", token).await.status.as_u16() == status {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn suspending_an_msp_refuses_its_customers_in_incident_until_it_is_reactivated() {
    let app = app!();
    let platform = app.token("platform-admin@demo.test").await;
    let agent = app.token("agent@globex.demo.test").await;
    let requester = app.token("requester@initech.demo.test").await;
    ready(&app, &agent).await;
    ready(&app, &requester).await;
    let demo = app.tenant_id("demo").await;

    app.post(
        &format!("/api/v1/tenants/{demo}/suspend"),
        &platform,
        json!({}),
    )
    .await
    .expect(200);
    assert!(
        answers(&app, &agent, 403).await,
        "the suspension never reached incident"
    );
    for token in [&agent, &requester] {
        assert_eq!(
            app.get("/api/v1/incidents", token).await.expect(403)["code"],
            "tenant_suspended"
        );
        let create = app
            .post(
                "/api/v1/incidents",
                token,
                json!({"title": "Printer on fire", "impact": 1, "urgency": 1}),
            )
            .await;
        assert_eq!(create.expect(403)["code"], "tenant_suspended");
    }

    app.post(
        &format!("/api/v1/tenants/{demo}/reactivate"),
        &platform,
        json!({}),
    )
    .await
    .expect(200);
    assert!(answers(&app, &agent, 200).await);
    assert!(answers(&app, &requester, 200).await);
}
