//! Helpers shared by the incident service's API tests.

use std::time::Duration;

use testkit::TestApp;

/// Waits until the incident service learned the demo tenants from identity's events.
pub async fn ready(app: &TestApp, token: &str) {
    for _ in 0..100 {
        if app.get("/api/v1/incidents", token).await.status.as_u16() == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the incident service never learned the tenant");
}

/// A JSON string's value ("" for anything else).
pub fn s(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Weekly hours of a calendar that never closes.
pub fn around_the_clock() -> serde_json::Value {
    let days = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    serde_json::json!(
        days.iter()
            .map(|d| serde_json::json!({"day": d, "start": "00:00", "end": "24:00"}))
            .collect::<Vec<_>>()
    )
}
