//! The operator API: bus status and dead-letter replay, for platform operators only.
use std::time::Duration;

use testkit::{app, json, reqwest::Method};

#[tokio::test]
async fn platform_operators_see_the_outbox_drain_and_others_are_refused() {
    let app = app!();
    let platform = app.token("platform-admin@demo.test").await;
    let mut drained = false;
    for _ in 0..50 {
        let status = app.get("/api/v1/bus/status", &platform).await;
        let body = status.expect(200).clone();
        assert_eq!(body["transport"], "in-process");
        assert_eq!(body["producers"][0]["service"], "identity");
        if body["producers"][0]["outbox_pending"] == 0 {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(drained, "the in-process relay publishes identity's events");
    let msp = app.token("msp-admin@demo.test").await;
    assert_eq!(
        app.get("/api/v1/bus/status", &msp).await.expect(403)["code"],
        "insufficient_scope"
    );
    app.call(Method::GET, "/api/v1/bus/status", None, None, &[])
        .await
        .expect(401);
    app.post(
        "/api/v1/bus/consumers/nope/dead-letters/replay",
        &platform,
        json!({}),
    )
    .await
    .expect(404);
    app.post(
        "/api/v1/bus/consumers/nope/dead-letters/replay",
        &msp,
        json!({}),
    )
    .await
    .expect(403);
}
