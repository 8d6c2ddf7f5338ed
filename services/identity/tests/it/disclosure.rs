//! Emails and slugs are unique across the platform, so a 409 on a create may disclose a value
//! of another tenant or MSP: each such answer is recorded in the caller's own audit chain, and
//! a caller that collects ten of them within ten minutes is refused (429) for a while.
use serde_json::Value;
use testkit::{PASSWORD, TestApp, app, json, reqwest::Method};

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The `unique_value_taken` records of the caller's acting tenant, oldest first.
async fn taken_records(app: &TestApp, reader: &str) -> Vec<Value> {
    let audit = app.get("/api/v1/audit?limit=200", reader).await;
    audit.expect(200)["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["action"] == "unique_value_taken")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn taken_emails_are_audited_and_the_eleventh_in_ten_minutes_is_refused() {
    let app = app!();
    let admin = app.token("admin@globex.demo.test").await;
    let admin_id = s(&app.get("/api/v1/users/me", &admin).await.expect(200)["id"]);
    let probe = json!({"email": "agent@initech.demo.test", "display_name": "Probe"});
    for _ in 0..10 {
        let r = app.post("/api/v1/users", &admin, probe.clone()).await;
        assert_eq!(r.expect(409)["code"], "email_taken");
    }
    let records = taken_records(&app, &admin).await;
    assert_eq!(records.len(), 10);
    assert_eq!(records[0]["actor_id"], admin_id.as_str());
    assert_eq!(
        records[0]["data"],
        json!({"attempted": "user.invite", "code": "email_taken", "pointer": "/email",
               "value": "agent@initech.demo.test", "status": 409})
    );

    let eleventh = app.post("/api/v1/users", &admin, probe.clone()).await;
    assert_eq!(eleventh.expect(429)["code"], "too_many_conflicts");
    let retry = eleventh
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(retry.is_some_and(|r| (1..=60).contains(&r)), "{retry:?}");
    let records = taken_records(&app, &admin).await;
    assert_eq!(records.len(), 11);
    assert_eq!(records[10]["data"]["status"], 429);

    // While refused, the answer no longer depends on the email: a free one is refused too,
    // and nothing is created.
    let free = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "free@globex.example", "display_name": "Free"}),
        )
        .await;
    assert_eq!(free.expect(429)["code"], "too_many_conflicts");
    let users = app.get("/api/v1/users", &admin).await;
    assert_eq!(
        users.expect(200)["items"].as_array().map(Vec::len),
        Some(identity::seed::CUSTOMER_LOGINS.len())
    );
    assert_eq!(taken_records(&app, &admin).await.len(), 11);
    let verified = app.get("/api/v1/audit/verify", &admin).await;
    assert_eq!(verified.expect(200)["valid"], true);

    // The budget is the caller's: the MSP acting in the same tenant still gets its 409, which
    // goes to its own chain.
    let msp = app.token("msp-admin@demo.test").await;
    let r = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&msp),
            Some(probe),
            &[("x-tenant", "globex")],
        )
        .await;
    assert_eq!(r.expect(409)["code"], "email_taken");
    assert_eq!(taken_records(&app, &msp).await.len(), 1);
}

#[tokio::test]
async fn another_msps_taken_slug_or_email_is_audited_in_the_callers_chain() {
    let app = app!();
    let platform = app.token("platform-admin@demo.test").await;
    let onboarded = app
        .post(
            "/api/v1/tenants",
            &platform,
            json!({"name": "Rival MSP", "slug": "rival", "admin_email": "boss@rival.example"}),
        )
        .await;
    let token = s(&onboarded.expect(201)["invitation"]["token"]);
    app.call(
        Method::POST,
        "/api/v1/invitations/accept",
        None,
        Some(json!({"token": token, "password": PASSWORD})),
        &[],
    )
    .await
    .expect(200);
    let rival = app.token("boss@rival.example").await;

    let slug = app
        .post(
            "/api/v1/tenants",
            &rival,
            json!({"name": "G", "slug": "globex", "admin_email": "it@g.example"}),
        )
        .await;
    assert_eq!(slug.expect(409)["code"], "slug_taken");
    let email = app
        .post(
            "/api/v1/tenants",
            &rival,
            json!({"name": "G", "slug": "g-corp", "admin_email": "admin@globex.demo.test"}),
        )
        .await;
    assert_eq!(email.expect(409)["code"], "email_taken");
    let summary: Vec<(String, String, String)> = taken_records(&app, &rival)
        .await
        .iter()
        .map(|r| {
            (
                s(&r["data"]["attempted"]),
                s(&r["data"]["code"]),
                s(&r["data"]["value"]),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "tenant.onboard".into(),
                "slug_taken".into(),
                "globex".into()
            ),
            (
                "tenant.onboard".into(),
                "email_taken".into(),
                "admin@globex.demo.test".into()
            ),
        ]
    );
    // The failed onboarding left no tenant behind.
    let tenants = app.get("/api/v1/tenants", &rival).await;
    assert_eq!(
        tenants.expect(200)["items"].as_array().map(Vec::len),
        Some(1)
    );
}
