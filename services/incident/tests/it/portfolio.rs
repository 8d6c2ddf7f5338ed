//! Incidents name services of the catalogue's portfolio, learned from its events: only a
//! service of the tenant that is in `transition` or `live`.
#![allow(clippy::expect_used)] // A test fails loudly on a broken set-up.

use std::time::Duration;

use testkit::{TestApp, json};

use crate::common::s;

/// The id of the demo service `name` of the tenant `token` acts in, read from the catalogue
/// once it has learned the tenant from identity's events.
async fn service_id(app: &TestApp, token: &str, name: &str) -> String {
    for _ in 0..100 {
        let services = app.get("/api/v1/services", token).await;
        if services.status.as_u16() == 200 {
            return services.body["items"]
                .as_array()
                .and_then(|a| a.iter().find(|i| i["name"] == name))
                .map(|i| s(&i["id"]))
                .unwrap_or_default();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the catalogue never learned the tenant");
}

#[tokio::test]
async fn incidents_name_only_live_services_of_their_own_tenant() {
    let Some(app) = TestApp::builder().demo_work_data().spawn().await else {
        return;
    };
    let agent = app.token("agent@globex.demo.test").await;
    let payroll = service_id(&app, &agent, "Payroll").await;
    let lake = service_id(&app, &agent, "Data Lake").await;
    let theirs = app.token("agent@initech.demo.test").await;
    let their_payroll = service_id(&app, &theirs, "Payroll").await;
    assert!(!payroll.is_empty() && !lake.is_empty() && !their_payroll.is_empty());

    // Payroll is live: once incident has learned it from the catalogue's events, it is taken.
    let mut created = None;
    for _ in 0..100 {
        let res = app
            .post(
                "/api/v1/incidents",
                &agent,
                json!({"title": "Payslips missing", "impact": 2, "urgency": 2, "service_id": payroll}),
            )
            .await;
        if res.status.as_u16() == 201 {
            created = Some(res.body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let created = created.expect("incident learned the portfolio");
    assert_eq!(created["service_id"], payroll.as_str());

    // Data Lake is still in design; initech's Payroll is another tenant's; a made-up id is
    // unknown. Each names the field, and nothing is written.
    for (service, code) in [
        (lake.as_str(), "service_not_live"),
        (their_payroll.as_str(), "unknown_reference"),
        ("01a24b5e-6f10-7a7e-9d3c-5b8f2e1c4d20", "unknown_reference"),
    ] {
        let refused = app
            .post(
                "/api/v1/incidents",
                &agent,
                json!({"title": "Refused", "impact": 3, "urgency": 3, "service_id": service}),
            )
            .await;
        assert_eq!(refused.expect(422)["errors"][0]["pointer"], "/service_id");
        assert_eq!(refused.body["errors"][0]["code"], code, "{service}");
        let id = s(&created["id"]);
        let patched = app
            .call(
                testkit::reqwest::Method::PATCH,
                &format!("/api/v1/incidents/{id}"),
                Some(&agent),
                Some(json!({"service_id": service})),
                &[],
            )
            .await;
        assert_eq!(patched.expect(422)["errors"][0]["code"], code, "{service}");
    }
    let mine = app.get("/api/v1/incidents?q=Refused", &agent).await;
    assert_eq!(mine.expect(200)["items"], json!([]));
}
